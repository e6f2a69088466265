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
