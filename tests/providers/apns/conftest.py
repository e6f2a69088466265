"""APNs fixtures for the client tests; defined in fixtures.py, shared with tests/simulators/apns."""

from __future__ import annotations

from tests.providers.apns.fixtures import auth_headers, ca_file, clock, demo, raw, sim

__all__ = ["auth_headers", "ca_file", "clock", "demo", "raw", "sim"]
