"""Pages written to the hub in one transaction (a batch): what a batch writes once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from idsync.config import Settings
from idsync.contract.records import MemberRef, Page, SourceObject
from idsync.manage import jobs
from idsync.manage.integrations import get_integration
from idsync.store.database import Database
from idsync.store.models import MEMBERSHIPS, USERS
from tests.conftest import add_file_integration
from tests.prepared_source import PreparedSource, paged, prepared_cycle

USERS_IN_FILE = 30


def _one_user_a_page(database: Database, folder: Path) -> str:
    """A file integration whose pages hold one user each: a file reads faster than the hub
    writes, so the read-ahead always has the next page waiting and batches fill."""
    users = folder / "users.csv"
    users.write_text(
        "id,userName\n" + "".join(f"{n},user{n}@example.org\n" for n in range(USERS_IN_FILE))
    )
    return add_file_integration(database, {"users": str(users), "page_size": 1}, org_name="B")


def test_a_batch_saves_the_checkpoint_once_after_its_last_page(
    database: Database, tmp_path: Path
) -> None:
    """No one sees a checkpoint before its transaction commits, and the commit keeps only
    the last: a batch writes it once, not once a page."""
    integration_id = _one_user_a_page(database, tmp_path)
    transactions: list[dict[str, int]] = []
    current = {"checkpoints": 0, "pages": 0}

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.startswith("UPDATE sync_jobs SET checkpoint"):
            current["checkpoints"] += 1
        elif statement.startswith("INSERT INTO sync_objects"):  # a page's new links
            current["pages"] += 1

    def committed(_conn: Any) -> None:
        transactions.append(dict(current))
        current.update(checkpoints=0, pages=0)

    event.listen(database.engine, "before_cursor_execute", count)
    event.listen(database.engine, "commit", committed)
    try:
        report = jobs.run_cycle(database, Settings.from_env(), integration_id)
    finally:
        event.remove(database.engine, "before_cursor_execute", count)
        event.remove(database.engine, "commit", committed)
    assert report.status == "Active", (report.reason_code, report.reason)
    assert report.counts["create"] == USERS_IN_FILE
    assert max(t["pages"] for t in transactions) >= 2, transactions  # batches formed
    assert sum(t["pages"] for t in transactions) == USERS_IN_FILE, transactions
    assert all(t["checkpoints"] <= 1 for t in transactions), transactions
    with database.read() as conn:
        owned = USERS.c.owner_integration_id == integration_id
        assert conn.execute(sa.select(sa.func.count()).where(owned)).scalar_one() == USERS_IN_FILE


def _members(*numbers: int) -> tuple[MemberRef, ...]:
    return tuple(MemberRef("user", f"u{n}") for n in numbers)


def _group_pages() -> list[Page]:
    """A group whose 600 members the directory splits over three pages, as Entra's delta
    does, listing one of the second page's members again in the third, and taking one out
    in the second and back in the third. Each page repeats the group's name: the group is
    unchanged after the first."""
    named = {"displayName": "Everyone"}
    objects = [
        SourceObject("group", "g", named, members_added=_members(*range(250))),
        SourceObject(
            "group",
            "g",
            named,
            members_added=_members(*range(250, 500)),
            members_removed=_members(7),
        ),
        SourceObject("group", "g", named, members_added=_members(*range(500, 600), 260, 7)),
    ]
    return [
        Page((obj,), resume=n, watermark="end" if n == 2 else None) for n, obj in enumerate(objects)
    ]


def test_a_group_split_over_the_pages_of_a_batch_gets_each_member_once(
    database: Database, tmp_path: Path
) -> None:
    """A large group whose members the directory splits over pages written in one batch:
    a member listed twice, or taken out and given again, ends up a member once."""
    integration_id = _one_user_a_page(database, tmp_path)
    record = get_integration(database, integration_id)
    users = [
        SourceObject("user", f"u{n}", {"userName": f"u{n}@example.org"}, whole=True)
        for n in range(600)
    ]
    source = PreparedSource({"user": paged(users, 100), "group": _group_pages()})
    report = prepared_cycle(database, integration_id, source).run()
    assert report.status == "Active", (report.reason_code, report.reason)
    # u7: added, taken out, added again; u260 listed twice.
    assert report.counts["membersAdded"] == 601, report.counts
    assert report.counts["membersRemoved"] == 1, report.counts
    with database.read() as conn:
        held = conn.execute(
            sa.select(sa.func.count()).where(MEMBERSHIPS.c.org_id == record.org_id)
        ).scalar_one()
    assert held == 600
