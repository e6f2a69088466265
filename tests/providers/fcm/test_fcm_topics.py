"""Topic subscriptions for tokens, in batches, through the Instance ID API
(``iid.googleapis.com/iid/v1:batchAdd`` / ``:batchRemove``) as firebase-admin
does, against the FCM simulator's implementation of those endpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushgate import FCM
from pushgate.errors import InvalidNotification
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA


async def test_subscribe_and_unsubscribe_tokens_in_batches(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = local_ca.write_ca(tmp_path / "ca.pem")
    async with FCMSimulator(ca=local_ca) as sim:
        account = sim.demo_credentials()["service_account"]
        tokens = [sim.issue_token() for _ in range(5)]
        async with FCM(account, base_url=sim.url, ca_file=ca_file, topic_batch_size=2) as fcm:
            added = await fcm.subscribe_to_topic([*tokens, "never-issued-token"], "/topics/deals")
            assert (added.success_count, added.failure_count) == (5, 1)
            assert [(e.index, e.reason) for e in added.errors] == [(5, "INVALID_ARGUMENT")]
            assert sim.topic_members("deals") == set(tokens)
            assert sim.iid_batches == 3  # 6 tokens, 2 per request
            removed = await fcm.unsubscribe_from_topic(tokens[:2], "deals")
            assert (removed.success_count, removed.failure_count) == (2, 0)
            assert sim.topic_members("deals") == set(tokens[2:])


async def test_a_bad_topic_name_is_refused_before_any_request(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = local_ca.write_ca(tmp_path / "ca.pem")
    async with FCMSimulator(ca=local_ca) as sim:
        account = sim.demo_credentials()["service_account"]
        async with FCM(account, base_url=sim.url, ca_file=ca_file) as fcm:
            with pytest.raises(InvalidNotification, match="topic"):
                await fcm.subscribe_to_topic([sim.issue_token()], "not a topic!")
        assert sim.iid_batches == 0
