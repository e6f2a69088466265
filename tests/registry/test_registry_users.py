"""Users: locale, time zone, tags (replace/add/remove) and opt-outs."""

from __future__ import annotations

from typing import Any

import pytest

from pushgate.registry import (
    Database,
    DeviceSpec,
    ValidationError,
    create_app,
    delete_user,
    get_user,
    opt_in,
    opt_out,
    register_device,
    upsert_user,
    user_devices,
)


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def test_upsert_user_fields_and_tags(database: Database, app_id: int) -> None:
    with database.session() as session:
        user = upsert_user(session, app_id, "alice", locale="fr_FR", timezone="Europe/Paris", tags=["a", "b"])
        assert (user.locale, user.timezone, user.tags) == ("fr-FR", "Europe/Paris", ["a", "b"])
    with database.session() as session:
        user = upsert_user(session, app_id, "alice", add_tags=["c"], remove_tags=["a"])
        assert (user.locale, user.tags) == ("fr-FR", ["b", "c"])  # locale not given: kept
        user = upsert_user(session, app_id, "alice", tags=["z"], add_tags=["y"])
        assert user.tags == ["y", "z"]
        user = upsert_user(session, app_id, "alice", tags=[])
        assert user.tags == []
    with database.session(write=False) as session:
        stored = get_user(session, app_id, "alice")
        assert stored is not None
        assert stored.tags == []
        assert get_user(session, app_id, "bob") is None


def test_user_ids_are_per_app(database: Database, app_id: int) -> None:
    with database.session() as session:
        other, _ = create_app(session, "other")
        mine = upsert_user(session, app_id, "alice", locale="en")
        theirs = upsert_user(session, other.id, "alice", locale="de")
        assert mine.id != theirs.id
        got = get_user(session, app_id, "alice")
        assert got is not None
        assert got.locale == "en"


def test_user_validation(database: Database, app_id: int) -> None:
    with database.session() as session:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"locale": "nope nope"}, "locale"),
            ({"timezone": "Nowhere/Land"}, "timezone"),
            ({"tags": ["ok", ""]}, "tags"),
            ({"add_tags": ["x" * 101]}, "add_tags"),
        ]
        for kwargs, field in cases:
            with pytest.raises(ValidationError) as exc:
                upsert_user(session, app_id, "alice", **kwargs)
            assert exc.value.field == field
        with pytest.raises(ValidationError) as exc:
            upsert_user(session, app_id, "x" * 256)
        assert exc.value.field == "user"


def test_opt_out_and_in(database: Database, app_id: int) -> None:
    with database.session() as session:
        user = opt_out(session, app_id, "alice", "promotions")  # creates the user
        assert user.optouts == ["promotions"]
        user = opt_out(session, app_id, "alice", "promotions")  # idempotent
        user = opt_out(session, app_id, "alice")
        assert user.optouts == ["*", "promotions"]
        back = opt_in(session, app_id, "alice", "*")
        assert back is not None
        assert back.optouts == ["promotions"]
        opt_out(session, app_id, "alice", "news")
        back = opt_in(session, app_id, "alice")
        assert back is not None
        assert back.optouts == []
        assert opt_in(session, app_id, "nobody") is None


def test_user_devices_and_delete(database: Database, app_id: int) -> None:
    with database.session() as session:
        for i in range(3):
            register_device(session, app_id, DeviceSpec("fcm", f"fcm-token-{i:030d}", user="alice"))
        register_device(session, app_id, DeviceSpec("fcm", f"fcm-token-{9:030d}", user="bob"))
        assert len(user_devices(session, app_id, "alice")) == 3
    with database.session() as session:
        assert delete_user(session, app_id, "alice") is True  # devices kept, without a user
        assert delete_user(session, app_id, "bob", delete_devices=True) is True
        assert delete_user(session, app_id, "bob") is False
    with database.session(write=False) as session:
        from pushgate.registry import list_devices

        devices = list_devices(session, app_id).items
        assert len(devices) == 3
        assert all(d.user_id is None for d in devices)
