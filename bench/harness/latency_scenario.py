"""Scenario 9: the latency of a direct send while a large broadcast drains.

One ``pushgate serve`` (defaults: its sender worker in the same process),
or with ``--latency-workers N`` an API-only ``pushgate serve`` beside N
``pushgate worker`` processes (row 9w: the deployment for latency, where
the 202 no longer shares an event loop with the broadcast's sending), on
SQLite and on a fresh PostgreSQL database, APNs against the nginx sink.
App A has N devices (imported, not timed) and gets one broadcast
(``{"all": true}``); app B has one device. While the broadcast is pending,
every ``interval`` a send to app B's one token (``{"tokens": [...]}``,
the direct lane: docs/scale-out.md §2 "Lanes", workers/sender.py) is
posted, for at most ``latency_window`` seconds (when the server cannot
keep up with the direct stream, its backlog would otherwise grow without
end; the broadcast then finishes after the window). Its latency runs from
just before its POST to the server's ``finished_at`` of that send — the
moment its one outcome (the sink's 200) was recorded, on the same
machine's clock. Only direct sends posted before the broadcast finished
count. Target: p99 ≤ 100 ms.
"""

from __future__ import annotations

import contextlib
import math
import secrets
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from harness import deployment, server
from harness.report import Row
from harness.scale_scenarios import _apns_credentials, _apns_env
from harness.scenarios import Options, WrongCount, _check
from harness.sinks import Sinks

TARGET_P99_MS = 100.0
BASELINE_SECONDS = 5.0  # the direct stream alone, before the broadcast (at most the window)
STATUS_EVERY = 0.5  # seconds between two reads of the broadcast's status while posting


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: the value below which q% of the samples lie."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def _post_direct(http: httpx.Client, app: deployment.App, token: str) -> tuple[str, float, float]:
    """One send to ``token``; (send id, wall time just before the POST, seconds until the 202)."""
    posted_at, t0 = time.time(), time.perf_counter()
    answer = http.post("/v1/sends", headers=app.auth, json={
        "notification": {"title": "Login code", "body": "123456"}, "target": {"tokens": [token]}})
    if answer.status_code != 202:
        raise RuntimeError(f"direct send refused: {answer.status_code} {answer.text[:300]}")
    return answer.json()["id"], posted_at, time.perf_counter() - t0


