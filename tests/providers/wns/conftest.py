"""WNS fixtures for the client tests; defined in fixtures.py, shared with tests/simulators/wns."""

from __future__ import annotations

from tests.providers.wns.fixtures import client_context, clock, control, make_wns, sim, wns

__all__ = ["client_context", "clock", "control", "make_wns", "sim", "wns"]
