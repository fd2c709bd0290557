"""An invocation's journal as `invocations describe` shows it: `sys_journal` rows decoded into what each entry holds.

The real server leaves most detail columns of `sys_journal` empty (`invoked_id`, `sleep_wakeup_at`,
`promise_name`, `completed`) and puts an entry's contents in `entry_json`: the serde JSON of its
journal_v2::Entry, `{"Command": {"Call": {...}}}` or `{"Notification": {"Completion": {"Call": {...}}}}`,
with payloads as arrays of byte values. Like the official CLI, this decodes `entry_json`, and falls back
to the columns when an entry has none (protocol V1-V4 journals).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

Json = Any
VALUE_LIMIT = 120  # characters of a decoded value shown in the table (--json has them whole)


@dataclass
class Entry:
    """One journal entry, decoded; None: the entry does not have that."""

    index: int
    entry_type: str
    appended_at: str | None = None
    name: str | None = None  # the entry's own name (e.g. of a ctx.run)
    target: str | None = None  # a call's or send's Service[/key]/handler
    invocation_id: str | None = None  # the callee of a call or send, the invocation attached to or signalled
    wake_up_at: str | None = None  # a sleep's deadline, a delayed send's start (RFC 3339, UTC)
    state_key: str | None = None
    state_keys: list[str] | None = None
    promise: str | None = None
    awakeable: str | None = None
    signal: str | None = None
    value: Json = None  # a payload or successful result: its JSON if it is JSON, else its text, else `hex:...`
    failure: str | None = None  # a failed result: `[code] message`
    completion_ids: list[int] = field(default_factory=list)  # what a command waits for; its notifications'
    completed: bool | None = None  # a command's result has arrived (its notification is in the journal)

    def as_json(self) -> dict[str, Json]:
        return {k: v for k, v in asdict(self).items() if v is not None and k != "completion_ids"}


def decode_value(data: bytes) -> Json:
    """A payload for display: its JSON if it is JSON, else its text, else `hex:...`."""
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return "hex:" + data.hex()
    try:
        return json.loads(text)
    except ValueError:
        return text


def _bytes(value: Json) -> bytes:
    return bytes(value) if isinstance(value, list) else str(value).encode()


def _millis(ms: Json) -> str | None:
    if not isinstance(ms, int) or ms <= 0:  # 0: a send without delay
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _result(entry: Entry, result: Json) -> None:
    """`{"Success": [bytes]}`, `{"Failure": {code, message}}`, "Void", `{"InvocationId": id}`, `{"StateKeys": [..]}`."""
    if not isinstance(result, dict):
        return
    if "Success" in result:
        entry.value = decode_value(_bytes(result["Success"]))
    elif "Failure" in result:
        failure = result["Failure"]
        entry.failure = f"[{failure.get('code')}] {failure.get('message')}"
    elif "InvocationId" in result:
        entry.invocation_id = str(result["InvocationId"])
    elif "StateKeys" in result:
        entry.state_keys = [str(k) for k in result["StateKeys"]]


def _target(target: Json) -> str | None:
    """`{"VirtualObject": {name, key, handler}}`, `{"Service": {name, handler}}`, `{"Workflow": ...}`."""
    if not isinstance(target, dict) or len(target) != 1:
        return None
    (body,) = target.values()
    parts = [body.get("name"), body.get("key"), body.get("handler")]
    return "/".join(str(p) for p in parts if p is not None)


def _call(entry: Entry, body: Json) -> None:
    request = body.get("request", {})
    entry.target = _target(request.get("invocation_target"))
    entry.invocation_id = request.get("invocation_id") or entry.invocation_id
    entry.value = decode_value(_bytes(request.get("parameter", [])))
    entry.wake_up_at = _millis(body.get("invoke_time"))
    entry.completion_ids = [body[k] for k in ("invocation_id_completion_id", "result_completion_id") if k in body]


def _attach_target(entry: Entry, target: Json) -> None:
    """AttachInvocation / GetInvocationOutput: by id, by workflow, or by idempotency key."""
    if not isinstance(target, dict):
        return
    if "InvocationId" in target:
        entry.invocation_id = str(target["InvocationId"])
    elif "Workflow" in target:
        workflow = target["Workflow"]
        entry.target = f"{workflow.get('service_name')}/{workflow.get('key')}"
    elif "IdempotentRequest" in target:
        req = target["IdempotentRequest"]
        parts = [req.get("service_name"), req.get("service_key"), req.get("service_handler")]
        target = "/".join(str(p) for p in parts if p is not None)
        entry.target = f"{target} (idempotency key {req.get('idempotency_key')})"


def _signal_id(signal_id: Json) -> str | None:
    if isinstance(signal_id, dict) and signal_id:
        (value,) = signal_id.values()
        return str(value)
    return None


def _command(entry: Entry, body: Json) -> None:
    """What every command body may hold, by its field names (they mean the same in every command)."""
    _keys(entry, body)
    _values(entry, body)
    if "wake_up_time" in body:
        entry.wake_up_at = _millis(body["wake_up_time"])
    if "completion_id" in body:
        entry.completion_ids = [body["completion_id"]]
    if "target" in body:
        _attach_target(entry, body["target"])
    if "target_invocation_id" in body:  # SendSignal
        entry.invocation_id = str(body["target_invocation_id"])
        entry.signal = _signal_id(body.get("signal_id"))
    if "id" in body and isinstance(body["id"], str):  # CompleteAwakeable
        entry.awakeable = body["id"]


def _keys(entry: Entry, body: Json) -> None:
    """A state key, a promise name (promises have keys too), the state keys read."""
    if "key" in body:
        key = str(body["key"])
        if entry.entry_type.endswith("Promise"):
            entry.promise = key
        else:
            entry.state_key = key
    if "state_keys" in body:
        entry.state_keys = [str(k) for k in body["state_keys"]]


def _values(entry: Entry, body: Json) -> None:
    """The input payload, the value set, the result read or returned."""
    if "payload" in body:  # Input
        entry.value = decode_value(_bytes(body["payload"]))
    if "value" in body:
        value = body["value"]
        if isinstance(value, list):  # SetState
            entry.value = decode_value(_bytes(value))
        else:  # CompletePromise: a result
            _result(entry, value)
    if "result" in body:
        _result(entry, body["result"])


_COMMANDS: dict[str, Callable[[Entry, Json], None]] = {"Call": _call, "OneWayCall": _call}


def _notification(entry: Entry, body: Json) -> None:
    if "Completion" in body:
        (completion,) = body["Completion"].values()
        entry.completion_ids = [completion["completion_id"]]
        if "invocation_id" in completion:  # CallInvocationId
            entry.invocation_id = str(completion["invocation_id"])
        if "state_keys" in completion:
            entry.state_keys = [str(k) for k in completion["state_keys"]]
        _result(entry, completion.get("result"))
    elif "Signal" in body:
        entry.signal = _signal_id(body["Signal"].get("id"))
        _result(entry, body["Signal"].get("result"))


def _from_entry_json(entry: Entry, text: str) -> None:
    data = json.loads(text)
    if "Command" in data:
        ((kind, body),) = data["Command"].items()
        entry.name = body.get("name") or entry.name
        _COMMANDS.get(kind, _command)(entry, body)
    elif "Notification" in data:
        _notification(entry, data["Notification"])


def _from_columns(row: dict[str, Json]) -> Entry:
    """What the detail columns hold (our server fills them; the real server only for V1-V4 journals)."""
    entry = Entry(int(row.get("index", 0)), str(row.get("entry_type", "")), row.get("appended_at"))
    entry.name = row.get("name") or None
    entry.completed = row.get("completed")
    entry.invocation_id = row.get("invoked_id")
    entry.target = row.get("invoked_target")
    entry.wake_up_at = row.get("sleep_wakeup_at")
    entry.promise = row.get("promise_name")
    return entry


def decode_row(row: dict[str, Json]) -> Entry:
    """One `sys_journal` row; an `entry_json` this does not understand leaves the columns' details."""
    entry = _from_columns(row)
    text = row.get("entry_json")
    if isinstance(text, str) and text:
        try:
            _from_entry_json(entry, text)
        except (ValueError, TypeError, KeyError, AttributeError):  # a shape this CLI does not know
            pass
    return entry


