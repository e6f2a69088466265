"""One long-lived provider client per (app, provider), built from the app's stored credentials.

Why a cache: a provider client owns HTTP/2 connections and an auth token
(the APNs JWT, the FCM OAuth token, the WNS access token, VAPID JWTs per
origin). Building one per job would reconnect and re-sign for every 500
devices; one client per app and provider is reused by every job of the
process and closed at shutdown.

Clients are built with ``max_retries=0``: a RETRY outcome comes back to the
worker, which re-queues the delivery with a run-at (retries belong to the
durable queue, not to a sleeping coroutine). Their per-call concurrency is
the worker's share of ``settings.worker_concurrency``.

Credentials changes are noticed by comparing the row's ``updated_at`` (the
credentials *version*), re-read at most every ``recheck`` seconds per
client: a ``PUT`` of new credentials replaces the client within that time,
and the old one is closed once no job uses it any more. Encrypted
credentials are decrypted (with the cache's :class:`CredentialCipher`) only
to build a client, not on every recheck: a process keeps sending with the
client it has while the rows are re-encrypted under a key it does not know
yet. Credentials no configured key decrypts fail like any other unusable
credentials (:class:`ClientBuildError`: the app's provider is paused, with
a message naming the app and the provider).

Where a provider is reached comes, most specific first, from the app's
credentials (``base_url``, ``token_url``, ``ca_file``) and then from
``settings.providers.<name>`` — which is how the tests and the demo point
everything at the simulators. Allowed endpoint hosts (Web Push, WNS) add up:
the built-in push services, the settings' ``allowed_hosts`` and ``base_url``
host, and the app's own ``allowed_hosts``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pushgate.errors import ConfigurationError
from pushgate.providers import Endpoint, Provider, provider_spec
from pushgate.registry import CredentialCipher, CredentialsUnreadable, Database
from pushgate.registry.pauses import PAUSE_KEY
from pushgate.service.settings import ProviderEndpoint, Settings
from pushgate.workers.constants import CREDENTIALS_RECHECK_SECONDS
from pushgate.workers.dry_run import DryRunProvider

logger = logging.getLogger("pushgate.workers")

AnyProvider = Provider[Any, Any]


class NoCredentials(ConfigurationError):
    """The app has devices for a provider it has no credentials for."""

    def __init__(self, app_id: int, provider: str) -> None:
        super().__init__(f"app {app_id} has no {provider} credentials")
        self.app_id = app_id
        self.provider = provider


class ClientBuildError(ConfigurationError):
    """Stored credentials that cannot make a client (a key that does not parse).

    Carries the credentials version, so the app's provider can be paused
    against exactly these credentials.
    """

    def __init__(self, message: str, version: datetime) -> None:
        super().__init__(message)
        self.version = version


@dataclass(slots=True)
class CachedClient:
    """A client and the credentials version it was built from."""

    client: AnyProvider
    version: datetime
    checked_at: float
    users: int = 0  # jobs currently using it (a replaced client is closed when this reaches 0)
    retired: bool = False
    pause: dict[str, Any] | None = field(default=None)  # the stored pause record, if any
    # Web Push: the push services (VAPID audiences) that accepted these credentials since
    # they were loaded; new credentials get a new entry, so this is forgotten with them.
    proven: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """What :meth:`ClientCache.acquire` reads from the registry (secrets included; never logged)."""

    config: dict[str, Any] | None = field(repr=False)  # decrypted; None: the known version, unread
    version: datetime
    pause: dict[str, Any] | None


class ClientCache:
    """Provider clients per (app, provider); see the module docstring.

    Thread-unsafe by design: used from one event loop. Building a client
    reads the registry in a thread and constructs the client on the loop
    (constructors are cheap and some bind to the running loop).
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        cipher: CredentialCipher | None = None,
        concurrency: int | None = None,
        recheck: float = CREDENTIALS_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.settings = settings
        self.cipher = cipher if cipher is not None else CredentialCipher.from_settings(settings)
        self.concurrency = concurrency or settings.worker_concurrency
        self.recheck = recheck
        self.clock = clock
        self._clients: dict[tuple[int, str], CachedClient] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}
        self._retired: list[CachedClient] = []
        self._closed = False

    async def acquire(self, app_id: int, provider: str) -> CachedClient:
        """The current client for (app, provider); pair with :meth:`release`.

        :raises NoCredentials: the app has no credentials for ``provider``.
        :raises ClientBuildError: the stored credentials cannot make a client.
        """
        if self._closed:
            raise RuntimeError("the client cache is closed")
        key = (app_id, provider)
        entry = self._clients.get(key)
        if entry is None or self.clock() - entry.checked_at >= self.recheck:
            lock = self._locks.setdefault(key, asyncio.Lock())
            async with lock:
                entry = await self._refresh(key)
        entry.users += 1
        return entry

    async def release(self, entry: CachedClient) -> None:
        entry.users -= 1
        if entry.retired and entry.users <= 0 and entry in self._retired:
            self._retired.remove(entry)
            await _close(entry.client)

    def invalidate(self, app_id: int, provider: str) -> None:
        """Re-read the credentials on the next :meth:`acquire` (e.g. after a credential error)."""
        entry = self._clients.get((app_id, provider))
        if entry is not None:
            entry.checked_at = float("-inf")

    async def _refresh(self, key: tuple[int, str]) -> CachedClient:
        entry = self._clients.get(key)
        if entry is not None and self.clock() - entry.checked_at < self.recheck:
            return entry  # another job refreshed it while we waited for the lock
        known = entry.version if entry is not None else None
        try:
            stored = await asyncio.to_thread(_read_credentials, self.db, self.cipher, *key, known)
        except ClientBuildError:
            await self._retire(key)
            raise
        if stored is None:
            await self._retire(key)
            raise NoCredentials(*key)
        if entry is not None and entry.version == stored.version:
            entry.checked_at = self.clock()
            entry.pause = stored.pause
            return entry
        await self._retire(key)
        assert stored.config is not None  # a new version is always read in full
        try:
            client = build_client(key[1], stored.config, self.settings, concurrency=self.concurrency)
        except ConfigurationError as exc:
            raise ClientBuildError(str(exc), stored.version) from None
        if self.settings.dry_run:  # everything but the provider call (workers/dry_run.py)
            client = DryRunProvider(client)
        logger.info("built %s client for app %s%s", key[1], key[0],
                    " (dry run)" if self.settings.dry_run else "")
        entry = CachedClient(client, stored.version, self.clock(), pause=stored.pause)
        self._clients[key] = entry
        return entry

    async def _retire(self, key: tuple[int, str]) -> None:
        old = self._clients.pop(key, None)
        if old is None:
            return
        old.retired = True
        if old.users <= 0:
            await _close(old.client)
        else:
            self._retired.append(old)

    def clients(self) -> Iterator[tuple[tuple[int, str], AnyProvider]]:
        """The live clients (for metrics: auth refresh counters)."""
        for key, entry in self._clients.items():
            yield key, entry.client

    async def aclose(self) -> None:
        """Close every client; the cache cannot be used afterwards."""
        self._closed = True
        entries = list(self._clients.values()) + self._retired
        self._clients.clear()
        self._retired.clear()
        for entry in entries:
            await _close(entry.client)


