"""Reading users and groups from CSV files: exact objects, column mapping, paging, checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.file import FileSource, file_settings
from idsync.contract.errors import Unavailable
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, SourceObject
from idsync.errors.catalogue import IdsyncError

USERS = """\
id,userName,enabled,displayName,givenName,surname,mail,title,department,employeeId,manager,costCenter
u1,alice@example.com,true,Alice Liddell,Alice,Liddell,alice@example.com,CEO,Board,1001,,CC-1
u2,bob@example.com,no,Bob Stone,Bob,Stone,,Engineer,R&D,1002,u1,
u3,carol@example.com,,"Carol ""CJ"" Jones",Carol,Jones,carol@example.com,,R&D,1003,u1,CC-3
"""
GROUPS = """\
id,displayName,members
g1,Engineering,u2;u3
g2,Everyone,g1; u1 ;
g3,Empty,
"""


def write(directory: Path, name: str, text: str, encoding: str = "utf-8") -> str:
    path = directory / name
    path.write_bytes(text.encode(encoding))
    return str(path)


def source(users: str, groups: str | None = None, **settings: Any) -> FileSource:
    return FileSource(file_settings("hr-csv", {"users": users, "groups": groups, **settings}))


def read(src: FileSource, object_type: ObjectType, start: ReadStart | None = None) -> list[Page]:
    return list(src.read(object_type, start or ReadStart()))


def objects(pages: list[Page]) -> list[SourceObject]:
    return [obj for page in pages for obj in page.objects]


def test_users_become_exact_objects(tmp_path: Path) -> None:
    with source(write(tmp_path, "users.csv", USERS)) as src:
        pages = read(src, "user")
    assert [page.rejected for page in pages] == [()]
    alice, bob, carol = objects(pages)
    assert alice == SourceObject(
        "user",
        "u1",
        {
            "userName": "alice@example.com",
            "enabled": True,
            "displayName": "Alice Liddell",
            "givenName": "Alice",
            "surname": "Liddell",
            "mail": "alice@example.com",
            "title": "CEO",
            "department": "Board",
            "employeeId": "1001",
            "manager": None,
            "costCenter": "CC-1",
        },
    )
    # An empty cell clears the attribute; an empty `enabled` means enabled.
    assert bob.attributes["enabled"] is False
    assert bob.attributes["mail"] is None
    assert bob.attributes["manager"] == "u1"
    assert bob.attributes["costCenter"] is None
    assert carol.attributes["enabled"] is True
    assert carol.attributes["displayName"] == 'Carol "CJ" Jones'
    # Columns the header does not have are not managed: absent, not cleared.
    assert "mobile" not in alice.attributes


def test_groups_list_users_and_groups_as_members(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users, write(tmp_path, "groups.csv", GROUPS)) as src:
        pages = read(src, "group")
    assert pages[-1].rejected == ()
    assert objects(pages) == [
        SourceObject(
            "group",
            "g1",
            {"displayName": "Engineering"},
            members_added=(MemberRef("user", "u2"), MemberRef("user", "u3")),
            members_complete=True,
        ),
        SourceObject(
            "group",
            "g2",
            {"displayName": "Everyone"},
            members_added=(MemberRef("group", "g1"), MemberRef("user", "u1")),
            members_complete=True,
        ),
        # An empty members cell is a group with no members, not an unknown list.
        SourceObject("group", "g3", {"displayName": "Empty"}, members_complete=True),
    ]


def test_a_group_of_a_hundred_thousand_members_is_read_whole(tmp_path: Path) -> None:
    """Its members cell (1.2 MB) is far over the csv module's default field limit (128 KiB)."""
    ids = [f"user{n:06d}" for n in range(100_000)]
    users = write(tmp_path, "users.csv", "id,userName\n" + "".join(f"{i},{i}@x.org\n" for i in ids))
    groups = write(tmp_path, "groups.csv", "id,displayName,members\nall,All," + ";".join(ids))
    with source(users, groups) as src:
        pages = read(src, "group")
    assert [page.rejected for page in pages] == [()]
    [everyone] = objects(pages)
    assert everyone.members_added == tuple(MemberRef("user", i) for i in ids)


