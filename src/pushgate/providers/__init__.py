"""Provider clients (APNs, FCM HTTP v1, Web Push, WNS) and the provider table.

Each provider is one package, ``pushgate.providers.<name>``, with the same
modules in each: ``client`` (the :class:`Provider`), ``auth``, ``payload``
(``build_payload``), ``outcomes`` (``classify``), ``credentials``
(``check_stored``, ``validate``) and ``spec`` (its :class:`ProviderSpec`).

The table below is the only place that lists them: the server, the workers
and the CLI call :func:`provider_spec` and never switch on a name. A
provider's spec module is imported on first lookup, so a process that never
touches a provider (an idle API server) never loads its package.
"""

from __future__ import annotations

import importlib

from pushgate.providers._base import Message, Provider
from pushgate.providers._credentials import check_overrides
from pushgate.providers._spec import (
    CredentialError,
    CredentialField,
    DeviceToken,
    Endpoint,
    ProviderSpec,
    TokenError,
    UnknownProvider,
)

# name → the module that defines its SPEC. Adding a provider: its package and one line here.
_SPEC_MODULES: dict[str, str] = {
    "apns": "pushgate.providers.apns.spec",
    "fcm": "pushgate.providers.fcm.spec",
    "webpush": "pushgate.providers.webpush.spec",
    "wns": "pushgate.providers.wns.spec",
}

PROVIDER_NAMES: tuple[str, ...] = tuple(_SPEC_MODULES)
# Specs already imported: a bulk import looks one up per row, and import_module costs microseconds.


def provider_spec(name: str) -> ProviderSpec:
    """The spec of the provider called ``name``.

    :raises UnknownProvider: no provider has that name (a ConfigurationError).
    """
    spec = _SPECS.get(name)
    if spec is None:
        module = _SPEC_MODULES.get(name)
        if module is None:
            raise UnknownProvider(name, PROVIDER_NAMES)
        spec = _SPECS[name] = importlib.import_module(module).SPEC
    return spec


# Looked up once per device on the delivery path: import_module on every call cost about 1 us.
_SPECS: dict[str, ProviderSpec] = {}


def subscription_spec() -> ProviderSpec:
    """The spec of the provider whose devices register as a browser ``PushSubscription``.

    :raises LookupError: no provider takes subscriptions.
    """
    for name in PROVIDER_NAMES:
        spec = provider_spec(name)
        if spec.parse_subscription is not None:
            return spec
    raise LookupError("no provider takes browser subscriptions")


__all__ = [
    "PROVIDER_NAMES",
    "CredentialError",
    "CredentialField",
    "DeviceToken",
    "Endpoint",
    "Message",
    "Provider",
    "ProviderSpec",
    "TokenError",
    "UnknownProvider",
    "check_overrides",
    "provider_spec",
    "subscription_spec",
]
