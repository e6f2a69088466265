"""WNS simulator fixtures; defined beside the client tests (tests/providers/wns/fixtures.py)."""

from __future__ import annotations

from tests.providers.wns.fixtures import client_context, clock, control, make_wns, sim, wns

__all__ = ["client_context", "clock", "control", "make_wns", "sim", "wns"]
