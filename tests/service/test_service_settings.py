"""Settings: file + environment, unknown keys rejected, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pushgate.errors import ConfigurationError
from pushgate.service.settings import Settings


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


def test_a_queue_backend_that_does_not_exist_is_refused_naming_the_allowed_ones() -> None:
    with pytest.raises(ConfigurationError, match=r"queue: Input should be 'sql' or 'redis'"):
        Settings.load(environ={"PUSHGATE_QUEUE": "kafka"})
    with pytest.raises(ConfigurationError, match="PUSHGATE_REDIS_URL"):  # the Redis queue needs its server
        Settings.load(environ={"PUSHGATE_QUEUE": "redis"})
    chosen = Settings.load(environ={"PUSHGATE_QUEUE": "redis", "PUSHGATE_REDIS_URL": "redis://:pw@r:6379/0"})
    assert (chosen.queue, chosen.redacted()["redis_url"]) == ("redis", "**********")


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


def test_the_credentials_key_must_be_long_and_is_never_shown() -> None:
    with pytest.raises(ConfigurationError, match=r"secret_key: .*at least 32 characters"):
        Settings.load(environ={"PUSHGATE_SECRET_KEY": "too-short"})
    with pytest.raises(ConfigurationError, match="previous_secret_keys"):
        Settings.load(environ={"PUSHGATE_SECRET_KEY": "c" * 32, "PUSHGATE_PREVIOUS_SECRET_KEYS": "short"})
    current, old = "c" * 40, "o" * 40
    settings = Settings.load(environ={"PUSHGATE_SECRET_KEY": current, "PUSHGATE_PREVIOUS_SECRET_KEYS": old})
    assert settings.secret_key is not None
    assert settings.secret_key.get_secret_value() == current
    assert [key.get_secret_value() for key in settings.previous_secret_keys] == [old]
    listed = Settings.load(environ={"PUSHGATE_PREVIOUS_SECRET_KEYS": json.dumps([old, current])})
    assert len(listed.previous_secret_keys) == 2
    shown = str(settings.redacted()) + repr(settings)
    assert current not in shown
    assert old not in shown


def test_retention_defaults_and_off_from_the_environment() -> None:
    defaults = Settings.load(environ={})
    assert (defaults.deliveries_retention_days, defaults.inactive_devices_retention_days,
            defaults.failed_jobs_retention_days) == (30.0, 90.0, 14.0)
    off = Settings.load(environ={"PUSHGATE_DELIVERIES_RETENTION_DAYS": "off",
                                 "PUSHGATE_INACTIVE_DEVICES_RETENTION_DAYS": "7"})
    assert (off.deliveries_retention_days, off.inactive_devices_retention_days) == (None, 7.0)
    with pytest.raises(ConfigurationError, match="deliveries_retention_days"):
        Settings.load(environ={"PUSHGATE_DELIVERIES_RETENTION_DAYS": "-1"})


@pytest.mark.parametrize("token_url", ["login.example.net/token", "ftp://login.example.net/token",
                                       "https://[::1", "https://login.example.net:port/token"])
def test_an_unusable_token_url_is_refused_naming_the_setting(token_url: str) -> None:
    # Checked like base_url: an http(s) URL, or a start-up error rather than a paused app later.
    with pytest.raises(ConfigurationError, match=r"providers\.wns\.token_url: .*URL") as refused:
        Settings.load(environ={"PUSHGATE_PROVIDERS__WNS__TOKEN_URL": token_url})
    assert "base_url" not in str(refused.value)
    fine = Settings.load(environ={"PUSHGATE_PROVIDERS__WNS__TOKEN_URL": "http://127.0.0.1:9444/token"})
    assert fine.providers["wns"].token_url == "http://127.0.0.1:9444/token"
