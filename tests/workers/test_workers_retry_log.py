"""Retried deliveries are logged at WARNING, by provider and reason, without flooding the log.

The pool tests run the real pool, queue and registry against the APNs simulator
answering 503 (or an address nobody listens on); the lines are read with caplog.
"""

from __future__ import annotations

import logging
import re
import socket
from pathlib import Path

import pytest

from pushgate.queue import SqlQueue
from pushgate.registry import Database
from pushgate.results import Cause, Status, TokenResult
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.retry_log import RetryLog
from tests.workers.worker_helpers import eventually, make_app, running_pool, settings_for, start_send, status

LINE = re.compile(r"(\w+): (\d+) deliveries of (\d+) jobs? will be retried")


def retry_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pushgate.workers" and LINE.match(r.getMessage())]


async def test_a_retried_delivery_is_logged_with_its_provider_and_reason(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 3600.0)  # one round only
    app_id, _ = make_app(database, apns, 3)
    apns.queue_error(503, "ServiceUnavailable", count=3)
    queue = SqlQueue(database)
    start_send(database, queue, app_id, {"title": "later"})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings_for(database, apns, ca_file, max_tries=4), database):
            await eventually(lambda: retry_lines(caplog), what="a retry line")
    [line] = retry_lines(caplog)
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert message.startswith("apns: 3 deliveries of 1 job will be retried (after try 1 of 4"), message
    assert "ServiceUnavailable x3" in message, message


async def test_an_unreachable_provider_is_named_with_the_transport_error(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 3600.0)
    with socket.socket() as probe:  # a port nobody listens on once it is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = settings_for(database, apns, ca_file, providers={
        "apns": {"base_url": f"https://127.0.0.1:{port}", "ca_file": str(ca_file)},
    })
    app_id, _ = make_app(database, apns, 2)
    start_send(database, SqlQueue(database), app_id, {"title": "nobody home"})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings, database):
            await eventually(lambda: retry_lines(caplog), what="a retry line")
    message = retry_lines(caplog)[0].getMessage()
    assert message.startswith("apns: 2 deliveries of 1 job will be retried"), message
    assert f"ConnectFailed x2 (\"cannot connect to https://127.0.0.1:{port}" in message, message


async def test_a_broadcast_retrying_many_jobs_logs_a_summary_not_a_line_per_job(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 3600.0)
    app_id, _ = make_app(database, apns, 30)  # chunk_size 10: three delivery jobs
    apns.queue_error(429, "TooManyRequests", count=30)
    queue = SqlQueue(database)
    start_send(database, queue, app_id, {"title": "everyone"})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings_for(database, apns, ca_file), database):
            await eventually(lambda: (q := queue.stats().get("deliver:apns")) and q.scheduled == 3,
                             what="the three jobs waiting for their retry")
        # The first job's line came at once; the other two were held back and written
        # when the workers stopped.
    lines = [LINE.match(r.getMessage()) for r in retry_lines(caplog)]
    assert [(m[1], m[3]) for m in lines if m] == [("apns", "1"), ("apns", "2")]
    assert sum(int(m[2]) for m in lines if m) == 30
    assert all("TooManyRequests x" in r.getMessage() for r in retry_lines(caplog))


GIVEN_UP = re.compile(r"(\w+): (\d+) deliveries of (\d+) jobs? failed after their last try")


def given_up_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pushgate.workers" and GIVEN_UP.match(r.getMessage())]


async def test_deliveries_given_up_after_their_last_try_are_logged(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 0.0)  # the second try at once
    app_id, _ = make_app(database, apns, 3)
    apns.queue_error(503, "ServiceUnavailable", count=6)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "never"})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings_for(database, apns, ca_file, max_tries=2), database):
            await eventually(lambda: status(database, send_id).failed == 3, what="three failed deliveries")
            # Its own rate limit: not held back behind the retry line written a moment ago.
            await eventually(lambda: given_up_lines(caplog), what="a given-up line")
    [line] = given_up_lines(caplog)
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert message.startswith("apns: 3 deliveries of 1 job failed after their last try (try 2 of 2)"), message
    assert "ServiceUnavailable x3" in message, message
    assert len(retry_lines(caplog)) == 1  # the first try's line: retried, not given up


