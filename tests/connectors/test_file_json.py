"""Reading users and groups from JSON and JSON Lines files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.file import FileSource, file_settings
from idsync.contract.errors import Unavailable
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, Rejected, SourceObject

DOCUMENT: dict[str, list[dict[str, Any]]] = {
    "users": [
        {
            "id": "u1",
            "userName": "alice@example.com",
            "enabled": True,
            "displayName": "Alice",
            "employeeId": 1001,
            "mobile": None,
            "manager": None,
            "tags": ["vip"],
        },
        {"id": 2, "userName": "bob@example.com", "enabled": "no", "manager": "u1"},
    ],
    "groups": [
        {"id": "g1", "displayName": "Staff", "members": ["u1", 2]},
        {"id": "g2", "displayName": "Nested", "members": "g1;u1"},
        {"id": "g3", "displayName": "Unmanaged"},
    ],
}
ALICE = SourceObject(
    "user",
    "u1",
    {
        "userName": "alice@example.com",
        "enabled": True,
        "displayName": "Alice",
        "employeeId": "1001",
        "mobile": None,
        "manager": None,
        "tags": ["vip"],
    },
)
BOB = SourceObject("user", "2", {"userName": "bob@example.com", "enabled": False, "manager": "u1"})
GROUPS = [
    SourceObject(
        "group",
        "g1",
        {"displayName": "Staff"},
        members_added=(MemberRef("user", "u1"), MemberRef("user", "2")),
        members_complete=True,
    ),
    SourceObject(
        "group",
        "g2",
        {"displayName": "Nested"},
        members_added=(MemberRef("group", "g1"), MemberRef("user", "u1")),
        members_complete=True,
    ),
    # No "members" key: the file does not manage this group's members.
    SourceObject("group", "g3", {"displayName": "Unmanaged"}),
]


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def source(users: str, groups: str | None = None, **settings: Any) -> FileSource:
    return FileSource(file_settings("hr-json", {"users": users, "groups": groups, **settings}))


def read(src: FileSource, object_type: ObjectType) -> list[Page]:
    return list(src.read(object_type, ReadStart()))


def objects(pages: list[Page]) -> list[SourceObject]:
    return [obj for page in pages for obj in page.objects]


def rejected(pages: list[Page]) -> list[Rejected]:
    return [row for page in pages for row in page.rejected]


def test_one_json_document_with_users_and_groups(tmp_path: Path) -> None:
    with source(write(tmp_path, "directory.json", json.dumps(DOCUMENT, indent=2))) as src:
        users, groups = read(src, "user"), read(src, "group")
    assert objects(users) == [ALICE, BOB]
    assert objects(groups) == GROUPS
    assert rejected(users) == rejected(groups) == []


def test_top_level_lists_in_separate_files(tmp_path: Path) -> None:
    users = write(tmp_path, "users.json", json.dumps(DOCUMENT["users"]))
    groups = write(tmp_path, "groups.json", json.dumps(DOCUMENT["groups"]))
    with source(users, groups) as src:
        assert objects(read(src, "user")) == [ALICE, BOB]
        assert objects(read(src, "group")) == GROUPS


def test_json_lines_with_a_type_field_in_one_file(tmp_path: Path) -> None:
    lines = [
        {"type": "group", "id": "g1", "displayName": "Staff", "members": ["u1", 2]},
        {**DOCUMENT["users"][0], "type": "user"},
        DOCUMENT["users"][1],  # no type: the users file's rows are users
    ]
    text = "\n".join(json.dumps(line) for line in lines) + "\n\n"
    with source(write(tmp_path, "all.jsonl", text)) as src:
        assert objects(read(src, "user")) == [ALICE, BOB]
        assert objects(read(src, "group")) == GROUPS[:1]


def test_json_lines_in_separate_files_with_format_given(tmp_path: Path) -> None:
    users = write(tmp_path, "users.txt", "".join(json.dumps(u) + "\n" for u in DOCUMENT["users"]))
    groups = write(
        tmp_path, "groups.txt", "".join(json.dumps(g) + "\r\n" for g in DOCUMENT["groups"])
    )
    with source(users, groups, format="jsonl") as src:
        assert objects(read(src, "user")) == [ALICE, BOB]
        assert objects(read(src, "group")) == GROUPS


def test_bad_items_name_their_pointer_and_line(tmp_path: Path) -> None:
    text = """\
{
  "groups": [{"id": "g1", "displayName": "Staff", "members": ["u1"]}],
  "users": [
    {"id": "u1", "userName": "alice@example.com"},
    {
      "userName": "no-id@example.com"
    },
    "not an object",

    {"id": "u4", "userName": "dora@example.com", "type": "group"}
  ]
}
"""
    with source(write(tmp_path, "directory.json", text)) as src:
        pages = read(src, "user")
        groups = read(src, "group")
    assert [obj.source_id for obj in objects(pages)] == ["u1"]
    found = [(row.reference, row.error.error.code) for row in rejected(pages)]
    assert found == [
        ("line 5 (/users/1)", "IDS-400-060"),
        ("line 8 (/users/2)", "IDS-400-065"),
        ("line 10 (/users/3)", "IDS-400-065"),
    ]
    assert "in the users list" in rejected(pages)[2].error.message
    assert [obj.source_id for obj in objects(groups)] == ["g1"]


def test_compact_json_numbers_every_item_on_its_line(tmp_path: Path) -> None:
    text = '[{"id": "u1", "userName": "a@example.com"}, {"id": "u1", "userName": "b@example.com"},\n{"id": "u3"}]'
    with source(write(tmp_path, "users.json", text)) as src:
        pages = read(src, "user")
    found = [(row.reference, row.error.error.code) for row in rejected(pages)]
    assert found == [("line 1 (/1)", "IDS-400-061"), ("line 2 (/2)", "IDS-400-062")]
    assert "already used on line 1" in rejected(pages)[0].error.message


def test_json_lines_reject_only_the_broken_line(tmp_path: Path) -> None:
    text = (
        '{"id": "u1", "userName": "a@example.com"}\n'
        '{"id": "u2", "userName": "b@example.com"\n'
        '["u3"]\n'
        '{"id": "u4", "userName": "d@example.com", "type": "robot"}\n'
        '{"id": "u5", "userName": "e@example.com"}\n'
    )
    with source(write(tmp_path, "users.jsonl", text)) as src:
        pages = read(src, "user")
    assert [obj.source_id for obj in objects(pages)] == ["u1", "u5"]
    found = [(row.reference, row.error.error.code) for row in rejected(pages)]
    assert found == [
        ("line 2", "IDS-400-065"),
        ("line 3", "IDS-400-065"),
        ("line 4", "IDS-400-065"),
    ]
    assert "not valid JSON" in rejected(pages)[0].error.message
    assert "'robot'" in rejected(pages)[2].error.message


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"users": [{"id": "u1"}', "not valid JSON"),
        ('[{"id": "u1", "userName": "a"}] trailing', "Extra data"),
        ("", "it is empty"),
        ('{"people": []}', 'neither a "users" nor a "groups" list'),
        ('{"users": {"id": "u1"}}', 'its "users" is not a list'),
        ('"users"', "must hold a list of objects"),
    ],
)
def test_a_json_file_that_cannot_be_read_stops_the_read(
    tmp_path: Path, text: str, reason: str
) -> None:
    path = write(tmp_path, "users.json", text)
    with source(path) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-041"
    assert reason in caught.value.message
    assert path in caught.value.message


def test_invalid_json_names_the_line(tmp_path: Path) -> None:
    text = '{\n  "users": [\n    {"id": "u1",}\n  ]\n}\n'
    with source(write(tmp_path, "users.json", text)) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert "line 3" in caught.value.message


def test_column_mapping_applies_to_json_keys(tmp_path: Path) -> None:
    text = json.dumps([{"uid": "u1", "login": "a@example.com", "active": 0, "boss": None}])
    columns = {"userName": "login", "enabled": "active", "manager": "boss"}
    with source(write(tmp_path, "users.json", text), id_column="uid", columns=columns) as src:
        (user,) = objects(read(src, "user"))
    assert user == SourceObject(
        "user", "u1", {"userName": "a@example.com", "enabled": False, "manager": None}
    )


def test_non_text_values_are_refused(tmp_path: Path) -> None:
    text = json.dumps(
        [
            {"id": "u1", "userName": "a@example.com", "title": {"en": "Boss"}},
            {"id": 1.5, "userName": "b@example.com"},
            {"id": "u3", "userName": "c@example.com", "enabled": "2"},
        ]
    )
    with source(write(tmp_path, "users.json", text)) as src:
        pages = read(src, "user")
    assert objects(pages) == []
    codes = [row.error.error.code for row in rejected(pages)]
    assert codes == ["IDS-400-063", "IDS-400-063", "IDS-400-063"]
