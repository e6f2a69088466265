"""The FCM :class:`ProviderSpec`: credentials, client from stored credentials, payload and token checks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pushgate.errors import ConfigurationError
from pushgate.notification import Notification
from pushgate.providers._base import Provider
from pushgate.providers._spec import Endpoint, ProviderSpec
from pushgate.providers.fcm import credentials, tokens


def build_client(
    config: Mapping[str, Any], endpoint: Endpoint, *, concurrency: int, max_retries: int
) -> Provider[Any, Any]:
    from pushgate.providers.fcm.client import DEFAULT_BASE_URL, FCM

    account = config.get("service_account")
    if isinstance(account, Mapping):
        account = dict(account)
        if endpoint.token_url:
            account["token_uri"] = endpoint.token_url
    elif not isinstance(account, str) or not account.lstrip().startswith("{"):
        raise ConfigurationError("FCM credentials need a service_account (the key file's JSON)")
    return FCM(
        account, project_id=config.get("project_id"), base_url=endpoint.base_url or DEFAULT_BASE_URL,
        ca_file=endpoint.ca_file, concurrency=concurrency, max_retries=max_retries,
        request_timeout=endpoint.request_timeout,
    )


def check_payload(notification: Notification, config: Mapping[str, Any], now: datetime | None) -> None:
    from pushgate.providers.fcm.payload import build_payload

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
    from_vendor_document=credentials.from_vendor_document,
    key_file_fields=credentials.key_file_fields,
)
