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
from pushgate.results import BatchResult, Cause, Status, TokenResult

__version__ = "0.1.0"

__all__ = [
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
    "TokenResult",
    "TransportError",
]
