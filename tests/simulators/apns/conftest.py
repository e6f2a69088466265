"""APNs simulator fixtures; defined beside the client tests (tests/providers/apns/fixtures.py)."""

from __future__ import annotations

from tests.providers.apns.fixtures import auth_headers, ca_file, clock, demo, raw, sim

__all__ = ["auth_headers", "ca_file", "clock", "demo", "raw", "sim"]
