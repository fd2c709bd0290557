"""Between admin's registry model (restate.schema, which also travels over IPC) and the records the metadata
store keeps (restate.storage.records): field by field, so that neither defines the other's format."""

from __future__ import annotations

from restate import schema as s
from restate.kafka import definitions as k
from restate.storage import records as r

# --- into records


def retry_policy_record(p: s.RetryPolicy) -> r.RetryPolicyRecord:
    found = r.RetryPolicyRecord(
        initial_interval_ms=p.initial_interval_ms,
        max_interval_ms=p.max_interval_ms,
        max_attempts=p.max_attempts,
        exponentiation_factor=p.exponentiation_factor,
        on_max_attempts=p.on_max_attempts,
    )
    return r.shared_default(found, r.NO_RETRY_POLICY)


def handler_record(h: s.HandlerSchema) -> r.HandlerRecord:
    return r.HandlerRecord(
        name=h.name,
        ty=h.ty,
        input=r.shared_default(
            r.InputRulesRecord(
                required=h.input.required,
                content_type=h.input.content_type,
                json_schema=h.input.json_schema,
                accepts_none=h.input.accepts_none,
            ),
            r.DEFAULT_INPUT,
        ),
        output=r.shared_default(
            r.OutputRulesRecord(
                content_type=h.output.content_type,
                set_content_type_if_empty=h.output.set_content_type_if_empty,
                json_schema=h.output.json_schema,
            ),
            r.DEFAULT_OUTPUT,
        ),
        public=h.public,
        documentation=h.documentation,
        metadata=dict(h.metadata),
        inactivity_timeout_ms=h.inactivity_timeout_ms,
        abort_timeout_ms=h.abort_timeout_ms,
        journal_retention_ms=h.journal_retention_ms,
        idempotency_retention_ms=h.idempotency_retention_ms,
        workflow_completion_retention_ms=h.workflow_completion_retention_ms,
        enable_lazy_state=h.enable_lazy_state,
        retry_policy=retry_policy_record(h.retry_policy),
        ingress_private=h.ingress_private,
    )


def service_record(svc: s.ServiceSchema) -> r.ServiceRecord:
    return r.ServiceRecord(
        name=svc.name,
        ty=svc.ty,
        handlers=[handler_record(h) for h in svc.handlers.values()],
        deployment_id=svc.deployment_id,
        revision=svc.revision,
        public=svc.public,
        documentation=svc.documentation,
        metadata=dict(svc.metadata),
        inactivity_timeout_ms=svc.inactivity_timeout_ms,
        abort_timeout_ms=svc.abort_timeout_ms,
        journal_retention_ms=svc.journal_retention_ms,
        idempotency_retention_ms=svc.idempotency_retention_ms,
        workflow_completion_retention_ms=svc.workflow_completion_retention_ms,
        enable_lazy_state=svc.enable_lazy_state,
        retry_policy=retry_policy_record(svc.retry_policy),
    )


def deployment_record(d: s.Deployment) -> r.DeploymentRecord:
    return r.DeploymentRecord(
        id=d.id,
        uri=d.uri,
        protocol_type=d.protocol_type,
        http_version=d.http_version,
        created_at_ms=d.created_at_ms,
        min_protocol_version=d.min_protocol_version,
        max_protocol_version=d.max_protocol_version,
        sdk_version=d.sdk_version,
        additional_headers=dict(d.additional_headers),
        metadata=dict(d.metadata),
        services=dict(d.services),
    )


def schema_record(schema: s.Schema) -> r.SchemaRecord:
    return r.SchemaRecord(
        version=schema.version,
        deployments=[deployment_record(d) for d in schema.deployments.values()],
        services=[service_record(svc) for svc in schema.services.values()],
        superseded=[service_record(svc) for svc in schema.superseded],
    )


# --- out of records


def retry_policy(p: r.RetryPolicyRecord) -> s.RetryPolicy:
    return s.RetryPolicy(
        initial_interval_ms=p.initial_interval_ms,
        max_interval_ms=p.max_interval_ms,
        max_attempts=p.max_attempts,
        exponentiation_factor=p.exponentiation_factor,
        on_max_attempts=p.on_max_attempts,
    )


