"""Message templates: ``{param}`` placeholders, checked when saved, filled in per user.

The syntax (docs/events.md §2):

- ``{name}`` is replaced by the event's parameter ``name``; a name is ASCII
  letters, digits and underscores (``[A-Za-z0-9_]+``);
- ``{{`` and ``}}`` stand for a literal ``{`` and ``}``;
- anything else with a brace in it — ``{``, ``}`` alone, ``{}``, ``{a-b}`` —
  is a syntax error, reported when the template is saved (422 naming the
  field), so rendering never meets one.

A template is parsed once into a tuple of literal strings and parameter
names (:class:`Template`); rendering joins them (through one
``str.format_map`` call, the literal braces doubled, when every name is
also a valid format field, which is the common case: an event send renders
two templates per device). A parameter the event did
not carry is :class:`MissingParameter`: the delivery fails with that reason
rather than showing ``{name}`` on a lock screen. Parameter values are
inserted as they are, never parsed again (a value may contain braces).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from pushgate.registry import ValidationError

_NAME = re.compile(r"[A-Za-z0-9_]+")
_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateSyntaxError(ValueError):
    """A template that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at character {position + 1}")
        self.position = position


class MissingParameter(KeyError):
    """Rendering needed a parameter the event did not carry."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    @property
    def reason(self) -> str:
        """The delivery's failure reason."""
        return f"MissingParameter:{self.name}"[:200]

    def __str__(self) -> str:
        return f"missing parameter {self.name!r}"


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: ``parts`` alternate literal text (even) and parameter names (odd)."""

    source: str
    parts: tuple[str, ...]
    # The same as a str.format string, or None when a name would not be read as a keyword field
    # there (one starting with a digit is a positional index for str.format).
    format: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = self.parts[1::2]
        if all(not name[0].isdigit() for name in names):
            literals = [text.replace("{", "{{").replace("}", "}}") for text in self.parts[0::2]]
            fields = [f"{{{name}}}" for name in names] + [""]
            object.__setattr__(self, "format", "".join(
                piece for pair in zip(literals, fields, strict=True) for piece in pair))

    @property
    def parameters(self) -> frozenset[str]:
        return frozenset(self.parts[1::2])

    def render(self, params: Mapping[str, str]) -> str:
        parts = self.parts
        if len(parts) == 1:
            return parts[0]
        if self.format is not None and type(params) is dict:
            # Values are inserted as they are (str.format does not parse an argument's text); a
            # missing name is the KeyError of the first one met, as below.
            try:
                return self.format.format_map(params)
            except KeyError as missing:
                raise MissingParameter(str(missing.args[0])) from None
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            name = parts[i]
            value = params.get(name)
            if value is None:
                raise MissingParameter(name)
            out.append(value)
            out.append(parts[i + 1])
        return "".join(out)


def parse(source: str) -> Template:
    """Parse ``source``; :class:`TemplateSyntaxError` says what is wrong and where."""
    parts: list[str] = []
    literal: list[str] = []
    last = 0
    for match in _TOKEN.finditer(source):
        literal.append(source[last:match.start()])
        last = match.end()
        token = match.group(0)
        if token == "{{":
            literal.append("{")
        elif token == "}}":
            literal.append("}")
        elif token == "{":
            raise TemplateSyntaxError("'{' is not closed (write '{{' for a literal brace)", match.start())
        elif token == "}":
            raise TemplateSyntaxError("'}' has no opening '{' (write '}}' for a literal brace)",
                                      match.start())
        else:
            name = match.group(1)
            if not _NAME.fullmatch(name):
                raise TemplateSyntaxError(
                    f"{{{name}}} is not a parameter: names are letters, digits and underscores",
                    match.start(),
                )
            parts.append("".join(literal))
            parts.append(name)
            literal = []
    literal.append(source[last:])
    parts.append("".join(literal))
    return Template(source, tuple(parts))


def check(source: str, field: str) -> Template:
    """Parse ``source`` for ``field``; a syntax error is a ValidationError naming the field (422)."""
    try:
        return parse(source)
    except TemplateSyntaxError as exc:
        raise ValidationError(field, str(exc)) from None


def language_chain(locale: str | None, default_language: str | None) -> tuple[str, ...]:
    """Languages to try for a user, best first: ``fr-CA`` → ``fr`` → the app's default → ``en``.

    Tags compare case-insensitively (BCP 47, RFC 5646 §2.1.1); ``_`` is read as ``-``
    because Android and POSIX locales spell ``fr_CA``.
    """
    chain: list[str] = []

    def add(tag: str | None) -> None:
        if tag:
            tag = tag.replace("_", "-").lower()
            if tag not in chain:
                chain.append(tag)

    if locale:
        tag = locale.replace("_", "-").lower()
        while tag:
            add(tag)
            tag = tag.rpartition("-")[0]
    add(default_language)
    add("en")
    return tuple(chain)


def pick_language(
    available: Mapping[str, object], locale: str | None, default_language: str | None
) -> str | None:
    """The first language of :func:`language_chain` that ``available`` (lower-case keys) has."""
    for tag in language_chain(locale, default_language):
        if tag in available:
            return tag
    return None


__all__ = [
    "MissingParameter",
    "Template",
    "TemplateSyntaxError",
    "check",
    "language_chain",
    "parse",
    "pick_language",
]
