"""Tokens a simulator never issued are refused as the real service refuses them.

A token is known when the simulator issued it (its control API, or its
device / browser side) or it was registered through the control API.
``accept_any_token=True`` (``--accept-any-token``) accepts any well-formed
token, for benchmarks and tests that need volume without set-up.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from pushgate import FCM, WNS, APNs, Notification, Status, WebPush
from pushgate.cli import app
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.tls import LocalCA
from pushgate.simulators.webpush import WebPushSimulator
from pushgate.simulators.wns import WNSSimulator

NOTE = Notification(title="hi", body="there")
MADE_UP_APNS = "ab" * 32


def _apns(sim: APNsSimulator, ca_file: Path) -> APNs:
    demo = sim.demo_credentials()
    return APNs(key=demo["key"], key_id=demo["key_id"], team_id=demo["team_id"], topic=demo["topic"],
                base_url=sim.url, ca_file=ca_file, max_retries=0)


def _ca(local_ca: LocalCA, tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    local_ca.write_ca(path)
    return path


async def test_apns_refuses_a_token_it_never_issued(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with APNsSimulator(ca=local_ca) as sim, _apns(sim, ca_file) as client:
        known = sim.issue_token()
        result = list(await client.send(NOTE, [known, MADE_UP_APNS]))
    assert result[0].status is Status.SENT
    assert (result[1].status, result[1].reason, result[1].http_status) == (Status.DEAD, "BadDeviceToken", 400)


async def test_apns_accepts_any_well_formed_token_when_told(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with APNsSimulator(ca=local_ca, accept_any_token=True) as sim, _apns(sim, ca_file) as client:
        result = list(await client.send(NOTE, [MADE_UP_APNS]))
    assert result[0].status is Status.SENT


async def test_fcm_refuses_a_token_it_never_issued(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with FCMSimulator(ca=local_ca) as sim:
        account = sim.demo_credentials()["service_account"]
        async with FCM(account, base_url=sim.url, ca_file=ca_file, max_retries=0) as client:
            result = list(await client.send(NOTE, [sim.issue_token(), "not-a-real-token"]))
    assert result[0].status is Status.SENT
    assert result[1].status is not Status.SENT
    assert result[1].http_status == 400
    assert "INVALID_ARGUMENT" in (result[1].reason or "")


async def test_fcm_accepts_any_well_formed_token_when_told(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with FCMSimulator(ca=local_ca, accept_any_token=True) as sim:
        account = sim.demo_credentials()["service_account"]
        async with FCM(account, base_url=sim.url, ca_file=ca_file, max_retries=0) as client:
            result = list(await client.send(NOTE, ["not-a-real-token"]))
    assert result[0].status is Status.SENT


async def test_wns_answers_404_for_a_channel_it_never_issued(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with WNSSimulator(ca=local_ca) as sim:
        demo = sim.demo_credentials()
        async with WNS(client_id=demo["client_id"], client_secret=demo["client_secret"],
                       base_url=sim.url, ca_file=ca_file, max_retries=0) as client:
            result = list(await client.send(NOTE, [sim.issue_token(), sim.channel_uri("made-up")]))
    assert result[0].status is Status.SENT
    assert (result[1].status, result[1].http_status) == (Status.DEAD, 404)


async def test_wns_accepts_any_channel_when_told(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with WNSSimulator(ca=local_ca, accept_any_token=True) as sim:
        demo = sim.demo_credentials()
        async with WNS(client_id=demo["client_id"], client_secret=demo["client_secret"],
                       base_url=sim.url, ca_file=ca_file, max_retries=0) as client:
            result = list(await client.send(NOTE, [sim.channel_uri("made-up")]))
    assert result[0].status is Status.SENT


async def test_webpush_answers_404_for_an_endpoint_it_never_issued(local_ca: LocalCA, tmp_path: Path) -> None:
    ca_file = _ca(local_ca, tmp_path)
    async with WebPushSimulator(ca=local_ca) as sim:
        demo = sim.demo_credentials()
        real: dict[str, Any] = sim.issue_token()
        made_up = dict(real, endpoint=f"{sim.url}/wpush/made-up-subscription")
        async with WebPush(vapid_private_key=demo["vapid_private_key"], vapid_subject=demo["vapid_subject"],
                           base_url=sim.url, ca_file=ca_file, max_retries=0) as client:
            result = list(await client.send(NOTE, [real, made_up]))
    assert result[0].status is Status.SENT
    assert (result[1].status, result[1].http_status) == (Status.DEAD, 404)


async def test_the_control_api_switches_accept_any_token(local_ca: LocalCA, tmp_path: Path) -> None:
    verify = ssl.create_default_context(cafile=_ca(local_ca, tmp_path))
    async with APNsSimulator(ca=local_ca) as sim, httpx.AsyncClient(verify=verify) as http:
        answer = await http.post(f"{sim.url}/__control/accept_any_token", json={"accept": True})
        assert answer.status_code == 200, answer.text
        assert sim.accept_any_token is True


def test_simulate_has_an_accept_any_token_option() -> None:
    result = CliRunner().invoke(app, ["simulate", "--help"], env={"COLUMNS": "200"})
    assert "--accept-any-token" in result.output
