"""How a delivery job ends: outcomes, follow-up jobs, and refused credentials.

:class:`JobSettling` is the half of :class:`~pushgate.workers.delivery.DeliveryJob`
that runs after the requests: it records outcomes, stores the follow-up job
(a retry, or a deferral to a pause's end) and completes the job, in that
order (step 5 of the delivery module's docstring).

A credential refusal (``Cause.CONFIG``) usually means the app's credentials
are bad: the job stops, the (app, provider) lane is paused — 1 minute,
doubling per failed probe up to an hour (``registry/pauses.py``) — and every
device not yet settled is deferred to the pause's end, or recorded failed
once that end lies more than ``max_credentials_wait`` after the send's start.

Some refusals are about one subscription, not the app (docs/protocols/webpush.md §6):
a Web Push subscription made with an earlier VAPID key is restricted to it
(RFC 8292 §4.2), so after a key rotation its push service refuses it while
taking every subscription made with the new key. Pausing the lane for it
would hold back every browser of the app. Such a refusal settles that
device alone:

- the push service says so (Apple ``VapidPkHashMismatch``, autopush's and
  FCM's key-mismatch texts): the client classifies it ``dead`` with cause
  CONFIG (providers/webpush/outcomes.py), recorded like any dead token;
- the same push service (the endpoint's origin, the VAPID ``aud``) has
  accepted the app's current credentials since this process loaded them —
  in this job or an earlier one (``CachedClient.proven``): the key and the
  claims are fine, so the refusal is the subscription's binding. It is
  recorded ``failed`` with ``VapidKeyMismatch``. Answers still in flight
  when a first refusal stopped the job count too: the refusals are judged
  again here, and when none is left the pause this process noted for it is
  withdrawn (never stored) and the devices it held back go on at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pushgate.planner.jobs import DEFERRED_MARK, RETRY_MARK, DeliveryPayload, FollowUpMark, follow_up_job
from pushgate.providers import provider_spec
from pushgate.queue import ClaimedJob, Job
from pushgate.registry import DeliveryStatus, Outcome
from pushgate.registry.chunks import load_send_content
from pushgate.registry.pauses import ProviderPause, clear_pause, pause_length, pause_provider
from pushgate.results import Cause, Status, TokenResult
from pushgate.workers.constants import REASON_KEY_MISMATCH
from pushgate.workers.pausebook import wake_deferred

if TYPE_CHECKING:
    from collections.abc import Callable

    from pushgate.workers.clients import CachedClient
    from pushgate.workers.context import WorkerContext

logger = logging.getLogger("pushgate.workers")


@dataclass(slots=True)
class Tally:
    """What one run of a job learned, device by device."""

    retry: dict[int, TokenResult] = field(default_factory=dict)
    given_up: list[TokenResult] = field(default_factory=list)  # temporary failures at the last try
    settled: set[int] = field(default_factory=set)
    refused: dict[int, TokenResult] = field(default_factory=dict)  # credential refusals not settled
    config_error: str | None = None
    provisional: ProviderPause | None = None  # the pause this run noted when it met a refusal
    stopped: bool = False  # stopped feeding the client because the lane was (provisionally) paused
    sent: int = 0


def refusal_of_one_device(
    result: TokenResult, proven: set[str], audience_of: Callable[[str], str] | None
) -> TokenResult | None:
    """A credential refusal from a service that accepted these credentials, as that device's
    final outcome (failed, ``VapidKeyMismatch``); None when it may be about the app's credentials."""
    if audience_of is None or audience_of(result.token) not in proven:
        return None
    return TokenResult(result.token, Status.FAILED, reason=REASON_KEY_MISMATCH,
                       http_status=result.http_status, cause=Cause.CONFIG, detail=result.reason,
                       latency=result.latency)


def with_attempts(outcome: Outcome, tries: int) -> Outcome:
    if outcome.attempts == tries:
        return outcome
    return Outcome(outcome.device_id, outcome.status, outcome.reason, outcome.message_id, tries)