async def test_a_broadcast_given_up_in_many_jobs_logs_a_summary_not_a_line_per_job(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    app_id, _ = make_app(database, apns, 30)  # chunk_size 10: three delivery jobs
    apns.queue_error(429, "TooManyRequests", count=30)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "everyone"})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings_for(database, apns, ca_file, max_tries=1), database):
            await eventually(lambda: status(database, send_id).failed == 30, what="thirty failed deliveries")
        # The first job's line came at once; the other two were held back and written
        # when the workers stopped.
    lines = [GIVEN_UP.match(r.getMessage()) for r in given_up_lines(caplog)]
    assert [(m[1], m[3]) for m in lines if m] == [("apns", "1"), ("apns", "2")]
    assert sum(int(m[2]) for m in lines if m) == 30
    assert retry_lines(caplog) == []


def retry(reason: str, detail: str | None = None) -> TokenResult:
    return TokenResult("t", Status.RETRY, reason=reason, cause=Cause.PROVIDER, detail=detail)


def test_lines_are_rate_limited_per_provider_and_sum_up_what_was_held(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [100.0]
    log = RetryLog(interval=10.0, clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        log.note("wns", [retry("TransportError", "WNS token endpoint unreachable: ConnectError")] * 4,
                 tries=1, max_tries=10, wait=1.0)
        log.note("fcm", [retry("UNAVAILABLE")], tries=1, max_tries=10, wait=1.0)  # its own limit
        now[0] += 3
        log.note("wns", [retry("TransportError", "other"), retry("ServiceUnavailable", "503")],
                 tries=2, max_tries=10, wait=2.5)
        log.note("wns", [retry("ServiceUnavailable")], tries=1, max_tries=10, wait=1.0)
        assert [r.getMessage().split(":")[0] for r in caplog.records] == ["wns", "fcm"]
        now[0] += 10  # the interval is over: the next job's line sums up the held ones too
        log.note("wns", [retry("TransportError")], tries=3, max_tries=10, wait=4.0)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 3
    assert messages[0] == (
        "wns: 4 deliveries of 1 job will be retried (after try 1 of 10, next within 1.0 s): "
        "TransportError x4 ('WNS token endpoint unreachable: ConnectError')")
    assert messages[2] == (
        "wns: 4 deliveries of 3 jobs will be retried (after try 3 of 10, next within 4.0 s): "
        "TransportError x2 ('other'); ServiceUnavailable x2 ('503')")


async def test_held_lines_are_written_when_the_interval_ends(caplog: pytest.LogCaptureFixture) -> None:
    log = RetryLog(interval=0.05)
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        log.note("webpush", [retry("429")], tries=1, max_tries=10, wait=1.0)
        log.note("webpush", [retry("429")] * 2, tries=1, max_tries=10, wait=1.0)
        assert len(caplog.records) == 1
        await eventually(lambda: len(caplog.records) == 2, within=10, what="the held line")
    assert caplog.records[1].getMessage().startswith("webpush: 2 deliveries of 1 job will be retried")


def test_stopping_writes_what_is_held_and_long_lists_are_cut(caplog: pytest.LogCaptureFixture) -> None:
    log = RetryLog(interval=60.0, clock=lambda: 0.0)
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        log.note("apns", [retry("Shutdown")], tries=1, max_tries=10, wait=1.0)
        log.note("apns", [retry(f"Reason{n}", "x" * 500) for n in range(8)], tries=1, max_tries=10, wait=1.0)
        log.flush()
        log.flush()  # nothing held: nothing written
    assert len(caplog.records) == 2
    summary = caplog.records[1].getMessage()
    assert "3 more of 3 other reasons" in summary
    assert "x" * 201 not in summary


EXPIRED = re.compile(r"(\w+): (\d+) deliveries of (\d+) jobs? expired before their next try")


def expired_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "pushgate.workers" and EXPIRED.match(r.getMessage())]


async def test_deliveries_whose_next_try_comes_after_the_expiry_are_logged(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The next try would come after max_retry_delay (300 s); the notification lives 120 s.
    monkeypatch.setattr("pushgate.workers.delivery.RETRY_BASE_SECONDS", 3600.0)
    app_id, _ = make_app(database, apns, 3)
    apns.queue_error(503, "ServiceUnavailable", count=3)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "now or never", "ttl": 120})
    with caplog.at_level(logging.WARNING, logger="pushgate.workers"):
        async with running_pool(settings_for(database, apns, ca_file, max_tries=4), database):
            await eventually(lambda: status(database, send_id).expired == 3, what="three expired deliveries")
            await eventually(lambda: expired_lines(caplog), what="an expired line")
    [line] = expired_lines(caplog)
    assert line.levelno == logging.WARNING
    message = line.getMessage()
    assert message.startswith(
        "apns: 3 deliveries of 1 job expired before their next try (after try 1 of 4, "
        "the notification expiring first): "), message
    assert "ServiceUnavailable x3" in message, message
    assert retry_lines(caplog) == given_up_lines(caplog) == []  # not retried, not given up
