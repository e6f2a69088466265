"""Web Push simulator fixtures; defined beside the client tests (tests/providers/webpush/fixtures.py)."""

from __future__ import annotations

from tests.providers.webpush.fixtures import allowed, ca_file, client, clock, http, raw_push, sim, vapid_key

__all__ = ["allowed", "ca_file", "client", "clock", "http", "raw_push", "sim", "vapid_key"]