def handler(h: r.HandlerRecord) -> s.HandlerSchema:
    return s.HandlerSchema(
        name=h.name,
        ty=h.ty,
        input=s.InputRules(
            required=h.input.required,
            content_type=h.input.content_type,
            json_schema=h.input.json_schema,
            accepts_none=h.input.accepts_none,
        ),
        output=s.OutputRules(
            content_type=h.output.content_type,
            set_content_type_if_empty=h.output.set_content_type_if_empty,
            json_schema=h.output.json_schema,
        ),
        public=h.public,
        documentation=h.documentation,
        metadata=dict(h.metadata),
        inactivity_timeout_ms=h.inactivity_timeout_ms,
        abort_timeout_ms=h.abort_timeout_ms,
        journal_retention_ms=h.journal_retention_ms,
        idempotency_retention_ms=h.idempotency_retention_ms,
        workflow_completion_retention_ms=h.workflow_completion_retention_ms,
        enable_lazy_state=h.enable_lazy_state,
        retry_policy=retry_policy(h.retry_policy),
        ingress_private=h.ingress_private,
    )


def service(svc: r.ServiceRecord) -> s.ServiceSchema:
    return s.ServiceSchema(
        name=svc.name,
        ty=svc.ty,
        handlers={h.name: handler(h) for h in svc.handlers},
        deployment_id=svc.deployment_id,
        revision=svc.revision,
        public=svc.public,
        documentation=svc.documentation,
        metadata=dict(svc.metadata),
        inactivity_timeout_ms=svc.inactivity_timeout_ms,
        abort_timeout_ms=svc.abort_timeout_ms,
        journal_retention_ms=svc.journal_retention_ms,
        idempotency_retention_ms=svc.idempotency_retention_ms,
        workflow_completion_retention_ms=svc.workflow_completion_retention_ms,
        enable_lazy_state=svc.enable_lazy_state,
        retry_policy=retry_policy(svc.retry_policy),
    )


def deployment(d: r.DeploymentRecord) -> s.Deployment:
    return s.Deployment(
        id=d.id,
        uri=d.uri,
        protocol_type=d.protocol_type,
        http_version=d.http_version,
        created_at_ms=d.created_at_ms,
        min_protocol_version=d.min_protocol_version,
        max_protocol_version=d.max_protocol_version,
        sdk_version=d.sdk_version,
        additional_headers=dict(d.additional_headers),
        metadata=dict(d.metadata),
        services=dict(d.services),
    )


def schema(record: r.SchemaRecord) -> s.Schema:
    return s.Schema(
        version=record.version,
        deployments={d.id: deployment(d) for d in record.deployments},
        services={svc.name: service(svc) for svc in record.services},
        superseded=[service(svc) for svc in record.superseded],
    )


# --- the Kafka registry, both ways


def kafka_registry_record(registry: k.KafkaRegistry) -> r.KafkaRegistryRecord:
    return r.KafkaRegistryRecord(
        version=registry.version,
        clusters=[
            r.KafkaClusterRecord(name=c.name, properties=dict(c.properties), created_at_ms=c.created_at_ms)
            for c in registry.clusters.values()
        ],
        subscriptions=[
            r.SubscriptionRecord(
                id=sub.id, cluster=sub.cluster, topic=sub.topic, service=sub.service, handler=sub.handler,
                sink_type=sub.sink_type, options=dict(sub.options), exclusive=sub.exclusive,
            )
            for sub in registry.subscriptions.values()
        ],
    )  # fmt: skip


def kafka_registry(record: r.KafkaRegistryRecord) -> k.KafkaRegistry:
    return k.KafkaRegistry(
        version=record.version,
        clusters={c.name: k.KafkaCluster(c.name, dict(c.properties), c.created_at_ms) for c in record.clusters},
        subscriptions={
            sub.id: k.Subscription(
                id=sub.id, cluster=sub.cluster, topic=sub.topic, service=sub.service, handler=sub.handler,
                sink_type=sub.sink_type, options=dict(sub.options), exclusive=sub.exclusive,
            )
            for sub in record.subscriptions
        },
    )  # fmt: skip


def parked_records_record(records: list[k.ParkedRecord]) -> r.ParkedRecordsRecord:
    return r.ParkedRecordsRecord(records=[
        r.ParkedRecordRecord(
            subscription=p.subscription, topic=p.topic, partition=p.partition, offset=p.offset, reason=p.reason,
            parked_at_ms=p.parked_at_ms, key=p.key, value=p.value, timestamp_ms=p.timestamp_ms,
            headers=list(p.headers),
        )
        for p in records
    ])  # fmt: skip


def parked_records(record: r.ParkedRecordsRecord) -> list[k.ParkedRecord]:
    return [
        k.ParkedRecord(
            subscription=p.subscription, topic=p.topic, partition=p.partition, offset=p.offset, reason=p.reason,
            parked_at_ms=p.parked_at_ms, key=p.key, value=p.value, timestamp_ms=p.timestamp_ms,
            headers=list(p.headers),
        )
        for p in record.records
    ]  # fmt: skip
