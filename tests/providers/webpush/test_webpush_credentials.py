"""Web Push credentials: the stored shape (registry) and the full check (API), in the provider's spec."""

from __future__ import annotations

from typing import Any

import pytest

from pushgate.crypto.vapid import VapidKey
from pushgate.providers import CredentialError, provider_spec

SPEC = provider_spec("webpush")


def vapid(**changes: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"vapid_private_key": VapidKey.generate().private_raw(),
                              "vapid_subject": "mailto:ops@example.com"}
    config.update(changes)
    return config


def test_stored_shape_needs_key_and_subject() -> None:
    assert SPEC.check_stored(vapid())
    for missing in ("vapid_private_key", "vapid_subject"):
        with pytest.raises(CredentialError) as info:
            SPEC.check_stored(vapid(**{missing: ""}))
        assert (info.value.field, info.value.message) == (missing, "required for webpush")


def test_validate_takes_a_raw_or_pem_key() -> None:
    key = VapidKey.generate()
    assert SPEC.validate(vapid(vapid_private_key=key.private_raw()))
    assert SPEC.validate(vapid(vapid_private_key=key.private_pem().decode()))


@pytest.mark.parametrize(("changes", "field"), [
    ({"vapid_private_key": " "}, "vapid_private_key"),
    ({"vapid_private_key": "AAAA"}, "vapid_private_key"),
    ({"vapid_subject": ""}, "vapid_subject"),
    ({"vapid_subject": "ops@example.com"}, "vapid_subject"),
])
def test_validate_names_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(CredentialError) as info:
        SPEC.validate(vapid(**changes))
    assert info.value.field == field
