"""INFO logs show device tokens and channel URIs shortened, as the API shows them."""

from __future__ import annotations

import logging

import httpx
import pytest

from pushgate.service.runtime import configure_logging

CHANNEL = "https://db5.notify.windows.com/?token=AwYAAAB0c2VjcmV0LWNoYW5uZWwtdG9rZW4tdmFsdWU"
ENDPOINT = "https://fcm.googleapis.com/fcm/send/dGhpcy1pcy1hLXN1YnNjcmlwdGlvbi1pZGVudGlmaWVy"


@pytest.mark.parametrize("url", [CHANNEL, ENDPOINT])
def test_httpx_request_lines_shorten_the_token(caplog: pytest.LogCaptureFixture, url: str) -> None:
    configure_logging("info")
    with caplog.at_level(logging.INFO, logger="httpx"):
        # exactly how httpx logs each request
        logging.getLogger("httpx").info('HTTP Request: %s %s "%s %d %s"', "POST", httpx.URL(url),
                                        "HTTP/1.1", 200, "OK")
    message = caplog.records[-1].getMessage()
    secret = url.rsplit("=", 1)[-1] if "?token=" in url else url.rsplit("/", 1)[-1]
    assert secret not in message, message
    assert secret[-8:] in message, message
    assert httpx.URL(url).host in message, message
    assert "200 OK" in message
