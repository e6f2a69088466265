"""Devices: search, detail with delivery history, (de)activate, delete, test sends, prune.

Changes go through the API's own code: (de)activation is the ``PATCH
/v1/devices/{id}`` logic (:func:`pushgate.server.device_patch.patch_device`),
deletion the registry's ``delete_device``, a test send
:func:`pushgate.admin.sending.submit` to ``{"device_ids": [...]}``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX, AdminPageError
from pushgate.admin.sending import TEST_NOTIFICATION, submit
from pushgate.admin.web import Admin, redirect, render
from pushgate.registry import ValidationError, delete_device, device_deliveries, get_device, require_app
from pushgate.registry.admin_queries import DeviceQuery, prune_devices, search_devices
from pushgate.registry.constants import MAX_ID, MAX_TARGET_LIST, Platform, ProviderName
from pushgate.registry.models import utcnow
from pushgate.server.device_patch import patch_device
from pushgate.server.schemas import DevicePatch

router = APIRouter(prefix=PREFIX, include_in_schema=False)
PAGE_SIZE = 50
Text = Annotated[str | None, Query(max_length=500)]


def _day(value: str | None, field: str) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValidationError(field, "a date as YYYY-MM-DD") from None


@router.get("/apps/{app_id}/devices")
def devices_page(
    app_id: int, admin: SignedIn, provider: Text = None, platform: Text = None, user: Text = None,
    tag: Text = None, active: Text = None, seen_before: Text = None, seen_after: Text = None,
    token: Text = None, cursor: Text = None,
) -> Response:
    admin.require_app(app_id)
    filters = {"provider": provider or "", "platform": platform or "", "user": user or "", "tag": tag or "",
               "active": active or "", "seen_before": seen_before or "", "seen_after": seen_after or "",
               "token": token or ""}
    error = None
    page_items: list[Any] = []
    next_cursor = None
    try:
        query = DeviceQuery(
            provider=provider or None, platform=platform or None, user=user or None, tag=tag or None,
            active={"yes": True, "no": False}.get(active or ""),
            seen_before=_day(seen_before, "seen_before"), seen_after=_day(seen_after, "seen_after"),
            token_prefix=token or None,
        )
        with admin.services.db.session(write=False) as session:
            app = require_app(session, app_id)
            page = search_devices(session, app_id, query, cursor=cursor, limit=PAGE_SIZE)
            page_items, next_cursor = page.items, page.next_cursor
    except ValidationError as exc:
        error = f"{exc.field}: {exc.message}"
        with admin.services.db.session(write=False) as session:
            app = require_app(session, app_id)
    return render(admin, "devices.html", code=422 if error else 200, app=app, devices=page_items,
                  next_cursor=next_cursor, filters=filters, error=error,
                  providers=[p.value for p in ProviderName], platforms=[p.value for p in Platform])


def _device(admin: Admin, session: Any, app_id: int, device_id: int) -> Any:
    device = get_device(session, app_id, device_id) if 0 < device_id <= MAX_ID else None
    if device is None:  # missing, or another app's: the same answer
        raise AdminPageError(404, "no such device")
    return device


@router.get("/apps/{app_id}/devices/{device_id}")
def device_page(app_id: int, device_id: int, admin: SignedIn) -> Response:
    return _device_page(admin, app_id, device_id)


def _device_page(admin: Admin, app_id: int, device_id: int, status: int = 200, **context: Any) -> Response:
    admin.require_app(app_id)
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
        device = _device(admin, session, app_id, device_id)
        deliveries = device_deliveries(session, device_id, limit=50)
        return render(admin, "device.html", code=status, app=app, device=device, deliveries=deliveries,
                      **context)


def _set_active(admin: Admin, app_id: int, device_ids: list[int], active: bool) -> int:
    changed = 0
    with admin.services.db.session() as session:
        limit = require_app(session, app_id).setting("max_devices_per_user") \
            or admin.services.settings.max_devices_per_user
        for device_id in device_ids:
            device = get_device(session, app_id, device_id)
            if device is not None and device.active != active:
                patch_device(session, device, DevicePatch.model_validate({"active": active}),
                             max_devices=limit, now=utcnow())
                changed += 1
    return changed


def _delete(admin: Admin, app_id: int, device_ids: list[int]) -> int:
    with admin.services.db.session() as session:
        return sum(delete_device(session, app_id, device_id) for device_id in device_ids)


async def _test_send(admin: Admin, app_id: int, device_ids: list[int]) -> tuple[str | None, str | None]:
    result = await submit(admin.services, app_id, TEST_NOTIFICATION, {"device_ids": device_ids})
    return result.send_id, result.error


@router.post("/apps/{app_id}/devices/{device_id}/action")
async def device_action(app_id: int, device_id: int, admin: SignedIn) -> Response:
    admin.require_app(app_id)
    await run_in_threadpool(_check_device, admin, app_id, device_id)
    action = admin.text("action")
    here = f"{PREFIX}/apps/{app_id}/devices/{device_id}"
    if action == "test":
        send_id, error = await _test_send(admin, app_id, [device_id])
        if error is not None:
            return await run_in_threadpool(_device_page, admin, app_id, device_id, 422, error=error)
        return redirect(f"{here}?test_send={send_id}")
    if action in ("deactivate", "reactivate"):
        await run_in_threadpool(_set_active, admin, app_id, [device_id], action == "reactivate")
        return redirect(f"{here}?done={action}")
    if action == "delete":
        await run_in_threadpool(_delete, admin, app_id, [device_id])
        return redirect(f"{PREFIX}/apps/{app_id}/devices?deleted=1")
    raise AdminPageError(422, "action: one of test, deactivate, reactivate, delete")


def _check_device(admin: Admin, app_id: int, device_id: int) -> None:
    with admin.services.db.session(write=False) as session:
        _device(admin, session, app_id, device_id)


@router.post("/apps/{app_id}/devices/bulk")
async def bulk_action(app_id: int, admin: SignedIn) -> Response:
    """The selected devices (checkboxes named ``device``): test send, (de)activate or delete."""
    admin.require_app(app_id)
    ids = [int(value) for value in admin.texts("device") if value.isdigit()]
    action = admin.text("action")
    back = f"{PREFIX}/apps/{app_id}/devices"
    if not ids:
        raise AdminPageError(422, "device: select at least one device")
    if len(ids) > MAX_TARGET_LIST:
        raise AdminPageError(422, f"device: at most {MAX_TARGET_LIST} at once")
    if action == "test":
        send_id, error = await _test_send(admin, app_id, ids)
        if error is not None:
            raise AdminPageError(422, error)
        return redirect(f"{PREFIX}/apps/{app_id}/sends/{send_id}")
    if action in ("deactivate", "reactivate"):
        changed = await run_in_threadpool(_set_active, admin, app_id, ids, action == "reactivate")
        return redirect(f"{back}?{action}d={changed}")
    if action == "delete":
        deleted = await run_in_threadpool(_delete, admin, app_id, ids)
        return redirect(f"{back}?deleted={deleted}")
    raise AdminPageError(422, "action: one of test, deactivate, reactivate, delete")


@router.post("/apps/{app_id}/devices/prune")
def prune(app_id: int, admin: SignedIn) -> Response:
    """Delete the devices inactive for at least ``days`` days (their delivery history stays)."""
    admin.require_app(app_id)
    days = admin.text("days")
    if not days.isdigit() or not 1 <= int(days) <= 3650:
        raise AdminPageError(422, "days: a whole number of days from 1 to 3650")
    with admin.services.db.session() as session:
        pruned = prune_devices(session, app_id, dead_days=int(days))
    return redirect(f"{PREFIX}/apps/{app_id}/devices?pruned={pruned}")


@router.post("/apps/{app_id}/devices/import")
async def import_file(app_id: int, admin: SignedIn) -> Response:
    """Register the devices of an uploaded file: what ``pushgate devices import`` reads (JSON array,
    JSON lines or CSV), stored by the same registry function as ``POST /v1/devices/import``."""
    import tempfile
    from pathlib import Path

    admin.require_app(app_id)
    upload = admin.upload("devices_file")
    if upload is None:
        raise AdminPageError(422, "devices_file: choose a file")
    suffix = Path(upload.filename or "").suffix.lower()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"devices{suffix if suffix in ('.csv', '.json', '.jsonl', '.ndjson') else ''}"
        with path.open("wb") as handle:
            while chunk := await upload.read(1 << 20):
                handle.write(chunk)
        result = await run_in_threadpool(_import, admin, app_id, path)
    with admin.services.db.session(write=False) as session:
        app = require_app(session, app_id)
    return render(admin, "imported.html", app=app, result=result)


def _import(admin: Admin, app_id: int, path: Any) -> Any:
    from pushgate.cli.device_files import DeviceFileError, detect_format, read_rows
    from pushgate.registry import import_devices

    try:
        rows = read_rows(path, detect_format(path), lambda _n: None)
        return import_devices(admin.services.db, app_id, rows, policy=admin.services.policy,
                              default_max_devices=admin.services.settings.max_devices_per_user)
    except (DeviceFileError, UnicodeDecodeError, ValueError) as exc:
        raise AdminPageError(422, f"devices_file: {exc}") from None


__all__ = ["router"]
