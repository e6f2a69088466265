"""The endpoint hosts an app's own credentials allow, added to the server's at registration.

Web Push and WNS credentials may carry ``allowed_hosts`` and a ``base_url``
(the app's private push service, a proxy, a simulator). The workers' clients
call those hosts for that app (``workers/clients.py``), so a device on them
must be registrable for that app too, and only for it. They add to the
built-in push services and the server's ``providers.<name>`` hosts, never
replace them.

Neither field is a secret (``registry/_redact.py``), so they are read as
stored, without the credentials cipher.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pushgate.allowed_hosts import readable
from pushgate.providers import provider_spec
from pushgate.registry.constants import ProviderName
from pushgate.registry.credential_cipher import is_sealed
from pushgate.registry.models import Credentials
from pushgate.registry.validation import ValidationPolicy
from pushgate.service.settings import ProviderEndpoint

__all__ = ["credential_hosts", "with_app_hosts"]


@functools.cache
def _endpoint_providers() -> tuple[str, ...]:
    """The providers whose tokens are endpoint URLs checked against an allow-list. Asked on
    first use: reading every provider's spec at import would load the provider packages
    into an idle ``pushgate serve`` (tests/cli/test_cli_serve_imports.py)."""
    return tuple(p.value for p in ProviderName if provider_spec(p.value).default_hosts)


def credential_hosts(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The hosts a credentials config adds: ``allowed_hosts`` and ``base_url``'s ``host[:port]``.

    Read as the server's own ``providers.<name>`` settings are (``ProviderEndpoint``),
    so both name hosts the same way. A value not of the shape the API checks
    (``check_overrides``), in a row stored without that check, adds nothing
    rather than failing a registration.
    """
    hosts = config.get("allowed_hosts")
    base_url = config.get("base_url")
    if isinstance(hosts, list):
        hosts = [h for h in hosts if isinstance(h, str) and not is_sealed(h) and readable(h)]
    else:
        hosts = None
    if not isinstance(base_url, str) or is_sealed(base_url):
        base_url = None
    try:
        return ProviderEndpoint(allowed_hosts=hosts, base_url=base_url).added_hosts()
    except ValueError:  # the base_url is not a URL the settings would take: it adds nothing
        return ProviderEndpoint(allowed_hosts=hosts).added_hosts()


def with_app_hosts(
    session: Session, app_id: int, policy: ValidationPolicy, provider: str | None = None
) -> ValidationPolicy:
    """``policy`` plus the hosts of the app's credentials (of ``provider``, or of every
    provider whose tokens are endpoints)."""
    providers = (provider,) if provider is not None else _endpoint_providers()
    rows = session.execute(
        select(Credentials.provider, Credentials.config)
        .where(Credentials.app_id == app_id, Credentials.provider.in_(providers))
    )
    for name, config in rows:
        hosts = credential_hosts(config)
        if hosts:
            policy = policy.adding(name, hosts)
    return policy
