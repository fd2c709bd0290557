"""The JSON view of journal entries that `sys_journal.entry_json` shows, in the real server's shape (pure)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from restate.protocol import MessageType, is_command, is_notification

Row = dict[str, Any]


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def entry_type(msg_type: int) -> str:
    """The real server's `sys_journal.entry_type`: "Command: Sleep", "Notification: Call", "Notification: Signal"."""
    try:
        name = MessageType(msg_type).name
    except ValueError:
        return f"Custom: 0x{msg_type:04x}" if is_command(msg_type) else f"Unknown: 0x{msg_type:04x}"
    if is_notification(msg_type):
        return "Notification: " + _camel(name.removesuffix("_COMPLETION"))
    return "Command: " + _camel(name)


def describe_entry(
    row: Row,
    msg_type: int,
    msg: Any,
    completions: set[int],
    invoked_ids: dict[int, str],
    entry_json: bool,
    lite_json: bool = False,
) -> None:
    """Fills name, completed, invoked_id/target, sleep_wakeup_at, promise_name, entry_json (and entry_lite_json)."""
    T = MessageType
    if is_command(msg_type):
        row["name"] = msg.entry_name if msg_type == T.SEND_SIGNAL else msg.name
        cid = getattr(msg, "result_completion_id", None)
        if cid is not None:
            row["completed"] = cid in completions
        if msg_type in (T.CALL, T.ONE_WAY_CALL):
            callee = invoked_ids.get(msg.invocation_id_notification_idx)
            if callee is not None:
                row["invoked_id"] = callee
            target = [msg.service_name, msg.key, msg.handler_name] if msg.key else [msg.service_name, msg.handler_name]
            row["invoked_target"] = "/".join(target)
        elif msg_type == T.SLEEP:
            row["sleep_wakeup_at"] = msg.wake_up_time
        elif msg_type in (T.GET_PROMISE, T.PEEK_PROMISE, T.COMPLETE_PROMISE):
            row["promise_name"] = msg.key
    builder = _ENTRY_JSON.get(msg_type) if entry_json or lite_json else None
    if builder is not None:
        try:
            full = builder(msg, invoked_ids)
        except Exception:  # undecodable parts: the type is shown without details
            return
        if entry_json:
            row["entry_json"] = json.dumps(full, separators=(",", ":"))
        lite = lite_entry(full) if lite_json else None
        if lite is not None:
            row["entry_lite_json"] = json.dumps(lite, separators=(",", ":"))


# entry_lite_json: the real server's short form of an entry: no payloads, headers or values, a result as its
# variant name, a call's request flattened to its callee, a notification as its type, id and result kind.
_DROPPED = frozenset({"headers", "payload", "parameter", "value", "state_keys"})
_NOTIFICATION_RESULTS = {"CallInvocationId": "InvocationId", "GetLazyStateKeys": "StateKeys"}


def lite_entry(full: Any) -> Any:
    """The `entry_lite_json` object of an `entry_json` object (None for a shape not known here)."""
    if not isinstance(full, dict) or len(full) != 1:
        return None
    ((kind, body),) = full.items()
    if kind == "Command" and isinstance(body, dict) and len(body) == 1:
        ((name, fields),) = body.items()
        return {"Command": {name: _lite_command(fields)}} if isinstance(fields, dict) else None
    if kind == "Notification" and isinstance(body, dict) and len(body) == 1:
        return _lite_notification(body)
    return None


def _lite_command(fields: dict[str, Any]) -> dict[str, Any]:
    lite: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _DROPPED or (key == "name" and value == ""):
            continue
        if key == "request" and isinstance(value, dict):
            lite.update({k: value[k] for k in ("invocation_id", "invocation_target") if k in value})
        elif key == "result":
            lite[key] = _variant(value)
        else:
            lite[key] = value
    return lite


def _lite_notification(body: dict[str, Any]) -> Any:
    ((kind, inner),) = body.items()
    if kind == "Completion" and isinstance(inner, dict) and len(inner) == 1:
        ((name, fields),) = inner.items()
        result = _NOTIFICATION_RESULTS.get(name) or _variant(fields.get("result"))
        return {"Notification": {"ty": {"Completion": name}, "id": {"CompletionId": fields.get("completion_id")},
                                 "result": result}}  # fmt: skip
    if kind == "Signal" and isinstance(inner, dict):
        signal_id = inner.get("id")
        if isinstance(signal_id, dict) and len(signal_id) == 1:
            ((id_kind, value),) = signal_id.items()
            signal_id = {f"Signal{id_kind}": value}
        return {"Notification": {"ty": "Signal", "id": signal_id, "result": _variant(inner.get("result"))}}
    return None


def _variant(result: Any) -> Any:
    """`{"Success": [...]}` -> "Success"; a unit variant ("Void") stays as it is."""
    if isinstance(result, dict) and len(result) == 1:
        return next(iter(result))
    return result


