"""Client TLS contexts for provider connections.

Every provider client takes ``ssl_context=`` or ``ca_file=`` so it can be
pointed at a simulator or a private proxy; by default the system trust store
is used. APNs certificate auth adds a client certificate.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from pathlib import Path


def client_context(
    *,
    ca_file: str | Path | None = None,
    alpn: Sequence[str] = ("h2",),
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    key_password: str | None = None,
) -> ssl.SSLContext:
    """A verifying client context (TLS 1.2+), trusting ``ca_file`` if given."""
    ctx = ssl.create_default_context(cafile=str(ca_file) if ca_file is not None else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if cert_file is not None:
        ctx.load_cert_chain(
            str(cert_file), str(key_file) if key_file is not None else None, password=key_password
        )
    return ctx
