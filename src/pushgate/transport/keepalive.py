"""Connection health checks with HTTP/2 PING (RFC 9113 §6.7).

NATs and load balancers drop idle TCP flows without a word, and a provider
connection may sit idle for hours between bursts; without a check, the
first request after the silence waits out a whole request timeout before
anyone learns the connection is gone. Apple recommends checking the health
of an APNs connection with a PING.

Nothing here runs per request. The connection sets a flag in
``data_received`` (once per TCP read); one timer per connection looks at it
every ``interval`` seconds. A tick that finds the flag still clear since
the last one (nothing arrived for one to two intervals, as the flag is
looked at once per interval) sends a PING with a fresh 8-byte payload and
waits ``timeout`` seconds. The matching ACK, or any other frame, proves the peer alive; if
nothing at all arrives, the connection is dropped the way a lost one is
(``ClientConnection.abandon``): its requests in flight fail with
``ConnectionLost`` and the pool opens a new connection for what comes next.
A busy connection never pings: its flag is always set.
"""

from __future__ import annotations

import asyncio
import struct
from typing import TYPE_CHECKING

from pushgate.transport import frames as f

if TYPE_CHECKING:
    from pushgate.transport.connection import ClientConnection

_PAYLOAD = struct.Struct(">Q")


class Keepalive:
    """The PING timer of one connection."""

    def __init__(
        self, conn: ClientConnection, loop: asyncio.AbstractEventLoop, interval: float, timeout: float
    ) -> None:
        self._conn = conn
        self._loop = loop
        self._interval = interval
        self._timeout = timeout
        self.outstanding: bytes | None = None  # the payload of the PING awaiting its ACK
        self.pings_sent = 0
        self._timer: asyncio.TimerHandle | None = loop.call_later(interval, self._tick)

    @property
    def armed(self) -> bool:
        return self._timer is not None

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def acked(self, payload: bytes) -> None:
        """A PING ACK arrived; one that answers no PING of ours is ignored (§6.7)."""
        if payload != self.outstanding:
            return
        self.outstanding = None
        # The peer is alive as of now: measure the next silence from here.
        self._conn.heard = False
        self.cancel()
        self._timer = self._loop.call_later(self._interval, self._tick)

    def _tick(self) -> None:
        conn = self._conn
        if conn.closed:
            self._timer = None
            return
        if conn.heard:
            conn.heard = False
            self._timer = self._loop.call_later(self._interval, self._tick)
            return
        self.pings_sent += 1
        self.outstanding = payload = _PAYLOAD.pack(self.pings_sent)
        conn.send_control(f.frame(f.PING, 0, 0, payload))
        self._timer = self._loop.call_later(self._timeout, self._check)

    def _check(self) -> None:
        conn = self._conn
        self._timer = None
        if conn.closed:
            return
        if not conn.heard:
            conn.abandon(f"no answer to an HTTP/2 PING within {self._timeout} s")
            return
        # Other frames came but not the ACK: alive all the same. If the ACK
        # still comes, it matches nothing outstanding and is ignored.
        self.outstanding = None
        conn.heard = False
        self._timer = self._loop.call_later(self._interval, self._tick)
