"""`pushgate messages`: import and export catalog files (YAML, JSON), list, get, put, delete."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from pushgate.cli import app as cli

CATALOG = """\
settings:
  default_language: fr
  deep_link_base: "myapp://open"
messages:
  - name: order_shipped
    events: [1001]
    cooldown: 3600
    screen: orders
    localizations:
      en: {title: "Shipped", body: "Order {order} is on its way"}
      fr: {title: "Expédiée", body: "La commande {order} est en route"}
  - name: friend_joined
    events: [1002, 1003]
    localizations:
      en: {title: "{friend} joined", body: "Say {{hi}}"}
"""


def run(url: str, *args: str) -> Result:
    env = {"PUSHGATE_DATABASE_URL": url, "PUSHGATE_CONFIG": None, "PUSHGATE_SECRET_KEY": None,
           "COLUMNS": "200"}
    return CliRunner().invoke(cli, list(args), env=env)


@pytest.fixture
def url(tmp_path: Path) -> str:
    address = f"sqlite:///{tmp_path / 'shop.db'}"
    assert run(address, "app", "create", "shop").exit_code == 0
    return address


def test_import_yaml_then_export_json_and_yaml(url: str, tmp_path: Path) -> None:
    source = tmp_path / "catalog.yaml"
    source.write_text(CATALOG, encoding="utf-8")
    imported = run(url, "messages", "import", str(source), "--app", "shop")
    assert imported.exit_code == 0, imported.output
    assert "2 messages (2 new, 0 replaced)" in imported.output
    again = run(url, "messages", "import", str(source), "--app", "shop")
    assert "(0 new, 2 replaced)" in again.output
    exported = run(url, "messages", "export", "--app", "shop")
    assert exported.exit_code == 0, exported.output
    document = json.loads(exported.output)
    assert document["settings"]["default_language"] == "fr"
    assert [m["name"] for m in document["messages"]] == ["friend_joined", "order_shipped"]
    assert document["messages"][1]["localizations"]["fr"]["title"] == "Expédiée"
    as_yaml = tmp_path / "out.yaml"
    assert run(url, "messages", "export", "--app", "shop", "--file", str(as_yaml)).exit_code == 0
    assert yaml.safe_load(as_yaml.read_text(encoding="utf-8")) == document
    listed = run(url, "messages", "list", "--app", "shop")
    assert "friend_joined" in listed.output
    assert "1002, 1003" in listed.output


def test_a_bad_file_names_the_field_and_stores_nothing(url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CATALOG.replace("Say {{hi}}", "Say {hi"), encoding="utf-8")
    refused = run(url, "messages", "import", str(bad), "--app", "shop")
    assert refused.exit_code == 1
    assert "messages[1].localizations.en.body" in refused.output
    assert json.loads(run(url, "messages", "export", "--app", "shop").output)["messages"] == []
    reserved = tmp_path / "reserved.json"
    reserved.write_text(json.dumps({"events": [4001], "localizations": {"en": {"title": "x"}}}))
    put = run(url, "messages", "put", "login_hello", str(reserved), "--app", "shop")
    assert put.exit_code == 1
    assert "events[0]" in put.output
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "not valid JSON" in run(url, "messages", "put", "x", str(broken), "--app", "shop").output


def test_put_get_and_delete_one_message(url: str, tmp_path: Path) -> None:
    message = tmp_path / "m.json"
    message.write_text(json.dumps({"events": [7], "localizations": {"en": {"title": "Hi {name}"}}}))
    created = run(url, "messages", "put", "hello", str(message), "--app", "shop")
    assert "Created message hello" in created.output
    shown = run(url, "messages", "get", "hello", "--app", "shop", "--yaml")
    assert yaml.safe_load(shown.output)["localizations"] == {"en": {"title": "Hi {name}", "body": ""}}
    assert "Deleted message hello" in run(url, "messages", "delete", "hello", "--app", "shop").output
    assert run(url, "messages", "get", "hello", "--app", "shop").exit_code == 1
    assert run(url, "messages", "delete", "hello", "--app", "shop").exit_code == 1


def test_one_message_is_counted_in_the_singular(url: str, tmp_path: Path) -> None:
    source = tmp_path / "one.yaml"
    source.write_text(CATALOG.split("  - name: friend_joined")[0], encoding="utf-8")
    imported = run(url, "messages", "import", str(source), "--app", "shop")
    assert imported.exit_code == 0, imported.output
    assert imported.output == "Imported 1 message (1 new, 0 replaced).\n"
    out = tmp_path / "out.json"
    exported = run(url, "messages", "export", "--app", "shop", "--file", str(out))
    assert exported.exit_code == 0, exported.output
    assert f"Wrote 1 message to {out}." in exported.output
