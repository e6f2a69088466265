"""Google service-account OAuth 2.0 for FCM (RFC 7523 JWT bearer grant).

docs/protocols/fcm.md §2: the sender signs an RS256 assertion with the service
account's private key, POSTs it to the account's ``token_uri`` and gets an
access token that lasts about an hour. The token is cached and refreshed
five minutes before it expires, under an :class:`asyncio.Lock` so that a
burst of concurrent sends shares one refresh. A 401 from FCM without an
FcmError detail means the token went bad early: :meth:`invalidate` drops it.

The token endpoint sees one request an hour, so plain ``httpx`` (HTTP/1.1)
is used there; the hot send path is the HTTP/2 transport.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

from pushgate.errors import AuthenticationError, ConfigurationError, PushgateError, TransportError
from pushgate.providers.fcm.credentials import (
    CLIENT_CONFIG_KEYS,
    IOS_CONFIG_NOT_A_SERVICE_ACCOUNT,
    NOT_A_SERVICE_ACCOUNT,
    is_ios_config,
)
from pushgate.transport.tls import client_context

logger = logging.getLogger("pushgate.fcm")

GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME = 3600  # docs/protocols/fcm.md §2: exp is at most iat + 3600
REFRESH_MARGIN = 300.0  # refresh five minutes before expiry


def _read_account_file(path: Path) -> Any:
    """The parsed file; errors name the path and the cause (never the content: it is a key)."""
    try:
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the service-account file {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigurationError(f"the service-account file {str(path)!r} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        if is_ios_config(text):
            raise ConfigurationError(IOS_CONFIG_NOT_A_SERVICE_ACCOUNT) from None
        raise ConfigurationError(
            f"the service-account file {str(path)!r} is not JSON (line {getattr(exc, 'lineno', '?')}, "
            f"column {getattr(exc, 'colno', '?')}); download it again from the Firebase console") from None


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The fields of a service-account JSON key that the grant needs."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = GOOGLE_TOKEN_URI
    project_id: str | None = None

    @classmethod
    def load(cls, source: Mapping[str, Any] | str | Path) -> ServiceAccount:
        """From a dict, a path to the JSON file, or the JSON text itself.

        :raises ConfigurationError: unreadable, or a required field is missing
            (the message names the field, never its value).
        """
        info: Any
        if isinstance(source, Mapping):
            info = source
        else:
            text = str(source)
            if is_ios_config(text):  # the plist's text, not a path
                raise ConfigurationError(IOS_CONFIG_NOT_A_SERVICE_ACCOUNT)
            if text.lstrip().startswith("{"):
                try:
                    info = json.loads(text)
                except ValueError as exc:
                    # JSON text holds the private key: its position, never its content
                    raise ConfigurationError(f"the service-account JSON text is not JSON: {exc}") from None
            else:
                info = _read_account_file(Path(text))
        if not isinstance(info, Mapping):
            raise ConfigurationError("the service-account JSON is not an object")
        if all(key in info for key in CLIENT_CONFIG_KEYS):  # the other JSON the Firebase console hands out
            raise ConfigurationError(NOT_A_SERVICE_ACCOUNT)
        for key in ("client_email", "private_key"):
            if not isinstance(info.get(key), str) or not info[key]:
                raise ConfigurationError(f"the service-account JSON has no {key}")
        return cls(
            client_email=info["client_email"],
            private_key=info["private_key"],
            private_key_id=info.get("private_key_id") or None,
            token_uri=info.get("token_uri") or GOOGLE_TOKEN_URI,
            project_id=info.get("project_id") or None,
        )

    def assertion(self, now: float, scopes: Sequence[str] = (FCM_SCOPE,)) -> str:
        """The signed RS256 grant assertion (docs/protocols/fcm.md §2)."""
        iat = int(now)
        claims = {
            "iss": self.client_email,
            "scope": " ".join(scopes),
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME,
        }
        headers: dict[str, Any] = {"typ": "JWT"}
        if self.private_key_id:
            headers["kid"] = self.private_key_id
        try:
            return jwt.encode(claims, self.private_key, algorithm="RS256", headers=headers)
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise ConfigurationError("the service-account private_key is not a usable RSA key") from exc


class ServiceAccountAuth:
    """Access tokens for one service account, cached and shared.

    :param http: an ``httpx.AsyncClient`` to use (not closed by :meth:`aclose`);
        by default one is made with ``verify``.
    :param verify: TLS verification for the token endpoint (an
        ``ssl.SSLContext``, a CA file path, or ``True`` for the system store).
        Give it a context of its own: httpx sets ALPN on the context it is given.
    :param clock: seconds since the epoch (tests inject a manual clock).
    :param failure_backoff: after a failed fetch, callers within this many
        seconds get the same error without a new request, so a bulk send with
        broken credentials makes one token request, not one per device.
    """

    def __init__(
        self,
        account: ServiceAccount,
        *,
        scopes: Sequence[str] = (FCM_SCOPE,),
        http: httpx.AsyncClient | None = None,
        verify: ssl.SSLContext | str | Path | bool = True,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        failure_backoff: float = 10.0,
    ) -> None:
        self.account = account
        self.failure_backoff = failure_backoff
        self._failure: tuple[float, type[PushgateError], str] | None = None
        self.scopes = tuple(scopes)
        self.clock = clock
        self._own_http = http is None
        if isinstance(verify, str | Path):
            verify = client_context(ca_file=verify, alpn=("http/1.1",))
        self._http = http if http is not None else httpx.AsyncClient(verify=verify, timeout=timeout)
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._refresh_at = 0.0
        self.refreshes = 0  # how many tokens were fetched (for tests and metrics)

    def __repr__(self) -> str:
        return f"ServiceAccountAuth({self.account.client_email!r})"

    def cached(self) -> str | None:
        """The current token if it is still good, without waiting."""
        if self._token is not None and self.clock() < self._refresh_at:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token, fetching a new one if needed (one fetch at a time)."""
        current = self.cached()
        if current is not None:
            return current
        async with self._lock:
            current = self.cached()  # another caller may have refreshed meanwhile
            if current is not None:
                return current
            if self._failure is not None:
                failed_at, kind, message = self._failure
                if self.clock() < failed_at + self.failure_backoff:
                    raise kind(message)
                self._failure = None
            try:
                token, lifetime = await self._fetch()
            except (ConfigurationError, TransportError) as exc:
                self._failure = (self.clock(), type(exc), str(exc))
                raise
            self._token = token
            self._refresh_at = self.clock() + max(0.0, lifetime - REFRESH_MARGIN)
            self.refreshes += 1
            return token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (FCM answered 401 with it).

        With ``token``, only that token is forgotten, so a burst of 401s for
        the same stale token causes one refresh, not one per request.
        """
        if token is None or token == self._token:
            self._token = None
            self._refresh_at = 0.0

    async def _fetch(self) -> tuple[str, float]:
        assertion = self.account.assertion(self.clock(), self.scopes)
        try:
            response = await self._http.post(
                self.account.token_uri,
                data={"grant_type": JWT_BEARER, "assertion": assertion},
                headers={"accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise TransportError(f"token endpoint unreachable: {type(exc).__name__}") from exc
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if response.status_code >= 500:
            raise TransportError(f"token endpoint answered {response.status_code}")
        if response.status_code != 200:
            # RFC 6749 §5.2 error codes (invalid_grant, invalid_scope, ...) and
            # Google's description; neither carries a secret.
            error = str(body.get("error", "error"))
            description = str(body.get("error_description", ""))[:200]
            logger.warning("token endpoint refused the grant: %s %s", error, description)
            raise AuthenticationError(
                f"token endpoint answered {response.status_code} {error}: {description}".rstrip(": ")
            )
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthenticationError("token endpoint answered without an access_token")
        expires_in = body.get("expires_in", 3600)
        try:
            lifetime = float(expires_in)
        except (TypeError, ValueError):
            lifetime = 3600.0
        logger.debug("fetched an access token for %s, valid %.0fs", self.account.client_email, lifetime)
        return token, lifetime

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()
