"""The user operations of the VM other than ctx.run (sys_*, output, end): each writes or replays one command."""

from __future__ import annotations

import base64
import hashlib
from typing import Any, NamedTuple

from google.protobuf.message import Message

from restate.protocol import MessageType, pb
from restate.sdk.vm_core import PROTOCOL_VIOLATION
from restate.sdk.vm_journal import MismatchError, mismatch_message
from restate.sdk.vm_run import RunOperations, failure_message
from restate.sdk.vm_state import VMEvent, VMState
from restate.sdk.vm_types import Failure, Invocation

__all__ = ["CallHandle", "Syscalls"]

T = MessageType
_EMPTY_IDEMPOTENCY_KEY = "the idempotency key must not be empty"
_REPLAYING, _PROCESSING = VMState.REPLAYING, VMState.PROCESSING  # module constants: checked on every call


class CallHandle(NamedTuple):
    """The two handles of a call: its invocation id, then its result."""

    invocation_id_handle: int
    result_handle: int


def _headers(headers: list[tuple[str, str]] | None) -> list[pb.Header]:
    return [pb.Header(key=k, value=v) for k, v in headers or ()]


class Syscalls(RunOperations):
    """The user operations other than ctx.run: each writes (or replays) one command and returns handles."""

    # --- input ---------------------------------------------------------------------------------

    def sys_input(self) -> Invocation:
        """Replay the InputCommand: the invocation id, key, headers and input bytes."""
        if self._state is not _REPLAYING:
            if self._state is _PROCESSING:
                raise self._fail(PROTOCOL_VIOLATION, "the input was read already (it is the first replayed command)")
            raise self._not_open_error()
        start = self.start
        assert start is not None  # set before the state allows user operations
        _, msg = self._replay_pop((T.INPUT,), T.INPUT, pb.InputCommandMessage())
        seed = start.random_seed if self.version >= 6 else 0
        if not seed:
            seed = int.from_bytes(hashlib.sha256(start.id).digest()[:8], "big")
        return Invocation(
            invocation_id=start.debug_id,
            random_seed=seed,
            headers=[(h.key, h.value) for h in msg.headers],  # type: ignore[attr-defined]
            input_buffer=msg.value.content,  # type: ignore[attr-defined]
            key=start.key,
            scope=start.scope if start.HasField("scope") else None,
            limit_key=start.limit_key if start.HasField("limit_key") else None,
            idempotency_key=start.idempotency_key if start.HasField("idempotency_key") else None,
        )

    # --- state ---------------------------------------------------------------------------------

    def _replay_read(self, eager_type: int, lazy: Message, same: bool) -> tuple[int, Message]:
        """Replay a state read, recorded either eagerly or lazily; `same` compares its key."""
        lazy_type = T.GET_LAZY_STATE if eager_type == T.GET_EAGER_STATE else T.GET_LAZY_STATE_KEYS
        old_type, old = self._replay_pop((eager_type, lazy_type), lazy_type, lazy)
        if same and old.key != lazy.key:  # type: ignore[attr-defined]
            index = self.journal.command_index
            error = MismatchError(index, mismatch_message(index, old_type, old, lazy_type, lazy))
            raise self._mismatch(error, lazy_type, lazy)
        return old_type, old

    def sys_get_state(self, key: str, name: str | None = None) -> int:
        """Read state `key`: answered locally when known (eager), else from the server (lazy)."""
        self._check_open()
        cid = self.journal.completion_id()
        kb = key.encode()
        if self._state is _REPLAYING:
            lazy = pb.GetLazyStateCommandMessage(key=kb, result_completion_id=cid, name=name or "")
            old_type, old = self._replay_read(T.GET_EAGER_STATE, lazy, True)
            if old_type == T.GET_LAZY_STATE:
                return self.results.new_handle(old.result_completion_id)  # type: ignore[attr-defined]
            value = old.value.content if old.WhichOneof("result") == "value" else None  # type: ignore[attr-defined]
            return self.results.ready_handle(cid, value)
        known, value = self.eager.get(key)
        if not known:
            self._command(T.GET_LAZY_STATE, pb.GetLazyStateCommandMessage(key=kb, result_completion_id=cid, name=name))
            return self.results.new_handle(cid)
        msg = pb.GetEagerStateCommandMessage(key=kb, name=name)
        if value is None:
            msg.void.SetInParent()
        else:
            msg.value.SetInParent()
            msg.value.content = value
        self._command(T.GET_EAGER_STATE, msg)
        return self.results.ready_handle(cid, value)

    def sys_get_state_keys(self, name: str | None = None) -> int:
        """List the state keys (sorted when known locally)."""
        self._check_open()
        cid = self.journal.completion_id()
        if self._state is _REPLAYING:
            lazy = pb.GetLazyStateKeysCommandMessage(result_completion_id=cid, name=name or "")
            old_type, old = self._replay_read(T.GET_EAGER_STATE_KEYS, lazy, False)
            if old_type == T.GET_LAZY_STATE_KEYS:
                return self.results.new_handle(old.result_completion_id)  # type: ignore[attr-defined]
            return self.results.ready_handle(cid, [k.decode() for k in old.value.keys])  # type: ignore[attr-defined]
        keys = self.eager.keys()
        if keys is None:
            self._command(T.GET_LAZY_STATE_KEYS, pb.GetLazyStateKeysCommandMessage(result_completion_id=cid, name=name))
            return self.results.new_handle(cid)
        msg = pb.GetEagerStateKeysCommandMessage(name=name)
        msg.value.SetInParent()
        msg.value.keys.extend(k.encode() for k in keys)
        self._command(T.GET_EAGER_STATE_KEYS, msg)
        return self.results.ready_handle(cid, keys)

    def sys_set_state(self, key: str, value: bytes, name: str | None = None) -> None:
        """Write state `key`."""
        msg = pb.SetStateCommandMessage(key=key.encode(), name=name)
        msg.value.SetInParent()
        msg.value.content = value
        self._command(T.SET_STATE, msg)
        self.eager.set(key, value)

    def sys_clear_state(self, key: str, name: str | None = None) -> None:
        """Delete state `key`."""
        self._command(T.CLEAR_STATE, pb.ClearStateCommandMessage(key=key.encode(), name=name))
        self.eager.clear(key)

    def sys_clear_all_state(self, name: str | None = None) -> None:
        """Delete all state of this key."""
        self._command(T.CLEAR_ALL_STATE, pb.ClearAllStateCommandMessage(name=name))
        self.eager.clear_all()

    # --- timers and calls ----------------------------------------------------------------------

    def sys_sleep(self, millis: int, name: str | None = None, now_ms: int = 0) -> int:
        """A durable timer firing at `now_ms + millis` (absolute ms since the epoch)."""
        self._check_open()
        cid = self.journal.completion_id()
        msg = pb.SleepCommandMessage(wake_up_time=now_ms + max(0, millis), result_completion_id=cid, name=name)
        self._command(T.SLEEP, msg)
        return self.results.new_handle(cid)

    def _target(self, msg: Any, key: str | None, idempotency_key: str | None, scope: str | None,
                limit: str | None) -> None:  # fmt: skip
        if key is not None:
            msg.key = key
        if idempotency_key is not None:
            if not idempotency_key:
                raise self._fail(400, _EMPTY_IDEMPOTENCY_KEY)
            msg.idempotency_key = idempotency_key
        if scope is not None or limit is not None:
            self._require("scope / limit key", 7)
            if scope is not None:
                msg.scope = scope
            if limit is not None:
                msg.limit_key = limit

    def sys_call(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        key: str | None = None,
        idempotency_key: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
    ) -> CallHandle:
        """Call a handler and await its result; returns the invocation id and result handles."""
        self._check_open()
        id_cid = self.journal.completion_id()
        result_cid = self.journal.completion_id()
        msg = pb.CallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            headers=_headers(headers),
            invocation_id_notification_idx=id_cid,
            result_completion_id=result_cid,
        )
        self._target(msg, key, idempotency_key, scope, limit_key)
        self._command(T.CALL, msg)
        id_handle = self.results.new_handle(id_cid)
        self._child_calls.append(id_handle)
        return CallHandle(id_handle, self.results.new_handle(result_cid))

    def sys_send(
        self,
        service: str,
        handler: str,
        parameter: bytes,
        key: str | None = None,
        delay: int | None = None,
        idempotency_key: str | None = None,
        headers: list[tuple[str, str]] | None = None,
        scope: str | None = None,
        limit_key: str | None = None,
        now_ms: int = 0,
    ) -> int:
        """A one-way call, optionally delayed by `delay` ms; returns the invocation id handle."""
        self._check_open()
        id_cid = self.journal.completion_id()
        msg = pb.OneWayCallCommandMessage(
            service_name=service,
            handler_name=handler,
            parameter=parameter,
            headers=_headers(headers),
            invocation_id_notification_idx=id_cid,
        )
        if delay:
            msg.invoke_time = now_ms + delay
        self._target(msg, key, idempotency_key, scope, limit_key)
        self._command(T.ONE_WAY_CALL, msg)
        return self.results.new_handle(id_cid)

    # --- awakeables, signals, promises, invocations --------------------------------------------

    def sys_awakeable(self) -> tuple[str, int]:
        """A new awakeable: its id (`sign_1...`) and the handle of its signal. Writes no command."""
        self._check_open()
        assert self.start is not None
        idx = self.journal.signal_idx()
        raw = self.start.id + idx.to_bytes(4, "big")
        return "sign_1" + base64.urlsafe_b64encode(raw).rstrip(b"=").decode(), self.results.new_handle(-idx)

    def _complete(self, msg: Any, value: bytes | None, failure: Failure | None, fields: tuple[str, str]) -> None:
        if failure is not None:
            getattr(msg, fields[1]).CopyFrom(failure_message(failure, self.version))
        else:
            target = getattr(msg, fields[0])
            target.SetInParent()
            target.content = value or b""

    def sys_complete_awakeable(self, awakeable_id: str, value: bytes | None, failure: Failure | None = None) -> None:
        """Resolve (value) or reject (failure) an awakeable."""
        msg = pb.CompleteAwakeableCommandMessage(awakeable_id=awakeable_id)
        self._complete(msg, value, failure, ("value", "failure"))
        self._command(T.COMPLETE_AWAKEABLE, msg)

    def sys_signal(self, name: str) -> int:
        """Await the named signal `name` on this invocation. Writes no command."""
        self._check_open()
        return self.results.new_handle(name)

    def sys_complete_signal(self, invocation_id: str, name: str, value: bytes | None, failure: Failure | None) -> None:
        """Resolve or reject the named signal `name` of another invocation."""
        msg = pb.SendSignalCommandMessage(target_invocation_id=invocation_id, name=name)
        self._complete(msg, value, failure, ("value", "failure"))
        self._command(T.SEND_SIGNAL, msg)

    def sys_cancel(self, invocation_id: str) -> None:
        """Cancel another invocation (send it the CANCEL signal)."""
        msg = pb.SendSignalCommandMessage(target_invocation_id=invocation_id, idx=1)
        msg.void.SetInParent()
        self._command(T.SEND_SIGNAL, msg)

    def _completable(self, msg_type: int, msg: Any) -> int:
        self._check_open()
        cid = msg.result_completion_id = self.journal.completion_id()
        self._command(msg_type, msg)
        return self.results.new_handle(cid)

    def sys_get_promise(self, key: str) -> int:
        """Await the workflow promise `key`."""
        return self._completable(T.GET_PROMISE, pb.GetPromiseCommandMessage(key=key))

    def sys_peek_promise(self, key: str) -> int:
        """Read the workflow promise `key` without waiting (void if not completed)."""
        return self._completable(T.PEEK_PROMISE, pb.PeekPromiseCommandMessage(key=key))

    def sys_complete_promise(self, key: str, value: bytes | None, failure: Failure | None = None) -> int:
        """Resolve or reject the workflow promise `key`; the handle completes with void or a 409 failure."""
        msg = pb.CompletePromiseCommandMessage(key=key)
        self._complete(msg, value, failure, ("completion_value", "completion_failure"))
        return self._completable(T.COMPLETE_PROMISE, msg)

    def sys_attach_invocation(self, invocation_id: str) -> int:
        """Await the result of another invocation."""
        return self._completable(T.ATTACH_INVOCATION, pb.AttachInvocationCommandMessage(invocation_id=invocation_id))

    def sys_get_invocation_output(self, invocation_id: str) -> int:
        """Read the result of another invocation if it is done (void otherwise)."""
        msg = pb.GetInvocationOutputCommandMessage(invocation_id=invocation_id)
        return self._completable(T.GET_INVOCATION_OUTPUT, msg)

    # --- output --------------------------------------------------------------------------------

    def sys_write_output_success(self, value: bytes) -> None:
        """The handler's result."""
        msg = pb.OutputCommandMessage()
        msg.value.SetInParent()
        msg.value.content = value
        self._command(T.OUTPUT, msg)

    def sys_write_output_failure(self, failure: Failure) -> None:
        """The handler's terminal failure."""
        msg = pb.OutputCommandMessage()
        msg.failure.CopyFrom(failure_message(failure, self.version))
        self._command(T.OUTPUT, msg)

    def sys_end(self) -> None:
        """End the invocation (after the output)."""
        self._check_open()
        self._write(T.END, pb.EndMessage())
        self._move(VMEvent.END_WRITTEN)

    # --- cancellation --------------------------------------------------------------------------

    def _cancel_child_calls(self) -> None:
        """This invocation was cancelled: send the CANCEL signal to every child call whose id is known."""
        results = self.results
        for handle in self._child_calls:
            inv_id = self._child_call_ids.get(handle) or results.ready.get(results.handles[handle])
            if isinstance(inv_id, str):
                self.sys_cancel(inv_id)
        self._child_calls.clear()
