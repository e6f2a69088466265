"""HTTP/1.1 connections for WNS, handed out one request at a time, first come first served.

WNS allows one request at a time per connection (HTTP/1.1, no pipelining,
docs/protocols/wns.md §1 and §3.1), so sending fast means many keep-alive connections. A
single ``httpx.AsyncClient`` with a large pool is not fair under that load
(httpcore 1.0.9): a queued request and a newly arriving one can both be
assigned the same idle connection, the newcomer takes it without
suspending, and the queued one goes back to waiting; with a steady stream of
new requests it waited 5 to 12 s here, until a keep-alive expiry reshuffled
the pool. Each lane below is a client with exactly one connection, so
httpx never queues; requests wait here instead, in a FIFO that hands a freed
lane to the oldest waiter, and idle lanes are reused last-in first-out so
warm connections stay busy and surplus ones expire.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

import httpx


class Lanes:
    """Up to ``size`` single-connection clients made by ``factory`` on demand."""

    def __init__(self, factory: Callable[[], httpx.AsyncClient], size: int) -> None:
        if size < 1:
            raise ValueError("size must be at least 1")
        self._factory = factory
        self.size = size
        self._clients: list[httpx.AsyncClient] = []
        self._idle: list[httpx.AsyncClient] = []
        self._waiters: deque[asyncio.Future[httpx.AsyncClient]] = deque()
        self._closed = False

    @property
    def opened(self) -> int:
        """Lanes created so far (at most ``size``)."""
        return len(self._clients)

    async def acquire(self) -> httpx.AsyncClient:
        """A lane for one request; give it back with :meth:`release`."""
        if self._closed:
            raise RuntimeError("the connection lanes are closed")
        if self._idle:
            return self._idle.pop()
        if len(self._clients) < self.size:
            client = self._factory()
            self._clients.append(client)
            return client
        waiter: asyncio.Future[httpx.AsyncClient] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release(waiter.result())  # handed over just as we were cancelled
            raise

    def release(self, client: httpx.AsyncClient) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(client)
                return
        self._idle.append(client)

    async def aclose(self) -> None:
        self._closed = True
        for waiter in self._waiters:
            waiter.cancel()
        self._waiters.clear()
        clients, self._clients, self._idle = self._clients, [], []
        for client in clients:
            await client.aclose()
