"""The six scenarios: each runs its measurements (pushgate, ceiling, peer) and returns table rows.

Every measured program is its own process so CPU seconds and peak RSS
belong to it alone. Outcome counts are checked here: a scenario that
delivers a wrong count raises :class:`WrongCount` and fails the run; a
missed target only shows as ``NO`` in the table.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import h2load, nginx, peers, server
from harness.child_apns import throwaway_credentials
from harness.measure import BENCH_DIR, run_child, run_measured
from harness.profiling import top_self
from harness.report import Row
from harness.sinks import Sinks

BODY = b'{"aps":{"alert":{"title":"Benchmark","body":"Hello from pushgate"},"badge":1}}'


class WrongCount(RuntimeError):
    """A scenario delivered a different number of notifications than it should have."""


@dataclass
class Options:
    n: int
    quick: bool
    workdir: Path
    peers: bool = True
    ceiling: bool = True
    peer_n: int = 10_000
    fanout_devices: int = 1_000_000
    e2e_devices: int = 100_000
    postgres_url: str | None = "postgresql://postgres@127.0.0.1:5432/postgres"
    redis_url: str | None = "redis://127.0.0.1:6379/0"  # scenarios 8 and 10 (queue = "redis")
    scale_devices: int = 200_000  # scenario 8
    latency_devices: int = 1_000_000  # scenario 9
    latency_interval: float = 0.03  # scenario 9: seconds between two direct sends
    latency_window: float = 120.0  # scenario 9: direct sends are posted for at most this long
    latency_settings: dict[str, str] = field(default_factory=dict)  # scenario 9: extra PUSHGATE_* values
    latency_workers: list[int] = field(default_factory=lambda: [0])  # scenario 9: worker processes apart
    webpush_devices: int = 50_000  # scenario 10
    direct_sends: int = 3_000  # scenario 12: sends posted
    direct_clients: int = 16  # scenario 12: clients posting at once
    webpush_rounds: int = 7  # scenario 3: alternating rounds of bare encryption and pushgate sends
    profile: bool = False
    log: Callable[[str], None] = print
    best_apns: dict[str, int] = field(default_factory=lambda: {"connections": 1, "concurrency": 1000})
    failures: list[str] = field(default_factory=list)


def _peer(opts: Options, label: str, run: Callable[[], dict[str, Any] | None]) -> dict[str, Any] | None:
    """A peer's best run; a peer that crashes fails the run but keeps pushgate's row."""
    try:
        return run()
    except Exception as exc:
        opts.failures.append(f"{label}: {str(exc)[:300]}")
        opts.log(f"    FAILED {label}: {str(exc)[:300]}")
        return None


def _check(label: str, value: float | None, limit: float, above: bool = True) -> tuple[str, bool | None]:
    if value is None:
        return (label, None)
    return (label, value >= limit if above else value <= limit)


def _profile_config(opts: Options, name: str) -> dict[str, Any] | None:
    if not opts.profile:
        return None
    return {"py_spy": str(peers.py_spy_binary()), "out": str(opts.workdir / f"profile-{name}")}


def _profile_rows(opts: Options, name: str) -> list[dict[str, Any]]:
    raw = opts.workdir / f"profile-{name}.txt"
    return top_self(raw) if raw.exists() else []


# -- scenarios 1 and 2: APNs --------------------------------------------------------------------


def _apns_ceiling(opts: Options, urls: list[str]) -> h2load.H2loadResult | None:
    if not opts.ceiling or h2load.h2load_binary() is None:
        return None
    headers = {"apns-topic": "com.example.app", "apns-push-type": "alert", "apns-expiration": "0",
               "authorization": "bearer " + "e" * 180, "apns-id": "6b7bd7a4-1fd3-4c0e-a0f0-3b3b6c4a2a11"}
    best = None
    for clients, streams in ((1, 100), (1, 1000), (4, 250)):
        result = h2load.run_h2load(urls, n=opts.n, clients=clients, streams=streams, headers=headers,
                                   body=BODY, workdir=opts.workdir)
        opts.log(f"    h2load {result.config}: {result.rate:,.0f} req/s, status {result.status}")
        if result.done != opts.n:
            raise WrongCount(f"h2load finished {result.done} of {opts.n} requests")
        if best is None or result.rate > best.rate:
            best = result
    return best


def _apns_peer(opts: Options, sinks: Sinks, url: str, n: int) -> dict[str, Any] | None:
    if not opts.peers:
        return None
    python = peers.peer_python("aioapns", log=opts.workdir / "peers-install.log")
    port = int(url.rsplit(":", 1)[1])
    best = None
    for connections, concurrency in ((1, 1000), (4, 2000)):
        result = run_child("peer_aioapns", {
            "host": "127.0.0.1", "port": port, "ca_file": sinks.ca_file, "n": n,
            "key": throwaway_credentials()["key"], "connections": connections, "concurrency": concurrency,
        }, timeout=900, python=str(python))
        opts.log(f"    {result['config']}: {result['rate']:,.0f}/s, outcomes {result['counts']}")
        if sum(result["counts"].values()) != n:
            raise WrongCount(f"aioapns answered {sum(result['counts'].values())} of {n}")
        if best is None or result["rate"] > best["rate"]:
            best = result
    return best


def _pushgate_apns(opts: Options, sinks: Sinks, url: str, grid: list[tuple[int, int]], dead: bool,
                   profile: str | None) -> dict[str, Any]:
    best = None
    for connections, concurrency in grid:
        result = run_child("child_apns", {
            "url": url, "ca_file": sinks.ca_file, "n": opts.n, "connections": connections,
            "concurrency": concurrency, "credentials": sinks.apns_credentials,
            "dead_first_hex": nginx.DEAD_FIRST_HEX if dead else "",
        }, timeout=900)
        counts = result["counts"]
        opts.log(f"    pushgate {result['config']}: {result['rate']:,.0f}/s, "
                 f"{1e6 * result['cpu_seconds'] / opts.n:.1f} CPU µs/op, outcomes {counts}")
        want_dead = result["expected_dead"] if dead else 0
        if counts["dead"] != want_dead or counts["sent"] != opts.n - want_dead:
            raise WrongCount(f"pushgate APNs: {counts}, expected {want_dead} dead of {opts.n}")
        if best is None or result["rate"] > best["rate"]:
            best = result
    assert best is not None
    if profile:
        opts.log("    profiling the best configuration with py-spy")
        connections, concurrency = (int(x.split("=")[1]) for x in best["config"].split())
        run_child("child_apns", {
            "url": url, "ca_file": sinks.ca_file, "n": opts.n, "connections": connections,
            "concurrency": concurrency, "credentials": sinks.apns_credentials,
            "profile": _profile_config(opts, profile),
        }, timeout=900)
        best["profile"] = _profile_rows(opts, profile)
    return best


def apns_rows(opts: Options, sinks: Sinks, scenarios: set[int]) -> list[Row]:
    rows = []
    if 1 in scenarios:
        opts.log("[1] APNs, distinct tokens, one process")
        ceiling = _apns_ceiling(opts, [f"{sinks.apns}/3/device/{'ab' * 32}"])
        grid = [(1, 1000)] if opts.quick else [(1, 1000), (2, 1000), (4, 1000), (1, 500), (2, 2000)]
        mine = _pushgate_apns(opts, sinks, sinks.apns, grid, False, "apns" if opts.profile else None)
        opts.best_apns = dict(zip(("connections", "concurrency"),
                                  (int(x.split("=")[1]) for x in mine["config"].split()), strict=True))
        peer = _peer(opts, "aioapns (1)",
                     lambda: _apns_peer(opts, sinks, sinks.apns, min(opts.n, opts.peer_n)))
        rows.append(_apns_row("1", "APNs sends/s, 1 process, distinct tokens", mine, ceiling, peer,
                              target=True))
    dead_sink = sinks.apns410  # bound here: the peer's lambda below needs it narrowed to str
    if 2 in scenarios and dead_sink:
        opts.log("[2] APNs, 50% 410 Unregistered")
        urls = [f"{dead_sink}/3/device/{'0b' * 32}", f"{dead_sink}/3/device/{'fb' * 32}"]
        ceiling = _apns_ceiling(opts, urls)
        grid = [(opts.best_apns["connections"], opts.best_apns["concurrency"])]
        mine = _pushgate_apns(opts, sinks, dead_sink, grid, True, None)
        # aioapns never acknowledges received DATA, so its connection window fills after ~1,300
        # error bodies and it stalls until its 10 s idle timer reconnects: keep its run short.
        peer = _peer(opts, "aioapns (2)",
                     lambda: _apns_peer(opts, sinks, dead_sink, min(opts.n, opts.peer_n, 5000)))
        row = _apns_row("2", "APNs sends/s, 50% 410 (dead-token path)", mine, ceiling, peer, target=False)
        if peer:
            row.notes.append("aioapns stalls on error bodies (it never sends WINDOW_UPDATE; its 10 s idle "
                             "timer reconnects), so its run is 5,000 notifications")
        rows.append(row)
    return rows


def _apns_row(number: str, name: str, mine: dict[str, Any], ceiling: h2load.H2loadResult | None,
              peer: dict[str, Any] | None, target: bool) -> Row:
    row = Row(number, name, rate=mine["rate"], unit="notif/s", cpu_seconds=mine["cpu_seconds"],
              operations=mine["n"], peak_rss_mb=mine["peak_rss_mb"], config=mine["config"],
              details={"pushgate": mine})
    if ceiling is not None:
        row.vs_ceiling = mine["rate"] / ceiling.rate
        row.ceiling = (f"{ceiling.config}: {ceiling.rate:,.0f} req/s, {ceiling.cpu_seconds:.2f} CPU s "
                       f"({1e6 * ceiling.cpu_seconds / ceiling.done:.1f} µs/req)")
        row.details["ceiling"] = ceiling.as_dict()
    if peer is not None:
        row.vs_peer = mine["rate"] / peer["rate"]
        row.peer = (f"{peer['config']}: {peer['rate']:,.0f}/s over {peer['n']:,}, "
                    f"{1e6 * peer['cpu_seconds'] / peer['n']:.0f} CPU µs/op, {peer['peak_rss_mb']:.0f} MB")
        row.details["peer"] = peer
    if target:
        row.target = "≥40k/s, ≥10x aioapns, ≥40% h2load"
        row.checks = [_check("rate", mine["rate"], 40_000), _check("vs peer", row.vs_peer, 10),
                      _check("vs ceiling", row.vs_ceiling, 0.40)]
    else:
        row.target = "(reported)"
    return row


# -- scenario 3: Web Push ----------------------------------------------------------------------


def webpush_row(opts: Options, sinks: Sinks) -> Row:
    """Scenario 3: the rate of the best configuration, and the ratio to bare encryption from
    alternating rounds in one process (``harness/child_webpush_rounds.py``)."""
    opts.log("[3] Web Push sends/s with RFC 8291 encryption, distinct subscriptions")
    subs_file = sinks.subscriptions_file
    if subs_file is None:
        from harness.child_webpush import subscriptions

        subs_file = str(opts.workdir / "subscriptions.json")
        Path(subs_file).write_text(json.dumps(subscriptions(sinks.webpush, opts.n)))
    best = None
    for connections, concurrency in [(1, 1000)] if opts.quick else [(1, 1000), (1, 200), (2, 1000)]:
        result = run_child("child_webpush", {
            "origin": sinks.webpush, "ca_file": sinks.ca_file, "n": opts.n, "subscriptions_file": subs_file,
            "connections": connections, "concurrency": concurrency,
            "vapid_private_key": sinks.vapid_private_key,
        }, timeout=900)
        opts.log(f"    pushgate {result['config']}: {result['rate']:,.0f}/s, "
                 f"{1e6 * result['cpu_seconds'] / opts.n:.1f} CPU µs/op, outcomes {result['counts']}")
        if result["counts"]["sent"] != opts.n:
            raise WrongCount(f"pushgate Web Push: {result['counts']}, expected {opts.n} sent")
        if best is None or result["rate"] > best["rate"]:
            best = result
    assert best is not None
    connections, concurrency = (int(x.split("=")[1]) for x in best["config"].split())
    rounds = run_child("child_webpush_rounds", {
        "origin": sinks.webpush, "ca_file": sinks.ca_file, "n": opts.n, "subscriptions_file": subs_file,
        "connections": connections, "concurrency": concurrency, "rounds": opts.webpush_rounds,
        "vapid_private_key": sinks.vapid_private_key,
    }, timeout=900)
    if rounds["counts"]["sent"] != rounds["n"]:
        raise WrongCount(f"pushgate Web Push (rounds): {rounds['counts']}, expected {rounds['n']} sent")
    ratio, bare, ece = rounds["ratio"], rounds["bare"], rounds["ece"]
    opts.log(f"    {rounds['rounds']} alternating rounds of {rounds['per_round']:,}: pushgate/bare "
             f"median {ratio['median']:.1%} ({ratio['min']:.1%}-{ratio['max']:.1%}); bare RFC 8291 "
             f"(cryptography) median {bare['median']:,.0f}/CPU-s, pushgate.crypto.ece "
             f"{ece['median']:,.0f}/CPU-s, pushgate sends {rounds['pushgate']['median']:,.0f}/CPU-s")
    if opts.profile:
        opts.log("    profiling the best configuration with py-spy")
        run_child("child_webpush", {
            "origin": sinks.webpush, "ca_file": sinks.ca_file, "n": opts.n, "subscriptions_file": subs_file,
            "connections": connections, "concurrency": concurrency,
            "vapid_private_key": sinks.vapid_private_key, "profile": _profile_config(opts, "webpush"),
        }, timeout=900)
        best["profile"] = _profile_rows(opts, "webpush")
    row = Row("3", "Web Push sends/s incl. RFC 8291, distinct subscriptions", rate=best["rate"],
              unit="sends/s", cpu_seconds=best["cpu_seconds"], operations=best["n"],
              peak_rss_mb=best["peak_rss_mb"],
              config=best["config"], vs_ceiling=ratio["median"],
              ceiling=(f"bare RFC 8291 encryption with cryptography, one core: the median of "
                       f"{rounds['rounds']} rounds alternating with pushgate's sends in one process, "
                       f"pushgate/bare {ratio['min']:.0%}-{ratio['max']:.0%} per round; bare "
                       f"{bare['median']:,.0f}/CPU-s (pushgate.crypto.ece alone: "
                       f"{ece['median']:,.0f}/CPU-s), "
                       f"pushgate {rounds['pushgate']['median']:,.0f} sends/CPU-s"),
              target="≥6x pywebpush, ≥70% bare encryption",
              details={"pushgate": best, "rounds": rounds},
              notes=[f"peak RSS includes the {best['n']:,} parsed subscriptions loaded before the clock "
                     "starts (keys and endpoints, as a caller holds them)"])
    peer = _peer(opts, "pywebpush", lambda: _webpush_peer(opts, sinks, subs_file)) if opts.peers else None
    if peer is not None:
        row.vs_peer = best["rate"] / peer["rate"]
        row.peer = (f"{peer['config']}: {peer['rate']:,.0f}/s over {peer['n']:,}, "
                    f"{1e6 * peer['cpu_seconds'] / peer['n']:.0f} CPU µs/op, {peer['peak_rss_mb']:.0f} MB")
        row.details["peer"] = peer
    row.checks = [_check("vs peer", row.vs_peer, 6), _check("vs ceiling", row.vs_ceiling, 0.70)]
    return row


def _webpush_peer(opts: Options, sinks: Sinks, subs_file: str) -> dict[str, Any]:
    from pushgate.crypto.vapid import VapidKey

    python = peers.peer_python("pywebpush", log=opts.workdir / "peers-install.log")
    vapid_pem = VapidKey.generate().private_pem().decode()
    n = min(opts.n, opts.peer_n)
    best = None
    for mode, concurrency in (("threads", 16), ("threads", 48), ("async", 256)):
        result = run_child("peer_pywebpush", {
            "ca_file": sinks.ca_file, "n": n, "subscriptions_file": subs_file, "vapid_pem": vapid_pem,
            "mode": mode, "concurrency": concurrency,
        }, timeout=900, python=str(python))
        opts.log(f"    {result['config']}: {result['rate']:,.0f}/s, outcomes {result['counts']}")
        if result["counts"].get("sent") != n:
            raise WrongCount(f"pywebpush: {result['counts']}, expected {n} sent")
        if best is None or result["rate"] > best["rate"]:
            best = result
    assert best is not None
    return best


# -- scenarios 4, 5, 6: the server -------------------------------------------------------------


def e2e_rows(opts: Options, sinks: Sinks) -> list[Row]:
    rows = []
    credentials = sinks.apns_credentials or throwaway_credentials()
    databases: list[tuple[str, str]] = [("SQLite", "sqlite")]
    if opts.postgres_url:
        databases.append(("PostgreSQL", "postgres"))
    for label, kind in databases:
        opts.log(f"[4] end to end on {label}: {opts.e2e_devices:,} devices, one API send to all")
        with contextlib.ExitStack() as stack:
            if kind == "sqlite":
                url = f"sqlite:///{opts.workdir / 'e2e.db'}"
            else:
                assert opts.postgres_url is not None
                name = stack.enter_context(server.postgres_database(opts.postgres_url))
                url = opts.postgres_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
                url = f"{url}/{name}"
                subprocess.run([*server.pushgate_command(), "migrate"], check=True, capture_output=True,
                               env={**os.environ, "PUSHGATE_DATABASE_URL": url})
            srv = stack.enter_context(server.Server(url, opts.workdir, apns_url=sinks.apns,
                                                    ca_file=Path(sinks.ca_file)))
            result = server.end_to_end(srv, opts.e2e_devices, credentials)
        opts.log(f"    {result['rate']:,.0f} deliveries/s ({result['seconds']:.1f} s), "
                 f"status {result['status']}")
        if result["status"]["sent"] != opts.e2e_devices:
            raise WrongCount(f"end to end on {label}: {result['status']}")
        row = Row("4" if kind == "sqlite" else "4pg", f"end to end, {opts.e2e_devices:,} devices, {label}",
                  rate=result["rate"], unit="deliv/s", cpu_seconds=result["cpu_seconds"],
                  operations=opts.e2e_devices, peak_rss_mb=result["peak_rss_mb"],
                  config=f"pushgate serve, {result['settings']}", details=result,
                  notes=[f"POST → last outcome {result['seconds']:.2f} s; import "
                         f"{result['import_seconds']:.1f} s (not timed); CPU and RSS are the server's"])
        if kind == "sqlite":
            row.target = "≥20k deliveries/s"
            row.checks = [_check("rate", result["rate"], 20_000)]
        else:
            row.target = "(reported)"
        rows.append(row)
    return rows


_FANOUT = re.compile(r"fan-out\s+([\d,]+) devices in\s+([\d.]+) s.*?peak RSS (\d+) MB \(before: (\d+) MB\)")


def fanout_row(opts: Options) -> Row:
    devices = opts.fanout_devices
    opts.log(f"[5] fan-out to {devices:,} devices (no network)")
    measured = run_measured([sys.executable, str(BENCH_DIR / "fanout_bench.py"), "--devices", str(devices),
                             "--no-deliver"], timeout=3600)
    match = _FANOUT.search(measured.stdout)
    if measured.returncode != 0 or match is None:
        raise RuntimeError(f"fanout_bench failed ({measured.returncode}): {measured.stderr[-1500:]}")
    targeted, seconds = int(match.group(1).replace(",", "")), float(match.group(2))
    rss = float(match.group(3))
    if targeted != devices:
        raise WrongCount(f"fan-out targeted {targeted} of {devices}")
    opts.log("    " + match.group(0))
    full = devices >= 1_000_000
    return Row("5", f"fan-out to {devices:,} devices, no network", rate=devices / seconds, unit="devices/s",
               peak_rss_mb=rss, target="≤60 s, ≤300 MB at 1M",
               checks=[_check("time", seconds, 60, above=False) if full else ("time", None),
                       _check("rss", rss, 300, above=False) if full else ("rss", None)],
               notes=[f"fan-out {seconds:.1f} s, peak RSS {rss:.0f} MB (bench/fanout_bench.py, SQLite; the "
                      "import before it is not timed)"], details={"stdout": measured.stdout[-2000:]})


def idle_row(opts: Options) -> Row:
    opts.log("[6] idle RSS of pushgate serve")
    result = server.idle_rss(opts.workdir)
    opts.log(f"    {result['rss_mb']:.0f} MB over {result['processes']} process(es)")
    return Row("6", "idle RSS of pushgate serve (empty SQLite)", peak_rss_mb=result["rss_mb"],
               target="≤80 MB",
               checks=[_check("rss", result["rss_mb"], 80, above=False)],
               notes=[f"VmRSS after /ready, {result['processes']} process(es)"], details=result)