def test_without_a_groups_file_there_are_no_groups(tmp_path: Path) -> None:
    with source(write(tmp_path, "users.csv", USERS)) as src:
        pages = read(src, "group")
    assert len(pages) == 1
    assert pages[0].objects == ()
    assert pages[0].is_last


@pytest.mark.parametrize(
    ("cell", "enabled"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("1", True),
        ("", True),
        (" Yes ", True),
        ("false", False),
        ("No", False),
        ("0", False),
    ],
)
def test_enabled_spellings(tmp_path: Path, cell: str, enabled: bool) -> None:
    users = write(tmp_path, "users.csv", f"id,userName,enabled\nu1,a@example.com,{cell}\n")
    with source(users) as src:
        (user,) = objects(read(src, "user"))
    assert user.attributes["enabled"] is enabled


def test_own_headers_through_column_mapping(tmp_path: Path) -> None:
    users = write(
        tmp_path,
        "export.csv",
        "Personalnummer;E-Mail;Aktiv;Abteilung;Chef\n7;anna@example.de;ja;;\n8;ben@example.de;0;IT;7\n",
    )
    columns = {
        "userName": "E-Mail",
        "mail": "E-Mail",
        "enabled": "Aktiv",
        "department": "Abteilung",
        "manager": "Chef",
    }
    settings: dict[str, Any] = {"delimiter": ";", "id_column": "Personalnummer", "columns": columns}
    with source(users, **settings) as src:
        pages = read(src, "user")
    # "ja" is not one of the documented spellings: that row is refused, the other applied.
    (rejected,) = pages[-1].rejected
    assert rejected.reference == "line 2"
    assert rejected.error.error.code == "IDS-400-063"
    assert "'Aktiv'" in rejected.error.message
    (ben,) = objects(pages)
    assert ben == SourceObject(
        "user",
        "8",
        {
            "userName": "ben@example.de",
            "mail": "ben@example.de",
            "enabled": False,
            "department": "IT",
            "manager": "7",
        },
    )


def test_byte_order_mark_and_other_encodings(tmp_path: Path) -> None:
    text = "id,userName,displayName\nu1,rene@example.com,René Müller\n"
    with_bom = write(tmp_path, "bom.csv", "\ufeff" + text)
    latin = write(tmp_path, "latin.csv", text, encoding="cp1252")
    utf16 = write(tmp_path, "utf16.csv", text, encoding="utf-16")
    for path, encoding in [(with_bom, "utf-8"), (latin, "cp1252"), (utf16, "utf-16")]:
        with source(path, encoding=encoding) as src:
            (user,) = objects(read(src, "user"))
        assert user.source_id == "u1", path
        assert user.attributes["displayName"] == "René Müller", path


def test_tab_separated_and_crlf(tmp_path: Path) -> None:
    users = write(
        tmp_path,
        "users.csv",
        'id\tuserName\ttitle\r\nu1\ta@example.com\t"two\r\nlines"\r\nu2\tb@example.com\t\r\n',
    )
    with source(users, delimiter="\t") as src:
        first, second = objects(read(src, "user"))
    assert first.attributes["title"] == "two\r\nlines"
    assert second.attributes == {"userName": "b@example.com", "title": None}


def test_pages_resume_in_a_new_source(tmp_path: Path) -> None:
    rows = "".join(f"u{n},user{n}@example.com\n" for n in range(7))
    users = write(tmp_path, "users.csv", "id,userName\n" + rows)
    with source(users, page_size=3) as src:
        pages = read(src, "user")
    assert [len(page.objects) for page in pages] == [3, 3, 1]
    assert [page.is_last for page in pages] == [False, False, True]
    assert pages[0].resume["next"] == 3
    # A cycle that stopped after the first page continues with a fresh source.
    with source(users, page_size=3) as fresh:
        rest = read(fresh, "user", ReadStart(resume=pages[0].resume))
    assert objects(rest) == objects(pages[1:])
    assert rest[-1].watermark == pages[-1].watermark


