"""The fields a request body allows at a given place, read from the route's pydantic model.

Used to word a 422 for an unknown field: pydantic reports where the extra
field is (``("body", "notification", "titel")``) but not which fields the
object has, so the route's body model is walked along that location —
through nested models, ``Optional``/unions, ``Annotated`` and list or dict
items — to the model the field was found in. Where the walk cannot tell
(a ``dict[str, Any]`` checked by hand, a route without a body model), no
names are returned and the message simply names the field.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi import Request
from pydantic import BaseModel

_ITEMS = (list, tuple, set, frozenset, Sequence)


def allowed_fields(request: Request, location: Sequence[int | str]) -> list[str]:
    """The field names of the object holding ``location``'s last part, as the JSON spells them."""
    body = getattr(request.scope.get("route"), "body_field", None)
    info = getattr(body, "field_info", None)
    if info is None or len(location) < 2 or location[0] != "body":
        return []
    current = _types(info.annotation)
    for part in location[1:-1]:
        current = [inner for kind in current for inner in _inside(kind, part)]
    names: dict[str, None] = {}
    for kind in current:
        if _is_model(kind):
            names.update((field.alias or name, None) for name, field in kind.model_fields.items())
    return list(names)


def _types(annotation: Any) -> list[Any]:
    """What a value of ``annotation`` can be: a union's members, ``Annotated``'s type."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [kind for member in get_args(annotation) for kind in _types(member)]
    return [annotation]


def _inside(kind: Any, part: int | str) -> list[Any]:
    """The types found at ``part`` (a field name or a list index) inside a value of ``kind``."""
    origin, args = get_origin(kind), get_args(kind)
    if isinstance(part, int):
        return _types(args[0]) if origin in _ITEMS and args else []
    if _is_model(kind):
        return [
            kind
            for name, field in kind.model_fields.items()
            if part in (name, field.alias)
            for kind in _types(field.annotation)
        ]
    if origin in (dict, Mapping) and len(args) == 2:  # dict[str, Model]: the key is data, not a field
        return _types(args[1])
    return []


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


__all__ = ["allowed_fields"]
