"""The API's routers, one module per resource."""

from fastapi import APIRouter

from pushgate.server.routes import apps, devices, health, sends, users

ROUTERS: tuple[APIRouter, ...] = (
    health.router,
    apps.own,
    apps.admin,
    devices.router,
    users.router,
    sends.router,
)

__all__ = ["ROUTERS"]