def test_a_page_ends_exactly_at_the_last_row(tmp_path: Path) -> None:
    rows = "".join(f"u{n},user{n}@example.com\n" for n in range(4))
    users = write(tmp_path, "users.csv", "id,userName\n" + rows)
    with source(users, page_size=2) as src:
        pages = read(src, "user")
    assert [len(page.objects) for page in pages] == [2, 2]
    assert pages[-1].is_last


def test_header_only_file_is_valid_and_empty(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", "id,userName,mail\n")
    with source(users) as src:
        pages = read(src, "user")
        health = src.check()
    assert len(pages) == 1
    assert pages[0].objects == ()
    assert pages[0].is_last
    assert health.ok
    assert health.details["users"] == 0


def test_read_one(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS + "u4,dave@example.com,perhaps" + "," * 9 + "\n")
    with source(users) as src:
        bob = src.read_one("user", "u2")
        assert bob is not None
        assert bob.attributes["userName"] == "bob@example.com"
        assert src.read_one("user", "nobody") is None
        assert src.read_one("group", "u2") is None
        # A row that is there but bad says why, rather than "no such user".
        with pytest.raises(IdsyncError) as caught:
            src.read_one("user", "u4")
    assert caught.value.error.code == "IDS-400-063"
    assert "line 5" in caught.value.message


def test_check_counts_users_groups_and_bad_rows(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS + ",nobody@example.com" + "," * 10 + "\n")
    groups = write(tmp_path, "groups.csv", GROUPS + "g4,Ghosts,u9\n")
    with source(users, groups) as src:
        health = src.check()
    assert health.ok
    details = health.details
    assert (details["users"], details["groups"]) == (3, 3)
    assert details["bad_rows"] == {"user": 1, "group": 1}
    assert [(row["reference"], row["code"]) for row in details["bad_row_samples"]] == [
        ("line 5", "IDS-400-060"),
        ("line 5", "IDS-400-064"),
    ]
    assert details["format"] == {"users": "csv", "groups": "csv"}


def test_missing_file_is_an_error_never_no_users(tmp_path: Path) -> None:
    gone = str(tmp_path / "users.csv")
    with source(gone) as src:
        with pytest.raises(Unavailable) as caught:
            read(src, "user")
        health = src.check()
    assert caught.value.error.code == "IDS-503-040"
    assert gone in caught.value.message
    assert not health.ok
    assert health.details["code"] == "IDS-503-040"
    assert health.details["retryable"] is True


def test_missing_groups_file_stops_the_user_read_too(tmp_path: Path) -> None:
    # Both files make one snapshot (members need the users): neither is read alone.
    users = write(tmp_path, "users.csv", USERS)
    with source(users, str(tmp_path / "groups.csv")) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-040"
    assert "groups file" in caught.value.message


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    (tmp_path / "users.csv").mkdir()
    with source(str(tmp_path / "users.csv")) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-041"
    assert "directory" in caught.value.message


@pytest.mark.parametrize(
    ("users_text", "groups_text", "missing", "file"),
    [
        ("id,mail\nu1,a@example.com\n", None, "userName", "users.csv"),
        ("userName\na@example.com\n", None, "id", "users.csv"),
        ("", None, "id, userName", "users.csv"),
        (USERS, "id,displayName\ng1,Admins\n", "members", "groups.csv"),
        (USERS, "id,members\ng1,u1\n", "displayName", "groups.csv"),
    ],
)
def test_required_columns(
    tmp_path: Path, users_text: str, groups_text: str | None, missing: str, file: str
) -> None:
    users = write(tmp_path, "users.csv", users_text)
    groups = write(tmp_path, "groups.csv", groups_text) if groups_text is not None else None
    with source(users, groups) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-042"
    assert f"lacks the required column(s) {missing}" in caught.value.message
    assert str(tmp_path / file) in caught.value.message


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", "id,userName,mail,mail\nu1,a@example.com,x,y\n")
    with source(users) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-042"
    assert "mail twice" in caught.value.message
