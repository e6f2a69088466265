"""WNS OAuth access tokens: client-credentials grant (docs/protocols/wns.md §2).

Two flows, same grant (RFC 6749 §4.4):

- classic (UWP / Partner Center): ``POST https://login.live.com/accesstoken.srf``
  with ``client_id`` = the Package SID (``ms-app://…``) and
  ``scope=notify.windows.com``; ``expires_in`` is an integer (86400);
- Windows App SDK (Microsoft Entra ID): ``POST
  https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`` with
  ``scope=https://wns.windows.com/.default``; ``expires_in`` may be a string.

The token is cached until ``expires_in`` minus a safety margin (by the
injected clock) and fetched under an :class:`asyncio.Lock`, so a thousand
concurrent sends start one token request. Whoever waited on the lock while
another fetched takes that fetch's outcome, success or failure, instead of
asking again. A 401 from WNS calls :meth:`WNSAuth.invalidate` with the token
that was refused, so only the first of many concurrent 401s forces a new
fetch (docs/protocols/wns.md §2: "fetch a new token and retry once").

The client secret is never logged, put in an exception message or a repr.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx

from pushgate.errors import AuthenticationError, PushgateError, RetryableError, TransportError
from pushgate.providers._retry_after import parse_retry_after

logger = logging.getLogger("pushgate.wns")

CLASSIC_TOKEN_URL = "https://login.live.com/accesstoken.srf"
ENTRA_TOKEN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
CLASSIC_SCOPE = "notify.windows.com"
ENTRA_SCOPE = "https://wns.windows.com/.default"
DEFAULT_MARGIN = 300.0  # seconds before expiry at which a token is replaced


class WNSAuth:
    """Fetches and caches a WNS access token.

    :param client_id: Package SID (classic) or Entra application (client) id.
    :param client_secret: the matching secret.
    :param tenant_id: an Entra tenant selects the App SDK flow.
    :param token_url: override the endpoint (a simulator); ``{tenant}`` in it
        is replaced by ``tenant_id``.
    :param http: the client to use (the provider's shared one).
    :param clock: epoch seconds; tests inject a manual clock.
    :param margin: replace a token this many seconds before it expires.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        http: httpx.AsyncClient,
        tenant_id: str | None = None,
        token_url: str | None = None,
        clock: Callable[[], float] = time.time,
        margin: float = DEFAULT_MARGIN,
    ) -> None:
        if not client_id or not client_secret:
            raise AuthenticationError("WNS needs a client_id and a client_secret")
        self.client_id = client_id
        self.__secret = client_secret
        self.tenant_id = tenant_id
        url = token_url or (ENTRA_TOKEN_URL if tenant_id else CLASSIC_TOKEN_URL)
        self.token_url = url.replace("{tenant}", tenant_id or "")
        self.scope = ENTRA_SCOPE if tenant_id else CLASSIC_SCOPE
        self._http = http
        self._clock = clock
        self._margin = margin
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self._generation = 0  # bumped by every finished fetch
        self._error: PushgateError | None = None  # the last fetch's failure
        self.fetches = 0  # token requests made (observability, tests)

    def __repr__(self) -> str:
        flow = "entra" if self.tenant_id else "classic"
        return f"WNSAuth(client_id={self.client_id!r}, flow={flow!r}, token_url={self.token_url!r})"

    def _cached(self) -> str | None:
        if self._token is not None and self._clock() < self._expires_at:
            return self._token
        return None

    async def token(self) -> str:
        """A valid access token, fetching one if needed.

        :raises AuthenticationError: the token endpoint refused the credentials.
        :raises RetryableError: the endpoint failed or could not be reached.
        """
        cached = self._cached()
        if cached is not None:
            return cached
        generation = self._generation
        async with self._lock:
            if self._generation != generation:  # a fetch finished while we waited
                cached = self._cached()
                if cached is not None:
                    return cached
                if self._error is not None:
                    raise self._error.with_traceback(None)
            return await self._fetch()

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is still ``token``, when given)."""
        if token is None or token == self._token:
            self._token = None
            self._expires_at = 0.0

    async def _fetch(self) -> str:
        self.fetches += 1
        try:
            token, lifetime = await self._request()
        except PushgateError as exc:
            self._error = exc
            self._generation += 1
            raise
        self._token = token
        margin = min(self._margin, lifetime / 2)
        self._expires_at = self._clock() + lifetime - margin
        self._error = None
        self._generation += 1
        logger.debug("wns: new access token for %s, valid %.0fs", self.client_id, lifetime)
        return token

    async def _request(self) -> tuple[str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.__secret,
            "scope": self.scope,
        }
        try:
            response = await self._http.post(self.token_url, data=form)
        except httpx.HTTPError as exc:
            raise TransportError(f"WNS token endpoint unreachable: {type(exc).__name__}") from exc
        except httpx.InvalidURL as exc:
            raise AuthenticationError(f"bad WNS token URL: {exc}") from exc
        if response.status_code in (400, 401, 403):
            raise AuthenticationError(
                f"WNS token endpoint refused client {self.client_id!r}: "
                f"HTTP {response.status_code} {_oauth_error(response)}"
            )
        if response.status_code != 200:
            raise RetryableError(
                f"WNS token endpoint answered HTTP {response.status_code}",
                retry_after=parse_retry_after(response.headers.get("retry-after"), self._clock()),
            )
        try:
            body: Any = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 86400))
        except (ValueError, KeyError, TypeError) as exc:
            raise AuthenticationError("WNS token endpoint sent an unreadable token response") from exc
        if not isinstance(token, str) or not token or lifetime <= 0:
            raise AuthenticationError("WNS token endpoint sent an unusable token")
        return token, lifetime


def _oauth_error(response: httpx.Response) -> str:
    """``error: description`` from an OAuth error body (RFC 6749 §5.2), secret-free."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict):
        return ""
    error = str(body.get("error", ""))
    description = str(body.get("error_description", "")).splitlines()[0:1]
    return f"{error}: {description[0]}" if description else error
