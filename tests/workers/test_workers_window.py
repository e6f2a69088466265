"""The in-flight window of a delivery job: Little's law, bounded, with a fake clock (no timing)."""

from __future__ import annotations

from pushgate.workers.window import InFlightWindow, JobGate, WindowShares


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_rounds(window: InFlightWindow, clock: FakeClock, *, hold: float, rounds: int) -> None:
    """Window-limited traffic: fill the window, every device held ``hold`` s until recorded."""
    for _ in range(rounds):
        started = clock.now
        count = 0
        while window.open():
            window.take()
            count += 1
        clock.now += hold
        window.release(count, count * (clock.now - started))


def test_a_window_stays_near_rate_times_latency_when_answers_are_fast() -> None:
    clock = FakeClock()
    window = InFlightWindow(500, initial=64, clock=clock)
    # A provider answering in 1 ms with recording in 1 ms: the hold time does not grow with
    # the window here, so the window grows to its maximum (throughput keeps rising).
    run_rounds(window, clock, hold=0.002, rounds=10)
    assert window.limit == 500
    # Now every device is held longer the more are in flight (a saturated process: 20,000
    # deliveries/s at most): hold = limit / 20,000. The window shrinks to about 1.5 times the
    # rate x the lowest hold seen, far below the maximum, without losing throughput, once
    # the fast rounds have left the rate's one-second memory.
    for _ in range(80):
        started = clock.now
        count = 0
        while window.open():
            window.take()
            count += 1
        clock.now += max(0.002, count / 20_000)
        window.release(count, count * (clock.now - started))
    assert window.limit <= 100, window.limit
    assert window.limit >= 20_000 * 0.002  # still covers rate x latency: throughput is kept


def test_the_window_never_leaves_its_bounds_and_counts_what_it_holds() -> None:
    clock = FakeClock()
    window = InFlightWindow(50, initial=10, minimum=4, clock=clock)
    assert window.limit == 10
    for _ in range(10):
        window.take()
    assert not window.open()
    assert window.held == 10
    woken: list[bool] = []
    window.bind(lambda: woken.append(True))
    clock.now += 1.0
    window.release(3, 3.0)
    assert window.held == 7
    assert window.open()
    assert woken
    window.release(7, 7.0)
    # A provider path that saturates at 100 deliveries/s with a 10 ms floor: even the
    # minimum of 4 in flight queues (40 ms), so the window stays near it, never below.
    for _ in range(40):
        started = clock.now
        count = 0
        while window.open():
            window.take()
            count += 1
        clock.now += max(0.01, count / 100)
        window.release(count, count * (clock.now - started))
    assert 4 <= window.limit <= 8
    # Fast answers whatever the window: it grows to the configured maximum, never above.
    run_rounds(window, clock, hold=0.0001, rounds=20)
    assert window.limit == 50


def test_a_window_starts_from_a_hint_within_bounds() -> None:
    assert InFlightWindow(500, initial=10_000).limit == 500
    assert InFlightWindow(500, initial=1, minimum=8).limit == 8
    assert InFlightWindow(4, initial=64, minimum=8).limit == 4  # the configured maximum wins


def noisy_path_rate(window: InFlightWindow, clock: FakeClock, seed: int) -> tuple[float, int]:
    """Deliveries/s through a busy machine's path: capacity 20,000/s, 12 ms hold (10 ms
    recorder wait + 2 ms); 30% of the rounds slowed 2-8 times by another process or a
    database lock; 10% with fewer devices ready than slots (a job loading its next chunk)."""
    import random

    rng = random.Random(seed)
    delivered, limits = 0, []
    for _ in range(1500):
        started = clock.now
        ready = window.limit if rng.random() > 0.1 else rng.randint(1, window.limit)
        count = 0
        while window.open() and count < ready:
            window.take()
            count += 1
        hold = max(BASE_HOLD, count / CAPACITY)
        if rng.random() < 0.3:
            hold *= rng.uniform(2, 8)
        clock.now += hold
        delivered += count
        window.release(count, count * (clock.now - started))
        limits.append(window.limit)
    return delivered / clock.now, sorted(limits)[len(limits) // 2]


CAPACITY, BASE_HOLD = 20_000.0, 0.012


def test_a_noisy_path_does_not_collapse_the_window() -> None:
    """A stall says nothing about what the provider needs: the rate the window follows is
    the highest of the last second's rounds (BBR's windowed-maximum bottleneck bandwidth),
    so slow rounds do not shrink it round after round. Before, the last round's rate was
    used and this path ran at half the speed of a fixed window of 1,000."""
    for seed in (1, 7, 42):
        clock = FakeClock()
        adaptive = InFlightWindow(1000, initial=16, clock=clock)
        rate, median_limit = noisy_path_rate(adaptive, clock, seed)
        fixed_clock = FakeClock()
        fixed, _ = noisy_path_rate(InFlightWindow(1000, initial=1000, minimum=1000, clock=fixed_clock),
                                fixed_clock, seed)
        assert rate >= 0.9 * fixed, f"seed {seed}: {rate:,.0f}/s against {fixed:,.0f}/s with 1,000"
        # ... while holding far less than the maximum: about gain x capacity x hold.
        assert median_limit <= 2 * CAPACITY * BASE_HOLD, median_limit


def test_jobs_sending_to_one_app_and_provider_share_one_window() -> None:
    """Two jobs of one app and lane draw on the same slots and are both woken when
    slots free up; a window per job made them compete (one grew, the other starved)."""
    shares = WindowShares()
    first = shares.open(1, "deliver:apns", 100)
    second = shares.open(1, "deliver:apns", 100)
    other = shares.open(2, "deliver:apns", 100)
    assert first is second
    assert first is not other
    gate_a, gate_b = JobGate(first), JobGate(second)
    woken: list[str] = []
    gate_a.bind(lambda: woken.append("a"))
    gate_b.bind(lambda: woken.append("b"))
    while gate_a.open():
        first.take()
    assert not gate_b.open(), "the second job sees the slots the first one took"
    assert shares.in_flight() == first.limit
    first.release(1, 0.001)
    assert woken == ["a", "b"]
    assert gate_b.open()
    gate_a.close()  # job a ended: only b is woken from now on
    first.release(1, 0.001)
    assert woken == ["a", "b", "b"]
    first.release(first.held, 0.001 * first.held)
    shares.close(1, "deliver:apns", first)
    assert shares.open(1, "deliver:apns", 100) is first, "still open for the second job"
    shares.close(1, "deliver:apns", first)
    shares.close(1, "deliver:apns", second)
    limit = first.limit
    again = shares.open(1, "deliver:apns", 100)
    assert again is not first
    assert again.limit == limit, "a new window starts where the last one left"
    assert shares.limits() == limit + other.limit
