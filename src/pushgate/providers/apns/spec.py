"""The APNs :class:`ProviderSpec`: credentials, client from stored credentials, payload and token checks."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from pushgate.errors import ConfigurationError
from pushgate.notification import Notification
from pushgate.providers._base import Provider
from pushgate.providers._spec import Endpoint, ProviderSpec
from pushgate.providers.apns import credentials, tokens

# APNs needs a topic to build headers; certificate-only credentials may rely on
# the certificate's UID. Any placeholder works for measuring the body.
_PLACEHOLDER_TOPIC = "com.example.app"


def build_client(
    config: Mapping[str, Any], endpoint: Endpoint, *, concurrency: int, max_retries: int
) -> Provider[Any, Any]:
    from pushgate.providers.apns.client import APNs

    options: dict[str, Any] = {
        "topic": config.get("topic"),
        "environment": config.get("environment", "production"),
        "base_url": endpoint.base_url,
        "ca_file": endpoint.ca_file,
        "concurrency": concurrency,
        "max_retries": max_retries,
        "request_timeout": endpoint.request_timeout,
    }
    key = config.get("key")
    if key:
        # Stored keys are PEM text; as bytes the client never takes them for a file path.
        pem = key.encode() if isinstance(key, str) else key
        return APNs(key=pem, key_id=config.get("key_id"), team_id=config.get("team_id"), **options)
    certificate = config.get("certificate")
    if not certificate:
        raise ConfigurationError("APNs credentials need a key or a certificate")
    # The client loads the certificate from a file once, in its constructor:
    # write it to a private temporary file and remove it straight after.
    with _private_pem(certificate, config.get("certificate_key")) as (cert_path, key_path):
        return APNs(cert_file=cert_path, key_file=key_path, **options)


@contextlib.contextmanager
def _private_pem(certificate: str, key: str | None) -> Iterator[tuple[str, str | None]]:
    directory = tempfile.mkdtemp(prefix="pushgate-apns-")
    paths: list[str] = []
    try:
        cert_path = os.path.join(directory, "cert.pem")
        _write_private(cert_path, certificate)
        paths.append(cert_path)
        key_path: str | None = None
        if key:
            key_path = os.path.join(directory, "key.pem")
            _write_private(key_path, key)
            paths.append(key_path)
        yield cert_path, key_path
    finally:
        for path in paths:
            with contextlib.suppress(OSError):
                os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _write_private(path: str, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def check_payload(notification: Notification, config: Mapping[str, Any], now: datetime | None) -> None:
    from pushgate.providers.apns.payload import build_payload

    build_payload(notification, bundle_id=str(config.get("topic") or _PLACEHOLDER_TOPIC), now=now)


SPEC = ProviderSpec(
    name=credentials.NAME,
    fields=credentials.FIELDS,
    required=credentials.REQUIRED,
    check_stored=credentials.check_stored,
    validate=credentials.validate,
    build_client=build_client,
    check_payload=check_payload,
    check_token=tokens.check_token,
    key_file_fields=credentials.key_file_fields,
    normalize_token=tokens.normalize_token,
)
