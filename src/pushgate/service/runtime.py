"""Running the service: ``pushgate serve`` (API + workers) and ``pushgate worker`` (workers only).

``serve`` is the one-machine default: the HTTP API (uvicorn) and
``settings.workers`` sender workers share one event loop, one database
pool, one queue object and one metrics registry; the API wakes the workers
when it enqueues, so a send starts within milliseconds. The embedded SQLite
database is migrated at start-up; PostgreSQL is migrated by ``pushgate
migrate`` (see :mod:`pushgate.service.components`).

``worker`` runs sender workers alone — more of them on other cores or
machines, against the same SQLite file or PostgreSQL database.

Signals: the first SIGTERM or SIGINT starts a graceful shutdown — the API
stops accepting and finishes its requests, the workers stop claiming and
drain in-flight jobs (bounded), outcomes are written, provider connections
closed. A second signal exits at once; leases left behind expire and the
jobs are picked up by the next process (``kill -9`` behaves the same).
uvicorn's own signal handling is switched off so there is one owner.

The HTTP app is handed to :func:`serve` (``pushgate serve`` passes
:func:`pushgate.server.create_app`): the service runs the HTTP surface but
does not import it, so the workers and the admin commands never load FastAPI.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from pushgate.allowed_hosts import host_port
from pushgate.service.metrics import Metrics
from pushgate.service.settings import Settings
from pushgate.workers.constants import DRAIN_SECONDS

if TYPE_CHECKING:
    from pushgate.queue import Queue
    from pushgate.registry import Database

logger = logging.getLogger("pushgate")

# Printed once the API listens: tools and tests that start ``pushgate serve
# --port 0`` read the address from it.
LISTENING_PREFIX = "pushgate listening on "
METRICS_PREFIX = "pushgate metrics on "


class AppFactory(Protocol):
    """Builds the HTTP API's ASGI app on the process's shared pieces (:func:`pushgate.server.create_app`).

    The app uses ``database``, ``queue`` and ``metrics`` as given and leaves
    their life cycle to :func:`serve`; it calls ``on_enqueue`` with a
    queue's name after a request committed new jobs.
    """

    def __call__(
        self,
        settings: Settings,
        *,
        database: Database,
        queue: Queue,
        metrics: Metrics,
        on_enqueue: Callable[[str], None],
    ) -> Callable[..., Awaitable[None]]: ...


class SafeFormatter(logging.Formatter):
    """Escapes control characters in the message, so text from a request (a user id with a
    NUL, a line break forging a log line, a terminal escape) is never written raw.
    Tracebacks keep their line breaks: they come from the code, not from requests."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        formatted = super().formatMessage(record)
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), formatted)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def configure_logging(level: str) -> None:
    """One line per record on stderr; the level from the settings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=getattr(logging, level.upper(), logging.INFO), handlers=[handler])
    from pushgate.service import log_redaction

    log_redaction.install()  # request URLs carry device tokens (WNS channels, Web Push endpoints)


class _Shutdown:
    """The stop request: set by the first signal; a second one exits at once."""

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def request(self) -> None:
        if self.event.is_set():
            logger.warning("second stop signal: exiting now (leases expire and are picked up later)")
            os._exit(130)
        logger.info("stopping: draining in-flight work (signal again to exit at once)")
        self.event.set()


@contextlib.contextmanager
def _signals(shutdown: _Shutdown, enabled: bool) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    if enabled:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, shutdown.request)
                installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


# Young-generation threshold of a running service (Python's default: 700, 10, 10).
SERVICE_GC_THRESHOLDS = (20_000, 20, 20)


def freeze_startup_heap() -> None:
    """Move every object start-up made (modules, the app, settings, clients) out of the
    garbage collector's reach, so the full collections of a running server no longer walk them,
    and collect the young generation less often (:data:`SERVICE_GC_THRESHOLDS`).

    Why freeze: a full collection walks every tracked object; ``pushgate serve`` holds
    about 170,000 after start-up, and sending makes enough surviving objects
    (each job's devices and per-device bookkeeping) for eight full collections
    in a 100,000-device send, which cost about 1 s of the 10 s of CPU it took
    (bench scenario 4, counted with ``gc.callbacks``). Frozen objects are
    still freed by reference counting; only cycles among them would stay
    (https://docs.python.org/3/library/gc.html#gc.freeze).

    Why the threshold: a worker keeps about a thousand requests in flight per
    job, each with a few tracked objects (its stream, its message, its
    result), and with the default threshold of 700 allocations a young
    collection runs every few requests and promotes whatever is in flight:
    in bench row 7w2 (event mode, two worker processes) the workers made
    about 2,400 young, 220 middle and 17 full collections for 100,000
    notifications, 0.73 s of their 9 CPU s (counted with ``gc.callbacks``).
    At 20,000 the objects in flight are mostly freed by reference counting
    before a collection sees them: 28 young collections and no other, 0.11 s.
    The cost is memory: up to 20,000 unreachable cyclic objects wait a little
    longer to be freed (https://docs.python.org/3/library/gc.html#gc.set_threshold).

    Why collect first: cycles start-up dropped but the collector had not reached
    yet would be frozen with the rest and never freed (0.2-0.3 MB of an idle
    ``pushgate serve``, bench scenario 6).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*SERVICE_GC_THRESHOLDS)


def prepare_senders() -> None:
    """Do at start-up what a process's first delivery job would otherwise do: import the
    provider clients (the specs import them when a client is first built, so that
    the library and the API stay light) and build the HPACK Huffman decoding table
    (:func:`pushgate.transport.huffman.prepare`).

    Why: together about 0.13 s of CPU for APNs alone, paid by the first job of a
    fresh worker (a login code waits for it) and, left to then, outside the start-up
    heap that :func:`freeze_startup_heap` freezes. ``pushgate worker`` calls it;
    ``pushgate serve`` does not, since its idle process would hold the four clients'
    stacks (23 MB: HTTP/2, JWT, OAuth, RFC 8291) before any app has a device.
    """
    from pushgate.registry.constants import PROVIDERS
    from pushgate.transport import huffman

    for provider in PROVIDERS:
        importlib.import_module(f"pushgate.providers.{provider.value}.client")
    huffman.prepare()


async def serve(
    settings: Settings,
    create_app: AppFactory,
    *,
    workers: int | None = None,
    drain: float = DRAIN_SECONDS,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
    on_listening: Callable[[str], None] | None = None,
    freeze_heap: bool = False,
) -> None:
    """Run the API and ``workers`` (default ``settings.workers``) sender workers until stopped.

    :param freeze_heap: once started, exempt what start-up made from garbage
        collection (:func:`freeze_startup_heap`); the CLI's processes do. The
        provider clients stay unimported until the first delivery job: an idle
        ``pushgate serve`` holds 23 MB less without them (bench scenario 6);
        ``pushgate worker``, which exists to send, imports them at start-up.

    :param create_app: builds the HTTP app (:func:`pushgate.server.create_app`).
    :param stop: an event that stops the server when set (besides signals);
        the demo and embedding applications use it.
    :param on_listening: called with the base URL once the API accepts connections.
    :raises pushgate.service.listen.CannotListen: ``settings.host:settings.port`` cannot be
        listened on (a taken port); nothing has started then.
    """
    import uvicorn

    from pushgate.service.components import open_database, open_queue
    from pushgate.service.listen import bind
    from pushgate.workers.pool import WorkerPool

    # Bound before anything opens, so a taken port stops here with nothing to undo (listen.py).
    sockets = bind(settings.host, settings.port)
    try:
        warn_if_credentials_unencrypted(settings)
        db = await asyncio.to_thread(open_database, settings)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    queue = open_queue(settings, db)
    metrics = Metrics()
    pool = WorkerPool(settings, db, queue, metrics, count=workers, drain=drain)
    app = create_app(settings, database=db, queue=queue, metrics=metrics, on_enqueue=pool.wake)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level=settings.log_level, lifespan="on",
        server_header=False, access_log=settings.log_level == "debug",
    )
    server = _uvicorn_server(config)
    shutdown = _Shutdown()
    with _signals(shutdown, handle_signals):
        await pool.start()
        api = asyncio.create_task(server.serve(sockets=sockets), name="pushgate-api")
        try:
            url = await _listening(server, api)
            if freeze_heap:
                freeze_startup_heap()
            print(f"{LISTENING_PREFIX}{url}", flush=True)
            if on_listening is not None:
                on_listening(url)
            await _first(api, shutdown.event, stop)
        finally:
            server.should_exit = True
            await asyncio.gather(pool.stop(), _finish(api))
            await asyncio.to_thread(queue.close)
            db.dispose()


async def run_workers(
    settings: Settings,
    *,
    count: int = 1,
    drain: float = DRAIN_SECONDS,
    handle_signals: bool = True,
    stop: asyncio.Event | None = None,
    metrics_port: int | None = None,
    freeze_heap: bool = False,
) -> None:
    """Run ``count`` sender workers (no API) until stopped.

    :param metrics_port: when given, Prometheus scrapes this process's
        metrics on ``settings.host`` at that port (0: a free one, printed).
    :param freeze_heap: as for :func:`serve`.
    :raises pushgate.service.listen.CannotListen: the metrics port cannot be listened on
        (a taken port); nothing has started then.
    """
    from pushgate.service.components import open_database, open_queue
    from pushgate.workers.pool import WorkerPool

    metrics = Metrics()
    stop_metrics: Callable[[], None] | None = None
    if metrics_port is not None:  # first: a taken port stops the worker with nothing else to undo
        metrics_url, stop_metrics = metrics.serve_http(settings.host, metrics_port)
    try:
        db = await asyncio.to_thread(open_database, settings)
    except BaseException:
        if stop_metrics is not None:
            stop_metrics()
        raise
    queue = open_queue(settings, db)
    pool = WorkerPool(settings, db, queue, metrics, count=max(1, count), drain=drain)
    if metrics_port is not None:
        metrics.watch_queue(queue.depths)
        print(f"{METRICS_PREFIX}{metrics_url}", flush=True)
    if freeze_heap:
        prepare_senders()
    shutdown = _Shutdown()
    with _signals(shutdown, handle_signals):
        await pool.start()
        if freeze_heap:
            freeze_startup_heap()
        print(f"pushgate worker running ({pool.count} workers, pid {os.getpid()})", flush=True)
        try:
            waits = [asyncio.create_task(shutdown.event.wait())]
            if stop is not None:
                waits.append(asyncio.create_task(stop.wait()))
            _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for task in pending:
                task.cancel()
        finally:
            await pool.stop()
            if stop_metrics is not None:
                stop_metrics()
            await asyncio.to_thread(queue.close)
            db.dispose()


def warn_if_credentials_unencrypted(settings: Settings) -> None:
    """One warning at start-up: without a secret_key a database backup holds every app's push keys."""
    if settings.secret_key is None:
        logger.warning("no secret_key is set: provider credentials are stored unencrypted "
                       "(set PUSHGATE_SECRET_KEY, then run `pushgate app reencrypt`)")


def _uvicorn_server(config: Any) -> Any:
    """uvicorn's server without its signal handlers (the runtime owns SIGTERM/SIGINT)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


async def _listening(server: Any, api: asyncio.Task[None]) -> str:
    """Wait until uvicorn listens (or failed to start) and return its base URL."""
    while not server.started:
        if api.done():
            api.result()  # raises what stopped it (port in use, …)
            raise RuntimeError("the API server stopped during start-up")
        await asyncio.sleep(0.02)
    for listener in server.servers:
        for sock in listener.sockets:
            host, port = sock.getsockname()[:2]
            return f"http://{host_port(host, port)}"
    return f"http://{host_port(server.config.host, server.config.port)}"


async def _first(api: asyncio.Task[None], *events: asyncio.Event | None) -> None:
    """Return when the API stopped by itself or any of the events is set."""
    waits: list[asyncio.Future[Any]] = [api]
    waits.extend(asyncio.create_task(e.wait()) for e in events if e is not None)
    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        if task is not api:
            task.cancel()


async def _finish(api: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        await api


__all__ = [
    "LISTENING_PREFIX", "METRICS_PREFIX", "SERVICE_GC_THRESHOLDS", "AppFactory", "configure_logging",
    "prepare_senders", "run_workers", "serve", "warn_if_credentials_unencrypted",
]
