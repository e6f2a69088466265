"""Configuration mistakes a newcomer makes get messages that say what to fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pushgate import FCM, WNS, APNs, Cause, Notification, Status, WebPush
from pushgate.errors import ConfigurationError
from pushgate.providers import Provider
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator

NOTE = Notification(title="hi")


def test_fcm_names_a_missing_service_account_file_and_the_cause(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError) as raised:
        FCM(str(missing))
    assert str(missing) in str(raised.value)
    assert "No such file" in str(raised.value)


def test_fcm_names_a_service_account_file_that_is_not_json(tmp_path: Path) -> None:
    broken = tmp_path / "sa.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigurationError) as raised:
        FCM(broken)
    assert str(broken) in str(raised.value)
    assert "not JSON" in str(raised.value)


def test_apns_says_a_key_is_neither_pem_nor_a_readable_file() -> None:
    with pytest.raises(ConfigurationError) as raised:
        APNs(key="not a key", key_id="ABC123DEFG", team_id="TEAM123456", topic="com.example.app")
    message = str(raised.value)
    assert "neither a PEM key" in message, message
    assert "nor a readable file" in message, message


async def test_an_untrusted_certificate_is_configuration_not_retry(local_ca: LocalCA) -> None:
    """No ca_file for a simulator: the certificate cannot be verified. Retrying
    cannot fix that, so it is a config failure, tried once."""
    async with APNsSimulator(ca=local_ca) as apns_sim, FCMSimulator(ca=local_ca) as fcm_sim, \
            WebPushSimulator(ca=local_ca) as web_sim, WNSSimulator(ca=local_ca) as wns_sim:
        apns_demo, web_demo, wns_demo = (
            apns_sim.demo_credentials(), web_sim.demo_credentials(), wns_sim.demo_credentials())
        clients_and_tokens: list[tuple[Provider[Any, Any], Any]] = [
            (APNs(key=apns_demo["key"], key_id=apns_demo["key_id"], team_id=apns_demo["team_id"],
                  topic=apns_demo["topic"], base_url=apns_sim.url, max_retries=2), apns_sim.issue_token()),
            (FCM(fcm_sim.demo_credentials()["service_account"], base_url=fcm_sim.url, max_retries=2),
             fcm_sim.issue_token()),
            (WebPush(vapid_private_key=web_demo["vapid_private_key"], vapid_subject=web_demo["vapid_subject"],
                     base_url=web_sim.url, max_retries=2), web_sim.issue_token()),
            (WNS(client_id=wns_demo["client_id"], client_secret=wns_demo["client_secret"],
                 base_url=wns_sim.url, max_retries=2), wns_sim.issue_token()),
        ]
        for client, token in clients_and_tokens:
            async with client:
                (result,) = list(await client.send(NOTE, [token]))
            assert (result.status, result.cause, result.attempts) == (Status.FAILED, Cause.CONFIG, 1), (
                client, result)
            assert "certificate" in (result.detail or result.reason or "").lower(), result
