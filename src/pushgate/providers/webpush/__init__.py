"""Web Push: RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID.

Modules: ``client`` (the provider), ``auth``, ``payload`` (``build_payload``),
``outcomes`` (``classify``), ``credentials`` (``check_stored``, ``validate``)
and ``spec`` (its entry in the provider table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr

if TYPE_CHECKING:
    from pushgate.providers.webpush.client import Subscription, WebPush


# The client is imported on first use: looking up the spec imports this
# package, and that must not load the send stack (HTTP/2, JWT, ECE).
_CLIENT = "pushgate.providers.webpush.client"
__getattr__ = lazy_getattr(__name__, {"Subscription": _CLIENT, "WebPush": _CLIENT})

__all__ = ["Subscription", "WebPush"]
