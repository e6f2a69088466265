"""Scenario 12: direct sends through the API, many at once (login codes, order updates).

One ``pushgate serve`` with defaults (its sender worker inside), on SQLite
and on a fresh PostgreSQL database, APNs against the nginx sink. An app
has 1,000 devices (imported, not timed); ``clients`` threads, each with
its own keep-alive connection, post ``sends`` sends in all, each to one of
the app's tokens (``{"tokens": [...]}``: the direct lane, docs/scale-out.md
§2 "Lanes"), one after the other per client. The rate runs from the first
POST to the last send's ``finished_at`` (its one outcome recorded, on the
same machine's clock), so it counts sends accepted *and* delivered; every
send must end ``done`` with its device ``sent``. Also reported: the 202's
own p50/p99 and the server's CPU per send (API, fan-out, claim, delivery,
outcome and the job's completion: everything a send costs the process).
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

import httpx

from harness import deployment, server
from harness.latency_scenario import percentile
from harness.report import Row
from harness.scale_scenarios import _apns_credentials, _apns_env
from harness.scenarios import Options, WrongCount
from harness.sinks import Sinks

DEVICES = 1_000
WARM_UP = 50  # sends before the clock: the provider connection, the JWT, the statement caches


def _post(http: httpx.Client, app: deployment.App, token: str) -> tuple[str, float]:
    """One send to ``token``: (its id, seconds until the 202)."""
    t0 = time.perf_counter()
    answer = http.post("/v1/sends", headers=app.auth, json={
        "notification": {"title": "Login code", "body": "123456"}, "target": {"tokens": [token]}})
    if answer.status_code != 202:
        raise RuntimeError(f"direct send refused: {answer.status_code} {answer.text[:300]}")
    return answer.json()["id"], time.perf_counter() - t0


def _wait_done(http: httpx.Client, app: deployment.App, send_ids: list[str], timeout: float = 600.0,
               ) -> float:
    """The latest ``finished_at`` of ``send_ids`` (server time), once every one is done and sent."""
    deadline, last = time.monotonic() + timeout, 0.0
    for send_id in send_ids:
        while True:
            status = http.get(f"/v1/sends/{send_id}", headers=app.auth).json()
            if status["status"] == "done":
                break
            if time.monotonic() > deadline:
                raise WrongCount(f"send {send_id} not done after {timeout} s: {status}")
            time.sleep(0.05)
        if status["sent"] != 1:
            raise WrongCount(f"send {send_id} ended {status}")
        last = max(last, deployment.server_time(status["finished_at"]))
    return last


def direct_run(opts: Options, be: deployment.Backend, sinks: Sinks, sends: int, clients: int,
               ) -> dict[str, Any]:
    env = _apns_env(sinks)
    with server.Server(be.database_url, opts.workdir, settings={**be.settings, **env}) as srv, \
            httpx.Client(base_url=srv.url, timeout=120) as http:
        app = deployment.create_app(http, "apns", _apns_credentials(sinks))
        tokens = [secrets.token_hex(32) for _ in range(DEVICES)]
        deployment.import_devices(http, app, [{"provider": "apns", "token": t, "platform": "ios"}
                                              for t in tokens])
        warm = [_post(http, app, tokens[i])[0] for i in range(WARM_UP)]
        _wait_done(http, app, warm)
        ids: list[str] = []
        api_seconds: list[float] = []
        errors: list[BaseException] = []
        per_client = sends // clients

        def client(k: int) -> None:
            try:
                with httpx.Client(base_url=srv.url, timeout=120) as own:
                    for i in range(per_client):
                        send_id, seconds = _post(own, app, tokens[(k * per_client + i) % DEVICES])
                        ids.append(send_id)
                        api_seconds.append(seconds)
            except BaseException as exc:  # reported below, after every client stopped
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        cpu0, started = server.proc_cpu_seconds(srv.pid), time.time()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        last = _wait_done(http, app, ids)
        cpu = server.proc_cpu_seconds(srv.pid) - cpu0  # the polling's few requests included
    seconds = last - started
    return {
        "backend": be.label, "sends": len(ids), "clients": clients, "seconds": seconds,
        "rate": len(ids) / seconds, "cpu_ms_per_send": 1000 * cpu / len(ids),
        "api_p50_ms": 1000 * percentile(api_seconds, 50), "api_p99_ms": 1000 * percentile(api_seconds, 99),
    }


def direct_rows(opts: Options, sinks: Sinks) -> list[Row]:
    kinds = ["sqlite"] + (["postgres"] if opts.postgres_url else [])
    rows = []
    for kind in kinds:
        with deployment.backend(kind, opts.workdir, opts.postgres_url) as be:
            opts.log(f"[12] direct sends through the API on {be.label}: {opts.direct_sends:,} sends to one "
                     f"token each, {opts.direct_clients} clients")
            result = direct_run(opts, be, sinks, opts.direct_sends, opts.direct_clients)
        note = (f"{result['rate']:,.0f} sends/s accepted and delivered, {result['cpu_ms_per_send']:.2f} ms "
                f"of server CPU per send; the 202 p50 {result['api_p50_ms']:.1f} ms, p99 "
                f"{result['api_p99_ms']:.1f} ms")
        opts.log(f"    {note}")
        rows.append(Row(
            f"12{'' if kind == 'sqlite' else 'pg'}", f"direct sends through the API, {be.label}",
            rate=result["rate"], unit="sends/s", operations=result["sends"],
            cpu_seconds=result["cpu_ms_per_send"] * result["sends"] / 1000,
            config=f"pushgate serve, defaults; {result['clients']} clients, one token per send",
            target="(reported)", notes=[note], details=result))
    return rows
