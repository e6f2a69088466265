"""WNS credentials: the stored shape (registry) and the full check (API), in the provider's spec."""

from __future__ import annotations

import pytest

from pushgate.providers import CredentialError, provider_spec

SPEC = provider_spec("wns")


def test_client_id_and_secret_are_required() -> None:
    good = {"client_id": "ms-app://s-1-15-2-1", "client_secret": "secret", "tenant_id": None}
    assert SPEC.check_stored(dict(good)) == good
    assert SPEC.validate(dict(good)) == good
    for missing in ("client_id", "client_secret"):
        config = {**good, missing: "  "}
        with pytest.raises(CredentialError) as info:
            SPEC.validate(config)
        assert info.value.field == missing
        with pytest.raises(CredentialError) as info:
            SPEC.check_stored({**good, missing: ""})
        assert (info.value.field, info.value.message) == (missing, "required for wns")
