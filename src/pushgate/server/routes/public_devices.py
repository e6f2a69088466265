"""``/v1/public/apps/{public_id}/me/…``: a device registering itself for its own user.

A mobile app (or any client without the API key) presents a user token its
backend minted (:func:`pushgate.user_token.mint_user_token`), and may then,
for that user only:

- register devices (``POST …/me/devices``, the body of ``POST /v1/devices``
  without ``user``: the token names the user), list them, change their
  tags, locale, time zone, name and app version, and delete them;
- replace the user's tags (``PUT …/me/tags``) and manage opt-outs
  (``POST …/me/opt-outs``, ``DELETE …/me/opt-outs/{topic}``).

Another user's device is "not found" (404), as on the app API. A token
already registered to another user is refused (409) rather than moved: a
device that switches users deletes its registration at sign-out and
registers again at sign-in, and a stranger who learnt a device token cannot
take its notifications.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from pushgate.registry import (
    Device,
    delete_device,
    find_device,
    load_device,
    opt_in,
    opt_out,
    register_device,
)
from pushgate.registry.constants import MAX_ID, MAX_TAG_LENGTH
from pushgate.registry.models import utcnow
from pushgate.registry.users import get_user, upsert_user, user_devices
from pushgate.server.deps import ServicesDep
from pushgate.server.device_patch import patch_device
from pushgate.server.errors import ApiError
from pushgate.server.public_auth import DeviceUser, DeviceUserDep
from pushgate.server.schemas import DeviceIn, DeviceOut, DevicePatch, OptOutIn, UserOut

router = APIRouter(prefix="/v1/public/apps/{public_id}/me", tags=["public: devices (user token)"])

DeviceIdPath = Annotated[int, Path(ge=1, le=MAX_ID, description="One of the user's devices")]


class OwnDevicePatch(BaseModel):
    """What a device may change on its own registration (not its user, not its state)."""

    model_config = {"extra": "forbid"}

    app_version: str | None = Field(None, max_length=50)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = Field(None, max_length=64)
    name: str | None = Field(None, max_length=200)
    tags: list[str] | None = None


class UserTagsIn(BaseModel):
    model_config = {"extra": "forbid"}

    tags: list[str] = Field(description="Replaces the user's tags")


def _own_device(session: Session, me: DeviceUser, device_id: int) -> Device:
    device = load_device(session, device_id)
    if device is None or device.app_id != me.app.app_id or device.user_external_id != me.user:
        raise ApiError(404, "not_found", "device not found")
    return device


@router.post("/devices", response_model=DeviceOut, status_code=201,
             responses={200: {"model": DeviceOut, "description": "The device was already registered"}},
             summary="Register this device for the token's user")
def register(body: DeviceIn, me: DeviceUserDep, svc: ServicesDep, response: Response) -> DeviceOut:
    if body.user is not None and body.user != me.user:
        raise ApiError(403, "forbidden", "a user token registers devices for its own user only",
                       field="body.user")
    spec = dataclasses.replace(body.to_spec(), user=me.user)
    now = utcnow()
    with svc.db.session() as session:
        existing = find_device(session, me.app.app_id, spec.token, spec.provider)
        if existing is not None and existing.user_external_id not in (None, me.user):
            raise ApiError(409, "conflict", "this token is registered to another user; it must be deleted "
                           "at that user's sign-out first", field="body.token")
        device = register_device(session, me.app.app_id, spec, policy=svc.policy,
                                 default_max_devices=svc.settings.max_devices_per_user, now=now)
        out = DeviceOut.from_device(device)
    response.status_code = 201 if out.created_at == now else 200
    return out


@router.get("/devices", response_model=list[DeviceOut], summary="The token's user's devices")
def list_(me: DeviceUserDep, svc: ServicesDep) -> list[DeviceOut]:
    with svc.db.session(write=False) as session:
        return [DeviceOut.from_device(d) for d in user_devices(session, me.app.app_id, me.user)]


@router.patch("/devices/{device_id}", response_model=DeviceOut, summary="Change one of the user's devices")
def patch(device_id: DeviceIdPath, body: OwnDevicePatch, me: DeviceUserDep, svc: ServicesDep) -> DeviceOut:
    change = DevicePatch.model_validate(body.model_dump(exclude_unset=True))
    with svc.db.session() as session:
        device = _own_device(session, me, device_id)
        patch_device(session, device, change, max_devices=None, now=utcnow())
        return DeviceOut.from_device(device)


@router.delete("/devices/{device_id}", status_code=204, summary="Delete one of the user's devices")
def delete(device_id: DeviceIdPath, me: DeviceUserDep, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        _own_device(session, me, device_id)
        delete_device(session, me.app.app_id, device_id)
    return Response(status_code=204)


@router.put("/tags", response_model=UserOut, summary="Replace the user's tags")
def set_tags(body: UserTagsIn, me: DeviceUserDep, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return UserOut.from_user(upsert_user(session, me.app.app_id, me.user, tags=body.tags))


@router.post("/opt-outs", response_model=UserOut, summary="Opt the user out of a topic ('*': everything)")
def add_opt_out(body: OptOutIn, me: DeviceUserDep, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return UserOut.from_user(opt_out(session, me.app.app_id, me.user, body.topic))


@router.delete("/opt-outs/{topic}", response_model=UserOut, summary="Undo an opt-out")
def remove_opt_out(
    topic: Annotated[str, Path(min_length=1, max_length=MAX_TAG_LENGTH)], me: DeviceUserDep, svc: ServicesDep,
) -> UserOut:
    with svc.db.session() as session:
        user = opt_in(session, me.app.app_id, me.user, topic)
        if user is None:
            user = get_user(session, me.app.app_id, me.user) or upsert_user(session, me.app.app_id, me.user)
        return UserOut.from_user(user)
