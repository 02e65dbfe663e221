"""PATCH path parsing: the fast paths build what scim2-models' grammar builds, and no string
makes the parser do anything but return a path or raise IdsyncError(INVALID_PATH)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from scim2_models import InvalidPathException, Path

from idsync.errors.catalogue import IdsyncError
from idsync.scim.paths import parse_path

names = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True)
pads = st.sampled_from(["", " ", "  "])


@given(names, st.one_of(st.none(), names), pads)
def test_attribute_paths_match_the_grammar(name: str, sub: str | None, pad: str) -> None:
    text = f"{pad}{name}{'.' + sub if sub else ''}{pad}"
    assert parse_path(text) == Path(text).ast


@given(names, names, st.text(max_size=40), st.one_of(st.none(), names), pads)
def test_eq_value_selections_match_the_grammar(
    name: str, by: str, value: str, sub: str | None, pad: str
) -> None:
    text = f"{pad}{name}[{pad}{by} eq {json.dumps(value)}{pad}]{'.' + sub if sub else ''}{pad}"
    try:
        expected = Path(text).ast
    except InvalidPathException:  # the grammar refuses it: so must parse_path
        code = None
        try:
            parse_path(text)
        except IdsyncError as exc:
            code = exc.error.code
        assert code == "IDS-400-002"
        return
    assert parse_path(text) == expected


@given(st.text(max_size=120))
@settings(max_examples=300)
def test_any_string_parses_or_is_an_invalid_path(text: str) -> None:
    code = None
    try:
        parse_path(text)
    except IdsyncError as exc:
        code = exc.error.code
    assert code in (None, "IDS-400-002")