def _finished_at(http: httpx.Client, app: deployment.App, send_id: str, timeout: float = 600.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        status = http.get(f"/v1/sends/{send_id}", headers=app.auth).json()
        if status["status"] == "done" and status["finished_at"]:
            if status["sent"] != 1:
                raise WrongCount(f"direct send {send_id}: {status}")
            return deployment.server_time(status["finished_at"])
        if time.monotonic() > deadline:
            raise WrongCount(f"direct send {send_id} not done after {timeout} s: {status}")
        time.sleep(0.02)


Post = tuple[str, float, float]  # send id, wall time just before the POST, seconds until the 202


def _stream(http: httpx.Client, app: deployment.App, token: str, interval: float, seconds: float,
            done: Callable[[], bool] = lambda: False) -> tuple[list[Post], bool]:
    """Direct sends to ``token`` every ``interval`` for ``seconds`` or until ``done()`` (asked every
    ``STATUS_EVERY``); the posts, and whether ``done()`` ended it."""
    posts: list[Post] = []
    next_post = next_check = started = time.perf_counter()
    while True:
        now = time.perf_counter()
        if now >= next_check:
            if done():
                return posts, True
            next_check = now + STATUS_EVERY
        if now >= started + seconds:
            return posts, False
        if now >= next_post:
            posts.append(_post_direct(http, app, token))
            next_post += interval
        time.sleep(max(0.0, min(next_post, next_check) - time.perf_counter()))


def _latencies(http: httpx.Client, app: deployment.App, posts: list[Post],
               before: float = float("inf")) -> dict[str, Any]:
    """Each post's latency (POST → its outcome recorded), for posts made before ``before``."""
    latencies, accepted, last = [], [], 0.0
    for send_id, posted_at, api_seconds in posts:
        finished = _finished_at(http, app, send_id)
        last = max(last, finished)
        if posted_at < before:
            latencies.append(1000 * (finished - posted_at))
            accepted.append(1000 * api_seconds)
    if not latencies:
        return {"count": 0}
    return {
        "count": len(latencies), "p50_ms": percentile(latencies, 50), "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies), "mean_ms": statistics.fmean(latencies),
        "api_p50_ms": percentile(accepted, 50), "api_p99_ms": percentile(accepted, 99),
        # How fast the server got through the stream: posts over first POST → last outcome.
        "completed_per_second": len(posts) / max(1e-9, last - posts[0][1]),
        "latencies_ms": [round(x, 2) for x in latencies],
    }


@contextlib.contextmanager
def _deployment(opts: Options, be: deployment.Backend, sinks: Sinks, workers: int) -> Iterator[str]:
    """The API's URL: one ``pushgate serve`` with its worker inside (``workers`` 0), or an API-only
    serve and ``workers`` ``pushgate worker`` processes."""
    env = {**_apns_env(sinks), **opts.latency_settings}
    if not workers:
        with server.Server(be.database_url, opts.workdir, settings={**be.settings, **env}) as srv:
            yield srv.url
        return
    with deployment.processes(be, opts.workdir, workers, env) as (api, _):
        yield api.url


def latency_run(opts: Options, be: deployment.Backend, sinks: Sinks, devices: int,
                workers: int = 0) -> dict[str, Any]:
    credentials = _apns_credentials(sinks)
    with _deployment(opts, be, sinks, workers) as url, httpx.Client(base_url=url, timeout=300) as http:
        big = deployment.create_app(http, "apns", credentials)
        small = deployment.create_app(http, "apns", credentials)
        _, import_seconds = deployment.import_devices(http, big, deployment.apns_devices(devices))
        token = secrets.token_hex(32)
        deployment.import_devices(http, small, [{"provider": "apns", "token": token, "platform": "ios"}])
        # One before the clock: the provider connection and JWT exist before anything is measured.
        warm_id, _, _ = _post_direct(http, small, token)
        _finished_at(http, small, warm_id)
        # The same stream with no broadcast: what the direct path alone costs on this machine.
        baseline_posts, _ = _stream(http, small, token, opts.latency_interval,
                                    min(BASELINE_SECONDS, opts.latency_window))
        baseline = _latencies(http, small, baseline_posts)
        broadcast_posted = time.time()
        answer = http.post("/v1/sends", headers=big.auth, json=deployment.SEND_BODY)
        if answer.status_code != 202:
            raise RuntimeError(f"broadcast refused: {answer.status_code} {answer.text[:300]}")
        broadcast_id = answer.json()["id"]
        status: dict[str, Any] = {}

        def broadcast_done() -> bool:
            status.update(http.get(f"/v1/sends/{broadcast_id}", headers=big.auth).json())
            return bool(status["status"] == "done" and status["pending"] == 0)

        posts, finished = _stream(http, small, token, opts.latency_interval, opts.latency_window,
                                  broadcast_done)
        sent_at_window_end = None if finished else int(status.get("sent", 0))
        while not broadcast_done():
            time.sleep(STATUS_EVERY)
        if status["sent"] != devices:
            raise WrongCount(f"broadcast on {be.label}: {status}")
        broadcast_end = deployment.server_time(status["finished_at"])
        during = _latencies(http, small, posts, before=broadcast_end)
    if not during["count"]:
        raise WrongCount(f"no direct send was posted while the broadcast drained on {be.label}")
    return {
        "backend": be.label, "devices": devices, "workers_apart": workers,
        "interval_ms": 1000 * opts.latency_interval, **during,
        "baseline": baseline, "posted": len(posts),
        "broadcast_seconds": broadcast_end - broadcast_posted,
        "broadcast_rate": devices / (broadcast_end - broadcast_posted), "import_seconds": import_seconds,
        "window_cut": sent_at_window_end is not None, "broadcast_sent_at_window_end": sent_at_window_end,
    }


def _summary(stats: dict[str, Any]) -> str:
    if not stats.get("count"):
        return "none completed"
    return (f"{stats['count']} sends, p50 {stats['p50_ms']:.1f} ms, p99 {stats['p99_ms']:.1f} ms, max "
            f"{stats['max_ms']:.1f} ms, completed {stats['completed_per_second']:.1f}/s; the 202 itself p50 "
            f"{stats['api_p50_ms']:.1f}, p99 {stats['api_p99_ms']:.1f} ms")


def _settings(opts: Options) -> str:
    return ", ".join(f"{k}={v}" for k, v in opts.latency_settings.items()) or "defaults"


def _topology(workers: int) -> str:
    if not workers:
        return "pushgate serve"
    return f"serve --workers 0 + {workers} x pushgate worker"


def latency_rows(opts: Options, sinks: Sinks) -> list[Row]:
    kinds = ["sqlite"] + (["postgres"] if opts.postgres_url else [])
    rows = []
    for kind, workers in [(kind, workers) for kind in kinds for workers in opts.latency_workers]:
        with deployment.backend(kind, opts.workdir, opts.postgres_url) as be:
            opts.log(f"[9] direct-send latency on {be.label}, {_topology(workers)}, while a "
                     f"{opts.latency_devices:,}-device broadcast drains (one every "
                     f"{1000 * opts.latency_interval:.0f} ms, {1 / opts.latency_interval:.1f}/s)")
            result = latency_run(opts, be, sinks, opts.latency_devices, workers)
        notes = [f"during the broadcast: {_summary(result)}",
                 f"alone ({BASELINE_SECONDS:.0f} s before the broadcast): {_summary(result['baseline'])}",
                 f"broadcast {result['broadcast_rate']:,.0f} deliveries/s over "
                 f"{result['broadcast_seconds']:.1f} s"]
        if result["window_cut"]:
            notes.append(f"posting stopped after the {opts.latency_window:.0f} s window, with the broadcast "
                         f"at {result['broadcast_sent_at_window_end']:,} of {opts.latency_devices:,} sent")
        for note in notes:
            opts.log(f"    {note}")
        rows.append(Row(
            f"9{'' if kind == 'sqlite' else 'pg'}{'w' if workers else ''}",
            f"direct send p99 during a {opts.latency_devices:,}-device broadcast, {be.label}"
            f"{f', {workers} worker(s) apart' if workers else ''}",
            rate=result["p99_ms"], unit="ms p99", operations=result["count"],
            config=f"{_topology(workers)}, {_settings(opts)}; "
                   f"a direct send every {result['interval_ms']:.0f} ms",
            target=f"p99 ≤ {TARGET_P99_MS:.0f} ms",
            checks=[_check("p99", result["p99_ms"], TARGET_P99_MS, above=False)], notes=notes,
            details=result))
    return rows
