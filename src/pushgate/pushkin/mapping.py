"""What Pushkin's numbers mean in pushgate: users, platforms, languages, notifications, login events.

- **Users**: Pushkin's integer ``login_id`` / ``user_id`` is the pushgate
  user whose external id is its decimal text (``1337`` → ``"1337"``).
- **Platforms**: Pushkin's ``platformId`` (Android phone 1, iPhone 2, iPad 5,
  Android tablet 6: github.com/Nordeus/pushkin, docs "Logins and devices")
  → pushgate's provider and platform name (:data:`PLATFORMS`).
- **Languages**: Pushkin's ``languageId`` is the application's own integer;
  an app-level table (``PUT /v1/pushkin/languages``) maps it to a locale
  such as ``"en"``; an id missing from the table is kept as given, so the
  templates of ``/v1/messages`` can use Pushkin's ids as language keys.
- **Notifications**: ``title`` → title, ``content`` → body, ``screen`` →
  the deep link (``url``) and, for clients that read it as Pushkin sent
  it, ``data.screen``.
- **Login event** (``event_id`` 4001): its pairs ``languageId``,
  ``platformId``, ``deviceToken``, ``applicationVersion`` become the event
  service's ``language``, ``platform``, ``provider``, ``token`` and
  ``application_version``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pushgate.notification import Notification
from pushgate.pushkin.requests import PushkinNotification

LOGIN_EVENT_ID = 4001  # Pushkin's prebuilt login event (config.ini login_event_id)
TURN_OFF_NOTIFICATION_EVENT_ID = 4006  # Pushkin's blacklist event
RESERVED_EVENT_IDS = range(4000, 5000)  # Pushkin reserves these for prebuilt events
# The pairs of Pushkin's login event that login_params translates (the rest pass through as they are).
PUSHKIN_LOGIN_KEYS = frozenset({"languageId", "platformId", "deviceToken", "applicationVersion"})


@dataclass(frozen=True, slots=True)
class PushkinPlatform:
    provider: str  # pushgate provider name
    platform: str  # pushgate platform name (registry Platform)
    pushkin_name: str


PLATFORMS: dict[int, PushkinPlatform] = {
    1: PushkinPlatform("fcm", "android", "Android phone"),
    2: PushkinPlatform("apns", "ios", "iPhone"),
    5: PushkinPlatform("apns", "ipados", "iPad"),
    6: PushkinPlatform("fcm", "android_tablet", "Android tablet"),
}


class UnknownPlatform(ValueError):
    def __init__(self, value: str) -> None:
        known = ", ".join(f"{number} ({p.pushkin_name})" for number, p in PLATFORMS.items())
        super().__init__(f"platformId {value!r} is not one of {known}")


def user_external_id(login_id: int) -> str:
    """The pushgate user id of a Pushkin login id."""
    return str(login_id)


def platform_for(platform_id: str | int) -> PushkinPlatform:
    """The provider and platform of a Pushkin ``platformId`` (given as text in event pairs)."""
    try:
        number = int(platform_id)
    except (TypeError, ValueError):
        raise UnknownPlatform(str(platform_id)) from None
    if number not in PLATFORMS:
        raise UnknownPlatform(str(platform_id))
    return PLATFORMS[number]


def language_for(language_id: str, languages: Mapping[str, str]) -> str:
    """The locale the app's table gives ``language_id``; the id itself when it has none."""
    return languages.get(language_id.strip(), language_id.strip())


def notification_for(item: PushkinNotification) -> Notification:
    """The pushgate notification of one Pushkin notification."""
    return Notification(
        title=item.title or None,
        body=item.content or None,
        url=item.screen or None,
        data={"screen": item.screen} if item.screen else None,
    )


def login_params(pairs: Mapping[str, str], languages: Mapping[str, str]) -> dict[str, str]:
    """Pushkin login-event pairs → the event service's login parameters.

    :raises UnknownPlatform: ``platformId`` is missing or not one of Pushkin's platforms.
    """
    platform = platform_for(pairs.get("platformId", ""))
    params = {"platform": platform.platform, "provider": platform.provider}
    if "languageId" in pairs:
        params["language"] = language_for(pairs["languageId"], languages)
    if "deviceToken" in pairs:
        params["token"] = pairs["deviceToken"]
    if "applicationVersion" in pairs:
        params["application_version"] = pairs["applicationVersion"]
    return params


__all__ = [
    "LOGIN_EVENT_ID", "PLATFORMS", "PUSHKIN_LOGIN_KEYS", "RESERVED_EVENT_IDS",
    "TURN_OFF_NOTIFICATION_EVENT_ID",
    "PushkinPlatform", "UnknownPlatform", "language_for", "login_params", "notification_for", "platform_for",
    "user_external_id",
]
