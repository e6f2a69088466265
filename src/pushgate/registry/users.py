"""Users: the app's own id for a person, with language, time zone, tags and opt-outs.

A user exists once an app mentions it (registering a device for it,
updating it, opting it out); creation is idempotent and safe under
concurrency (``INSERT … ON CONFLICT DO NOTHING`` then read back).
Service functions take a Session and never commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pushgate.registry._errors import ValidationError
from pushgate.registry.apps import require_app
from pushgate.registry.constants import MAX_EXTERNAL_ID_LENGTH, MAX_TAGS, OPT_OUT_ALL
from pushgate.registry.db import insert_ignoring
from pushgate.registry.models import (
    Device,
    User,
    UserOptOut,
    UserTag,
    user_optouts_table,
    users_table,
    utcnow,
)
from pushgate.registry.text import check_name
from pushgate.registry.validation import (
    validate_locale,
    validate_tags,
    validate_timezone,
)


def validate_external_id(external_id: str, field: str = "user") -> str:
    if not isinstance(external_id, str) or not external_id or len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise ValidationError(field, f"a user id is 1 to {MAX_EXTERNAL_ID_LENGTH} characters")
    return check_name(external_id, field)


def ensure_users(
    session: Session, app_id: int, external_ids: Iterable[str], *, now: datetime | None = None
) -> dict[str, int]:
    """Create the users that do not exist yet; returns external id → user id for all."""
    wanted = list(dict.fromkeys(external_ids))
    if not wanted:
        return {}
    now = now or utcnow()
    session.flush()
    connection = session.connection()
    connection.execute(
        insert_ignoring(connection, users_table, ["app_id", "external_id"]),
        [
            {"app_id": app_id, "external_id": e, "locale": None, "timezone": None,
             "created_at": now, "updated_at": now}
            for e in wanted
        ],
    )
    found = connection.execute(
        select(users_table.c.external_id, users_table.c.id).where(
            users_table.c.app_id == app_id, users_table.c.external_id.in_(wanted)
        )
    )
    return {external_id: user_id for external_id, user_id in found}


def unknown_users(session: Session, app_id: int, external_ids: Iterable[str]) -> list[str]:
    """The ids among ``external_ids`` the app has no user for, in the order given."""
    wanted = list(dict.fromkeys(external_ids))
    found: set[str] = set()
    for start in range(0, len(wanted), 1000):  # bounded IN lists
        found.update(session.scalars(select(users_table.c.external_id).where(
            users_table.c.app_id == app_id, users_table.c.external_id.in_(wanted[start:start + 1000])
        )))
    return [external_id for external_id in wanted if external_id not in found]


def get_user(session: Session, app_id: int, external_id: str) -> User | None:
    return session.scalar(select(User).where(User.app_id == app_id, User.external_id == external_id))


def _ensure_user(session: Session, app_id: int, external_id: str, now: datetime) -> User:
    require_app(session, app_id)
    user_id = ensure_users(session, app_id, [validate_external_id(external_id)], now=now)[external_id]
    user = session.get(User, user_id, populate_existing=True)
    assert user is not None
    return user


def upsert_user(
    session: Session,
    app_id: int,
    external_id: str,
    *,
    locale: str | None = None,
    timezone: str | None = None,
    tags: Iterable[str] | None = None,
    add_tags: Iterable[str] = (),
    remove_tags: Iterable[str] = (),
    now: datetime | None = None,
) -> User:
    """Create or update a user. ``None`` leaves a field as it is.

    ``tags`` replaces the tag set; ``add_tags``/``remove_tags`` edit it
    (applied after ``tags``), so concurrent edits of different tags don't
    overwrite each other.
    """
    now = now or utcnow()
    user = _ensure_user(session, app_id, external_id, now)
    if locale is not None:
        user.locale = validate_locale(locale)
    if timezone is not None:
        user.timezone = validate_timezone(timezone)
    current = {row.tag for row in user.tag_rows}
    final = set(validate_tags(tags)) if tags is not None else set(current)
    final |= set(validate_tags(add_tags, "add_tags"))
    final -= set(validate_tags(remove_tags, "remove_tags"))
    if len(final) > MAX_TAGS:
        raise ValidationError("tags", f"at most {MAX_TAGS} tags")
    if final != current:
        user.tag_rows = [row for row in user.tag_rows if row.tag in final] + [
            UserTag(user_id=user.id, tag=tag) for tag in sorted(final - current)
        ]
    user.updated_at = now
    session.flush()
    return user


def delete_user(session: Session, app_id: int, external_id: str, *, delete_devices: bool = False) -> bool:
    """Delete a user; its devices are deleted too, or kept without a user."""
    user = get_user(session, app_id, external_id)
    if user is None:
        return False
    if delete_devices:
        session.execute(delete(Device).where(Device.user_id == user.id))
    session.delete(user)
    session.flush()
    return True


def opt_out(
    session: Session,
    app_id: int,
    external_id: str,
    topic: str = OPT_OUT_ALL,
    *,
    now: datetime | None = None,
) -> User:
    """The user no longer wants ``topic`` ("*": nothing at all). Idempotent."""
    now = now or utcnow()
    if not topic or len(topic) > 100:
        raise ValidationError("topic", "a topic is 1 to 100 characters, or '*'")
    check_name(topic, "topic")
    user = _ensure_user(session, app_id, external_id, now)
    connection = session.connection()
    connection.execute(
        insert_ignoring(connection, user_optouts_table, ["user_id", "topic"]),
        [{"user_id": user.id, "topic": topic, "created_at": now}],
    )
    session.refresh(user, ["optout_rows"])
    return user


def opt_in(session: Session, app_id: int, external_id: str, topic: str | None = None) -> User | None:
    """Undo an opt-out of ``topic``; ``None`` clears every opt-out. None if no such user."""
    user = get_user(session, app_id, external_id)
    if user is None:
        return None
    query = delete(UserOptOut).where(UserOptOut.user_id == user.id)
    if topic is not None:
        query = query.where(UserOptOut.topic == topic)
    session.execute(query)
    session.refresh(user, ["optout_rows"])
    return user


def user_devices(
    session: Session, app_id: int, external_id: str, *, active: bool | None = True
) -> list[Device]:
    """The user's devices (active ones by default), oldest first."""
    query = (
        select(Device)
        .join(User, User.id == Device.user_id)
        .where(User.app_id == app_id, User.external_id == external_id)
        .order_by(Device.id)
    )
    if active is not None:
        query = query.where(Device.active == active)
    return list(session.scalars(query))
