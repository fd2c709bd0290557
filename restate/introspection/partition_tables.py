"""SQL introspection of one partition's store (read-only): the rows of the `sys_*` and `state` tables.

Reads a consistent view (restate.storage.view over a LevelDB snapshot) and builds the rows the
real Restate 1.7 server shows in its SQL tables (`docs/reference/tables.txt`): timestamps and durations
as milliseconds, binary columns as bytes. Admin's query engine (`restate.admin.query`) asks every
partition (or only the owning ones) with `wire.ScanTable` (answered by restate.introspection.table_scan)
and combines the answers in DataFusion.

Pushed-down filters (`wire.ScanFilter`) narrow what is read where the keys allow it (invocation ids,
service name and key) and drop rows early otherwise; the engine applies the whole WHERE clause again,
so a filter here may only ever let too many rows through, never too few.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from restate import ids
from restate.introspection.journal_json import describe_entry, entry_type
from restate.protocol import MessageType, ProtocolError, decode_message
from restate.protocol._generated import service_protocol_pb2 as pb
from restate.storage import records as r
from restate.storage.view import KeyScope, PartitionView, Reader
from restate.wire import ScanFilter

Row = dict[str, Any]
InvocationStatus = r.InvocationStatus


_STATUS_COLUMNS = [
    "id", "vqueue_id", "target", "target_service_name", "target_service_key", "target_handler_name",
    "target_service_ty", "scope", "limit_key", "idempotency_key", "invoked_by", "invoked_by_service_name",
    "invoked_by_id", "invoked_by_subscription_id", "invoked_by_target", "restarted_from", "pinned_deployment_id",
    "pinned_service_protocol_version", "trace_id", "journal_size", "journal_commands_size", "created_at",
    "created_using_restate_version", "modified_at", "inboxed_at", "scheduled_at", "scheduled_start_at",
    "running_at", "completed_at", "completion_retention", "journal_retention", "suspended_waiting_for_completions",
    "suspended_waiting_for_signals", "suspended_waiting_future_json",
]  # fmt: skip
_STATE_COLUMNS = [
    "retry_count", "last_start_at", "next_retry_at", "last_attempt_deployment_id", "last_attempt_server",
    "last_failure", "last_failure_error_code", "last_failure_related_entry_index", "last_failure_related_entry_name",
    "last_failure_related_entry_type", "last_failure_related_command_index", "last_failure_related_command_name",
    "last_failure_related_command_type", "last_awaiting_on_future_json",
]  # fmt: skip

#: The columns of every table a partition serves, in the real server's order (docs/reference/tables.txt).
COLUMNS: dict[str, list[str]] = {
    "sys_invocation": [*_STATUS_COLUMNS, *_STATE_COLUMNS, "status", "completion_result", "completion_failure"],
    "sys_invocation_status": [
        "partition_key", "id", "vqueue_id", "status", "completion_result", "completion_failure",
        *_STATUS_COLUMNS[2:11], "invoked_by_id", "invoked_by_subscription_id", "invoked_by_service_name",
        *_STATUS_COLUMNS[14:],
    ],
    "sys_invocation_state": [
        "partition_key", "id", "in_flight", "retry_count", "last_start_at", "last_attempt_deployment_id",
        "last_attempt_server", "next_retry_at", "last_failure", "last_failure_error_code",
        "last_failure_related_command_index", "last_failure_related_command_name",
        "last_failure_related_command_type", "last_failure_related_entry_index", "last_failure_related_entry_name",
        "last_failure_related_entry_type", "last_awaiting_on_future_json",
    ],
    "sys_journal": [
        "partition_key", "id", "index", "entry_type", "name", "completed", "invoked_id", "invoked_target",
        "sleep_wakeup_at", "promise_name", "raw", "raw_length", "version", "entry_json", "entry_lite_json",
        "appended_at",
    ],
    "state": [
        "partition_key", "scope", "service_name", "service_key", "key", "key_length", "value_utf8", "value",
        "value_length",
    ],
    "sys_inbox": ["partition_key", "service_name", "service_key", "id", "sequence_number", "created_at"],
    "sys_promise": [
        "partition_key", "scope", "service_name", "service_key", "key", "completed", "completion_success_value",
        "completion_success_value_utf8", "completion_failure",
    ],
    "sys_keyed_service_status": ["partition_key", "service_name", "service_key", "invocation_id"],
}  # fmt: skip

#: Per table: the column holding an invocation id, the service name and the object/workflow key (the
#: filters that narrow what is read, not only what is returned).
ID_COLUMN = {
    "sys_invocation": "id", "sys_invocation_status": "id", "sys_invocation_state": "id", "sys_journal": "id",
    "sys_inbox": "id", "sys_keyed_service_status": "invocation_id",
}  # fmt: skip
SERVICE_COLUMN = {
    "sys_invocation": "target_service_name", "sys_invocation_status": "target_service_name", "state": "service_name",
    "sys_inbox": "service_name", "sys_promise": "service_name", "sys_keyed_service_status": "service_name",
}  # fmt: skip
KEY_COLUMN = {
    "sys_invocation": "target_service_key", "sys_invocation_status": "target_service_key", "state": "service_key",
    "sys_inbox": "service_key", "sys_promise": "service_key", "sys_keyed_service_status": "service_key",
}  # fmt: skip

_JOURNAL_VERSION = 2  # protocol V5+ journals are "v2" journals for the real server
RESTATE_VERSION = "1.7.12"  # `created_using_restate_version`: the version admin reports


# --- filters ------------------------------------------------------------------------------------------------


class Filters:
    """The pushed-down conditions of one scan, limited to the table's columns (others are ignored)."""

    def __init__(self, table: str, filters: Iterable[ScanFilter], columns: Iterable[str] | None = None) -> None:
        known = set(COLUMNS.get(table, ()))
        self.filters = [f for f in filters if f.column in known]
        # the columns someone needs (returned or filtered on): producers may skip computing the others
        self.needed: set[str] | None = None if columns is None else set(columns) | {f.column for f in self.filters}

    def needs(self, *columns: str) -> bool:
        return self.needed is None or any(c in self.needed for c in columns)

    def allowed(self, column: str | None) -> set[Any] | None:
        """The values `column` must take (the intersection of its `in` filters), or None if unconstrained."""
        found: set[Any] | None = None
        for f in self.filters:
            if f.column == column and f.op == "in":
                found = set(f.values) if found is None else found & set(f.values)
        return found

    def prefix(self, column: str | None) -> str | None:
        for f in self.filters:
            if f.column == column and f.op == "prefix" and f.values and isinstance(f.values[0], str):
                return f.values[0]
        return None

    def admits(self, row: Row) -> bool:
        return all(passes(f, row.get(f.column)) for f in self.filters)

    def admits_value(self, column: str, value: Any) -> bool:
        """Whether a row with this value in `column` can pass (checked before the row is built)."""
        return all(passes(f, value) for f in self.filters if f.column == column)