# entry_json: the serde JSON of the real server's journal_v2::Entry (bytes as arrays of numbers), so that
# the official CLI can show details (sleep deadline, callee, state key, ...). Best effort: the CLI shows
# only the entry type when it cannot parse one.


def _bytes(data: bytes) -> list[int]:
    return list(data)


def _text(data: bytes | str) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")


def _failure(f: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"code": f.code, "message": f.message}
    if len(f.metadata):
        out["metadata"] = [{"key": m.key, "value": m.value} for m in f.metadata]
    return out


def _result(msg: Any, oneof: str = "result", value: str = "value", failure: str = "failure") -> Any:
    which = msg.WhichOneof(oneof)
    if which == value:
        return {"Success": _bytes(getattr(msg, value).content)}
    if which == failure:
        return {"Failure": _failure(getattr(msg, failure))}
    if which == "invocation_id":
        return {"InvocationId": msg.invocation_id}
    if which == "state_keys":
        return {"StateKeys": [_text(k) for k in msg.state_keys.keys]}
    return "Void"


def _headers(headers: Iterable[Any]) -> list[dict[str, str]]:
    return [{"name": h.key, "value": h.value} for h in headers]


def _cmd(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"Command": {name: body}}


def _completion(name: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"Notification": {"Completion": {name: body}}}


def _attach_target(msg: Any) -> dict[str, Any]:
    which = msg.WhichOneof("target")
    if which == "invocation_id":
        return {"InvocationId": msg.invocation_id}
    if which == "workflow_target":
        wf = msg.workflow_target
        return {"Workflow": {"service_name": wf.workflow_name, "key": wf.workflow_key, "scope": None}}
    t = msg.idempotent_request_target
    return {
        "IdempotentRequest": {
            "service_name": t.service_name,
            "service_key": t.service_key if t.HasField("service_key") else None,
            "service_handler": t.handler_name,
            "idempotency_key": t.idempotency_key,
        }
    }


_EMPTY_SPAN = {"trace_id": [0] * 16, "span_id": [0] * 8, "trace_flags": 0, "is_remote": False, "trace_state": ""}


def _call_request(msg: Any, invoked_ids: dict[int, str]) -> dict[str, Any]:
    if msg.key:
        target = {"VirtualObject": {"name": msg.service_name, "key": msg.key, "handler": msg.handler_name,
                                    "handler_ty": "Exclusive", "scope": None}}  # fmt: skip
    else:
        target = {"Service": {"name": msg.service_name, "handler": msg.handler_name, "scope": None}}
    return {
        "invocation_id": invoked_ids.get(msg.invocation_id_notification_idx, ""),
        "invocation_target": target,
        "span_context": {"span_context": _EMPTY_SPAN, "cause": None},
        "parameter": _bytes(msg.parameter),
        "headers": _headers(msg.headers),
        "idempotency_key": msg.idempotency_key if msg.HasField("idempotency_key") else None,
        "completion_retention_duration": {"secs": 0, "nanos": 0},
        "journal_retention_duration": {"secs": 0, "nanos": 0},
    }


