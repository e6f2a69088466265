"""The fields a request body allows at a given place, read from the route's pydantic model.

Used to word a 422 for an unknown field: pydantic reports where the extra
field is (``("body", "notification", "titel")``) but not which fields the
object has, so the route's body model is walked along that location —
through nested models, ``Optional``/unions, ``Annotated`` and list or dict
items — to the model the field was found in (:func:`pushgate.field_names.fields_at`).
Where the walk cannot tell (a ``dict[str, Any]`` checked by hand, a route
without a body model), no names are returned and the message simply names
the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request

from pushgate.field_names import fields_at, unknown_field_hint


def allowed_fields(request: Request, location: Sequence[int | str]) -> list[str]:
    """The field names of the object holding ``location``'s last part, as the JSON spells them."""
    annotation = _body_annotation(request, location)
    return [] if annotation is None else fields_at(annotation, location[1:])


def unknown_hint(request: Request, location: Sequence[int | str]) -> str:
    """What follows "unknown field 'x'" for the body field at ``location``
    (:func:`pushgate.field_names.unknown_field_hint`); ``""`` where the walk cannot tell."""
    annotation = _body_annotation(request, location)
    return "" if annotation is None else unknown_field_hint(annotation, location[1:])


def _body_annotation(request: Request, location: Sequence[int | str]) -> Any:
    """The route's body model when ``location`` is inside the body, else None."""
    body = getattr(request.scope.get("route"), "body_field", None)
    info = getattr(body, "field_info", None)
    if info is None or len(location) < 2 or location[0] != "body":
        return None
    return info.annotation


__all__ = ["allowed_fields", "unknown_hint"]
