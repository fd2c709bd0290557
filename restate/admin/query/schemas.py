"""The Arrow schema of every SQL table, as the real Restate 1.7.12 server reports them.

The text below is docs/reference/tables.txt (`name => column:Type, ...`; `!` = not nullable), so the
column order and types match the real server's exactly, `information_schema` included.
"""

from __future__ import annotations

import re

import pyarrow as pa

_TABLES = """
state => partition_key:UInt64, scope:LargeUtf8, service_name:LargeUtf8, service_key:LargeUtf8, key:LargeUtf8, key_length:UInt64, value_utf8:LargeUtf8, value:LargeBinary, value_length:UInt64
sys_deployment => id:LargeUtf8, ty:LargeUtf8, endpoint:LargeUtf8, created_at:Timestamp(ms, "+00:00"), min_service_protocol_version:UInt32, max_service_protocol_version:UInt32, services:List(LargeUtf8)
sys_inbox => partition_key:UInt64, service_name:LargeUtf8, service_key:LargeUtf8, id:LargeUtf8, sequence_number:UInt64, created_at:Timestamp(ms, "+00:00")
sys_invocation => id:LargeUtf8, vqueue_id:LargeUtf8, target:LargeUtf8, target_service_name:LargeUtf8, target_service_key:LargeUtf8, target_handler_name:LargeUtf8, target_service_ty:LargeUtf8, scope:LargeUtf8, limit_key:LargeUtf8, idempotency_key:LargeUtf8, invoked_by:LargeUtf8, invoked_by_service_name:LargeUtf8, invoked_by_id:LargeUtf8, invoked_by_subscription_id:LargeUtf8, invoked_by_target:LargeUtf8, restarted_from:LargeUtf8, pinned_deployment_id:LargeUtf8, pinned_service_protocol_version:UInt32, trace_id:LargeUtf8, journal_size:UInt32, journal_commands_size:UInt32, created_at:Timestamp(ms, "+00:00"), created_using_restate_version:LargeUtf8, modified_at:Timestamp(ms, "+00:00"), inboxed_at:Timestamp(ms, "+00:00"), scheduled_at:Timestamp(ms, "+00:00"), scheduled_start_at:Timestamp(ms, "+00:00"), running_at:Timestamp(ms, "+00:00"), completed_at:Timestamp(ms, "+00:00"), completion_retention:Duration(ms), journal_retention:Duration(ms), suspended_waiting_for_completions:List(UInt32), suspended_waiting_for_signals:List(UInt32), suspended_waiting_future_json:LargeUtf8, retry_count:UInt64, last_start_at:Timestamp(ms, "+00:00"), next_retry_at:Timestamp(ms, "+00:00"), last_attempt_deployment_id:LargeUtf8, last_attempt_server:LargeUtf8, last_failure:LargeUtf8, last_failure_error_code:LargeUtf8, last_failure_related_entry_index:UInt64, last_failure_related_entry_name:LargeUtf8, last_failure_related_entry_type:LargeUtf8, last_failure_related_command_index:UInt64, last_failure_related_command_name:LargeUtf8, last_failure_related_command_type:LargeUtf8, last_awaiting_on_future_json:LargeUtf8, status:LargeUtf8!, completion_result:LargeUtf8, completion_failure:LargeUtf8
sys_invocation_state => partition_key:UInt64, id:LargeUtf8, in_flight:Boolean, retry_count:UInt64, last_start_at:Timestamp(ms, "+00:00"), last_attempt_deployment_id:LargeUtf8, last_attempt_server:LargeUtf8, next_retry_at:Timestamp(ms, "+00:00"), last_failure:LargeUtf8, last_failure_error_code:LargeUtf8, last_failure_related_command_index:UInt64, last_failure_related_command_name:LargeUtf8, last_failure_related_command_type:LargeUtf8, last_failure_related_entry_index:UInt64, last_failure_related_entry_name:LargeUtf8, last_failure_related_entry_type:LargeUtf8, last_awaiting_on_future_json:LargeUtf8
sys_invocation_status => partition_key:UInt64, id:LargeUtf8, vqueue_id:LargeUtf8, status:LargeUtf8, completion_result:LargeUtf8, completion_failure:LargeUtf8, target:LargeUtf8, target_service_name:LargeUtf8, target_service_key:LargeUtf8, target_handler_name:LargeUtf8, target_service_ty:LargeUtf8, scope:LargeUtf8, limit_key:LargeUtf8, idempotency_key:LargeUtf8, invoked_by:LargeUtf8, invoked_by_id:LargeUtf8, invoked_by_subscription_id:LargeUtf8, invoked_by_service_name:LargeUtf8, invoked_by_target:LargeUtf8, restarted_from:LargeUtf8, pinned_deployment_id:LargeUtf8, pinned_service_protocol_version:UInt32, trace_id:LargeUtf8, journal_size:UInt32, journal_commands_size:UInt32, created_at:Timestamp(ms, "+00:00"), created_using_restate_version:LargeUtf8, modified_at:Timestamp(ms, "+00:00"), inboxed_at:Timestamp(ms, "+00:00"), scheduled_at:Timestamp(ms, "+00:00"), scheduled_start_at:Timestamp(ms, "+00:00"), running_at:Timestamp(ms, "+00:00"), completed_at:Timestamp(ms, "+00:00"), completion_retention:Duration(ms), journal_retention:Duration(ms), suspended_waiting_for_completions:List(UInt32), suspended_waiting_for_signals:List(UInt32), suspended_waiting_future_json:LargeUtf8
sys_journal => partition_key:UInt64, id:LargeUtf8, index:UInt32, entry_type:LargeUtf8, name:LargeUtf8, completed:Boolean, invoked_id:LargeUtf8, invoked_target:LargeUtf8, sleep_wakeup_at:Timestamp(ms, "+00:00"), promise_name:LargeUtf8, raw:LargeBinary, raw_length:UInt64, version:UInt32, entry_json:LargeUtf8, entry_lite_json:LargeUtf8, appended_at:Timestamp(ms, "+00:00")
sys_journal_events => partition_key:UInt64, id:LargeUtf8, after_journal_entry_index:UInt32, appended_at:Timestamp(ms, "+00:00"), event_type:LargeUtf8, event_json:LargeUtf8
sys_keyed_service_status => partition_key:UInt64, service_name:LargeUtf8, service_key:LargeUtf8, invocation_id:LargeUtf8
sys_locks => partition_key:UInt64, scope:LargeUtf8, lock_name:LargeUtf8, acquired_at:Timestamp(ms, "+00:00"), acquired_by:LargeUtf8
sys_promise => partition_key:UInt64, scope:LargeUtf8, service_name:LargeUtf8, service_key:LargeUtf8, key:LargeUtf8, completed:Boolean, completion_success_value:LargeBinary, completion_success_value_utf8:LargeUtf8, completion_failure:LargeUtf8
sys_rules => pattern:LargeUtf8, concurrency:UInt32, description:LargeUtf8, disabled:Boolean, version:UInt32, last_modified:Timestamp(ms, "+00:00")
sys_scheduler => partition_key:UInt64, id:LargeUtf8, num_inbox:UInt64, status:LargeUtf8, head_entry_id:LargeUtf8, scheduled_at:Timestamp(ms, "+00:00"), blocked_on:LargeUtf8, blocked_on_json:LargeUtf8, invoker_concurrency_block_duration:Duration(ms), throttling_rules_block_duration:Duration(ms), invoker_throttling_block_duration:Duration(ms), invoker_memory_block_duration:Duration(ms), concurrency_rules_block_duration:Duration(ms), lock_block_duration:Duration(ms), deployment_concurrency_block_duration:Duration(ms)
sys_service => name:LargeUtf8, revision:UInt64, public:Boolean, ty:LargeUtf8, deployment_id:LargeUtf8
sys_user_limits => partition_key:UInt64, scope:LargeUtf8, l1:LargeUtf8, l2:LargeUtf8, level:LargeUtf8, usage:UInt32, concurrency_limit:UInt32, rule_pattern:LargeUtf8, available:UInt32, num_waiters:UInt64
sys_vqueue_entry_status => partition_key:UInt64, entry_id:LargeUtf8, vqueue_id:LargeUtf8, stage:LargeUtf8, status:LargeUtf8, has_lock:Boolean, next_at:Timestamp(ms, "+00:00"), sequence_number:UInt64, entry_kind:LargeUtf8, created_at:Timestamp(ms, "+00:00"), transitioned_at:Timestamp(ms, "+00:00"), num_attempts:UInt32, num_errors:UInt32, num_pauses:UInt32, num_suspensions:UInt32, num_yields:UInt32, first_attempt_at:Timestamp(ms, "+00:00"), latest_attempt_at:Timestamp(ms, "+00:00"), first_runnable_at:Timestamp(ms, "+00:00"), deployment:LargeUtf8, needed_memory:UInt64, retry_attempts:UInt32, retry_count_since_last_stored_command:UInt32, latest_attempt_blocked_on_invoker_concurrency:Duration(ms), latest_attempt_blocked_on_throttling_rules:Duration(ms), latest_attempt_blocked_on_invoker_throttling:Duration(ms), latest_attempt_blocked_on_invoker_memory:Duration(ms), latest_attempt_blocked_on_concurrency_rules:Duration(ms), latest_attempt_blocked_on_lock:Duration(ms), latest_attempt_blocked_on_deployment_concurrency:Duration(ms), total_blocked_on_invoker_concurrency:Duration(ms), total_blocked_on_throttling_rules:Duration(ms), total_blocked_on_invoker_throttling:Duration(ms), total_blocked_on_invoker_memory:Duration(ms), total_blocked_on_concurrency_rules:Duration(ms), total_blocked_on_lock:Duration(ms), total_blocked_on_deployment_concurrency:Duration(ms)
sys_vqueue_meta => partition_key:UInt64, id:LargeUtf8, is_active:Boolean, queue_is_paused:Boolean, service_name:LargeUtf8, scope:LargeUtf8, limit_key:LargeUtf8, lock_name:LargeUtf8, created_at:Timestamp(ms, "+00:00"), last_enqueued_at:Timestamp(ms, "+00:00"), last_start_at:Timestamp(ms, "+00:00"), last_attempt_at:Timestamp(ms, "+00:00"), last_finish_at:Timestamp(ms, "+00:00"), avg_queue_duration:Duration(ms), avg_inbox_duration:Duration(ms), avg_run_duration:Duration(ms), avg_suspension_duration:Duration(ms), avg_end_to_end_duration:Duration(ms), avg_blocked_on_concurrency_rules:Duration(ms), avg_blocked_on_invoker_concurrency:Duration(ms), avg_blocked_on_invoker_throttling:Duration(ms), avg_blocked_on_lock:Duration(ms), num_inbox:UInt64, num_running:UInt64, num_suspended:UInt64, num_paused:UInt64, num_finished:UInt64
sys_vqueues => partition_key:UInt64, id:LargeUtf8, stage:LargeUtf8, status:LargeUtf8, has_lock:Boolean, run_at:Timestamp(ms, "+00:00"), sequence_number:UInt64, entry_id:LargeUtf8, entry_kind:LargeUtf8, created_at:Timestamp(ms, "+00:00"), transitioned_at:Timestamp(ms, "+00:00"), num_attempts:UInt32, num_errors:UInt32, num_pauses:UInt32, num_suspensions:UInt32, num_yields:UInt32, first_attempt_at:Timestamp(ms, "+00:00"), latest_attempt_at:Timestamp(ms, "+00:00"), first_runnable_at:Timestamp(ms, "+00:00"), deployment:LargeUtf8
"""  # noqa: E501

