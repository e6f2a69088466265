"""pushgate: send push notifications through APNs, FCM, Web Push and WNS.

The provider clients are imported on first use (``pushgate.APNs`` and
``from pushgate import APNs`` both work): each pulls in its own stack
(HTTP/2, JWT, OAuth, ECE), and a server process that only answers the API
should not pay that memory until it sends (an idle ``pushgate serve`` must
stay small). ``Provider`` and ``Message`` too, so that importing the
simulators (which share this package) never loads the client side.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pushgate.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidNotification,
    InvalidToken,
    PayloadTooLarge,
    PermanentError,
    PushgateError,
    RetryableError,
    TransportError,
)
from pushgate.notification import Action, CriticalSound, InterruptionLevel, Notification, Priority
from pushgate.results import BatchResult, Cause, Status, TokenResult

if TYPE_CHECKING:
    from pushgate.providers import Message, Provider
    from pushgate.providers.apns.client import APNs
    from pushgate.providers.fcm.client import FCM
    from pushgate.providers.webpush.client import Subscription, WebPush
    from pushgate.providers.wns.client import WNS

_LAZY = {
    "Message": "pushgate.providers",
    "Provider": "pushgate.providers",
    "APNs": "pushgate.providers.apns.client",
    "FCM": "pushgate.providers.fcm.client",
    "Subscription": "pushgate.providers.webpush.client",
    "WebPush": "pushgate.providers.webpush.client",
    "WNS": "pushgate.providers.wns.client",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pushgate' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

__version__ = "0.1.0"

__all__ = [
    "FCM",
    "WNS",
    "APNs",
    "Action",
    "AuthenticationError",
    "BatchResult",
    "Cause",
    "ConfigurationError",
    "CriticalSound",
    "InterruptionLevel",
    "InvalidNotification",
    "InvalidToken",
    "Message",
    "Notification",
    "PayloadTooLarge",
    "PermanentError",
    "Priority",
    "Provider",
    "PushgateError",
    "RetryableError",
    "Status",
    "Subscription",
    "TokenResult",
    "TransportError",
    "WebPush",
]
