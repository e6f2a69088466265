"""FCM HTTP v1 credentials: a service account (the key file's JSON), optionally a ``project_id``.

The account may be given as the key file's text; it is stored parsed, so
its ``private_key`` is masked and encrypted like any other secret.

The Firebase console hands out another JSON file that is easily taken for
it: ``google-services.json``, the Android app's config
(https://firebase.google.com/docs/android/setup), with ``project_info`` and
``client`` and no private key. HTTP v1 requests are authorized with an
OAuth token minted from a service account's key
(https://firebase.google.com/docs/cloud-messaging/auth-server), so that
file is recognised and refused with a message naming the one to download.
So is its iOS counterpart, ``GoogleService-Info.plist``
(https://firebase.google.com/docs/ios/setup), an XML property list that
would otherwise be refused as "not JSON".
"""

from __future__ import annotations

import json
from typing import Any, Final

from pushgate.providers._credentials import check_url, pem_private_key
from pushgate.providers._spec import CredentialError, CredentialField, require_fields

NAME: Final = "fcm"
# The fields of a service account the client needs (Google's key file has more).
ACCOUNT_FIELDS: Final = ("project_id", "client_email", "private_key")

FIELDS: Final = (
    CredentialField("service_account", text=False),
    CredentialField("service_account.private_key", text=False, secret=True),
    CredentialField("project_id"),
)
REQUIRED: Final = (("service_account",),)
# The top-level keys of google-services.json (see the module docstring).
CLIENT_CONFIG_KEYS: Final = ("project_info", "client")
_NEEDED: Final = (
    'FCM HTTP v1 needs a service-account key JSON (type "service_account"), from the Firebase '
    "console's Project settings → Service accounts → Generate new private key"
)
NOT_A_SERVICE_ACCOUNT: Final = f"this is google-services.json, the Android app's Firebase config: {_NEEDED}"
# GoogleService-Info.plist: an XML property list holding the Firebase app id as GOOGLE_APP_ID.
IOS_CONFIG_MARKERS: Final = ("<plist", "<key>GOOGLE_APP_ID</key>")
IOS_CONFIG_NOT_A_SERVICE_ACCOUNT: Final = (
    f"this is GoogleService-Info.plist, the iOS app's Firebase config: {_NEEDED}"
)

__all__ = [
    "ACCOUNT_FIELDS", "CLIENT_CONFIG_KEYS", "FIELDS", "IOS_CONFIG_NOT_A_SERVICE_ACCOUNT",
    "NOT_A_SERVICE_ACCOUNT", "REQUIRED", "check_stored", "from_vendor_document", "is_ios_config",
    "key_file_fields", "validate",
]


def from_vendor_document(document: dict[str, Any]) -> dict[str, Any]:
    """Google's service-account key file as it is becomes the ``service_account`` field.

    So does google-services.json, so that the account check refuses it by name
    rather than as a set of unknown fields.
    """
    if "service_account" not in document and (
        document.get("type") == "service_account" or _is_client_config(document)
    ):
        return {"service_account": document}
    return document


def _is_client_config(document: Any) -> bool:
    return isinstance(document, dict) and all(key in document for key in CLIENT_CONFIG_KEYS)


def _refuse_client_config(account: Any) -> None:
    if _is_client_config(account):
        raise CredentialError("service_account", NOT_A_SERVICE_ACCOUNT)


def is_ios_config(text: str) -> bool:
    """Whether ``text``, which is not JSON, is GoogleService-Info.plist (read as text, not parsed)."""
    return all(marker in text for marker in IOS_CONFIG_MARKERS)


def _not_json(text: str, message: str) -> CredentialError:
    """The error for service-account text that is not JSON: named when it is the iOS config."""
    named = IOS_CONFIG_NOT_A_SERVICE_ACCOUNT if is_ios_config(text) else message
    return CredentialError("service_account", named)


def key_file_fields(text: str) -> dict[str, Any]:
    """The service-account key file, by path."""
    try:
        account = json.loads(text)
    except ValueError as exc:
        raise _not_json(text, f"not a service-account JSON file: {exc}") from None
    return {"service_account": account}


def check_stored(config: dict[str, Any]) -> dict[str, Any]:
    """The shape stored FCM credentials must have (the key is not parsed)."""
    if isinstance(config.get("service_account"), str):
        try:
            config["service_account"] = json.loads(config["service_account"])
        except ValueError:
            raise _not_json(config["service_account"], "not a JSON service account") from None
    require_fields(NAME, config, REQUIRED)
    account = config["service_account"]
    _refuse_client_config(account)
    for name in ACCOUNT_FIELDS:
        if not isinstance(account, dict) or not account.get(name):
            raise CredentialError(f"service_account.{name}", "required")
    return config


def validate(config: dict[str, Any]) -> dict[str, Any]:
    """The account is a service account with an RSA key that parses."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    account = config.get("service_account")
    if isinstance(account, str):
        try:
            account = json.loads(account)
        except ValueError:
            raise _not_json(account, "not JSON: paste the service-account key file") from None
    if not isinstance(account, dict):
        raise CredentialError("service_account", "required: the service-account key file (JSON)")
    _refuse_client_config(account)
    for name in ACCOUNT_FIELDS:
        if not isinstance(account.get(name), str) or not account[name]:
            raise CredentialError(f"service_account.{name}", "required")
    if account.get("type", "service_account") != "service_account":
        raise CredentialError("service_account.type", 'must be "service_account"')
    if not isinstance(pem_private_key(account["private_key"], "service_account.private_key"),
                      rsa.RSAPrivateKey):
        raise CredentialError("service_account.private_key", "a service-account key is an RSA key")
    if account.get("token_uri") is not None:
        check_url(account["token_uri"], "service_account.token_uri")
    config["service_account"] = account
    return config
