"""Tag expressions, as Pushpad's: ``zip_code:28865 && !optout:local_events || friend_of:Organizer123``.

Grammar (https://pushpad.xyz/docs/tags — operators ``!``, ``&&``, ``||``
from highest to lowest precedence; Pushpad asks for disjunctive normal form,
pushgate also accepts parentheses)::

    or_expr  := and_expr ( "||" and_expr )*
    and_expr := unary ( "&&" unary )*
    unary    := "!"* atom
    atom     := TAG | "(" or_expr ")"
    TAG      := one or more characters other than whitespace, & | ! ( )

A list of expressions means their disjunction: ``["tag1 && tag2", "tag3"]``
is ``tag1 && tag2 || tag3``. A list element with no operator character at
all (none of ``& | ! ( )``) is one tag taken literally, spaces included:
that is what a list of tags meant before expressions existed, and a tag
stored with a space in it stays reachable.

Parsing never raises anything but :class:`ParseError`, which names the
0-based character position where the expression stopped making sense.
Nesting is bounded (:data:`MAX_DEPTH`) and the parser is iterative over
``!`` runs, so no input can exhaust the stack.

:func:`evaluate` is the reference semantics (a set of tags in, a bool out);
the registry compiles the same tree to SQL
(:mod:`pushgate.registry.tag_expressions`) and the tests hold the two equal.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

MAX_EXPRESSION_LENGTH = 2000  # characters in one expression
MAX_EXPRESSION_TAGS = 100  # tag occurrences in a whole target (each is one EXISTS pair in SQL)
MAX_DEPTH = 32  # nested parentheses
MAX_TAG_LENGTH = 100  # the registry's limit on a stored tag (registry.constants.MAX_TAG_LENGTH)
OPERATOR_CHARACTERS = frozenset("&|!()")


@dataclass(frozen=True, slots=True)
class Tag:
    name: str


@dataclass(frozen=True, slots=True)
class Not:
    operand: Expr


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Expr, ...]


Expr = Tag | Not | And | Or


class ParseError(ValueError):
    """An expression that does not parse: ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int, index: int | None = None) -> None:
        self.message = message
        self.position = position
        self.index = index  # which expression of a list (None: a single expression)
        super().__init__(f"position {position}: {message}")


def parse_expression(text: str) -> Expr:
    """One expression → its tree, or :class:`ParseError` naming the position."""
    if not isinstance(text, str):
        raise ParseError("an expression is a string", 0)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ParseError(f"longer than {MAX_EXPRESSION_LENGTH} characters", MAX_EXPRESSION_LENGTH)
    expr = _Parser(text).parse()
    if len(tags_of(expr, distinct=False)) > MAX_EXPRESSION_TAGS:
        raise ParseError(f"more than {MAX_EXPRESSION_TAGS} tags", 0)
    return expr


def parse_expressions(texts: str | Sequence[str]) -> Expr:
    """A string, or a list of expressions OR-ed together, → one tree.

    A :class:`ParseError` from a list carries the element's ``index``.
    """
    if isinstance(texts, str):
        return parse_expression(texts)
    if not isinstance(texts, Sequence) or not texts:
        raise ParseError("give an expression or a non-empty list of expressions", 0)
    parts: list[Expr] = []
    for index, text in enumerate(texts):
        try:
            if isinstance(text, str) and text.strip() and not OPERATOR_CHARACTERS.intersection(text):
                parts.append(_literal(text))
            else:
                parts.append(parse_expression(text))
        except ParseError as exc:
            raise ParseError(exc.message, exc.position, index) from None
    expr = parts[0] if len(parts) == 1 else Or(tuple(parts))
    if len(tags_of(expr, distinct=False)) > MAX_EXPRESSION_TAGS:
        raise ParseError(f"more than {MAX_EXPRESSION_TAGS} tags", 0)
    return expr


def evaluate(expr: Expr, tags: Iterable[str]) -> bool:
    """The reference meaning: does a holder of ``tags`` match ``expr``?"""
    have = tags if isinstance(tags, set | frozenset) else set(tags)
    if isinstance(expr, Tag):
        return expr.name in have
    if isinstance(expr, Not):
        return not evaluate(expr.operand, have)
    if isinstance(expr, And):
        return all(evaluate(operand, have) for operand in expr.operands)
    return any(evaluate(operand, have) for operand in expr.operands)


