"""Fixtures of the Pushkin and registry-API tests: live servers on SQLite and PostgreSQL."""

from tests.pushkin.live import fcm_sim, start_live

__all__ = ["fcm_sim", "start_live"]
