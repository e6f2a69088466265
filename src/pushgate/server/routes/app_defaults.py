"""``/v1/app/defaults`` and ``/v1/app/uid-secret``: what an app sets for its own sends.

- notification defaults (Pushpad's project-level defaults: title, icon,
  target URL, TTL, …) applied to a send that leaves those fields out;
- the time zone of users who have none (``local_time`` sends);
- the secret its backend signs user ids with (:mod:`pushgate.uid_signature`),
  write-only: the app's one secret, which the Web SDK's registration routes
  check signed uids with (:mod:`pushgate.registry.websdk`); setting it also
  makes signatures required, deleting it stops requiring them.

See :mod:`pushgate.registry.app_defaults`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from pushgate.field_names import HeldFields
from pushgate.registry.app_defaults import (
    DEFAULTABLE,
    app_timezone,
    notification_defaults,
    set_app_defaults,
)
from pushgate.registry.websdk import MIN_SECRET_LENGTH, configure_web_sdk, get_web_sdk
from pushgate.server.deps import AppId, ServicesDep

router = APIRouter(prefix="/v1/app", tags=["app"])


class DefaultsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Checked by set_app_defaults; HeldFields lets {"icon": ...} beside it be told to go under it.
    notification: Annotated[dict[str, Any] | None, HeldFields(DEFAULTABLE)] = Field(None, description=(
        "Replaces the notification defaults: title, subtitle, icon, image, badge_image, url, ttl, "
        "priority, sound, require_interaction, renotify, silent, category"))
    timezone: str | None = Field(None, description="IANA zone of users without one (local_time sends)")


class DefaultsOut(BaseModel):
    notification: dict[str, Any]
    timezone: str
    uid_secret_set: bool = Field(description="Whether signed uids are required (the secret is never shown)")


class UidSecretIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str = Field(min_length=MIN_SECRET_LENGTH, max_length=500)


def _out(session: Any, app_id: int) -> DefaultsOut:
    return DefaultsOut(notification=notification_defaults(session, app_id),
                       timezone=app_timezone(session, app_id),
                       uid_secret_set=_signatures_required(session, app_id))


def _signatures_required(session: Any, app_id: int) -> bool:
    config = get_web_sdk(session, app_id)
    return config is not None and config.require_uid_signature


@router.get("/defaults", response_model=DefaultsOut, summary="The app's notification defaults and time zone")
def get_defaults(app_id: AppId, svc: ServicesDep) -> DefaultsOut:
    with svc.db.session(write=False) as session:
        return _out(session, app_id)


@router.put("/defaults", response_model=DefaultsOut, summary="Set notification defaults and/or the time zone")
def put_defaults(body: DefaultsIn, app_id: AppId, svc: ServicesDep) -> DefaultsOut:
    with svc.db.session() as session:
        set_app_defaults(session, app_id, notification=body.notification, timezone=body.timezone)
        return _out(session, app_id)


@router.put("/uid-secret", status_code=204, summary="Set the key user ids are signed with")
def put_uid_secret(body: UidSecretIn, app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        configure_web_sdk(session, app_id, svc.cipher, secret=body.secret, require_uid_signature=True)
    return Response(status_code=204)


@router.delete("/uid-secret", status_code=204, summary="Stop checking signed user ids")
def delete_uid_secret(app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        if get_web_sdk(session, app_id) is not None:
            configure_web_sdk(session, app_id, svc.cipher, require_uid_signature=False)
    return Response(status_code=204)