def passes(f: ScanFilter, value: Any) -> bool:
    if value is None:
        return False  # NULL = x, NULL != x and NULL LIKE x are never true
    if f.op == "in":
        return value in f.values
    if f.op == "not_in":
        return value not in f.values
    return isinstance(value, str) and bool(f.values) and value.startswith(str(f.values[0]))


# --- entry points -------------------------------------------------------------------------------------------


def rows(
    reader: Reader, table: str, filters: Iterable[ScanFilter] = (), columns: Iterable[str] | None = None
) -> Iterator[Row]:
    """The table's rows (dicts with every column that is not null) that pass the filters.

    With `columns`, expensive columns nobody asked for may be left out (the journal's decoded details)."""
    f = Filters(table, filters, columns)
    produce = _PRODUCERS[table]
    for row in produce(PartitionView(reader), f):
        if f.admits(row):
            yield row


# --- invocations ----------------------------------------------------------------------------------------------


def invocation_statuses(view: PartitionView, f: Filters, table: str) -> Iterator[tuple[bytes, InvocationStatus]]:
    """(invocation id, status) of the invocations the id / service / key filters allow."""
    services = f.allowed(SERVICE_COLUMN.get(table))
    object_keys = f.allowed(KEY_COLUMN.get(table))
    for inv_id, status in view.statuses(wanted_ids(f, table)):
        if services is not None and status.target.service not in services:
            continue
        if object_keys is not None and status.target.key not in object_keys:
            continue
        yield inv_id, status


