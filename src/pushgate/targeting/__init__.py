"""Targeting rules that need no database: tag expressions (:mod:`pushgate.targeting.tag_expr`).

Library code (no server import), so the registry can compile the same AST
to SQL and a client can check an expression before sending it.
"""

from __future__ import annotations

from pushgate.targeting.tag_expr import (
    And,
    Expr,
    Not,
    Or,
    ParseError,
    Tag,
    evaluate,
    parse_expression,
    parse_expressions,
    tags_of,
    to_text,
)

__all__ = [
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
