"""``/sdk/v1/apps/{public_id}/…`` for browsers: the Web SDK's registration routes.

What ``pushgate.js`` calls from a page of one of the app's allowed origins
(no API key; see :mod:`pushgate.server.public_auth` and docs/websdk.md):

- ``GET …/vapid``: the app's VAPID public key (``applicationServerKey``);
- ``POST …/subscriptions``: store the browser's ``PushSubscription`` with
  its tags and, optionally, a user id — which needs the uid signature
  (:mod:`pushgate.uid_signature`) when the app requires one, and must be
  right whenever one is given;
- ``POST …/subscriptions/status``, ``…/tags``, ``…/unsubscribe``: read,
  retag or delete the subscription named by its endpoint. The endpoint is
  the capability: only the browser that holds the subscription knows it.

Bodies are JSON sent as ``text/plain`` (no CORS preflight); answers carry
``Access-Control-Allow-Origin`` for the page's origin.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from pushgate.registry import DeviceSpec, ValidationError, delete_device, find_device, register_device
from pushgate.registry.constants import MAX_EXTERNAL_ID_LENGTH
from pushgate.registry.devices import set_device_tags
from pushgate.registry.models import Device, utcnow
from pushgate.registry.validation import validate_tags
from pushgate.registry.websdk import vapid_public_key
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.public_auth import BrowserApp, PublicApp, ReaderApp
from pushgate.uid_signature import verify_signature

router = APIRouter(prefix="/sdk/v1/apps/{public_id}", tags=["web sdk: browsers"])

_WEBPUSH = "webpush"


class _Body(BaseModel):
    model_config = {"extra": "forbid"}


class WebSubscribeIn(_Body):
    subscription: dict[str, Any] = Field(description="PushSubscription.toJSON() as the browser gives it")
    uid: str | None = Field(None, min_length=1, max_length=MAX_EXTERNAL_ID_LENGTH,
                            description="The app's user id to attach the subscription to")
    uid_signature: str | None = Field(None, max_length=128, description="hex HMAC-SHA256 of uid")
    tags: list[str] | None = Field(None, description="Replaces the subscription's tags when given")


class EndpointIn(_Body):
    endpoint: str = Field(min_length=1, max_length=2048)


class WebTagsIn(EndpointIn):
    tags: list[str]


class WebSubscriptionOut(BaseModel):
    subscribed: bool
    id: int | None = None
    uid: str | None = None
    tags: list[str] = []


class VapidOut(BaseModel):
    public_key: str = Field(description="base64url, for pushManager.subscribe({applicationServerKey})")


@contextmanager
def _answer_errors(app: PublicApp) -> Iterator[None]:
    """Registry validation errors as 422 answers the page can read (with the CORS headers)."""
    try:
        yield
    except ValidationError as exc:
        raise ApiError(422, "validation_error", exc.message, field=f"body.{exc.field}",
                       headers=app.cors) from None


def _out(device: Device | None) -> WebSubscriptionOut:
    if device is None or not device.active:
        return WebSubscriptionOut(subscribed=False)
    return WebSubscriptionOut(subscribed=True, id=device.id, uid=device.user_external_id, tags=device.tags)


@router.get("/vapid", response_model=VapidOut, summary="The app's VAPID public key (public)")
def vapid(app: ReaderApp, svc: ServicesDep) -> VapidOut:
    with svc.db.session(write=False) as session:
        key = vapid_public_key(session, app.app_id, svc.cipher)
    if key is None:
        raise ApiError(404, "not_found", "the app has no Web Push credentials", headers=app.cors)
    return VapidOut(public_key=key)


@router.post("/subscriptions", response_model=WebSubscriptionOut, status_code=201,
             summary="Store a browser's push subscription (public)")
def subscribe(
    body: WebSubscribeIn, app: BrowserApp, svc: ServicesDep, response: Response
) -> WebSubscriptionOut:
    if body.uid is not None:
        if body.uid_signature is None and app.require_uid_signature:
            raise ApiError(403, "uid_signature_required", "this app requires a uid signature to attach a uid",
                           field="body.uid_signature", headers=app.cors)
        if body.uid_signature is not None and not verify_signature(app.secret, body.uid, body.uid_signature):
            raise ApiError(403, "uid_signature_invalid", "the uid signature does not match the uid",
                           field="body.uid_signature", headers=app.cors)
    elif body.uid_signature is not None:
        raise ApiError(422, "validation_error", "a uid signature needs the uid it signs",
                       field="body.uid", headers=app.cors)
    now = utcnow()
    with _answer_errors(app):
        spec = DeviceSpec.from_subscription(body.subscription, user=body.uid, platform="web", tags=body.tags)
        with svc.db.session() as session:
            device = register_device(session, app.app_id, spec, policy=svc.policy,
                                     default_max_devices=svc.settings.max_devices_per_user, now=now)
            out = _out(device)
            created = device.created_at == now
    response.status_code = 201 if created else 200
    return out


@router.post("/subscriptions/status", response_model=WebSubscriptionOut,
             summary="Whether pushgate holds this subscription (public)")
def status(body: EndpointIn, app: BrowserApp, svc: ServicesDep) -> WebSubscriptionOut:
    with svc.db.session(write=False) as session:
        return _out(find_device(session, app.app_id, body.endpoint, _WEBPUSH))


@router.post("/subscriptions/tags", response_model=WebSubscriptionOut,
             summary="Replace the subscription's tags (public)")
def set_tags(body: WebTagsIn, app: BrowserApp, svc: ServicesDep) -> WebSubscriptionOut:
    with _answer_errors(app), svc.db.session() as session:
        device = find_device(session, app.app_id, body.endpoint, _WEBPUSH)
        if device is None:
            raise ApiError(404, "not_found", "no subscription with this endpoint", field="body.endpoint",
                           headers=app.cors)
        set_device_tags(device, validate_tags(body.tags))
        device.updated_at = utcnow()
        session.flush()
        session.refresh(device)
        return _out(device)


@router.post("/subscriptions/unsubscribe", response_model=WebSubscriptionOut,
             summary="Delete the subscription (public)")
def unsubscribe(body: EndpointIn, app: BrowserApp, svc: ServicesDep) -> WebSubscriptionOut:
    with svc.db.session() as session:
        device = find_device(session, app.app_id, body.endpoint, _WEBPUSH)
        if device is not None:
            delete_device(session, app.app_id, device.id)
    return WebSubscriptionOut(subscribed=False)
