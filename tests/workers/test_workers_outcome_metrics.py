"""A job's outcome metrics, applied once per job, expose what one observation per result would."""

from __future__ import annotations

import math

from pushgate.results import Status, TokenResult
from pushgate.service.metrics import LATENCY_BUCKETS, Metrics
from pushgate.workers.context import OutcomeMetrics

# On every bucket bound, just above and below it, beyond the last one, zero, none and NaN.
LATENCIES: list[float | None] = [
    *LATENCY_BUCKETS, *(b * 1.001 for b in LATENCY_BUCKETS), *(b * 0.999 for b in LATENCY_BUCKETS),
    0.0, 64.0, 1e9, None, 0.0078125, 0.0078125,
]


def results() -> list[TokenResult]:
    statuses = [(Status.SENT, None), (Status.DEAD, "Unregistered"), (Status.FAILED, "BadTopic"),
                (Status.RETRY, "TooManyRequests")]
    return [TokenResult(f"t{i}", *statuses[i % len(statuses)][:1], reason=statuses[i % len(statuses)][1],
                        latency=latency)
            for i, latency in enumerate(LATENCIES * 3)]


def exposition(metrics: Metrics) -> dict[str, float]:
    """Sample name and labels → value, without the creation timestamps."""
    samples: dict[str, float] = {}
    for line in metrics.render().decode().splitlines():
        if line.startswith("#") or "_created" in line:
            continue
        name, _, value = line.rpartition(" ")
        samples[name] = float(value)
    return samples


def test_batched_outcome_metrics_expose_what_per_result_observations_do() -> None:
    each, batched = Metrics(), Metrics()
    for provider in ("apns", "fcm"):
        for result in results():
            each.observe(provider, result)
    for provider in ("apns", "fcm"):
        observer = OutcomeMetrics(batched, provider)
        chunk = results()
        for result in chunk[:20]:
            observer.add(result)
        observer.commit()  # one job's commit, then the next job's on the same observer
        for result in chunk[20:]:
            observer.add(result)
        observer.commit()
        observer.commit()  # nothing new: adds nothing
    expected, got = exposition(each), exposition(batched)
    assert any(name.startswith("pushgate_provider_request_seconds_bucket") for name in expected)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        if "_sum{" in name:  # float sums may round differently when added in another order
            assert math.isclose(got[name], value, rel_tol=1e-12), name
        else:
            assert got[name] == value, name
    count = 'pushgate_provider_request_seconds_count{provider="apns"}'
    assert got[count] == 3 * sum(latency is not None for latency in LATENCIES)


def test_a_nan_latency_is_left_to_the_library() -> None:
    each, batched = Metrics(), Metrics()
    nan = TokenResult("t", Status.SENT, latency=math.nan)
    each.observe("apns", nan)
    observer = OutcomeMetrics(batched, "apns")
    observer.add(nan)
    observer.commit()
    expected, got = exposition(each), exposition(batched)
    assert got.keys() == expected.keys()
    for name, value in expected.items():
        assert got[name] == value or (math.isnan(got[name]) and math.isnan(value)), name
