"""The one exception tree, sorted by what the caller can do.

- :class:`PermanentError`: the request cannot succeed as it is (bad input,
  payload too large). Fix the request.
- :class:`RetryableError`: try again later; ``retry_after`` says when
  (:class:`Backpressure`: the server refused a send because its queue is full).
- :class:`ConfigurationError`: credentials, topic or environment are wrong.
  Fix the configuration; retrying will not help.

Per-token outcomes (dead tokens, throttling of one device) are *not*
exceptions: they are :class:`pushgate.results.TokenResult` values. Errors are
raised only for things that concern the whole call. Third-party exceptions
are converted at the client boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class PushgateError(Exception):
    """Base of every error pushgate raises."""


class PermanentError(PushgateError):
    """Retrying the same request will fail the same way."""


class InvalidNotification(PermanentError):
    """The notification cannot be expressed for this provider."""

    def __init__(self, message: str, *, field: str | None = None, provider: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.provider = provider  # set when checked for one provider among several


class InvalidToken(PermanentError):
    """A token or subscription is malformed before anything was sent."""

    def __init__(self, message: str, *, token: str | None = None) -> None:
        super().__init__(message)
        self.token = token


class PayloadTooLarge(PermanentError):
    """The wire payload exceeds the provider's limit (checked before sending)."""

    def __init__(self, provider: str, size: int, limit: int) -> None:
        super().__init__(f"{provider} payload is {size} bytes; the limit is {limit}")
        self.provider = provider
        self.size = size
        self.limit = limit


class RetryableError(PushgateError):
    """Temporary failure; ``retry_after`` is the suggested delay in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TransportError(RetryableError):
    """The connection failed, dropped, or timed out."""


class Backpressure(RetryableError):
    """The server's queue is over its bound: nothing was stored; retry after ``retry_after`` seconds."""

    retry_after: int  # whole seconds: it becomes the HTTP Retry-After header

    def __init__(self, depth: int, limit: int, retry_after: int) -> None:
        super().__init__(f"{depth} deliveries are waiting (the bound is {limit}); retry in {retry_after}s",
                         retry_after=retry_after)
        self.depth = depth
        self.limit = limit


class ConfigurationError(PushgateError):
    """Credentials, key, topic or environment are wrong or missing."""


class AuthenticationError(ConfigurationError):
    """The provider (or its token endpoint) rejected our credentials."""
