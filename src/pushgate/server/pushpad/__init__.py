"""The Pushpad-compatible REST API (docs/pushpad.md): Pushpad's paths and shapes over pushgate.

Mounted under ``settings.pushpad_api_prefix`` (default ``/pushpad/api/v1``),
so Pushpad's own client, given ``base_url="https://<pushgate>/pushpad/api/v1"``,
works unchanged: projects, senders, notifications, subscriptions
(https://pushpad.xyz/docs/rest_api). The routes call the registry and the
service layer like the native API; nothing here talks to a provider.
"""

from __future__ import annotations

from fastapi import APIRouter

from pushgate.server.pushpad import notifications, projects, senders, subscriptions


def pushpad_router(prefix: str) -> APIRouter:
    """Every Pushpad route under ``prefix``."""
    router = APIRouter(prefix=prefix.rstrip("/"))
    for module in (projects, senders, notifications, subscriptions):
        router.include_router(module.router)
    return router


__all__ = ["pushpad_router"]
