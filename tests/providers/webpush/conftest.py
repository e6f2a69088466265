"""Web Push fixtures for the client tests; defined in fixtures.py, shared with tests/simulators/webpush."""

from __future__ import annotations

from tests.providers.webpush.fixtures import allowed, ca_file, client, clock, http, raw_push, sim, vapid_key

__all__ = ["allowed", "ca_file", "client", "clock", "http", "raw_push", "sim", "vapid_key"]
