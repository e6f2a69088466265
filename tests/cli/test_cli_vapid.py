"""`pushgate vapid generate` and `pushgate websdk setup|user-token`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.crypto.vapid import VapidKey
from pushgate.registry import CredentialCipher, get_app_by_name, get_credentials
from pushgate.registry.db import Database
from pushgate.user_token import verify_user_token

SECRET_KEY = "k" * 40


def run(url: str | None, *args: str) -> Result:
    env = {"PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": SECRET_KEY, "COLUMNS": "200"}
    if url is not None:
        env["PUSHGATE_DATABASE_URL"] = url
    return CliRunner().invoke(cli, list(args), env=env)


def test_generate_prints_a_pair_that_belongs_together() -> None:
    result = run(None, "vapid", "generate", "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert VapidKey.load(shown["private_key"]).application_server_key == shown["public_key"]
    bad = run(None, "vapid", "generate", "--subject", "ops@example.com")
    assert bad.exit_code == 1
    assert "--subject" in bad.output


def test_generate_stores_the_pair_as_the_apps_credentials_encrypted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run(url, "app", "create", "shop").exit_code == 0
    result = run(url, "vapid", "generate", "--app", "shop", "--subject", "https://shop.example.com/contact",
                 "--json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert "private_key" not in shown
    with Database(url) as db, db.session(write=False) as session:
        app = get_app_by_name(session, "shop")
        assert app is not None
        stored = get_credentials(session, app.id, "webpush", cipher=CredentialCipher(SECRET_KEY))
        assert stored is not None
        assert VapidKey.load(stored.config["vapid_private_key"]).application_server_key == shown["public_key"]
        assert stored.config["vapid_subject"] == "https://shop.example.com/contact"
    assert run(url, "vapid", "generate", "--app", "nope").exit_code == 1
    again = run(url, "vapid", "generate", "--app", "shop")
    assert again.exit_code == 0
    assert "replaces the app's VAPID key" in again.output


def test_websdk_setup_then_a_user_token_for_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run(url, "app", "create", "shop").exit_code == 0
    assert run(url, "websdk", "user-token", "--app", "shop", "--user", "alice").exit_code == 1  # not set up
    setup = run(url, "websdk", "setup", "--app", "shop", "--origin", "https://shop.example.com",
                "--require-signature")
    assert setup.exit_code == 0, setup.output
    shown = json.loads(setup.output.split("Keep the secret")[0])
    assert shown["allowed_origins"] == ["https://shop.example.com"]
    assert shown["require_uid_signature"] is True
    token = run(url, "websdk", "user-token", "--app", "shop", "--user", "alice", "--ttl", "60")
    assert token.exit_code == 0, token.output
    assert verify_user_token(token.output.strip(), shown["secret"], shown["public_id"]) == "alice"
    again = run(url, "websdk", "setup", "--app", "shop", "--no-require-signature")
    assert "secret" not in json.loads(again.output)  # shown once
    wrong = run(url, "websdk", "setup", "--app", "shop", "--origin", "ftp://x")
    assert wrong.exit_code == 1
    assert "allowed_origins" in wrong.output
