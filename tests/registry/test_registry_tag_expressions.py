"""Tag expressions in SQL equal the reference evaluator, on SQLite and PostgreSQL.

Random expressions over a small tag alphabet, random devices (tags of their
own, and some with a user who has tags): the devices the database selects
are exactly those whose device tags and user tags together satisfy ``evaluate``. The
same expression through a send's target (``count_audience``) counts the
same devices.
"""

from __future__ import annotations

import hashlib
from itertools import count

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushgate.registry import Database, Target, ValidationError, create_app
from pushgate.registry.audience import measure_audience, reached_users
from pushgate.registry.fanout_queries import count_audience
from pushgate.registry.models import (
    device_tags_table,
    devices_table,
    user_optouts_table,
    user_tags_table,
    users_table,
)
from pushgate.registry.tag_expressions import tag_condition
from pushgate.targeting import evaluate, to_text
from pushgate.targeting.tag_expr import Expr
from tests.targeting.test_tag_expr_parser import TAG_NAMES, expressions

DeviceSpec = tuple[frozenset[str], frozenset[str] | None]  # (device tags, user tags or no user)
devices_strategy = st.lists(
    st.tuples(st.frozensets(st.sampled_from(TAG_NAMES)),
              st.none() | st.frozensets(st.sampled_from(TAG_NAMES))),
    min_size=1, max_size=8,
)
_tokens = count()


def store(database: Database, app_id: int, specs: list[DeviceSpec]) -> list[int]:
    """Replace the app's devices and users with ``specs``; the new device ids, in order."""
    with database.connect() as connection:
        connection.execute(sa.delete(devices_table))
        connection.execute(sa.delete(users_table))
        ids = []
        for number, (device_tags, user_tags) in enumerate(specs):
            user_id = None
            if user_tags is not None:
                user_id = connection.execute(sa.insert(users_table).values(
                    app_id=app_id, external_id=f"user-{number}").returning(users_table.c.id)).scalar_one()
                for tag in user_tags:
                    connection.execute(sa.insert(user_tags_table).values(user_id=user_id, tag=tag))
            token = f"token-{next(_tokens)}"
            device_id = connection.execute(sa.insert(devices_table).values(
                app_id=app_id, provider="fcm", token=token, user_id=user_id, active=True,
                token_hash=hashlib.sha256(token.encode()).digest(),
            ).returning(devices_table.c.id)).scalar_one()
            for tag in device_tags:
                connection.execute(sa.insert(device_tags_table).values(device_id=device_id, tag=tag))
            ids.append(device_id)
    return ids


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "tags")
    return app.id


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(expr=expressions(), specs=devices_strategy)
def test_sql_selects_what_the_reference_evaluator_selects(
    database: Database, app_id: int, expr: Expr, specs: list[DeviceSpec]
) -> None:
    ids = store(database, app_id, specs)
    expected = {device_id for device_id, (device_tags, user_tags) in zip(ids, specs, strict=True)
                if evaluate(expr, device_tags | (user_tags or frozenset()))}
    with database.session(write=False) as session:
        found = set(session.scalars(sa.select(devices_table.c.id).where(
            devices_table.c.app_id == app_id, tag_condition(expr))))
        counted = count_audience(session, app_id, Target.parse({"all": True, "tags": to_text(expr)}))
    assert found == expected
    assert counted == len(expected)


def test_deliver_to_is_users_intersected_with_the_expression(database: Database, app_id: int) -> None:
    store(database, app_id, [
        (frozenset({"events"}), frozenset()),  # user-0: device tag
        (frozenset(), frozenset({"events", "vip"})),  # user-1: user tag, but vip excluded below
        (frozenset(), frozenset()),  # user-2: no tag
        (frozenset({"events"}), None),  # no user
    ])
    target = Target.parse({"users": ["user-2", "user-1", "user-0", "nobody"], "tags": ["events && !vip"]})
    with database.session(write=False) as session:
        assert reached_users(session, app_id, target) == ["user-0"]
        assert measure_audience(session, app_id, target).devices == 1
        everyone = measure_audience(session, app_id, Target.parse({"all": True}))
    assert (everyone.devices, everyone.users) == (4, 3)


def test_opted_out_users_are_not_reached(database: Database, app_id: int) -> None:
    store(database, app_id, [(frozenset({"a"}), frozenset()), (frozenset({"a"}), frozenset())])
    with database.connect() as connection:
        user_id = connection.execute(sa.select(users_table.c.id).where(
            users_table.c.external_id == "user-1")).scalar_one()
        connection.execute(sa.insert(user_optouts_table).values(user_id=user_id, topic="*"))
    with database.session(write=False) as session:
        target = Target.parse({"users": ["user-0", "user-1"], "tags": "a"})
        assert reached_users(session, app_id, target) == ["user-0"]
        assert measure_audience(session, app_id, target).users == 1


@pytest.mark.parametrize(("tags", "field", "position"), [
    ("a &&", "target.tags", 4),
    (["ok", "(b"], "target.tags[1]", 2),
])
def test_a_bad_expression_is_refused_naming_field_and_position(
    tags: object, field: str, position: int
) -> None:
    with pytest.raises(ValidationError) as caught:
        Target.parse({"all": True, "tags": tags})
    assert caught.value.field == field
    assert caught.value.message.startswith(f"position {position}:")
