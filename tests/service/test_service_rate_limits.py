"""The API rate limiter: per-minute windows shared through the database by several processes."""

from __future__ import annotations

import secrets

import redis

from pushgate.registry import Database
from pushgate.registry.rate_limits import window_count
from pushgate.service.rate_limits import RateLimiter, local_counter, redis_counter
from pushgate.simulators._base import ManualClock

T0 = 1_900_000_040.0  # 20 s into a minute (1,900,000,020 is one's start)


def test_two_processes_share_one_limit_and_a_new_minute_starts_afresh(database: Database) -> None:
    clock = ManualClock(T0)
    first, second = RateLimiter(database, clock=clock), RateLimiter(database, clock=clock)
    allowed = 0
    for n in range(200):
        decision = (first if n % 2 else second).hit("key:abc", 40)
        allowed += decision.allowed
        clock.advance(0.01)
    # Each process may admit what it counted since its last sync beyond the shared sum:
    # at most limit / 20 (2 here) each.
    assert 40 <= allowed <= 44
    refused = first.hit("key:abc", 40)
    assert not refused.allowed
    assert refused.headers() == {  # 38 s and a hair left in the minute, rounded up
        "RateLimit-Limit": "40", "RateLimit-Remaining": "0", "RateLimit-Reset": "39", "Retry-After": "39",
    }
    assert window_count(database, "key:abc", 1_900_000_020) <= allowed

    clock.advance(60)  # the next minute
    fresh = second.hit("key:abc", 40)
    assert fresh.allowed
    assert fresh.remaining == 39
    assert "Retry-After" not in fresh.headers()
    assert first.hit("key:other", 40).remaining == 39  # every key counts on its own


def test_remaining_counts_down_within_one_process(database: Database) -> None:
    limiter = RateLimiter(database, clock=ManualClock(T0))
    assert [limiter.hit("key:k", 3).remaining for _ in range(3)] == [2, 1, 0]
    assert not limiter.hit("key:k", 3).allowed


def test_with_redis_the_processes_share_their_counts_there(database: Database) -> None:
    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    prefix = f"pushgate-test-{secrets.token_hex(4)}:"
    try:
        counter = redis_counter(client, prefix)
        clock = ManualClock(T0)
        limiters = [RateLimiter(database, clock=clock, counter=counter) for _ in range(2)]
        allowed = 0
        for n in range(200):
            allowed += limiters[n % 2].hit("key:abc", 40).allowed
            clock.advance(0.01)
        assert 40 <= allowed <= 44
        [key] = client.keys(f"{prefix}*")
        assert key == f"{prefix}ratelimit:key:abc:1900000020".encode()
        assert 0 < client.ttl(key) <= 120  # gone two windows later
        assert window_count(database, "key:abc", 1_900_000_020) == 0  # nothing in the database
    finally:
        for key in client.keys(f"{prefix}*"):
            client.delete(key)
        client.close()


def test_a_local_counter_keeps_the_current_minute_only_and_writes_nothing(database: Database) -> None:
    clock = ManualClock(T0)
    limiter = RateLimiter(database, clock=clock, counter=local_counter())
    assert [limiter.hit("ip:10.0.0.1", 2).allowed for _ in range(3)] == [True, True, False]
    assert limiter.hit("ip:10.0.0.2", 2).allowed  # every address counts on its own
    assert window_count(database, "ip:10.0.0.1", 1_900_000_020) == 0  # nothing shared
    clock.advance(60)
    assert limiter.hit("ip:10.0.0.1", 2).remaining == 1
