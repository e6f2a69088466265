"""Prometheus metrics of the server and its workers.

One :class:`Metrics` object per server process, on its own
``CollectorRegistry`` (no module-level globals: tests run several servers in
one process). Label values are bounded sets (provider, status, reason, route
template) — never app ids or tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pushgate.results import TokenResult

logger = logging.getLogger("pushgate.metrics")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class _QueueDepth(Collector):
    """Reads queue depth at scrape time (cheap COUNT on the queue)."""

    def __init__(self, depth: Callable[[], dict[str, int] | None]) -> None:
        self._depth = depth

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("pushgate_queue_depth", "Jobs waiting, by queue", labels=["queue"])
        depths = self._depth()
        if depths is not None:
            # Every queue a worker claims from, 0 when empty: a gauge with no
            # samples reads as "unknown" to Prometheus while /ready says 0.
            for queue in _known_queues():
                depths.setdefault(queue, 0)
            for queue, depth in sorted(depths.items()):
                family.add_metric([queue], depth)
        yield family


def _known_queues() -> tuple[str, ...]:
    from pushgate.planner.jobs import FANOUT_QUEUE, deliver_queue
    from pushgate.registry.constants import PROVIDERS

    lanes = (deliver_queue(p.value, direct=direct) for p in PROVIDERS for direct in (True, False))
    return (FANOUT_QUEUE, *lanes)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._watching_queue = False
        self.http_requests = Counter(
            "pushgate_http_requests", "HTTP API requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_latency = Histogram(
            "pushgate_http_request_seconds", "HTTP API latency", ["route"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.sends = Counter("pushgate_sends", "Sends accepted by the API", registry=self.registry)
        self.deliveries = Counter(
            "pushgate_deliveries", "Final delivery outcomes", ["provider", "status", "reason"],
            registry=self.registry,
        )
        self.provider_latency = Histogram(
            "pushgate_provider_request_seconds", "Provider request latency", ["provider"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self.retries = Counter(
            "pushgate_delivery_retries", "Deliveries re-queued for a retry", ["provider"],
            registry=self.registry,
        )
        self.auth_refreshes = Counter(
            "pushgate_auth_token_refreshes", "Provider auth tokens (JWT/OAuth) minted", ["provider"],
            registry=self.registry,
        )
        self.paused_apps = Gauge(
            "pushgate_paused_app_providers", "App/provider pairs paused for credential errors",
            registry=self.registry,
        )
        # What a kill -9 could make devices receive twice: handed to a provider, outcome not
        # yet durable (workers/window.py); and the sum of the running jobs' windows.
        self.deliveries_in_flight = Gauge(
            "pushgate_deliveries_in_flight",
            "Deliveries handed to a provider whose outcome is not stored yet",
            registry=self.registry,
        )
        self.delivery_window = Gauge(
            "pushgate_delivery_window", "Sum of the running delivery jobs' in-flight windows",
            registry=self.registry,
        )
        # Delivery webhooks (docs/webhooks.md): result is delivered, http_error, timeout or
        # connection_error (refused by the SSRF rules included).
        self.webhook_posts = Counter(
            "pushgate_webhook_posts", "Webhook batches posted, by result", ["result"], registry=self.registry,
        )
        self.webhook_events = Counter(
            "pushgate_webhook_events_delivered", "Webhook events a receiver accepted", registry=self.registry,
        )

    def watch_queue(self, depth: Callable[[], dict[str, int]]) -> None:
        """Expose ``depth()`` (pending work per queue) as a gauge read at scrape time.

        A scrape while the database is unreachable shows no depth rather than
        failing the whole answer. Watching a second time (a server and its
        workers sharing one Metrics) keeps the first watcher.
        """

        def safe_depth() -> dict[str, int] | None:
            try:
                return dict(depth())
            except Exception:
                logger.warning("queue depth unavailable for /metrics", exc_info=True)
                return None  # no samples: unknown, not zero

        if not self._watching_queue:
            self._watching_queue = True
            self.registry.register(_QueueDepth(safe_depth))

    def serve_http(self, host: str, port: int) -> tuple[str, Callable[[], None]]:
        """Answer Prometheus scrapes on ``http://host:port/`` from a thread.

        Returns the URL (``port`` 0 picks a free one) and the call that stops it;
        raises :class:`~pushgate.service.listen.CannotListen` when the port cannot be had.

        For processes without the API (``pushgate worker``); the API serves
        ``/metrics`` itself.
        """
        from prometheus_client import start_http_server

        from pushgate.allowed_hosts import host_port
        from pushgate.service.listen import bind_error

        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:  # a taken port: one error the command line words (listen.py)
            raise bind_error(host, port, exc) from exc
        url = f"http://{host_port(host, server.server_port)}/metrics"

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return url, stop

    def observe(self, provider: str, result: TokenResult) -> None:
        reason = result.reason if result.status.value != "sent" else ""
        self.deliveries.labels(provider, result.status.value, reason or "").inc()
        if result.latency is not None:
            self.provider_latency.labels(provider).observe(result.latency)

    def render(self) -> bytes:
        return generate_latest(self.registry)
