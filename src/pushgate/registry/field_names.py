"""Naming the field a typo was meant to be: "unknown field 'plaform'; did you mean 'platform'?".

Requests reject unknown fields (a misspelt optional field silently ignored
is a notification sent without it), so the error should also say what was
probably meant. The guess is :func:`difflib.get_close_matches` with its
default similarity cutoff of 0.6: close enough for a dropped, doubled or
swapped letter, far enough that an unrelated name gets no guess.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when one of ``known`` is close to ``name``, else ``""``."""
    match = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {match[0]!r}?" if match else ""


def unknown_field(name: str, known: Iterable[str]) -> str:
    """The message for a field the object does not have, where the field is named elsewhere."""
    return f"unknown field{did_you_mean(name, known)}"


__all__ = ["did_you_mean", "unknown_field"]
