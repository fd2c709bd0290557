"""Canonical samples of every stored record: the golden fixtures (tests/fixtures/storage) are their bytes.

A sample's name is `<kind>.<variant>`; its fixture for format version N is `<kind>.v<N>.<variant>.msgpack`
(`.bin` for format 1, written by the release before versioned records: make_v1_fixtures.py). Changing a
sample changes its fixture: only ever add samples, and bump the record's version when its bytes change.
"""

from __future__ import annotations

import msgspec

from restate.kafka.definitions import KafkaCluster, KafkaRegistry, ParkedRecord, Subscription
from restate.schema import Deployment, HandlerSchema, InputRules, OutputRules, RetryPolicy, Schema, ServiceSchema
from restate.storage import meta_convert
from restate.storage import records as r

INV = bytes(range(24))
OTHER = bytes(range(100, 124))
NOW = 1_700_000_000_000
FUTURE = b"\x08\x01\x10\x02"  # a serialized protocol Future (opaque to storage)

TARGET = r.InvocationTarget(service="Counter", handler="add", key="k1", service_ty="virtual_object", exclusive=True)
FAILURE = r.FailureRecord(code=500, message="boom", metadata=[("k", "v")], stacktrace="at line 1")
INGRESS = [r.IngressWaiter(node="ingress", request_id=42)]
CALLERS = [
    r.CallerWaiter(invocation_id=OTHER, completion_id=3),
    r.CallerWaiter(invocation_id=OTHER, completion_id=4, kind=0x8012),
]
RETRIED = r.Attempts(number=3, retry_count=2, last_failure="[500] boom")


def journal() -> r.JournalIndex:
    return r.JournalIndex(
        length=7,
        commands=4,
        last_appended_at_ms=NOW + 5,
        completions=[1, 2],
        failed_completions=[2],
        signals=[17],
        signal_names=["go"],
        output=r.OutcomeRecord(value=b'"out"'),
    )


TRACE = r.TraceRecord(
    trace_id=bytes(range(16)), parent_span_id=bytes(range(8)), trace_state="vendor=abc",
    link_trace_id=bytes(range(1, 17)), link_span_id=bytes(range(1, 9)),
)  # fmt: skip


def status(state: r.InvocationState | None = None) -> r.InvocationStatus:
    """A status with every common field set (the backing-off state by default)."""
    return r.InvocationStatus(
        target=TARGET,
        created_at_ms=NOW,
        modified_at_ms=NOW + 10,
        state=state if state is not None else backing_off(),
        journal=journal(),
        deployment_id="dp_12PgsFJ82wRXepxIaMzIdLr",
        protocol_version=6,
        origin=INGRESS[0],
        caller_id=OTHER,
        idempotency_key="idem",
    )


def backing_off() -> r.BackingOff:
    # format 1 kept no retry time: the upgrade takes the last modification (NOW + 10)
    return r.BackingOff(attempts=RETRIED, retry_at_ms=NOW + 10, poisoned=True, ingress=INGRESS, callers=CALLERS)


def states() -> dict[str, r.InvocationState]:
    return {
        "scheduled": r.Scheduled(execute_at_ms=NOW + 60_000, ingress=INGRESS, callers=CALLERS),
        "inboxed": r.Inboxed(inbox_seq=9, ingress=INGRESS, callers=CALLERS),
        "invoked": r.Invoked(attempts=r.Attempts(number=1), poisoned=True, ingress=INGRESS, callers=CALLERS),
        "backing-off": backing_off(),
        "suspended": r.Suspended(attempts=RETRIED, awaiting=FUTURE, ingress=INGRESS, callers=CALLERS),
        "paused": r.Paused(attempts=RETRIED, ingress=INGRESS, callers=CALLERS),
        "completed": r.Completed(outcome=r.OutcomeRecord(failure=FAILURE), expires_at_ms=NOW + 86_400_000),
    }


def completed_status() -> r.InvocationStatus:
    """Completed: its journal index keeps no output (the outcome holds it)."""
    found = status(states()["completed"])
    found.journal.output = None
    return found


