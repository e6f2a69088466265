"""FCM registration tokens: opaque text, checked loosely."""

from __future__ import annotations

import re

from pushgate.providers._spec import DeviceToken, TokenError

__all__ = ["TOKEN_MAX_LENGTH", "TOKEN_MIN_LENGTH", "check_token"]

# FCM registration tokens are ~150-250 characters of base64url plus ':'; stay
# generous, Google documents no length and has changed it before.
TOKEN_MIN_LENGTH = 20
TOKEN_MAX_LENGTH = 4096
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_\-:.]+$")


def check_token(device: DeviceToken, allowed_hosts: tuple[str, ...]) -> DeviceToken:
    """Length and alphabet; stored as given. FCM is one fixed service: no hosts."""
    token = device.token
    if not TOKEN_MIN_LENGTH <= len(token) <= TOKEN_MAX_LENGTH:
        raise TokenError(
            "token", f"an FCM registration token is {TOKEN_MIN_LENGTH} to {TOKEN_MAX_LENGTH} characters"
        )
    if not _TOKEN_RE.match(token):
        raise TokenError("token", "an FCM registration token has only letters, digits and -_:.")
    return DeviceToken(token)
