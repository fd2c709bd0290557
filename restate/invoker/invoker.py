"""The partition's invoker: starts attempts, routes live entries to them, and alone applies the retry policy."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable

from restate.config import Config
from restate.invoker import attempt_start
from restate.invoker.attempt import AttemptMachine, Effect, Ended, Failed, GiveUp, JournalMessage, Suspended
from restate.invoker.attempt_runner import AttemptRequest, AttemptRunner, DeploymentClients
from restate.invoker.http1 import Http1Client
from restate.invoker.http2 import Http2Pool
from restate.invoker.retry import Policy, RetryState, policy_for
from restate.metrics import InvokerMetrics
from restate.partition.commands import AttemptFailedCmd, Command, EndCmd, SdkMessageCmd, SuspendedCmd
from restate.schema import HandlerSchema, Schema, ServiceSchema
from restate.storage.partition_store import PartitionStore
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
    ) -> None:
        self.config = config
        # What a failure outside any attempt (a bug, a broken store) ends: without it, logged only.
        self.on_failure = on_failure or _log_failure
        self.metrics = InvokerMetrics(partition)
        self.store = store
        self.emit = emit
        self.schema = schema
        self.clients = DeploymentClients(Http2Pool(), Http1Client())
        self._attempts: dict[bytes, AttemptRunner] = {}
        self._retries: dict[bytes, RetryState] = {}
        self._delayed: dict[bytes, asyncio.TimerHandle] = {}
        self._policies: dict[bytes, Policy] = {}
        self._waiting: dict[bytes, None] = {}  # launches held back by the concurrency bound, in order
        self._running = 0
        # Built once, not per attempt: every object an attempt keeps alive makes the cyclic GC run sooner.
        self._report_effect = self._on_effect
        self._task_done = self._attempt_done
        self._status_observers: dict[str, Callable[[int], None]] = {}  # deployment id -> metrics.response

    # --- partition actions

    def start(self, invocation_id: bytes, delay_ms: int = 0) -> None:
        self.metrics.enqueue.inc()
        handle = self._delayed.pop(invocation_id, None)
        if handle is not None:
            handle.cancel()
        if delay_ms > 0:
            loop = asyncio.get_running_loop()
            self._delayed[invocation_id] = loop.call_later(delay_ms / 1000, self._launch_later, invocation_id)
        else:
            self._launch(invocation_id)

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
        self._waiting.pop(invocation_id, None)
        attempt = self._attempts.pop(invocation_id, None)
        if attempt is not None:
            attempt.kill()
        self._forget_retries(invocation_id)

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

    def _report_failure(self, invocation_id: bytes, number: int, failed: Failed) -> None:
        """The one place that decides what follows a failed attempt: retry after a delay, pause or kill."""
        if failed.related_command is not None:
            log.info("attempt failed at command %s: [%s] %s", failed.related_command, failed.code, failed.message)
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

    def _launch(self, invocation_id: bytes) -> None:
        self._delayed.pop(invocation_id, None)
        if self._running >= self.config.invoker_concurrency and invocation_id not in self._attempts:
            self._waiting[invocation_id] = None  # started when a running attempt ends
            return
        self._start_attempt(invocation_id)

    def _launch_later(self, invocation_id: bytes) -> None:
        try:
            self._launch(invocation_id)
        except Exception as exc:  # e.g. reading it from the store failed: it would never run again
            self.on_failure("a delayed attempt start", exc)

    def _attempt_done(self, task: asyncio.Task[None]) -> None:
        """An attempt reports every way it ends; an exception that escapes it is a bug that left the
        invocation without a running attempt."""
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            self.on_failure("an attempt task", exc)

    def _launch_waiting(self) -> None:
        while self._waiting and self._running < self.config.invoker_concurrency:
            invocation_id = next(iter(self._waiting))
            del self._waiting[invocation_id]
            self._start_attempt(invocation_id)

    def _start_attempt(self, invocation_id: bytes) -> None:
        """Reads the invocation (consistently) and starts an attempt; synchronous up to the first await."""
        previous = self._attempts.pop(invocation_id, None)
        if previous is not None and not previous.machine.is_reported:
            if previous.machine.made_progress:  # its commands were stored: a new entry for the retry count
                self._retry_state(invocation_id).on_new_entry()
            previous.kill()  # one that reported is only draining its response: let it end by itself
        snapshot = self.store.db.snapshot()
        try:
            stored = attempt_start.load(snapshot, invocation_id)
        finally:
            snapshot.close()
        if stored is None or stored.status.status != "invoked":
            return
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
            return
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
        headers = attempt_start.headers(invocation_id, status, version, deployment.additional_headers)
        path = f"/invoke/{status.target.service}/{status.target.handler}"
        request = AttemptRequest(deployment.uri, path, headers, body)
        attempt.task = asyncio.create_task(self._run(attempt, request))
        attempt.task.add_done_callback(self._task_done)
        self.metrics.started.inc()

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
        """Runs an attempt within the concurrency bound and times it."""
        self._running += 1
        started = time.monotonic()
        try:
            await attempt.run(request)
        finally:
            self.metrics.duration.observe(time.monotonic() - started)
            self._running -= 1
            if self._attempts.get(attempt.invocation_id) is attempt:
                del self._attempts[attempt.invocation_id]
            self._launch_waiting()

    async def close(self) -> None:
        for handle in self._delayed.values():
            handle.cancel()
        for attempt in list(self._attempts.values()):
            attempt.kill()
        await self.clients.h2.close()


def _log_failure(what: str, exc: BaseException) -> None:
    log.error("invoker: %s failed", what, exc_info=exc)