def outbox_items() -> list[r.OutboxItem]:
    return [
        r.OutboxInvocation(
            invocation_id=INV,
            target=TARGET,
            input=b'"in"',
            headers=[("x-h", "1")],
            idempotency_key="idem",
            execute_at_ms=NOW + 1,
            caller=CALLERS[0],
            caller_id=OTHER,
        ),
        r.OutboxResponse(caller=CALLERS[1], outcome=r.OutcomeRecord(value=b"v")),
        r.OutboxSignal(invocation_id=INV, idx=17, outcome=r.OutcomeRecord(failure=FAILURE)),
        r.OutboxSignal(invocation_id=INV, name="go"),
        r.OutboxAttach(invocation_id=INV, caller=CALLERS[1]),
    ]


def schema() -> Schema:
    handler = HandlerSchema(name="add", ty="Exclusive", idempotency_retention_ms=60_000,
                            retry_policy=RetryPolicy(max_attempts=3, on_max_attempts="Pause"))  # fmt: skip
    service = ServiceSchema(name="Counter", ty="VirtualObject", handlers={"add": handler},
                            deployment_id="dp_12PgsFJ82wRXepxIaMzIdLr", revision=2)  # fmt: skip
    deployment = Deployment(
        id="dp_12PgsFJ82wRXepxIaMzIdLr",
        uri="http://localhost:9080/",
        protocol_type="BidiStream",
        http_version="HTTP/2.0",
        created_at_ms=NOW,
        min_protocol_version=5,
        max_protocol_version=6,
        services={"Counter": 2},
    )
    return Schema(version=3, deployments={deployment.id: deployment}, services={"Counter": service})


FULL_POLICY = RetryPolicy(initial_interval_ms=500, max_interval_ms=60_000, max_attempts=70,
                          exponentiation_factor=2.5, on_max_attempts="Kill")  # fmt: skip
DURATIONS = {
    "inactivity_timeout_ms": 61_000, "abort_timeout_ms": 601_000, "journal_retention_ms": 3_600_000,
    "idempotency_retention_ms": 7_200_000, "workflow_completion_retention_ms": 86_400_001,
}  # fmt: skip


def full_schema() -> Schema:
    """A registry with every field of every struct set away from its default (and a superseded revision)."""
    run = HandlerSchema(
        name="run",
        ty="Workflow",
        input=InputRules(required=True, content_type="application/json", json_schema={"type": "string"},
                         accepts_none=True),
        output=OutputRules(content_type="application/json", set_content_type_if_empty=True,
                           json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}}),
        public=False,
        documentation="Runs the workflow",
        metadata={"owner": "team-a"},
        enable_lazy_state=True,
        retry_policy=FULL_POLICY,
        ingress_private=True,
        **DURATIONS,
    )  # fmt: skip
    status = HandlerSchema(name="status", ty="Shared", input=InputRules(content_type=None),
                           output=OutputRules(content_type=None))  # fmt: skip
    current = ServiceSchema(
        name="Signup",
        ty="Workflow",
        handlers={"run": run, "status": status},
        deployment_id="dp_14bz75FHIkQ6dxzKQnyIALL",
        revision=2,
        public=False,
        documentation="Signs users up",
        metadata={"tier": "gold"},
        enable_lazy_state=True,
        retry_policy=FULL_POLICY,
        **DURATIONS,
    )
    older = ServiceSchema(name="Signup", ty="Workflow", handlers={"run": HandlerSchema(name="run", ty="Workflow")},
                          deployment_id="dp_12PgsFJ82wRXepxIaMzIdLr")  # fmt: skip
    h2 = Deployment(
        id="dp_12PgsFJ82wRXepxIaMzIdLr",
        uri="http://localhost:9080/",
        protocol_type="BidiStream",
        http_version="HTTP/2.0",
        created_at_ms=NOW,
        min_protocol_version=5,
        max_protocol_version=6,
        services={"Signup": 1},
    )
    h1 = Deployment(
        id="dp_14bz75FHIkQ6dxzKQnyIALL",
        uri="http://localhost:9081/base/",
        protocol_type="RequestResponse",
        http_version="HTTP/1.1",
        created_at_ms=NOW + 1,
        min_protocol_version=5,
        max_protocol_version=7,
        sdk_version="restate-sdk-python/1.3.0",
        additional_headers={"x-token": "secret", "x-team": "a"},
        metadata={"team": "a"},
        services={"Signup": 2},
    )
    return Schema(version=9, deployments={h2.id: h2, h1.id: h1}, services={"Signup": current}, superseded=[older])


