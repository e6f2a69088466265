"""Settings: file + environment, unknown keys rejected, secrets redacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from pushgate.config import Settings
from pushgate.errors import ConfigurationError


def test_defaults_are_the_embedded_setup() -> None:
    settings = Settings.load(environ={})
    assert settings.database_url.startswith("sqlite:///")
    assert settings.queue == "sql"
    assert settings.workers == 1


def test_file_then_environment_wins(tmp_path: Path) -> None:
    path = tmp_path / "pushgate.toml"
    path.write_text('port = 9000\nworkers = 3\n[providers.apns]\nbase_url = "https://127.0.0.1:1"\n')
    settings = Settings.load(
        path, environ={"PUSHGATE_WORKERS": "5", "PUSHGATE_PROVIDERS__APNS__CA_FILE": "/ca.pem"}
    )
    assert settings.port == 9000
    assert settings.workers == 5
    assert settings.providers["apns"].base_url == "https://127.0.0.1:1"
    assert settings.providers["apns"].ca_file == "/ca.pem"


def test_list_values_from_the_environment() -> None:
    settings = Settings.load(
        environ={"PUSHGATE_PROVIDERS__WEBPUSH__ALLOWED_HOSTS": '["127.0.0.1:8443", "*.example"]'}
    )
    assert settings.providers["webpush"].allowed_hosts == ["127.0.0.1:8443", "*.example"]


@pytest.mark.parametrize(
    ("environ", "field"),
    [
        ({"PUSHGATE_DATABSE_URL": "sqlite:///x"}, "databse_url"),
        ({"PUSHGATE_WORKERS": "-1"}, "workers"),
        ({"PUSHGATE_PROVIDERS__HMS__BASE_URL": "x"}, "providers.hms"),
    ],
)
def test_unknown_or_invalid_keys_are_errors_naming_the_key(environ: dict[str, str], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        Settings.load(environ=environ)


def test_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        Settings.load(tmp_path / "missing.toml", environ={})


def test_redacted_hides_secrets() -> None:
    settings = Settings.load(
        environ={
            "PUSHGATE_ADMIN_TOKEN": "s3cret",
            "PUSHGATE_DATABASE_URL": "postgresql+psycopg://app:hunter2@db/pushgate",
        }
    )
    shown = str(settings.redacted())
    assert "s3cret" not in shown
    assert "hunter2" not in shown
    assert "app:***@db/pushgate" in shown
    assert "s3cret" not in repr(settings)
