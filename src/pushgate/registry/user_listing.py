"""Listing an app's users: keyset pages on ``users.id`` with the filters ``GET /v1/users`` takes.

Filters combine with AND: a tag the user carries, an exact locale,
whether the user has at least one *active* device (what a send can reach),
and a prefix of the app's own user id (matched literally: ``%`` and ``_``
are not wildcards). Pages are ordered by id, so users added while a client
pages are neither skipped nor repeated (:mod:`pushgate.registry._paging`).
"""

from __future__ import annotations

from sqlalchemy import exists, select, true
from sqlalchemy.orm import Session

from pushgate.registry._paging import Page, check_limit, decode_cursor, make_page
from pushgate.registry.constants import DEFAULT_PAGE_LIMIT
from pushgate.registry.models import Device, User, UserTag
from pushgate.registry.validation import validate_locale


def list_users(
    session: Session,
    app_id: int,
    *,
    tag: str | None = None,
    locale: str | None = None,
    has_devices: bool | None = None,
    prefix: str | None = None,
    cursor: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
) -> Page[User]:
    """One page of the app's users in id order, filtered; pass ``next_cursor`` back for more."""
    limit = check_limit(limit)
    query = select(User).where(User.app_id == app_id, User.id > decode_cursor(cursor))
    if tag is not None:
        query = query.where(exists().where(UserTag.user_id == User.id, UserTag.tag == tag))
    if locale is not None:
        query = query.where(User.locale == validate_locale(locale))
    if has_devices is not None:
        active = exists().where(Device.user_id == User.id, Device.active == true())
        query = query.where(active if has_devices else ~active)
    if prefix:
        query = query.where(User.external_id.startswith(prefix, autoescape=True))
    rows = list(session.scalars(query.order_by(User.id).limit(limit + 1)))
    return make_page(rows, limit, lambda user: user.id)


__all__ = ["list_users"]
