"""``GET /v1/users``: the app's users, filtered, one cursor page at a time.

The other user routes (``/v1/users/{external_id}`` and below) are in
:mod:`pushgate.server.routes.users`; listing is here so its filters and
schema stay in one place (:mod:`pushgate.registry.user_listing`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from pushgate.registry.constants import DEFAULT_PAGE_LIMIT, MAX_EXTERNAL_ID_LENGTH, MAX_PAGE_LIMIT
from pushgate.registry.user_listing import list_users
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.schemas import Page, UserOut

router = APIRouter(prefix="/v1/users", tags=["users"])


@router.get("", response_model=Page[UserOut], summary="The app's users, oldest first")
def list_(
    app_id: AppId,
    svc: ServicesDep,
    tag: Annotated[str | None, Query(max_length=100, description="Users carrying this tag")] = None,
    locale: Annotated[str | None, Query(max_length=35, description="Users with this locale")] = None,
    has_devices: Annotated[bool | None, Query(
        description="true: users with at least one active device; false: users with none")] = None,
    prefix: Annotated[str | None, Query(max_length=MAX_EXTERNAL_ID_LENGTH,
                                        description="User ids starting with this text")] = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_LIMIT)] = DEFAULT_PAGE_LIMIT,
) -> Page[UserOut]:
    with svc.db.session(write=False) as session:
        page = list_users(session, app_id, tag=tag, locale=locale, has_devices=has_devices, prefix=prefix,
                          cursor=cursor, limit=limit)
        items = [UserOut.from_user(user) for user in page.items]
    return Page(items=items, next_cursor=page.next_cursor)
