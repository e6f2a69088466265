"""The provider table: one spec per provider, looked up by name, each with the same roles."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from pushgate.errors import ConfigurationError
from pushgate.providers import (
    PROVIDER_NAMES,
    CredentialError,
    CredentialField,
    Endpoint,
    ProviderSpec,
    UnknownProvider,
    check_overrides,
    provider_spec,
)
from pushgate.registry import ProviderName
from pushgate.registry._redact import redact_config
from pushgate.registry.constants import REDACTED

# Every provider package has these modules, and in them these names (same role, same name).
ROLES = {
    "client": (),
    "auth": (),
    "payload": ("build_payload",),
    "outcomes": ("classify",),
    "credentials": ("FIELDS", "REQUIRED", "check_stored", "validate"),
    "tokens": ("check_token",),
    "spec": ("SPEC", "build_client", "check_payload"),
}
SECRETS = {
    "apns": {"key", "certificate", "certificate_key"},
    "fcm": {"service_account.private_key"},
    "webpush": {"vapid_private_key"},
    "wns": {"client_secret"},
}


def test_the_table_names_the_four_providers_the_registry_knows() -> None:
    assert PROVIDER_NAMES == ("apns", "fcm", "webpush", "wns")
    assert set(PROVIDER_NAMES) == {p.value for p in ProviderName}


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_lookup_returns_the_providers_spec(name: str) -> None:
    spec = provider_spec(name)
    assert isinstance(spec, ProviderSpec)
    assert spec.name == name
    assert provider_spec(ProviderName(name)) is spec  # the registry's enum values look up too


def test_an_unknown_name_is_a_clear_configuration_error() -> None:
    with pytest.raises(UnknownProvider) as info:
        provider_spec("gcm")
    assert isinstance(info.value, ConfigurationError)
    assert info.value.name == "gcm"
    assert str(info.value) == "unknown provider 'gcm' (known: apns, fcm, webpush, wns)"


@pytest.mark.parametrize("name", PROVIDER_NAMES)
@pytest.mark.parametrize("role", sorted(ROLES))
def test_every_provider_has_the_same_roles_under_the_same_names(name: str, role: str) -> None:
    module = importlib.import_module(f"pushgate.providers.{name}.{role}")
    for attribute in ROLES[role]:
        assert callable(getattr(module, attribute)) or attribute.isupper(), (name, role, attribute)


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_every_spec_fills_every_role(name: str) -> None:
    spec = provider_spec(name)
    for role in (spec.check_stored, spec.validate, spec.build_client, spec.check_payload, spec.client_token):
        assert callable(role)
    assert spec.fields
    assert all(isinstance(f, CredentialField) for f in spec.fields)
    names = {f.name for f in spec.fields}
    assert len(names) == len(spec.fields)
    for group in spec.required:
        assert group
        assert set(group) <= names, group


@pytest.mark.parametrize("name", PROVIDER_NAMES)
def test_secret_fields_are_listed_and_the_registry_hides_them(name: str) -> None:
    spec = provider_spec(name)
    assert spec.secret_fields == SECRETS[name]
    # The registry masks and encrypts by field name: it must agree with every spec.
    for field in spec.fields:
        config = _nested(field.name, "value")
        assert (redact_config(config) == _nested(field.name, REDACTED)) is field.secret, field.name


def _nested(path: str, value: str) -> dict[str, object]:
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def test_web_push_and_wns_name_their_default_hosts_apns_and_fcm_have_none() -> None:
    from pushgate.providers.webpush.client import DEFAULT_ALLOWED_HOSTS as webpush_hosts
    from pushgate.providers.wns.client import DEFAULT_ALLOWED_HOSTS as wns_hosts

    assert provider_spec("webpush").default_hosts == webpush_hosts
    assert provider_spec("wns").default_hosts == wns_hosts == ("*.notify.windows.com",)
    assert provider_spec("apns").default_hosts is None
    assert provider_spec("fcm").default_hosts is None


def test_client_tokens() -> None:
    assert provider_spec("apns").client_token("ab" * 32, None, None) == "ab" * 32
    assert provider_spec("webpush").client_token("https://push.example/x", "P", None) == {
        "endpoint": "https://push.example/x", "keys": {"p256dh": "P", "auth": ""},
    }


def test_a_spec_builds_its_client_from_stored_credentials() -> None:
    from pushgate.providers.wns.client import WNS

    client = provider_spec("wns").build_client(
        {"client_id": "ms-app://s-1", "client_secret": "s"}, Endpoint(token_url="https://login.example/t"),
        concurrency=3, max_retries=0,
    )
    assert isinstance(client, WNS)
    assert (client.concurrency, client.max_retries) == (3, 0)
    assert client.auth.token_url == "https://login.example/t"


def test_looking_specs_up_loads_no_send_stack() -> None:
    child = (
        "import sys\n"
        "from pushgate.providers import PROVIDER_NAMES, provider_spec\n"
        "for name in PROVIDER_NAMES:\n"
        "    provider_spec(name)\n"
        "heavy = ('cryptography', 'httpx', 'h2', 'jwt', 'pushgate.transport', 'pushgate.crypto')\n"
        "print(sorted(m for m in sys.modules if m.startswith(heavy) or m.endswith('.client')))\n"
    )
    done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(("config", "field"), [
    ({"base_url": "not a url"}, "base_url"),
    ({"token_url": 5}, "token_url"),
    ({"ca_file": ["x"]}, "ca_file"),
    ({"allowed_hosts": "push.example"}, "allowed_hosts"),
    ({"allowed_hosts": ["ok", ""]}, "allowed_hosts"),
    ({"topic": 5}, "topic"),
])
def test_endpoint_overrides_and_text_fields_are_checked_for_every_provider(
    config: dict[str, object], field: str
) -> None:
    with pytest.raises(CredentialError) as info:
        check_overrides(config, provider_spec("apns").text_fields)
    assert info.value.field == field
    check_overrides({"base_url": "https://127.0.0.1:9", "allowed_hosts": ["127.0.0.1:9"], "ca_file": None})


def test_vendor_documents_become_credential_fields() -> None:
    google_key_file = {"type": "service_account", "project_id": "p", "client_email": "e", "private_key": "k"}
    assert provider_spec("fcm").from_vendor_document(dict(google_key_file)) == {
        "service_account": google_key_file,
    }
    given = {"service_account": google_key_file, "project_id": "p"}
    assert provider_spec("fcm").from_vendor_document(dict(given)) == given
    assert provider_spec("apns").from_vendor_document({"key": "k"}) == {"key": "k"}


def test_key_files_fill_the_fields_their_provider_reads() -> None:
    apns = provider_spec("apns").key_file_fields
    assert apns is not None
    assert apns("-----BEGIN PRIVATE KEY-----\n…") == {"key": "-----BEGIN PRIVATE KEY-----\n…"}
    certificate = "-----BEGIN CERTIFICATE-----\n…\n-----BEGIN PRIVATE KEY-----\n…"
    assert apns(certificate) == {"certificate": certificate, "certificate_key": certificate}
    fcm = provider_spec("fcm").key_file_fields
    assert fcm is not None
    assert fcm('{"type": "service_account"}') == {"service_account": {"type": "service_account"}}
    with pytest.raises(CredentialError, match="service-account JSON"):
        fcm("not json")
    webpush = provider_spec("webpush").key_file_fields
    assert webpush is not None
    assert webpush("PEM") == {"vapid_private_key": "PEM"}
    assert provider_spec("wns").key_file_fields is None
