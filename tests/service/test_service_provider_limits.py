"""Per-provider limits at the service level: topic sends, unlimited providers, lanes added up."""

from __future__ import annotations

import pytest

from pushgate.errors import Backpressure
from pushgate.planner.jobs import deliver_queue
from pushgate.queue import Job, SqlQueue
from pushgate.registry import Database, Target
from pushgate.service.provider_limits import admit_providers, provider_depths
from pushgate.service.settings import Settings


def test_an_fcm_topic_send_is_refused_only_by_fcms_limit(database: Database) -> None:
    queue = SqlQueue(database)
    queue.enqueue([Job("held:1", deliver_queue("fcm"), {}, size=3),
                   Job("held:2", deliver_queue("apns", direct=True), {}, size=5),
                   Job("held:3", "fanout", {}, size=1)])
    assert provider_depths(queue) == {"fcm": 3, "apns": 5}
    topic = Target.parse({"topic": "deals"})

    with pytest.raises(Backpressure) as refused:
        admit_providers(database, queue, Settings(max_provider_queue_depth={"fcm": 3}), 1, topic)
    assert (refused.value.depth, refused.value.limit) == (3, 3)
    admit_providers(database, queue, Settings(max_provider_queue_depth={"fcm": 4}), 1, topic)
    admit_providers(database, queue, Settings(max_provider_queue_depth={"apns": 1}), 1, topic)
    admit_providers(database, queue, Settings(), 1, Target.parse({"all": True}))  # no limits: no query
