"""Each connector describes itself once; what the CLI and the console derive from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from idsync.connectors import registry
from idsync.connectors.description import Setting
from idsync.errors.catalogue import IdsyncError
from idsync.manage.integrations import JOB_OPTIONS

COMMON_FLAGS = {"--org", "--name", "--direction", "--database", "--json", "--unset", "--help"}


@pytest.mark.parametrize("kind", registry.KINDS)
def test_a_connector_describes_every_setting_it_validates(kind: str) -> None:
    described = registry.connector(kind)
    flags = [s.flag for s in described.settings]
    flags += [s.off_flag for s in described.settings if s.off_flag]
    flags += [s.flag for s in described.scoping_shortcuts]
    flags += [f for s in JOB_OPTIONS for f in (s.flag, s.off_flag) if f]
    assert len(flags) == len(set(flags)), "a flag is declared twice"
    assert not set(flags) & COMMON_FLAGS
    for item in described.settings:
        assert item.help.strip(), item.name
        # Every value a form can leave out has a default; every other one an example.
        assert item.kind == "boolean" or item.example, f"{item.name} has no example"
    assert described.default_name and described.directions
    assert set(described.default_mappings) == set(described.directions)


def test_the_stored_settings_keys_are_the_described_ones() -> None:
    """Unknown keys are refused by each connector's own validation, against the names
    the description gives (one list, not one per connector and one per form)."""
    for kind in registry.KINDS:
        described = registry.connector(kind)
        with pytest.raises(IdsyncError) as caught:
            described.build("x", {"no_such_setting": 1}, {})
        assert caught.value.error.code == "IDS-400-031"
        assert "no_such_setting" in caught.value.message


def _setting(kind: str, name: str) -> Setting:
    found = registry.connector(kind).setting(name)
    assert found is not None
    return found


def test_what_a_user_types_is_stored_typed(tmp_path: Path) -> None:
    assert _setting("ldap", "page_size").parse("250") == 250
    assert _setting("entra", "timeout").parse("2.5") == 2.5
    assert _setting("ldap", "user_base_dns").parse(["ou=a,dc=x", "ou=b,dc=x"]) == [
        "ou=a,dc=x",
        "ou=b,dc=x",
    ]
    # A DN's commas are its own; compat words may be comma-separated.
    assert _setting("scim", "compat").parse(["entra-compatible,filter=off", "bulk=off"]) == [
        "entra-compatible",
        "filter=off",
        "bulk=off",
    ]
    assert _setting("file", "columns").parse(["userName=E-Mail", "mail=E-Mail"]) == {
        "userName": "E-Mail",
        "mail": "E-Mail",
    }
    assert _setting("ldap", "disabled").parse('{"attribute": "nsAccountLock"}') == {
        "attribute": "nsAccountLock"
    }
    assert Path(_setting("file", "users").parse("users.csv")).is_absolute()
    interval = next(s for s in JOB_OPTIONS if s.name == "interval_seconds")
    assert interval.parse("60") == 3600 and interval.shown(3600) == 60
    mappings = next(s for s in JOB_OPTIONS if s.name == "mappings")
    rules = tmp_path / "mappings.json"
    rules.write_text(json.dumps({"user": []}))
    assert mappings.parse(str(rules)) == {"user": []}


@pytest.mark.parametrize(
    ("kind", "name", "typed"),
    [
        ("ldap", "page_size", "many"),
        ("entra", "timeout", "soon"),
        ("file", "columns", ["userName"]),
        ("ldap", "disabled", "{not json"),
        ("ldap", "disabled", "[1, 2]"),
    ],
)
def test_text_of_the_wrong_shape_is_refused_with_the_catalogue_error(
    kind: str, name: str, typed: object
) -> None:
    with pytest.raises(IdsyncError) as caught:
        _setting(kind, name).parse(typed)
    assert caught.value.error.code == "IDS-400-031"
    assert _setting(kind, name).flag in caught.value.message