_SIMPLE: dict[str, pa.DataType] = {
    "LargeUtf8": pa.large_string(),
    "LargeBinary": pa.large_binary(),
    "UInt64": pa.uint64(),
    "UInt32": pa.uint32(),
    "Boolean": pa.bool_(),
    'Timestamp(ms, "+00:00")': pa.timestamp("ms", tz="+00:00"),
    "Duration(ms)": pa.duration("ms"),
}
_SPLIT = re.compile(r",\s*(?=\w+:)")
_COLUMN = re.compile(r"(\w+):(.+?)(!?)")


def _type(text: str) -> pa.DataType:
    if text.startswith("List(") and text.endswith(")"):
        return pa.list_(_type(text[5:-1]))
    return _SIMPLE[text]


def _parse(text: str) -> dict[str, pa.Schema]:
    schemas: dict[str, pa.Schema] = {}
    for line in text.strip().splitlines():
        name, _, columns = line.partition(" => ")
        fields = []
        for spec in _SPLIT.split(columns):
            found = _COLUMN.fullmatch(spec)
            assert found is not None, f"unparsed column {spec!r} of {name}"
            column, ty, required = found.groups()
            fields.append(pa.field(column, _type(ty), nullable=not required))
        schemas[name] = pa.schema(fields)
    return schemas


#: Every table of the real server, by name.
SCHEMAS: dict[str, pa.Schema] = _parse(_TABLES)

#: Tables read from the partitions (see restate.introspection.partition_tables).
PARTITION_TABLES = (
    "sys_invocation", "sys_invocation_status", "sys_invocation_state", "sys_journal", "state", "sys_inbox",
    "sys_promise", "sys_keyed_service_status",
)  # fmt: skip
#: Tables built from admin's own registry.
ADMIN_TABLES = ("sys_service", "sys_deployment")
#: Everything else exists (with its columns, for `information_schema` probes) but is always empty here.
EMPTY_TABLES = tuple(sorted(set(SCHEMAS) - set(PARTITION_TABLES) - set(ADMIN_TABLES)))
