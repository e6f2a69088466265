"""APNs device tokens: hexadecimal, stored in lower case."""

from __future__ import annotations

import re

from pushgate.providers._spec import DeviceToken, TokenError

__all__ = ["TOKEN_MAX_HEX", "TOKEN_MIN_HEX", "check_token", "normalize_token"]

# Apple: "don't hard-code the length of device tokens" (today 32 bytes = 64 hex).
TOKEN_MIN_HEX = 32
TOKEN_MAX_HEX = 200

_HEX_RE = re.compile(r"^[0-9a-f]+$")


def normalize_token(token: str) -> str:
    """Apps print tokens in either case; one spelling is stored, so a device is one row."""
    return token.strip().lower()


def check_token(device: DeviceToken, allowed_hosts: tuple[str, ...]) -> DeviceToken:
    """Hex, even length, 32 to 200 characters; lowercased. APNs is one fixed service: no hosts."""
    normalized = normalize_token(device.token)
    if not _HEX_RE.match(normalized):
        raise TokenError("token", "an APNs device token is hexadecimal")
    if len(normalized) % 2 or not TOKEN_MIN_HEX <= len(normalized) <= TOKEN_MAX_HEX:
        raise TokenError(
            "token",
            f"an APNs device token has an even number of hex digits, "
            f"{TOKEN_MIN_HEX} to {TOKEN_MAX_HEX} (got {len(normalized)})",
        )
    return DeviceToken(normalized)
