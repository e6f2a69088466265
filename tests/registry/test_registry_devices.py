"""Devices: upsert in place, moves between users, reactivation, eviction, listing, dead tokens."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pushgate.registry import (
    Database,
    DeadToken,
    DeviceSpec,
    NotFound,
    ValidationError,
    create_app,
    deactivate_dead,
    deactivate_devices,
    delete_device,
    find_device,
    get_device,
    list_devices,
    register_device,
    unknown_tokens,
    update_app_settings,
    user_devices,
)

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def apns(i: int) -> str:
    return f"{i:064x}"


def fcm(i: int) -> str:
    return f"fcm-registration-token-{i:040d}"


MOZILLA = "https://updates.push.services.mozilla.com/wpush/v2/abc"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def subscription(endpoint: str = MOZILLA) -> dict[str, Any]:
    point = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        Encoding.X962, PublicFormat.UncompressedPoint
    )
    keys = {"p256dh": b64url(point), "auth": b64url(os.urandom(16))}
    return {"endpoint": endpoint, "expirationTime": None, "keys": keys}


@pytest.fixture
def app_id(database: Database) -> int:
    with database.session() as session:
        app, _ = create_app(session, "shop")
    return app.id


def test_register_then_reregister_updates_in_place(database: Database, app_id: int) -> None:
    with database.session() as session:
        first = register_device(
            session, app_id,
            DeviceSpec("apns", apns(1).upper(), user="alice", platform="ios", app_version="1.0",
                       locale="en-US", name="Alice's phone", device_id="inst-1", tags=["beta", "vip"]),
            now=T0,
        )
    assert (first.token, first.user_external_id, first.tags) == (apns(1), "alice", ["beta", "vip"])
    with database.session() as session:
        again = register_device(
            session, app_id, DeviceSpec("apns", apns(1), app_version="1.1", tags=["vip"]),
            now=T0 + timedelta(hours=1),
        )
    assert again.id == first.id
    assert again.app_version == "1.1"
    assert again.platform == "ios"  # not given: kept
    assert again.user_external_id == "alice"
    assert again.tags == ["vip"]
    assert again.created_at == T0
    assert again.registered_at == again.updated_at == again.last_seen_at == T0 + timedelta(hours=1)
    with database.session(write=False) as session:
        page = list_devices(session, app_id)
    assert [d.id for d in page.items] == [first.id]


def test_registering_a_device_reads_only_what_its_answer_shows(database: Database, app_id: int) -> None:
    """A registration is one small transaction: the user's own tags and opt-outs are not loaded
    (they would be two more queries each time the device is read), yet its answer is whole."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.startswith("BEGIN"):
            statements.append(statement)

    with database.session() as session:  # the user exists already
        register_device(session, app_id, DeviceSpec("fcm", fcm(7), user="carol"))
    sa.event.listen(database.engine, "before_cursor_execute", count)
    try:
        with database.session() as session:
            device = register_device(session, app_id, DeviceSpec("apns", apns(8), user="carol", tags=["vip"]))
            shown = (device.user_external_id, device.tags)
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", count)
    assert shown == ("carol", ["vip"])
    assert not [s for s in statements if "user_tags" in s or "user_optouts" in s], statements
    assert len(statements) <= 11, statements


def test_moving_a_token_to_another_user_moves_it(database: Database, app_id: int) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("fcm", fcm(1), user="alice"))
        moved = register_device(session, app_id, DeviceSpec("fcm", fcm(1), user="bob"))
        assert moved.id == device.id
        assert moved.user_external_id == "bob"
        assert user_devices(session, app_id, "alice") == []
        assert [d.id for d in user_devices(session, app_id, "bob")] == [device.id]


def test_reregistering_reactivates_and_clears_unregistered_at(database: Database, app_id: int) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("apns", apns(2)), now=T0)
        assert deactivate_dead(session, app_id, "apns", apns(2), T0 + timedelta(minutes=1), now=T0) is True
        session.refresh(device)
        assert (device.active, device.inactive_reason, device.unregistered_at) == (False, "Unregistered", T0)
        again = register_device(session, app_id, DeviceSpec("apns", apns(2)), now=T0 + timedelta(hours=1))
        assert again.id == device.id
        assert (again.active, again.inactive_reason, again.unregistered_at) == (True, None, None)


def test_dead_token_rule_respects_reregistration_after_the_provider_timestamp(
    database: Database, app_id: int
) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("apns", apns(3)), now=T0)
    with database.session() as session:
        # The provider says the token died before the app registered it again: keep it.
        assert deactivate_dead(session, app_id, "apns", apns(3), T0 - timedelta(seconds=1)) is False
        got = get_device(session, app_id, device.id)
        assert got is not None
        assert got.active is True
        # Died after the last registration: deactivate.
        assert deactivate_dead(session, app_id, "apns", apns(3).upper(), T0 + timedelta(seconds=1)) is True
        got = get_device(session, app_id, device.id)
        assert got is not None
        assert got.active is False
        assert deactivate_dead(session, app_id, "apns", apns(3), None) is False  # already inactive
        assert deactivate_dead(session, app_id, "apns", apns(99), None) is False  # unknown token


