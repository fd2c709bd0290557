"""Requests about existing invocations: attach, output, lookup (by id, idempotency key, workflow) and awakeables."""

from __future__ import annotations

from typing import Protocol

import msgspec

from restate.ids import IdError, InvocationId, parse_awakeable_id
from restate.ingress import errors, routing
from restate.ingress.errors import APPLICATION_JSON, Headers
from restate.ingress.responses import Response, error_response, outcome_response, output_rules
from restate.ingress.routing import AwakeableRoute, ById, ByIdempotencyKey, ByWorkflow, InvocationQuery
from restate.ingress.targets import read_target_body
from restate.schema import Schema
from restate.wire import Failure, InvocationDone, NotFound, NotReady, Outcome

_json = msgspec.json.Encoder()
REJECTION_CODE = 500  # a rejected awakeable fails with INTERNAL, as in the real server
ATTACH_NOT_FOUND = "not found"


class InvocationDispatcher(Protocol):
    """The part of the dispatcher these routes use (the `PartitionClient`, or a fake in tests)."""

    @property
    def schema(self) -> Schema | None: ...

    async def output(self, invocation_id: bytes, wait: bool) -> InvocationDone | NotReady | NotFound: ...

    async def resolve_awakeable(self, invocation_id: bytes, signal_idx: int, outcome: Outcome) -> None: ...


def resolve_query(schema: Schema | None, query: InvocationQuery) -> tuple[InvocationId, tuple[str, str] | None]:
    """The invocation a query addresses, computed locally, and the handler it runs when the query says so."""
    if isinstance(query, ById):
        return query.invocation_id, None
    if isinstance(query, ByIdempotencyKey):
        invocation_id = routing.invocation_id_for(query.service, query.handler, query.key, query.idempotency_key)
        return invocation_id, (query.service, query.handler)
    return routing.invocation_id_for(query.workflow, "", query.key, None, workflow_run=True), _run_handler(
        schema, query
    )


def _run_handler(schema: Schema | None, query: ByWorkflow) -> tuple[str, str] | None:
    svc = None if schema is None else schema.services.get(query.workflow)
    if svc is None:
        return None
    for handler in svc.handlers.values():
        if handler.ty == "Workflow":
            return query.workflow, handler.name
    return None


async def attach_or_output(
    dispatcher: InvocationDispatcher, query: InvocationQuery, attach: bool, origin: bytes | None
) -> Response:
    """Attach (waits for the outcome) or output (470 while running); 404 when the invocation is unknown.

    An unknown invocation is 404 `invocation not found` (source ingress) for output, but 404 `not found`
    from the invocation side, with `x-restate-id`, for attach: what the real 1.7.12 server answers."""
    schema = dispatcher.schema
    invocation_id, handler = resolve_query(schema, query)
    try:
        answer = await dispatcher.output(invocation_id.to_bytes(), attach)
    except Exception as exc:
        raise errors.read_dispatch_error(exc) from exc
    if isinstance(answer, NotFound):
        if attach:  # the real server answers an attach from the invocation side, with the queried id
            return error_response(errors.invocation_failure(404, ATTACH_NOT_FOUND), origin, str(invocation_id))
        raise errors.invocation_not_found()
    if isinstance(answer, NotReady):
        raise errors.not_ready()
    return outcome_response(answer, output_rules(schema, answer, handler), origin)


async def by_target_body(dispatcher: InvocationDispatcher, verb: str, body: bytes, origin: bytes | None) -> Response:
    """`POST /restate/attach|output|lookup`: the invocation is named by the JSON body."""
    target = read_target_body(body, "lookup" if verb == "lookup" else "request")
    if target.scope is not None:
        raise errors.bad_request(errors.SCOPE_REQUIRES_VQUEUES)  # no scoped invocation can exist here
    if verb != "lookup":
        return await attach_or_output(dispatcher, target.query, verb == "attach", origin)
    invocation_id, _ = resolve_query(dispatcher.schema, target.query)
    doc = _json.encode({"invocationId": str(invocation_id)})
    headers: Headers = [APPLICATION_JSON, *errors.cors_headers(origin)]
    headers.append((b"content-length", str(len(doc)).encode()))
    return 200, headers, doc


async def complete_awakeable(
    dispatcher: InvocationDispatcher, route: AwakeableRoute, body: bytes, origin: bytes | None
) -> Response:
    """Resolve (the body is the value) or reject (the body is the failure message); 202 once durable."""
    try:
        invocation_id, signal_idx = parse_awakeable_id(route.awakeable_id)
    except IdError as exc:
        raise errors.bad_request(f"bad awakeable id '{route.awakeable_id}': {exc}") from None
    if route.resolve:
        outcome = Outcome(value=body)
    else:
        outcome = Outcome(failure=Failure(REJECTION_CODE, body.decode("utf-8", "replace")))
    try:
        await dispatcher.resolve_awakeable(invocation_id.to_bytes(), signal_idx, outcome)
    except Exception as exc:
        raise errors.write_dispatch_error(exc) from exc
    return 202, [*errors.cors_headers(origin), (b"content-length", b"0")], b""
