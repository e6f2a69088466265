"""A TLS certificate that cannot be verified is configuration, not a passing fault.

The transport reports it as a failed connection (``ConnectFailed``, an
``httpx.ConnectError``), which the providers would retry. No retry fixes an
untrusted CA or a wrong host name, so at the provider boundary the cause
chain is searched for :class:`ssl.SSLCertVerificationError` and the outcome
becomes ``failed`` with ``cause: config``, tried once.
"""

from __future__ import annotations

import ssl

from pushgate.results import Cause, Status, TokenResult

REASON = "CertificateVerifyFailed"
DETAIL_LIMIT = 300


def certificate_failure(exc: BaseException | None) -> str | None:
    """OpenSSL's verification message when ``exc`` or anything that caused it is one."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLCertVerificationError):
            return exc.verify_message or str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


def certificate_outcome(
    token: str, exc: BaseException | None, message_id: str | None = None
) -> TokenResult | None:
    """The ``failed``/``config`` outcome for a certificate failure; None for anything else."""
    message = certificate_failure(exc)
    if message is None:
        return None
    detail = (f"TLS certificate verification failed: {message}; for a private CA, a proxy or a "
              "simulator give ca_file= (providers.<name>.ca_file on the server)")
    return TokenResult(token, Status.FAILED, message_id=message_id, reason=REASON, cause=Cause.CONFIG,
                       detail=detail[:DETAIL_LIMIT])