def test_bulk_deactivation_by_device_id(database: Database, app_id: int) -> None:
    with database.session() as session:
        ids = [register_device(session, app_id, DeviceSpec("fcm", fcm(i)), now=T0).id for i in range(4)]
    with database.session() as session:
        count = deactivate_devices(session, [
            DeadToken(ids[0], "UNREGISTERED"),
            DeadToken(ids[1], "Unregistered", T0 - timedelta(days=1)),  # re-registered since: kept
            DeadToken(ids[2], "BadDeviceToken", T0 + timedelta(days=1)),
            DeadToken(999_999, "UNREGISTERED"),
        ])
        assert count == 2
        states = {d.id: (d.active, d.inactive_reason) for d in list_devices(session, app_id).items}
    assert states == {
        ids[0]: (False, "UNREGISTERED"),
        ids[1]: (True, None),
        ids[2]: (False, "BadDeviceToken"),
        ids[3]: (True, None),
    }


def test_max_devices_per_user_evicts_the_least_recently_seen(database: Database, app_id: int) -> None:
    with database.session() as session:
        update_app_settings(session, app_id, max_devices_per_user=2)
        minute = timedelta(minutes=1)
        a = register_device(session, app_id, DeviceSpec("fcm", fcm(1), user="u"), now=T0)
        b = register_device(session, app_id, DeviceSpec("fcm", fcm(2), user="u"), now=T0 + minute)
        register_device(session, app_id, DeviceSpec("fcm", fcm(1), user="u"), now=T0 + 2 * minute)  # a seen
        c = register_device(session, app_id, DeviceSpec("apns", apns(3), user="u"), now=T0 + 3 * minute)
        active = {d.id for d in user_devices(session, app_id, "u")}
        assert active == {a.id, c.id}
        evicted = get_device(session, app_id, b.id)
        assert evicted is not None
        assert (evicted.active, evicted.inactive_reason) == (False, "Evicted")
        # Other users are not affected; a server-wide default applies when the app sets none.
        update_app_settings(session, app_id, max_devices_per_user=None)
        for i in range(3):
            register_device(session, app_id, DeviceSpec("fcm", fcm(10 + i), user="v"), default_max_devices=2)
        assert len(user_devices(session, app_id, "v")) == 2


def test_new_token_for_a_known_installation_replaces_the_old_one(database: Database, app_id: int) -> None:
    with database.session() as session:
        old = register_device(session, app_id, DeviceSpec("fcm", fcm(1), device_id="install-7", user="u"))
        rotated = register_device(session, app_id, DeviceSpec("fcm", fcm(2), device_id="install-7"))
        assert rotated.id == old.id
        assert rotated.token == fcm(2)
        assert find_device(session, app_id, fcm(1)) is None
        # Two rows for one installation (registered before it had an id): the older is retired.
        other = register_device(session, app_id, DeviceSpec("fcm", fcm(3)))
        register_device(session, app_id, DeviceSpec("fcm", fcm(3), device_id="install-7"))
        states = {d.id: (d.active, d.inactive_reason) for d in list_devices(session, app_id).items}
        assert states == {old.id: (False, "Replaced"), other.id: (True, None)}


def test_webpush_subscriptions(database: Database, app_id: int) -> None:
    sub = subscription()
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec.from_subscription(sub, platform="web"))
        assert device.token == sub["endpoint"]
        assert device.p256dh == sub["keys"]["p256dh"]
        fresh_keys = subscription()["keys"]
        again = register_device(session, app_id, DeviceSpec.from_subscription({**sub, "keys": fresh_keys}))
        assert again.id == device.id
        assert again.auth == fresh_keys["auth"]
        with pytest.raises(ValidationError) as exc:
            register_device(session, app_id, DeviceSpec.from_subscription(subscription("https://evil.test/x")))
        assert exc.value.field == "endpoint"
        with pytest.raises(ValidationError) as exc:
            DeviceSpec.from_subscription(sub, "fcm")  # a subscription is a Web Push device
        assert exc.value.field == "provider"
        assert DeviceSpec.from_subscription(sub, "webpush").provider == "webpush"


def test_a_token_is_found_in_any_spelling_its_provider_normalizes(database: Database, app_id: int) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("apns", apns(5)))
        found = [find_device(session, app_id, apns(5).upper(), provider) for provider in (None, "apns")]
        assert [d.id if d else None for d in found] == [device.id, device.id]
        assert find_device(session, app_id, apns(5).upper(), "fcm") is None
        assert find_device(session, app_id, apns(5), "gcm") is None  # an unknown provider has no devices


