"""``/v1/users/{external_id}``: the app's own user ids, their tags, opt-outs and devices.

Users are addressed by the app's id for them (``external_id``), so an app
never needs to learn pushgate's numbers. A user exists once it is
mentioned (``PUT``, a device registered for it, an opt-out); tag and
opt-out edits are idempotent, so a retried request changes nothing twice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from pushgate.registry import (
    User,
    delete_user,
    get_user,
    opt_in,
    opt_out,
    upsert_user,
    user_devices,
)
from pushgate.registry.constants import MAX_EXTERNAL_ID_LENGTH
from pushgate.registry.models import utcnow
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.schemas import DeviceOut, OptOutIn, OptOutsOut, Page, TagsIn, UserIn, UserOut
from pushgate.service.components import Services

router = APIRouter(prefix="/v1/users", tags=["users"])
ExternalId = Annotated[
    str, Path(min_length=1, max_length=MAX_EXTERNAL_ID_LENGTH, description="The app's id for the user"),
]


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "user not found", field="path.external_id")


def _require(user: User | None) -> UserOut:
    if user is None:
        raise _not_found()
    return UserOut.from_user(user)


@router.put(
    "/{external_id}", response_model=UserOut,
    responses={201: {"model": UserOut, "description": "The user was created"}},
    summary="Create or update a user",
)
def put(
    external_id: ExternalId, body: UserIn, app_id: AppId, svc: ServicesDep, response: Response
) -> UserOut:
    now = utcnow()
    with svc.db.session() as session:
        user = upsert_user(session, app_id, external_id, locale=body.locale, timezone=body.timezone,
                           tags=body.tags, now=now)
        out = UserOut.from_user(user)
    response.status_code = 201 if out.created_at == now else 200
    return out


@router.get("/{external_id}", response_model=UserOut, summary="Read a user")
def get(external_id: ExternalId, app_id: AppId, svc: ServicesDep) -> UserOut:
    with svc.db.session(write=False) as session:
        return _require(get_user(session, app_id, external_id))


@router.delete("/{external_id}", status_code=204, summary="Delete a user")
def delete(
    external_id: ExternalId,
    app_id: AppId,
    svc: ServicesDep,
    delete_devices: Annotated[bool, Query(description="Also delete the user's devices")] = False,
) -> Response:
    with svc.db.session() as session:
        if not delete_user(session, app_id, external_id, delete_devices=delete_devices):
            raise _not_found()
    return Response(status_code=204)


@router.post("/{external_id}/tags", response_model=UserOut, summary="Add tags")
def add_tags(external_id: ExternalId, body: TagsIn, app_id: AppId, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return UserOut.from_user(upsert_user(session, app_id, external_id, add_tags=body.tags))


@router.delete("/{external_id}/tags", response_model=UserOut, summary="Remove tags (listed in the body)")
def remove_tags(external_id: ExternalId, body: TagsIn, app_id: AppId, svc: ServicesDep) -> UserOut:
    return _untag(svc, app_id, external_id, body.tags)


@router.delete("/{external_id}/tags/{tag}", response_model=UserOut, summary="Remove one tag")
def remove_tag(external_id: ExternalId, tag: str, app_id: AppId, svc: ServicesDep) -> UserOut:
    return _untag(svc, app_id, external_id, [tag])


def _untag(svc: Services, app_id: int, external_id: str, tags: list[str]) -> UserOut:
    """Remove tags from an existing user (an unknown user is a 404, not created)."""
    with svc.db.session() as session:
        if get_user(session, app_id, external_id) is None:
            raise _not_found()
        return UserOut.from_user(upsert_user(session, app_id, external_id, remove_tags=tags))


@router.get("/{external_id}/opt-outs", response_model=OptOutsOut, summary="A user's opt-outs")
def opt_outs(external_id: ExternalId, app_id: AppId, svc: ServicesDep) -> OptOutsOut:
    """The same list as the user's ``opt_outs``, where they are written (POST and DELETE)."""
    with svc.db.session(write=False) as session:
        return OptOutsOut(opt_outs=_require(get_user(session, app_id, external_id)).opt_outs)


@router.post("/{external_id}/opt-outs", response_model=UserOut, summary='Opt out of a topic ("*": all)')
def add_opt_out(external_id: ExternalId, body: OptOutIn, app_id: AppId, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return UserOut.from_user(opt_out(session, app_id, external_id, body.topic))


@router.delete("/{external_id}/opt-outs/{topic}", response_model=UserOut, summary="Opt back in to a topic")
def remove_opt_out(external_id: ExternalId, topic: str, app_id: AppId, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return _require(opt_in(session, app_id, external_id, topic))


@router.delete("/{external_id}/opt-outs", response_model=UserOut, summary="Clear every opt-out")
def clear_opt_outs(external_id: ExternalId, app_id: AppId, svc: ServicesDep) -> UserOut:
    with svc.db.session() as session:
        return _require(opt_in(session, app_id, external_id, None))


@router.get("/{external_id}/devices", response_model=Page[DeviceOut], summary="A user's devices")
def devices(
    external_id: ExternalId,
    app_id: AppId,
    svc: ServicesDep,
    active: Annotated[bool | None, Query(description="Default: active devices only")] = True,
) -> Page[DeviceOut]:
    with svc.db.session(write=False) as session:
        if get_user(session, app_id, external_id) is None:
            raise _not_found()
        return Page(items=[DeviceOut.from_device(d) for d in user_devices(session, app_id, external_id,
                                                                          active=active)])
