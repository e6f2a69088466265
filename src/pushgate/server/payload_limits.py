"""Does a notification fit each provider the app sends through? Checked before storing.

A send accepted with 202 must be deliverable: discovering at delivery time
that the body is 5 KB over APNs' 4 KB limit would fail every device of the
send one by one. So the API builds the wire payload with the same builders
the provider clients use in ``prepare()`` (the ``payload`` modules of :mod:`pushgate.providers`), for
every provider the app has credentials for (narrowed by the target's
``providers``), and refuses the send with 413 naming the provider and the
sizes when one does not fit — or 422 when the notification cannot be
expressed for a provider at all (a bad override block, too many WNS actions).

No provider client is created and nothing is sent: only the payload
builders run, which are pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pushgate.notification import Notification

# APNs needs a topic to build headers; certificate-only credentials may rely on
# the certificate's UID. Any placeholder works for measuring the body.
_PLACEHOLDER_TOPIC = "com.example.app"


def check_payloads(
    notification: Notification,
    credentials: Mapping[str, Mapping[str, Any]],
    *,
    providers: Iterable[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Build ``notification`` for each provider in ``credentials`` (provider → config).

    :param providers: only these (the target's provider filter); None: all.
    :raises PayloadTooLarge: the payload is over a provider's limit.
    :raises InvalidNotification: a provider cannot express the notification.
    """
    wanted = set(providers) if providers is not None else None
    for provider, config in sorted(credentials.items()):
        if wanted is not None and provider not in wanted:
            continue
        if provider == "apns":
            from pushgate.providers.apns import payload as apns

            apns.build(notification, bundle_id=str(config.get("topic") or _PLACEHOLDER_TOPIC), now=now)
        elif provider == "fcm":
            from pushgate.providers.fcm import payload as fcm

            fcm.build_payload(notification, now=now)
        elif provider == "webpush":
            from pushgate.providers.webpush import payload as webpush

            webpush.build_message(notification, now=now)
        elif provider == "wns":
            from pushgate.providers.wns import payload as wns

            wns.build(notification, now=now)
