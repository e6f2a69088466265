"""The FCM simulator's own copy of the wire rules it checks (FCM HTTP v1 reference).

Copied on purpose, not imported from the client's payload builder: a wrong
limit or pattern would otherwise be wrong on both sides and no test would
notice. A test compares these values with the client's.
"""

from __future__ import annotations

import re
from typing import Final

# AndroidConfig.ttl: at most 28 days.
MAX_TTL: Final = 2_419_200
# Message.data: keys FCM reserves for itself.
RESERVED_DATA_KEYS: Final = frozenset({"from", "message_type"})
RESERVED_DATA_PREFIXES: Final = ("google", "gcm")
# Message.condition: at most five topics.
MAX_CONDITION_TOPICS: Final = 5
TARGET_FIELDS: Final = ("token", "topic", "condition", "fid")
TOPIC_RE: Final = re.compile(r"[a-zA-Z0-9\-_.~%]+")
# Bytes of a message, and of a topic or condition message (the simulator's defaults).
MESSAGE_SIZE_LIMIT: Final = 4096
TOPIC_MESSAGE_SIZE_LIMIT: Final = 2048

_CONDITION_TOKEN = re.compile(
    r"""\s*(?:(\()|(\))|(&&)|(\|\|)|(!)|(?:'([^']*)'|"([^"]*)")\s+in\s+topics\b)"""
)


def condition_topics(condition: str) -> list[str]:
    """The topics of a condition after checking its syntax.

    Grammar: ``expr := term (('&&' | '||') term)*``, ``term := '!' term |
    '(' expr ')' | "'" topic "' in topics"``; a topic may be in double quotes too.

    :raises ValueError: with a description of what is wrong.
    """
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = condition.rstrip()
    while pos < len(text):
        match = _CONDITION_TOKEN.match(text, pos)
        if match is None:
            raise ValueError(f"invalid condition syntax at offset {pos}")
        kinds = ("(", ")", "&&", "||", "!")
        kind = next((k for k, g in zip(kinds, match.groups()[:5], strict=True) if g), "topic")
        tokens.append((kind, match.group(6) or match.group(7) or ""))
        pos = match.end()
    topics: list[str] = []
    index = 0

    def term() -> None:
        nonlocal index
        if index >= len(tokens):
            raise ValueError("condition ends early")
        kind, value = tokens[index]
        index += 1
        if kind == "!":
            term()
        elif kind == "(":
            expr()
            if index >= len(tokens) or tokens[index][0] != ")":
                raise ValueError("unbalanced parentheses in condition")
            index += 1
        elif kind == "topic":
            if not TOPIC_RE.fullmatch(value):
                raise ValueError(f"invalid topic name {value!r} in condition")
            topics.append(value)
        else:
            raise ValueError(f"unexpected {kind!r} in condition")

    def expr() -> None:
        nonlocal index
        term()
        while index < len(tokens) and tokens[index][0] in ("&&", "||"):
            index += 1
            term()

    expr()
    if index != len(tokens):
        raise ValueError("unexpected text after the condition")
    if len(topics) > MAX_CONDITION_TOPICS:
        raise ValueError(f"a condition may name at most {MAX_CONDITION_TOPICS} topics")
    return topics

