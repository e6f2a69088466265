"""The APNs simulator's ``/__control/`` routes: one per Python knob.

Each route takes the JSON body as keyword arguments of the method of the
same meaning on :class:`~pushgate.simulators.apns.APNsSimulator`, so curl,
the demo and tests drive the simulator the same way::

    POST /__control/keys              {"team_id", "key_id"?, "public_key"?, "environment"?, "topics"?,
                                       "topic_scoped"?}  → {"team_id", "key_id", "key"?}
    DELETE /__control/keys            {"key_id"}
    POST /__control/topics            {"team_id", "topics": [...]}
    POST /__control/tokens            {"token"?, "topic"?, "environment"?, "state"?, "count"?}
                                       → {"tokens": [...]}
    GET  /__control/tokens            → {"tokens": {token: {"topic", "environment", "state", "timestamp"}}}
    POST /__control/token_state       {"token", "state", "timestamp"?}
    POST /__control/burst_limit       {"limit": int | null, "window"?: seconds}
    POST /__control/max_concurrent_streams  {"value": int}
    POST /__control/certificates      {"topic"?, "environment"?}  → {"cert", "key", "topic"}
    POST /__control/errors            {"status", "reason", "count"?, "path_contains"?}
    POST /__control/goaway            {"reason"?, "count"?, "last_stream_id"?}
    GET  /__control/connections       → {"connections": [...]}
    GET  /__control/demo_credentials  → {"team_id", "key_id", "key", "topic", "environment", "url", "ca"}
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pushgate.simulators._base import ControlError
from pushgate.simulators._server import SimConnection

if TYPE_CHECKING:
    from pushgate.simulators.apns import APNsSimulator


def _str(body: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = body.get(name, default)
    if value is not None and not isinstance(value, str):
        raise ControlError(f"{name} must be a string")
    return value


def _need(body: dict[str, Any], name: str) -> str:
    value = _str(body, name)
    if not value:
        raise ControlError(f"{name} is required")
    return value


def _list(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ControlError(f"{name} must be a list of strings")
    return value


def connection_stats(connections: list[SimConnection]) -> list[dict[str, Any]]:
    """What the simulator saw per connection (JSON-able)."""
    return [
        {
            "id": conn.id,
            "http_version": conn.http_version,
            "closed": conn.closed,
            "requests": conn.requests,
            "max_concurrent_streams": conn.max_concurrent_streams,
            "peak_inflight": conn.state.get("peak", 0),
            # Concurrent pushes before the limit was first raised from 1.
            "peak_before_raise": conn.state.get("peak_before_raise", 0),
            "raised": bool(conn.state.get("raised")),
            "jwt_changes": conn.state.get("jwt_changes", 0),
            "team_id": conn.state["key"].team_id if conn.state.get("key") else None,
        }
        for conn in connections
    ]


def add_apns_routes(sim: APNsSimulator) -> None:
    """Register the APNs-specific control routes on ``sim``."""

    def keys(body: dict[str, Any]) -> dict[str, str]:
        return sim.register_key(
            _need(body, "team_id"),
            _str(body, "key_id"),
            _str(body, "public_key"),
            environment=body.get("environment", "both"),
            topics=_list(body, "topics"),
            topic_scoped=bool(body.get("topic_scoped", False)),
        )

    def topics(body: dict[str, Any]) -> None:
        sim.register_topics(_need(body, "team_id"), _list(body, "topics") or [])

    def add_tokens(body: dict[str, Any]) -> dict[str, list[str]]:
        count = int(body.get("count", 1))
        given = _str(body, "token")
        if given is not None and count != 1:
            raise ControlError("give token or count, not both")
        if not 1 <= count <= 100_000:
            raise ControlError("count must be 1..100000")
        made = [
            sim.add_token(
                given,
                topic=_str(body, "topic"),
                environment=body.get("environment"),
                state=_str(body, "state", "active") or "active",
            )
            for _ in range(count)
        ]
        return {"tokens": made}

    def list_tokens(_: dict[str, Any]) -> dict[str, Any]:
        return {
            "tokens": {
                t.token: {
                    "topic": t.topic,
                    "environment": t.environment,
                    "state": t.state,
                    "timestamp": t.timestamp_ms,
                }
                for t in sim.tokens.values()
            }
        }

    def token_state(body: dict[str, Any]) -> None:
        stamp = body.get("timestamp")
        when = int(stamp) if stamp is not None else None
        sim.set_token_state(_need(body, "token"), _need(body, "state"), when)

    def burst(body: dict[str, Any]) -> None:
        limit = body.get("limit")
        sim.set_burst_limit(int(limit) if limit is not None else None, float(body.get("window", 1.0)))

    def certificates(body: dict[str, Any]) -> dict[str, str]:
        return sim.issue_certificate(
            _str(body, "topic") or sim.demo_credentials()["topic"], body.get("environment", "both")
        )

    def errors(body: dict[str, Any]) -> None:
        sim.queue_error(
            int(body["status"]), _need(body, "reason"), count=int(body.get("count", 1)),
            path_contains=_str(body, "path_contains"),
        )

    def goaway(body: dict[str, Any]) -> None:
        last = body.get("last_stream_id")
        sim.queue_goaway(
            _str(body, "reason", "Shutdown") or "Shutdown", count=int(body.get("count", 1)),
            last_stream_id=int(last) if last is not None else None,
        )

    sim.add_control("POST", "keys", keys, "register a signing key (generated when no public_key is given)")
    sim.add_control("DELETE", "keys", lambda body: sim.revoke_key(_need(body, "key_id")),
                    "revoke a key: its JWTs become InvalidProviderToken")
    sim.add_control("POST", "topics", topics, "let a team push to these bundle ids")
    sim.add_control("POST", "tokens", add_tokens, "issue device tokens (count random ones, or the given one)")
    sim.add_control("GET", "tokens", list_tokens, "the known device tokens and their states")
    sim.add_control("POST", "token_state", token_state,
                    "set a token's state: active, unregistered, bad, wrong_topic, wrong_env, expired")
    sim.add_control("POST", "burst_limit", burst, "per-device push limit, beyond it 429 TooManyRequests")
    sim.add_control(
        "POST", "max_concurrent_streams", lambda body: sim.set_max_concurrent_streams(int(body["value"])),
        "the raised SETTINGS_MAX_CONCURRENT_STREAMS",
    )
    sim.add_control("POST", "certificates", certificates, "issue a client certificate for certificate auth")
    sim.add_control("POST", "errors", errors, "the next pushes answer this status and reason")
    sim.add_control("POST", "goaway", goaway, "the next push's connection gets GOAWAY with this reason")
    sim.add_control("GET", "connections", lambda _: {"connections": sim.connection_stats()},
                    "per-connection statistics")
    sim.add_control("GET", "demo_credentials", lambda _: sim.demo_credentials(),
                    "a team, key, topic and environment this simulator accepts")
