"""The overview: queue depth, recent throughput and outcome rates, pauses, expiring certificates.

Scoped like every page: the activity, pauses and certificates are those of
the apps this admin may see; the queue's depth (shared by every app) is
shown to superusers only.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from pushgate.admin.auth import SignedIn
from pushgate.admin.errors import PREFIX
from pushgate.admin.health import provider_health
from pushgate.admin.web import render
from pushgate.registry.admin_queries import recent_activity
from pushgate.registry.admin_users import visible_apps
from pushgate.registry.models import utcnow

router = APIRouter(prefix=PREFIX, include_in_schema=False)
WINDOWS = (("Last hour", timedelta(hours=1)), ("Last day", timedelta(days=1)))


@router.get("/")
def overview(admin: SignedIn) -> Response:
    now = utcnow()
    depths = admin.services.queue.depths() if admin.session.superuser else None
    paused: list[tuple[Any, Any]] = []
    expiring: list[tuple[Any, Any]] = []
    with admin.services.db.session(write=False) as session:
        apps = visible_apps(session, admin.session.app_ids)
        ids = [app.id for app in apps]
        activity = [(label, span, recent_activity(session, ids, now - span)) for label, span in WINDOWS]
        for app in apps:
            for health in provider_health(session, app.id, admin.services.cipher):
                if health.paused_until is not None:
                    paused.append((app, health))
                if health.expiry_warning:
                    expiring.append((app, health))
    return render(admin, "overview.html", apps=apps, depths=depths,
                  queue_total=sum(depths.values()) if depths is not None else None,
                  activity=activity, paused=paused, expiring=expiring)
