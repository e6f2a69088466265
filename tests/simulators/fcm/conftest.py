"""FCM simulator fixtures; defined beside the client tests (tests/providers/fcm/fixtures.py)."""

from __future__ import annotations

from tests.providers.fcm.fixtures import ca_file, clock, demo_account, make_client, service_account, sim

__all__ = ["ca_file", "clock", "demo_account", "make_client", "service_account", "sim"]
