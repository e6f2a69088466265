"""Dry run: everything a delivery does except the provider call.

With ``settings.dry_run`` the client cache wraps every client it builds in
:class:`DryRunProvider`. The real client is still built from the stored
credentials (a key that does not parse still pauses the app's provider),
and each notification is still prepared by the real provider's payload
builder (a payload the provider would refuse still fails the delivery with
its reason), but no request is made: the provider's connection is never
opened, no auth token is fetched, and each message is recorded ``sent``
with reason ``DryRun`` and no provider message id. Counters, windows,
recording, pauses and the send's life cycle run as they would for real, so
a dry run measures and tests everything on this side of the network.

Pushkin's ``dry_run`` (config.ini) asked GCM itself to validate without
delivering; this one contacts nobody, for every provider.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from pushgate.notification import Notification
from pushgate.providers import Provider
from pushgate.results import Status, TokenResult

DRY_RUN_REASON = "DryRun"


class DryRunProvider(Provider[Any, Any]):
    """Wraps a provider client: prepares like it, answers ``sent`` without a request."""

    def __init__(self, inner: Provider[Any, Any]) -> None:
        super().__init__(concurrency=inner.concurrency, max_retries=0)
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]

    def prepare(self, notification: Notification) -> Any:
        return self.inner.prepare(notification)

    def text_preparer(self, notification: Notification) -> Callable[[str | None, str | None], Any]:
        return self.inner.text_preparer(notification)

    def with_defaults(self, notification: Notification) -> Notification:
        return self.inner.with_defaults(notification)

    def token_key(self, token: Any) -> str:
        return self.inner.token_key(token)

    def submit(self, prepared: Any, token: Any, message_id: str | None) -> asyncio.Future[TokenResult]:
        future: asyncio.Future[TokenResult] = asyncio.get_running_loop().create_future()
        future.set_result(dry_run_result(self.token_key(token)))
        return future

    async def aclose(self) -> None:
        await self.inner.aclose()


def dry_run_result(token: str) -> TokenResult:
    return TokenResult(token, Status.SENT, reason=DRY_RUN_REASON, latency=0.0)


__all__ = ["DRY_RUN_REASON", "DryRunProvider", "dry_run_result"]
