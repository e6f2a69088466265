"""User-scoped tokens: what a mobile app's device presents to register itself.

An app's backend mints one per signed-in user with the app's Web SDK secret
(``pushgate app websdk`` / ``PUT /v1/app/websdk`` show it once) and hands
it to the app; the device then calls pushgate's public registration routes
(``/v1/public/apps/<public id>/me/…``) with ``Authorization: Bearer
<token>`` to create, update and delete *its own user's* devices, tags and
opt-outs — and nothing else: no sends, no other user's devices.

The token is a JWT (RFC 7519) signed with HS256: ``sub`` is the user id,
``aud`` names the app (``pushgate:<public id>``), ``exp`` bounds its life
(at most 30 days), so any JWT library can mint one::

    from pushgate.user_token import mint_user_token
    token = mint_user_token(secret, "pk_7Jq2…", "alice", ttl=3600)
"""

from __future__ import annotations

import time

import jwt

__all__ = ["MAX_TTL", "UserTokenError", "audience_for", "mint_user_token", "verify_user_token"]

MAX_TTL = 30 * 24 * 3600
_ALGORITHM = "HS256"


class UserTokenError(ValueError):
    """The token is malformed, expired, for another app, or not signed with the app's secret."""


def audience_for(public_id: str) -> str:
    return f"pushgate:{public_id}"


def mint_user_token(
    secret: str | bytes, public_id: str, user: str, *, ttl: int = 3600, now: float | None = None
) -> str:
    """A token letting a device act for ``user`` of the app ``public_id`` for ``ttl`` seconds."""
    if not user:
        raise ValueError("user must not be empty")
    if not 0 < ttl <= MAX_TTL:
        raise ValueError(f"ttl must be between 1 and {MAX_TTL} seconds")
    issued = int(time.time() if now is None else now)
    claims = {"sub": user, "aud": audience_for(public_id), "iat": issued, "exp": issued + ttl}
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def verify_user_token(token: str, secret: str | bytes, public_id: str, *, now: float | None = None) -> str:
    """The user id the token was minted for.

    :raises UserTokenError: with the reason (never the token).
    """
    try:
        claims = jwt.decode(
            token, secret, algorithms=[_ALGORITHM], audience=audience_for(public_id),
            options={"require": ["sub", "aud", "exp"], "verify_exp": now is None},
        )
    except jwt.ExpiredSignatureError:
        raise UserTokenError("the user token has expired") from None
    except jwt.InvalidAudienceError:
        raise UserTokenError("the user token is for another app") from None
    except jwt.InvalidTokenError as exc:
        raise UserTokenError(f"the user token is not valid ({type(exc).__name__})") from None
    exp = claims["exp"]
    if now is not None and (not isinstance(exp, int | float) or exp <= now):
        raise UserTokenError("the user token has expired")
    if not isinstance(exp, int | float) or exp - claims.get("iat", exp) > MAX_TTL:
        raise UserTokenError(f"the user token lives longer than {MAX_TTL} seconds")
    user = claims["sub"]
    if not isinstance(user, str) or not user:
        raise UserTokenError("the user token names no user")
    return user
