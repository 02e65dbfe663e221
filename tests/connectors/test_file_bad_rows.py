"""Bad rows: each is reported with its line and code, skipped whole, and the good rows go through."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.file import FileSource, file_settings
from idsync.contract.errors import Unavailable
from idsync.contract.records import MemberRef, ObjectType, Page, ReadStart, SourceObject

HEADER = b"id,userName,enabled,manager\n"
GOOD_BEFORE = b"u1,alice@example.com,true,\n"
GOOD_AFTER = b"u9,zed@example.com,false,u1\n"


def write(directory: Path, name: str, data: bytes) -> str:
    path = directory / name
    path.write_bytes(data)
    return str(path)


def source(users: str, groups: str | None = None, **settings: Any) -> FileSource:
    return FileSource(file_settings("hr", {"users": users, "groups": groups, **settings}))


def read(src: FileSource, object_type: ObjectType) -> list[Page]:
    return list(src.read(object_type, ReadStart()))


def ids(pages: list[Page]) -> list[str]:
    return [obj.source_id for page in pages for obj in page.objects]


def problems(pages: list[Page]) -> list[tuple[str, str]]:
    return [(row.reference, row.error.error.code) for page in pages for row in page.rejected]


@pytest.mark.parametrize(
    ("bad", "code", "says"),
    [
        (b",nobody@example.com,true,\n", "IDS-400-060", "has no value in the 'id' column"),
        (b"  ,nobody@example.com,true,\n", "IDS-400-060", "has no value in the 'id' column"),
        (b"u1,again@example.com,true,\n", "IDS-400-061", "'u1' is already used on line 2"),
        (b"u2,,true,\n", "IDS-400-062", "user 'u2' has no userName"),
        (b"u2,   ,true,\n", "IDS-400-062", "user 'u2' has no userName"),
        (b"u2,bob@example.com,maybe,\n", "IDS-400-063", "'maybe' is not a yes/no value"),
        (b"u2,bob@example.com,true,,extra\n", "IDS-400-065", "5 fields where the header has 4"),
        (b"u2,bob@example.com\n", "IDS-400-065", "2 fields where the header has 4"),
        (b'u2,"bob"@example.com,true,\n', "IDS-400-065", "not valid CSV"),
        (b"u2,b\xf6b@example.com,true,\n", "IDS-400-066", "not valid utf-8"),
    ],
)
def test_each_kind_of_bad_user_row(tmp_path: Path, bad: bytes, code: str, says: str) -> None:
    users = write(tmp_path, "users.csv", HEADER + GOOD_BEFORE + bad + GOOD_AFTER)
    with source(users) as src:
        pages = read(src, "user")
    assert ids(pages) == ["u1", "u9"]
    assert problems(pages) == [("line 3", code)]
    error = pages[-1].rejected[0].error
    assert says in error.message
    assert error.message.startswith("users.csv line 3: ")


def test_the_second_of_two_duplicates_is_refused_even_if_the_first_is_bad(tmp_path: Path) -> None:
    rows = b"u1,alice@example.com,perhaps,\nu1,alice@example.com,true,\n"
    with source(write(tmp_path, "users.csv", HEADER + rows)) as src:
        pages = read(src, "user")
    assert ids(pages) == []
    assert problems(pages) == [("line 2", "IDS-400-063"), ("line 3", "IDS-400-061")]


def test_multi_line_fields_keep_line_numbers_right(tmp_path: Path) -> None:
    data = (
        b"id,userName,title,enabled\n"  # line 1
        b'u1,alice@example.com,"Head of\n'  # 2
        b"Everything\n"  # 3
        b'",true\n'  # 4
        b"\n"  # 5: blank
        b'u2,bob@example.com,"one ""quoted"" line",sometimes\n'  # 6
        b'u3,carol@example.com,"a\r\nb",true\r\n'  # 7-8
        b",,,\n"  # 9: an empty spreadsheet row, skipped
        b"u4,dave@example.com,,nope\n"  # 10
    )
    with source(write(tmp_path, "users.csv", data)) as src:
        pages = read(src, "user")
    assert ids(pages) == ["u1", "u3"]
    assert problems(pages) == [("line 6", "IDS-400-063"), ("line 10", "IDS-400-063")]
    assert pages[0].objects[0].attributes["title"] == "Head of\nEverything"  # trimmed


def test_a_quote_that_never_closes_refuses_the_whole_file(tmp_path: Path) -> None:
    # The open quote swallows every later row: reading "the rest" would lose them all.
    data = HEADER + GOOD_BEFORE + b'u2,"bob@example.com,true,\n' + GOOD_AFTER
    with source(write(tmp_path, "users.csv", data)) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-041"
    assert "starts on line 3" in caught.value.message


def test_undecodable_header_refuses_the_file(tmp_path: Path) -> None:
    data = b"id,userName,D\xe9partement\nu1,a@example.com,x\n"
    with source(write(tmp_path, "users.csv", data)) as src, pytest.raises(Unavailable) as caught:
        read(src, "user")
    assert caught.value.error.code == "IDS-503-041"
    assert "header is not valid utf-8" in caught.value.message


def test_unknown_manager_keeps_the_user_without_a_manager(tmp_path: Path) -> None:
    rows = b"u1,alice@example.com,true,u404\nu2,bob@example.com,true,u1\n"
    with source(write(tmp_path, "users.csv", HEADER + rows)) as src:
        pages = read(src, "user")
        health = src.check()
    alice, bob = (obj for page in pages for obj in page.objects)
    assert alice.attributes["manager"] is None  # dropped: cleared, never left pointing at nobody
    assert bob.attributes["manager"] == "u1"
    assert problems(pages) == []
    assert health.details["warnings"] == 1
    (warning,) = health.details["warning_samples"]
    assert "users.csv line 2" in warning
    assert "'u404'" in warning


def test_manager_on_a_bad_row_is_still_a_known_manager(tmp_path: Path) -> None:
    # The manager's row is skipped for a typo this cycle; the reference stays.
    rows = b"u1,alice@example.com,perhaps,\nu2,bob@example.com,true,u1\n"
    with source(write(tmp_path, "users.csv", HEADER + rows)) as src:
        pages = read(src, "user")
    (bob,) = (obj for page in pages for obj in page.objects)
    assert bob.attributes["manager"] == "u1"


GROUPS_HEADER = b"id,displayName,members\n"


@pytest.mark.parametrize(
    ("bad", "code", "says"),
    [
        (b"g2,Ghosts,u1;u404;g404\n", "IDS-400-064", "in neither file: u404, g404"),
        (b"g2,,u1\n", "IDS-400-062", "group 'g2' has no displayName"),
        (b"g2,Self,g2\n", "IDS-400-063", "the group lists itself"),
        (b"g2,Both,dup\n", "IDS-400-063", "'dup' is the id of both a user and a group"),
        (b"g1,Again,u1\n", "IDS-400-061", "group id 'g1' is already used on line 2"),
        (b"g2,Two,u1,u9\n", "IDS-400-065", "4 fields where the header has 3"),
    ],
)
def test_each_kind_of_bad_group_row(tmp_path: Path, bad: bytes, code: str, says: str) -> None:
    users = write(tmp_path, "users.csv", HEADER + GOOD_BEFORE + GOOD_AFTER + b"dup,d@x.com,,\n")
    data = GROUPS_HEADER + b"g1,Staff,u1;u9\n" + bad + b"dup,Dup,g1\ng9,All,g1;u1\n"
    with source(users, write(tmp_path, "groups.csv", data)) as src:
        pages = read(src, "group")
    assert ids(pages) == ["g1", "dup", "g9"]
    assert problems(pages) == [("line 3", code)]
    message = pages[-1].rejected[0].error.message
    assert says in message
    assert message.startswith("groups.csv line 3: ")


def test_a_member_on_a_bad_row_keeps_the_group(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", HEADER + GOOD_BEFORE + b"u2,b@example.com,maybe,\n")
    groups = write(tmp_path, "groups.csv", GROUPS_HEADER + b"g1,Staff,u1;u2\n")
    with source(users, groups) as src:
        (group,) = (obj for page in read(src, "group") for obj in page.objects)
    assert group == SourceObject(
        "group",
        "g1",
        {"displayName": "Staff"},
        members_added=(MemberRef("user", "u1"), MemberRef("user", "u2")),
        members_complete=True,
    )


def test_members_separator_may_be_the_delimiter_when_quoted(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", b"id;userName\nu1;a@x.com\nu2;b@x.com\n")
    groups = write(
        tmp_path, "groups.csv", b'id;displayName;members\ng1;Staff;"u1;u2"\ng2;X;u1;u2\n'
    )
    with source(users, groups, delimiter=";") as src:
        pages = read(src, "group")
    assert [len(obj.members_added) for obj in pages[0].objects] == [2]
    assert problems(pages) == [("line 3", "IDS-400-065")]


def test_every_bad_row_is_counted_and_the_good_ones_pass(tmp_path: Path) -> None:
    good = b"".join(b"u%d,user%d@example.com,true,\n" % (n, n) for n in range(50))
    bad = b"".join(b"b%d,,true,\n" % n for n in range(30))
    with source(write(tmp_path, "users.csv", HEADER + good + bad), page_size=7) as src:
        pages = read(src, "user")
        health = src.check()
    assert len(ids(pages)) == 50
    assert len(problems(pages)) == 30
    assert problems(pages)[0] == ("line 52", "IDS-400-062")
    assert health.details["bad_rows"] == {"user": 30, "group": 0}
    assert len(health.details["bad_row_samples"]) == 20
