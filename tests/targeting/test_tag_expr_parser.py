"""The tag expression parser: Pushpad's grammar, positions in errors, and no crash on any input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushgate.targeting import (
    And,
    Not,
    Or,
    ParseError,
    Tag,
    evaluate,
    parse_expression,
    parse_expressions,
    to_text,
)
from pushgate.targeting.tag_expr import MAX_DEPTH, Expr

PUSHPAD_EXAMPLE = "zip_code:28865 && !optout:local_events || friend_of:Organizer123"


def test_pushpad_example_parses_with_its_precedence() -> None:
    assert parse_expression(PUSHPAD_EXAMPLE) == Or((
        And((Tag("zip_code:28865"), Not(Tag("optout:local_events")))),
        Tag("friend_of:Organizer123"),
    ))
    assert evaluate(parse_expression(PUSHPAD_EXAMPLE), {"friend_of:Organizer123"})
    assert evaluate(parse_expression(PUSHPAD_EXAMPLE), {"zip_code:28865"})
    assert not evaluate(parse_expression(PUSHPAD_EXAMPLE), {"zip_code:28865", "optout:local_events"})


def test_a_list_is_the_disjunction_of_its_expressions() -> None:
    assert parse_expressions(["tag1 && tag2", "tag3"]) == parse_expression("tag1 && tag2 || tag3")
    assert parse_expressions("a") == Tag("a")


def test_parentheses_and_negation() -> None:
    assert parse_expression("!(a || b) && c") == And((Not(Or((Tag("a"), Tag("b")))), Tag("c")))
    assert parse_expression("!!a") == Tag("a")
    assert parse_expression("  ( ( a ) )  ") == Tag("a")


def test_a_plain_list_element_is_one_tag_spaces_included() -> None:
    assert parse_expressions(["has space", "b"]) == Or((Tag("has space"), Tag("b")))


@pytest.mark.parametrize(("text", "position", "words"), [
    ("", 0, "empty"),
    ("a &", 2, "single &"),
    ("a || ", 5, "expected a tag"),
    ("a b", 2, "expected && or ||"),
    ("(a", 2, "expected )"),
    ("a)", 1, "expected && or ||"),
    ("&& a", 0, "expected a tag"),
    ("a | b", 2, "single |"),
    ("!", 1, "expected a tag"),
    ("a && \x01", 5, "control"),
    ("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1), MAX_DEPTH, "nested"),
])
def test_errors_name_the_position(text: str, position: int, words: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_expression(text)
    assert caught.value.position == position
    assert words in caught.value.message
    assert str(caught.value).startswith(f"position {position}: ")


def test_a_list_error_names_the_element() -> None:
    with pytest.raises(ParseError) as caught:
        parse_expressions(["ok", "a &&"])
    assert (caught.value.index, caught.value.position) == (1, 4)


def _attempt(parse: Callable[[], Expr]) -> Expr | ParseError:
    """The tree, or the ParseError; any other exception propagates and fails the test."""
    try:
        return parse()
    except ParseError as exc:
        return exc


@given(st.text(max_size=60) | st.text(alphabet="ab &|!() \t", max_size=60))
def test_any_string_parses_or_fails_with_a_position(text: str) -> None:
    outcome = _attempt(lambda: parse_expression(text))
    if isinstance(outcome, ParseError):
        assert 0 <= outcome.position <= len(text)
    else:
        assert isinstance(outcome, Tag | Not | And | Or)
        assert parse_expression(to_text(outcome)) == outcome  # what to_text writes parses back the same


@given(st.lists(st.text(max_size=20), max_size=5))
def test_any_list_parses_or_fails_with_an_index(texts: list[str]) -> None:
    outcome = _attempt(lambda: parse_expressions(texts))
    if isinstance(outcome, ParseError):
        assert outcome.index is None or 0 <= outcome.index < len(texts)
    else:
        assert isinstance(outcome, Tag | Not | And | Or)


TAG_NAMES = ["a", "b", "c", "zip:1", "opt-out_x"]


def expressions() -> st.SearchStrategy[Expr]:
    leaves: st.SearchStrategy[Expr] = st.sampled_from(TAG_NAMES).map(Tag)
    return st.recursive(leaves, lambda inner: st.one_of(
        inner.map(Not),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: And(tuple(ops))),
        st.lists(inner, min_size=2, max_size=3).map(lambda ops: Or(tuple(ops))),
    ), max_leaves=12)


@given(expressions(), st.frozensets(st.sampled_from(TAG_NAMES)))
def test_written_expressions_mean_the_same_after_parsing(expr: Expr, tags: frozenset[str]) -> None:
    assert evaluate(parse_expression(to_text(expr)), tags) == evaluate(expr, tags)