def tags_of(expr: Expr, *, distinct: bool = True) -> list[str]:
    """The tags an expression names, in order of appearance (``distinct``: each once)."""
    found: list[str] = []
    stack: list[Expr] = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            found.append(node.name)
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend(reversed(node.operands))
    return list(dict.fromkeys(found)) if distinct else found


def to_text(expr: Expr) -> str:
    """The expression written back, fully parenthesised where precedence needs it."""
    if isinstance(expr, Tag):
        return expr.name
    if isinstance(expr, Not):
        inner = to_text(expr.operand)
        return f"!{inner}" if isinstance(expr.operand, Tag | Not) else f"!({inner})"
    if isinstance(expr, And):
        return " && ".join(
            f"({to_text(o)})" if isinstance(o, Or | And) else to_text(o) for o in expr.operands
        )
    return " || ".join(f"({to_text(o)})" if isinstance(o, Or) else to_text(o) for o in expr.operands)


def _in_tag(char: str) -> bool:
    return not char.isspace() and char not in OPERATOR_CHARACTERS


def _literal(text: str) -> Tag:
    name = text.strip()
    if len(name) > MAX_TAG_LENGTH:
        raise ParseError(f"tag longer than {MAX_TAG_LENGTH} characters", 0)
    return Tag(name)


class _Parser:
    """Recursive descent over the string itself; positions are offsets into it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def parse(self) -> Expr:
        self._skip()
        if self.pos == len(self.text):
            raise ParseError("empty expression", self.pos)
        expr = self._or()
        self._skip()
        if self.pos != len(self.text):
            raise ParseError(f"unexpected {self._what()}; expected && or ||", self.pos)
        return expr

    def _or(self) -> Expr:
        operands = [self._and()]
        while self._take("||"):
            operands.append(self._and())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def _and(self) -> Expr:
        operands = [self._unary()]
        while self._take("&&"):
            operands.append(self._unary())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def _unary(self) -> Expr:
        negations = 0
        self._skip()
        while self.pos < len(self.text) and self.text[self.pos] == "!":
            negations += 1
            self.pos += 1
            self._skip()
        expr = self._atom()
        for _ in range(negations % 2):  # !!a is a
            expr = Not(expr)
        return expr

    def _atom(self) -> Expr:
        self._skip()
        start = self.pos
        if start == len(self.text):
            raise ParseError("expected a tag, ! or (", start)
        char = self.text[start]
        if char == "(":
            if self.depth >= MAX_DEPTH:
                raise ParseError(f"parentheses nested deeper than {MAX_DEPTH}", start)
            self.depth += 1
            self.pos += 1
            expr = self._or()
            self._skip()
            if not self._take(")"):
                raise ParseError(f"unexpected {self._what()}; expected )", self.pos)
            self.depth -= 1
            return expr
        if char in OPERATOR_CHARACTERS:
            raise ParseError(f"unexpected {self._what()}; expected a tag, ! or (", start)
        end = start
        while end < len(self.text) and _in_tag(self.text[end]):
            end += 1
        name = self.text[start:end]
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in name):
            raise ParseError("tags contain no control characters", start)
        if len(name) > MAX_TAG_LENGTH:
            raise ParseError(f"tag longer than {MAX_TAG_LENGTH} characters", start)
        self.pos = end
        return Tag(name)

    def _take(self, token: str) -> bool:
        self._skip()
        if self.text.startswith(token, self.pos):
            self.pos += len(token)
            return True
        if token in ("&&", "||") and self.text.startswith(token[0], self.pos):
            raise ParseError(f"a single {token[0]}; write {token}", self.pos)
        return False

    def _skip(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def _what(self) -> str:
        return repr(self.text[self.pos]) if self.pos < len(self.text) else "end of expression"


__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_EXPRESSION_TAGS",
    "And",
    "Expr",
    "Not",
    "Or",
    "ParseError",
    "Tag",
    "evaluate",
    "parse_expression",
    "parse_expressions",
    "tags_of",
    "to_text",
]
