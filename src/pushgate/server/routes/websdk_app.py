"""The app's own Web SDK settings and VAPID key (API key auth).

- ``GET /v1/app/vapid``: the VAPID public key of the app's Web Push
  credentials — what a page passes to ``pushManager.subscribe`` as
  ``applicationServerKey`` (pushgate.js fetches it itself from the public
  route).
- ``GET /v1/app/websdk``: the public id, allowed origins and whether uid
  signatures are required (the secret is never shown again).
- ``PUT /v1/app/websdk``: create or change them; the answer shows the
  secret once when it is created or rotated (``"rotate_secret": true``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body
from pydantic import BaseModel, Field

from pushgate.registry.websdk import MAX_ORIGINS, configure_web_sdk, get_web_sdk, vapid_public_key
from pushgate.registry.websdk_tables import WebSdkConfig
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import ApiError

router = APIRouter(prefix="/v1/app", tags=["apps"])


class AppVapidOut(BaseModel):
    public_key: str = Field(description="base64url uncompressed P-256 point (applicationServerKey)")


class WebSdkIn(BaseModel):
    model_config = {"extra": "forbid"}

    allowed_origins: list[str] | None = Field(
        None, max_length=MAX_ORIGINS, description="Pages allowed to use the public routes: https://host[:port]")
    require_uid_signature: bool | None = Field(
        None, description="Refuse to attach a subscription to a uid without its HMAC signature")
    rotate_secret: bool = Field(
        False, description="Replace the secret (old uid signatures and user tokens stop working)")


class WebSdkOut(BaseModel):
    public_id: str
    allowed_origins: list[str]
    require_uid_signature: bool
    secret: str | None = Field(None, description="Shown only when created or rotated")

    @classmethod
    def of(cls, config: WebSdkConfig, secret: str | None = None) -> WebSdkOut:
        return cls(public_id=config.public_id, allowed_origins=list(config.allowed_origins or []),
                   require_uid_signature=config.require_uid_signature, secret=secret)


@router.get("/vapid", response_model=AppVapidOut, summary="The app's VAPID public key")
def vapid(app_id: AppId, svc: ServicesDep) -> AppVapidOut:
    with svc.db.session(write=False) as session:
        key = vapid_public_key(session, app_id, svc.cipher)
    if key is None:
        raise ApiError(404, "not_found",
                       "the app has no Web Push credentials (pushgate vapid generate --app NAME)")
    return AppVapidOut(public_key=key)


@router.get("/websdk", response_model=WebSdkOut, summary="The app's Web SDK settings")
def get_settings(app_id: AppId, svc: ServicesDep) -> WebSdkOut:
    with svc.db.session(write=False) as session:
        config = get_web_sdk(session, app_id)
        if config is None:
            raise ApiError(404, "not_found", "the Web SDK is not set up for this app: PUT /v1/app/websdk")
        return WebSdkOut.of(config)


@router.put("/websdk", response_model=WebSdkOut, summary="Set up or change the app's Web SDK settings")
def put_settings(body: Annotated[WebSdkIn, Body()], app_id: AppId, svc: ServicesDep) -> WebSdkOut:
    with svc.db.session() as session:
        config, secret = configure_web_sdk(
            session, app_id, svc.cipher, allowed_origins=body.allowed_origins,
            require_uid_signature=body.require_uid_signature, rotate_secret=body.rotate_secret,
        )
        return WebSdkOut.of(config, secret)
