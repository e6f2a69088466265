"""How long the pool waits before opening another connection.

RFC 9113 §10.5 asks a client to bound what a peer can make it do. A server
that answers every connection with SETTINGS_MAX_CONCURRENT_STREAMS=0 and
GOAWAY, or that refuses or drops every connection, would otherwise get a
TCP and TLS handshake for every queued request and every retry. So after a
connection that answered nothing, the next one waits ``base`` seconds,
doubling with each further such connection up to ``cap``, times a jitter
of 0.5-1 (so many pools do not reconnect in step). One connection that
answers anything resets it. ``random`` is injectable so tests are exact.
"""

from __future__ import annotations

from collections.abc import Callable

from pushgate.transport.core import ConnectionCore


class ReconnectBackoff:
    __slots__ = ("_base", "_cap", "_random", "failures")

    def __init__(self, base: float, cap: float, random: Callable[[], float]) -> None:
        if base < 0 or cap < 0:
            raise ValueError("reconnect delays cannot be negative")
        self._base = base
        self._cap = cap
        self._random = random
        self.failures = 0  # connections in a row that ended without answering anything

    def delay(self) -> float:
        """Seconds to wait before the next connection (0 after a productive one)."""
        if not self.failures:
            return 0.0
        delay = min(self._cap, self._base * 2.0 ** min(self.failures - 1, 30))
        return delay * (0.5 + 0.5 * float(self._random()))

    def failed(self) -> None:
        """A connection could not be made at all."""
        self.failures += 1

    def ended(self, conn: ConnectionCore) -> None:
        """A connection is lost or draining; noted once per connection."""
        if conn.counted:
            return
        conn.counted = True
        self.failures = 0 if conn.answered else self.failures + 1
