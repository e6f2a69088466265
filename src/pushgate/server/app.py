"""The FastAPI application: ``create_app(settings)`` → an ASGI app.

The API validates and hands over: it stores devices, users and sends in the
registry and jobs in the durable queue, and never talks to a provider
(the sender workers do). OpenAPI is at ``/docs``; everything an app calls
is under ``/v1``.

Given a ``database``, ``queue`` or ``metrics`` object the app uses it as
is (``pushgate serve`` shares them with its in-process workers; tests pass
their own) and leaves its life cycle to the caller. Otherwise it builds
them from ``settings``; a database it opened itself is, when it is the
embedded SQLite default, migrated at start-up (see
:mod:`pushgate.service.components`) and disposed at shutdown.

``on_enqueue`` is called on the event loop, with the queue's name, after a
request committed new jobs, so in-process workers can wake at once instead
of waiting for their next poll.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import Depends, FastAPI
from fastapi.concurrency import run_in_threadpool

from pushgate.queue import Queue
from pushgate.registry import CredentialCipher, Database
from pushgate.server import docs, errors
from pushgate.server.answers import ID_ROUTES
from pushgate.server.compat_routes import defer_pushkin, defer_pushkin_settings, defer_pushpad, defer_router
from pushgate.server.content_type import JsonBodyMiddleware
from pushgate.server.middleware import BodyLimitMiddleware, InternalErrorMiddleware, MetricsMiddleware
from pushgate.server.routes import ROUTERS, LazyRouter, send_batch, send_exports, user_listing
from pushgate.server.text_guard import reject_control_characters
from pushgate.service.components import Services, open_queue, schema_head, validation_policy
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings

logger = logging.getLogger("pushgate.server")

DESCRIPTION = """\
Self-hosted push notifications through APNs, FCM, Web Push and WNS.

Apps authenticate with an API key: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
Admin routes (`/v1/apps`) take the server's admin token the same way.
Errors have one shape: `{"error": {"code", "message", "field"}}`.
"""


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    queue: Queue | None = None,
    metrics: Metrics | None = None,
    on_enqueue: Callable[[str], None] | None = None,
) -> FastAPI:
    """The API as an ASGI app (see the module docstring for what it owns)."""
    from pushgate import __version__

    owns_database = database is None
    db = database if database is not None else Database(settings.database_url)  # connects lazily
    work_queue = queue if queue is not None else open_queue(settings, db)
    registry = metrics if metrics is not None else Metrics()
    registry.watch_queue(work_queue.depths)
    services = Services(settings, db, work_queue, registry, validation_policy(settings),
                        CredentialCipher.from_settings(settings), on_enqueue)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Every request's database work runs on a thread of anyio's pool, 40 by default. It is
        # Python holding the GIL and SQLite or PostgreSQL waiting, so two cores stay busy with a
        # few threads; with sixteen clients posting direct sends, forty threads handed the GIL
        # around in context switches that took a third of the server's CPU
        # (bench scenario 12; docs/architecture.md §5).
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.api_threads
        if owns_database:
            await run_in_threadpool(_prepare_schema, db)
        try:
            yield
        finally:
            if owns_database:
                db.dispose()

    app = FastAPI(title="pushgate", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  dependencies=[Depends(reject_control_characters)],
                  docs_url=None, redoc_url=None)  # /docs is served offline by server.docs
    docs.install(app, "pushgate")
    app.state.services = services
    errors.install(app)
    if settings.queue == "redis":
        errors.install_queue_errors(app)
    for router, answers in ROUTERS:
        if isinstance(router, LazyRouter):
            defer_router(app, router, answers)  # the Web SDK's, on their first request
        else:
            app.include_router(router, responses=answers)
    if settings.admin_ui:
        from pushgate.admin import install as install_admin_ui

        install_admin_ui(app)  # the web UI at /admin (docs/admin.md), its pages loaded on first use
    # The compatible APIs are installed by their first request, in these places (server/deferred.py).
    if settings.pushpad_api_prefix:
        defer_pushpad(app, settings.pushpad_api_prefix)
    for extra in (user_listing.router, send_batch.router, send_exports.router):
        app.include_router(extra, responses=ID_ROUTES)
    defer_pushkin_settings(app)
    defer_pushkin(app, settings.pushkin_prefix)
    app.add_middleware(InternalErrorMiddleware)  # innermost: sees the route's exceptions first
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_request_bytes)
    app.add_middleware(MetricsMiddleware, metrics=registry)  # outermost: counts the 413s too
    return app


def _prepare_schema(db: Database) -> None:
    """Migrate the embedded SQLite database; on PostgreSQL only say what is missing."""
    if db.is_sqlite:
        db.migrate()
        return
    try:
        current = db.current_revision()
    except Exception as exc:  # the server still starts: /health answers, /ready says why
        logger.error("database not reachable at start-up (%s); /ready answers 503", type(exc).__name__)
        return
    if current != schema_head():
        logger.error("database schema is at %s, this version needs %s: run `pushgate migrate`",
                     current, schema_head())
