"""Shared test data: a registry like the reference transcripts' one, and an ASGI driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from restate.ingress.app import IngressApp
from restate.schema import HandlerSchema, InputRules, OutputRules, Schema, ServiceSchema
from restate.wire import Accepted, InvocationDone, InvocationRequest, NotFound, NotReady, Outcome

JSON_IN = InputRules(content_type="application/json", json_schema={"type": "string"})
NO_INPUT = InputRules(content_type=None, accepts_none=True)
JSON_OUT = OutputRules(content_type="application/json")


def _svc(name: str, ty: Any, handlers: list[HandlerSchema], public: bool = True) -> ServiceSchema:
    return ServiceSchema(name=name, ty=ty, handlers={h.name: h for h in handlers}, deployment_id="dp_1x", public=public)


SCHEMA = Schema(
    version=3,
    services={
        "Greeter": _svc(
            "Greeter",
            "Service",
            [
                HandlerSchema("greet", input=JSON_IN, output=JSON_OUT),
                HandlerSchema("noinput", input=NO_INPUT, output=JSON_OUT),
                HandlerSchema("raw"),
                HandlerSchema("empty", output=OutputRules(content_type="application/json")),
                HandlerSchema("emptyct", output=OutputRules(content_type="text/plain", set_content_type_if_empty=True)),
            ],
        ),
        "Counter": _svc(
            "Counter",
            "VirtualObject",
            [
                HandlerSchema("add", ty="Exclusive", input=JSON_IN, output=JSON_OUT),
                HandlerSchema("get", ty="Shared", input=NO_INPUT, output=JSON_OUT),
            ],
        ),
        "Signup": _svc(
            "Signup",
            "Workflow",
            [
                HandlerSchema("run", ty="Workflow", input=JSON_IN, output=JSON_OUT),
                HandlerSchema("click", ty="Shared", input=JSON_IN, output=JSON_OUT),
            ],
        ),
        "Secret": _svc("Secret", "Service", [HandlerSchema("get")], public=False),
    },
)


@dataclass
class FakeDispatcher:
    """Stands in for the PartitionClient: records requests and answers with canned outcomes."""

    schema: Schema | None = SCHEMA
    outcome: Outcome = field(default_factory=lambda: Outcome(value=b'"ok"'))
    previously_accepted: bool = False
    execute_at_ms: int | None = None
    fail_with: Exception | None = None
    expires_at_ms: int | None = None
    replayed: bool = False
    # What `output` answers: "done" (InvocationDone with `outcome`), "not_ready" or "not_found".
    output_answer: str = "done"
    requests: list[InvocationRequest] = field(default_factory=list)
    outputs: list[tuple[bytes, bool]] = field(default_factory=list)
    awakeables: list[tuple[bytes, int, Outcome]] = field(default_factory=list)

    async def call(self, request: InvocationRequest) -> InvocationDone:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        return InvocationDone(7, request.invocation_id, self.outcome, self.expires_at_ms, self.replayed)

    async def output(self, invocation_id: bytes, wait: bool) -> InvocationDone | NotReady | NotFound:
        self.outputs.append((invocation_id, wait))
        if self.fail_with is not None:
            raise self.fail_with
        if self.output_answer == "not_found":
            return NotFound(7)
        if self.output_answer == "not_ready":
            return NotReady(7, invocation_id)
        return InvocationDone(7, invocation_id, self.outcome, self.expires_at_ms, self.replayed)

    async def resolve_awakeable(self, invocation_id: bytes, signal_idx: int, outcome: Outcome) -> None:
        self.awakeables.append((invocation_id, signal_idx, outcome))
        if self.fail_with is not None:
            raise self.fail_with

    async def send(self, request: InvocationRequest) -> Accepted:
        self.requests.append(request)
        if self.fail_with is not None:
            raise self.fail_with
        return Accepted(7, request.invocation_id, self.previously_accepted, self.execute_at_ms)


@dataclass
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    receive_calls: int = 0

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name.encode():
                return v.decode()
        return None

    @property
    def names(self) -> list[str]:
        return [k.decode() for k, _ in self.headers]


async def drive(
    app: IngressApp,
    method: str,
    target: str,
    body: bytes | list[bytes] = b"",
    headers: list[tuple[str, str]] | None = None,
) -> Reply:
    """Runs one request through the app with hand-written receive/send; `body` may be a list of chunks."""
    path, _, query = target.partition("?")
    chunks = body if isinstance(body, list) else [body]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(path),
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or [])],
    }
    sent: list[dict[str, Any]] = []
    calls = 0

    async def receive() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls > len(chunks):
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": chunks[calls - 1], "more_body": calls < len(chunks)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return Reply(sent[0]["status"], list(sent[0]["headers"]), sent[1]["body"], calls)
