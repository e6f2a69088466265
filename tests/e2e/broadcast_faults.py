"""A broadcast with a fault in the middle, and the checks every fault scenario shares.

Used by tests/e2e/test_e2e_fault_matrix.py (provider faults from the
simulators' control API) and tests/e2e/test_e2e_restarts.py (the database
or Redis restarted). A scenario registers ``devices`` devices spread over
the four provider simulators, posts one broadcast (``{"all": true}``) and
``DIRECT_SENDS`` direct sends (``{"tokens": [...]}``), injects its fault
when the simulators have accepted a fraction of the broadcast, and waits —
polling the API, with a deadline — until every send is ``done``. Then:

- every send's counters add up: targeted = sent + failed + dead + expired +
  cancelled, and pending is 0;
- every targeted device has exactly one delivery row, in a final state
  (a ``failed`` one with a reason);
- from the simulators' read-back (every notification carries its send's
  tag in its title): every device recorded ``sent`` was accepted at least
  once — nothing recorded sent was lost — and how many (send, device)
  pairs were accepted twice is reported.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from pushgate.registry import Database
from pushgate.simulators._base import Simulator
from tests.e2e.e2e_helpers import Gateway, credentials_for, wait_for
from tests.e2e.test_e2e_scale_out_proof import Ledger, Send, device_specs

FINAL = ("sent", "failed", "dead", "expired", "cancelled")
DIRECT_SENDS = 3
DIRECT_SIZE = 40  # devices each direct send names


@dataclass
class Device:
    provider: str
    token: str  # what the registry stores (Web Push: the endpoint; WNS: the channel URI)
    spec: dict[str, Any]


@dataclass
class Audience:
    devices: list[Device]
    ledger: Ledger
    by_token: dict[str, Device] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_token = {device.token: device for device in self.devices}


def make_audience(sims: dict[str, Simulator], count: int) -> Audience:
    """``count`` devices, a quarter on each simulator, each a device the simulator knows."""
    specs, wns_uri = device_specs(sims, count)
    return Audience([Device(provider, token, spec) for provider, token, spec in specs], Ledger(sims, wns_uri))


async def set_up_app(api: Gateway, sims: dict[str, Simulator], audience: Audience) -> dict[str, str]:
    """An app with every simulator's credentials and the audience's devices; its auth headers."""
    app_id, auth = await api.create_app(f"faults-{secrets.token_hex(3)}")
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    await api.import_devices(auth, [device.spec for device in audience.devices])
    return auth


def notification(tag: int, ttl: int | None) -> dict[str, Any]:
    # The tag is what the read-back counts by (Ledger.TAG: "pg-send-<n>").
    return {"title": f"pg-send-{tag:04d}", "body": "fault matrix", **({"ttl": ttl} if ttl else {})}


@dataclass
class Outcome:
    """What a scenario ended with: per-status totals over its sends, and the read-back."""

    counts: Counter[str]
    reasons: Counter[str]  # (status: reason) of the rows not sent
    deliveries: int
    duplicates: int
    duplicated_on: Counter[str]  # provider → (send, device) pairs accepted more than once
    accepted_at_fault: int
    seconds: float

    def row(self, name: str) -> str:
        cells = [str(self.counts[k]) for k in FINAL]
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.reasons.items())) or "-"
        return (f"| {name} | {self.deliveries} | {self.accepted_at_fault} | " + " | ".join(cells)
                + f" | {self.duplicates} | {reasons} | {self.seconds:.0f} s |")


async def accepted_at_least(ledger: Ledger, wanted: float, within: float = 120) -> int:
    async def probe() -> int:
        return ledger.accepted_total()

    count: int = await wait_for(probe, lambda n: n >= wanted, within, "the simulators stopped accepting",
                                interval=0.005)
    return count


async def post_sends(api: Gateway, auth: dict[str, str], audience: Audience, ttl: int | None) -> list[Send]:
    """The broadcast (tag 0), then DIRECT_SENDS sends to DIRECT_SIZE random tokens (tags 1…)."""
    every = {device.token for device in audience.devices}
    answer = await api.send(auth, notification(0, ttl), {"all": True})
    assert answer["targeted"] == len(audience.devices), answer
    sends = [Send(0, answer["id"], every)]
    chooser = secrets.SystemRandom()
    for tag in range(1, DIRECT_SENDS + 1):
        # Tokens: Web Push devices are named by their subscription, not a token.
        named = [d.token for d in chooser.sample(audience.devices, DIRECT_SIZE) if d.provider != "webpush"]
        answer = await api.send(auth, notification(tag, ttl), {"tokens": named})
        assert answer["targeted"] == len(named), answer
        sends.append(Send(tag, answer["id"], set(named)))
    return sends


async def run_scenario(
    database_url: str, api: Callable[[], Gateway], auth: dict[str, str], audience: Audience,
    fault: Callable[[], Awaitable[None]], *, at: float = 0.3, ttl: int | None = None,
    within: float = 90.0,
) -> Outcome:
    """Broadcast, direct sends, ``fault()`` once ``at`` of the broadcast was accepted, wait, check.

    ``api()`` is called for every request, so a scenario may replace the server
    (a restart) and the checks go to the new one.
    """
    began = time.monotonic()
    ledger = audience.ledger
    sends = await post_sends(api(), auth, audience, ttl)
    accepted = await accepted_at_least(ledger, at * len(audience.devices))
    assert accepted < len(audience.devices), "the broadcast finished before the fault"
    await fault()
    statuses = [await _wait_final(api, auth, send.id, within) for send in sends]
    counts: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for send, status in zip(sends, statuses, strict=True):
        assert status["pending"] == 0, status
        assert status["targeted"] == len(send.targeted), status
        assert status["targeted"] == sum(status[k] for k in FINAL), status
        rows = await api().deliveries(auth, send.id)
        assert len(rows) == status["targeted"], (len(rows), status)
        assert len({row["device_id"] for row in rows}) == len(rows)
        for row in rows:
            assert row["status"] in FINAL, row
            counts[row["status"]] += 1
            if row["status"] != "sent":
                assert row["reason"], f"a {row['status']} delivery without a reason: {row}"
                reasons[f"{row['status']}: {row['reason']}"] += 1
        assert {k: status[k] for k in FINAL} == {k: sum(1 for r in rows if r["status"] == k) for k in FINAL}
    recorded_sent = sent_pairs(database_url, {send.id: send.tag for send in sends})
    received = Counter(ledger.pairs())
    lost = {pair for pair in recorded_sent if pair not in received}
    assert not lost, f"{len(lost)} deliveries recorded sent were never accepted, e.g. {sorted(lost)[:3]}"
    twice = [token for (_, token), count in received.items() if count > 1]
    duplicated_on = Counter(audience.by_token[token].provider for token in twice)
    return Outcome(counts, reasons, sum(len(s.targeted) for s in sends), len(twice), duplicated_on,
                   accepted, time.monotonic() - began)


def sent_pairs(database_url: str, tags: dict[str, int]) -> set[tuple[int, str]]:
    """(send tag, device token) of the deliveries recorded ``sent``."""
    query = sa.text("SELECT r.send_id, d.token FROM deliveries r JOIN devices d ON d.id = r.device_id "
                    "WHERE r.status = 'sent'")
    with Database(database_url) as db, db.connect(write=False) as connection:
        return {(tags[row[0]], row[1]) for row in connection.execute(query) if row[0] in tags}


async def _wait_final(api: Callable[[], Gateway], auth: dict[str, str], send_id: str,
                      within: float) -> dict[str, Any]:
    async def probe() -> dict[str, Any]:
        return await api().status(auth, send_id)

    done: dict[str, Any] = await wait_for(probe, lambda s: s["status"] == "done", within,
                                          f"send {send_id} did not reach a final state", interval=0.2)
    return done


async def settle(seconds: float) -> None:
    """Let the simulators (in this event loop) serve for a moment, e.g. while a server restarts."""
    await asyncio.sleep(seconds)
