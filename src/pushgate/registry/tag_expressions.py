"""Tag expressions compiled to SQL: one ``WHERE`` condition over the indexed tag tables.

The tree comes from :mod:`pushgate.targeting.tag_expr` (pure, no database);
this module turns it into a SQLAlchemy condition on ``devices`` that the
database evaluates — fan-out, audience counts and device listings use the
same condition, so what is counted is what is sent, and no device is ever
loaded into Python to be tested.

A device *has* a tag when the tag is on the device (``device_tags``) or on
the device's user (``user_tags``): the rule targets always had
(docs/targeting.md §3). Each tag occurrence becomes::

    EXISTS (SELECT 1 FROM device_tags WHERE device_id = devices.id AND tag = :t)
    OR EXISTS (SELECT 1 FROM user_tags WHERE user_id = devices.user_id AND tag = :t)

Both lookups are primary-key probes (``(device_id, tag)``, ``(user_id,
tag)``). ``EXISTS`` is never NULL, so ``NOT`` keeps two-valued logic: a
device without a user simply has no user tags, and ``!vip`` matches it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, exists, not_, or_

from pushgate.registry._errors import ValidationError
from pushgate.registry.models import device_tags_table, devices_table, user_tags_table
from pushgate.targeting.tag_expr import And, Expr, Not, ParseError, Tag, parse_expressions

_d = devices_table.c
_dt = device_tags_table.c
_ut = user_tags_table.c


def parse_tags_field(value: str | Sequence[str], field: str) -> Expr:
    """A request's tag expression (a string or a list OR-ed) → tree, or 422 naming the position.

    The error's field names the list element (``target.tags[1]``) and its
    message the 0-based character position.
    """
    try:
        return parse_expressions(value)
    except ParseError as exc:
        where = field if exc.index is None else f"{field}[{exc.index}]"
        raise ValidationError(where, str(exc)) from None


def has_tag(name: str) -> ColumnElement[bool]:
    """The device, or its user, carries ``name``."""
    return or_(
        exists().where(_dt.device_id == _d.id, _dt.tag == name),
        exists().where(_ut.user_id == _d.user_id, _ut.tag == name),
    )


def tag_condition(expr: Expr) -> ColumnElement[bool]:
    """``expr`` as a condition on ``devices`` rows."""
    if isinstance(expr, Tag):
        return has_tag(expr.name)
    if isinstance(expr, Not):
        return not_(tag_condition(expr.operand))
    parts = [tag_condition(operand) for operand in expr.operands]
    return and_(*parts) if isinstance(expr, And) else or_(*parts)


__all__ = ["has_tag", "parse_tags_field", "tag_condition"]
