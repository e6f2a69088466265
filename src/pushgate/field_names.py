"""Naming the field a typo was meant to be: "unknown field 'plaform'; did you mean 'platform'?".

Requests reject unknown fields (a misspelt optional field silently ignored
is a notification sent without it), so the error should also say what was
probably meant; :func:`fields_at` reads the names a pydantic model allows
at the place of the unknown one. The guess is :func:`difflib.get_close_matches` with its
default similarity cutoff of 0.6: close enough for a dropped, doubled or
swapped letter, far enough that an unrelated name gets no guess.

A field with no close name beside it may be one of a nested object's, given
one level too high (``{"title": ..., "notification": {...}}``):
:func:`unknown_field_hint` then names the object it belongs under. An
object a route checks by hand (a ``dict[str, Any]``) declares its fields
with :class:`HeldFields` for that.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

_ITEMS = (list, tuple, set, frozenset, Sequence)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when one of ``known`` is close to ``name``, else ``""``."""
    match = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown_field(name: str, known: Iterable[str]) -> str:
    """The message for a field the object does not have, where the field is named elsewhere."""
    return f"unknown field{did_you_mean(name, known)}"


@dataclass(frozen=True)
class HeldFields:
    """``Annotated`` metadata of a field whose object is checked by hand (``dict[str, Any]``):
    the names that object takes, so one given beside it is told to go under it."""

    names: frozenset[str]


def unknown_field_hint(annotation: Any, location: Sequence[int | str]) -> str:
    """What follows "unknown field 'x'" for ``location`` inside a value of type ``annotation``:
    a did-you-mean among the fields beside it, else ``"; put it under 'notification'"`` when
    a field beside it holds an object taking that exact name, else ``""``."""
    name = str(location[-1])
    guess = did_you_mean(name, fields_at(annotation, location))
    if guess:
        return guess
    for kind in _holders(annotation, location):
        if not _is_model(kind):
            continue
        for field_name, field in kind.model_fields.items():
            if name in _held_names(field):
                return f"; put it under {field.alias or field_name!r}"
    return ""


def fields_at(annotation: Any, location: Sequence[int | str]) -> list[str]:
    """The field names (as JSON spells them: aliases) of the pydantic model holding ``location``'s
    last part inside a value of type ``annotation``; ``[]`` where that cannot be told.

    The walk follows nested models, ``Optional``/unions (their models' fields together),
    ``Annotated``, list items (an int part) and ``dict[str, Model]`` values.
    """
    names: dict[str, None] = {}
    for kind in _holders(annotation, location):
        if _is_model(kind):
            names.update((field.alias or name, None) for name, field in kind.model_fields.items())
    return list(names)


def _holders(annotation: Any, location: Sequence[int | str]) -> list[Any]:
    """The types of the value holding ``location``'s last part."""
    current = _types(annotation)
    for part in location[:-1]:
        current = [inner for kind in current for inner in _inside(kind, part)]
    return current


def _held_names(field: FieldInfo) -> set[str]:
    """The names the object of ``field`` takes: its models' fields, or its :class:`HeldFields`
    (a list or dict of objects does not count: the name would not go straight under it)."""
    names = {name for meta in field.metadata if isinstance(meta, HeldFields) for name in meta.names}
    for kind in _types(field.annotation):
        if _is_model(kind):
            names.update(inner.alias or name for name, inner in kind.model_fields.items())
    return names


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
            inner
            for name, field in kind.model_fields.items()
            if part in (name, field.alias)
            for inner in _types(field.annotation)
        ]
    if origin in (dict, Mapping) and len(args) == 2:  # dict[str, Model]: the key is data, not a field
        return _types(args[1])
    return []


def _is_model(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, BaseModel)


__all__ = ["HeldFields", "did_you_mean", "fields_at", "unknown_field", "unknown_field_hint"]
