"""The WNS :class:`ProviderSpec`: credentials, client from stored credentials, payload and token checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from pushgate.notification import Notification
from pushgate.providers._spec import Endpoint, ProviderSpec
from pushgate.providers.wns import credentials, tokens

if TYPE_CHECKING:
    from pushgate.providers._base import Provider

# Channel URIs look like https://<region>.notify.windows.com/?token=...
DEFAULT_HOSTS: Final[tuple[str, ...]] = ("*.notify.windows.com",)


def build_client(
    config: Mapping[str, Any], endpoint: Endpoint, *, concurrency: int, max_retries: int
) -> Provider[Any, Any]:
    from pushgate.providers.wns.client import WNS

    # base_url, as for the library client (README, "Providers"): channel URIs on its host are
    # allowed, and the access token comes from it unless token_url names another endpoint.
    return WNS(
        client_id=config["client_id"], client_secret=config["client_secret"],
        tenant_id=config.get("tenant_id"), token_url=endpoint.token_url, base_url=endpoint.base_url,
        allowed_hosts=endpoint.allowed_hosts, ca_file=endpoint.ca_file,
        concurrency=concurrency, max_retries=max_retries, request_timeout=endpoint.request_timeout,
    )


def check_payload(notification: Notification, config: Mapping[str, Any], now: datetime | None) -> None:
    from pushgate.providers.wns.payload import build_payload

    build_payload(notification, now=now)


SPEC = ProviderSpec(
    name=credentials.NAME,
    fields=credentials.FIELDS,
    required=credentials.REQUIRED,
    check_stored=credentials.check_stored,
    validate=credentials.validate,
    build_client=build_client,
    check_payload=check_payload,
    check_token=tokens.check_token,
    default_hosts=DEFAULT_HOSTS,
)
