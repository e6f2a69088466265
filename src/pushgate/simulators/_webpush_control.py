"""The Web Push simulator's control routes (``/__control/<name>``, JSON).

Each route is a thin wrapper over the simulator method of the same purpose,
so tests, the demo and curl drive it the same way:

- ``POST subscribe``     ``{"application_server_key": "<b64url>"?, "expiration_time": <ms>?}``
  → the subscription's ``toJSON()`` form
- ``POST unsubscribe`` / ``POST expire``  ``{"subscription": "<endpoint or id>"}``
- ``POST state``         ``{"subscription": ..., "state": "active"|"unsubscribed"|"expired"}``
- ``POST online``        ``{"online": true|false, "subscription": ...?}`` (the browser)
- ``POST rate_limit``    ``{"limit": n|null, "window": seconds, "subscription": ...?}``
- ``POST mode``          ``{"mode": "autopush"|"apple"|"fcm"}``
- ``POST options``       ``{"max_body": n?, "max_ttl": n?, "allow_aesgcm": bool?}``
- ``GET subscriptions``  → ``{"subscriptions": [...]}`` (no private keys)
- ``GET pending``        → ``{"pending": [...]}`` undelivered messages
- ``GET demo``           → :meth:`WebPushSimulator.demo_credentials`
- ``GET accepted`` (common) → every accepted message with its decrypted plaintext
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushgate.simulators.webpush import WebPushSimulator


def add_webpush_routes(sim: WebPushSimulator) -> None:
    def subscribe(body: dict[str, Any]) -> dict[str, Any]:
        expiration = body.get("expiration_time")
        return sim.subscribe(
            body.get("application_server_key"),
            expiration_time=None if expiration is None else int(expiration),
        )

    def state(body: dict[str, Any]) -> None:
        sim.set_state(str(body["subscription"]), str(body["state"]))

    def online(body: dict[str, Any]) -> None:
        subscription = body.get("subscription")
        sim.set_online(bool(body.get("online", True)), None if subscription is None else str(subscription))

    def rate_limit(body: dict[str, Any]) -> None:
        limit = body.get("limit")
        subscription = body.get("subscription")
        sim.set_rate_limit(
            None if limit is None else int(limit),
            window=float(body.get("window", 60.0)),
            subscription=None if subscription is None else str(subscription),
        )

    def options(body: dict[str, Any]) -> dict[str, Any]:
        sim.set_options(
            max_body=body.get("max_body"), max_ttl=body.get("max_ttl"), allow_aesgcm=body.get("allow_aesgcm")
        )
        return {"max_body": sim.max_body, "max_ttl": sim.max_ttl, "allow_aesgcm": sim.allow_aesgcm}

    def subscriptions(_: dict[str, Any]) -> dict[str, Any]:
        return {
            "subscriptions": [
                {
                    **sim.subscription_json(sub.id),
                    "id": sub.id,
                    "state": sub.state,
                    "online": sub.online,
                    "restricted": sub.restricted_key is not None,
                    "pending": len(sub.pending),
                }
                for sub in sim.subscriptions.values()
            ]
        }

    sim.add_control("POST", "subscribe", subscribe, "create a subscription as the browser does (toJSON form)")
    sim.add_control("POST", "unsubscribe", lambda body: sim.unsubscribe(str(body["subscription"])),
                    "unsubscribe: later pushes get 410")
    sim.add_control("POST", "expire", lambda body: sim.expire(str(body["subscription"])),
                    "expire a subscription: later pushes get 410")
    sim.add_control("POST", "state", state, "set a subscription's state: active, unsubscribed, expired")
    sim.add_control("POST", "online", online, "the browser's connectivity (offline messages wait)")
    sim.add_control("POST", "rate_limit", rate_limit, "messages per window, beyond it 429 with Retry-After")
    sim.add_control("POST", "mode", lambda body: sim.set_mode(str(body["mode"])),
                    "which service's rules: autopush, apple or fcm")
    sim.add_control("POST", "options", options, "max_body, max_ttl, allow_aesgcm")
    sim.add_control("GET", "subscriptions", subscriptions, "every subscription (no private keys)")
    sim.add_control("GET", "pending", lambda _: {"pending": sim.pending()}, "messages not yet delivered")
    sim.add_control("GET", "demo", lambda _: sim.demo_credentials(), "VAPID keys, origin and allowed hosts")