class JobSettling:
    """Outcomes, follow-ups, pauses and deferrals of one ``deliver:<provider>`` job."""

    def __init__(self, ctx: WorkerContext, job: ClaimedJob) -> None:
        self.ctx = ctx
        self.job = job
        self.payload = payload = DeliveryPayload.from_json(job.payload)
        self.send_id = payload.send_id
        self.app_id = payload.app_id
        self.provider = payload.provider
        self.tries = payload.tries
        self.deferrals = payload.deferrals

    # -- credential refusals ---------------------------------------------------------

    def _note_refusal(self, tally: Tally, device_id: int, result: TokenResult) -> None:
        """A refusal that may be about the app's credentials: stop this process's other jobs now."""
        tally.refused[device_id] = result
        if tally.config_error is None:
            tally.config_error = result.reason or result.detail or "credentials rejected"
            tally.provisional = ProviderPause(
                self.app_id, self.provider, tally.config_error, time.time(), time.time() + pause_length(1), 0,
            )
            self.ctx.pauses.note(tally.provisional)

    async def _judge_refusals(self, entry: CachedClient, tally: Tally) -> None:
        """Judge the run's refusals again with every service it proved meanwhile (answers in
        flight when the first refusal stopped it); withdraw the provisional pause if none is left."""
        audience_of = provider_spec(self.provider).credential_audience
        for device_id, result in list(tally.refused.items()):
            mine = refusal_of_one_device(result, entry.proven, audience_of)
            if mine is not None:
                del tally.refused[device_id]
                tally.settled.add(device_id)
                self._record(with_attempts(Outcome.from_result(device_id, mine), self.tries))
        if tally.refused:
            first = next(iter(tally.refused.values()))
            tally.config_error = first.reason or first.detail or "credentials rejected"
            return
        tally.config_error = None
        pauses = self.ctx.pauses
        if tally.provisional is not None and pauses.active(self.app_id, self.provider) is tally.provisional:
            pauses.forget(self.app_id, self.provider)
            # Jobs of this process that the provisional pause deferred go on now.
            if await asyncio.to_thread(wake_deferred, self.ctx.queue, self.provider, time.time()):
                self.ctx.notify()
        tally.provisional = None

    # -- outcomes and follow-ups -------------------------------------------------------

    def _record(self, outcome: Outcome) -> None:
        self.ctx.recorder.add(self.send_id, self.provider, outcome)

    async def _follow_up(self, *follow: Job | None) -> None:
        """Outcomes written, then the follow-up jobs stored, then this job completed (without
        follow-ups, in the outcomes' own transaction when the queue allows: recorder.py)."""
        ctx = self.ctx
        jobs = [job for job in follow if job is not None and job.size]
        if jobs or not ctx.recorder.completes_jobs:
            await ctx.recorder.flush()
        if jobs:
            await asyncio.to_thread(ctx.queue.enqueue, jobs)
            if any(job.run_at is not None and job.run_at <= time.time() for job in jobs):
                ctx.notify()
        await self._complete()

    async def _complete(self) -> None:
        if self.ctx.recorder.completes_jobs:
            await self.ctx.recorder.complete(self.job.id)
        else:  # the queue is elsewhere (Redis): after the outcomes, in batches of its own
            await self.ctx.completions.complete(self.job.id)

    def _next(self, device_ids: list[int], run_at: float, *, tries: int, deferrals: int | None = None,
              mark: FollowUpMark = RETRY_MARK) -> Job:
        return follow_up_job(
            self.job.id, self.job.queue, self.payload, device_ids, run_at=run_at,
            max_tries=self.job.max_tries, tries=tries,
            deferrals=self.deferrals if deferrals is None else deferrals, mark=mark,
        )

    # -- pauses and deferrals ----------------------------------------------------------

    async def _defer(
        self, device_ids: list[int], until: float, error: str | None, start: datetime | None = None
    ) -> None:
        """Defer the devices to the pause's end — or, when that is later than the send's start
        plus ``max_credentials_wait``, record them failed with the provider's reason: a send
        never stays pending for ever behind credentials nobody fixes."""
        limit = self.ctx.settings.max_credentials_wait
        if limit is not None and error:
            if start is None:
                info = await asyncio.to_thread(load_send_content, self.ctx.db, self.send_id)
                start = info.start if info is not None else None
            if start is not None and until > start.timestamp() + limit:
                for device_id in device_ids:  # devices with an outcome already keep it
                    self._record(Outcome(device_id, DeliveryStatus.FAILED, error, attempts=self.tries))
                await self._follow_up(None)
                return
        await self._follow_up(self._deferred(device_ids, until))

    def _deferred(self, device_ids: list[int], until: float) -> Job:
        return self._next(device_ids, until, tries=self.tries, deferrals=self.deferrals + 1,
                          mark=DEFERRED_MARK)

    async def _pause(self, error: str, version: datetime, *, unusable: bool = False) -> ProviderPause | None:
        """Store the pause (None: the credentials changed meanwhile; try them at once).

        ``unusable``: no client could be built from the credentials (a key that
        does not parse or decrypt), as opposed to a provider rejecting them.
        """
        ctx = self.ctx
        pause = await asyncio.to_thread(self._store_pause, error, version)
        if pause is None:
            ctx.pauses.forget(self.app_id, self.provider)
            ctx.clients.invalidate(self.app_id, self.provider)
            return None
        ctx.pauses.note(pause)
        logger.warning(
            "%s credentials of app %s %s (%s): paused until %s", self.provider, self.app_id,
            "are unusable" if unusable else "were rejected", pause.error,
            pause.until_datetime.isoformat(timespec="seconds"),
        )
        return pause

    def _pause_end(self, pause: ProviderPause | None) -> float:
        return pause.until if pause is not None else time.time()

    def _store_pause(self, error: str, version: datetime) -> ProviderPause | None:
        with self.ctx.db.session() as session:
            return pause_provider(
                session, self.app_id, self.provider, error, version=version, now=time.time()
            )

    def _clear_pause(self) -> None:
        with self.ctx.db.session() as session:
            clear_pause(session, self.app_id, self.provider)


__all__ = ["JobSettling", "Tally", "refusal_of_one_device", "with_attempts"]
