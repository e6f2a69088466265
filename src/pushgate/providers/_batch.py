"""The engine behind :meth:`Provider.send`: one batch of requests, retries on a timer.

Up to ``concurrency`` requests are in flight without a task per request:
the provider reports each outcome to :meth:`Batch.done`, which records it or
schedules its retry (honouring Retry-After, up to ``max_retries``) and wakes
:meth:`Batch.run`, which starts what may start and sleeps until woken again.

A provider with a :attr:`~pushgate.providers._base.Provider.lookahead` has
the next messages read ahead, in order, and handed to its ``stage`` one
after the other before any of them starts (Web Push encrypts them there):
a run of the same C code, then a run of the same Python send path, which
took less CPU than the two alternating per request (docs/protocols/webpush.md
§7 has the measurements). The first read is small, so the first request does not wait for
a whole window of work, and each later one doubles up to the lookahead, so
at most that many messages are read and not yet started.
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

FIRST_LOOKAHEAD = 4  # messages of a provider with a lookahead read before the first request starts


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
    staged: object = None  # what the provider's stage() made for it (a provider with a lookahead)


class Batch(Generic[TokenT, PreparedT]):
    """One run of the engine: up to ``concurrency`` requests in flight, retries on a timer.

    Without a task per request: the provider reports each outcome to
    :meth:`done`, which records it or schedules the retry and wakes
    :meth:`run`, which starts what may start and sleeps until woken again.
    """

    __slots__ = (
        "ahead", "debug", "exhausted", "failed", "gate", "inflight", "loop", "on_result", "pending",
        "provider", "ready", "results", "sleeping", "time", "wakeup", "window",
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
        self.ahead: deque[_Job[TokenT, PreparedT]] = deque()  # read and staged, in order, not started yet
        self.window = min(FIRST_LOOKAHEAD, provider.lookahead)  # messages the next read-ahead reads
        self.exhausted = False  # the source has no more messages
        self.inflight = 0
        self.sleeping = 0  # retries waiting for their delay
        self.wakeup: asyncio.Future[None] | None = None

    async def run(self) -> BatchResult:
        while True:
            self._fill()
            if (self.exhausted and not self.ready and not self.ahead and self.inflight == 0
                    and self.sleeping == 0):
                break
            self.wakeup = self.loop.create_future()
            await self.wakeup
        return BatchResult([r for r in self.results if r is not None])

    def _fill(self) -> None:
        """Start jobs until ``concurrency`` are in flight or none is ready."""
        provider = self.provider
        start = provider.start
        start_staged = provider.start_staged
        staging = self.window != 0
        done = self.done  # one bound method for every job started here, kept in flight with each
        gate = self.gate
        while self.inflight < provider.concurrency:
            # A staged job took its slot of the gate when it was read (the source's take):
            # waiting for the gate to open again could wait for ever.
            if not (self.ahead or gate is None or gate.open()):
                return
            job = self._take()
            if job is None:
                return
            job.started = self.time()
            self.inflight += 1
            try:
                if staging:
                    start_staged(job.prepared, job.token, job.staged, job.message_id, done, job)
                else:
                    start(job.prepared, job.token, job.message_id, done, job)
            except Exception as exc:  # the contract says it never raises; a bug must not lose the token
                logger.error("provider raised for %s: %r", job.token, exc, exc_info=exc)
                self.done(job, TokenResult(
                    provider.token_key(job.token), Status.FAILED, message_id=job.message_id,
                    reason=type(exc).__name__, cause=Cause.REQUEST, detail=str(exc),
                ))

    def _take(self) -> _Job[TokenT, PreparedT] | None:
        """A retry that is due, else the next message's job; None when nothing can start now."""
        if self.window:
            gate = self.gate
            if self.ready and (not self.ahead or gate is None or gate.open()):
                return self.ready.popleft()
            if not self.ahead and not self.exhausted:
                self._read_ahead()
            return self.ahead.popleft() if self.ahead else None
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

    def _read_ahead(self) -> None:
        """Read the next ``window`` messages into :attr:`ahead`, each staged by the provider;
        fewer when the gate closes (each message read takes a slot of it)."""
        provider = self.provider
        gate = self.gate
        stage = provider.stage
        pending = self.pending
        results = self.results
        ahead = self.ahead
        count = self.window
        self.window = min(2 * count, provider.lookahead)
        for number in range(count):
            if number and gate is not None and not gate.open():
                return
            item = next(pending, None)
            if item is None:
                self.exhausted = True
                return
            prepared, token, message_id = item
            index = len(results)
            results.append(None)
            if prepared is None:  # could not be prepared: already decided
                assert self.failed is not None
                self._record(index, self.failed.pop(index))
                continue
            if message_id is None:
                message_id = provider.new_message_id()
            try:
                staged_token, staged = stage(prepared, token)
            except Exception as exc:  # the contract says it never raises; a bug must not lose the token
                logger.error("provider raised for %s: %r", token, exc, exc_info=exc)
                self._record(index, TokenResult(
                    provider.token_key(token), Status.FAILED, message_id=message_id,
                    reason=type(exc).__name__, cause=Cause.REQUEST, detail=str(exc),
                ))
                continue
            ahead.append(_Job(index, prepared, staged_token, message_id, 1, 0.0, staged))

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
