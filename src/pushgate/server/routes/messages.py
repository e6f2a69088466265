"""``/v1/messages``: the app's message catalog for event mode (docs/events.md §1).

A message is addressed by its name; ``PUT`` creates or replaces it (201 or
200), its localizations are sub-resources, and ``POST …/preview`` renders
it for a user or a locale and builds it for each provider, with the
payload's size against the provider's limit. Templates are parsed when
saved: a syntax error is a 422 naming the field. A user's message opt-outs
(the set the opt-out event replaces) are at
``/v1/users/{external_id}/message-optouts``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from pushgate.registry import NotFound, ensure_users, get_user
from pushgate.registry.catalog.decide import replace_optouts, user_optout_ids
from pushgate.registry.catalog.messages import (
    delete_localization,
    delete_message,
    get_message,
    list_messages,
    message_ids,
    message_names,
)
from pushgate.registry.constants import MAX_EXTERNAL_ID_LENGTH
from pushgate.registry.users import validate_external_id
from pushgate.server.deps import AppId, ServicesDep
from pushgate.server.errors import ApiError
from pushgate.server.event_schemas import (
    LocalizationIn,
    MessageIn,
    MessageOptOutsIn,
    MessageOptOutsOut,
    MessageOut,
    PreviewIn,
    PreviewOut,
)
from pushgate.service.catalog import message_json, save_localization, save_message
from pushgate.service.preview import preview_message

router = APIRouter(prefix="/v1", tags=["messages"])
Name = Annotated[str, Path(min_length=1, max_length=100, description="The message's name")]
Language = Annotated[str, Path(min_length=1, max_length=35, description="A language tag: en, fr, pt-BR")]
ExternalId = Annotated[
    str, Path(min_length=1, max_length=MAX_EXTERNAL_ID_LENGTH, description="The app's id for the user"),
]


def _missing(kind: str = "message") -> ApiError:
    return ApiError(404, "not_found", f"{kind} not found", field="path.name" if kind == "message" else None)


@router.get("/messages", response_model=list[MessageOut], summary="The app's message catalog")
def list_(app_id: AppId, svc: ServicesDep) -> list[MessageOut]:
    with svc.db.session(write=False) as session:
        return [MessageOut.model_validate(message_json(view)) for view in list_messages(session, app_id)]


@router.get("/messages/{name}", response_model=MessageOut, summary="A message and its localizations")
def get(name: Name, app_id: AppId, svc: ServicesDep) -> MessageOut:
    with svc.db.session(write=False) as session:
        view = get_message(session, app_id, name)
    if view is None:
        raise _missing()
    return MessageOut.model_validate(message_json(view))


@router.put("/messages/{name}", response_model=MessageOut, summary="Create or replace a message",
            responses={201: {"model": MessageOut, "description": "The message was created"}})
def put(name: Name, body: MessageIn, app_id: AppId, svc: ServicesDep, response: Response) -> MessageOut:
    data = body.model_dump(mode="json", exclude_unset=True)
    with svc.db.session() as session:
        view, created = save_message(session, app_id, name, data)
    response.status_code = 201 if created else 200
    return MessageOut.model_validate(message_json(view))


@router.delete("/messages/{name}", status_code=204, summary="Delete a message and its localizations")
def delete(name: Name, app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        if not delete_message(session, app_id, name):
            raise _missing()
    return Response(status_code=204)


@router.get("/messages/{name}/localizations", response_model=dict[str, LocalizationIn],
            summary="A message's localizations, by language")
def localizations(name: Name, app_id: AppId, svc: ServicesDep) -> dict[str, LocalizationIn]:
    with svc.db.session(write=False) as session:
        view = get_message(session, app_id, name)
    if view is None:
        raise _missing()
    return {lang: LocalizationIn(title=t.title, body=t.body) for lang, t in view.localizations.items()}


@router.get("/messages/{name}/localizations/{language}", response_model=LocalizationIn,
            summary="One localization of a message")
def get_localization(name: Name, language: Language, app_id: AppId, svc: ServicesDep) -> LocalizationIn:
    with svc.db.session(write=False) as session:
        view = get_message(session, app_id, name)
    if view is None:
        raise _missing()
    text = view.localizations.get(language.replace("_", "-").lower())
    if text is None:
        raise ApiError(404, "not_found", "localization not found", field="path.language")
    return LocalizationIn(title=text.title, body=text.body)


@router.put("/messages/{name}/localizations/{language}", response_model=LocalizationIn,
            summary="Create or replace one localization",
            responses={201: {"model": LocalizationIn, "description": "The localization was created"}})
def put_localization(name: Name, language: Language, body: LocalizationIn, app_id: AppId, svc: ServicesDep,
                     response: Response) -> LocalizationIn:
    try:
        with svc.db.session() as session:
            created = save_localization(session, app_id, name, language, body.model_dump())
    except NotFound:
        raise _missing() from None
    response.status_code = 201 if created else 200
    return body


@router.delete("/messages/{name}/localizations/{language}", status_code=204,
               summary="Delete one localization")
def delete_localization_(name: Name, language: Language, app_id: AppId, svc: ServicesDep) -> Response:
    with svc.db.session() as session:
        if not delete_localization(session, app_id, name, language.replace("_", "-").lower()):
            raise ApiError(404, "not_found", "localization not found", field="path.language")
    return Response(status_code=204)


@router.post("/messages/{name}/preview", response_model=PreviewOut,
             summary="Render a message for a user or locale, per provider, with its size")
def preview(name: Name, body: PreviewIn, app_id: AppId, svc: ServicesDep) -> PreviewOut:
    try:
        shown = preview_message(svc, app_id, name, user_id=body.user_id, locale=body.locale,
                                params=body.params)
    except NotFound as exc:
        raise _missing(exc.kind) from None
    return PreviewOut.model_validate(shown, from_attributes=True)


@router.get("/users/{external_id}/message-optouts", response_model=MessageOptOutsOut,
            summary="The messages a user does not want")
def optouts(external_id: ExternalId, app_id: AppId, svc: ServicesDep) -> MessageOptOutsOut:
    with svc.db.session(write=False) as session:
        user = get_user(session, app_id, external_id)
        if user is None:
            raise ApiError(404, "not_found", "user not found", field="path.external_id")
        ids = user_optout_ids(session.connection(), user.id)
        names = message_names(session, app_id, ids)
    return MessageOptOutsOut(messages=sorted(names[i] for i in ids if i in names))


@router.put("/users/{external_id}/message-optouts", response_model=MessageOptOutsOut,
            summary="Replace the messages a user does not want")
def set_optouts(external_id: ExternalId, body: MessageOptOutsIn, app_id: AppId,
                svc: ServicesDep) -> MessageOptOutsOut:
    validate_external_id(external_id, "path.external_id")
    with svc.db.session() as session:
        found = message_ids(session, app_id, body.messages)
        unknown = sorted(set(body.messages) - set(found))
        if unknown:
            raise ApiError(422, "validation_error", f"unknown messages: {', '.join(unknown[:10])}",
                           field="body.messages")
        user_id = ensure_users(session, app_id, [external_id])[external_id]
        replace_optouts(session.connection(), user_id, found.values())
    return MessageOptOutsOut(messages=sorted(found))
