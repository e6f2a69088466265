"""`pushgate pushkin`: the language table and the route secret from a shell."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli
from pushgate.registry import Database
from pushgate.registry.pushkin_apps import app_for_route_secret


def run(url: str, *args: str) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": None,
           "PUSHGATE_PUSHKIN_PREFIX": "/pk", "COLUMNS": "200"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def url(tmp_path: Path) -> str:
    address = f"sqlite:///{tmp_path / 'game.db'}"
    assert run(address, "app", "create", "game").exit_code == 0
    return address


def test_languages_and_the_route_secret(url: str) -> None:
    stored = run(url, "pushkin", "languages", "--app", "game", "1=en", "2=pt_BR")
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output) == {"1": "en", "2": "pt-BR"}
    bad = run(url, "pushkin", "languages", "--app", "game", "x=en")
    assert (bad.exit_code, "languages.x" in bad.output) == (1, True)
    assert run(url, "pushkin", "languages", "--app", "game", "1").exit_code == 1

    made = run(url, "pushkin", "route-secret", "--app", "game")
    assert made.exit_code == 0, made.output
    path = made.output.strip()
    assert path.startswith("/pk/app/pkr_")
    with Database(url) as db, db.session(write=False) as session:
        assert app_for_route_secret(session, path.rsplit("/", 1)[1]) is not None
    shown = json.loads(run(url, "pushkin", "show", "--app", "game").output)
    assert shown == {"languages": {"1": "en", "2": "pt-BR"}, "has_route_secret": True}

    assert run(url, "pushkin", "route-secret", "--app", "game", "--revoke").output.strip() == "revoked"
    again = run(url, "pushkin", "route-secret", "--app", "game", "--revoke")
    assert again.exit_code == 1
    assert run(url, "pushkin", "show", "--app", "nope").exit_code == 1
