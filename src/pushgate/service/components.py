"""The long-lived pieces the API and the admin commands share, built from Settings.

Migrations: the embedded default (a SQLite file) migrates itself when it is
opened by ``pushgate serve`` or an admin command — one machine, nothing to
run first. PostgreSQL is never migrated implicitly: a shared production
database is upgraded by ``pushgate migrate`` (deliberately, once, before new
code rolls out), and until then ``/ready`` answers 503 naming the problem.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pushgate.errors import ConfigurationError
from pushgate.registry import CredentialCipher, Database, ValidationPolicy
from pushgate.registry.migrations import HEAD_REVISION
from pushgate.service.rate_limits import RateLimiter, local_counter, redis_counter
from pushgate.service.settings import Settings

if TYPE_CHECKING:
    from pushgate.queue import Queue
    from pushgate.service.metrics import Metrics


def open_database(settings: Settings, *, migrate_embedded: bool = True) -> Database:
    """The registry database; a SQLite file is brought to the current schema."""
    db = Database(settings.database_url)
    if migrate_embedded and db.is_sqlite:
        db.migrate_in_child()
    return db


def open_queue(settings: Settings, db: Database) -> Queue:
    """The durable queue chosen by ``settings.queue``.

    "sql": its jobs in the registry database. "redis": Redis Streams at
    ``redis_url``, with the outbox relay running in this process (every
    process that holds the queue moves committed outbox rows, docs/scale-out.md §3);
    raises ConfigurationError when Redis cannot be reached. Close it with ``queue.close()``.
    """
    if settings.queue == "redis":
        from pushgate.queue.redis_streams import RedisQueue, connect_redis

        if settings.redis_url is None:
            raise ConfigurationError('queue = "redis" needs redis_url: set PUSHGATE_REDIS_URL')
        # Named after the process, so CLIENT LIST shows who holds each connection.
        name = f"pushgate:{socket.gethostname()}:{os.getpid()}"
        client = connect_redis(settings.redis_url.get_secret_value(), client_name=name)
        queue = RedisQueue(client, db, prefix=settings.redis_key_prefix)
        queue.start_relay()
        return queue
    from pushgate.queue import SqlQueue

    return SqlQueue(db)


def check_queue(settings: Settings) -> None:
    """Fail fast, before anything starts: with queue = "redis", Redis must answer.

    Raises ConfigurationError saying what to set; the SQL queue needs nothing.
    """
    if settings.queue == "redis":
        from pushgate.queue.redis_streams import connect_redis

        if settings.redis_url is None:
            raise ConfigurationError('queue = "redis" needs redis_url: set PUSHGATE_REDIS_URL')
        connect_redis(settings.redis_url.get_secret_value()).close()


def validation_policy(settings: Settings) -> ValidationPolicy:
    """Which endpoint hosts device registrations may name, per provider (the SSRF guard).

    The built-in public push services, plus ``providers.<name>.allowed_hosts``
    and the host of ``providers.<name>.base_url`` (a simulator's ``host:port``
    in tests and demos, or a private push service). They add to the built-in
    list, never replace it, so real browsers can still subscribe; the workers'
    clients allow the same hosts (``workers/clients.py``). An app's own
    credentials add theirs when its devices register
    (:mod:`pushgate.registry.endpoint_hosts`).
    """
    return ValidationPolicy.with_hosts(
        **{name: endpoint.added_hosts() for name, endpoint in settings.providers.items()}
    )


def schema_head() -> str:
    """The newest migration shipped in this package (what ``/ready`` expects)."""
    return HEAD_REVISION


@dataclass(frozen=True, slots=True)
class Services:
    """What a request handler needs; one per app, on ``app.state.services``."""

    settings: Settings
    db: Database
    queue: Queue
    metrics: Metrics
    policy: ValidationPolicy
    cipher: CredentialCipher  # encrypts the credentials the admin API stores
    # Called on the event loop after a request committed new jobs (queue name as
    # argument): in-process workers wake up instead of waiting for their next poll.
    on_enqueue: Callable[[str], None] | None = None
    rate_limiter: RateLimiter = field(init=False)
    public_rate_limiter: RateLimiter = field(init=False)  # per client address, in this process

    def __post_init__(self) -> None:
        # With the queue on Redis, the API processes share their rate-limit counts there too.
        client = getattr(self.queue, "redis", None)
        counter = redis_counter(client, self.settings.redis_key_prefix) if client is not None else None
        object.__setattr__(self, "rate_limiter", RateLimiter(self.db, counter=counter))  # frozen: set once
        object.__setattr__(self, "public_rate_limiter", RateLimiter(self.db, counter=local_counter()))
