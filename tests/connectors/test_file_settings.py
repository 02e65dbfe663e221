"""The file connector's settings: defaults, validation, and what the stored settings may hold."""

from __future__ import annotations

from typing import Any

import pytest

from idsync.connectors.file import FileSettings, file_settings
from idsync.errors.catalogue import IdsyncError


def test_defaults() -> None:
    settings = file_settings("hr", {"users": "/srv/hr/users.csv"})
    assert settings == FileSettings(users="/srv/hr/users.csv", integration="hr")
    assert (settings.encoding, settings.delimiter, settings.members_separator) == (
        "utf-8",
        ",",
        ";",
    )
    assert (settings.id_column, settings.page_size, settings.groups) == ("id", 1000, None)
    assert settings.header("mail") == "mail"
    assert settings.format_of(settings.users) == "csv"


def test_formats_by_extension_or_as_given() -> None:
    settings = FileSettings(users="/d/users.JSON", groups="/d/groups.ndjson")
    assert settings.format_of(settings.users) == "json"
    assert settings.format_of("/d/groups.ndjson") == "jsonl"
    assert FileSettings(users="/d/export.txt", format="csv").format_of("/d/export.txt") == "csv"


def test_columns_map_canonical_names_to_headers() -> None:
    settings = file_settings(
        "hr", {"users": "/d/u.csv", "columns": {"userName": " Email ", "mail": "Email"}}
    )
    assert settings.header("userName") == "Email"
    assert settings.header("mail") == "Email"
    assert settings.header("surname") == "surname"
    with pytest.raises(TypeError):
        settings.columns["title"] = "Job"  # type: ignore[index]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({}, "users file is not set"),
        ({"users": ""}, "users file path is empty"),
        ({"users": "users.csv"}, "is not absolute"),
        ({"users": "/d/u.csv", "groups": "groups.csv"}, "is not absolute"),
        ({"users": "/d/users.xlsx"}, "cannot be told from its extension '.xlsx'"),
        ({"users": "/d/users"}, "extension '(none)'"),
        ({"users": "/d/u.csv", "format": "xml"}, "format 'xml'"),
        ({"users": "/d/u.csv", "encoding": "klingon"}, "unknown encoding"),
        ({"users": "/d/u.csv", "delimiter": ",,"}, "delimiter"),
        ({"users": "/d/u.csv", "delimiter": '"'}, "delimiter"),
        ({"users": "/d/u.csv", "members_separator": ""}, "members_separator"),
        ({"users": "/d/u.csv", "id_column": " "}, "id_column is empty"),
        ({"users": "/d/u.csv", "columns": {"email": "E-Mail"}}, "'email' is not a column"),
        ({"users": "/d/u.csv", "columns": {"mail": ""}}, "header mapped to 'mail' is empty"),
        ({"users": "/d/u.csv", "page_size": 0}, "page_size"),
        ({"users": "/d/u.csv", "page_size": "10"}, "page_size must be a whole number"),
        ({"users": "/d/u.csv", "columns": ["mail"]}, "columns must be a mapping"),
        ({"users": "/d/u.csv", "sheet": "1"}, "unknown setting(s) sheet"),
    ],
)
def test_invalid_settings_are_refused(settings: dict[str, Any], reason: str) -> None:
    with pytest.raises(IdsyncError) as caught:
        file_settings("hr", settings)
    assert caught.value.error.code == "IDS-400-031"
    assert reason in caught.value.message
    assert caught.value.action  # every refusal says what to do


def test_none_values_mean_the_default() -> None:
    # The CLI stores options the administrator left out as null.
    settings = file_settings("hr", {"users": "/d/u.csv", "groups": None, "format": None})
    assert settings.groups is None
    assert settings.format == "auto"
