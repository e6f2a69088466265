"""``/v1/devices``: register (an upsert in place), list, read, change, delete, import.

Registration follows the registry's rules (re-registering a known token
updates it and reactivates it; see :mod:`pushgate.registry.devices`) and
answers 201 for a new device, 200 for an update. Web Push devices may be
registered with the browser's ``PushSubscription`` JSON as it is. Endpoint
URLs (Web Push, WNS) must be on the server's allow-list of push services.

Handlers are plain functions: FastAPI runs them in its thread pool, so the
database work never blocks the event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Response
from sqlalchemy.orm import Session

from pushgate.registry import (
    Device,
    ValidationError,
    delete_device,
    device_deliveries,
    find_device,
    import_devices,
    list_devices,
    load_device,
    register_device,
    require_app,
)
from pushgate.registry.constants import DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT, Platform, ProviderName
from pushgate.registry.models import utcnow
from pushgate.registry.tag_expressions import parse_tags_field
from pushgate.server.deps import AppId, DeviceIdPath, ServicesDep, owned
from pushgate.server.device_patch import patch_device
from pushgate.server.errors import ApiError
from pushgate.server.schemas import (
    DeviceDeliveryOut,
    DeviceIn,
    DeviceOut,
    DevicePatch,
    ImportOut,
    Page,
    RowErrorOut,
)

router = APIRouter(prefix="/v1/devices", tags=["devices"])
# Where the registry's field names sit in a subscription-style request body.
_SUBSCRIPTION_FIELDS = {"endpoint": "subscription.endpoint", "p256dh": "subscription.keys.p256dh",
                        "auth": "subscription.keys.auth", "keys": "subscription.keys"}


@router.post(
    "", status_code=201, response_model=DeviceOut,
    responses={200: {"model": DeviceOut, "description": "An existing device was updated"}},
    summary="Register a device (or update it)",
)
def register(body: DeviceIn, app_id: AppId, svc: ServicesDep, response: Response) -> DeviceOut:
    now = utcnow()
    try:
        spec = body.to_spec()
        with svc.db.session() as session:
            device = register_device(
                session, app_id, spec, policy=svc.policy,
                default_max_devices=svc.settings.max_devices_per_user, now=now,
            )
            out = DeviceOut.from_device(device)
    except ValidationError as exc:
        if body.subscription is not None and exc.field in _SUBSCRIPTION_FIELDS:
            raise ValidationError(_SUBSCRIPTION_FIELDS[exc.field], exc.message) from None
        raise
    response.status_code = 201 if out.created_at == now else 200
    return out


@router.get("", response_model=Page[DeviceOut], summary="List devices")
def list_(
    app_id: AppId,
    svc: ServicesDep,
    user: Annotated[str | None, Query(description="The app's user id")] = None,
    platform: Platform | None = None,
    provider: ProviderName | None = None,
    tag: str | None = None,
    tags: Annotated[str | None, Query(description=(
        "A tag expression (\"a && !b || c\") over the device's and its user's tags "
        "(docs/targeting.md)"))] = None,
    active: bool | None = None,
    token: Annotated[str | None, Query(description="Find the device with this token")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Page[DeviceOut]:
    with svc.db.session(write=False) as session:
        if token is not None:
            found = find_device(session, app_id, token, provider.value if provider else None)
            return Page(items=[DeviceOut.from_device(found)] if found is not None else [])
        page = list_devices(
            session, app_id, user=user, platform=platform.value if platform else None,
            provider=provider.value if provider else None, tag=tag, active=active,
            expression=parse_tags_field(tags, "tags") if tags is not None else None,
            cursor=cursor, limit=limit,
        )
        return Page(items=[DeviceOut.from_device(d) for d in page.items], next_cursor=page.next_cursor)


@router.post("/import", response_model=ImportOut, summary="Register many devices at once")
def import_(
    app_id: AppId,
    svc: ServicesDep,
    rows: Annotated[list[Any], Body(description="Device objects, as for POST /v1/devices")],
) -> ImportOut:
    """Rows are stored in chunks; a bad row is reported (index, field, problem) and skipped."""
    result = import_devices(
        svc.db, app_id, rows, policy=svc.policy, default_max_devices=svc.settings.max_devices_per_user,
    )
    return ImportOut(
        created=result.created, updated=result.updated, evicted=result.evicted,
        errors=[RowErrorOut(index=e.index, field=e.field, message=e.message) for e in result.errors],
    )


def _owned_device(session: Session, app_id: int, device_id: int) -> Device:
    device = load_device(session, device_id)
    owned("device", device.app_id if device is not None else None, app_id)
    assert device is not None
    return device


@router.get("/{device_id}", response_model=DeviceOut, summary="Read a device")
def get(device_id: DeviceIdPath, app_id: AppId, svc: ServicesDep) -> DeviceOut:
    with svc.db.session(write=False) as session:
        return DeviceOut.from_device(_owned_device(session, app_id, device_id))


@router.patch("/{device_id}", response_model=DeviceOut, summary="Change a device's attributes")
def patch(device_id: DeviceIdPath, body: DevicePatch, app_id: AppId, svc: ServicesDep) -> DeviceOut:
    with svc.db.session() as session:
        device = _owned_device(session, app_id, device_id)
        app_limit = require_app(session, app_id).setting("max_devices_per_user")
        limit = app_limit or svc.settings.max_devices_per_user
        patch_device(session, device, body, max_devices=limit, now=utcnow())
        return DeviceOut.from_device(device)


@router.delete("/{device_id}", status_code=204, summary="Delete a device (its delivery history stays)")
def delete(device_id: DeviceIdPath, app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        _owned_device(session, app_id, device_id)
        if not delete_device(session, app_id, device_id):
            raise ApiError(404, "not_found", "device not found")
    return Response(status_code=204)


@router.get(
    "/{device_id}/deliveries", response_model=list[DeviceDeliveryOut], summary="A device's recent deliveries",
)
def deliveries(
    device_id: DeviceIdPath,
    app_id: AppId,
    svc: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = 20,
) -> list[DeviceDeliveryOut]:
    with svc.db.session(write=False) as session:
        _owned_device(session, app_id, device_id)
        rows = device_deliveries(session, device_id, limit=limit)
        return [DeviceDeliveryOut.from_delivery(row) for row in rows]
