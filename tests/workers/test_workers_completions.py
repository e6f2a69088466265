"""Delivery jobs are completed with few writes: in the transaction of their outcomes when the queue is
in the registry's database, else those that finish while a completion is being written together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from pushgate.notification import Notification
from pushgate.queue import Job, JobStatus, SqlQueue
from pushgate.queue.base import CompletionStep
from pushgate.registry import Database, DeliveryStatus, DeviceSpec, Outcome, create_app, register_device
from pushgate.registry.models import Delivery
from pushgate.service import Settings, submit_send
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.completions import JobCompletions
from pushgate.workers.recorder import OutcomeRecorder
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for


class _HeldQueue(SqlQueue):
    """The SQL queue, whose first ``complete`` waits until the test lets it write."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.calls: list[list[str]] = []

    def complete(self, ids: Sequence[str]) -> int:
        self.calls.append(list(ids))
        if len(self.calls) == 1:
            self.entered.set()
            self.release.wait(10)
        return super().complete(ids)


def _claimed(queue: SqlQueue, count: int) -> list[str]:
    queue.enqueue([Job(f"job-{n}", "deliver:apns:direct", {"n": n}) for n in range(count)])
    return [job.id for job in queue.claim(["deliver:apns:direct"], worker="w", limit=count, lease_seconds=60)]


@pytest.mark.asyncio
async def test_jobs_finishing_during_a_completion_are_written_in_one_more_transaction(
    database: Database,
) -> None:
    queue = _HeldQueue(database)
    ids = _claimed(queue, 6)
    completions = JobCompletions(queue)
    first = asyncio.ensure_future(completions.complete(ids[0]))
    await asyncio.to_thread(queue.entered.wait, 10)  # the first one is being written, at once
    others = [asyncio.ensure_future(completions.complete(job_id)) for job_id in ids[1:]]
    await asyncio.sleep(0)
    assert not any(task.done() for task in [first, *others])
    queue.release.set()
    await asyncio.wait_for(asyncio.gather(first, *others), 10)
    assert queue.calls == [ids[:1], ids[1:]]
    assert completions.writes == 2
    assert {queue.get(job_id).status for job_id in ids} == {JobStatus.DONE}  # type: ignore[union-attr]


@pytest.mark.asyncio
async def test_a_failed_write_fails_the_completions_it_held_and_the_next_ones_go_on(
    database: Database,
) -> None:
    queue = _FailingOnce(database)
    ids = _claimed(queue, 2)
    completions = JobCompletions(queue)
    with pytest.raises(RuntimeError, match="database gone"):
        await completions.complete(ids[0])
    await completions.complete(ids[1])
    assert queue.get(ids[1]).status == JobStatus.DONE  # type: ignore[union-attr]
    assert queue.get(ids[0]).status == JobStatus.LEASED  # type: ignore[union-attr]


class _FailingOnce(SqlQueue):
    failed = False

    def complete(self, ids: Sequence[str]) -> int:
        if not self.failed:
            self.failed = True
            raise RuntimeError("database gone")
        return super().complete(ids)


def _direct_send(db: Database, queue: SqlQueue) -> tuple[str, str, int]:
    """A send to one token, its delivery job claimed: (send id, job id, device id)."""
    token = "ab" * 32
    with db.session() as session:
        app, _ = create_app(session, "shop")
        device_id = register_device(session, app.id, DeviceSpec("apns", token)).id
    send = submit_send(db, queue, Settings(), app.id, Notification(title="Code 123456"), {"tokens": [token]})
    [job] = queue.claim(["deliver:apns:direct"], worker="w", limit=1, lease_seconds=60)
    return send.response["id"], job.id, device_id


def _delivered(db: Database, send_id: str) -> list[str]:
    with db.session(write=False) as session:
        return [row.status for row in session.query(Delivery).filter_by(send_id=send_id)]


