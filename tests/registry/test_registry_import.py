"""Bulk import: chunks, counts, per-row errors, upsert of known tokens, eviction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pushgate.registry import (
    Database,
    DeviceSpec,
    create_app,
    import_devices,
    list_devices,
    update_app_settings,
    user_devices,
)


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def rows(n: int, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield {"provider": "fcm", "token": f"fcm-token-{i:030d}", "user": f"u{i % 7}", "tags": [f"t{i % 3}"]}


def test_import_counts_created_and_updated_with_per_row_errors(database: Database, app_id: int) -> None:
    bad: list[Any] = [
        {"provider": "apns", "token": "not-hex"},
        {"provider": "fcm"},
        {"provider": "fcm", "token": "fcm-token-ok-000000000000000", "colour": "red"},
        {"provider": "fcm", "token": "fcm-token-ok-000000000000000", "tags": "x"},
        "not an object",
    ]
    result = import_devices(database, app_id, [*rows(120), *bad, *rows(10)], chunk_size=50)
    assert (result.created, result.updated) == (120, 10)  # the last 10 rows repeat known tokens
    assert [(e.index, e.field) for e in result.errors] == [
        (120, "token"), (121, "token"), (122, "colour"), (123, "tags"), (124, "row")
    ]
    again = import_devices(database, app_id, rows(130), chunk_size=1000)
    assert (again.created, again.updated, again.errors) == (10, 120, [])
    with database.session(write=False) as session:
        assert len(list_devices(session, app_id, limit=1000).items) == 130
        assert len(list_devices(session, app_id, tag="t0", limit=1000).items) == 44
        assert len(user_devices(session, app_id, "u0")) == 19


def test_import_updates_in_place_and_keeps_fields_not_given(database: Database, app_id: int) -> None:
    first = [{"provider": "fcm", "token": "fcm-token-keep-00000000000", "platform": "android",
              "locale": "de", "user": "alice", "tags": ["a"]}]
    import_devices(database, app_id, first)
    import_devices(database, app_id, [DeviceSpec("fcm", "fcm-token-keep-00000000000", app_version="2.0")])
    with database.session(write=False) as session:
        [device] = list_devices(session, app_id).items
        assert (device.platform, device.locale, device.app_version) == ("android", "de", "2.0")
        assert device.user_external_id == "alice"
        assert device.tags == ["a"]  # tags not given: kept


def test_duplicates_within_a_chunk_keep_the_last_row(database: Database, app_id: int) -> None:
    token = "fcm-token-dup-000000000000"
    result = import_devices(database, app_id, [
        {"provider": "fcm", "token": token, "locale": "en"},
        {"provider": "fcm", "token": token, "locale": "fr"},
    ])
    assert (result.created, result.updated) == (1, 0)
    with database.session(write=False) as session:
        assert [d.locale for d in list_devices(session, app_id).items] == ["fr"]


def test_import_evicts_beyond_the_per_user_limit(database: Database, app_id: int) -> None:
    with database.session() as session:
        update_app_settings(session, app_id, max_devices_per_user=3)
    result = import_devices(database, app_id, [
        {"provider": "fcm", "token": f"fcm-token-evict-{i:020d}", "user": "heavy"} for i in range(5)
    ])
    assert result.evicted == 2
    with database.session(write=False) as session:
        assert len(user_devices(session, app_id, "heavy")) == 3


def test_subscription_rows(database: Database, app_id: int) -> None:
    import base64
    import os

    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    keys = {
        "p256dh": base64.urlsafe_b64encode(point).decode(),
        "auth": base64.urlsafe_b64encode(os.urandom(16)).decode(),
    }
    result = import_devices(database, app_id, [
        {"subscription": {"endpoint": "https://web.push.apple.com/QAbc", "keys": keys}, "platform": "web"},
        {"subscription": {"endpoint": "https://127.0.0.1/x", "keys": keys}},
    ])
    assert result.created == 1
    assert [(e.index, e.field) for e in result.errors] == [(1, "endpoint")]


def test_reimport_replaces_given_tags_moves_the_user_and_reactivates(database: Database, app_id: int) -> None:
    from datetime import timedelta

    from pushgate.registry import DeadToken, deactivate_devices
    from pushgate.registry.models import utcnow

    tokens = [f"fcm-token-again-{i:020d}" for i in range(3)]
    first = import_devices(database, app_id, [
        {"provider": "fcm", "token": tokens[0], "user": "alice", "tags": ["a", "b"], "name": "phone"},
        {"provider": "fcm", "token": tokens[1], "user": "alice", "tags": ["a"]},
        {"provider": "fcm", "token": tokens[2], "tags": ["z"]},
    ], now=utcnow() - timedelta(hours=1))
    assert (first.created, first.updated) == (3, 0)
    with database.session() as session:
        [retired] = [d for d in list_devices(session, app_id).items if d.token == tokens[0]]
        deactivate_devices(session, [DeadToken(retired.id, "Unregistered")])
    again = import_devices(database, app_id, [
        {"provider": "fcm", "token": tokens[0], "user": "bob", "tags": ["c"]},
        {"provider": "fcm", "token": tokens[1], "tags": []},  # an empty list clears the tags
        {"provider": "fcm", "token": tokens[2]},  # no tags given: kept
    ])
    assert (again.created, again.updated, again.errors) == (0, 3, [])
    with database.session(write=False) as session:
        devices = {d.token: d for d in list_devices(session, app_id).items}
    moved = devices[tokens[0]]
    assert (moved.user_external_id, moved.tags, moved.name) == ("bob", ["c"], "phone")
    assert (moved.active, moved.inactive_reason, moved.unregistered_at) == (True, None, None)
    assert moved.registered_at > moved.created_at
    assert devices[tokens[1]].tags == []
    assert devices[tokens[1]].user_external_id == "alice"
    assert devices[tokens[2]].tags == ["z"]


def test_a_later_row_wins_across_chunks(database: Database, app_id: int) -> None:
    tokens = [f"fcm-token-chunks-{i:020d}" for i in range(30)]
    english = [{"provider": "fcm", "token": t, "locale": "en"} for t in tokens]
    french = [{"provider": "fcm", "token": t, "locale": "fr"} for t in tokens]
    result = import_devices(database, app_id, [*english, {"provider": "fcm"}, *french], chunk_size=7)
    assert (result.created, result.updated) == (30, 30)
    assert [(e.index, e.field) for e in result.errors] == [(30, "token")]
    with database.session(write=False) as session:
        assert {d.locale for d in list_devices(session, app_id, limit=100).items} == {"fr"}


def test_an_input_that_fails_midway_keeps_the_chunks_before_it(database: Database, app_id: int) -> None:
    def failing() -> Iterator[dict[str, Any]]:
        yield from rows(25)
        raise OSError("the file went away")

    with pytest.raises(OSError, match="went away"):
        import_devices(database, app_id, failing(), chunk_size=10)
    with database.session(write=False) as session:
        assert len(list_devices(session, app_id, limit=100).items) == 20


def test_free_text_and_input_order_survive_the_chunk_encoding(database: Database, app_id: int) -> None:
    # On SQLite a chunk travels to the database as JSON text (registry/bulk_sql.py): quotes,
    # backslashes and characters beyond the BMP must come back as given, and the token index
    # must find each row by its token's hash.
    from pushgate.registry import find_device

    name = 'Ana\'s "phone" \\ Zürich 😀'
    given = [{"provider": "fcm", "token": f"fcm-token-text-{i:020d}", "name": name, "user": f'user "{i}"',
              "device_id": f"install-{i}", "app_version": "1.0 (β)"} for i in range(3)]
    result = import_devices(database, app_id, given)
    assert (result.created, result.errors) == (3, [])
    with database.session(write=False) as session:
        found = [find_device(session, app_id, row["token"], "fcm") for row in given]
        assert all(device is not None for device in found)
        assert [(d.name, d.user_external_id, d.device_id, d.app_version) for d in found if d] == [
            (name, f'user "{i}"', f"install-{i}", "1.0 (β)") for i in range(3)
        ]
        ids = [d.id for d in found if d]
        assert ids == sorted(ids)  # new devices get their ids in input order