def wanted_ids(f: Filters, table: str) -> list[bytes] | None:
    """The invocation ids the filters allow (None: any)."""
    wanted = f.allowed(ID_COLUMN.get(table))
    return None if wanted is None else [inv_id for inv_id in map(_parse_id, wanted) if inv_id is not None]


def _parse_id(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return ids.InvocationId.parse(text).to_bytes()
    except ids.IdError:
        return None


def _id_text(inv_id: bytes) -> str:
    return ids.invocation_id_text(inv_id)


def _partition_key(inv_id: bytes) -> int:
    return ids.InvocationId.from_bytes(inv_id).partition_key


def derived_status(status: InvocationStatus) -> str:
    """`sys_invocation.status` from the stored state (HTTP-API.md 2.7)."""
    match status.state:
        case r.Inboxed():
            return "pending"
        case r.Invoked():
            return "running"
        case r.BackingOff():
            return "backing-off"
    return status.status


def status_row(inv_id: bytes, status: InvocationStatus) -> Row:
    """The columns of `sys_invocation_status` (null ones left out)."""
    target, state = status.target, status.state
    row: Row = {
        "partition_key": _partition_key(inv_id),
        "id": _id_text(inv_id),
        "status": status.status,
        "target": str(target),
        "target_service_name": target.service,
        "target_handler_name": target.handler,
        "target_service_ty": target.service_ty,
        "created_at": status.created_at_ms,
        "modified_at": status.modified_at_ms,
        "created_using_restate_version": RESTATE_VERSION,
    }
    if target.key is not None:
        row["target_service_key"] = target.key
    if isinstance(state, r.Scheduled):
        row["scheduled_at"] = status.created_at_ms  # only delayed invocations start out scheduled
        row["scheduled_start_at"] = state.execute_at_ms
    elif isinstance(state, r.Inboxed):
        row["inboxed_at"] = status.created_at_ms  # queued when it arrived (a delayed one was started then)
    if status.idempotency_key is not None:
        row["idempotency_key"] = status.idempotency_key
    if status.caller_id is not None:
        row["invoked_by"] = "service"
        row["invoked_by_id"] = _id_text(status.caller_id)
    else:
        row["invoked_by"] = "ingress"
    if status.deployment_id is not None:
        row["pinned_deployment_id"] = status.deployment_id
    if status.protocol_version is not None:
        row["pinned_service_protocol_version"] = status.protocol_version
    if status.trace is not None:  # traced: created while tracing was on
        row["trace_id"] = status.trace.trace_id.hex()
    if not isinstance(state, r.Scheduled | r.Inboxed):
        row["journal_size"] = status.journal.length
        row["journal_commands_size"] = status.journal.commands
    if isinstance(state, r.Suspended):
        completions, signals = _awaited(state.awaiting)
        row["suspended_waiting_for_completions"] = completions
        row["suspended_waiting_for_signals"] = signals
    if isinstance(state, r.Completed):
        _completion_columns(row, status, state)
    return row


def _completion_columns(row: Row, status: InvocationStatus, state: r.Completed) -> None:
    row["completed_at"] = status.modified_at_ms
    row["completion_retention"] = max(0, state.expires_at_ms - status.modified_at_ms)
    failure = state.outcome.failure
    if failure is not None:
        row["completion_result"] = "failure"
        row["completion_failure"] = f"[{failure.code}] {failure.message}"
    else:
        row["completion_result"] = "success"


def _awaited(raw: bytes) -> tuple[list[int], list[int]]:
    """The completion and signal ids a suspended invocation waits for (from its serialized Future)."""
    future = pb.Future()
    try:
        future.ParseFromString(raw)
    except Exception:
        return [], []
    completions: list[int] = []
    signals: list[int] = []
    stack = [future]
    while stack:
        node = stack.pop()
        completions.extend(node.waiting_completions)
        signals.extend(node.waiting_signals)
        stack.extend(node.nested_futures)
    return sorted(set(completions)), sorted(set(signals))


def _attempts(status: InvocationStatus) -> r.Attempts | None:
    """The attempts of an invocation that has a row in `sys_invocation_state` (the invoker's side)."""
    state = status.state
    return state.attempts if isinstance(state, r.Invoked | r.BackingOff | r.Paused) else None


def _attempt_row(inv_id: bytes, status: InvocationStatus, attempts: r.Attempts, id_text: str | None = None) -> Row:
    """The columns of `sys_invocation_state` (the invoker's view: attempts, retries, last failure)."""
    running = isinstance(status.state, r.Invoked)
    row: Row = {
        "partition_key": _partition_key(inv_id),
        "id": id_text or _id_text(inv_id),
        "in_flight": running,
        # the real server counts attempts: 1 while the first one runs, N after N failed ones
        "retry_count": attempts.retry_count + (1 if running else 0),
        "last_start_at": status.modified_at_ms,
    }
    if status.deployment_id is not None:
        row["last_attempt_deployment_id"] = status.deployment_id
    if isinstance(status.state, r.BackingOff):
        row["next_retry_at"] = status.state.retry_at_ms  # when the retry is due (the web UI's retry schedule)
    if attempts.last_failure is not None and attempts.retry_count > 0:
        row["last_failure"] = attempts.last_failure
    return row


def _invocation_status_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for inv_id, status in invocation_statuses(view, f, "sys_invocation_status"):
        if f.admits_value("status", status.status):  # the CLI's usual `status != 'completed'`, early
            yield status_row(inv_id, status)


def _invocation_state_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    wanted = wanted_ids(f, "sys_invocation_state")
    if wanted is None:  # only invocations with attempts have rows: the live index lists them (no completed ones)
        wanted = [inv_id for inv_id, name in view.live() if name in _WITH_ATTEMPTS]
    for inv_id, status in view.statuses(wanted):
        attempts = _attempts(status)
        if attempts is not None:
            yield _attempt_row(inv_id, status, attempts)


_WITH_ATTEMPTS = frozenset({"invoked", "paused"})  # the live index's names of states with a row (`_attempts`)


def invocation_row(inv_id: bytes, status: InvocationStatus) -> Row:
    """A `sys_invocation` row: the status joined with the attempt state, with the derived status."""
    row = status_row(inv_id, status)
    del row["partition_key"]
    attempts = _attempts(status)
    if attempts is not None:
        attempt = _attempt_row(inv_id, status, attempts, row["id"])
        for name in ("partition_key", "id", "in_flight"):
            del attempt[name]
        row.update(attempt)
    row["status"] = derived_status(status)
    return row


def _invocation_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for inv_id, status in invocation_statuses(view, f, "sys_invocation"):
        if f.admits_value("status", derived_status(status)):
            yield invocation_row(inv_id, status)


# --- journal ----------------------------------------------------------------------------------------------------


def _journal_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for inv_id, status in invocation_statuses(view, f, "sys_journal"):
        details = f.needs(*_JOURNAL_DETAILS)
        yield from journal_rows(
            inv_id, status, view.journal(inv_id), details, f.needs("entry_json"), f.needs("entry_lite_json")
        )


_JOURNAL_DETAILS = (
    "name", "completed", "invoked_id", "invoked_target", "sleep_wakeup_at", "promise_name", "entry_json",
    "entry_lite_json",
)  # fmt: skip


def journal_rows(
    inv_id: bytes,
    status: InvocationStatus,
    entries: Iterable[tuple[int, bytes]],
    details: bool = True,
    entry_json: bool = True,
    lite_json: bool = True,
) -> Iterator[Row]:
    """The `sys_journal` rows of one invocation from its stored (index, frame) entries.

    `details`: decode the entries for the columns that need it (name, ...); `entry_json` / `lite_json`: render
    them (entry_json, entry_lite_json)."""
    decoded: list[tuple[int, int, bytes, Any]] = []
    invoked_ids: dict[int, str] = {}  # CallInvocationId notifications: completion id -> callee id
    for index, frame in entries:
        msg_type = int.from_bytes(frame[:2], "big")
        payload = bytes(frame[8:])
        msg = None
        if details:
            try:
                msg = decode_message(msg_type, payload)
            except ProtocolError:
                pass
        if msg_type == MessageType.CALL_INVOCATION_ID and msg is not None and msg.WhichOneof("id") == "completion_id":
            invoked_ids[msg.completion_id] = msg.invocation_id
        decoded.append((index, msg_type, payload, msg))
    last = decoded[-1][0] if decoded else -1
    base: Row = {"partition_key": _partition_key(inv_id), "id": _id_text(inv_id), "version": _JOURNAL_VERSION}
    completions = set(status.journal.completions)
    last_appended = status.journal.last_appended_at_ms
    for index, msg_type, payload, msg in decoded:
        row = dict(base)
        row["index"] = index
        row["entry_type"] = entry_type(msg_type)
        row["raw"] = payload
        row["raw_length"] = len(payload)
        if index == 0:
            row["appended_at"] = status.created_at_ms
        elif index == last and last_appended:
            row["appended_at"] = last_appended
        if msg is not None:
            describe_entry(row, msg_type, msg, completions, invoked_ids, entry_json, lite_json)
        yield row


# --- keyed tables: state, inbox, promises, locks ------------------------------------------------------------------


def _scope(f: Filters, table: str) -> KeyScope:
    """The object keys the filters allow (only strings can match a service name or key)."""
    services = f.allowed(SERVICE_COLUMN[table])
    object_keys = f.allowed(KEY_COLUMN[table])
    return KeyScope(
        None if services is None else frozenset(s for s in services if isinstance(s, str)),
        None if object_keys is None else frozenset(k for k in object_keys if isinstance(k, str)),
        f.prefix(SERVICE_COLUMN[table]),
    )


def _utf8(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _state_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for service, key, name, value in view.state_entries(_scope(f, "state")):
        row: Row = {
            "partition_key": ids.partition_key_for(key),
            "service_name": service,
            "service_key": key,
            "key_length": len(name),
            "value": bytes(value),
            "value_length": len(value),
        }
        name_text, value_text = _utf8(name), _utf8(bytes(value))
        if name_text is not None:
            row["key"] = name_text
        if value_text is not None:
            row["value_utf8"] = value_text
        yield row


def _inbox_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for service, key, seq, entry in view.inbox_entries(_scope(f, "sys_inbox")):
        item = entry.item
        if not isinstance(item, r.QueuedInvocation):
            continue  # a queued state replacement, no invocation
        inv_id = item.invocation_id
        row: Row = {
            "partition_key": _partition_key(inv_id),
            "service_name": service,
            "service_key": key,
            "id": _id_text(inv_id),
            "sequence_number": seq,
        }
        status = view.status(inv_id)
        if status is not None:
            row["created_at"] = status.created_at_ms
        yield row


def _promise_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    for service, key, name, record in view.promises(_scope(f, "sys_promise")):
        row: Row = {
            "partition_key": ids.partition_key_for(key),
            "service_name": service,
            "service_key": key,
            "key": name.decode("utf-8", "replace"),
            "completed": record.outcome is not None,
        }
        outcome = record.outcome
        if outcome is not None and outcome.failure is not None:
            row["completion_failure"] = f"[{outcome.failure.code}] {outcome.failure.message}"
        elif outcome is not None:
            data = outcome.value or b""
            row["completion_success_value"] = data
            text = _utf8(data)
            if text is not None:
                row["completion_success_value_utf8"] = text
        yield row


def _lock_rows(view: PartitionView, f: Filters) -> Iterator[Row]:
    holders = f.allowed("invocation_id")
    for service, key, holder_id in view.locks(_scope(f, "sys_keyed_service_status")):
        holder = _id_text(holder_id)
        if holders is not None and holder not in holders:
            continue
        yield {"partition_key": ids.partition_key_for(key), "service_name": service, "service_key": key,
               "invocation_id": holder}  # fmt: skip


_PRODUCERS: dict[str, Callable[[PartitionView, Filters], Iterator[Row]]] = {
    "sys_invocation": _invocation_rows,
    "sys_invocation_status": _invocation_status_rows,
    "sys_invocation_state": _invocation_state_rows,
    "sys_journal": _journal_rows,
    "state": _state_rows,
    "sys_inbox": _inbox_rows,
    "sys_promise": _promise_rows,
    "sys_keyed_service_status": _lock_rows,
}
