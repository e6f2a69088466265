"""The registry's errors; each says what the API should answer."""

from __future__ import annotations

from pushgate.errors import PermanentError


class ValidationError(PermanentError):
    """Input the registry refuses; ``field`` names it (the API answers 422 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(PermanentError):
    """The app, user, device or send does not exist (404)."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key!r} not found")
        self.kind = kind
        self.key = key


class IdempotencyConflict(PermanentError):
    """An idempotency key was reused with a different request (409/422)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"idempotency key {key!r} was used for a different request")
        self.key = key