async def _close(client: AnyProvider) -> None:
    try:
        await client.aclose()
    except Exception:  # closing must not stop a shutdown
        logger.warning("closing a %s client failed", client.name, exc_info=True)


def _read_credentials(
    db: Database, cipher: CredentialCipher, app_id: int, provider: str, known: datetime | None
) -> StoredCredentials | None:
    """The credentials, decrypted unless they are still version ``known``.

    :raises ClientBuildError: they cannot be decrypted (the message names
        the app and the provider, never a value).
    """
    from pushgate.registry import get_credentials, get_stored_credentials

    with db.session(write=False) as session:
        row = get_stored_credentials(session, app_id, provider)
        if row is None:
            return None
        pause = (row.config or {}).get(PAUSE_KEY)  # stored in plain JSON beside the secrets
        if row.updated_at == known:
            return StoredCredentials(None, row.updated_at, pause)
        try:
            plain = get_credentials(session, app_id, provider, cipher=cipher)
        except CredentialsUnreadable as exc:
            raise ClientBuildError(str(exc), row.updated_at) from None
        assert plain is not None  # the row was just read in this transaction
        return StoredCredentials(plain.config, plain.updated_at, pause)


def auth_refreshes(client: AnyProvider) -> int | None:
    """How many auth tokens the client has minted so far, where the client counts them.

    APNs counts the provider JWTs it signed, FCM its OAuth fetches, WNS its
    token fetches, Web Push the VAPID JWTs it signed (:attr:`Provider.auth_refreshes`).
    """
    return client.auth_refreshes


# -- building clients ---------------------------------------------------------------


def build_client(
    provider: str, config: Mapping[str, Any], settings: Settings, *, concurrency: int
) -> AnyProvider:
    """A provider client from stored credentials and the settings' endpoint overrides.

    :raises ConfigurationError: the credentials cannot make a client (the
        message names the problem, never a secret), or the provider is unknown.
    """
    spec = provider_spec(provider)
    configured = next((e for name, e in settings.providers.items() if name == provider), ProviderEndpoint())
    conf = {k: v for k, v in config.items() if not k.startswith("_")}
    # Every host the registry accepts for this provider (the settings' allowed_hosts and
    # base_url host, service/components.py) stays callable, whatever the app adds: a device
    # the registry took must not fail DisallowedEndpoint because the app names its own hosts.
    hosts = tuple(dict.fromkeys((*configured.added_hosts(), *(conf.pop("allowed_hosts", None) or ()))))
    endpoint = Endpoint(
        base_url=conf.pop("base_url", None) or configured.base_url,
        token_url=conf.pop("token_url", None) or configured.token_url,
        ca_file=conf.pop("ca_file", None) or configured.ca_file,
        allowed_hosts=hosts or None,
        **({"request_timeout": configured.request_timeout} if configured.request_timeout else {}),
    )
    try:
        return spec.build_client(conf, endpoint, concurrency=concurrency, max_retries=0)
    except ConfigurationError:
        raise
    except KeyError as exc:
        raise ConfigurationError(f"{provider} credentials need {exc.args[0]}") from None
    except (ValueError, TypeError, OSError) as exc:
        # Key parsing errors from cryptography: name the kind, never the value.
        raise ConfigurationError(f"{provider} credentials are not usable: {type(exc).__name__}") from None


__all__ = [
    "CachedClient", "ClientBuildError", "ClientCache", "NoCredentials", "auth_refreshes", "build_client",
]