def schema_record() -> r.SchemaRecord:
    """schema() as the metadata store keeps it."""
    handler = r.HandlerRecord(name="add", ty="Exclusive", idempotency_retention_ms=60_000,
                              retry_policy=r.RetryPolicyRecord(max_attempts=3, on_max_attempts="Pause"))  # fmt: skip
    service = r.ServiceRecord(name="Counter", ty="VirtualObject", handlers=[handler],
                              deployment_id="dp_12PgsFJ82wRXepxIaMzIdLr", revision=2)  # fmt: skip
    deployment = r.DeploymentRecord(
        id="dp_12PgsFJ82wRXepxIaMzIdLr",
        uri="http://localhost:9080/",
        protocol_type="BidiStream",
        http_version="HTTP/2.0",
        created_at_ms=NOW,
        min_protocol_version=5,
        max_protocol_version=6,
        services={"Counter": 2},
    )
    return r.SchemaRecord(version=3, deployments=[deployment], services=[service])


FULL_POLICY_RECORD = r.RetryPolicyRecord(initial_interval_ms=500, max_interval_ms=60_000, max_attempts=70,
                                         exponentiation_factor=2.5, on_max_attempts="Kill")  # fmt: skip


def full_schema_record() -> r.SchemaRecord:
    """full_schema() as the metadata store keeps it."""
    run = r.HandlerRecord(
        name="run",
        ty="Workflow",
        input=r.InputRulesRecord(required=True, content_type="application/json", json_schema={"type": "string"},
                                 accepts_none=True),
        output=r.OutputRulesRecord(content_type="application/json", set_content_type_if_empty=True,
                                   json_schema={"type": "object", "properties": {"ok": {"type": "boolean"}}}),
        public=False,
        documentation="Runs the workflow",
        metadata={"owner": "team-a"},
        enable_lazy_state=True,
        retry_policy=FULL_POLICY_RECORD,
        ingress_private=True,
        **DURATIONS,
    )  # fmt: skip
    status = r.HandlerRecord(name="status", ty="Shared", input=r.InputRulesRecord(content_type=None))
    current = r.ServiceRecord(
        name="Signup",
        ty="Workflow",
        handlers=[run, status],
        deployment_id="dp_14bz75FHIkQ6dxzKQnyIALL",
        revision=2,
        public=False,
        documentation="Signs users up",
        metadata={"tier": "gold"},
        enable_lazy_state=True,
        retry_policy=FULL_POLICY_RECORD,
        **DURATIONS,
    )
    older = r.ServiceRecord(name="Signup", ty="Workflow", handlers=[r.HandlerRecord(name="run", ty="Workflow")],
                            deployment_id="dp_12PgsFJ82wRXepxIaMzIdLr")  # fmt: skip
    h2 = r.DeploymentRecord(
        id="dp_12PgsFJ82wRXepxIaMzIdLr",
        uri="http://localhost:9080/",
        protocol_type="BidiStream",
        http_version="HTTP/2.0",
        created_at_ms=NOW,
        min_protocol_version=5,
        max_protocol_version=6,
        services={"Signup": 1},
    )
    h1 = r.DeploymentRecord(
        id="dp_14bz75FHIkQ6dxzKQnyIALL",
        uri="http://localhost:9081/base/",
        protocol_type="RequestResponse",
        http_version="HTTP/1.1",
        created_at_ms=NOW + 1,
        min_protocol_version=5,
        max_protocol_version=7,
        sdk_version="restate-sdk-python/1.3.0",
        additional_headers={"x-token": "secret", "x-team": "a"},
        metadata={"team": "a"},
        services={"Signup": 2},
    )
    return r.SchemaRecord(version=9, deployments=[h2, h1], services=[current], superseded=[older])


