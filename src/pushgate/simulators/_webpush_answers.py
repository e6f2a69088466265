"""How each push service words a refusal (docs/protocols/webpush.md §5 and §8).

The checks (:mod:`pushgate.simulators._webpush_checks`) decide *that* a
request is refused and why; this module renders the refusal in the body
format of the simulated service:

- ``autopush`` (Mozilla): JSON ``{"code", "errno", "error", "message",
  "more_info"}``, every VAPID failure 401 (errno 109), ``Cache-Control`` on 410;
- ``apple``: JSON ``{"reason": ...}``, every VAPID failure 403;
- ``fcm``: plain text, the status of the failure (401 missing, 403 invalid
  or a key other than the subscription's).
"""

from __future__ import annotations

import logging
from http import HTTPStatus

from pushgate.simulators._server import SimResponse
from pushgate.simulators._webpush_checks import Rejection, VapidRejection

logger = logging.getLogger("pushgate.simulators.webpush")

AUTOPUSH_MORE_INFO = "http://autopush.readthedocs.io/en/latest/http.html#error-codes"
FCM_TEXT = {  # FCM's web push front end answers in plain text [recall]
    401: "authorization header is missing or invalid",
    403: "permission denied",
    404: "push subscription not found",
    410: "push subscription has unsubscribed or expired.",
    413: "payload is too large",
    429: "too many requests",
}
FCM_VAPID_TEXT = {  # by VapidRejection.kind; the mismatch text as FCM words it (docs/protocols/webpush.md §5)
    "missing": FCM_TEXT[401],
    "invalid": "invalid JWT provided",
    "mismatch": "the VAPID credentials in the authorization header do not correspond to the credentials "
                "used to create the subscriptions.",
}


def render_rejection(
    mode: str, rejection: Rejection, headers: list[tuple[str, str]] | None = None
) -> SimResponse:
    """``rejection`` as the push service of ``mode`` answers it."""
    status = rejection.status
    if isinstance(rejection, VapidRejection):
        status = {"autopush": 401, "apple": 403}.get(mode, status)
    extra = list(headers or [])
    logger.debug("webpush %s: %s %s", mode, status, rejection.message)
    if mode == "apple":
        return SimResponse.json(status, {"reason": rejection.reason}, extra)
    if mode == "fcm":
        if isinstance(rejection, VapidRejection):
            text = FCM_VAPID_TEXT[rejection.kind]
        else:
            text = FCM_TEXT.get(status, rejection.message)
        return SimResponse(status, [("content-type", "text/plain; charset=utf-8"), *extra], text.encode())
    if status == 410:
        extra.append(("cache-control", "max-age=86400"))
    body = {
        "code": status,
        "errno": rejection.errno,
        "error": HTTPStatus(status).phrase,
        "message": rejection.message,
        "more_info": AUTOPUSH_MORE_INFO,
    }
    return SimResponse.json(status, body, extra)


__all__ = ["AUTOPUSH_MORE_INFO", "FCM_TEXT", "FCM_VAPID_TEXT", "render_rejection"]
