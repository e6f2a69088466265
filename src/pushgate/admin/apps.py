"""Apps, provider credentials and API keys.

The same registry functions and the same credential check as the admin API
(``/v1/apps``, :mod:`pushgate.server.routes.apps`): ``create_app``,
``check_credentials`` then ``set_credentials`` (encrypted with the server's
``secret_key``), ``create_api_key`` / ``revoke_api_key``. Key files go
through the provider table's ``key_file_fields`` (an APNs ``.p8`` or
certificate PEM, an FCM service-account file, a VAPID PEM), exactly as
``pushgate app credentials --key-file`` reads them. A new API key is shown
once, in the answer to the form that made it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX, AdminPageError
from pushgate.admin.health import provider_health
from pushgate.admin.web import Admin, redirect, render
from pushgate.providers import CredentialError, provider_spec
from pushgate.registry import (
    NotFound,
    ValidationError,
    create_api_key,
    create_app,
    list_api_keys,
    require_app,
    revoke_api_key,
    set_credentials,
)
from pushgate.registry.admin_queries import device_counts
from pushgate.registry.admin_users import visible_apps
from pushgate.registry.constants import ProviderName
from pushgate.registry.validation import validate_choice
from pushgate.server.credentials import check_credentials

router = APIRouter(prefix=PREFIX, include_in_schema=False)
MAX_KEY_FILE = 64 * 1024  # a .p8 is ~250 bytes, a service-account file ~2.4 KB


def form_fields(provider: str) -> list[dict[str, Any]]:
    """The text inputs a provider's credentials form shows (key files are uploaded)."""
    spec = provider_spec(provider)
    return [{"name": f.name, "secret": f.secret} for f in spec.fields if f.text and "." not in f.name]


@router.get("/apps")
def apps_page(admin: SignedIn) -> Response:
    return _apps(admin)


def _apps(admin: Admin, status: int = 200, **context: Any) -> Response:
    with admin.services.db.session(write=False) as session:
        apps = [(app, device_counts(session, app.id)) for app in visible_apps(session, admin.session.app_ids)]
    return render(admin, "apps.html", code=status, apps=apps, **context)


@router.post("/apps")
def create_app_form(admin: SignedIn) -> Response:
    admin.require_superuser()
    name = admin.text("name")
    try:
        with admin.services.db.session() as session:
            app, key = create_app(session, name)
            created = {"id": app.id, "name": app.name, "key": key}
    except ValidationError as exc:
        return _apps(admin, 422, error=f"{exc.field}: {exc.message}", name=name)
    return _apps(admin, 201, created=created)


@router.get("/apps/{app_id}")
def app_page(app_id: int, admin: SignedIn) -> Response:
    return _app(admin, app_id)


def _app(admin: Admin, app_id: int, status: int = 200, **context: Any) -> Response:
    admin.require_app(app_id)
    with admin.services.db.session(write=False) as session:
        app = _existing_app(session, app_id)
        health = provider_health(session, app_id, admin.services.cipher)
        keys = list_api_keys(session, app_id)
    public_key = _vapid_public_key(admin, app_id)
    return render(admin, "app.html", code=status, app=app, health=health, keys=keys,
                  fields={p.value: form_fields(p.value) for p in ProviderName},
                  key_files={p.value: provider_spec(p.value).key_file_fields is not None
                             for p in ProviderName},
                  vapid_public_key=public_key, **context)


def _existing_app(session: Any, app_id: int) -> Any:
    try:
        return require_app(session, app_id)
    except NotFound:  # shown like an app this admin may not see
        raise AdminPageError(404, "no such app") from None


def _vapid_public_key(admin: Admin, app_id: int) -> str | None:
    """The applicationServerKey browsers subscribe with (public: shown in full)."""
    from pushgate.crypto.vapid import VapidKey
    from pushgate.registry import CredentialsUnreadable, get_credentials

    with admin.services.db.session(write=False) as session:
        try:
            plain = get_credentials(session, app_id, "webpush", cipher=admin.services.cipher)
        except CredentialsUnreadable:
            return None
    if plain is None:
        return None
    try:
        return VapidKey.load(plain.config["vapid_private_key"]).application_server_key
    except (KeyError, ValueError, TypeError):
        return None


