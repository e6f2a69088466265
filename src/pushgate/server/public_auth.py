"""Who may call the routes without an API key: browsers of an app's site, and its users' devices.

Browsers call ``/sdk/v1/…`` (the SDK's own API, beside its files under
``/sdk/``); devices call ``/v1/public/apps/{public_id}/me/…`` with a user token.

No API key travels there (it would be in every visitor's browser). Instead
(docs/websdk.md §3):

- the path names the app by its **public id**; an unknown id is 404;
- a **browser** request carries ``Origin`` (browsers set it on every
  cross-origin request and on same-origin POSTs, RFC 6454 §7 and the Fetch
  standard), which must be one of the app's allowed origins (403 naming
  ``header.origin``); the one read-only route (the VAPID public key) also
  answers a same-origin GET, which carries none. Answers to an allowed origin carry
  ``Access-Control-Allow-Origin`` so the page can read them; the SDK sends
  its JSON as ``text/plain``, a CORS "simple request" that needs no
  preflight (the API reads such bodies as JSON, see
  :mod:`pushgate.server.content_type`);
- a **device** presents a user token (:mod:`pushgate.user_token`) as
  ``Authorization: Bearer``; it acts for that one user only.

Every such request counts against ``public_rate_limit_per_minute`` for its
client address (:func:`limit_public`; 429 with ``Retry-After`` beyond it,
:mod:`pushgate.service.rate_limits` "Public routes").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Request, Response

from pushgate.registry.websdk import find_by_public_id, origin_allowed, sdk_secret
from pushgate.registry.websdk_tables import WebSdkConfig
from pushgate.server.answers import REQUEST, ErrorOut, answers
from pushgate.server.deps import ServicesDep, presented_key
from pushgate.server.errors import ApiError

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="pushgate-user"'}

# The answers documented on the browsers' routes (OpenAPI): no 401, there is no key to present.
BROWSER_ROUTES: dict[int | str, dict[str, Any]] = {
    **answers(404, 429, *REQUEST),
    403: {"description": "The page's origin is not allowed, or a uid signature is missing or wrong",
          "model": ErrorOut},
}
# ... and on the devices' routes (a user token).
DEVICE_ROUTES: dict[int | str, dict[str, Any]] = {
    **answers(401, 404, 429, *REQUEST),
    403: {"description": "A user token acts for its own user only", "model": ErrorOut},
    409: {"description": "The device token is registered to another user", "model": ErrorOut},
}


@dataclass(frozen=True, slots=True)
class PublicApp:
    """The app a public request is for, with its secret opened (uid signatures, user tokens)."""

    app_id: int
    public_id: str
    require_uid_signature: bool
    secret: str
    cors: dict[str, str]  # headers for the answer (and for errors)


def limit_public(request: Request, response: Response, svc: ServicesDep, cors: dict[str, str]) -> None:
    """Count the request against its client address's public limit; 429 beyond it.

    ``cors`` goes on the refusal too, so a page of an allowed origin can read why.
    """
    limit = svc.settings.public_rate_limit_per_minute
    if limit is None:
        return
    address = request.client.host if request.client is not None else "unknown"
    decision = svc.public_rate_limiter.hit(f"ip:{address}", limit)
    if not decision.allowed:
        raise ApiError(429, "rate_limited",
                       f"this address made {limit} requests to the public routes this minute; "
                       f"retry after {decision.reset} s", headers={**decision.headers(), **cors})
    response.headers.update(decision.headers())


def cors_headers(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _load(svc: ServicesDep, public_id: str) -> WebSdkConfig:
    with svc.db.session(write=False) as session:
        config = find_by_public_id(session, public_id)
        if config is None:
            raise ApiError(404, "not_found", "no app has this public id", field="path.public_id")
        session.expunge(config)
        return config


def _public_app(config: WebSdkConfig, svc: ServicesDep, cors: dict[str, str]) -> PublicApp:
    return PublicApp(config.app_id, config.public_id, config.require_uid_signature,
                     sdk_secret(config, svc.cipher), cors)


def browser_app(
    request: Request, response: Response, svc: ServicesDep,
    public_id: Annotated[str, Path(description="The app's public id (pk_…)", max_length=40)],
) -> PublicApp:
    """A request from a page of one of the app's allowed origins (403 otherwise)."""
    config = _load(svc, public_id)
    origin = request.headers.get("origin")
    if not origin_allowed(config, origin):
        raise ApiError(403, "origin_not_allowed",
                       "this page's origin is not among the app's allowed origins (PUT /v1/app/websdk)"
                       if origin else "browser requests carry an Origin header; this one has none",
                       field="header.origin")
    assert origin is not None
    cors = cors_headers(origin)
    limit_public(request, response, svc, cors)
    response.headers.update(cors)
    return _public_app(config, svc, cors)


BrowserApp = Annotated[PublicApp, Depends(browser_app)]


def reader_app(
    request: Request, response: Response, svc: ServicesDep,
    public_id: Annotated[str, Path(description="The app's public id (pk_…)", max_length=40)],
) -> PublicApp:
    """A request for public facts (the VAPID public key): a same-origin GET carries no
    ``Origin`` (Fetch standard), so only an Origin that is present must be allowed."""
    if request.headers.get("origin") is None:
        config = _load(svc, public_id)
        limit_public(request, response, svc, {})
        return _public_app(config, svc, {})
    return browser_app(request, response, svc, public_id)


ReaderApp = Annotated[PublicApp, Depends(reader_app)]


@dataclass(frozen=True, slots=True)
class DeviceUser:
    """A device acting for one user of one app (from its user token)."""

    app: PublicApp
    user: str


def device_user(
    request: Request, response: Response, svc: ServicesDep,
    public_id: Annotated[str, Path(description="The app's public id (pk_…)", max_length=40)],
) -> DeviceUser:
    """The user a device's token was minted for (401 without a valid one)."""
    config = _load(svc, public_id)
    limit_public(request, response, svc, {})
    token = presented_key(request)
    if token is None:
        raise ApiError(401, "unauthorized", "a user token is required: Authorization: Bearer <token>",
                       field="header.authorization", headers=_CHALLENGE)
    app = _public_app(config, svc, {})
    # Imported here: an idle server loads no JWT library (tests/cli/test_cli_serve_imports.py).
    from pushgate.user_token import UserTokenError, verify_user_token

    try:
        user = verify_user_token(token, app.secret, app.public_id)
    except UserTokenError as exc:
        raise ApiError(401, "unauthorized", str(exc), field="header.authorization",
                       headers=_CHALLENGE) from None
    origin = request.headers.get("origin")
    if origin is not None and not origin_allowed(config, origin):
        raise ApiError(403, "origin_not_allowed", "this page's origin is not among the app's allowed origins",
                       field="header.origin")
    return DeviceUser(app, user)


DeviceUserDep = Annotated[DeviceUser, Depends(device_user)]
