"""Control characters in the text an app sends: where they make no sense, a clear refusal.

PostgreSQL cannot store NUL in a text column (the driver raises DataError,
which was a 500), and a control character in an id or a tag is a bug in
the caller, not data: it would also be written raw into log lines. Ids,
tags and topics take none (not even a tab or a line break); free text
(a device's name, a notification's body) keeps tab and line breaks.
"""

from __future__ import annotations

import re

from pushgate.registry._errors import ValidationError

# C0 controls and DEL; the second leaves tab, line feed and carriage return.
_ANY_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same patterns, for loops over many values that call ``.search`` themselves.
CONTROL, CONTROL_IN_TEXT = _ANY_CONTROL, _BAD_IN_TEXT


def has_control_characters(value: str, *, in_text: bool = False) -> bool:
    """True when ``value`` holds a control character (``in_text``: tab and line breaks allowed)."""
    return (_BAD_IN_TEXT if in_text else _ANY_CONTROL).search(value) is not None


def check_name(value: str, field: str) -> str:
    """An id, tag or topic: no control characters at all."""
    if has_control_characters(value):
        raise ValidationError(field, "must not contain control characters")
    return value


def check_text(value: str, field: str) -> str:
    """Free text: no control characters other than tab and line breaks."""
    if has_control_characters(value, in_text=True):
        raise ValidationError(field, "must not contain control characters")
    return value


__all__ = ["CONTROL", "CONTROL_IN_TEXT", "check_name", "check_text", "has_control_characters"]