def decode(rows: Iterable[dict[str, Json]]) -> list[Entry]:
    """The journal in index order; a command is completed when a notification for its completion id is there."""
    entries = sorted((decode_row(r) for r in rows), key=lambda e: e.index)
    arrived = {cid for e in entries if e.entry_type.startswith("Notification") for cid in e.completion_ids}
    for entry in entries:
        if entry.entry_type.startswith("Command") and entry.completion_ids and entry.completed is None:
            entry.completed = entry.completion_ids[-1] in arrived
    return entries


# --- display -------------------------------------------------------------------------------------------------

# Entry kinds (entry_type without "Command: "; V1-V4 journals name them without it) by what their value is.
_INPUTS = ("Input", "Call", "OneWayCall")
_VALUES = ("SetState", "GetEagerState", "GetState")


def short(value: Json, limit: int = VALUE_LIMIT) -> str:
    """A decoded value on one line, cut to `limit` characters."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _span(seconds: float) -> str:
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")]
    shown = [f"{n}{unit}" for n, unit in units if n][:2]
    return " ".join(shown) or "0s"


def deadline(text: str, now: datetime) -> str:
    """`2026-12-02 06:45:27.077 UTC (in 59m 53s)`, or `(... ago)` once passed."""
    moment = _parse_time(text)
    if moment is None:
        return text
    left = (moment - now).total_seconds()
    when = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    return f"{when} (in {_span(left)})" if left > 0 else f"{when} ({_span(left)} ago)"


def details(entry: Entry, now: datetime) -> str:
    """What the entry holds, one fact per line: name, target and callee, deadline, key, promise, value."""
    lines: list[str] = []
    head = " ".join(p for p in (f"[{entry.name}]" if entry.name else None, entry.target) if p)
    if head:
        lines.append(head)
    if entry.invocation_id:
        lines.append(entry.invocation_id)
    kind = entry.entry_type.removeprefix("Command: ")
    if entry.wake_up_at:
        lines.append(("until " if kind == "Sleep" else "at ") + deadline(entry.wake_up_at, now))
    facts = [("key", entry.state_key), ("promise", entry.promise), ("awakeable", entry.awakeable),
             ("signal", entry.signal), ("failure", entry.failure)]  # fmt: skip
    lines += [f"{label} {value}" for label, value in facts if value]
    if entry.state_keys is not None:
        lines.append(f"keys [{', '.join(entry.state_keys)}]")
    if entry.value is not None and entry.value != "":  # an empty payload is no news
        label = "input" if kind in _INPUTS else "value" if kind in _VALUES else "result"
        lines.append(f"{label} {short(entry.value)}")
    if entry.completed is False:
        lines.append("(waiting for its result)")
    return "\n".join(lines)
