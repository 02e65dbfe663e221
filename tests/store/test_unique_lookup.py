"""The lookup's shortcut (``attr eq "string"`` straight to a unique column) agrees with the
general path (parse, check, ``indexed_lookup``) on every attribute name a client can send."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from idsync.errors.catalogue import IdsyncError
from idsync.scim.filter import check_filter, parse_filter, simple_equality
from idsync.scim.provider import default_description
from idsync.store.filter_sql import indexed_lookup, unique_lookup

TYPES = default_description().resource_types
NAMES = sorted(
    {a.name for rts in TYPES.values() for a in rts.attributes.values()}
    | {
        a.name
        for rts in TYPES.values()
        for e in rts.extension_attributes.values()
        for a in e.values()
    }
    | {"userNames", "member", "emails"}
)


def _general(rts_name: str, text: str) -> tuple[str, str] | None:
    rts = TYPES[rts_name]
    node = parse_filter(text)
    try:
        check_filter(node, rts, in_url=True)
    except IdsyncError:
        return None
    return indexed_lookup(node, rts)


@given(
    st.sampled_from(sorted(TYPES)),
    st.sampled_from(NAMES),
    st.lists(st.booleans(), min_size=1, max_size=20),
    st.text(alphabet=st.characters(exclude_characters='\x00"\\'), max_size=30),
)
def test_the_shortcut_and_the_general_path_agree(
    rts_name: str, name: str, upper: list[bool], value: str
) -> None:
    cased = "".join(c.upper() if upper[i % len(upper)] else c.lower() for i, c in enumerate(name))
    text = f'{cased} eq "{value}"'
    try:
        simple = simple_equality(text)
    except IdsyncError:
        simple = None  # a control character: both paths refuse it
    if simple is None:
        return
    shortcut = unique_lookup(TYPES[rts_name], *simple)
    if shortcut is not None:
        assert shortcut == _general(rts_name, text)
    else:
        assert _general(rts_name, text) is None


def test_the_unique_attributes_take_the_shortcut() -> None:
    users, groups = TYPES["User"], TYPES["Group"]
    assert unique_lookup(users, "USERNAME", "Ann@Example.com") == (
        "user_name_key",
        "ann@example.com",
    )
    assert unique_lookup(users, "externalId", "E-1") == ("external_id", "E-1")
    assert unique_lookup(users, "id", "x") == ("id", "x")
    assert unique_lookup(groups, "displayname", "Team") == ("display_name_key", "team")
    assert unique_lookup(users, "displayName", "Ann") is None
    assert unique_lookup(users, "manager", "x") is None
