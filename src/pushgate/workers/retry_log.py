"""Retried, given-up and expired deliveries in the serve log: a WARNING by provider, with reasons and details.

A delivery answered with a temporary failure (a dropped connection, a 429, a 5xx, an
unreachable token endpoint) goes back to the queue for a later try
(:mod:`pushgate.workers.delivery`, step 4). The ``pushgate_retries_total`` metric counts
them, but an operator reading the log while a provider is unreachable must see why
sends stay pending, so each retried job is logged too.

A broadcast to an unreachable provider retries every one of its jobs (1,000 devices
each) in every round: one line per job would flood the log. So the lines are per
provider and rate-limited: the first retry is logged at once, then at most one line
per :data:`~pushgate.workers.constants.RETRY_LOG_INTERVAL_SECONDS`, summing up the jobs
retried since (deliveries and jobs, counts by reason, the first detail of each reason,
the highest try number and the longest wait). What is held back is written when the
interval ends (a timer on the event loop) or when the workers stop, never dropped.

Deliveries still failing temporarily at their last try (``max_tries``) are recorded
``failed``, and those whose next try would come after the notification expires are
recorded ``expired`` instead of retried; both are logged the same way, each kind in
lines of its own with a rate limit of its own, so a line that says sends ended is
never held back behind retry lines.

Examples::

    wns: 1000 deliveries of 1 job will be retried (after try 1 of 10, next within 1.2 s):
    TransportError x1000 ('WNS token endpoint unreachable: ConnectError')

    wns: 1000 deliveries of 1 job failed after their last try (try 10 of 10):
    TransportError x1000 ('WNS token endpoint unreachable: ConnectError')

    apns: 3 deliveries of 1 job expired before their next try (after try 1 of 10, the
    notification expiring first): ServiceUnavailable x3
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pushgate.results import TokenResult
from pushgate.workers.constants import RETRY_LOG_INTERVAL_SECONDS

logger = logging.getLogger("pushgate.workers")

DETAIL_CHARS = 200  # a provider's detail is quoted up to this long
MAX_REASONS = 5  # reasons named in one line; the rest are counted together


# What a line is about: its deliveries will be tried again, they ran out of tries, or
# their notification expires before the next try. Each kind says so in its own words.
RETRIED = "retried"
GIVEN_UP = "given up"
EXPIRED = "expired"
_SAYS = {
    RETRIED: "will be retried (after try {tries} of {max_tries}, next within {wait:.1f} s)",
    GIVEN_UP: "failed after their last try (try {tries} of {max_tries})",
    EXPIRED: ("expired before their next try (after try {tries} of {max_tries}, "
              "the notification expiring first)"),
}
_Key = tuple[str, str]  # (provider, RETRIED, GIVEN_UP or EXPIRED): each has its own rate limit


@dataclass(slots=True)
class _Summary:
    """Retried (given-up, expired) deliveries of one provider not yet logged."""

    jobs: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    details: dict[str, str] = field(default_factory=dict)  # the first detail of each reason
    tries: int = 0  # the highest try that ended in a retry (or was the last)
    max_tries: int = 0
    wait: float = 0.0  # the longest wait before the next try

    def add(self, results: Iterable[TokenResult], tries: int, max_tries: int, wait: float) -> None:
        self.jobs += 1
        self.max_tries = max_tries
        self.tries = max(self.tries, tries)
        self.wait = max(self.wait, wait)
        for result in results:
            reason = result.reason or (result.cause.value if result.cause is not None else "unknown")
            self.reasons[reason] += 1
            if result.detail and reason not in self.details:
                self.details[reason] = result.detail[:DETAIL_CHARS]


class RetryLog:
    """The WARNING lines about retried, given-up and expired deliveries of one worker process
    (see the module doc).

    :param interval: the fewest seconds between two lines of one kind about one provider.
    :param clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self, interval: float = RETRY_LOG_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._last: dict[_Key, float] = {}  # when the last line of each kind was written
        self._held: dict[_Key, _Summary] = {}
        self._timers: dict[_Key, asyncio.TimerHandle] = {}

    def note(
        self, provider: str, results: Iterable[TokenResult], *, tries: int, max_tries: int, wait: float
    ) -> None:
        """One job's deliveries will be retried: their try ``tries`` failed, the next comes in ``wait`` s."""
        self._add((provider, RETRIED), results, tries, max_tries, wait)

    def note_given_up(
        self, provider: str, results: Iterable[TokenResult], *, tries: int, max_tries: int
    ) -> None:
        """One job's deliveries failed temporarily at their last try ``tries``: recorded failed."""
        self._add((provider, GIVEN_UP), results, tries, max_tries, 0.0)

    def note_expired(
        self, provider: str, results: Iterable[TokenResult], *, tries: int, max_tries: int
    ) -> None:
        """One job's deliveries failed temporarily at try ``tries``, and the notification
        expires before the next could run: recorded expired."""
        self._add((provider, EXPIRED), results, tries, max_tries, 0.0)

    def _add(
        self, key: _Key, results: Iterable[TokenResult], tries: int, max_tries: int, wait: float
    ) -> None:
        summary = self._held.setdefault(key, _Summary())
        summary.add(results, tries, max_tries, wait)
        now = self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self.interval:
            self._write(key)
            return
        if key not in self._timers:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # no loop: held until the next line or close()
                return
            self._timers[key] = loop.call_later(last + self.interval - now, self._write, key)

    def flush(self) -> None:
        """Write what is held back now (the workers are stopping)."""
        for key in list(self._held):
            self._write(key)

    def _write(self, key: _Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        summary = self._held.pop(key, None)
        if summary is None:
            return
        self._last[key] = self._clock()
        provider, kind = key
        count = sum(summary.reasons.values())
        named = summary.reasons.most_common(MAX_REASONS)
        parts = [f"{reason} x{n}" + (f" ({summary.details[reason]!r})" if reason in summary.details else "")
                 for reason, n in named]
        others = count - sum(n for _, n in named)
        if others:
            parts.append(f"{others} more of {len(summary.reasons) - len(named)} other reasons")
        jobs = "job" if summary.jobs == 1 else "jobs"
        says = _SAYS[kind].format(tries=summary.tries, max_tries=summary.max_tries, wait=summary.wait)
        logger.warning("%s: %d deliveries of %d %s %s: %s", provider, count, summary.jobs, jobs, says,
                       "; ".join(parts))


__all__ = ["RetryLog"]