def test_unknown_tokens_are_those_a_send_to_them_would_not_find(database: Database, app_id: int) -> None:
    """As a tokens target matches them (an APNs token in any letter case), in the order given, once."""
    with database.session() as session:
        other, _ = create_app(session, "other")
        register_device(session, app_id, DeviceSpec("apns", apns(1)))
        register_device(session, app_id, DeviceSpec("fcm", fcm(2)))
        register_device(session, other.id, DeviceSpec("fcm", fcm(3)))  # another app's
        asked = ["nope", apns(1).upper(), fcm(2), fcm(3), "nope", f" {apns(1)} "]
        assert unknown_tokens(session, app_id, asked) == ["nope", fcm(3)]
        assert unknown_tokens(session, app_id, [fcm(i) for i in range(10, 1510)]) == [
            fcm(i) for i in range(10, 1510)]  # beyond one IN list
        assert unknown_tokens(session, app_id, []) == []


def test_registration_errors_name_the_field(database: Database, app_id: int) -> None:
    cases = [
        (DeviceSpec("apns", "not-hex"), "token"),
        (DeviceSpec("gcm", fcm(1)), "provider"),
        (DeviceSpec("fcm", fcm(1), platform="blackberry"), "platform"),
        (DeviceSpec("fcm", fcm(1), locale="english please"), "locale"),
        (DeviceSpec("fcm", fcm(1), timezone="Mars/Base"), "timezone"),
        (DeviceSpec("fcm", fcm(1), tags=["ok", ""]), "tags"),
        (DeviceSpec("fcm", fcm(1), user=""), "user"),
        (DeviceSpec("fcm", fcm(1), app_version="v" * 51), "app_version"),
    ]
    with database.session() as session:
        for spec, field in cases:
            with pytest.raises(ValidationError) as exc:
                register_device(session, app_id, spec)
            assert exc.value.field == field, spec
        with pytest.raises(NotFound):
            register_device(session, app_id + 1, DeviceSpec("fcm", fcm(1)))
    with database.session(write=False) as session:
        assert list_devices(session, app_id).items == []


def test_list_with_filters_and_cursor_pagination(database: Database, app_id: int) -> None:
    with database.session() as session:
        other_app, _ = create_app(session, "other")
        register_device(session, other_app.id, DeviceSpec("fcm", fcm(0)))
        for i in range(25):
            register_device(session, app_id, DeviceSpec(
                "apns" if i % 2 else "fcm", apns(i) if i % 2 else fcm(i),
                platform="ios" if i % 2 else "android", user=f"user{i % 3}",
                tags=["even"] if i % 2 == 0 else ["odd", "x"],
            ))
        deactivate_dead(session, app_id, "fcm", fcm(4), None)

    def collect(**filters: Any) -> list[int]:
        ids: list[int] = []
        cursor = None
        with database.session(write=False) as session:
            while True:
                page = list_devices(session, app_id, cursor=cursor, limit=4, **filters)
                assert len(page.items) <= 4
                ids.extend(d.id for d in page.items)
                if page.next_cursor is None:
                    return ids
                cursor = page.next_cursor

    everything = collect()
    assert len(everything) == 25
    assert everything == sorted(everything)
    assert len(collect(provider="apns")) == 12
    assert len(collect(platform="android")) == 13
    assert len(collect(tag="even")) == 13
    assert len(collect(user="user0")) == 9
    assert len(collect(active=False)) == 1
    assert len(collect(active=True, tag="even", provider="fcm")) == 12
    with database.session(write=False) as session, pytest.raises(ValidationError) as exc:
        list_devices(session, app_id, cursor="garbage")
    assert exc.value.field == "cursor"


def test_delete_device(database: Database, app_id: int) -> None:
    with database.session() as session:
        device = register_device(session, app_id, DeviceSpec("fcm", fcm(1), tags=["t"]))
        assert delete_device(session, app_id + 1, device.id) is False  # another app's id space
        assert delete_device(session, app_id, device.id) is True
        assert delete_device(session, app_id, device.id) is False
    with database.session(write=False) as session:
        assert get_device(session, app_id, device.id) is None


def test_concurrent_registrations_of_one_token_make_one_device(database: Database, app_id: int) -> None:
    import threading

    barrier = threading.Barrier(4)
    ids: list[int] = []
    errors: list[BaseException] = []

    def register(n: int) -> None:
        try:
            barrier.wait()
            with database.session() as session:
                ids.append(register_device(session, app_id, DeviceSpec("fcm", fcm(1), user=f"u{n}")).id)
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=register, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 1
    with database.session(write=False) as session:
        assert len(list_devices(session, app_id).items) == 1