@router.post("/apps/{app_id}/credentials/{provider}")
async def store_credentials(app_id: int, provider: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    upload = admin.upload("key_file")
    key_text = None
    if upload is not None:
        raw = await upload.read(MAX_KEY_FILE + 1)
        if len(raw) > MAX_KEY_FILE:
            return _credentials_error(admin, app_id, provider, "key_file: larger than 64 KiB")
        key_text = raw.decode("utf-8", errors="replace")
    from fastapi.concurrency import run_in_threadpool

    return await run_in_threadpool(_store, admin, app_id, provider, key_text)


def _credentials_error(admin: Admin, app_id: int, provider: str, message: str) -> Response:
    return _app(admin, app_id, 422, errors={provider: message})


def _store(admin: Admin, app_id: int, provider: str, key_text: str | None) -> Response:
    try:
        kind = validate_choice(provider, ProviderName, "provider").value
        values: dict[str, Any] = {}
        extra = admin.text("extra_json")
        if extra:
            try:
                loaded = json.loads(extra)
            except ValueError as exc:
                raise ValidationError("extra_json", f"not JSON: {exc}") from None
            if not isinstance(loaded, dict):
                raise ValidationError("extra_json", "must be a JSON object")
            values.update(loaded)
        if key_text is not None:
            read = provider_spec(kind).key_file_fields
            if read is None:
                raise ValidationError("key_file", f"{kind} takes no key file")
            try:
                values.update(read(key_text))
            except CredentialError as exc:
                raise ValidationError("key_file", exc.message) from None
        for field in form_fields(kind):
            given = admin.text(field["name"])
            if given:
                values[field["name"]] = given
        if not values:
            raise ValidationError("credentials", "give a key file or the fields")
        _save(admin, app_id, kind, values)
    except ValidationError as exc:
        name = exc.field.removeprefix("config.")
        return _credentials_error(admin, app_id, provider, f"{name}: {exc.message}")
    return redirect(f"{PREFIX}/apps/{app_id}?stored={kind}#provider-{kind}")


def _save(admin: Admin, app_id: int, provider: str, values: dict[str, Any]) -> None:
    clean = check_credentials(provider, values)
    with admin.services.db.session() as session:
        set_credentials(session, app_id, provider, clean, cipher=admin.services.cipher)


@router.post("/apps/{app_id}/vapid")
def generate_vapid(app_id: int, admin: SignedIn) -> Response:
    """A new VAPID key pair stored as the app's Web Push credentials (RFC 8292)."""
    from pushgate.crypto.vapid import VapidKey

    admin.require_app(app_id)
    key = VapidKey.generate()
    values = {"vapid_private_key": key.private_pem().decode(), "vapid_subject": admin.text("vapid_subject")}
    try:
        _save(admin, app_id, "webpush", values)
    except ValidationError as exc:
        return _credentials_error(admin, app_id, "webpush", f"{exc.field}: {exc.message}")
    return redirect(f"{PREFIX}/apps/{app_id}?stored=webpush#provider-webpush")


@router.post("/apps/{app_id}/keys")
def new_key(app_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    name = admin.text("name") or None
    with admin.services.db.session() as session:
        row, key = create_api_key(session, app_id, name=name)
        shown = {"prefix": row.prefix, "key": key}
    return _app(admin, app_id, 201, new_key=shown)


def _key_id(raw: str) -> int:
    if not raw.isdigit():
        raise AdminPageError(404, "no such key")
    return int(raw)


@router.post("/apps/{app_id}/keys/{key_id}/revoke")
def revoke_key(app_id: int, key_id: str, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    with admin.services.db.session() as session:
        if not revoke_api_key(session, app_id, _key_id(key_id)):
            raise AdminPageError(404, "no such active key for this app")
    return redirect(f"{PREFIX}/apps/{app_id}?revoked={key_id}#keys")


@router.post("/apps/{app_id}/keys/{key_id}/rotate")
def rotate_key(app_id: int, key_id: str, admin: SignedIn) -> Response:
    """A new key with the old one's name, and the old one revoked, in one transaction."""
    admin.require_app(app_id)
    old_id = _key_id(key_id)
    with admin.services.db.session() as session:
        keys = list_api_keys(session, app_id)
        old = next((k for k in keys if k.id == old_id and k.revoked_at is None), None)
        if old is None:
            raise AdminPageError(404, "no such active key for this app")
        row, key = create_api_key(session, app_id, name=old.name)
        revoke_api_key(session, app_id, old_id)
        shown = {"prefix": row.prefix, "key": key, "replaced": old.prefix}
    return _app(admin, app_id, 201, new_key=shown)
