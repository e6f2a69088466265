"""FCM fixtures for the client tests; defined in fixtures.py, shared with tests/simulators/fcm."""

from __future__ import annotations

from tests.providers.fcm.fixtures import ca_file, clock, demo_account, make_client, service_account, sim

__all__ = ["ca_file", "clock", "demo_account", "make_client", "service_account", "sim"]
