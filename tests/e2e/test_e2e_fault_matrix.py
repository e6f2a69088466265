"""The fault matrix: provider faults in the middle of a broadcast, and every delivery ends final.

One ``pushgate serve`` process (its own SQLite database, one worker) sends a
broadcast to ``DEVICES`` devices over the four provider simulators, plus a
few direct sends; when the simulators have accepted a third of the
broadcast, a fault is injected through their control API
(docs/simulators.md §1.3): 429 with Retry-After (a short one, and a huge one
that ``max_retry_delay`` caps or the notification's expiry ends), 500 and
503, HTTP/2 GOAWAY, dropped connections and reset streams, a provider slower
than the request timeout, credentials revoked mid-send. The checks are
tests/e2e/broadcast_faults.py's: every send ``done``, counters that add up,
one final delivery row per targeted device (``failed`` ones with a reason),
and nothing recorded ``sent`` that the simulators did not accept. The
results table is in docs/scale-out.md §8.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pushgate.simulators._base import Fault, Simulator
from pushgate.simulators.apns import APNsSimulator
from pushgate.simulators.fcm import FCMSimulator
from pushgate.simulators.wns import WNSSimulator
from tests.e2e.broadcast_faults import Outcome, make_audience, run_scenario, set_up_app
from tests.e2e.e2e_helpers import GatewayFor, StartServer, StartSimulators, sim_of

DEVICES = 2000  # a quarter per provider: the broadcast takes a few seconds, so faults land mid-way

pytestmark = [pytest.mark.slow]
# The providers' push requests (docs/simulators.md §2-§5), not their token endpoints.
PUSH_PATH = {"apns": "/3/device/", "fcm": "/messages:send", "webpush": "/wpush/", "wns": "?token="}


@dataclass
class Scenario:
    id: str
    name: str
    inject: Callable[[dict[str, Simulator]], Awaitable[None] | None]
    settings: dict[str, Any]
    ttl: int | None = None


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _status_faults(sims: dict[str, Simulator], status: int, count: int, retry_after: str | None) -> None:
    headers = [("retry-after", retry_after)] if retry_after is not None else []
    apns_reason = {429: "TooManyRequests", 500: "InternalServerError", 503: "ServiceUnavailable"}[status]
    # Each on the push path only (not the OAuth token endpoints), so `count` pushes get it.
    sims["apns"].queue_fault(Fault(status=status, body=_json({"reason": apns_reason}), headers=headers,
                                   count=count, path_contains=PUSH_PATH["apns"]))
    if "fcm" in sims:
        sim_of(sims, "fcm", FCMSimulator).inject_error(status, count=count, retry_after=retry_after)
    sims["webpush"].queue_fault(Fault(status=status, headers=headers, count=count,
                                      path_contains=PUSH_PATH["webpush"]))
    # WNS throttles with 406 (docs/protocols/wns.md); its 500 and 503 are retried.
    sims["wns"].queue_fault(Fault(status=406 if status == 429 else status, headers=headers, count=count,
                                  path_contains=PUSH_PATH["wns"]))


def rate_limited(retry_after: str) -> Callable[[dict[str, Simulator]], None]:
    return lambda sims: _status_faults(sims, 429, 50, retry_after)


def rate_limited_but_fcm(sims: dict[str, Simulator]) -> None:
    # FCM's 429 (QUOTA_EXCEEDED) waits at least 60 s whatever Retry-After says
    # (docs/protocols/fcm.md §5): it is in the capped scenario, not here.
    _status_faults({k: v for k, v in sims.items() if k != "fcm"}, 429, 50, "1")


def server_errors(sims: dict[str, Simulator]) -> None:
    _status_faults(sims, 500, 30, None)
    _status_faults(sims, 503, 30, None)


def goaway(sims: dict[str, Simulator]) -> None:
    # HTTP/2 providers only: APNs with its JSON reason, FCM with a bare GOAWAY (RFC 9113 §6.8).
    sim_of(sims, "apns", APNsSimulator).queue_goaway("Shutdown", count=3)
    sims["fcm"].queue_fault(Fault(action="goaway", count=3, path_contains=PUSH_PATH["fcm"]))


def connection_resets(sims: dict[str, Simulator]) -> None:
    for name in ("apns", "fcm"):
        sims[name].queue_fault(Fault(action="reset", count=5, path_contains=PUSH_PATH[name]))  # RST_STREAM
        sims[name].queue_fault(Fault(action="drop", count=2, path_contains=PUSH_PATH[name]))  # TCP closed
    for name in ("webpush", "wns"):
        sims[name].queue_fault(Fault(action="drop", count=5, path_contains=PUSH_PATH[name]))


async def slow_apns(sims: dict[str, Simulator]) -> None:
    # Slower than the request timeout (0.5 s) for 1.5 s: the requests in flight time out and
    # are retried; the simulator still accepts the late ones, so these devices may get it twice.
    sims["apns"].set_latency(2.0)
    await asyncio.sleep(1.5)  # how long the provider stays slow (the simulators serve meanwhile)
    sims["apns"].set_latency(0.0)


def revoke_credentials(sims: dict[str, Simulator]) -> None:
    apns = sim_of(sims, "apns", APNsSimulator)
    apns.revoke_key(apns.demo_credentials()["key_id"])  # for good: InvalidProviderToken
    sim_of(sims, "fcm", FCMSimulator).revoke_access_tokens()  # the client gets a new OAuth token
    sim_of(sims, "wns", WNSSimulator).revoke_tokens()  # likewise


SCENARIOS = [
    Scenario("429-short", "429, Retry-After 1 s (APNs, Web Push, WNS)", rate_limited_but_fcm, {}),
    # More tries than faults: once the broadcast's other requests are done, the last few
    # retried devices share the 50 faults, and with the default 10 tries a slow run ended
    # some of them failed (TooManyRequests) instead of sent.
    Scenario("429-huge-capped", "429, Retry-After 999999 s, capped by max_retry_delay",
             rate_limited("999999"), {"max_retry_delay": 2, "max_tries": 60}),
    Scenario("429-huge-expired", "429, Retry-After 999999 s, past the notification's expiry",
             rate_limited("999999"), {}, ttl=60),
    Scenario("5xx", "500 and 503", server_errors, {}),
    Scenario("goaway", "GOAWAY mid-stream", goaway, {}),
    Scenario("resets", "connection resets", connection_resets, {}),
    Scenario("slow", "APNs slower than the request timeout", slow_apns,
             {"providers__apns__request_timeout": 0.5}),
    Scenario("revoked", "credentials revoked mid-send", revoke_credentials, {"max_credentials_wait": 3}),
]

RESULTS: dict[str, Outcome] = {}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
async def test_a_fault_mid_broadcast_leaves_no_delivery_pending(
    scenario: Scenario, tmp_path: Path, start_simulators: StartSimulators, start_server: StartServer,
    gateway_for: GatewayFor,
) -> None:
    sims = await start_simulators(fcm={"max_accepted": None})
    audience = make_audience(sims, DEVICES)
    database_url = f"sqlite:///{tmp_path / 'pushgate.db'}"
    server = await start_server(database_url, sims, **scenario.settings)
    api = gateway_for(server)
    auth = await set_up_app(api, sims, audience)

    async def fault() -> None:
        result = scenario.inject(sims)
        if result is not None:
            await result

    outcome = await run_scenario(database_url, lambda: api, auth, audience, fault, ttl=scenario.ttl)
    RESULTS[scenario.name] = outcome
    print("\n" + outcome.row(scenario.name))
    if scenario.id == "revoked":
        # APNs refuses the revoked key for good: the rest of its deliveries end failed with
        # APNs' reason once max_credentials_wait is over; FCM and WNS get new access tokens.
        assert set(outcome.reasons) == {"failed: InvalidProviderToken"}, outcome
        assert outcome.counts["failed"] > 0, outcome
        assert set(outcome.counts) == {"sent", "failed"}, outcome
        assert not outcome.duplicates, outcome
        return
    expected_final = {"sent"} if scenario.ttl is None else {"sent", "expired"}
    assert set(outcome.counts) <= expected_final, outcome
    if scenario.id == "slow":
        # Only requests the client gave up on (timed out) can have reached a device twice.
        assert set(outcome.duplicated_on) <= {"apns"}, outcome
        return
    if scenario.ttl is not None:
        # Each 429 of the fault ended its delivery at once: its next try would come after the
        # notification's expiry (the capped 300 s > the 60 s TTL).
        assert outcome.counts["expired"] > 0, outcome
        assert set(outcome.reasons) == {"expired: Expired"}, outcome
    assert outcome.duplicates == 0, outcome
