"""The benchmark harness's pieces, quickly: nginx config and sinks, h2load parsing, a child run, reports.

The full harness is a documented command, not a test; these keep its parts
from rotting. The nginx tests need nginx: skipped on a developer machine
without it, but in CI (``CI`` set) a missing nginx is installed as root or
the test fails, since the benchmark's sinks are part of the contract.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from harness import h2load, nginx  # noqa: E402
from harness.measure import run_child  # noqa: E402
from harness.report import README_END, README_START, Row, markdown, update_readme  # noqa: E402
from pushgate import APNs, Notification, WebPush  # noqa: E402
from pushgate.crypto.ece import generate_user_agent_keys  # noqa: E402
from pushgate.crypto.vapid import VapidKey, b64url_encode  # noqa: E402
from pushgate.results import Status  # noqa: E402

H2LOAD_OUTPUT = """
finished in 2.49s, 40239.88 req/s, 2.10MB/s
requests: 100000 total, 100000 started, 100000 done, 50000 succeeded, 50000 failed, 0 errored, 0 timeout
status codes: 50000 2xx, 0 3xx, 50000 4xx, 0 5xx
"""


def test_nginx_config_has_the_knobs_that_keep_the_sink_out_of_the_way(tmp_path: Path) -> None:
    conf = nginx.render_config(tmp_path, {"apns": 1001, "apns410": 1002, "webpush": 1003})
    for directive in ("daemon off;", "access_log off;", "keepalive_requests 10000000;",
                      "http2_max_concurrent_streams 1000;", "mirror_request_body on;",
                      "listen 127.0.0.1:1002 ssl http2", f"pid {tmp_path}/nginx.pid;"):
        assert directive in conf
    assert '"~^/3/device/[01234567]" 1;' in conf
    assert '"reason":"Unregistered"' in conf


def test_h2load_output_is_parsed() -> None:
    parsed = h2load.parse_output(H2LOAD_OUTPUT)
    assert parsed == {"seconds": 2.49, "rate": 40239.88, "done": 100000, "succeeded": 50000,
                      "status": {"2xx": 50000, "3xx": 0, "4xx": 50000, "5xx": 0}}
    with pytest.raises(ValueError, match="unrecognised"):
        h2load.parse_output("connect failed")


def test_report_rows_markdown_and_readme_block(tmp_path: Path) -> None:
    row = Row("1", "APNs", rate=50_000, unit="notif/s", cpu_seconds=2.0, operations=100_000,
              peak_rss_mb=80, vs_ceiling=0.5, vs_peer=12.0, target="≥40k/s",
              checks=[("rate", True), ("vs peer", True)])
    assert row.met is True
    assert row.cpu_us_per_op == pytest.approx(20.0)
    assert Row("2", "x", checks=[("rate", True), ("peer", None)]).met is None
    assert Row("3", "x", checks=[("rate", False), ("peer", None)]).met is False
    meta = {"date": "2026-01-01 00:00 UTC", "machine": {"cpu": "cpu", "cores": 2, "python": "3.11"},
            "load_before": [1.0], "load_after": [1.5], "sinks": "nginx", "command": "python bench/run.py"}
    table = markdown([row], meta)
    assert "| 1 | APNs | 50,000 notif/s | 2.00 | 20.0 | 80 | 50% | 12.0x | ≥40k/s | yes |" in table
    readme = tmp_path / "README.md"
    readme.write_text("# project\n\ntext\n")
    update_readme(readme, table, meta)
    update_readme(readme, table.replace("50,000", "60,000"), meta)
    text = readme.read_text()
    assert text.count(README_START) == 1
    assert text.count(README_END) == 1
    assert "60,000 notif/s" in text
    assert "50,000 notif/s" not in text
    assert text.startswith("# project\n\ntext\n")


@pytest.fixture(scope="module")
def sinks() -> Iterator[nginx.NginxSinks]:
    if nginx.nginx_binary() is None:
        if not os.environ.get("CI"):
            pytest.skip("nginx is not installed (apt-get install nginx)")
        from run import install_tools

        assert install_tools(), "CI needs nginx for the benchmark sinks and could not install it"
    with nginx.NginxSinks(workers=1) as running:
        yield running


def throwaway_key() -> str:
    from harness.child_apns import throwaway_credentials

    return throwaway_credentials()["key"]


async def test_apns_sinks_answer_like_apns(sinks: nginx.NginxSinks) -> None:
    dead, alive = "0" + "a" * 63, "f" + "a" * 63
    note = Notification(title="t", body="b")
    for sink, expected in (("apns", {dead: Status.SENT, alive: Status.SENT}),
                           ("apns410", {dead: Status.DEAD, alive: Status.SENT})):
        async with APNs(key=throwaway_key(), key_id="BENCHKEY01", team_id="BENCHTEAM1",
                        topic="com.example.app", base_url=sinks.url(sink), ca_file=sinks.ca_file) as client:
            result = await client.send(note, [dead, alive])
        assert {r.token: r.status for r in result.results} == expected
        if sink == "apns410":
            assert result.results[0].reason == "Unregistered"
        else:
            assert all(r.message_id for r in result.results)  # the apns-id is echoed


async def test_webpush_sink_answers_201_with_location(sinks: nginx.NginxSinks) -> None:
    keys = generate_user_agent_keys()
    sub = {"endpoint": f"{sinks.url('webpush')}/wpush/abc",
           "keys": {"p256dh": b64url_encode(keys.public_bytes), "auth": b64url_encode(keys.auth_secret)}}
    async with WebPush(vapid_private_key=VapidKey.generate(), vapid_subject="mailto:a@example.com",
                       allowed_hosts=[sinks.url("webpush").split("://")[1]], ca_file=sinks.ca_file) as client:
        result = await client.send(Notification(title="t", body="b"), [sub])
    assert result.results[0].status is Status.SENT
    assert "/m/" in (result.results[0].message_id or "")


def test_a_benchmark_child_reports_counts_and_figures(sinks: nginx.NginxSinks) -> None:
    result = run_child("child_apns", {
        "url": sinks.url("apns410"), "ca_file": str(sinks.ca_file), "n": 300, "connections": 1,
        "concurrency": 100, "dead_first_hex": nginx.DEAD_FIRST_HEX,
    }, timeout=60)
    assert result["counts"]["dead"] == result["expected_dead"]
    assert result["counts"]["sent"] == 300 - result["expected_dead"]
    assert result["rate"] > 0
    assert result["process_peak_rss_mb"] > 0


def test_the_web_push_ratio_comes_from_alternating_rounds(sinks: nginx.NginxSinks) -> None:
    result = run_child("child_webpush_rounds", {
        "origin": sinks.url("webpush"), "ca_file": str(sinks.ca_file), "n": 130, "connections": 1,
        "concurrency": 100, "rounds": 6,
    }, timeout=120)
    assert (result["rounds"], result["per_round"], result["n"]) == (6, 21, 126)
    assert result["counts"]["sent"] == 126
    # Every order of the three sides once in six rounds: drift and order hit all alike.
    assert len({tuple(order) for order in result["orders"]}) == 6
    assert len(result["ratios"]) == 6
    ratio = result["ratio"]
    assert ratio["min"] <= ratio["median"] <= ratio["max"]
    assert ratio["spread"] == pytest.approx(ratio["max"] - ratio["min"])
    for sides, value in zip(result["figures"], result["ratios"], strict=True):
        assert value == pytest.approx(sides["pushgate"]["per_cpu_second"] / sides["bare"]["per_cpu_second"])


def test_the_event_mode_scenario_delivers_every_event(sinks: nginx.NginxSinks, tmp_path: Path) -> None:
    from harness import events_scenario, server
    from harness.child_apns import throwaway_credentials

    with server.Server(f"sqlite:///{tmp_path / 'events.db'}", tmp_path, apns_url=sinks.url("apns"),
                       ca_file=sinks.ca_file) as running:
        result = events_scenario.events_end_to_end(running, 300, throwaway_credentials())
    assert result["status"]["sent"] == 300
    assert result["counts"]["notified"] == 300
    assert result["rate"] > 0


def test_percentiles_are_nearest_rank_and_rows_sort_by_scenario_number() -> None:
    from harness.latency_scenario import percentile
    from run import scenario_order

    values = [float(x) for x in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([7.0], 99) == 7.0
    rows = [Row(s, "x") for s in ("10r1", "9pg", "4pg", "8s1", "4", "9", "1")]
    ordered = [r.scenario for r in sorted(rows, key=scenario_order)]
    assert ordered == ["1", "4", "4pg", "8s1", "9", "9pg", "10r1"]


def _scenario_options(tmp_path: Path, **values: float) -> Any:
    """Options of scenarios 8-10 for a small run (typed Any: the harness is not a package)."""
    from harness.scenarios import Options

    return Options(n=0, quick=True, workdir=tmp_path, postgres_url=None, redis_url=None, log=lambda _: None,
                   **values)  # type: ignore[arg-type]


def test_the_scale_out_scenario_drains_a_broadcast_through_worker_processes(
        sinks: nginx.NginxSinks, tmp_path: Path) -> None:
    from harness import deployment, scale_scenarios
    from harness.sinks import Sinks

    opts = _scenario_options(tmp_path)
    bench_sinks = Sinks("nginx", sinks.url("apns"), sinks.url("webpush"), str(sinks.ca_file))
    with deployment.backend("sqlite", tmp_path) as backend:
        result = scale_scenarios.scale_run(opts, backend, 2, "apns", bench_sinks, 300)
    assert result["status"]["sent"] == 300
    assert set(result["cpu_seconds"]) == {"api", "worker1", "worker2"}
    assert result["worker_cpu"] > 0
    assert 0 < result["machine_busy"] <= 1


def test_the_latency_scenario_times_direct_sends_during_a_broadcast(
        sinks: nginx.NginxSinks, tmp_path: Path) -> None:
    from harness import deployment, latency_scenario
    from harness.sinks import Sinks

    opts = _scenario_options(tmp_path, latency_window=1.0, latency_interval=0.05)
    bench_sinks = Sinks("nginx", sinks.url("apns"), sinks.url("webpush"), str(sinks.ca_file))
    with deployment.backend("sqlite", tmp_path) as backend:
        result = latency_scenario.latency_run(opts, backend, bench_sinks, 3000)
    assert result["count"] >= 1
    assert result["baseline"]["count"] >= 1
    assert 0 < result["p50_ms"] <= result["p99_ms"] <= result["max_ms"]
    assert result["broadcast_rate"] > 0
