"""Delivering webhook events: signed batches, retried through the queue, disabled after a failure run.

Events wait in ``webhook_events`` (written with the outcomes,
:mod:`pushgate.registry.webhook_capture`). Every ``webhook_poll_seconds``
each worker process enqueues a drain job for every enabled webhook that has
events waiting — job ids are per webhook and numbered, so the processes
enqueue the same job and the queue keeps one. The job posts the oldest
``webhook_batch_size`` events as one JSON document, signed
(docs/webhooks.md §3 and §4), and deletes them once the endpoint answered 2xx;
it goes on with the next batch, up to ``MAX_BATCHES_PER_JOB``.

Anything else — another status (a 3xx included: redirects are not
followed), a timeout, a connection refused by the SSRF rules — is a failure:
it is counted on the webhook (``consecutive_failures``, ``last_error``) and
the job goes back to the queue with an exponential backoff with jitter, so
the events stay put and a worker crash only means they are sent again (at
least once; receivers deduplicate by event id). After
``webhook_max_failures`` failures in a row the webhook is disabled with the
reason on ``GET /v1/webhooks``; it stops collecting events until it is
enabled again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
from typing import TYPE_CHECKING

from pushgate import __version__
from pushgate.planner.jobs import webhook_job
from pushgate.queue import ClaimedJob, Queue
from pushgate.registry.credential_cipher import CredentialCipher
from pushgate.registry.db import Database
from pushgate.registry.webhooks import (
    Batch,
    acknowledge,
    due_webhooks,
    finish_job,
    load_batch,
    record_failure,
)
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.service.webhook_guard import AddressPolicy, Resolver, system_resolver

if TYPE_CHECKING:
    import httpx

    from pushgate.workers.context import WorkerContext

logger = logging.getLogger("pushgate.workers")
MAX_BATCHES_PER_JOB = 20  # then the job ends and the next one queues behind other work
TIMESTAMP_HEADER = "Pushgate-Timestamp"
SIGNATURE_HEADER = "Pushgate-Signature"
BATCH_HEADER = "Pushgate-Batch"


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 keyed with the secret over ``<timestamp>.<body>`` (docs/webhooks.md §4)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def signatures(secrets: tuple[str, ...], timestamp: str, body: bytes) -> str:
    """The header's value: one signature per secret, comma-separated (two during a rotation's grace)."""
    return ",".join(signature(secret, timestamp, body) for secret in secrets)


def batch_body(batch: Batch) -> tuple[str, bytes]:
    """The batch's id and its JSON body. The id hashes the events' ids: the same events, the same id."""
    digest = hashlib.sha256("\n".join(e["id"] for e in batch.events).encode()).hexdigest()
    batch_id = f"whb_{digest[:32]}"
    document = {"id": batch_id, "webhook_id": batch.webhook_id, "app_id": batch.app_id,
                "events": batch.events}
    return batch_id, json.dumps(document, separators=(",", ":")).encode()


def backoff(failures: int, *, base: float, cap: float) -> float:
    """Seconds before the next try after ``failures`` in a row: exponential, capped, half of it jittered.

    The jitter spreads the retries of many webhooks failing together (an
    outage of a receiver) instead of sending them all back at once.
    """
    delay = min(cap, base * 2.0 ** max(0, failures - 1))
    return delay / 2 + random.uniform(0, delay / 2)


class WebhookDispatcher:
    """The webhooks' scheduling and delivery in one worker process (see the module docstring)."""

    def __init__(
        self, settings: Settings, db: Database, queue: Queue, *, cipher: CredentialCipher | None = None,
        resolver: Resolver = system_resolver, metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics
        self.db = db
        self.queue = queue
        self.cipher = cipher if cipher is not None else CredentialCipher.from_settings(settings)
        self.policy = AddressPolicy.from_entries(settings.webhook_allow_hosts)
        self.resolver = resolver  # tests inject their own (a DNS rebinding)
        self.clock = time.time
        self._client: httpx.AsyncClient | None = None

    def _max_tries(self) -> int:
        # The failure run disables the webhook first; the queue's dead letter is the backstop.
        return self.settings.webhook_max_failures + 1

    async def schedule(self) -> int:
        """Enqueue a drain job for each enabled webhook with events waiting; returns how many were new."""
        due = await asyncio.to_thread(due_webhooks, self.db)
        if not due:
            return 0
        jobs = [webhook_job(webhook_id, seq, max_tries=self._max_tries()) for webhook_id, seq in due]
        return await asyncio.to_thread(self.queue.enqueue, jobs)

    async def run(self, ctx: WorkerContext, job: ClaimedJob) -> None:
        webhook_id, job_seq = int(job.payload["webhook_id"]), int(job.payload["job_seq"])
        more = True  # the job ends with its batches used up, and events may still wait
        async with ctx.heartbeat(job):
            for _ in range(MAX_BATCHES_PER_JOB):
                batch = await asyncio.to_thread(load_batch, self.db, webhook_id, self.cipher,
                                                self.settings.webhook_batch_size)
                if batch is None:
                    more = False
                    break
                error = await self.deliver(batch)
                if error is None:
                    await asyncio.to_thread(acknowledge, self.db, webhook_id, batch.event_ids)
                    if self.metrics is not None:
                        self.metrics.webhook_events.inc(len(batch.event_ids))
                    continue
                if await self._failed(job, webhook_id, error):
                    return  # back in the queue, due after the backoff
                more = False  # disabled, or out of tries
                break
        await asyncio.to_thread(finish_job, self.db, webhook_id, job_seq)
        await asyncio.to_thread(self.queue.complete, [job.id])
        if more:  # a backlog (a broadcast's events): the next job now, not at the next poll
            await asyncio.to_thread(self.queue.enqueue,
                                    [webhook_job(webhook_id, job_seq + 1, max_tries=self._max_tries())])
            ctx.notify()

    async def _failed(self, job: ClaimedJob, webhook_id: int, error: str) -> bool:
        """Count the failure; True when the job was put back to try again later."""
        failures, disabled = await asyncio.to_thread(
            record_failure, self.db, webhook_id, error, max_failures=self.settings.webhook_max_failures)
        if disabled:
            logger.warning("webhook %d disabled after %d failures in a row: %s", webhook_id, failures, error)
            return False
        delay = backoff(failures, base=self.settings.webhook_retry_base_seconds,
                        cap=self.settings.webhook_retry_max_seconds)
        logger.info("webhook %d: delivery failed (%s); try %d again in %.1f s", webhook_id, error,
                    failures + 1, delay)
        return await asyncio.to_thread(self.queue.retry, job.id, reason=error, run_at=self.clock() + delay)

    async def deliver(self, batch: Batch) -> str | None:
        """POST one batch; None when the endpoint answered 2xx, else why not."""
        batch_id, body = batch_body(batch)
        timestamp = str(int(self.clock()))
        headers = {
            "Content-Type": "application/json", "User-Agent": f"pushgate-webhooks/{__version__}",
            TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signatures(batch.secrets, timestamp, body),
            BATCH_HEADER: batch_id,
        }
        result, error = await self._post(batch.url, body, headers)
        if self.metrics is not None:
            self.metrics.webhook_posts.labels(result).inc()
        return error

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> tuple[str, str | None]:
        """(the metric's result label, the error or None)."""
        import httpx  # loaded with the first webhook: an idle server stays small (tests/cli)

        client = self._client or self._open()
        try:
            # The answer's body is never read: a 2xx is all a receiver has to say.
            async with client.stream("POST", url, content=body, headers=headers) as response:
                status = response.status_code
        except httpx.TimeoutException:
            return "timeout", f"timed out after {self.settings.webhook_timeout_seconds:g} s"
        except httpx.HTTPError as exc:
            return "connection_error", f"{type(exc).__name__}: {exc}"[:300]
        if 200 <= status < 300:
            return "delivered", None
        if 300 <= status < 400:
            return "http_error", f"HTTP {status}: redirect not followed"
        return "http_error", f"HTTP {status}"

    def _open(self) -> httpx.AsyncClient:
        from pushgate.workers.webhook_http import webhook_client

        self._client = webhook_client(self.policy, ca_file=self.settings.webhook_ca_file,
                                      timeout=self.settings.webhook_timeout_seconds, resolver=self._resolve)
        return self._client

    async def _resolve(self, host: str, port: int) -> list[str]:
        return await self.resolver(host, port)  # looked up per call: a test may swap it

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()


__all__ = ["WebhookDispatcher", "backoff", "batch_body", "signature"]
