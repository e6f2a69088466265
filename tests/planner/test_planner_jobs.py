"""The job formats: ids round-trip through JobId, payloads through their JSON."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from pushgate.planner.jobs import (
    DEFERRED_MARK,
    FANOUT_QUEUE,
    RETRY_MARK,
    DeliveryPayload,
    FanoutPayload,
    JobId,
    deliver_queue,
    delivery_job,
    fanout_job,
    follow_up_job,
    job_from_json,
    job_to_json,
)

SEND = "6f1c2a3e-0b7d-4c8e-9f00-112233445566"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        (f"fanout:{SEND}", JobId(SEND, None)),
        (f"{SEND}:0", JobId(SEND, 0)),
        (f"{SEND}:17", JobId(SEND, 17)),
        (f"{SEND}:3~2.0R", JobId(SEND, 3, 2, 0, RETRY_MARK)),
        (f"{SEND}:3~1.1P", JobId(SEND, 3, 1, 1, DEFERRED_MARK)),
        (f"{SEND}:12~10.4R", JobId(SEND, 12, 10, 4, RETRY_MARK)),
        ("s:0~1.1P", JobId("s", 0, 1, 1, DEFERRED_MARK)),
    ],
)
def test_job_ids_round_trip(text: str, parsed: JobId) -> None:
    assert JobId.parse(text) == parsed
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text", ["", "fanout:", SEND, f"{SEND}:", f"{SEND}:x", f"{SEND}:1~", f"{SEND}:1~2R", f"{SEND}:1~2.0X",
             f"{SEND}:1~a.0R", f"{SEND}:1~2.0", f"fanout:{SEND}:1", f":{SEND}"],
)
def test_anything_else_is_not_a_job_id(text: str) -> None:
    with pytest.raises(ValueError, match="not a job id"):
        JobId.parse(text)


def test_the_constructors_make_parseable_ids_and_the_stored_payloads() -> None:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    fanout = fanout_job(SEND, at, max_tries=3)
    assert (fanout.id, fanout.queue, fanout.run_at, fanout.max_tries) == (
        f"fanout:{SEND}", FANOUT_QUEUE, at.timestamp(), 3
    )
    assert fanout.payload == {"send_id": SEND}
    assert FanoutPayload.from_json(fanout.payload) == FanoutPayload(SEND)
    assert JobId.parse(fanout.id) == JobId(SEND, None)

    first = DeliveryPayload(SEND, 7, "fcm", (1, 2, 3))
    job = delivery_job(first, 4, direct=True, max_tries=5)
    direct_fcm = deliver_queue("fcm", direct=True)
    assert (job.id, job.queue, job.size, job.max_tries) == (f"{SEND}:4", direct_fcm, 3, 5)
    # A first job stores no chain fields: the format older processes wrote and read.
    assert job.payload == {"send_id": SEND, "app_id": 7, "provider": "fcm", "device_ids": [1, 2, 3]}
    assert DeliveryPayload.from_json(job.payload) == first

    retry = follow_up_job(job.id, job.queue, first, [2, 3], run_at=99.0, max_tries=5, tries=2, deferrals=0,
                          mark=RETRY_MARK)
    assert (retry.id, retry.queue, retry.run_at, retry.size) == (f"{SEND}:4~2.0R", job.queue, 99.0, 2)
    assert retry.payload == {"send_id": SEND, "app_id": 7, "provider": "fcm", "device_ids": [2, 3],
                             "try": 2, "deferrals": 0, "root": f"{SEND}:4"}
    chained = DeliveryPayload.from_json(retry.payload)
    # A follow-up of a follow-up keeps the chain's root: ids never nest.
    paused = follow_up_job(retry.id, retry.queue, chained, [3], run_at=120.0, max_tries=5, tries=2,
                           deferrals=1, mark=DEFERRED_MARK)
    assert paused.id == f"{SEND}:4~2.1P"
    assert JobId.parse(paused.id) == JobId(SEND, 4, 2, 1, DEFERRED_MARK)
    assert JobId.parse(paused.id).root == chained.root == f"{SEND}:4"

    assert job_from_json(job_to_json(job)) == job
