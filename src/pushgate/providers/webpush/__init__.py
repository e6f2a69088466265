"""Web Push: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID.

Modules: ``client`` (the provider), ``auth``, ``payload`` (``build_payload``),
``outcomes`` (``classify``), ``credentials`` (``check_stored``, ``validate``)
and ``spec`` (its entry in the provider table).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pushgate.providers.webpush.client import Subscription, WebPush


# The client is imported on first use: looking up the spec imports this
# package, and that must not load the send stack (HTTP/2, JWT, ECE).
def __getattr__(attr: str) -> Any:
    if attr in __all__:
        return getattr(importlib.import_module("pushgate.providers.webpush.client"), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


__all__ = ["Subscription", "WebPush"]
