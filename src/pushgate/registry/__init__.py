"""The device registry: apps, credentials, API keys, users, devices, sends, deliveries.

SQLAlchemy 2 on a SQLite file (the embedded default) or PostgreSQL, with
Alembic migrations shipped in the package::

    from pushgate.registry import Database, create_app, register_device, DeviceSpec

    db = Database("sqlite:///pushgate.db")
    db.migrate()
    with db.session() as session:
        app, api_key = create_app(session, "shop")          # the key is shown once
        register_device(session, app.id, DeviceSpec("apns", token, user="u1"))

Functions doing one unit of work take a Session and never commit (the
caller's ``with db.session()`` block is the transaction); functions that
stream unbounded input (:func:`import_devices`) take the Database and
commit per chunk.
"""

from pushgate.registry._errors import IdempotencyConflict, NotFound, ValidationError
from pushgate.registry._paging import Page
from pushgate.registry.apps import (
    AuthenticatedKey,
    PlainCredentials,
    authenticate,
    authenticate_key,
    create_api_key,
    create_app,
    delete_app,
    delete_credentials,
    get_app,
    get_app_by_name,
    get_credentials,
    get_stored_credentials,
    list_api_keys,
    list_apps,
    list_credentials,
    reencrypt_credentials,
    require_app,
    revoke_api_key,
    set_credentials,
    update_app_settings,
)
from pushgate.registry.bulk import ImportResult, RowError, import_devices
from pushgate.registry.constants import DeliveryStatus, Platform, ProviderName, SendStatus
from pushgate.registry.credential_cipher import CredentialCipher, CredentialsUnreadable
from pushgate.registry.db import DEFAULT_URL, Database
from pushgate.registry.dead import DeadToken, deactivate_dead, deactivate_devices
from pushgate.registry.device_specs import DeviceSpec, token_hash
from pushgate.registry.devices import (
    delete_device,
    device_tokens,
    find_device,
    get_device,
    list_devices,
    load_device,
    register_device,
    unknown_tokens,
)
from pushgate.registry.models import (
    ApiKey,
    App,
    Credentials,
    Delivery,
    Device,
    Send,
    User,
    redact_config,
)
from pushgate.registry.outcomes import Outcome, record_outcomes
from pushgate.registry.sends import (
    SendStatusView,
    cancel_send,
    create_send,
    device_deliveries,
    get_send,
    get_send_status,
    list_deliveries,
    list_sends,
    new_send,
    save_response,
    send_id_for_key,
    sends_to_resume,
    store_send,
    unexpanded_deliveries,
)
from pushgate.registry.targets import Target, normalize_target
from pushgate.registry.users import (
    delete_user,
    ensure_users,
    get_user,
    opt_in,
    opt_out,
    unknown_users,
    upsert_user,
    user_devices,
)
from pushgate.registry.validation import DEFAULT_POLICY, ValidationPolicy
from pushgate.registry.views import DeviceView

__all__ = [
    "DEFAULT_POLICY",
    "DEFAULT_URL",
    "ApiKey",
    "App",
    "AuthenticatedKey",
    "CredentialCipher",
    "Credentials",
    "CredentialsUnreadable",
    "Database",
    "DeadToken",
    "Delivery",
    "DeliveryStatus",
    "Device",
    "DeviceSpec",
    "DeviceView",
    "IdempotencyConflict",
    "ImportResult",
    "NotFound",
    "Outcome",
    "Page",
    "PlainCredentials",
    "Platform",
    "ProviderName",
    "RowError",
    "Send",
    "SendStatus",
    "SendStatusView",
    "Target",
    "User",
    "ValidationError",
    "ValidationPolicy",
    "authenticate",
    "authenticate_key",
    "cancel_send",
    "create_api_key",
    "create_app",
    "create_send",
    "deactivate_dead",
    "deactivate_devices",
    "delete_app",
    "delete_credentials",
    "delete_device",
    "delete_user",
    "device_deliveries",
    "device_tokens",
    "ensure_users",
    "find_device",
    "get_app",
    "get_app_by_name",
    "get_credentials",
    "get_device",
    "get_send",
    "get_send_status",
    "get_stored_credentials",
    "get_user",
    "import_devices",
    "list_api_keys",
    "list_apps",
    "list_credentials",
    "list_deliveries",
    "list_devices",
    "list_sends",
    "load_device",
    "new_send",
    "normalize_target",
    "opt_in",
    "opt_out",
    "record_outcomes",
    "redact_config",
    "reencrypt_credentials",
    "register_device",
    "require_app",
    "revoke_api_key",
    "save_response",
    "send_id_for_key",
    "sends_to_resume",
    "set_credentials",
    "store_send",
    "token_hash",
    "unexpanded_deliveries",
    "unknown_tokens",
    "unknown_users",
    "update_app_settings",
    "upsert_user",
    "user_devices",
]
