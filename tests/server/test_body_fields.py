"""The fields a body allows at the place of an unknown one: walked from the route's model."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, Any

from fastapi import Request
from pydantic import BaseModel, Field

from pushgate.field_names import HeldFields
from pushgate.server.body_fields import allowed_fields, unknown_hint


class Inner(BaseModel):
    title: str | None = None
    body: str | None = None


class Other(BaseModel):
    url: str


class Outer(BaseModel):
    notification: Inner
    items: list[Inner] = []
    maybe: Annotated[Inner | Other | None, Field(description="either")] = None
    by_name: dict[str, Other] = {}
    aliased: Inner | None = Field(default=None, alias="aka")
    free: dict[str, Any] = {}
    checked: Annotated[dict[str, Any], HeldFields(frozenset({"colour"}))] = {}


def request_for(model: Any) -> Request:
    route = SimpleNamespace(body_field=SimpleNamespace(field_info=SimpleNamespace(annotation=model)))
    return Request({"type": "http", "route": route})


def test_the_walk_follows_models_lists_unions_dicts_and_aliases() -> None:
    request = request_for(Outer)
    assert allowed_fields(request, ("body", "x")) == [
        "notification", "items", "maybe", "by_name", "aka", "free", "checked"
    ]
    assert allowed_fields(request, ("body", "notification", "titel")) == ["title", "body"]
    assert allowed_fields(request, ("body", "items", 3, "titel")) == ["title", "body"]
    assert allowed_fields(request, ("body", "maybe", "x")) == ["title", "body", "url"]
    assert allowed_fields(request, ("body", "by_name", "anything", "x")) == ["url"]
    assert allowed_fields(request, ("body", "aka", "x")) == ["title", "body"]


def test_where_the_walk_cannot_tell_it_returns_nothing() -> None:
    request = request_for(Outer)
    assert allowed_fields(request, ("body", "free", "x")) == []  # a dict checked by hand
    assert allowed_fields(request, ("body", "notification", "title", "deeper")) == []
    assert allowed_fields(request, ("query", "x")) == []
    assert allowed_fields(Request({"type": "http"}), ("body", "x")) == []  # no route


def test_a_field_one_level_too_high_is_told_the_object_it_goes_under() -> None:
    request = request_for(Outer)
    assert unknown_hint(request, ("body", "zzzzz")) == ""  # nothing close, and no object has it
    assert unknown_hint(request, ("body", "body")) == "; put it under 'notification'"
    assert unknown_hint(request, ("body", "colour")) == "; put it under 'checked'"  # declared by hand
    assert unknown_hint(request, ("body", "url")) == "; put it under 'maybe'"  # a union's member
    assert unknown_hint(request, ("body", "notificatio")) == "; did you mean 'notification'?"
    assert unknown_hint(request, ("body", "notification", "title", "deeper")) == ""
    assert unknown_hint(request, ("query", "title")) == ""
