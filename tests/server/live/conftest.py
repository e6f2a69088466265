"""Live servers (real sockets) on SQLite and PostgreSQL for the API tests of this folder."""

from tests.live_server import fcm_sim, start_live

__all__ = ["fcm_sim", "start_live"]
