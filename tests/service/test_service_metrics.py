"""Metrics: the queue-depth gauge survives an unreachable database; a worker serves scrapes over HTTP."""

from __future__ import annotations

import httpx

from pushgate.service.metrics import Metrics


def test_queue_depth_is_read_at_scrape_time_and_an_error_leaves_it_empty() -> None:
    metrics = Metrics()
    answers: list[dict[str, int] | Exception] = [{"apns": 500, "fcm": 0}, ConnectionError("database down")]

    def depth() -> dict[str, int]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    metrics.watch_queue(depth)
    metrics.watch_queue(lambda: {"ignored": 1})  # a second watcher (shared Metrics) keeps the first
    first = metrics.render().decode()
    assert 'pushgate_queue_depth{queue="apns"} 500.0' in first
    assert "ignored" not in first
    second = metrics.render().decode()
    assert "# TYPE pushgate_queue_depth gauge" in second
    assert 'queue="apns"' not in second


def test_serve_http_answers_scrapes_until_stopped() -> None:
    metrics = Metrics()
    metrics.retries.labels("fcm").inc(2)
    url, stop = metrics.serve_http("127.0.0.1", 0)
    try:
        scrape = httpx.get(url).text
        assert 'pushgate_delivery_retries_total{provider="fcm"} 2.0' in scrape
    finally:
        stop()
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        pass
    else:
        raise AssertionError("the metrics endpoint still answers after stop()")
