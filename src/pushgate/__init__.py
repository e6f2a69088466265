"""pushgate: send push notifications through APNs, FCM, Web Push and WNS.

The provider clients are imported on first use (``pushgate.APNs`` and
``from pushgate import APNs`` both work): each pulls in its own stack
(HTTP/2, JWT, OAuth, ECE), and a server process that only answers the API
should not pay that memory until it sends (an idle ``pushgate serve`` must
stay small). ``Provider`` and ``Message`` too, so that importing the
simulators (which share this package) never loads the client side.
"""

from __future__ import annotations

import importlib.metadata as _metadata
from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr
from pushgate.errors import (
    AuthenticationError,
    Backpressure,
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
    from pushgate.blocking import Blocking
    from pushgate.providers import Message, Provider
    from pushgate.providers.apns import APNs
    from pushgate.providers.fcm import FCM
    from pushgate.providers.webpush import Subscription, WebPush
    from pushgate.providers.wns import WNS
    from pushgate.uid_signature import signature_for

_LAZY = {
    "Blocking": "pushgate.blocking",
    "Message": "pushgate.providers",
    "Provider": "pushgate.providers",
    "APNs": "pushgate.providers.apns",
    "FCM": "pushgate.providers.fcm",
    "Subscription": "pushgate.providers.webpush",
    "WebPush": "pushgate.providers.webpush",
    "WNS": "pushgate.providers.wns",
    "signature_for": "pushgate.uid_signature",
}


__getattr__ = lazy_getattr(__name__, _LAZY, globals())

try:
    # The version lives in pyproject.toml only; the installed metadata carries it.
    __version__ = _metadata.version("pushgate")
except _metadata.PackageNotFoundError:  # a source tree on sys.path, never installed
    __version__ = "0+unknown"

__all__ = [
    "FCM",
    "WNS",
    "APNs",
    "Action",
    "AuthenticationError",
    "Backpressure",
    "BatchResult",
    "Blocking",
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
    "signature_for",
]
