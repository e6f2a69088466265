"""A thin blocking facade over the async providers.

The async core is written once; scripts and WSGI apps (the
django-push-notifications and PyAPNs crowd) wrap it::

    from pushgate import APNs, Notification
    from pushgate.blocking import Blocking

    with Blocking(APNs(key=..., key_id=..., team_id=..., topic="com.example")) as apns:
        result = apns.send(Notification(title="Hi"), tokens)

The provider keeps long-lived HTTP/2 connections, which belong to one event
loop; so the facade owns a private loop on a daemon thread and submits every
call to it, instead of calling ``asyncio.run`` per send (which would reconnect
each time, something APNs treats as abuse: docs/protocols/apns.md §7).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Generic, Self, TypeVar

from pushgate.notification import Notification
from pushgate.providers import Message, Provider
from pushgate.results import BatchResult, TokenResult

T = TypeVar("T")
TokenT = TypeVar("TokenT")


class Blocking(Generic[TokenT]):
    """Run an async :class:`Provider` from synchronous code."""

    def __init__(self, provider: Provider[TokenT, Any]) -> None:
        self.provider = provider
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"pushgate-{provider.name}", daemon=True
        )
        self._thread.start()
        self._closed = False

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("this blocking client is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def send(
        self,
        notification: Notification,
        tokens: Iterable[TokenT],
        *,
        badge: Callable[[TokenT], int | None] | None = None,
        batch_size: int | None = None,
    ) -> BatchResult:
        return self._call(
            self.provider.send(notification, list(tokens), badge=badge, batch_size=batch_size)
        )

    def send_one(self, notification: Notification, token: TokenT) -> TokenResult:
        return self._call(self.provider.send_one(notification, token))

    def send_messages(self, messages: Iterable[Message[TokenT]]) -> BatchResult:
        return self._call(self.provider.send_messages(list(messages)))

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._call(self.provider.aclose())
        finally:
            self._closed = True
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
