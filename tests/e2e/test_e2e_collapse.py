"""Every delivery of a send carries a collapse identifier derived from the send, so a
delivery repeated after a crash replaces the first on the device instead of showing twice.

Observed where the deliveries land: the simulators' read-back of each provider's request.
"""

from __future__ import annotations

import json
from typing import Any

from pushgate.simulators._base import Simulator
from pushgate.workers.delivery import collapse_id_for
from tests.e2e.e2e_helpers import GatewayFor, StartServer, credentials_for
from tests.e2e.test_e2e_delivery import device_specs


def collapse_ids(sims: dict[str, Simulator]) -> dict[str, set[Any]]:
    """What each provider's requests carried as their collapse identifier(s)."""
    fcm = [r["message"] for r in sims["fcm"].accepted]
    return {
        "apns": {r["headers"].get("apns-collapse-id") for r in sims["apns"].accepted},
        "fcm android tag": {m["android"]["notification"].get("tag") for m in fcm},
        "fcm apns-collapse-id": {m["apns"]["headers"].get("apns-collapse-id") for m in fcm},
        "webpush Topic": {r["topic"] for r in sims["webpush"].accepted},
        "webpush tag": {json.loads(r["plaintext"]).get("tag") for r in sims["webpush"].accepted},
        "wns X-WNS-Tag": {r["tag"] for r in sims["wns"].accepted},
    }


def same(value: str) -> dict[str, set[Any]]:
    """Every provider's requests carried ``value`` and nothing else."""
    return {name: {value} for name in COLLAPSE_PLACES}


COLLAPSE_PLACES = ("apns", "fcm android tag", "fcm apns-collapse-id", "webpush Topic", "webpush tag",
                   "wns X-WNS-Tag")


def clear(sims: dict[str, Simulator]) -> None:
    for sim in sims.values():
        sim.accepted.clear()


async def test_every_delivery_carries_a_collapse_id_derived_from_its_send(
    database_url: str, sims: dict[str, Simulator], start_server: StartServer, gateway_for: GatewayFor,
) -> None:
    server = await start_server(database_url, sims)
    api = gateway_for(server)
    app_id, auth = await api.create_app("collapse")
    for provider, config in credentials_for(sims).items():
        await api.put_credentials(app_id, provider, config)
    for spec in device_specs(sims, 2):
        await api.register(auth, spec)

    first = await api.send(auth, {"title": "Sale", "body": "Today"}, {"all": True})
    await api.wait_done(auth, first["id"])
    derived = collapse_id_for(first["id"])
    # Short enough for every provider: WNS X-WNS-Tag ≤ 16 characters, RFC 8030 §5.4 Topic
    # ≤ 32 of the URL-safe base64 alphabet, apns-collapse-id ≤ 64 bytes.
    assert len(derived) == 16
    assert derived.replace("-", "").replace("_", "").isalnum()
    assert collapse_ids(sims) == same(derived)
    # Not FCM's collapse_key: FCM keeps only four collapse keys per offline device
    # (docs/protocols/fcm.md), so a key per send would drop older sends.
    assert all("collapse_key" not in r["message"].get("android", {}) for r in sims["fcm"].accepted)

    clear(sims)
    second = await api.send(auth, {"title": "Sale", "body": "Today"}, {"all": True})
    await api.wait_done(auth, second["id"])
    assert collapse_ids(sims) == same(collapse_id_for(second["id"]))
    assert collapse_id_for(second["id"]) != derived

    clear(sims)  # a caller's own collapse key wins
    third = await api.send(auth, {"title": "Sale", "collapse_key": "sale"}, {"all": True})
    await api.wait_done(auth, third["id"])
    assert collapse_ids(sims) == same("sale")
