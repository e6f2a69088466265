"""The engine behind :meth:`Provider.send`: one batch of requests, retries on a timer.

Up to ``concurrency`` requests are in flight without a task per request:
the provider reports each outcome to :meth:`Batch.done`, which records it or
schedules its retry (honouring Retry-After, up to ``max_retries``) and wakes
:meth:`Batch.run`, which starts what may start and sleeps until woken again.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from pushgate.results import BatchResult, Cause, Status, TokenResult

if TYPE_CHECKING:
    from pushgate.providers._base import Provider

logger = logging.getLogger("pushgate.providers")

TokenT = TypeVar("TokenT")
PreparedT = TypeVar("PreparedT")


class Gate(Protocol):
    """Holds messages back beyond the provider's ``concurrency`` (the server's in-flight
    window, which counts a message until its outcome is stored, not just answered)."""

    def open(self) -> bool:
        """May one more message start now?"""

    def bind(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` once :meth:`open` may have become true."""


@dataclass(slots=True)
class _Job(Generic[TokenT, PreparedT]):
    index: int
    prepared: PreparedT
    token: TokenT
    message_id: str | None
    attempt: int = 1
    started: float = 0.0


class Batch(Generic[TokenT, PreparedT]):
    """One run of the engine: up to ``concurrency`` requests in flight, retries on a timer.

    Without a task per request: the provider reports each outcome to
    :meth:`done`, which records it or schedules the retry and wakes
    :meth:`run`, which starts what may start and sleeps until woken again.
    """

    __slots__ = (
        "debug", "exhausted", "failed", "gate", "inflight", "loop", "on_result", "pending", "provider",
        "ready", "results", "sleeping", "time", "wakeup",
    )

    def __init__(
        self,
        provider: Provider[TokenT, PreparedT],
        source: Iterable[tuple[PreparedT | None, TokenT, str | None]],
        failed: dict[int, TokenResult] | None,
        on_result: Callable[[TokenResult], None] | None,
        gate: Gate | None = None,
    ) -> None:
        self.provider = provider
        self.gate = gate
        if gate is not None:
            gate.bind(self._wake)
        self.loop = asyncio.get_running_loop()
        self.time = self.loop.time
        self.debug = logger.isEnabledFor(logging.DEBUG)  # once per batch, not per request
        self.failed = failed  # outcomes decided before sending (messages that could not be prepared)
        self.on_result = on_result
        self.results: list[TokenResult | None] = []  # by message index; None while undecided
        self.ready: deque[_Job[TokenT, PreparedT]] = deque()  # retries whose delay has passed
        self.pending = iter(source)
        self.exhausted = False  # the source has no more messages
        self.inflight = 0
        self.sleeping = 0  # retries waiting for their delay
        self.wakeup: asyncio.Future[None] | None = None

    async def run(self) -> BatchResult:
        while True:
            self._fill()
            if self.exhausted and not self.ready and self.inflight == 0 and self.sleeping == 0:
                break
            self.wakeup = self.loop.create_future()
            await self.wakeup
        return BatchResult([r for r in self.results if r is not None])

    def _fill(self) -> None:
        """Start jobs until ``concurrency`` are in flight or none is ready."""
        provider = self.provider
        start = provider.start
        done = self.done  # one bound method for every job started here, kept in flight with each
        gate = self.gate
        while self.inflight < provider.concurrency and (gate is None or gate.open()):
            job = self._take()
            if job is None:
                return
            job.started = self.time()
            self.inflight += 1
            try:
                start(job.prepared, job.token, job.message_id, done, job)
            except Exception as exc:  # the contract says it never raises; a bug must not lose the token
                logger.error("provider raised for %s: %r", job.token, exc, exc_info=exc)
                self.done(job, TokenResult(
                    provider.token_key(job.token), Status.FAILED, message_id=job.message_id,
                    reason=type(exc).__name__, cause=Cause.REQUEST, detail=str(exc),
                ))

    def _take(self) -> _Job[TokenT, PreparedT] | None:
        """A retry that is due, else the next message's job; None when nothing can start now."""
        while True:
            if self.ready:
                return self.ready.popleft()
            if self.exhausted:
                return None
            item = next(self.pending, None)
            if item is None:
                self.exhausted = True
                return None
            prepared, token, message_id = item
            index = len(self.results)
            self.results.append(None)
            if prepared is None:  # could not be prepared: already decided
                assert self.failed is not None
                self._record(index, self.failed.pop(index))
                continue
            if message_id is None:
                message_id = self.provider.new_message_id()
            return _Job(index, prepared, token, message_id)

    def done(self, job: _Job[TokenT, PreparedT], outcome: TokenResult) -> None:
        """The provider's callback: one request's outcome, final or to be retried."""
        self.inflight -= 1
        outcome.attempts = job.attempt
        outcome.latency = self.time() - job.started
        if outcome.status is Status.RETRY and self._retry(job, outcome):
            return
        self._record(job.index, outcome)
        self._wake()

    def _retry(self, job: _Job[TokenT, PreparedT], outcome: TokenResult) -> bool:
        """Schedule ``job`` again if tries are left and the delay is short enough."""
        provider = self.provider
        if job.attempt > provider.max_retries:
            return False
        delay = outcome.retry_after if outcome.retry_after is not None else provider._backoff(job.attempt)
        if delay > provider.max_retry_delay:
            return False  # handed back as RETRY with its retry_after
        if self.debug:
            logger.debug("%s: retrying %s in %.2fs (%s)", provider.name, outcome.token, delay, outcome.reason)
        job.attempt += 1
        self.sleeping += 1
        self.loop.call_later(delay, self._requeue, job)
        self._wake()
        return True

    def _requeue(self, job: _Job[TokenT, PreparedT]) -> None:
        self.sleeping -= 1
        self.ready.append(job)
        self._wake()

    def _record(self, index: int, outcome: TokenResult) -> None:
        self.results[index] = outcome
        if self.on_result is not None:
            self.on_result(outcome)

    def _wake(self) -> None:
        wakeup = self.wakeup
        if wakeup is not None and not wakeup.done():
            wakeup.set_result(None)
