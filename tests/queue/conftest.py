"""Queue fixtures: the Redis ones (see redis_fixtures.py)."""

from tests.queue.redis_fixtures import redis_prefix, redis_url

__all__ = ["redis_prefix", "redis_url"]
