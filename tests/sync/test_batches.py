"""Pages written to the hub in one transaction (a batch): what a batch writes once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

from idsync.config import Settings
from idsync.manage import jobs
from idsync.store.database import Database
from idsync.store.models import USERS
from tests.conftest import add_file_integration

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
