"""Watermarks and checkpoints: the file's digest says whether anything changed."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from idsync.connectors.file import FileSource, file_settings
from idsync.contract.errors import WatermarkExpired
from idsync.contract.records import ObjectType, Page, ReadStart

USERS = "id,userName\nu1,alice@example.com\nu2,bob@example.com\nu3,\nu4,dora@example.com\n"
GROUPS = "id,displayName,members\ng1,Staff,u1;u2\n"


def write(directory: Path, name: str, text: str) -> str:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def source(users: str, groups: str | None = None, **settings: Any) -> FileSource:
    return FileSource(file_settings("hr", {"users": users, "groups": groups, **settings}))


def read(src: FileSource, object_type: ObjectType, start: ReadStart | None = None) -> list[Page]:
    return list(src.read(object_type, start or ReadStart()))


def ids(pages: list[Page]) -> list[str]:
    return [obj.source_id for page in pages for obj in page.objects]


def test_a_full_read_ends_with_the_files_digest(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users) as src:
        pages = read(src, "user")
    # One file: its plain sha256, as `sha256sum users.csv` prints it.
    assert pages[-1].watermark == {"sha256": hashlib.sha256(USERS.encode()).hexdigest()}
    assert pages[-1].present is None  # a full read: the engine sees who is missing itself


def test_unchanged_file_is_one_empty_page(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users) as first:
        watermark = read(first, "user")[-1].watermark
    with source(users) as second:
        pages = read(second, "user", ReadStart(watermark=watermark))
    assert pages == [Page((), watermark=watermark)]


def test_changed_file_is_read_whole_with_the_ids_present(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users, page_size=2) as src:
        watermark = read(src, "user")[-1].watermark
        # u2 leaves, u5 arrives; u3 is still a bad row.
        Path(users).write_text(USERS.replace("u2,bob@example.com\n", "") + "u5,eve@example.com\n")
        pages = read(src, "user", ReadStart(watermark=watermark))
    assert ids(pages) == ["u1", "u4", "u5"]
    assert [page.present for page in pages[:-1]] == [None] * (len(pages) - 1)
    # A row skipped for a typo is still in the file: never taken for someone who left.
    assert pages[-1].present == frozenset({"u1", "u3", "u4", "u5"})
    assert pages[-1].watermark != watermark
    assert [row.reference for page in pages for row in page.rejected] == ["line 3"]


def test_a_changed_groups_file_changes_the_digest(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    groups = write(tmp_path, "groups.csv", GROUPS)
    with source(users, groups) as src:
        watermark = read(src, "group")[-1].watermark
        assert read(src, "group", ReadStart(watermark=watermark)) == [Page((), watermark=watermark)]
        Path(groups).write_text(GROUPS + "g2,Everyone,g1;u4\n")
        pages = read(src, "group", ReadStart(watermark=watermark))
    assert ids(pages) == ["g1", "g2"]
    assert pages[-1].present == frozenset({"g1", "g2"})


def test_an_emptied_file_reports_nobody_present(tmp_path: Path) -> None:
    # Valid, and left to the engine's deletion threshold and shrink check.
    users = write(tmp_path, "users.csv", USERS)
    with source(users) as src:
        watermark = read(src, "user")[-1].watermark
        Path(users).write_text("id,userName\n")
        pages = read(src, "user", ReadStart(watermark=watermark))
    assert len(pages) == 1
    assert pages[0].present == frozenset()


def test_an_incremental_read_resumed_still_ends_with_present(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users, page_size=2) as src:
        watermark = read(src, "user")[-1].watermark
        Path(users).write_text(USERS + "u5,eve@example.com\n")
        first = next(iter(src.read("user", ReadStart(watermark=watermark))))
    assert first.resume["incremental"] is True
    with source(users, page_size=2) as fresh:
        rest = read(fresh, "user", ReadStart(watermark=watermark, resume=first.resume))
    assert ids([first, *rest]) == ["u1", "u2", "u4", "u5"]
    assert rest[-1].present == frozenset({"u1", "u2", "u3", "u4", "u5"})


def test_a_checkpoint_on_a_file_that_changed_since_expires(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users, page_size=2) as src:
        first = next(iter(src.read("user", ReadStart())))
    Path(users).write_text(USERS + "u5,eve@example.com\n")
    with source(users, page_size=2) as fresh, pytest.raises(WatermarkExpired) as caught:
        read(fresh, "user", ReadStart(resume=first.resume))
    assert caught.value.error.code == "IDS-410-010"
    assert "changed" in caught.value.message


@pytest.mark.parametrize(
    "start",
    [
        ReadStart(watermark={"delta": "https://graph.microsoft.com/…"}),
        ReadStart(watermark="abc"),
        ReadStart(resume={"sha256": "00"}),
        ReadStart(resume={"sha256": "00", "next": -1}),
    ],
)
def test_a_stored_position_that_is_not_ours_expires(tmp_path: Path, start: ReadStart) -> None:
    with source(write(tmp_path, "users.csv", USERS)) as src, pytest.raises(WatermarkExpired):
        read(src, "user", start)


def test_a_checkpoint_past_the_end_expires(tmp_path: Path) -> None:
    users = write(tmp_path, "users.csv", USERS)
    with source(users) as src:
        digest = read(src, "user")[-1].watermark["sha256"]
        with pytest.raises(WatermarkExpired):
            read(src, "user", ReadStart(resume={"sha256": digest, "next": 99}))
