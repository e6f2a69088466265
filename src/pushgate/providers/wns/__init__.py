"""Windows Push Notification Services: HTTP/1.1, OAuth client credentials.

Modules: ``client`` (the provider), ``auth``, ``payload`` (``build_payload``),
``bodies`` (the toast, tile, badge and raw bodies it builds with),
``outcomes`` (``classify``), ``credentials`` (``check_stored``, ``validate``)
and ``spec`` (its entry in the provider table).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr

if TYPE_CHECKING:
    from pushgate.providers.wns.client import WNS


# The client is imported on first use: looking up the spec imports this
# package, and that must not load the send stack (HTTP/2, JWT, ECE).
_CLIENT = "pushgate.providers.wns.client"
__getattr__ = lazy_getattr(__name__, {"WNS": _CLIENT})

__all__ = ["WNS"]
