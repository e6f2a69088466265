"""The admin commands through typer's CliRunner, on a real SQLite file (and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import func, make_url, select, text
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.planner import fan_out
from pushgate.queue import Job, SqlQueue
from pushgate.queue.tables import JobRow
from pushgate.registry import (
    CredentialCipher,
    Database,
    authenticate,
    get_app_by_name,
    get_credentials,
    list_devices,
)
from pushgate.registry.migrations import HEAD_REVISION
from pushgate.registry.models import Send


def run(url: str, *args: str, secret_key: str | None = None) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": secret_key}
    return CliRunner().invoke(cli, list(args), env=env)


def url_of(db: Database) -> str:
    return db.url.render_as_string(hide_password=False)


@pytest.fixture
def shop(database: Database) -> str:
    result = run(url_of(database), "app", "create", "shop")
    assert result.exit_code == 0, result.output
    return url_of(database)


def test_migrate_and_first_use_of_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrated = run(url, "migrate")
    assert migrated.exit_code == 0, migrated.output
    assert f"revision {HEAD_REVISION}" in migrated.output
    other = f"sqlite:///{tmp_path / 'other.db'}"  # the embedded database migrates itself
    assert run(other, "app", "create", "solo").exit_code == 0


def test_migrate_names_the_database_by_its_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    migrated = run(url, "migrate")
    assert migrated.output == f"{url}: schema at revision {HEAD_REVISION}\n"


@pytest.mark.postgres
def test_migrate_hides_the_database_password(postgres_databases: Callable[[], str]) -> None:
    parsed = make_url(postgres_databases())
    password = parsed.password or "hunter2"  # the test server trusts local connections whatever it is
    url = parsed.set(password=password).render_as_string(hide_password=False)
    migrated = run(url, "migrate")
    assert migrated.exit_code == 0, migrated.output
    shown = make_url(url).render_as_string(hide_password=True)
    assert ":***@" in shown
    assert migrated.output == f"{shown}: schema at revision {HEAD_REVISION}\n"
    assert str(password) not in migrated.output


def test_app_create_prints_the_key_once(database: Database) -> None:
    url = url_of(database)
    result = run(url, "app", "create", "shop")
    assert result.exit_code == 0, result.output
    key = result.output.strip().splitlines()[-1]
    assert "shown this once" in result.output
    with database.session(write=False) as session:
        app = get_app_by_name(session, "shop")
        assert app is not None
        assert authenticate(session, key) == app.id
    listed = run(url, "app", "list")
    assert listed.exit_code == 0
    assert "shop" in listed.output
    assert key not in listed.output
    again = run(url, "app", "create", "shop")
    assert again.exit_code == 1
    assert "exists" in again.output


def _apns_credentials_file(tmp_path: Path) -> tuple[str, Path]:
    """A fresh .p8 key (PEM) and a credentials file holding it."""
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "apns.json"
    path.write_text(json.dumps({"key": pem, "key_id": "KEY1234567", "team_id": "TEAM123456",
                                "topic": "com.example.shop"}))
    return pem, path


def test_credentials_from_a_file(database: Database, shop: str, tmp_path: Path) -> None:
    pem, path = _apns_credentials_file(tmp_path)
    stored = run(shop, "app", "credentials", "shop", "apns", "--file", str(path))
    assert stored.exit_code == 0, stored.output
    assert '"key": "***"' in stored.output
    assert pem.splitlines()[1] not in stored.output
    with database.session(write=False) as session:
        row = get_credentials(session, 1, "apns")
        assert row is not None
        assert (row.config["key"], row.config["environment"]) == (pem, "production")

    path.write_text(json.dumps({"key": pem, "key_id": "KEY1234567", "topic": "com.example.shop"}))
    refused = run(shop, "app", "credentials", "1", "apns", "--file", str(path))
    assert refused.exit_code == 1
    assert "team_id" in refused.output
    assert run(shop, "app", "credentials", "nope", "apns", "--file", str(path)).exit_code == 1
    assert run(shop, "app", "credentials", "shop", "fax", "--file", str(path)).exit_code == 1


def test_credentials_are_encrypted_with_the_secret_key_and_reencrypt_moves_old_rows(
    database: Database, shop: str, tmp_path: Path
) -> None:
    key, new_key = "cli-secret-key-" + "a" * 20, "cli-rotated-key-" + "b" * 20
    pem, path = _apns_credentials_file(tmp_path)
    assert run(shop, "app", "credentials", "shop", "apns", "--file", str(path)).exit_code == 0  # plain
    refused = run(shop, "app", "reencrypt")
    assert (refused.exit_code, "no secret_key is set" in refused.output) == (2, True)

    turned_on = run(shop, "app", "reencrypt", secret_key=key)
    assert turned_on.exit_code == 0, turned_on.output
    assert "1 of 1 credentials re-encrypted" in turned_on.output
    assert "0 of 1" in run(shop, "app", "reencrypt", secret_key=key).output  # nothing left to do
    assert pem.splitlines()[1] not in stored_config(database)

    unknown = run(shop, "app", "reencrypt", secret_key=new_key)  # the old key is not configured
    assert unknown.exit_code == 1
    assert "apns credentials of app 1 cannot be decrypted" in unknown.output
    env = {"PUSHGATE_DATABASE_URL": shop, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": new_key,
           "PUSHGATE_PREVIOUS_SECRET_KEYS": key}
    rotated = CliRunner().invoke(cli, ["app", "reencrypt"], env=env)
    assert "1 of 1 credentials re-encrypted" in rotated.output, rotated.output
    with database.session(write=False) as session:
        row = get_credentials(session, 1, "apns", cipher=CredentialCipher(new_key))
        assert row is not None
        assert row.config["key"] == pem

    stored = run(shop, "app", "credentials", "shop", "apns", "--file", str(path), secret_key=new_key)
    assert stored.exit_code == 0, stored.output
    assert '"key": "***"' in stored.output
    assert pem.splitlines()[1] not in stored_config(database)


def stored_config(database: Database) -> str:
    with database.connect(write=False) as connection:
        value = connection.execute(text("SELECT config FROM credentials")).scalar_one()
    return value if isinstance(value, str) else json.dumps(value)


def counts(database: Database) -> tuple[int, int]:
    with database.session(write=False) as session:
        return (int(session.scalar(select(func.count()).select_from(Send)) or 0),
                int(session.scalar(select(func.count()).select_from(JobRow)) or 0))


def test_send_stores_a_send_and_its_fanout_job(database: Database, shop: str, tmp_path: Path) -> None:
    rows = tmp_path / "devices.jsonl"
    rows.write_text("\n".join(json.dumps({"provider": "apns", "token": f"{i:064x}", "user": f"u{i}"})
                              for i in range(3)))
    assert run(shop, "devices", "import", str(rows), "--app", "shop").exit_code == 0

    sent = run(shop, "send", "--app", "shop", "--title", "Hi", "--body", "there", "--all")
    assert sent.exit_code == 0, sent.output
    assert "3 devices targeted" in sent.output
    assert counts(database) == (1, 1)
    to_user = run(shop, "send", "--app", "shop", "--title", "Hi", "--user", "u1", "--idempotency-key", "k1")
    assert "1 device targeted" in to_user.output
    replay = run(shop, "send", "--app", "shop", "--title", "Hi", "--user", "u1", "--idempotency-key", "k1")
    assert "already sent" in replay.output
    assert counts(database) == (2, 2)

    assert run(shop, "send", "--app", "shop", "--title", "Hi").exit_code == 2  # no audience
    assert run(shop, "send", "--app", "shop", "--title", "Hi", "--all", "--user", "u1").exit_code == 2
    bad = run(shop, "send", "--app", "shop", "--title", "Hi", "--token", "short")
    assert (bad.exit_code, "0 devices targeted" in bad.output) == (0, True)  # unknown tokens reach no one
    assert run(shop, "send", "--app", "shop", "--data", "[1]", "--all").exit_code == 2


def test_send_is_refused_when_the_queue_is_full(database: Database, shop: str) -> None:
    SqlQueue(database).enqueue([Job(id="busy", queue="deliver:apns", payload={}, size=11)])
    env = {"PUSHGATE_DATABASE_URL": shop, "PUSHGATE_CONFIG": None, "PUSHGATE_MAX_QUEUE_DEPTH": "10",
           "PUSHGATE_BACKPRESSURE_RETRY_AFTER": "7"}
    refused = CliRunner().invoke(cli, ["send", "--app", "shop", "--title", "Hi", "--all"], env=env)
    assert refused.exit_code == 3, refused.output
    assert "11 deliveries are waiting (the bound is 10); retry in 7s" in refused.output
    assert counts(database) == (0, 1)  # nothing stored: only the job that was already there


@pytest.fixture
def fanning_out(database: Database) -> Iterator[None]:
    """A minimal stand-in for the sender workers: fans out every queued send (the real planner)."""
    stop = threading.Event()
    queue = SqlQueue(database)

    def loop() -> None:
        while not stop.wait(0.05):
            for job in queue.claim(["fanout"], limit=10, lease_seconds=30, worker="test"):
                fan_out(database, queue, job.payload["send_id"])
                queue.complete([job.id])

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


def test_send_wait_follows_the_send_to_the_end(shop: str, fanning_out: None) -> None:
    # No device matches: once fanned out the send is done, and --wait prints its counters.
    result = run(shop, "send", "--app", "shop", "--title", "Hi", "--user", "nobody",
                 "--wait", "--timeout", "30")
    assert result.exit_code == 0, result.output
    assert "done" in result.output
    assert "targeted" in result.output


def test_send_wait_gives_up_after_the_timeout(shop: str) -> None:
    result = run(shop, "send", "--app", "shop", "--title", "Hi", "--all", "--wait", "--timeout", "0")
    assert result.exit_code == 4
    assert "queued" in result.output


def test_devices_import_csv_json_and_lines(database: Database, shop: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "devices.csv"
    csv_file.write_text(
        "provider,token,user,platform,tags\n"
        f"apns,{1:064x},alice,ios,vip;beta\n"
        "fcm,too-short,bob,android,\n"
        f"fcm,{'f' * 40},bob,,\n"
    )
    result = run(shop, "devices", "import", str(csv_file), "--app", "shop")
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 1 rejected" in result.output
    assert "row 2: token" in result.output

    array = tmp_path / "devices.json"
    array.write_text(json.dumps([{"provider": "apns", "token": f"{1:064x}", "tags": ["x"]}, 7]))
    result = run(shop, "devices", "import", str(array), "--app", "1")
    assert "0 created, 1 updated, 1 rejected" in result.output

    lines = tmp_path / "devices.txt"  # no telling extension: recognised by content
    lines.write_text('{"provider": "fcm", "token": "' + "g" * 40 + '"}\nnot json\n')
    result = run(shop, "devices", "import", str(lines), "--app", "shop")
    assert "1 created" in result.output
    assert "row 2: line 2 is not JSON" in result.output

    with database.session(write=False) as session:
        page = list_devices(session, 1)
        assert len(page.items) == 3
        tagged = next(d for d in page.items if d.provider == "apns")
        assert (tagged.tags, tagged.user_external_id, tagged.platform) == (["x"], "alice", "ios")

    everything_bad = tmp_path / "bad.csv"
    everything_bad.write_text("provider,token\nfcm,x\n")
    assert run(shop, "devices", "import", str(everything_bad), "--app", "shop").exit_code == 1
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("a,b\n1,2\n")
    assert run(shop, "devices", "import", str(headerless), "--app", "shop").exit_code == 1


def test_settings_from_a_toml_file_and_unknown_keys(database: Database, tmp_path: Path) -> None:
    config = tmp_path / "pushgate.toml"
    config.write_text(f'database_url = "{url_of(database)}"\n')
    result = CliRunner().invoke(cli, ["app", "create", "from-file", "--config", str(config)],
                                env={"PUSHGATE_DATABASE_URL": None, "PUSHGATE_CONFIG": None})
    assert result.exit_code == 0, result.output
    config.write_text(f'database_url = "{url_of(database)}"\ndatabse = 1\n')
    result = CliRunner().invoke(cli, ["app", "list", "--config", str(config)],
                                env={"PUSHGATE_DATABASE_URL": None, "PUSHGATE_CONFIG": None})
    assert result.exit_code == 2
    assert "databse" in result.output
