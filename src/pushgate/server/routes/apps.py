"""Apps, API keys and provider credentials.

``/v1/apps/…`` is the admin API (``settings.admin_token``): create apps (the
first API key is in the answer, the only time it is shown), issue and
revoke keys, store credentials. ``GET /v1/app`` is for the app itself (its
API key): which providers it has, and whether one is paused because the
provider rejected the credentials — with the provider's error, so the fix
is obvious.

Credentials are write-only in effect: they are stored encrypted when the
server has a ``secret_key``, every answer shows them redacted
(:meth:`Credentials.redacted`, which masks encrypted values too), and the pause bookkeeping the workers keep
beside them is shown as ``provider_states``, not as configuration. Masked
secrets look the same whether this server's key opens them or not, so
credentials it cannot decrypt carry ``unreadable``: the error sends with
them fail with (:meth:`CredentialCipher.unreadable`), and an app's
``unreadable_credentials`` lists them by provider.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Response
from sqlalchemy.orm import Session

from pushgate.registry import (
    ApiKey,
    App,
    CredentialCipher,
    Credentials,
    ValidationError,
    create_api_key,
    create_app,
    delete_app,
    delete_credentials,
    get_stored_credentials,
    list_api_keys,
    list_apps,
    list_credentials,
    require_app,
    revoke_api_key,
    set_credentials,
    update_app_settings,
)
from pushgate.registry.constants import ProviderName
from pushgate.registry.pauses import PAUSE_KEY, app_pauses
from pushgate.server.credentials import check_credentials
from pushgate.server.deps import Admin, AppId, AppIdPath, KeyIdPath, ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.schemas import (
    ApiKeyCreated,
    ApiKeyOut,
    AppCreate,
    AppCreated,
    AppOut,
    AppSelf,
    AppSettingsIn,
    CredentialsOut,
    KeyCreate,
    ProviderState,
)

admin = APIRouter(prefix="/v1/apps", tags=["apps (admin)"], dependencies=[Admin])
own = APIRouter(prefix="/v1/app", tags=["app"])


def app_out(session: Session, app: App, cipher: CredentialCipher) -> AppOut:
    rows = list_credentials(session, app.id)
    unreadable = {row.provider: problem for row in rows if (problem := _unreadable(row, cipher)) is not None}
    return AppOut(id=app.id, name=app.name, settings=dict(app.settings or {}), created_at=app.created_at,
                  providers=[row.provider for row in rows], unreadable_credentials=unreadable)


def key_out(row: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(id=row.id, name=row.name, prefix=row.prefix, created_at=row.created_at,
                     revoked_at=row.revoked_at)


def credentials_out(row: Credentials, cipher: CredentialCipher) -> CredentialsOut:
    shown = {k: v for k, v in row.redacted().items() if k != PAUSE_KEY}
    return CredentialsOut(provider=row.provider, config=shown, updated_at=row.updated_at,
                          unreadable=_unreadable(row, cipher))


def _unreadable(row: Credentials, cipher: CredentialCipher) -> str | None:
    problem = cipher.unreadable(row.app_id, row.provider, row.config)
    return str(problem) if problem is not None else None


def provider_states(session: Session, app_id: int, cipher: CredentialCipher) -> list[ProviderState]:
    configured = {row.provider: row for row in list_credentials(session, app_id)}
    pauses = app_pauses(session, app_id)
    now = time.time()
    states = []
    for provider in ProviderName:
        pause = pauses.get(provider.value)
        running = pause is not None and pause.active(now)
        row = configured.get(provider.value)
        states.append(ProviderState(
            provider=provider.value, configured=row is not None, paused=running,
            paused_until=pause.until_datetime if pause is not None and running else None,
            error=pause.error if pause is not None else None,
            unreadable=_unreadable(row, cipher) if row is not None else None,
        ))
    return states


# --- the app's own view -------------------------------------------------------------


def app_self(session: Session, app_id: int, cipher: CredentialCipher) -> AppSelf:
    """An app with the state of each of its providers (its own view, and the admin's)."""
    base = app_out(session, require_app(session, app_id), cipher)
    return AppSelf(**base.model_dump(), provider_states=provider_states(session, app_id, cipher))


@own.get("", response_model=AppSelf, summary="The app this API key belongs to")
def own_app(app_id: AppId, svc: ServicesDep) -> AppSelf:
    with svc.db.session(write=False) as session:
        return app_self(session, app_id, svc.cipher)


# --- admin: apps ------------------------------------------------------------------------


@admin.post("", status_code=201, response_model=AppCreated, summary="Create an app (and its first API key)")
def create(body: AppCreate, svc: ServicesDep) -> AppCreated:
    """The answer holds the API key. It is not stored anywhere readable: keep it now."""
    settings = body.settings.model_dump(exclude_unset=True) if body.settings is not None else None
    with svc.db.session() as session:
        app, key = create_app(session, body.name, settings=settings)
        row = list_api_keys(session, app.id)[0]
        created = ApiKeyCreated(**key_out(row).model_dump(), key=key)
        return AppCreated(app=app_out(session, app, svc.cipher), api_key=created)


@admin.get("", response_model=list[AppOut], summary="List apps")
def list_(svc: ServicesDep) -> list[AppOut]:
    with svc.db.session(write=False) as session:
        return [app_out(session, app, svc.cipher) for app in list_apps(session)]


@admin.get("/{app_id}", response_model=AppSelf, summary="Read an app")
def get(app_id: AppIdPath, svc: ServicesDep) -> AppSelf:
    with svc.db.session(write=False) as session:
        return app_self(session, app_id, svc.cipher)


@admin.patch("/{app_id}", response_model=AppOut, summary="Change an app's settings")
def patch(app_id: AppIdPath, body: AppSettingsIn, svc: ServicesDep) -> AppOut:
    with svc.db.session() as session:
        app = update_app_settings(session, app_id, **body.model_dump(exclude_unset=True))
        return app_out(session, app, svc.cipher)


@admin.delete("/{app_id}", status_code=204, summary="Delete an app and everything it owns")
def delete(app_id: AppIdPath, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        if not delete_app(session, app_id):
            raise ApiError(404, "not_found", "app not found")
    return Response(status_code=204)


# --- admin: API keys ------------------------------------------------------------------


@admin.get("/{app_id}/keys", response_model=list[ApiKeyOut], summary="An app's API keys (never the keys)")
def keys(app_id: AppIdPath, svc: ServicesDep) -> list[ApiKeyOut]:
    with svc.db.session(write=False) as session:
        require_app(session, app_id)
        return [key_out(row) for row in list_api_keys(session, app_id)]


@admin.post("/{app_id}/keys", status_code=201, response_model=ApiKeyCreated, summary="Issue an API key")
def add_key(app_id: AppIdPath, svc: ServicesDep, body: KeyCreate | None = None) -> ApiKeyCreated:
    with svc.db.session() as session:
        row, key = create_api_key(session, app_id, name=body.name if body is not None else None)
        return ApiKeyCreated(**key_out(row).model_dump(), key=key)


@admin.delete("/{app_id}/keys/{key_id}", status_code=204, summary="Revoke an API key")
def revoke_key(app_id: AppIdPath, key_id: KeyIdPath, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        require_app(session, app_id)
        if not revoke_api_key(session, app_id, key_id):
            raise ApiError(404, "not_found", "no such active key for this app", field="path.key_id")
    return Response(status_code=204)


# --- admin: credentials ---------------------------------------------------------------


@admin.put("/{app_id}/credentials/{provider}", response_model=CredentialsOut, summary="Store credentials")
def put_credentials(
    app_id: AppIdPath,
    provider: ProviderName,
    svc: ServicesDep,
    config: Annotated[dict[str, Any], Body(description="The provider's credentials; see the docs")],
) -> CredentialsOut:
    """APNs: ``key`` (.p8 PEM), ``key_id``, ``team_id``, ``topic``, ``environment`` — or ``certificate``.
    FCM: ``service_account`` (the key file's JSON). Web Push: ``vapid_private_key``,
    ``vapid_subject``. WNS: ``client_id``, ``client_secret``. Optional: ``base_url``,
    ``token_url``, ``ca_file``, ``allowed_hosts`` (simulators, proxies; Web Push and WNS
    devices of this app may register on ``allowed_hosts`` and ``base_url``'s host).
    Storing credentials ends a pause caused by the previous ones."""
    reserved = [name for name in config if name.startswith("_")]
    if reserved:
        raise ApiError(422, "validation_error", "names starting with _ are reserved",
                       field=f"body.{reserved[0]}")
    try:
        clean = check_credentials(provider, config)
        with svc.db.session() as session:
            row = set_credentials(session, app_id, provider.value, clean, cipher=svc.cipher)
            return credentials_out(row, svc.cipher)
    except ValidationError as exc:
        field = exc.field.removeprefix("config.")
        raise ValidationError(field, exc.message) from None


@admin.get("/{app_id}/credentials", response_model=list[CredentialsOut], summary="An app's credentials")
def credentials(app_id: AppIdPath, svc: ServicesDep) -> list[CredentialsOut]:
    with svc.db.session(write=False) as session:
        require_app(session, app_id)
        return [credentials_out(row, svc.cipher) for row in list_credentials(session, app_id)]


@admin.get("/{app_id}/credentials/{provider}", response_model=CredentialsOut, summary="One provider's")
def get_provider_credentials(app_id: AppIdPath, provider: ProviderName, svc: ServicesDep) -> CredentialsOut:
    with svc.db.session(write=False) as session:
        require_app(session, app_id)
        row = get_stored_credentials(session, app_id, provider.value)
        if row is None:
            raise ApiError(404, "not_found", f"the app has no {provider.value} credentials")
        return credentials_out(row, svc.cipher)


@admin.delete("/{app_id}/credentials/{provider}", status_code=204, summary="Remove credentials")
def remove_credentials(app_id: AppIdPath, provider: ProviderName, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        require_app(session, app_id)
        if not delete_credentials(session, app_id, provider.value):
            raise ApiError(404, "not_found", f"the app has no {provider.value} credentials")
    return Response(status_code=204)
