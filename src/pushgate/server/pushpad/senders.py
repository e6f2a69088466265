"""Pushpad's senders API: VAPID key pairs, managed with the admin token (account-level calls).

Keys are PEM, as Pushpad shows them; a sender created without keys gets a
new P-256 pair. The private key is stored sealed by the credential cipher
(:mod:`pushgate.registry.pushpad_store`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from pushgate.registry.pushpad_store import (
    create_sender,
    delete_sender,
    list_senders,
    rename_sender,
    sender_private_key,
)
from pushgate.registry.pushpad_tables import PushpadSender
from pushgate.server.deps import ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.pushpad.auth import CallerDep
from pushgate.server.pushpad.shapes import timestamp
from pushgate.service.components import Services

router = APIRouter(tags=["pushpad"])
SenderId = Annotated[int, Path(ge=1)]


class SenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    vapid_private_key: str | None = None
    vapid_public_key: str | None = None


class SenderPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200)


def sender_json(sender: PushpadSender, svc: Services) -> dict[str, Any]:
    return {"id": sender.id, "name": sender.name, "vapid_private_key": sender_private_key(sender, svc.cipher),
            "vapid_public_key": sender.vapid_public_key, "created_at": timestamp(sender.created_at)}


def find_sender(session: Session, sender_id: int) -> PushpadSender:
    sender = session.get(PushpadSender, sender_id)
    if sender is None:
        raise ApiError(404, "not_found", "sender not found")
    return sender


@router.get("/senders", summary="Senders (VAPID key pairs) (Pushpad)")
def list_(caller: CallerDep, svc: ServicesDep) -> list[dict[str, Any]]:
    caller.require_account()
    with svc.db.session(write=False) as session:
        return [sender_json(sender, svc) for sender in list_senders(session)]


@router.post("/senders", status_code=201, summary="Create a sender (Pushpad)")
def create(body: SenderIn, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    caller.require_account()
    with svc.db.session() as session:
        sender = create_sender(session, body.name, body.vapid_private_key, body.vapid_public_key, svc.cipher)
        return sender_json(sender, svc)


@router.get("/senders/{sender_id}", summary="A sender (Pushpad)")
def get(sender_id: SenderId, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    caller.require_account()
    with svc.db.session(write=False) as session:
        return sender_json(find_sender(session, sender_id), svc)


@router.patch("/senders/{sender_id}", summary="Rename a sender (Pushpad)")
def update(sender_id: SenderId, body: SenderPatch, caller: CallerDep, svc: ServicesDep) -> dict[str, Any]:
    caller.require_account()
    with svc.db.session() as session:
        sender = find_sender(session, sender_id)
        if body.name is not None:
            rename_sender(session, sender, body.name)
        return sender_json(sender, svc)


@router.delete("/senders/{sender_id}", status_code=204, summary="Delete a sender (Pushpad)")
def delete(sender_id: SenderId, caller: CallerDep, svc: ServicesDep) -> Response:
    caller.require_account()
    with svc.db.session() as session:
        delete_sender(session, find_sender(session, sender_id))
    return Response(status_code=204)