def samples() -> dict[str, tuple[str, msgspec.Struct]]:
    """Sample name -> (record kind, record)."""
    found: dict[str, tuple[str, msgspec.Struct]] = {}
    for name, state in states().items():
        found[f"status.{name}"] = ("status", completed_status() if name == "completed" else status(state))
    for name in ("invoked", "suspended"):
        found[f"live.{name}"] = ("live", r.LiveRecord(status=name))  # type: ignore[arg-type]
    found["inbox.invocation"] = ("inbox", r.InboxRecord(item=r.QueuedInvocation(invocation_id=INV)))
    replacement = r.QueuedStateReplacement(new_state=[(b"a", b"1"), (b"b", b"")], version="digest")
    found["inbox.state_replacement"] = ("inbox", r.InboxRecord(item=replacement))
    found["lock.holder"] = ("lock", r.LockRecord(invocation_id=INV))
    found["timer.any"] = ("timer", r.TimerRecord())
    listeners = [
        r.PromiseListener(invocation_id=INV, completion_id=1),
        r.PromiseListener(invocation_id=OTHER, completion_id=2),
    ]
    found["promise.waiting"] = ("promise", r.PromiseRecord(listeners=listeners))
    found["promise.resolved"] = ("promise", r.PromiseRecord(outcome=r.OutcomeRecord(value=b'"yes"')))
    found["promise.rejected"] = ("promise", r.PromiseRecord(outcome=r.OutcomeRecord(failure=FAILURE)))
    for name, item in zip(("invocation", "response", "signal", "named_signal", "attach"), outbox_items(), strict=True):
        found[f"outbox.{name}"] = ("outbox", r.OutboxRecord(message=item))
    # version 3: an invocation created with tracing on, and a call that carries its trace to another partition
    traced = status(states()["invoked"])
    traced.trace = TRACE
    found["status.traced"] = ("status", traced)
    found["outbox.traced_invocation"] = ("outbox", r.OutboxRecord(message=msgspec.structs.replace(
        outbox_items()[0], trace=r.TraceRecord(trace_id=TRACE.trace_id, parent_span_id=bytes(range(8))))))  # fmt: skip
    found["dedup.row"] = ("dedup", r.DedupRecord(seq=2**40 + 1))
    found["sequence.row"] = ("sequence", r.SequenceRecord(last=77))
    found["queue_counts.row"] = ("queue_counts", r.QueueCountsRecord(inbox=3, timers=12))
    found["store_format.row"] = ("store_format", r.StoreFormatRecord(format=2))
    found["schema.registry"] = ("schema", schema_record())
    found["schema.full"] = ("schema", full_schema_record())
    found["settings.row"] = ("settings", r.SettingsRecord(num_partitions=4))
    found["kafka.registry"] = ("kafka", kafka_registry_record())
    found["kafka_parked.records"] = ("kafka_parked", meta_convert.parked_records_record(parked_records()))
    return found


def parked_records() -> list[ParkedRecord]:
    """A record parked with every field set, and one with only the required ones."""
    full = ParkedRecord("sub_16indg1fUqXWD59b6WYY2qd", "tbad", 3, 41, "The Kafka record key must be valid UTF-8",
                        NOW, b"\xff\xfe", b"body", NOW - 5, [("traceparent", b"00-ab"), ("empty", None)])  # fmt: skip
    return [full, ParkedRecord("sub_16indg1fUqXWD59b6WYY2qd", "tbad", 0, 0, "why", NOW)]


def kafka_registry() -> KafkaRegistry:
    """A Kafka registry with a dynamic cluster (a secret among its properties) and two subscriptions."""
    cluster = KafkaCluster("dyn", {"bootstrap.servers": "127.0.0.1:19092", "sasl.password": "s3cret"}, NOW)
    service_sub = Subscription(
        "sub_1020ZhuLtXKOXg0DnE8ERnr", "dyn", "t1", "KSvc", "raw", "service",
        {"group.id": "sub_1020ZhuLtXKOXg0DnE8ERnr", "client.id": "restate", "auto.offset.reset": "earliest"},
    )  # fmt: skip
    object_sub = Subscription(
        "sub_16indg1fUqXWD59b6WYY2qd", "my-cluster", "a/b", "KObj", "add", "virtual_object",
        {"group.id": "custom", "client.id": "restate"}, exclusive=True,
    )  # fmt: skip
    return KafkaRegistry(7, {"dyn": cluster}, {s.id: s for s in (service_sub, object_sub)})


def kafka_registry_record() -> r.KafkaRegistryRecord:
    """kafka_registry() as the metadata store keeps it."""
    registry = kafka_registry()
    return r.KafkaRegistryRecord(
        version=7,
        clusters=[r.KafkaClusterRecord(name="dyn", properties=dict(registry.clusters["dyn"].properties),
                                       created_at_ms=NOW)],
        subscriptions=[
            r.SubscriptionRecord(id=s.id, cluster=s.cluster, topic=s.topic, service=s.service, handler=s.handler,
                                 sink_type=s.sink_type, options=dict(s.options), exclusive=s.exclusive)
            for s in registry.subscriptions.values()
        ],
    )  # fmt: skip
