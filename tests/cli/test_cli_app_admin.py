"""`pushgate app delete`, API keys (list, create to rotate, revoke) and credentials (list, delete)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.registry import authenticate
from pushgate.registry.db import Database


def run(url: str, *args: str, secret_key: str | None = None) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": secret_key,
           "PUSHGATE_PREVIOUS_SECRET_KEYS": None, "COLUMNS": "200"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def shop(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    created = run(url, "app", "create", "shop")
    assert created.exit_code == 0
    return url, created.output.strip().splitlines()[-1]


def _valid(url: str, key: str) -> bool:
    with Database(url) as db, db.session() as session:
        return authenticate(session, key) is not None


def test_rotate_then_revoke_the_old_key(shop: tuple[str, str]) -> None:
    url, old = shop
    rotated = run(url, "app", "key-create", "shop", "--name", "2027")
    assert rotated.exit_code == 0, rotated.output
    new = rotated.output.strip().splitlines()[-1]
    assert new.startswith("pg_")
    assert new != old
    listed = run(url, "app", "keys", "shop")
    assert listed.exit_code == 0, listed.output
    assert old.split("_")[1] in listed.output
    assert new.split("_")[1] in listed.output
    assert "2027" in listed.output
    revoked = run(url, "app", "key-revoke", "shop", old.split("_")[1])
    assert revoked.exit_code == 0, revoked.output
    assert not _valid(url, old)
    assert _valid(url, new)
    assert run(url, "app", "key-revoke", "shop", old.split("_")[1]).exit_code == 1  # already revoked


@pytest.mark.parametrize("form", ["prefix", "pg_prefix", "whole key"])
def test_key_revoke_takes_the_prefix_with_or_without_pg_or_the_whole_key(shop: tuple[str, str],
                                                                        form: str) -> None:
    url, key = shop
    prefix = key.split("_")[1]
    given = {"prefix": prefix, "pg_prefix": f"pg_{prefix}", "whole key": key}[form]
    revoked = run(url, "app", "key-revoke", "shop", given)
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output == f"Revoked key {prefix} of app shop.\n"
    assert not _valid(url, key)
    again = run(url, "app", "key-revoke", "shop", given)
    assert again.exit_code == 1
    assert key.split("_", 2)[2] not in again.output  # the secret is never printed back
    assert f"no active key with prefix '{prefix}' for app shop" in again.output


def test_key_revoke_with_a_wrong_secret_revokes_nothing(shop: tuple[str, str]) -> None:
    url, key = shop
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    refused = run(url, "app", "key-revoke", "shop", forged)
    assert refused.exit_code == 1
    assert forged.split("_", 2)[2] not in refused.output
    assert _valid(url, key)


def test_credentials_list_and_delete(shop: tuple[str, str], tmp_path: Path) -> None:
    url, _ = shop
    path = tmp_path / "wns.json"
    path.write_text(json.dumps({"client_id": "ms-app://s-1-15-2-1", "client_secret": "secret"}))
    assert run(url, "app", "credentials", "shop", "wns", "--file", str(path)).exit_code == 0
    listed = run(url, "app", "credentials-list", "shop")
    assert listed.exit_code == 0, listed.output
    assert "wns" in listed.output
    assert "secret" not in listed.output.replace("client_secret", "")  # redacted
    assert run(url, "app", "credentials-delete", "shop", "wns").exit_code == 0
    assert "wns" not in run(url, "app", "credentials-list", "shop").output
    assert run(url, "app", "credentials-delete", "shop", "wns").exit_code == 1


def _wns_stored_with_a_key(url: str, tmp_path: Path) -> tuple[str, str]:
    """Store shop's WNS credentials sealed with one secret_key: (that key, another key)."""
    stored_with, other = "stored-with-this-key-" + "s" * 20, "some-other-secret-key-" + "o" * 20
    path = tmp_path / "wns.json"
    path.write_text(json.dumps({"client_id": "ms-app://s-1-15-2-1", "client_secret": "hunter2-wns"}))
    stored = run(url, "app", "credentials", "shop", "wns", "--file", str(path), secret_key=stored_with)
    assert stored.exit_code == 0, stored.output
    return stored_with, other


def test_credentials_list_says_when_this_secret_key_cannot_decrypt_them(
    shop: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = shop
    stored_with, other = _wns_stored_with_a_key(url, tmp_path)
    readable = run(url, "app", "credentials-list", "shop", secret_key=stored_with)
    assert (readable.exit_code, readable.stderr) == (0, "")
    for key, reason in ((other, "neither secret_key nor previous_secret_keys opens them"),
                        (None, "encrypted, and no secret_key is set")):
        listed = run(url, "app", "credentials-list", "shop", secret_key=key)
        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.stdout)["wns"]["client_id"] == "ms-app://s-1-15-2-1"  # still listed
        said = " ".join(listed.stderr.split())
        # The words the workers and the admin UI use (CredentialsUnreadable), then what to do.
        assert "the wns credentials of app 1 cannot be decrypted (client_secret): " + reason in said
        assert "with the secret_key they were stored with" in said
        assert "pushgate app credentials shop wns" in said
        assert "hunter2" not in listed.output


def test_app_list_flags_credentials_this_secret_key_cannot_decrypt(
    shop: tuple[str, str], tmp_path: Path
) -> None:
    url, _ = shop
    stored_with, other = _wns_stored_with_a_key(url, tmp_path)
    assert run(url, "app", "create", "other").exit_code == 0  # no credentials: nothing to flag
    readable = run(url, "app", "list", secret_key=stored_with)
    assert (readable.exit_code, readable.stderr) == (0, "")
    assert "cannot be decrypted" not in readable.stdout
    listed = run(url, "app", "list", secret_key=other)
    assert listed.exit_code == 0, listed.output
    [row] = [line for line in listed.stdout.splitlines() if " shop " in line]
    assert "wns (cannot be decrypted)" in row
    [other_row] = [line for line in listed.stdout.splitlines() if " other " in line]
    assert "cannot be decrypted" not in other_row
    said = " ".join(listed.stderr.split())
    # The warning credentials-list gives, word for word.
    assert said == " ".join(run(url, "app", "credentials-list", "shop", secret_key=other).stderr.split())
    assert "the wns credentials of app 1 cannot be decrypted (client_secret): neither secret_key" in said
    assert "pushgate app credentials shop wns" in said
    assert "hunter2" not in listed.output


def test_app_delete_needs_yes(shop: tuple[str, str]) -> None:
    url, key = shop
    refused = run(url, "app", "delete", "shop")
    assert refused.exit_code != 0
    assert _valid(url, key)
    deleted = run(url, "app", "delete", "shop", "--yes")
    assert deleted.exit_code == 0, deleted.output
    assert "shop" not in run(url, "app", "list").output
    assert not _valid(url, key)
