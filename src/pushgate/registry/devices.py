"""Devices: registration (an upsert in place), queries, deletion, dead tokens.

Registration rules, the ones django-push-notifications and Pushkin users
expect:

- The same (app, provider, token) registered again updates the row in place
  (UPDATE_ON_DUPLICATE_REG_ID as the normal behaviour): new fields win,
  fields not given are kept, an inactive device is reactivated and its
  ``unregistered_at`` cleared, and ``registered_at`` moves to now (the
  dead-token rule compares against it).
- Given with another user, the device moves to that user.
- Given with the app's installation id (``device_id``) and a token the
  registry doesn't know, the installation's device gets the new token
  (FCM and APNs rotate tokens); any other active device of that
  installation and provider is retired, so one installation never gets a
  notification twice.
- Beyond the app's ``max_devices_per_user`` the user's least recently seen
  devices are deactivated (reason "Evicted").
- An endpoint (Web Push, WNS) on a host the server's policy refuses is
  checked again with the hosts of the app's own credentials
  (:mod:`pushgate.registry.endpoint_hosts`) before it is refused.

What a registration may contain and how it is validated is
:mod:`pushgate.registry.device_specs`. Service functions take a Session
and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, exists, select, true, update
from sqlalchemy.orm import Session, joinedload, selectinload

from pushgate.providers import PROVIDER_NAMES, provider_spec
from pushgate.registry._paging import Page, check_limit, decode_cursor, make_page
from pushgate.registry.apps import require_app
from pushgate.registry.constants import (
    DEFAULT_PAGE_LIMIT,
    REASON_EVICTED,
    REASON_REPLACED,
    Platform,
    ProviderName,
)
from pushgate.registry.db import insert_ignoring
from pushgate.registry.device_specs import (
    CleanDevice,
    DeviceSpec,
    clean_spec,
    token_hash,
)
from pushgate.registry.endpoint_hosts import with_app_hosts
from pushgate.registry.models import Device, DeviceTag, User, devices_table, utcnow
from pushgate.registry.tag_expressions import tag_condition
from pushgate.registry.users import ensure_users
from pushgate.registry.validation import (
    DEFAULT_POLICY,
    HostNotAllowed,
    ValidationPolicy,
    validate_choice,
)
from pushgate.targeting.tag_expr import Expr

# How register_device loads a device: what an answer shows of it (its tags, its user's id),
# without the user's own tags and opt-outs, which User's selectin loaders would fetch with
# two more queries each time (they still load on access).
_AS_SHOWN = (selectinload(Device.tag_rows), joinedload(Device.user).lazyload("*"))


_OPTIONAL = ("p256dh", "auth", "platform", "app_version", "locale", "timezone", "name", "device_id")


def row_values(clean: CleanDevice, app_id: int, user_id: int | None, now: datetime) -> dict[str, Any]:
    """Column values of a newly registered device."""
    values: dict[str, Any] = {name: getattr(clean, name) for name in _OPTIONAL}
    values.update(
        app_id=app_id, provider=clean.provider, token=clean.token, token_hash=clean.token_hash,
        user_id=user_id, active=True, inactive_reason=None, created_at=now, updated_at=now,
        registered_at=now, last_seen_at=now, unregistered_at=None,
    )
    return values


def register_device(
    session: Session,
    app_id: int,
    spec: DeviceSpec,
    *,
    policy: ValidationPolicy = DEFAULT_POLICY,
    default_max_devices: int | None = None,
    now: datetime | None = None,
) -> Device:
    """Register or re-register a device (see the module docstring for the rules).

    ``default_max_devices`` applies when the app sets no ``max_devices_per_user``.
    """
    now = now or utcnow()
    try:
        clean = clean_spec(spec, policy)
    except HostNotAllowed as refused:
        # Read only now: most registrations are on the server's hosts and never pay for it.
        clean = clean_spec(spec, with_app_hosts(session, app_id, policy, refused.provider))
    app = require_app(session, app_id)
    user_id = ensure_users(session, app_id, [clean.user], now=now)[clean.user] if clean.user else None
    device = _find(session, app_id, clean.provider, clean.token_hash)
    if device is None and clean.device_id:
        device = session.scalar(
            select(Device)
            .where(Device.app_id == app_id, Device.provider == clean.provider,
                   Device.device_id == clean.device_id, Device.active == true())
            .order_by(Device.registered_at.desc(), Device.id.desc())
            .limit(1)
        )
        if device is not None:  # the installation's token rotated
            device.token, device.token_hash = clean.token, clean.token_hash
    if device is None:
        connection = session.connection()
        new_id = connection.execute(
            insert_ignoring(connection, devices_table, ["app_id", "token_hash", "provider"])
            .values(row_values(clean, app_id, user_id, now))
            .returning(devices_table.c.id)
        ).scalar()
        # None: a concurrent registration of the same token won the insert.
        device = session.get(Device, new_id, options=_AS_SHOWN) if new_id is not None else None
        device = device or _find(session, app_id, clean.provider, clean.token_hash)
        assert device is not None
    _apply(device, clean, user_id, now)
    if clean.device_id:
        _retire_installation(session, device, now)
    session.flush()
    limit = app.setting("max_devices_per_user") or default_max_devices
    if user_id is not None and limit:
        evict_beyond_limit(session, [user_id], limit, now=now, keep=device.id)
    # Reload user and tags as stored (populate_existing: over what this session holds).
    reloaded = session.scalar(select(Device).where(Device.id == device.id).options(*_AS_SHOWN)
                              .execution_options(populate_existing=True))
    assert reloaded is device
    return device


def _find(session: Session, app_id: int, provider: str, hashed: bytes) -> Device | None:
    return session.scalar(
        select(Device).where(
            Device.app_id == app_id, Device.token_hash == hashed, Device.provider == provider
        ).options(*_AS_SHOWN)
    )


def _apply(device: Device, clean: CleanDevice, user_id: int | None, now: datetime) -> None:
    for name in _OPTIONAL:
        value = getattr(clean, name)
        if value is not None:
            setattr(device, name, value)
    if user_id is not None:
        device.user_id = user_id
    device.active = True
    device.inactive_reason = None
    device.unregistered_at = None
    device.registered_at = device.updated_at = device.last_seen_at = now
    if clean.tags is not None:
        set_device_tags(device, clean.tags)


def set_device_tags(device: Device, tags: Iterable[str]) -> None:
    """Replace the device's tags, touching only the rows that change."""
    final = set(tags)
    current = {row.tag for row in device.tag_rows}
    if final != current:
        device.tag_rows = [row for row in device.tag_rows if row.tag in final] + [
            DeviceTag(tag=tag) for tag in sorted(final - current)
        ]


