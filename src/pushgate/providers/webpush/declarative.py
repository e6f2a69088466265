"""The Declarative Web Push form of a Web Push message (WebKit, Safari 18.4+; docs/protocols/webpush.md §10).

A declarative push message is JSON the browser shows by itself, without
running a service worker::

    {"web_push": 8030,
     "notification": {"title": "…", "navigate": "https://…", "body": "…", "lang": "…", "dir": "…",
                      "tag": "…", "image": url, "icon": url, "badge": url, "silent": false,
                      "renotify": false, "require_interaction": false, "data": {...},
                      "actions": [{"action": id, "title": "…", "navigate": url, "icon": url}]},
     "app_badge": 3, "mutable": false}

``navigate`` (the page a click opens) is required, so a notification
without a ``url`` cannot be sent this way. ``mutable: true`` asks the
browser to hand the message to the service worker's ``push`` handler first
(which may change it; the declarative message is the fallback). Keys the
form does not define (``pushgate``, ``custom_data``, ``custom_metrics``,
``starred``) stay at the top level, where browsers ignore them and
``pushgate-sw.js`` reads them.

Sources: https://webkit.org/blog/16535/meet-declarative-web-push/ and the
explainer https://github.com/WebKit/explainers/tree/main/DeclarativeWebPush.
"""

from __future__ import annotations

from typing import Any

from pushgate.errors import InvalidNotification

__all__ = ["MAGIC", "OPTION", "to_declarative"]

MAGIC = 8030  # the value of "web_push" that marks a declarative message (the RFC's number)
OPTION = "declarative"  # notification.webpush.declarative = true asks for this form
# pushgate's JSON key → the declarative notification member (same name unless listed)
_NOTIFICATION_KEYS = ("title", "body", "lang", "dir", "tag", "image", "icon", "badge", "silent", "renotify",
                      "require_interaction", "data")
_TOP_LEVEL_KEYS = ("mutable", "pushgate", "custom_data", "custom_metrics", "starred")


def to_declarative(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` (pushgate's service-worker JSON) in the declarative form.

    :raises InvalidNotification: no ``url`` to navigate to, or an action without a title.
    """
    navigate = payload.get("url")
    if not navigate:
        raise InvalidNotification("Declarative Web Push needs the url a click opens (navigate)", field="url")
    notification: dict[str, Any] = {"title": payload.get("title") or "", "navigate": navigate}
    for key in _NOTIFICATION_KEYS[1:]:
        if payload.get(key) is not None:
            notification[key] = payload[key]
    actions = []
    for index, action in enumerate(payload.get("actions") or []):
        if not action.get("title"):
            raise InvalidNotification("an action needs a title", field=f"actions[{index}].title")
        shown = {"action": action.get("action") or f"action-{index}", "title": action["title"],
                 "navigate": action.get("url") or navigate}
        if action.get("icon"):
            shown["icon"] = action["icon"]
        actions.append(shown)
    if actions:
        notification["actions"] = actions
    message: dict[str, Any] = {"web_push": MAGIC, "notification": notification}
    if payload.get("app_badge") is not None:
        message["app_badge"] = payload["app_badge"]
    for key in _TOP_LEVEL_KEYS:
        if payload.get(key) is not None:
            message[key] = payload[key]
    return message
