"""pushgate: send push notifications through APNs, FCM, Web Push and WNS."""

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
from pushgate.providers._base import Message, Provider
from pushgate.providers.apns import APNs
from pushgate.providers.fcm import FCM
from pushgate.providers.webpush import Subscription, WebPush
from pushgate.providers.wns import WNS
from pushgate.results import BatchResult, Cause, Status, TokenResult

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