def _retire_installation(session: Session, device: Device, now: datetime) -> None:
    session.execute(
        update(Device)
        .where(
            Device.app_id == device.app_id,
            Device.provider == device.provider,
            Device.device_id == device.device_id,
            Device.id != device.id,
            Device.active == true(),
        )
        .values(active=False, inactive_reason=REASON_REPLACED, unregistered_at=now, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )


def expire_loaded(session: Session, device_ids: Iterable[int]) -> None:
    """Core UPDATEs bypass the identity map: make loaded devices re-read their rows."""
    wanted = set(device_ids)
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Device) and obj.id in wanted:
            session.expire(obj)


def evict_beyond_limit(
    session: Session, user_ids: Iterable[int], limit: int, *, now: datetime, keep: int | None = None
) -> int:
    """Deactivate each user's least recently seen active devices beyond ``limit``.

    ``keep`` (the device just registered) is never evicted. Returns how many were.
    """
    evicted: list[int] = []
    for user_id in set(user_ids):
        kept_first = case((devices_table.c.id == keep, 0), else_=1)
        rows = session.execute(
            select(devices_table.c.id)
            .where(devices_table.c.user_id == user_id, devices_table.c.active == true())
            .order_by(kept_first, devices_table.c.last_seen_at.desc(), devices_table.c.id.desc())
            .offset(limit)
        )
        evicted.extend(row[0] for row in rows)
    if evicted:
        session.execute(
            update(devices_table)
            .where(devices_table.c.id.in_(evicted))
            .values(active=False, inactive_reason=REASON_EVICTED, unregistered_at=now, updated_at=now)
        )
        expire_loaded(session, evicted)
    return len(evicted)


