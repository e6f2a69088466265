"""Fields users of older libraries look for: client-wide default expiry and
priority (pushjack keeps a message 30 days unless told), and named fields for
APNs ``action-loc-key`` / ``launch-image`` and FCM ``restricted_package_name``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pushgate import FCM, APNs, Notification
from pushgate.notification import Priority
from pushgate.providers.apns.payload import build_payload as apns_payload
from pushgate.providers.fcm.payload import build_message
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA

NOW = datetime(2030, 1, 1, tzinfo=UTC)
THIRTY_DAYS = 30 * 24 * 3600
WEEK = 7 * 24 * 3600


def test_apns_action_loc_key_and_launch_image() -> None:
    note = Notification(title="Hi", action_loc_key="VIEW", launch_image="Default.png")
    alert = json.loads(apns_payload(note, bundle_id="com.example.app", now=NOW).body)["aps"]["alert"]
    assert (alert["action-loc-key"], alert["launch-image"]) == ("VIEW", "Default.png")


def test_fcm_restricted_package_name() -> None:
    message = build_message(Notification(title="Hi", restricted_package_name="com.example.app"), now=NOW)
    assert message["android"]["restricted_package_name"] == "com.example.app"


async def test_client_wide_default_expiry_and_priority(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = local_ca.write_ca(tmp_path / "ca.pem")
    async with APNsSimulator(ca=local_ca) as sim:
        demo = sim.demo_credentials()
        token = sim.issue_token()
        async with APNs(key=demo["key"], key_id=demo["key_id"], team_id=demo["team_id"], topic=demo["topic"],
                        base_url=sim.url, ca_file=ca_file, default_ttl=THIRTY_DAYS,
                        default_priority=Priority.NORMAL) as apns:
            await apns.send(Notification(title="defaults"), [token])
            await apns.send(Notification(title="own", ttl=60, priority=Priority.HIGH), [token])
        first, second = (entry["headers"] for entry in sim.accepted)
    sent_at = datetime.now(UTC).timestamp()
    assert abs(int(first["apns-expiration"]) - (sent_at + THIRTY_DAYS)) < 120
    assert first["apns-priority"] == "5"
    assert abs(int(second["apns-expiration"]) - (sent_at + 60)) < 120  # the notification's own wins
    assert second["apns-priority"] == "10"


async def test_fcm_default_ttl(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = local_ca.write_ca(tmp_path / "ca.pem")
    async with FCMSimulator(ca=local_ca) as sim:
        account = sim.demo_credentials()["service_account"]
        token = sim.issue_token()
        async with FCM(account, base_url=sim.url, ca_file=ca_file, default_ttl=WEEK) as fcm:
            assert (await fcm.send(Notification(title="defaults"), [token])).ok
        (message,) = sim.messages_for(token)
    assert message["message"]["android"]["ttl"] == f"{WEEK}s"  # FCM keeps at most 28 days
