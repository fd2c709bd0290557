"""The partition's invoker: starts attempts, routes live entries to them, and alone applies the retry policy."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from restate import ids
from restate.config import Config
from restate.invoker import attempt_start
from restate.invoker.admission import Admission
from restate.invoker.attempt import AttemptMachine, Effect, Ended, Failed, GiveUp, JournalMessage, Suspended
from restate.invoker.attempt_runner import AttemptRequest, AttemptRunner, DeploymentClients
from restate.invoker.http1 import Http1Client
from restate.invoker.http2 import Http2Pool
from restate.invoker.retry import Policy, RetryState, policy_for
from restate.metrics import InvokerMetrics
from restate.partition.commands import AttemptFailedCmd, Command, EndCmd, SdkMessageCmd, SuspendedCmd
from restate.schema import HandlerSchema, Schema, ServiceSchema
from restate.storage.partition_store import PartitionStore
from restate.storage.view import PartitionView
from restate.tracing.attempts import AttemptTracer
from restate.tracing.exporter import SpanExporter
from restate.wire import Failure

log = logging.getLogger(__name__)


class Invoker:
    """Owns every running attempt of one partition. It never writes storage: it emits commands."""

    def __init__(
        self,
        config: Config,
        store: PartitionStore,
        emit: Callable[[Command], None],
        schema: Callable[[], Schema],
        partition: int | None = None,
        on_failure: Callable[[str, BaseException], None] | None = None,
        tracer: SpanExporter | None = None,
    ) -> None:
        self.config = config
        # What a failure outside any attempt (a bug, a broken store) ends: without it, logged only.
        self.on_failure = on_failure or _log_failure
        self.metrics = InvokerMetrics(partition)
        self.store = store
        # the encoded eager state of objects' keys, kept by each commit: an attempt joins bytes
        store.state_cache = self.state_cache = attempt_start.new_state_cache()
        self.emit = emit
        self.schema = schema
        # Per partition, as the real server applies worker.invoker.concurrent-invocations-limit (measured:
        # 2 partitions with a limit of 32 held 64 attempts and connections to one deployment).
        attempts = config.invoker_concurrency
        per_deployment = min(attempts, config.invoker_deployment_concurrency or attempts)
        self.admission = Admission(attempts, per_deployment)
        streams = config.http2_streams_per_connection
        connect_s = config.invoker_connect_timeout_ms / 1000
        self.clients = DeploymentClients(
            # +1: a connection retired after its request budget may still drain while its successor opens
            Http2Pool(
                max_streams_per_connection=streams,
                max_connections=-(-per_deployment // streams) + 1,
                connect_timeout=connect_s,
            ),
            Http1Client(max_connections=per_deployment, connect_timeout=connect_s),
        )
        self._committed = PartitionView(store)
        self._attempts: dict[bytes, AttemptRunner] = {}
        self._retries: dict[bytes, RetryState] = {}
        self._delayed: dict[bytes, asyncio.TimerHandle] = {}
        self._policies: dict[bytes, Policy] = {}
        # attempts holding an admission slot, by task: the slot is freed by the task's done callback,
        # which runs even when the task is cancelled before it started
        self._slots: dict[asyncio.Task[None], tuple[AttemptRunner, str]] = {}
        # Built once, not per attempt: every object an attempt keeps alive makes the cyclic GC run sooner.
        self._report_effect = self._on_effect
        self._task_done = self._attempt_done
        self._status_observers: dict[str, Callable[[int], None]] = {}  # deployment id -> metrics.response
        self.spans = None if tracer is None else AttemptTracer(tracer)  # None: tracing off, nothing to do

    @property
    def attempts_running(self) -> int:
        """Attempts started and not ended yet: commands they will emit are still to come."""
        return len(self._attempts)

    # --- partition actions

    def start(self, invocation_id: bytes, delay_ms: int = 0, *, recovered: bool = False) -> None:
        """Runs a new attempt (after `delay_ms`) once admitted; `recovered`: it resumes after a restart
        (it queues in the recovery class, which takes turns with new work)."""
        self.metrics.enqueue.inc()
        handle = self._delayed.pop(invocation_id, None)
        if handle is not None:
            handle.cancel()
        self.admission.discard(invocation_id)  # a new start replaces a waiting one
        if delay_ms > 0:
            loop = asyncio.get_running_loop()
            self._delayed[invocation_id] = loop.call_later(delay_ms / 1000, self._launch_later, invocation_id)
        else:
            self._launch(invocation_id, recovered)

    def forward(self, invocation_id: bytes, index: int, frame: bytes) -> None:
        attempt = self._attempts.get(invocation_id)
        if attempt is not None:
            attempt.deliver(index, frame)

    def abort(self, invocation_id: bytes, number: int, reason: str) -> None:
        """Fails attempt `number`, even when it already ended (its End/Suspension was refused)."""
        attempt = self._attempts.get(invocation_id)
        if attempt is not None and attempt.number == number:
            attempt.refuse(reason)
        elif attempt is None:
            # it drained and left already: report for it (a duplicate report is ignored by the partition)
            self._report_failure(invocation_id, number, Failed(500, reason))

    def kill(self, invocation_id: bytes) -> None:
        """Drops any running or scheduled attempt without reporting (the invocation was killed or paused)."""
        handle = self._delayed.pop(invocation_id, None)
        if handle is not None:
            handle.cancel()
        self.admission.discard(invocation_id)
        attempt = self._attempts.pop(invocation_id, None)
        if attempt is not None:
            attempt.kill()
        self._forget_retries(invocation_id)
        if self.spans is not None:
            self.spans.killed(invocation_id)

    # --- what attempts report, and the retry policy (decided here only)

    def _on_effect(self, attempt: AttemptRunner, effect: Effect) -> None:
        """Turns an attempt's effect into the partition's command (after the policy, for failures)."""
        kind = type(effect)
        inv, number = attempt.invocation_id, attempt.number
        if kind is JournalMessage:
            msg: JournalMessage = effect  # type: ignore[assignment]
            self.emit(SdkMessageCmd(inv, number, msg.msg_type, msg.flags, msg.payload))
        elif kind is Suspended:
            self._forget_retries(inv)
            self.metrics.suspended.inc()
            self.emit(SuspendedCmd(inv, number, effect.awaiting))  # type: ignore[union-attr]
        elif kind is Ended:
            self._forget_retries(inv)
            self.metrics.completed.inc()
            self.emit(EndCmd(inv, number))
        else:
            self._report_failure(inv, number, effect)  # type: ignore[arg-type]
        if self.spans is not None:  # after the failure's log line, which names the attempt's trace
            self._trace_effect(inv, number, effect)

    def _trace_effect(self, inv: bytes, number: int, effect: Effect) -> None:
        assert self.spans is not None
        if isinstance(effect, JournalMessage):
            self.spans.message(inv, number, effect.msg_type, effect.payload)
        elif isinstance(effect, Failed):
            self.spans.ended(inv, number, "failed", f"[{effect.code}] {effect.message}")
        elif isinstance(effect, Suspended | Ended):
            self.spans.ended(inv, number, "suspended" if isinstance(effect, Suspended) else "ended")

    def _report_failure(self, invocation_id: bytes, number: int, failed: Failed) -> None:
        """The one place that decides what follows a failed attempt: retry after a delay, pause or kill."""
        trace = "" if self.spans is None else self.spans.log_suffix(invocation_id)
        at = "" if failed.related_command is None else f" at command {failed.related_command}"
        log.info("invocation %s%s: attempt %d failed%s: [%s] %s", ids.InvocationId.from_bytes(invocation_id), trace,
                 number, at, failed.code, failed.message)  # fmt: skip
        retry = self._retry_state(invocation_id)
        if failed.made_progress:
            retry.on_new_entry()
        retry_in: int | None = None
        give_up: GiveUp | None = failed.give_up  # the deployment's own decision (ErrorMessage behavior)
        if give_up is None:
            policy = self._policy(invocation_id)
            retry_in = retry.on_failure(policy, failed.retry_delay_ms)
            if retry_in is None:
                give_up = policy.on_max_attempts
        self.metrics.failed.inc()
        if retry_in is not None:
            self.metrics.retries.inc()
        failure = Failure(failed.code, failed.message, [], failed.stacktrace)
        self.emit(AttemptFailedCmd(invocation_id, number, failure, retry_in, give_up))

    def _retry_state(self, invocation_id: bytes) -> RetryState:
        state = self._retries.get(invocation_id)
        if state is None:
            state = self._retries[invocation_id] = RetryState()
        return state

    def _forget_retries(self, invocation_id: bytes) -> None:
        self._retries.pop(invocation_id, None)
        self._policies.pop(invocation_id, None)

    def _policy(self, invocation_id: bytes) -> Policy:
        return self._policies.get(invocation_id) or policy_for(self.config, None, None)

    # --- attempts

    def _launch(self, invocation_id: bytes, recovered: bool = False) -> None:
        self._delayed.pop(invocation_id, None)
        status = self._committed.status(invocation_id)  # a point read: which deployment the slot is for
        if status is None or status.status != "invoked":
            return
        deployment = status.deployment_id or ""
        if self.admission.admit(invocation_id, deployment, recovered=recovered):
            self._start_admitted(invocation_id, deployment)
        else:
            self._launch_waiting()  # it queued behind others that may have room

    def _launch_later(self, invocation_id: bytes) -> None:
        try:
            self._launch(invocation_id)
        except Exception as exc:  # e.g. reading it from the store failed: it would never run again
            self.on_failure("a delayed attempt start", exc)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        """An attempt reports every way it ends; an exception that escapes it is a bug that left the
        invocation without a running attempt."""
        held = self._slots.pop(task, None)
        if held is not None:
            attempt, deployment = held
            if self._attempts.get(attempt.invocation_id) is attempt:
                del self._attempts[attempt.invocation_id]
            self.admission.release(deployment)
            try:
                self._launch_waiting()
            except Exception as launch_exc:  # e.g. reading the next one failed: it would never run
                self.on_failure("starting a waiting attempt", launch_exc)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.on_failure("an attempt task", exc)

    def _launch_waiting(self) -> None:
        for invocation_id, deployment in self.admission.launchable():
            self._start_admitted(invocation_id, deployment)

    def _start_admitted(self, invocation_id: bytes, deployment: str) -> None:
        """Starts an attempt that holds a slot of `deployment`; the slot is freed when its task ends, or
        now if no attempt runs after all (the invocation ended meanwhile, or starting it failed)."""
        attempt: AttemptRunner | None = None
        try:
            attempt = self._start_attempt(invocation_id)
        finally:
            if attempt is None or attempt.task is None:
                self.admission.release(deployment)
            else:
                self._slots[attempt.task] = (attempt, deployment)

    def _start_attempt(self, invocation_id: bytes) -> AttemptRunner | None:
        """Reads the invocation (consistently) and starts an attempt; synchronous up to the first await."""
        previous = self._attempts.pop(invocation_id, None)
        if previous is not None and not previous.machine.is_reported:
            if previous.machine.made_progress:  # its commands were stored: a new entry for the retry count
                self._retry_state(invocation_id).on_new_entry()
            previous.kill()  # one that reported is only draining its response: let it end by itself
        snapshot = self.store.db.snapshot()
        try:
            stored = attempt_start.load(snapshot, invocation_id, self.state_cache)
        finally:
            snapshot.close()
        if stored is None or stored.status.status != "invoked":
            return None
        status = stored.status
        schema = self.schema()
        service = schema.services.get(status.target.service)
        handler = service.handlers.get(status.target.handler) if service else None
        self._policies[invocation_id] = policy_for(self.config, service, handler.retry_policy if handler else None)
        deployment = schema.deployments.get(status.deployment_id or "")
        version = status.protocol_version or 6
        bidi = deployment is not None and deployment.protocol_type == "BidiStream"
        if deployment is None:
            reason = f"no deployment found for service {status.target.service!r}"
            self._report_failure(invocation_id, status.attempt, Failed(500, reason))
            return None
        inactivity_s, abort_s = self._timeouts(service, handler)
        machine = AttemptMachine(
            known_entries=len(stored.journal), version=version, bidi=bidi, inactivity_s=inactivity_s, abort_s=abort_s
        )
        observe_status = self._status_observer(deployment.id)
        attempt = AttemptRunner(
            invocation_id, status.attempt, machine, self.clients, self._report_effect, observe_status
        )
        self._attempts[invocation_id] = attempt
        lazy = bool(service.enable_lazy_state) if service else False
        retry = self._retry_state(invocation_id).since_last_entry
        now_ms = int(time.time() * 1000)
        body = attempt_start.body(invocation_id, stored, now_ms=now_ms, retry_count=retry, lazy_state=lazy)
        trace: list[tuple[str, str]] = []
        if self.spans is not None:
            where = (deployment.id, deployment.uri, version)
            inv_text = str(ids.InvocationId.from_bytes(invocation_id))
            trace = self.spans.started(invocation_id, inv_text, status.attempt, status.target, status.trace, where)
        headers = attempt_start.headers(invocation_id, status, version, deployment.additional_headers, trace)
        path = f"/invoke/{status.target.service}/{status.target.handler}"
        request = AttemptRequest(deployment.uri, path, headers, body)
        attempt.open_now(request)
        attempt.task = asyncio.create_task(self._run(attempt, request))
        attempt.task.add_done_callback(self._task_done)
        self.metrics.started.inc()
        return attempt

    def _status_observer(self, deployment_id: str) -> Callable[[int], None]:
        """Records a deployment's response status codes (metrics.response with its id)."""
        found = self._status_observers.get(deployment_id)
        if found is None:
            found = self._status_observers[deployment_id] = functools.partial(self.metrics.response, deployment_id)
        return found

    def _timeouts(self, service: ServiceSchema | None, handler: HandlerSchema | None) -> tuple[float, float]:
        """Inactivity and abort timeouts in seconds: the handler's, else the service's, else the server's."""
        inactivity = self.config.inactivity_timeout_ms
        abort = self.config.abort_timeout_ms
        for level in (service, handler):
            if level is not None:
                inactivity = level.inactivity_timeout_ms if level.inactivity_timeout_ms is not None else inactivity
                abort = level.abort_timeout_ms if level.abort_timeout_ms is not None else abort
        return inactivity / 1000, abort / 1000

    async def _run(self, attempt: AttemptRunner, request: AttemptRequest) -> None:
        """Runs an admitted attempt and times it (its done callback frees its slot)."""
        started = time.monotonic()
        try:
            await attempt.run(request)
        finally:
            self.metrics.duration.observe(time.monotonic() - started)

    async def close(self) -> None:
        for handle in self._delayed.values():
            handle.cancel()
        for attempt in list(self._attempts.values()):
            attempt.kill()
        await self.clients.h2.close()
        self.clients.h1.close()


def _log_failure(what: str, exc: BaseException) -> None:
    log.error("invoker: %s failed", what, exc_info=exc)
