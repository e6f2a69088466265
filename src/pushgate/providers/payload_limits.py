"""Does a notification fit each provider the app sends through? Checked before storing.

A send accepted with 202 must be deliverable: discovering at delivery time
that the body is 5 KB over APNs' 4 KB limit would fail every device of the
send one by one. So the API builds the wire payload with the same builders
the provider clients use in ``prepare()`` (each provider spec's
``check_payload``), for every provider the send reaches that the app has
credentials for (the service passes the providers of the targeted
devices), and refuses the send with 413 naming the provider and the sizes
when one does not fit — or 422 naming the provider when the notification
cannot be expressed for it at all (a bad override block, too many WNS
actions).

No provider client is created and nothing is sent: only the payload
builders run, which are pure functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pushgate.errors import InvalidNotification
from pushgate.notification import Notification
from pushgate.providers import provider_spec


def check_payloads(
    notification: Notification,
    credentials: Mapping[str, Mapping[str, Any]],
    *,
    providers: Iterable[str] | None = None,
    now: datetime | None = None,
) -> None:
    """Build ``notification`` for each provider in ``credentials`` (provider → config).

    :param providers: only these (the providers the send reaches); None: all.
    :raises PayloadTooLarge: the payload is over a provider's limit.
    :raises InvalidNotification: a provider cannot express the notification.
    """
    wanted = set(providers) if providers is not None else None
    for provider, config in sorted(credentials.items()):
        if wanted is not None and provider not in wanted:
            continue
        try:
            provider_spec(provider).check_payload(notification, config, now)
        except InvalidNotification as exc:
            exc.provider = exc.provider or provider  # which of the send's providers refused it
            raise
