"""The in-flight window of a delivery job: Little's law, bounded, with a fake clock (no timing)."""

from __future__ import annotations

from pushgate.workers.window import InFlightWindow


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
    # rate x the lowest hold seen, far below the maximum, without losing throughput.
    for _ in range(30):
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
