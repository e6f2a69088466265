"""``POST /v1/audience``: how many devices and users a target reaches, without sending.

The body is a send's target narrowed to what Pushpad users count by —
``tags`` (an expression, or a list OR-ed), ``uids``, ``providers``,
``platforms`` — and the answer comes from the same SQL a send's fan-out
runs (:mod:`pushgate.registry.audience`), so the count is what a send now
would reach.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from pushgate.registry import Target, ValidationError
from pushgate.registry.audience import measure_audience, reached_users
from pushgate.registry.constants import Platform, ProviderName
from pushgate.server.deps import AppId, ServicesDep

router = APIRouter(prefix="/v1", tags=["audience"])


class AudienceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tags: list[str] | str | None = Field(None, description=(
        "A tag expression (\"a && !b || c\"), or a list of them OR-ed (docs/targeting.md)"))
    uids: list[str] | None = Field(None, description="Only these users (the app's user ids)")
    providers: list[ProviderName] | None = None
    platforms: list[Platform] | None = None
    topic: str | None = Field(None, description="Skip users who opted out of this topic")

    def target(self) -> dict[str, Any]:
        target: dict[str, Any] = {"users": self.uids} if self.uids else {"all": True}
        for name in ("tags", "providers", "platforms", "topic"):
            value = getattr(self, name)
            if value:
                target[name] = [str(item) for item in value] if isinstance(value, list) else value
        return target


class AudienceOut(BaseModel):
    devices: int = Field(description="Active devices a send to this target would reach now")
    users: int = Field(description="Distinct users owning those devices")
    uids: list[str] | None = Field(None, description="With uids: those of them that would be reached")


@router.post("/audience", response_model=AudienceOut, response_model_exclude_none=True,
             summary="Count the devices and users a target reaches, without sending")
def audience(body: AudienceIn, app_id: AppId, svc: ServicesDep) -> AudienceOut:
    try:
        target = Target.parse(body.target())
    except ValidationError as exc:  # the target's field names, as this body spells them
        field = exc.field.removeprefix("target.").replace("users", "uids", 1)
        raise ValidationError(field, exc.message) from None
    with svc.db.session(write=False) as session:
        counted = measure_audience(session, app_id, target)
        uids = reached_users(session, app_id, target) if body.uids else None
    return AudienceOut(devices=counted.devices, users=counted.users, uids=uids)