def get_device(session: Session, app_id: int, device_id: int) -> Device | None:
    device = load_device(session, device_id)
    return device if device is not None and device.app_id == app_id else None


def load_device(session: Session, device_id: int) -> Device | None:
    """A device of any app (the caller tells "not found" from "another app's")."""
    return session.get(Device, device_id)


def device_tokens(session: Session, device_ids: Iterable[int]) -> dict[int, str]:
    """The tokens of the devices that still exist among ``device_ids``."""
    ids = list(device_ids)
    if not ids:
        return {}
    d = devices_table.c
    rows = session.execute(select(d.id, d.token).where(d.id.in_(ids)))
    return {device_id: token for device_id, token in rows}


def unknown_tokens(session: Session, app_id: int, tokens: Iterable[str]) -> list[str]:
    """The tokens among ``tokens`` the app has no device for, in the order given, each once.

    Matched as a ``{"tokens": [...]}`` target matches them
    (:func:`pushgate.registry.fanout_queries.list_condition`): as given, or trimmed and in
    lower case (an APNs token in any letter case), so a send names exactly those it cannot find.
    """
    wanted = list(dict.fromkeys(tokens))
    spellings = {token: (token_hash(token), token_hash(token.strip().lower())) for token in wanted}
    hashes = sorted({hashed for pair in spellings.values() for hashed in pair})
    found: set[bytes] = set()
    for start in range(0, len(hashes), 1000):  # bounded IN lists
        found.update(session.scalars(select(devices_table.c.token_hash).where(
            devices_table.c.app_id == app_id, devices_table.c.token_hash.in_(hashes[start:start + 1000]))))
    return [token for token in wanted if not found.intersection(spellings[token])]


def find_device(session: Session, app_id: int, token: str, provider: str | None = None) -> Device | None:
    """A device by token, in any spelling its provider normalizes (an APNs token in any letter case)."""
    names = PROVIDER_NAMES if provider is None else (provider,) if provider in PROVIDER_NAMES else ()
    candidates = {token, *(provider_spec(name).normalize_token(token) for name in names)}
    query = select(Device).where(
        Device.app_id == app_id, Device.token_hash.in_([token_hash(t) for t in sorted(candidates)])
    )
    if provider is not None:
        query = query.where(Device.provider == provider)
    return session.scalars(query.order_by(Device.id).limit(1)).first()


def list_devices(
    session: Session,
    app_id: int,
    *,
    user: str | None = None,
    platform: str | None = None,
    provider: str | None = None,
    tag: str | None = None,
    active: bool | None = None,
    expression: Expr | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[Device]:
    """One page of the app's devices in id order, filtered; pass ``next_cursor`` back for more."""
    limit = check_limit(limit)
    query = select(Device).where(Device.app_id == app_id, Device.id > decode_cursor(cursor))
    if user is not None:
        query = query.join(User, User.id == Device.user_id).where(User.external_id == user)
    if platform is not None:
        query = query.where(Device.platform == validate_choice(platform, Platform, "platform").value)
    if provider is not None:
        query = query.where(Device.provider == validate_choice(provider, ProviderName, "provider").value)
    if tag is not None:
        query = query.where(
            exists().where(DeviceTag.device_id == Device.id, DeviceTag.tag == tag)
        )
    if active is not None:
        query = query.where(Device.active == active)
    if expression is not None:  # the same SQL a send's fan-out runs
        query = query.where(tag_condition(expression))
    rows = list(session.scalars(query.order_by(Device.id).limit(limit + 1)))
    return make_page(rows, limit, lambda device: device.id)


def delete_device(session: Session, app_id: int, device_id: int) -> bool:
    """Delete a device (its delivery history is kept, by id)."""
    result = session.execute(
        delete(Device).where(Device.app_id == app_id, Device.id == device_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))
