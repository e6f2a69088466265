"""How many devices a send to each of many users would reach, in one grouped query per 1,000 users.

:func:`~pushgate.registry.fanout_queries.count_audience` answers for one
target; a Pushkin batch is a thousand targets of one user each, and a
thousand ``COUNT`` queries cost more than storing the sends. This counts
them together under the same conditions fan-out walks (active devices of
the app, minus users who opted out of everything:
``fanout_queries.audience_filters``), so each send's ``targeted`` is what
``count_audience`` would have said.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pushgate.registry.fanout_queries import COUNT_SLICE, audience_filters
from pushgate.registry.models import devices_table, users_table
from pushgate.registry.targets import Target


def audience_per_user(session: Session, app_id: int, users: Iterable[str]) -> dict[str, int]:
    """External user id → devices a send to that user alone would target (0 for unknown users)."""
    wanted = list(dict.fromkeys(users))
    counts = dict.fromkeys(wanted, 0)
    conditions = audience_filters(app_id, Target(audience="users"))
    d, u = devices_table.c, users_table.c
    for start in range(0, len(wanted), COUNT_SLICE):
        piece = wanted[start:start + COUNT_SLICE]
        rows = session.execute(
            select(u.external_id, func.count())
            .select_from(devices_table.join(users_table, u.id == d.user_id))
            .where(*conditions, u.app_id == app_id, u.external_id.in_(piece))
            .group_by(u.external_id)
        )
        counts.update({external_id: int(count) for external_id, count in rows})
    return counts


__all__ = ["audience_per_user"]
