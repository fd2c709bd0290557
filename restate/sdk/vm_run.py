"""ctx.run in the VM: register the step, propose its result (V7: with an ack request), apply its retry policy."""

from __future__ import annotations

from restate.protocol import REQUESTED_ACK, MessageType, ProtocolError, pb
from restate.sdk.vm_core import VMCore
from restate.sdk.vm_types import Failure, Run, RunRetryConfig

__all__ = ["RunOperations", "failure_message"]

T = MessageType


def failure_message(f: Failure, version: int) -> pb.Failure:
    """The protobuf Failure (metadata only from V6 on)."""
    msg = pb.Failure(code=f.code, message=f.message)
    if f.metadata and version >= 6:
        msg.metadata.extend(pb.FailureMetadata(key=k, value=v) for k, v in f.metadata.items())
    return msg


class RunOperations(VMCore):
    """The ctx.run operations, and the runs of this attempt: registered, executing, proposed."""

    # --- ctx.run -------------------------------------------------------------------------------

    def sys_run(self, name: str) -> Run:
        """Register a ctx.run; `replayed` is True when its result is already journaled (do not execute)."""
        self._check_open()
        cid = self.journal.completion_id()
        self._command(T.RUN, pb.RunCommandMessage(result_completion_id=cid, name=name))
        handle = self.results.new_handle(cid)
        self._run_commands[handle] = (self.journal.command_index, name)
        replayed = cid in self.results.known
        if not replayed:
            self._runs_to_execute.add(handle)
        return Run(replayed, handle)

    def _take_run_to_execute(self, awaited: list[int]) -> int | None:
        """The first awaited run that is registered but not executed yet (now marked executing), else None."""
        to_execute = self._runs_to_execute
        for handle in awaited:
            if handle in to_execute:
                to_execute.discard(handle)
                self._runs_executing.add(handle)
                return handle
        return None

    def _awaits_executing_run(self, awaited: list[int]) -> bool:
        """Whether one of the awaited handles is a run still executing (its result is coming: never suspend)."""
        executing = self._runs_executing
        return any(h in executing for h in awaited)

    def _on_run_ack(self, completion_id: int) -> None:
        """V7: the server stored the proposed result of run `completion_id`: it becomes the run's notification."""
        if completion_id not in self._run_proposals:
            raise ProtocolError(f"ProposeRunCompletionAck for unknown completion {completion_id}")
        self.results.enqueue(completion_id, self._run_proposals.pop(completion_id))

    def _propose(self, handle: int, value: bytes | None, failure: Failure | None) -> None:
        self._runs_executing.discard(handle)
        if not self.is_ready_to_execute():
            return  # the attempt is over: the result is lost and the run executes again next attempt
        cid = self.results.handles[handle]
        assert isinstance(cid, int)
        msg = pb.ProposeRunCompletionMessage(result_completion_id=cid)
        if failure is not None:
            msg.failure.CopyFrom(failure_message(failure, self.version))
        else:
            msg.value = value or b""
        if self.version >= 7:
            self._run_proposals[cid] = failure if failure is not None else (value or b"")
            self._write(T.PROPOSE_RUN_COMPLETION, msg, REQUESTED_ACK)
        else:
            self._write(T.PROPOSE_RUN_COMPLETION, msg)

    def propose_run_completion_success(self, handle: int, value: bytes) -> None:
        """The run closure returned `value` (serialized)."""
        self._propose(handle, value, None)

    def propose_run_completion_failure(self, handle: int, failure: Failure) -> None:
        """The run closure failed terminally: journal the failure."""
        self._propose(handle, None, failure)

    def propose_run_completion_transient(
        self,
        handle: int,
        failure: Failure,
        attempt_duration_ms: int,
        config: RunRetryConfig,
        delay_override_ms: int | None = None,
    ) -> None:
        """The run closure failed retryably: fail this attempt (with a retry delay), or journal the failure
        when the retry policy is exhausted (max attempts / max duration). A no-op once the attempt is over."""
        if not self.is_ready_to_execute():
            self._runs_executing.discard(handle)
            return
        start = self.start
        assert start is not None  # set before the state allows user operations
        first = self.journal.written == 0  # nothing new written: the start message counts this run's retries
        retries = (start.retry_count_since_last_stored_entry if first else 0) + 1
        elapsed = (start.duration_since_last_stored_entry if first else 0) + attempt_duration_ms
        if (config.max_attempts is not None and config.max_attempts <= retries) or (
            config.max_duration is not None and config.max_duration <= elapsed
        ):
            self._propose(handle, None, Failure(failure.code, failure.message))
            return
        self._runs_executing.discard(handle)
        delay = delay_override_ms if delay_override_ms is not None else _retry_delay(config, retries)
        index, name = self._run_commands.get(handle, (0, ""))
        self._fail(failure.code, failure.message, (index, name, T.RUN), stacktrace=failure.stacktrace or "",
                   delay_ms=delay)  # fmt: skip


def _retry_delay(config: RunRetryConfig, retries: int) -> int | None:
    """Exponential delay of the `retries`-th retry; None (server policy) when no retry option was set."""
    if config.initial_interval is None and config.interval_factor is None and config.max_interval is None:
        if config.max_attempts is None and config.max_duration is None:
            return None
    initial = config.initial_interval if config.initial_interval is not None else 100
    factor = config.interval_factor if config.interval_factor is not None else 2.0
    cap = config.max_interval if config.max_interval is not None else 10_000
    return int(min(cap, initial * factor ** (retries - 1)))
