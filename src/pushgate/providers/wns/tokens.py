"""WNS channel URIs: https URLs on the allow-list (the SSRF guard)."""

from __future__ import annotations

from pushgate.providers._spec import DeviceToken
from pushgate.providers._tokens import check_endpoint

__all__ = ["check_token"]


def check_token(device: DeviceToken, allowed_hosts: tuple[str, ...]) -> DeviceToken:
    """The channel URI is the token: an https URL whose host is allowed; stored as given."""
    return DeviceToken(check_endpoint(device.token, allowed_hosts, "token"))
