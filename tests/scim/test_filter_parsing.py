"""Filter parsing: the fast path for ``attr eq "value"`` builds what scim2-models' grammar builds,
and no string makes the parser do anything but return a tree or raise IdsyncError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import InvalidFilterException, ScimFilter

from idsync.errors.catalogue import IdsyncError
from idsync.scim.filter import parse_filter

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True)
# U+0000 is refused before parsing (IDS-400-016: PostgreSQL cannot store it).
values = st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=40)


@given(names, values, st.sampled_from(["eq", "EQ", "Eq"]), st.sampled_from(["", " ", "  "]))
def test_fast_path_matches_the_grammar(name: str, value: str, op: str, pad: str) -> None:
    text = f"{pad}{name} {op} {json.dumps(value)}{pad}"
    assert parse_filter(text) == ScimFilter(text).ast


@given(names, values, values)
def test_an_escaped_nul_in_a_filter_value_is_refused(name: str, before: str, after: str) -> None:
    text = f"{name} eq {json.dumps(before + chr(0) + after)}"
    with pytest.raises(IdsyncError) as refused:
        parse_filter(text)
    assert refused.value.error.code == "IDS-400-016"


@given(st.text(max_size=200))
@settings(max_examples=500)
def test_any_string_parses_or_is_an_invalid_filter(text: str) -> None:
    code = None
    try:
        parse_filter(text)
    except IdsyncError as exc:
        code = exc.error.code
    assert code in (None, "IDS-400-001", "IDS-400-016")


@given(
    st.recursive(
        st.sampled_from(
            ['userName eq "a"', "title pr", 'emails[type eq "work"]', "active eq true"]
        ),
        lambda inner: st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", inner, inner),
            st.builds(lambda a, b: f"({a}) or {b}", inner, inner),
            st.builds(lambda a: f"not ({a})", inner),
        ),
        max_leaves=6,
    )
)
def test_valid_filters_parse(text: str) -> None:
    assert parse_filter(text) is not None


def test_very_long_filter_is_refused_with_the_limit() -> None:
    with pytest.raises(IdsyncError, match="4096"):
        parse_filter('userName eq "x" or ' * 300 + 'userName eq "y"')


@given(values)
def test_a_value_with_escapes_or_control_characters_parses_as_the_grammar_does(value: str) -> None:
    escaped = json.dumps(value)
    text = f"userName eq {escaped}"
    assert parse_filter(text) == ScimFilter(text).ast
    raw = f'userName eq "{value}"'
    try:
        expected = ScimFilter(raw).ast
    except (InvalidFilterException, ValueError):  # the grammar refusing it is an outcome
        with pytest.raises(IdsyncError):
            parse_filter(raw)
        return
    if any(ord(c) < 0x20 for c in value):
        with pytest.raises(IdsyncError):
            parse_filter(raw)
    else:
        assert parse_filter(raw) == expected
