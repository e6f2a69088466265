"""Pushpad's subscriptions API: Web Push devices, listed with filters, created, changed, deleted.

A subscription is an active Web Push device of the project's app. Lists
filter by ``uids[]`` and ``tags[]`` (tag expressions OR-ed, the same SQL a
send runs), are numbered pages (``page``, ``per_page``) in id order, and
carry ``X-Total-Count``, which the client's ``count()`` reads.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from pushgate.providers import subscription_spec
from pushgate.registry import Device, delete_device, load_device, register_device, require_app
from pushgate.registry.device_specs import DeviceSpec
from pushgate.registry.models import utcnow
from pushgate.registry.pushpad_store import list_subscriptions
from pushgate.registry.tag_expressions import parse_tags_field
from pushgate.server.deps import ServicesDep
from pushgate.server.device_patch import patch_device
from pushgate.server.errors import ApiError
from pushgate.server.pushpad.auth import CallerDep
from pushgate.server.pushpad.shapes import positive, subscription_json
from pushgate.server.schemas import DevicePatch

router = APIRouter(tags=["pushpad"])
DEFAULT_PER_PAGE = 20
ProjectId = Annotated[int, Path(ge=1)]
SubscriptionId = Annotated[int, Path(ge=1)]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1)
    p256dh: str | None = None
    auth: str | None = None
    uid: str | None = Field(None, min_length=1, max_length=255)
    tags: list[str] | None = None


class SubscriptionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    uid: str | None = Field(None, min_length=1, max_length=255)
    tags: list[str] | None = None


@router.get("/projects/{project_id}/subscriptions", summary="A project's subscriptions (Pushpad)")
def list_(
    project_id: ProjectId,
    caller: CallerDep,
    svc: ServicesDep,
    page: int | None = None,
    per_page: int | None = None,
    uids: Annotated[list[str] | None, Query(alias="uids[]")] = None,
    tags: Annotated[list[str] | None, Query(alias="tags[]")] = None,
) -> JSONResponse:
    app_id = caller.project(svc, project_id)
    expression = parse_tags_field(tags, "tags") if tags else None
    with svc.db.session(write=False) as session:
        found = list_subscriptions(session, app_id, provider=subscription_spec().name, uids=uids,
                                   expression=expression, page=positive(page, "page", 1),
                                   per_page=positive(per_page, "per_page", DEFAULT_PER_PAGE))
        items = [subscription_json(device) for device in found.devices]
    return JSONResponse(items, headers={"X-Total-Count": str(found.total)})


@router.post("/projects/{project_id}/subscriptions", status_code=201,
             summary="Create (import) a subscription (Pushpad)")
def create(
    project_id: ProjectId, body: SubscriptionIn, caller: CallerDep, svc: ServicesDep
) -> dict[str, Any]:
    app_id = caller.project(svc, project_id)
    spec = DeviceSpec(provider=subscription_spec().name, token=body.endpoint, p256dh=body.p256dh,
                      auth=body.auth, user=body.uid, tags=body.tags, platform="web")
    with svc.db.session() as session:
        device = register_device(session, app_id, spec, policy=svc.policy,
                                 default_max_devices=svc.settings.max_devices_per_user)
        return subscription_json(device)


def _subscription(session: Any, app_id: int, subscription_id: int) -> Device:
    device = load_device(session, subscription_id)
    if device is None or device.app_id != app_id or device.provider != subscription_spec().name:
        raise ApiError(404, "not_found", "subscription not found")
    return device


@router.get("/projects/{project_id}/subscriptions/{subscription_id}", summary="A subscription (Pushpad)")
def get(project_id: ProjectId, subscription_id: SubscriptionId, caller: CallerDep,
        svc: ServicesDep) -> dict[str, Any]:
    app_id = caller.project(svc, project_id)
    with svc.db.session(write=False) as session:
        return subscription_json(_subscription(session, app_id, subscription_id))


@router.patch("/projects/{project_id}/subscriptions/{subscription_id}",
              summary="Change a subscription's uid or tags (Pushpad)")
def update(project_id: ProjectId, subscription_id: SubscriptionId, body: SubscriptionPatch, caller: CallerDep,
           svc: ServicesDep) -> dict[str, Any]:
    app_id = caller.project(svc, project_id)
    patch = DevicePatch.model_validate(
        {"user" if name == "uid" else name: getattr(body, name) for name in body.model_fields_set})
    with svc.db.session() as session:
        device = _subscription(session, app_id, subscription_id)
        own_limit = require_app(session, app_id).setting("max_devices_per_user")
        patch_device(session, device, patch, max_devices=own_limit or svc.settings.max_devices_per_user,
                     now=utcnow())
        return subscription_json(device)


@router.delete("/projects/{project_id}/subscriptions/{subscription_id}", status_code=204,
               summary="Delete a subscription (Pushpad)")
def delete(project_id: ProjectId, subscription_id: SubscriptionId, caller: CallerDep,
           svc: ServicesDep) -> Response:
    app_id = caller.project(svc, project_id)
    with svc.db.session() as session:
        _subscription(session, app_id, subscription_id)
        delete_device(session, app_id, subscription_id)
    return Response(status_code=204)