def _sleep(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("Sleep", {"wake_up_time": m.wake_up_time, "completion_id": m.result_completion_id, "name": m.name})


def _input(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("Input", {"headers": _headers(m.headers), "payload": _bytes(m.value.content), "name": m.name})


def _output(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("Output", {"result": _result(m), "name": m.name})


def _keyed_completion(name: str) -> Callable[[Any, dict[int, str]], dict[str, Any]]:
    def build(m: Any, _: dict[int, str]) -> dict[str, Any]:
        return _cmd(name, {"key": _text(m.key), "completion_id": m.result_completion_id, "name": m.name})

    return build


def _completion_only(name: str) -> Callable[[Any, dict[int, str]], dict[str, Any]]:
    def build(m: Any, _: dict[int, str]) -> dict[str, Any]:
        return _cmd(name, {"completion_id": m.result_completion_id, "name": m.name})

    return build


def _notification(name: str) -> Callable[[Any, dict[int, str]], dict[str, Any]]:
    def build(m: Any, _: dict[int, str]) -> dict[str, Any]:
        body: dict[str, Any] = {"completion_id": m.completion_id}
        which = m.WhichOneof("result")
        if name == "CallInvocationId":
            body["invocation_id"] = m.invocation_id
        elif name == "GetLazyStateKeys":
            body["state_keys"] = [_text(k) for k in m.state_keys.keys]
        elif name != "Sleep" or which not in (None, "void"):
            body["result"] = _result(m)
        return _completion(name, body)

    return build


def _signal(m: Any, _: dict[int, str]) -> dict[str, Any]:
    signal_id = {"Index": m.signal_id} if m.WhichOneof("id") == "signal_id" else {"Name": m.signal_name}
    return {"Notification": {"Signal": {"id": signal_id, "result": _result(m)}}}


def _set_state(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("SetState", {"key": _text(m.key), "value": _bytes(m.value.content), "name": m.name})


def _clear_state(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("ClearState", {"key": _text(m.key), "name": m.name})


def _clear_all_state(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("ClearAllState", {"name": m.name})


def _get_eager_state(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("GetEagerState", {"key": _text(m.key), "result": _result(m), "name": m.name})


def _get_eager_state_keys(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("GetEagerStateKeys", {"state_keys": [_text(k) for k in m.value.keys], "name": m.name})


def _complete_promise(m: Any, _: dict[int, str]) -> dict[str, Any]:
    value = _result(m, "completion", "completion_value", "completion_failure")
    return _cmd("CompletePromise", {"key": m.key, "value": value, "completion_id": m.result_completion_id,
                                    "name": m.name})  # fmt: skip


def _call(m: Any, invoked: dict[int, str]) -> dict[str, Any]:
    return _cmd("Call", {
        "request": _call_request(m, invoked), "invocation_id_completion_id": m.invocation_id_notification_idx,
        "result_completion_id": m.result_completion_id, "name": m.name,
    })  # fmt: skip


def _one_way_call(m: Any, invoked: dict[int, str]) -> dict[str, Any]:
    return _cmd("OneWayCall", {
        "request": _call_request(m, invoked), "invoke_time": m.invoke_time,
        "invocation_id_completion_id": m.invocation_id_notification_idx, "name": m.name,
    })  # fmt: skip


def _send_signal(m: Any, _: dict[int, str]) -> dict[str, Any]:
    signal_id = {"Index": m.idx} if m.WhichOneof("signal_id") == "idx" else {"Name": m.name}
    return _cmd("SendSignal", {"target_invocation_id": m.target_invocation_id, "signal_id": signal_id,
                               "result": _result(m), "name": m.entry_name})  # fmt: skip


def _attach(name: str) -> Callable[[Any, dict[int, str]], dict[str, Any]]:
    def build(m: Any, _: dict[int, str]) -> dict[str, Any]:
        return _cmd(name, {"target": _attach_target(m), "completion_id": m.result_completion_id, "name": m.name})

    return build


def _complete_awakeable(m: Any, _: dict[int, str]) -> dict[str, Any]:
    return _cmd("CompleteAwakeable", {"id": m.awakeable_id, "result": _result(m), "name": m.name})


_T = MessageType
_ENTRY_JSON: dict[int, Callable[[Any, dict[int, str]], dict[str, Any]]] = {
    _T.INPUT: _input,
    _T.OUTPUT: _output,
    _T.GET_LAZY_STATE: _keyed_completion("GetLazyState"),
    _T.SET_STATE: _set_state,
    _T.CLEAR_STATE: _clear_state,
    _T.CLEAR_ALL_STATE: _clear_all_state,
    _T.GET_LAZY_STATE_KEYS: _completion_only("GetLazyStateKeys"),
    _T.GET_EAGER_STATE: _get_eager_state,
    _T.GET_EAGER_STATE_KEYS: _get_eager_state_keys,
    _T.GET_PROMISE: _keyed_completion("GetPromise"),
    _T.PEEK_PROMISE: _keyed_completion("PeekPromise"),
    _T.COMPLETE_PROMISE: _complete_promise,
    _T.SLEEP: _sleep,
    _T.CALL: _call,
    _T.ONE_WAY_CALL: _one_way_call,
    _T.SEND_SIGNAL: _send_signal,
    _T.RUN: _completion_only("Run"),
    _T.ATTACH_INVOCATION: _attach("AttachInvocation"),
    _T.GET_INVOCATION_OUTPUT: _attach("GetInvocationOutput"),
    _T.COMPLETE_AWAKEABLE: _complete_awakeable,
    _T.GET_LAZY_STATE_COMPLETION: _notification("GetLazyState"),
    _T.GET_LAZY_STATE_KEYS_COMPLETION: _notification("GetLazyStateKeys"),
    _T.GET_PROMISE_COMPLETION: _notification("GetPromise"),
    _T.PEEK_PROMISE_COMPLETION: _notification("PeekPromise"),
    _T.COMPLETE_PROMISE_COMPLETION: _notification("CompletePromise"),
    _T.SLEEP_COMPLETION: _notification("Sleep"),
    _T.CALL_COMPLETION: _notification("Call"),
    _T.CALL_INVOCATION_ID: _notification("CallInvocationId"),
    _T.RUN_COMPLETION: _notification("Run"),
    _T.ATTACH_INVOCATION_COMPLETION: _notification("AttachInvocation"),
    _T.GET_INVOCATION_OUTPUT_COMPLETION: _notification("GetInvocationOutput"),
    _T.SIGNAL: _signal,
}
