"""One delivery job: a chunk of a send's devices on one provider, sent and settled.

The steps, in the order that keeps "delivered or recorded, never lost":

1. A job of a paused (app, provider) is deferred untouched to the pause's end.
2. The send and the devices still without an outcome are loaded
   (:func:`~pushgate.registry.chunks.load_chunk`: a re-run after a crash only
   sees what was not recorded). An expired notification is recorded as
   ``expired`` without a request.
3. Each device gets a :class:`Message` whose id is derived from the send and
   the device, so a retry — or a re-run after ``kill -9`` — carries the same
   APNs ``apns-id``. The app's long-lived client sends them; each outcome is
   handed to the shared :class:`OutcomeRecorder` the moment it is known. A
   device holds a slot of the job's in-flight window until its outcome is
   durable (:mod:`pushgate.workers.window`), so a kill re-sends only what the
   window held.
4. Final outcomes (sent, dead, failed, expired) are recorded; dead tokens
   deactivate their device unless it re-registered after the provider's
   timestamp. Temporary failures become one new job for those devices, due
   after the provider's Retry-After or a backoff (capped by the
   ``max_retry_delay`` setting), until ``max_tries``, and logged at WARNING
   (:mod:`pushgate.workers.retry_log`), as are those recorded failed after
   their last try and those recorded expired, their next try coming after
   the notification's expiry. A credential failure (``Cause.CONFIG``) stops
   the job, pauses the app's provider and defers every device not yet
   settled to the pause's end; a device whose send started longer than
   ``max_credentials_wait`` before that end is recorded failed with the
   provider's reason instead. A refusal about one subscription (a Web Push
   subscription bound to an earlier VAPID key) settles that device alone
   (:mod:`pushgate.workers.settling`).
5. Only when the outcomes are written and the follow-up job is enqueued is
   the job completed. A crash anywhere before re-runs it; follow-up ids are
   deterministic, so a re-run does not enqueue them twice.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pushgate.notification import Notification
from pushgate.planner.jobs import DeliveryPayload
from pushgate.providers import Message, provider_spec
from pushgate.queue import ClaimedJob, Job
from pushgate.registry import DeadToken, DeliveryStatus, Outcome
from pushgate.registry.chunks import DeviceRow, SendContent, load_chunk, load_send_content
from pushgate.results import Cause, Status, TokenResult
from pushgate.workers.clients import CachedClient, ClientBuildError, NoCredentials
from pushgate.workers.constants import (
    DELIVERY_NAMESPACE,
    REASON_EXPIRED,
    REASON_NO_CREDENTIALS,
    RETRY_BASE_SECONDS,
    RETRY_MAX_SECONDS,
)
from pushgate.workers.event_texts import REASON_NO_TEXT, Text, personalize
from pushgate.workers.settling import JobSettling, Tally, refusal_of_one_device, with_attempts
from pushgate.workers.topic import is_topic_job, load_topic_device, send_to_target
from pushgate.workers.window import JobGate

if TYPE_CHECKING:
    from pushgate.registry import Database
    from pushgate.workers.context import WorkerContext

logger = logging.getLogger("pushgate.workers")


def delivery_id(send_id: str, device_id: int) -> str:
    """The message id of one delivery: the same on every retry and every re-run.

    ``uuid.uuid5(DELIVERY_NAMESPACE, f"{send_id}:{device_id}")``.
    """
    return delivery_ids(send_id)(device_id)


def delivery_ids(send_id: str) -> Callable[[int], str]:
    """:func:`delivery_id` of one send, for device after device (it runs once per delivery).

    The SHA-1 of the namespace and ``"<send id>:"`` is taken once and copied
    per device, and the version and variant bits (RFC 4122 §4.3: version 5;
    variant ``10``) are set on the hex digits instead of on a UUID object.
    """
    base = hashlib.sha1(_NAMESPACE_BYTES + f"{send_id}:".encode())

    def of(device_id: int) -> str:
        digest = base.copy()
        digest.update(b"%d" % device_id)
        h = digest.hexdigest()
        return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"

    return of


_NAMESPACE_BYTES = DELIVERY_NAMESPACE.bytes
# The digit that starts the fourth group: its top two bits become the RFC 4122 variant (10).
_VARIANT_DIGIT = {f"{n:x}": f"{0x8 | (n & 0x3):x}" for n in range(16)}


def collapse_id_for(send_id: str) -> str:
    """The collapse identifier every delivery of a send carries (``Notification.dedupe_id``).

    A device that gets a send twice — its request was in flight at a crash —
    shows it once: the second replaces the first. 16 URL-safe base64
    characters of a SHA-256 of the send id: the same on every retry and
    re-run, within every provider's limit (WNS ``X-WNS-Tag``: 16).
    """
    digest = hashlib.sha256(b"pushgate-collapse:" + send_id.encode()).digest()
    return base64.urlsafe_b64encode(digest[:12]).decode()


def with_send_marker(notification: Notification, send_id: str) -> Notification:
    """The notification with ``"pushgate": {"send": <send id>}`` in its Web Push JSON.

    The service worker names the send when it reports a notification displayed
    or clicked (docs/websdk.md §4). Added once per job, so the plaintext is
    still built once and encrypted per subscription.
    """
    return notification.model_copy(update={"webpush": {**(notification.webpush or {}),
                                                       "pushgate": {"send": send_id}}})


def retry_delay(tries: int, retry_after: float | None) -> float:
    """Backoff for the ``tries``-th retry with jitter, never sooner than Retry-After."""
    backoff = float(min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2.0 ** max(0, tries - 1)))
    backoff *= 0.75 + random.random() / 2
    return max(backoff, retry_after or 0.0)


Loaded = tuple[SendContent | None, list[DeviceRow]]  # what a job reads before sending


def load_job(db: Database, payload: DeliveryPayload) -> Loaded:
    """The send's content and the job's devices still without an outcome (step 2 above).

    Blocking. The worker calls it for a direct-lane job in the thread that
    claimed the job (workers/sender.py), so a login code does not wait for one
    more hand-off to a thread between its claim and its request.
    """
    info = load_send_content(db, payload.send_id)
    # Loaded even for a cancelled send (info None): load_chunk records its devices as cancelled.
    devices = (load_topic_device(db, payload.send_id) if is_topic_job(payload.device_ids)
               else load_chunk(db, payload.send_id, payload.provider, payload.device_ids))
    return (info, devices) if info is not None else (None, [])


def effective_notification(info: SendContent, now: datetime) -> Notification | None:
    """The notification to send now; None when it expired before it could be sent.

    A relative ``ttl`` becomes an absolute expiration counted from the send's
    start, so a delivery retried later carries only the time it has left.
    """
    notification = Notification.model_validate(info.notification)
    if notification.expiration is not None:
        return notification if notification.expiration > now else None
    if notification.ttl:
        expires = info.start + timedelta(seconds=notification.ttl)
        if expires <= now:
            return None
        return notification.model_copy(update={"expiration": expires})
    return notification


class DeliveryJob(JobSettling):
    """Runs one claimed ``deliver:<provider>`` job (see the module docstring)."""

    def __init__(self, ctx: WorkerContext, job: ClaimedJob, loaded: Loaded | None = None) -> None:
        super().__init__(ctx, job)
        self.loaded = loaded  # load_job's answer when the claiming thread read it already

    async def run(self) -> None:
        ctx = self.ctx
        pause = ctx.pauses.active(self.app_id, self.provider)
        if pause is not None:
            await self._defer(list(self.payload.device_ids), pause.until, pause.error)
            return
        loaded = self.loaded
        if loaded is None:
            loaded = await asyncio.to_thread(load_job, ctx.db, self.payload)
        info, devices = loaded
        if info is None or not devices:
            await self._complete()
            return
        now = datetime.now(UTC)
        notification = effective_notification(info, now)
        if notification is not None and notification.collapse_key is None and notification.dedupe_id is None:
            notification = notification.model_copy(update={"dedupe_id": collapse_id_for(self.send_id)})
        if notification is not None and self.provider == "webpush":
            notification = with_send_marker(notification, self.send_id)
        if notification is None:
            for device in devices:
                self._record(Outcome(device.id, DeliveryStatus.EXPIRED, REASON_EXPIRED, attempts=0))
            await self._follow_up(None)
            return
        texts: dict[int, Text] | None = None
        if info.per_device:  # an event send: each device has its own rendered text
            texts, devices, missing = await asyncio.to_thread(personalize, ctx.db, self.send_id, devices)
            for device_id in missing:
                self._record(Outcome(device_id, DeliveryStatus.FAILED, REASON_NO_TEXT, attempts=0))
            if not devices:
                await self._follow_up(None)
                return
        try:
            entry = await ctx.clients.acquire(self.app_id, self.provider)
        except NoCredentials:
            for device in devices:
                self._record(Outcome(device.id, DeliveryStatus.FAILED, REASON_NO_CREDENTIALS, attempts=0))
            await self._follow_up(None)
            return
        except ClientBuildError as exc:
            pause = await self._pause(str(exc), exc.version, unusable=True)
            await self._defer([d.id for d in devices], self._pause_end(pause), str(exc), info.start)
            return
        try:
            tally = await self._send(entry, devices, notification, texts)
        finally:
            await ctx.clients.release(entry)
        await self._settle(entry, devices, tally, notification, info.start)

    # -- sending ---------------------------------------------------------------------

    async def _send(
        self, entry: CachedClient, devices: list[DeviceRow], notification: Notification,
        texts: dict[int, Text] | None = None,
    ) -> Tally:
        ctx, tally = self.ctx, Tally()
        client = entry.client
        audience_of, proven = provider_spec(self.provider).credential_audience, entry.proven
        by_token: dict[str, list[int]] = {}
        max_tries = ctx.settings.max_tries
        observed = ctx.observer(self.provider)
        book = ctx.pauses
        seen = book.generation
        # The direct lane has a window of its own: a login code never waits behind the
        # slots of a broadcast to the same app and provider.
        window = ctx.windows.open(self.app_id, self.job.queue, ctx.settings.worker_concurrency)
        gate = JobGate(window)
        recorder = ctx.recorder
        unwritten: deque[tuple[int, float]] = deque()  # (recorder sequence, handed over at)
        clock = time.monotonic
        sending = True

        def written(upto: int) -> None:  # the recorder committed outcomes up to ``upto``
            count, hold, now = 0, 0.0, clock()
            while unwritten and unwritten[0][0] <= upto:
                hold += now - unwritten.popleft()[1]
                count += 1
            window.release(count, hold)
            if not sending and not unwritten:
                recorder.unwatch(written)

        # Looked up once per job: the loop below runs once per device.
        id_of = delivery_ids(self.send_id)
        client_token, token_key = provider_spec(self.provider).client_token, client.token_key

        def messages() -> Iterator[Message[Any]]:
            nonlocal seen
            for device in devices:
                if tally.config_error is not None:
                    tally.stopped = True
                    return  # stop feeding the client: the credentials are bad
                if book.generation != seen:
                    seen = book.generation
                    if book.active(self.app_id, self.provider):
                        tally.stopped = True
                        return  # another job found them bad
                device_id = device.id
                token = client_token(device.token, device.p256dh, device.auth)
                key = token_key(token)
                same_token = by_token.get(key)
                if same_token is None:
                    by_token[key] = [device_id]
                else:
                    same_token.append(device_id)
                window.take()
                yield Message(token, notification, id_of(device_id),
                              texts[device_id] if texts is not None else None)

        def on_result(result: TokenResult) -> None:
            ids = by_token.get(result.token)
            if not ids:
                logger.error("%s returned a result for an unknown token", self.provider)
                return
            device_id = ids.pop()
            observed.add(result)
            latency = result.latency or 0.0
            if result.status is Status.RETRY:
                if self.tries < max_tries:
                    tally.retry[device_id] = result
                    window.release(1, latency)  # not accepted, nothing to record: free the slot
                    return
                tally.given_up.append(result)  # its last try: recorded failed below, logged in _settle
            if result.status is Status.FAILED and result.cause is Cause.CONFIG:
                mine = refusal_of_one_device(result, proven, audience_of)
                if mine is None:  # maybe the app's credentials: settled with the pause (_settle)
                    window.release(1, latency)
                    self._note_refusal(tally, device_id, result)
                    return
                result = mine
            if result.status is Status.SENT:
                tally.sent += 1
                if audience_of is not None:
                    proven.add(audience_of(result.token))  # this service takes these credentials
            dead = None
            if result.status is Status.DEAD:
                # Bound to another key (cause CONFIG): dead for the credentials this client holds;
                # a device registered after they were stored may be bound to newer ones.
                since = entry.version if result.cause is Cause.CONFIG else result.timestamp
                dead = DeadToken(device_id, result.reason or "Unregistered", since)
            outcome = Outcome.from_result(device_id, result, give_up=True)
            tally.settled.add(device_id)
            seq = recorder.add(self.send_id, self.provider, with_attempts(outcome, self.tries), dead)
            unwritten.append((seq, clock() - latency))

        recorder.watch(written)
        try:
            async with ctx.heartbeat(self.job):
                if is_topic_job(self.payload.device_ids):  # one FCM topic/condition request
                    by_token[devices[0].token] = [devices[0].id]
                    window.take()
                    on_result(await send_to_target(client, devices[0].token, notification))
                else:
                    await client.send_messages(messages(), on_result=on_result, gate=gate)
                if not recorder.completes_jobs:
                    await recorder.flush()
                # Else the outcomes are written with the job's completion, in one transaction
                # (recorder.py); until then their window slots stay held, and released by
                # ``written`` as they become durable.
        finally:
            sending = False
            if not unwritten:
                recorder.unwatch(written)
            gate.close()
            ctx.windows.close(self.app_id, self.job.queue, window)
            observed.commit()
        return tally

    async def _settle(
        self, entry: CachedClient, devices: list[DeviceRow], tally: Tally, notification: Notification,
        start: datetime,
    ) -> None:
        ctx = self.ctx
        if tally.given_up:
            ctx.retry_log.note_given_up(self.provider, tally.given_up, tries=self.tries,
                                        max_tries=ctx.settings.max_tries)
        if tally.refused:
            await self._judge_refusals(entry, tally)
        unsent = [d.id for d in devices if d.id not in tally.settled and d.id not in tally.retry]
        resume: Job | None = None
        if unsent:
            # Stopped early: this job's or another job's requests hit bad credentials.
            if tally.config_error is not None:
                pause = await self._pause(tally.config_error, entry.version)
                ctx.clients.invalidate(self.app_id, self.provider)
            else:
                pause = ctx.pauses.active(self.app_id, self.provider)
                if pause is None and not tally.stopped:
                    # Not a pause: a result went missing. Fail the run (the queue retries it
                    # after a delay) rather than deferring it in a tight loop.
                    await ctx.recorder.flush()
                    raise RuntimeError(f"{len(unsent)} devices got no outcome from {self.provider}")
            if tally.config_error is not None or pause is not None:
                error = tally.config_error or (pause.error if pause is not None else None)
                await self._defer(unsent + sorted(tally.retry), self._pause_end(pause), error, start)
                return
            # The pause that stopped this run was withdrawn (its refusals were about single
            # subscriptions): the devices it held back go on at once.
            resume = self._deferred(unsent, time.time())
        if tally.sent and entry.pause is not None:
            await asyncio.to_thread(self._clear_pause)
            ctx.pauses.forget(self.app_id, self.provider)
            entry.pause = None
        follow: Job | None = None
        if tally.retry:
            wait = retry_delay(self.tries, max((r.retry_after or 0.0) for r in tally.retry.values()))
            run_at = time.time() + min(wait, ctx.settings.max_retry_delay)
            expires = notification.expiration
            if expires is not None and expires.timestamp() <= run_at:
                # The next try would carry a notification already expired: end it now.
                for device_id in sorted(tally.retry):
                    self._record(Outcome(device_id, DeliveryStatus.EXPIRED, REASON_EXPIRED,
                                         attempts=self.tries))
                ctx.retry_log.note_expired(self.provider, tally.retry.values(), tries=self.tries,
                                           max_tries=ctx.settings.max_tries)
            else:
                follow = self._next(sorted(tally.retry), run_at, tries=self.tries + 1)
                ctx.metrics.retries.labels(self.provider).inc(len(tally.retry))
                ctx.retry_log.note(self.provider, tally.retry.values(), tries=self.tries,
                                   max_tries=ctx.settings.max_tries, wait=run_at - time.time())
        await self._follow_up(resume, follow)


__all__ = ["DeliveryJob", "Loaded", "collapse_id_for", "delivery_id", "delivery_ids",
           "effective_notification", "load_job", "retry_delay", "with_send_marker"]
