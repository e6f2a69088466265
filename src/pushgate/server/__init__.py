"""The HTTP API (FastAPI): devices, users, sends and their status, apps and credentials.

``create_app(settings)`` builds the ASGI app; ``pushgate serve`` runs it with
uvicorn and the sender workers. Importing this package does not import
FastAPI (the admin commands check credentials with
:mod:`pushgate.server.credentials` without it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr

if TYPE_CHECKING:
    from pushgate.server.app import create_app

__all__ = ["create_app"]


__getattr__ = lazy_getattr(__name__, {"create_app": "pushgate.server.app"})