@pytest.mark.asyncio
async def test_a_job_is_completed_in_the_transaction_that_writes_its_outcome(database: Database) -> None:
    queue = SqlQueue(database)
    send_id, job_id, device_id = _direct_send(database, queue)
    recorder = OutcomeRecorder(database, completion_step=queue.completion_step(database))
    assert recorder.completes_jobs
    recorder.start()
    try:
        recorder.add(send_id, "apns", Outcome(device_id, DeliveryStatus.SENT, message_id="m-1"))
        await asyncio.wait_for(recorder.complete(job_id), 10)
        assert recorder.transactions == 1  # the outcome and the completion: one write
        assert _delivered(database, send_id) == ["sent"]
        assert queue.get(job_id).status == JobStatus.DONE  # type: ignore[union-attr]
    finally:
        await recorder.aclose()


@pytest.mark.asyncio
async def test_a_completion_written_alone_leaves_the_outcomes_mark_where_it_was(database: Database) -> None:
    """A job whose outcomes were flushed already is completed in a batch of no outcomes; a later
    flush (a stopping worker's) still sees every outcome written."""
    queue = SqlQueue(database)
    send_id, job_id, device_id = _direct_send(database, queue)
    recorder = OutcomeRecorder(database, completion_step=queue.completion_step(database))
    recorder.start()
    try:
        recorder.add(send_id, "apns", Outcome(device_id, DeliveryStatus.SENT, message_id="m-1"))
        await asyncio.wait_for(recorder.flush(), 10)
        await asyncio.wait_for(recorder.complete(job_id), 10)
        await asyncio.wait_for(recorder.flush(), 10)
        assert (recorder.transactions, recorder.written) == (2, 1)
        assert queue.get(job_id).status == JobStatus.DONE  # type: ignore[union-attr]
    finally:
        await asyncio.wait_for(recorder.aclose(), 10)


@pytest.mark.asyncio
async def test_an_outcome_and_its_completion_commit_together_or_not_at_all(database: Database) -> None:
    """A failed write keeps neither; the retry writes both (a leased job with its outcome recorded
    would be harmless, a done job without it would lose the delivery: neither can happen)."""
    queue = SqlQueue(database)
    send_id, job_id, device_id = _direct_send(database, queue)
    step = queue.completion_step(database)
    assert step is not None
    seen: list[list[str]] = []

    def failing_once(cursor: object, ids: Sequence[str]) -> int:
        if not seen:
            seen.append(list(ids))
            raise RuntimeError("database gone")
        return step(cursor, ids)

    recorder = OutcomeRecorder(database, completion_step=failing_once, retry=0)
    recorder.start()
    try:
        recorder.add(send_id, "apns", Outcome(device_id, DeliveryStatus.SENT, message_id="m-1"))
        await asyncio.wait_for(recorder.complete(job_id), 10)
        assert seen == [[job_id]]  # the first write failed in its completion step
        assert recorder.transactions == 1
        assert _delivered(database, send_id) == ["sent"]
        assert queue.get(job_id).status == JobStatus.DONE  # type: ignore[union-attr]
    finally:
        await recorder.aclose()


def test_a_queue_elsewhere_offers_no_completion_step(database: Database, tmp_path: Path) -> None:
    other = Database(f"sqlite:///{tmp_path}/elsewhere.db")
    try:
        assert SqlQueue(other).completion_step(database) is None
        step: CompletionStep | None = SqlQueue(database).completion_step(database)
        assert step is not None
    finally:
        other.dispose()


@pytest.mark.asyncio
async def test_a_direct_send_through_the_pool_writes_its_outcome_and_completion_at_once(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """The job's outcome is not flushed on its own before the completion: one write after the claim."""
    app_id, [(_, token)] = make_app(database, apns, 1)
    settings = settings_for(database, apns, ca_file)
    queue = SqlQueue(database)
    code = Notification(title="Code 123456")
    send = submit_send(database, queue, settings, app_id, code, {"tokens": [token]})
    send_id = send.response["id"]
    async with running_pool(settings, database) as pool:
        await eventually(lambda: queue.get(f"{send_id}:0").status == JobStatus.DONE,  # type: ignore[union-attr]
                         what="the job done")
        recorder = pool.ctx.recorder
        assert (recorder.transactions, recorder.written) == (1, 1)
    assert _delivered(database, send_id) == ["sent"]
    assert len(apns.accepted) == 1
