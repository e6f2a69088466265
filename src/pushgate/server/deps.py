"""Request dependencies: the app's services, API-key and admin authentication.

An app authenticates with one of its API keys, as ``Authorization: Bearer
<key>`` or ``X-API-Key: <key>`` (the header gorush and most push services
use). A missing, unknown or revoked key is 401; a valid key asking for a
device or send of another app is 404, as for a missing one (routes check
ownership, see :func:`owned`).

Admin routes (creating apps and keys, setting credentials) take
``settings.admin_token`` the same way. Without a configured token they are
closed (403): apps are then managed with the ``pushgate app`` commands on
the server itself. Tokens and keys are compared in constant time and never
logged.

Dependencies doing database work are plain functions: FastAPI runs them in
its thread pool, never on the event loop.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Path, Request, Response

from pushgate.registry import authenticate_key
from pushgate.registry.constants import API_KEY_SCHEME, MAX_ID
from pushgate.server.errors import ApiError
from pushgate.service.components import Services

_BEARER = "bearer "
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pushgate"'}


# The dependencies that only read the request are ``async``: FastAPI runs a plain
# ``def`` dependency in its thread pool, one hand-off there and back per dependency
# and request, and each hand-back waits for the event loop, which a broadcast in
# the same process keeps busy (README, scenario 9).


async def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


ServicesDep = Annotated[Services, Depends(services)]


async def _device_id(
    device_id: Annotated[int, Path(description="The device's id (as returned at registration)")],
) -> int:
    return _in_range("device", device_id)


async def _app_id(app_id: Annotated[int, Path(description="The app's id")]) -> int:
    return _in_range("app", app_id)


async def _key_id(key_id: Annotated[int, Path(description="The API key's id")]) -> int:
    return _in_range("key", key_id)


def _in_range(kind: str, value: int) -> int:
    # No row has an id beyond 64 bits: "not found", like any other missing id,
    # rather than an overflow inside the database driver.
    if not 0 < value <= MAX_ID:
        raise ApiError(404, "not_found", f"{kind} not found")
    return value


DeviceIdPath = Annotated[int, Depends(_device_id)]
AppIdPath = Annotated[int, Depends(_app_id)]
KeyIdPath = Annotated[int, Depends(_key_id)]


def presented_key(request: Request) -> str | None:
    """The credential of the request: a Bearer token or the X-API-Key header."""
    authorization = request.headers.get("authorization")
    if authorization and authorization[: len(_BEARER)].lower() == _BEARER:
        return authorization[len(_BEARER):].strip() or None
    key = (request.headers.get("x-api-key") or "").strip()
    return key or None


def malformed_authorization(request: Request, credential: str) -> str | None:
    """What is wrong with an ``Authorization`` header that :func:`presented_key` could not use
    (None when there is none): the scheme word missing, another scheme, or no credential after it.

    Never echoes the header: it may be the credential itself, sent without its scheme.
    """
    authorization = (request.headers.get("authorization") or "").strip()
    if not authorization:
        return None
    scheme, _, rest = authorization.partition(" ")
    if scheme.lower() == _BEARER.strip():
        problem = "it carries no key"  # presented_key reads any non-blank one
    elif rest and scheme.isalpha() and len(scheme) <= 20:  # a scheme word: Basic, Token, ...
        problem = f"not '{scheme} …'"
    else:
        problem = "the word Bearer is missing"
    return f"the Authorization header must read 'Bearer <{credential}>' ({problem})"


def current_app_id(request: Request, response: Response, svc: ServicesDep) -> int:
    """The id of the app whose API key made the request (401 otherwise), within its rate limit
    (429 beyond it; ``RateLimit-*`` headers on every answer to a limited key)."""
    key = presented_key(request)
    if key is None:
        raise ApiError(
            401, "unauthorized",
            malformed_authorization(request, "key")
            or "an API key is required: Authorization: Bearer <key> or X-API-Key: <key>",
            field="header.authorization", headers=_CHALLENGE,
        )
    with svc.db.session(write=False) as session:
        found = authenticate_key(session, key)
    if found is None:
        raise ApiError(401, "unauthorized", "the API key is unknown or revoked",
                       field="header.authorization", headers=_CHALLENGE)
    limit = found.rate_limit_per_minute or svc.settings.rate_limit_per_minute
    if limit is not None:
        decision = svc.rate_limiter.hit(f"key:{found.prefix}", limit)
        if not decision.allowed:
            raise ApiError(429, "rate_limited",
                           f"this API key made {limit} requests this minute; retry after {decision.reset} s",
                           headers=decision.headers())
        response.headers.update(decision.headers())
    return found.app_id


AppId = Annotated[int, Depends(current_app_id)]


def require_admin(request: Request, svc: ServicesDep) -> None:
    """Admin routes: the configured admin token, and nothing else."""
    expected = svc.settings.admin_token
    if expected is None:
        raise ApiError(403, "admin_disabled",
                       "the admin API is disabled on this server (set admin_token, or use `pushgate app`)")
    key = presented_key(request)
    if key is None:
        raise ApiError(401, "unauthorized",
                       malformed_authorization(request, "token")
                       or "the admin token is required: Authorization: Bearer <token>",
                       field="header.authorization", headers=_CHALLENGE)
    if hmac.compare_digest(key.encode(), expected.get_secret_value().encode()):
        return
    if key.startswith(f"{API_KEY_SCHEME}_"):
        raise ApiError(403, "forbidden", "an app API key cannot use the admin API; use the admin token")
    raise ApiError(401, "unauthorized", "the admin token is wrong", field="header.authorization",
                   headers=_CHALLENGE)


Admin = Depends(require_admin)


def owned(kind: str, resource_app_id: int | None, app_id: int) -> None:
    """404 when the resource does not exist or belongs to another app.

    The same answer for both: ids are sequential, and telling "another app's"
    from "missing" would let an app count another app's devices and sends.
    """
    if resource_app_id is None or resource_app_id != app_id:
        raise ApiError(404, "not_found", f"{kind} not found")
