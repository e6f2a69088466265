"""Fixtures of the Pushkin tests: live servers on SQLite and PostgreSQL."""

from tests.live_server import fcm_sim, start_live

__all__ = ["fcm_sim", "start_live"]
