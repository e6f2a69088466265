"""Pushpad's projects API: a project is a pushgate app.

Creating or deleting one is an account-level call (the admin token); an
app's API key reads and changes its own project. The project's website and
sender are kept with the app; its notification defaults (icon, badge, TTL,
require-interaction; the website as target URL) become the app's
notification defaults; a sender's VAPID key becomes the app's Web Push
credentials, with the website (an https: URL) or ``mailto:`` an address at
its host as the VAPID subject.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from pushgate.registry import create_app, delete_app, get_app, list_apps, set_credentials
from pushgate.registry.app_defaults import checked_defaults, notification_defaults, set_app_defaults
from pushgate.registry.models import App
from pushgate.registry.pushpad_store import project_attributes, sender_private_key, set_project_attributes
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.pushpad.auth import Caller, CallerDep
from pushgate.server.pushpad.senders import find_sender
from pushgate.server.pushpad.shapes import project_json

router = APIRouter(tags=["pushpad"])
ProjectId = Annotated[int, Path(ge=1)]
# Pushpad's project field → pushgate's notification default.
_DEFAULTS = {"icon_url": "icon", "badge_url": "badge_image", "notifications_ttl": "ttl",
             "notifications_require_interaction": "require_interaction"}


class ProjectPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)
    website: str | None = Field(None, min_length=1, max_length=2000)
    icon_url: str | None = None
    badge_url: str | None = None
    notifications_ttl: int | None = Field(None, ge=0)
    notifications_require_interaction: bool | None = None
    notifications_silent: bool | None = None


class ProjectIn(ProjectPatch):
    sender_id: int = Field(ge=1)
    name: str = Field(min_length=1, max_length=200)
    website: str = Field(min_length=1, max_length=2000)


def vapid_subject(website: str) -> str:
    """The VAPID ``sub`` claim for a project: its https: website, else mailto: an address at its host."""
    parts = urlsplit(website)
    if parts.scheme == "https" and parts.hostname and parts.hostname != "localhost":
        return website
    return f"mailto:webpush@{parts.hostname or 'localhost'}"


def _apply(session: Session, app: App, body: ProjectPatch) -> None:
    given = body.model_fields_set
    defaults = notification_defaults(session, app.id)
    for theirs, ours in _DEFAULTS.items():
        if theirs in given:
            value = getattr(body, theirs)
            if value is None:
                defaults.pop(ours, None)
            else:
                defaults[ours] = value
    if "website" in given and body.website:
        defaults["url"] = body.website  # Pushpad: target_url defaults to the project's website
        set_project_attributes(session, app.id, website=body.website)
    if "notifications_silent" in given:
        set_project_attributes(session, app.id, notifications_silent=bool(body.notifications_silent))
    if "name" in given and body.name and body.name != app.name:
        app.name = body.name
    set_app_defaults(session, app.id, notification=checked_defaults(defaults))


def _json(session: Session, app: App) -> dict[str, Any]:
    return project_json(app, project_attributes(app), notification_defaults(session, app.id))


def _project(session: Session, caller: Caller, project_id: int) -> App:
    app = get_app(session, project_id)
    if app is None or (not caller.admin and app.id != caller.app_id):
        raise ApiError(404, "not_found", "project not found")
    return app


@router.get("/projects", summary="Projects (Pushpad): every app, or the key's own")
def list_(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    with svc.db.session(write=False) as session:
        apps = list_apps(session) if caller.admin else [_project(session, caller, caller.app_id or 0)]
        return [_json(session, app) for app in apps]


@router.post("/projects", status_code=201, summary="Create a project (Pushpad): a new app")
def create(body: ProjectIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    caller.require_account()
    with svc.db.session() as session:
        sender = find_sender(session, body.sender_id)
        app, _key = create_app(session, body.name)  # the first API key is not shown: the admin token acts
        set_project_attributes(session, app.id, sender_id=sender.id)
        vapid = {"vapid_private_key": sender_private_key(sender, svc.cipher),
                 "vapid_subject": vapid_subject(body.website)}
        set_credentials(session, app.id, "webpush", vapid, cipher=svc.cipher)
        _apply(session, app, body)
        return _json(session, app)


@router.get("/projects/{project_id}", summary="A project (Pushpad)")
def get(project_id: ProjectId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    with svc.db.session(write=False) as session:
        return _json(session, _project(session, caller, project_id))


@router.patch("/projects/{project_id}", summary="Change a project (Pushpad)")
def update(project_id: ProjectId, body: ProjectPatch, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    with svc.db.session() as session:
        app = _project(session, caller, project_id)
        _apply(session, app, body)
        return _json(session, app)


@router.delete("/projects/{project_id}", status_code=204, summary="Delete a project and everything it owns")
def delete(project_id: ProjectId, caller: CallerDep, svc: ServicesDep) -> Response:
    caller.require_account()
    with svc.db.session() as session:
        _project(session, caller, project_id)
        delete_app(session, project_id)
    return Response(status_code=204)
