"""`pushgate send`: every target filter and notification field the API takes, and --wait's counters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.registry import get_send_status
from pushgate.registry.db import Database
from tests.server.api_helpers import make_secrets


def run(url: str, *args: str) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": None,
           "COLUMNS": "200"}
    return CliRunner().invoke(cli, list(args), env=env)


APNS_VIP = "ab" * 32
APNS_OTHER = "cd" * 32
FCM_VIP = "fcm-vip-token-0123456789:APA91bExample"


@pytest.fixture
def shop(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run(url, "app", "create", "shop").exit_code == 0
    devices = tmp_path / "devices.json"
    devices.write_text(json.dumps([
        {"provider": "apns", "token": APNS_VIP, "platform": "ios", "user": "alice", "tags": ["vip"]},
        {"provider": "apns", "token": APNS_OTHER, "platform": "ios", "user": "bob"},
        {"provider": "fcm", "token": FCM_VIP, "platform": "android", "user": "carol", "tags": ["vip"]},
    ]))
    imported = run(url, "devices", "import", "--app", "shop", str(devices))
    assert imported.exit_code == 0, imported.output
    return url


def _send_id(result: Result) -> str:
    return result.output.split("send ", 1)[1].split(":", 1)[0]


def test_tags_platforms_providers_and_fields(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--all", "--tag", "vip", "--platform", "ios",
                 "--provider", "apns", "--title", "Hi", "--badge", "3", "--url", "https://shop.example/o/42",
                 "--data", '{"order": 42}')
    assert result.exit_code == 0, result.output
    assert "1 device targeted" in result.output


def test_send_at_schedules(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--all", "--title", "Later",
                 "--send-at", "2099-01-01T09:00:00Z")
    assert result.exit_code == 0, result.output
    with Database(shop) as db, db.session(write=False) as session:
        view = get_send_status(session, _send_id(result))
    assert view is not None
    assert view.send_at is not None
    assert view.send_at.year == 2099


def test_a_send_at_already_gone_names_the_option(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--all", "--title", "Later",
                 "--send-at", "2020-01-01T09:00:00Z")  # a wrong year
    assert result.exit_code == 1, result.output
    assert "--send-at: is in the past (2020-01-01T09:00:00+00:00" in result.output
    assert "omit --send-at to send now" in result.output
    # Up to a minute behind this clock is "now": sent, and not said to be scheduled.
    just = (datetime.now(UTC) - timedelta(seconds=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
    now = run(shop, "send", "--app", "shop", "--all", "--title", "Now", "--send-at", just)
    assert now.exit_code == 0, now.output
    assert "3 devices targeted\n" in now.output


def test_wait_shows_sent_failed_dead_and_total(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--user", "alice", "--title", "Hi",
                 "--wait", "--timeout", "1")
    assert result.exit_code == 4, result.output  # no workers here: not finished in time
    for word in ("sent", "failed", "dead", "total"):
        assert word in result.output, result.output


def test_topic_and_condition_send_one_fcm_message(shop: str, tmp_path: Path) -> None:
    no_fcm = run(shop, "send", "--app", "shop", "--topic", "deals", "--title", "Sale")
    assert no_fcm.exit_code != 0
    assert "FCM credentials" in no_fcm.output
    account = tmp_path / "service-account.json"
    account.write_text(make_secrets().fcm["service_account"])
    assert run(shop, "app", "credentials", "shop", "fcm", "--file", str(account)).exit_code == 0
    result = run(shop, "send", "--app", "shop", "--topic", "deals", "--title", "Sale")
    assert result.exit_code == 0, result.output
    assert "1 device targeted" in result.output
    condition = run(shop, "send", "--app", "shop", "--condition", "'a' in topics || 'b' in topics",
                    "--title", "Sale")
    assert condition.exit_code == 0, condition.output
    with Database(shop) as db, db.session(write=False) as session:
        view = get_send_status(session, _send_id(result))
    assert view is not None
    assert view.targeted == 0  # counted by fan-out, which a worker runs
    both = run(shop, "send", "--app", "shop", "--topic", "deals", "--all", "--title", "Sale")
    assert both.exit_code == 2
    bad = run(shop, "send", "--app", "shop", "--topic", "no spaces", "--title", "Sale")
    assert bad.exit_code != 0
    assert "target.topic" in bad.output


def test_a_target_matching_no_device_says_why(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--token", "ef" * 32, "--title", "Hi")
    assert result.exit_code == 0, result.output
    assert "0 devices targeted" in result.output
    assert "no active device of the app matches this target" in result.output
    found = run(shop, "send", "--app", "shop", "--token", APNS_VIP, "--title", "Hi")
    assert "no active device" not in found.output
