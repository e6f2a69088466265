"""Workers with credentials encrypted at rest: they decrypt to deliver, and pause on a wrong key."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from pushgate.queue import SqlQueue
from pushgate.registry import (
    CredentialCipher,
    Database,
    DeviceSpec,
    reencrypt_credentials,
    register_device,
    set_credentials,
)
from pushgate.registry.pauses import app_pauses
from pushgate.simulators.apns import APNsSimulator
from pushgate.workers.clients import ClientBuildError, ClientCache
from tests.workers.worker_helpers import (
    apns_credentials,
    eventually,
    make_app,
    running_pool,
    settings_for,
    start_send,
    status,
)

KEY = "worker-test-secret-key-" + "w" * 20
OTHER_KEY = "another-deployments-key-" + "z" * 20


def app_with_encrypted_apns(database: Database, apns: APNsSimulator, devices: int, key: str) -> int:
    app_id, _ = make_app(database, None, 0)
    with database.session() as session:
        set_credentials(session, app_id, "apns", apns_credentials(apns), cipher=CredentialCipher(key))
        for n in range(devices):
            register_device(session, app_id, DeviceSpec("apns", f"{n:064x}"))
    return app_id


def stored_config(database: Database) -> str:
    with database.connect(write=False) as connection:
        value = connection.execute(sa.text("SELECT config FROM credentials")).scalar_one()
    return str(value)


def key_line(apns: APNsSimulator) -> str:
    return str(apns_credentials(apns)["key"]).strip().splitlines()[1]


async def test_a_worker_delivers_with_credentials_stored_encrypted(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    app_id = app_with_encrypted_apns(database, apns, 3, KEY)
    assert key_line(apns) not in stored_config(database)
    send_id = start_send(database, SqlQueue(database), app_id, {"title": "sealed"})
    async with running_pool(settings_for(database, apns, ca_file, secret_key=KEY), database):
        view = await eventually(lambda: (v := status(database, send_id)).status == "done" and v)
    assert (view.sent, view.failed) == (3, 0)
    assert len(apns.accepted) == 3


async def test_credentials_no_configured_key_opens_pause_the_provider_naming_the_app(
    database: Database, apns: APNsSimulator, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app_id = app_with_encrypted_apns(database, apns, 2, OTHER_KEY)
    settings = settings_for(database, apns, ca_file, secret_key=KEY)
    cache = ClientCache(database, settings)
    try:
        with pytest.raises(ClientBuildError) as caught:
            await cache.acquire(app_id, "apns")
    finally:
        await cache.aclose()
    assert f"the apns credentials of app {app_id} cannot be decrypted" in str(caught.value)

    caplog.set_level(logging.INFO)
    start_send(database, SqlQueue(database), app_id, {"title": "locked"})
    async with running_pool(settings, database):
        pauses = await eventually(lambda: app_pauses_of(database, app_id), what="a pause")
    assert "cannot be decrypted" in pauses["apns"].error
    assert apns.requests == 0
    assert key_line(apns) not in caplog.text
    assert f"apns credentials of app {app_id} are unusable (the apns credentials" in caplog.text


def app_pauses_of(database: Database, app_id: int) -> dict[str, object]:
    with database.session(write=False) as session:
        return dict(app_pauses(session, app_id))


async def test_a_running_client_survives_reencryption_under_a_key_the_process_lacks(
    database: Database, apns: APNsSimulator, ca_file: Path
) -> None:
    """Rotation: rows re-encrypted while an old process runs keep their version; it keeps its client."""
    app_id = app_with_encrypted_apns(database, apns, 0, KEY)
    cache = ClientCache(database, settings_for(database, apns, ca_file, secret_key=KEY), recheck=0.0)
    try:
        first = await cache.acquire(app_id, "apns")
        await cache.release(first)
        with database.session() as session:
            assert reencrypt_credentials(session, CredentialCipher(OTHER_KEY, [KEY])) == (1, 1)
        again = await cache.acquire(app_id, "apns")
        assert again is first
        await cache.release(again)
    finally:
        await cache.aclose()


def test_serving_without_a_secret_key_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    from pushgate.service.runtime import warn_if_credentials_unencrypted
    from pushgate.service.settings import Settings

    caplog.set_level(logging.WARNING)
    warn_if_credentials_unencrypted(Settings())
    warn_if_credentials_unencrypted(Settings(secret_key=SecretStr(KEY)))
    [record] = caplog.records
    assert "stored unencrypted" in record.getMessage()
