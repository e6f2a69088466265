"""pushgate's benchmark: the library and the server against nginx sinks, the h2load ceiling and the peers.

    python bench/run.py                      # everything, 100k notifications (about 15-25 min)
    python bench/run.py --quick              # the CI smoke: a few thousand, scenarios 1,3,5,6
    python bench/run.py --scenarios 1,2,3 --n 50000 --profile
    python bench/run.py --readme             # also copy the table into README.md

Scenarios: 1 APNs sends/s; 2 the same with 50% 410; 3 Web Push with RFC
8291 encryption; 4 end to end through ``pushgate serve`` (SQLite and
PostgreSQL); 5 fan-out to 1M devices; 6 idle RSS of ``pushgate serve``;
7 event mode end to end through ``POST /v1/events`` (SQLite and PostgreSQL);
8 scale-out: APNs deliveries/s with 1-3 ``pushgate worker`` processes (PostgreSQL + Redis,
SQLite); 9 direct-send latency during a 1M-device broadcast; 10 Web Push with 1 and 2
worker processes; 11 bulk device import through ``POST /v1/devices/import`` (1M devices,
SQLite and PostgreSQL). 8-11 run only when asked: ``--scenarios 8,9,10,11``.
Results: ``bench/results/latest.json`` and ``latest.md``. Targets are
reported, not asserted; the exit code is non-zero only when a scenario
crashed or delivered a wrong count. Method: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    direct_scenario,
    events_scenario,
    h2load,
    import_scenario,
    latency_scenario,
    nginx,
    scale_scenarios,
    scenarios,
)
from harness.report import (
    Row,
    load_average,
    machine,
    markdown,
    now_iso,
    print_table,
    read_results,
    update_readme,
    write_results,
)
from harness.sinks import open_sinks

ROOT = Path(__file__).resolve().parent.parent
QUICK_N = 3000
QUICK_FANOUT = 20_000


def install_tools(log: Path | None = None, budget: float = 900.0) -> bool:
    """apt-get install nginx and nghttp2-client (h2load) within ``budget`` seconds; True when both
    are there afterwards."""
    if nginx.nginx_binary() and h2load.h2load_binary():
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    out = log.open("ab") if log else subprocess.DEVNULL
    try:
        deadline = time.monotonic() + budget
        subprocess.run(["apt-get", "update", "-q"], env=env, stdout=out, stderr=out, timeout=budget / 2,
                       check=False)
        subprocess.run(["apt-get", "install", "-y", "-q", "nginx", "nghttp2-client"], env=env, stdout=out,
                       stderr=out, timeout=max(1.0, deadline - time.monotonic()), check=False)
    except subprocess.TimeoutExpired:
        return False
    finally:
        if not isinstance(out, int):  # DEVNULL is an int, not a file
            out.close()
    return bool(nginx.nginx_binary() and h2load.h2load_binary())


def source_state(tree: Path = ROOT) -> str:
    """The commit measured, and whether src/ had uncommitted changes (figures belong to a tree)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True,
                                  timeout=10).stdout
        except (OSError, subprocess.TimeoutExpired):
            return ""

    commit = git("rev-parse", "--short", "HEAD").strip()
    if not commit:
        return f"the tree in {tree}"
    dirty = [line[3:] for line in git("status", "--porcelain", "--", "src").splitlines()]
    return f"{commit} (src modified: {', '.join(dirty)})" if dirty else commit


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="CI smoke: small, scenarios 1,3,5,6, no peers")
    parser.add_argument("--scenarios", help="comma-separated subset of 1-12 (default 1-7)")
    parser.add_argument("--n", type=int, help="notifications per library run (default 100000; quick 3000)")
    parser.add_argument("--peer-n", type=int, default=10_000, help="notifications per peer run")
    parser.add_argument("--e2e-devices", type=int, help="devices in scenario 4, users and events in 7 "
                                                         "(default: --n)")
    parser.add_argument("--fanout-devices", type=int, help="devices in scenarios 5 and 11 (default 1000000)")
    parser.add_argument("--postgres-url", default="postgresql://postgres@127.0.0.1:5432/postgres",
                        help="admin URL for scenarios 4, 7-10 on PostgreSQL ('none' to skip)")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0",
                        help="Redis for scenarios 8 and 10 (keys under a prefix of the run's own, deleted "
                             "afterwards; nothing is flushed); 'none' to skip the Redis runs")
    parser.add_argument("--scale-devices", type=int, default=200_000, help="devices in scenario 8")
    parser.add_argument("--latency-devices", type=int, default=1_000_000,
                        help="devices in scenario 9's broadcast")
    parser.add_argument("--latency-interval-ms", type=float, default=30.0,
                        help="scenario 9: milliseconds between two direct sends")
    parser.add_argument("--latency-window", type=float, default=120.0,
                        help="scenario 9: seconds during which direct sends are posted (at most)")
    parser.add_argument("--latency-setting", action="append", default=[], metavar="NAME=VALUE",
                        help="scenario 9: a setting for its pushgate serve, e.g. chunk_size=250 "
                             "(PUSHGATE_CHUNK_SIZE); repeatable")
    parser.add_argument("--latency-workers", default="0", metavar="N[,N...]",
                        help="scenario 9: 0 runs one pushgate serve with its sender worker inside; N > 0 "
                             "runs an API-only serve and N pushgate worker processes (row 9w); "
                             "comma-separated to run several (default 0)")
    parser.add_argument("--webpush-devices", type=int, default=50_000, help="subscriptions in scenario 10")
    parser.add_argument("--direct-sends", type=int, default=3_000, help="sends posted in scenario 12")
    parser.add_argument("--direct-clients", type=int, default=16,
                        help="scenario 12: clients posting at once, each on its own connection")
    parser.add_argument("--webpush-rounds", type=int,
                        help="scenario 3: alternating rounds of bare encryption and pushgate sends "
                             "(default 7; quick 5)")
    parser.add_argument("--no-peers", action="store_true", help="skip aioapns and pywebpush")
    parser.add_argument("--no-ceiling", action="store_true", help="skip h2load")
    parser.add_argument("--profile", action="store_true", help="py-spy the best runs of scenarios 1 and 3")
    parser.add_argument("--python-sinks", action="store_true",
                        help="with --quick: use pushgate's simulators as sinks even when nginx is installed")
    parser.add_argument("--install", action="store_true", help="apt-get install nginx and h2load if missing")
    parser.add_argument("--src", type=Path,
                        help="measure the pushgate package in this src/ directory (e.g. a clean checkout "
                             "made with git worktree) instead of the installed one")
    parser.add_argument("--rev", help="measure this git revision's src/ (exported with git archive), not "
                                      "the working tree, whose uncommitted edits would change the figures")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--readme", action="store_true", help="rewrite the README's bench block")
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: re-render <out>/latest.json (with --readme: into the README)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.report_only:
        stored, stored_meta = read_results(args.out / "latest.json")
        print_table(stored, stored_meta)
        _, md_path = write_results(stored, stored_meta, args.out)
        if args.readme:
            update_readme(ROOT / "README.md", markdown(stored, stored_meta, profiles=False), stored_meta)
            print("README.md bench block updated")
        return 0
    wanted = {1, 3, 5, 6} if args.quick else {1, 2, 3, 4, 5, 6, 7}
    if args.scenarios:
        wanted = {int(x) for x in args.scenarios.split(",") if x.strip()}
    n = args.n or (QUICK_N if args.quick else 100_000)
    log_dir = Path(tempfile.mkdtemp(prefix="pushgate-bench-"))
    source = source_state()
    if args.rev:
        commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev],
                                capture_output=True, text=True, check=True).stdout.strip()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "src"], capture_output=True,
                                 check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(log_dir)], input=archive, check=True)
        args.src, source = log_dir / "src", f"{commit} (git archive of {args.rev})"
    elif args.src:
        source = source_state(args.src.resolve().parent)
    if args.src:
        # Every measured process (children, pushgate serve, fanout_bench) inherits this.
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(args.src.resolve()),
                                                                 os.environ.get("PYTHONPATH")]))
    if args.install or os.geteuid() == 0:
        # --quick keeps within the CI smoke's two minutes, falling back to the simulators.
        install_tools(log_dir / "apt.log", budget=75.0 if args.quick and not args.install else 900.0)
    have_nginx = nginx.nginx_binary() is not None and not (args.quick and args.python_sinks)
    if not have_nginx and not args.quick:
        print("nginx is not installed: run with --install (as root) or apt-get install nginx nghttp2-client",
              file=sys.stderr)
        return 2
    if not have_nginx:
        print("nginx not used: --quick falls back to pushgate's own simulators as sinks", flush=True)
    opts = scenarios.Options(
        n=n, quick=args.quick, workdir=log_dir, peers=not (args.quick or args.no_peers),
        ceiling=not (args.quick or args.no_ceiling), peer_n=args.peer_n,
        fanout_devices=args.fanout_devices or (QUICK_FANOUT if args.quick else 1_000_000),
        e2e_devices=args.e2e_devices or n,
        postgres_url=None if args.postgres_url == "none" or args.quick else args.postgres_url,
        redis_url=None if args.redis_url == "none" else args.redis_url,
        scale_devices=args.scale_devices, latency_devices=args.latency_devices,
        latency_interval=args.latency_interval_ms / 1000, latency_window=args.latency_window,
        latency_settings=dict(item.split("=", 1) for item in args.latency_setting),
        latency_workers=[int(item) for item in args.latency_workers.split(",")],
        webpush_devices=args.webpush_devices, direct_sends=args.direct_sends,
        direct_clients=args.direct_clients,
        webpush_rounds=args.webpush_rounds or (5 if args.quick else 7),
        profile=args.profile, log=lambda line: print(line, flush=True),
    )
    failures: list[str] = []
    meta: dict[str, Any] = {
        "date": now_iso(), "machine": machine(), "load_before": load_average(), "n": n, "source": source,
        "command": "python bench/run.py " + shlex.join(sys.argv[1:] if argv is None else argv),
        "sinks": "", "failures": failures,
    }
    rows: list[Row] = []
    started = time.perf_counter()

    def attempt(label: str, step: object) -> None:
        try:
            result = step()  # type: ignore[operator]
            rows.extend(result if isinstance(result, list) else [result])
        except Exception as exc:
            failures.append(f"{label}: {exc}")
            print(f"FAILED {label}: {exc}", file=sys.stderr, flush=True)
            traceback.print_exc()

    needs_sinks = bool(wanted & {1, 2, 3, 4, 7, 8, 9, 10, 12})
    with (open_sinks(have_nginx, log_dir, n if 3 in wanted else 0) if needs_sinks
          else _nothing()) as sinks:
        if sinks is not None:
            meta["sinks"] = sinks.kind
            print(f"sinks: {sinks.kind}", flush=True)
            if wanted & {1, 2}:
                attempt("scenarios 1-2", lambda: scenarios.apns_rows(opts, sinks, wanted))
            if 3 in wanted:
                attempt("scenario 3", lambda: scenarios.webpush_row(opts, sinks))
            if 4 in wanted:
                attempt("scenario 4", lambda: scenarios.e2e_rows(opts, sinks))
            if 7 in wanted:
                attempt("scenario 7", lambda: events_scenario.events_rows(opts, sinks))
            if 8 in wanted:
                attempt("scenario 8", lambda: scale_scenarios.scale_rows(opts, sinks))
            if 9 in wanted:
                attempt("scenario 9", lambda: latency_scenario.latency_rows(opts, sinks))
            if 10 in wanted:
                attempt("scenario 10", lambda: scale_scenarios.webpush_scale_rows(opts, sinks))
            if 12 in wanted:
                attempt("scenario 12", lambda: direct_scenario.direct_rows(opts, sinks))
    if 5 in wanted:
        attempt("scenario 5", lambda: scenarios.fanout_row(opts))
    if 6 in wanted:
        attempt("scenario 6", lambda: scenarios.idle_row(opts))
    if 11 in wanted:
        attempt("scenario 11", lambda: import_scenario.import_rows(opts))
    failures.extend(opts.failures)
    rows.sort(key=scenario_order)
    meta["load_after"] = load_average()
    meta["seconds"] = round(time.perf_counter() - started, 1)
    print_table(rows, meta)
    json_path, md_path = write_results(rows, meta, args.out)
    print(f"results: {json_path} {md_path} ({meta['seconds']} s)")
    if args.readme:
        update_readme(ROOT / "README.md", markdown(rows, meta, profiles=False), meta)
        print("README.md bench block updated")
    shutil.rmtree(log_dir, ignore_errors=True)
    if failures:
        print("FAILED: " + "; ".join(failures), file=sys.stderr)
        return 1
    return 0


def scenario_order(row: Row) -> tuple[int, str]:
    """Rows by scenario number (10 after 9), then by their suffix ("4" before "4pg")."""
    digits = len(row.scenario) - len(row.scenario.lstrip("0123456789"))
    return (int(row.scenario[:digits] or 0), row.scenario[digits:])


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    sys.exit(main())
