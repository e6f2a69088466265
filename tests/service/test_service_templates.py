"""Message templates: placeholders, brace escapes, syntax errors, missing parameters, language fallback."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pushgate.registry import ValidationError
from pushgate.service.templates import (
    MissingParameter,
    TemplateSyntaxError,
    check,
    language_chain,
    parse,
    pick_language,
)


def test_placeholders_are_replaced_and_double_braces_are_literal() -> None:
    template = parse("Hi {name}, {{literal}} {count_2} items}}")
    assert template.parameters == {"name", "count_2"}
    assert template.render({"name": "Ana", "count_2": "3"}) == "Hi Ana, {literal} 3 items}"
    assert parse("no placeholders").render({}) == "no placeholders"
    assert parse("").render({}) == ""


def test_values_are_inserted_as_they_are_never_parsed_again() -> None:
    assert parse("{a}").render({"a": "{b} }} {{"}) == "{b} }} {{"


@pytest.mark.parametrize(("source", "position"), [
    ("Hi {name", 3), ("Hi }", 3), ("{}", 0), ("a {first-name}", 2), ("{ x }", 0), ("{{{", 2),
    ("{é}", 0),
])
def test_syntax_errors_say_where(source: str, position: int) -> None:
    with pytest.raises(TemplateSyntaxError) as caught:
        parse(source)
    assert caught.value.position == position


def test_check_names_the_field() -> None:
    with pytest.raises(ValidationError) as caught:
        check("Hi {name", "localizations.fr.title")
    assert caught.value.field == "localizations.fr.title"


def test_a_missing_parameter_is_a_failure_reason() -> None:
    with pytest.raises(MissingParameter) as caught:
        parse("{a} {b}").render({"a": "1"})
    assert caught.value.reason == "MissingParameter:b"


def test_language_chain_goes_region_language_default_english() -> None:
    assert language_chain("fr-CA", "es") == ("fr-ca", "fr", "es", "en")
    assert language_chain("zh_Hant_TW", None) == ("zh-hant-tw", "zh-hant", "zh", "en")
    assert language_chain(None, "en") == ("en",)
    assert pick_language({"fr": 1, "en": 1}, "fr-CA", "de") == "fr"
    assert pick_language({"de": 1, "en": 1}, "pt-BR", "de") == "de"
    assert pick_language({"en": 1}, "pt-BR", "de") == "en"
    assert pick_language({"it": 1}, "pt-BR", "de") is None


_pieces = st.lists(st.one_of(
    st.text(alphabet="ab {}é\n", max_size=6).map(lambda text: ("text", text)),
    st.from_regex(r"[A-Za-z0-9_]{1,4}", fullmatch=True).map(lambda name: ("name", name)),
), max_size=6)


@given(pieces=_pieces, present=st.sets(st.from_regex(r"[A-Za-z0-9_]{1,4}", fullmatch=True)),
       value=st.text(alphabet="x{}0 ", max_size=4))
def test_the_format_map_rendering_is_the_parts_joined(pieces: list[tuple[str, str]], present: set[str],
                                                      value: str) -> None:
    source = "".join(text.replace("{", "{{").replace("}", "}}") if kind == "text" else f"{{{text}}}"
                     for kind, text in pieces)
    template = parse(source)
    names = template.parts[1::2]
    params = {name: f"{value}-{name}" for name in present}
    missing = [name for name in names if name not in params]
    if missing:
        with pytest.raises(MissingParameter) as caught:
            template.render(params)
        assert caught.value.name == missing[0]  # the first one, in the text's order
        return
    joined = "".join(part if i % 2 == 0 else params[part] for i, part in enumerate(template.parts))
    assert template.render(params) == joined
    assert template.format is not None or any(name[0].isdigit() for name in names)


def test_a_name_starting_with_a_digit_renders_the_slow_way() -> None:
    template = parse("{0} and {a}")
    assert template.format is None  # str.format would read {0} as a position
    assert template.render({"0": "zero", "a": "A"}) == "zero and A"
