"""Which pages ask the database for their objects' links: in a first load, only those
holding an object the load has already linked (a source may report one twice)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from idsync.contract.records import SourceObject
from idsync.store.database import Database
from idsync.store.models import USERS
from tests.prepared_source import PreparedSource, hub_integration, paged, prepared_cycle
from tests.statements import statements

LOOKUP = "SELECT sync_objects.source_id, sync_objects.target_id"
BY_SOURCE_ID = ("sync_objects.source_id IN", "sync_objects.source_id = ANY")  # SQLite, PostgreSQL


def _user(n: int, display: str, name: str | None = None) -> SourceObject:
    attributes = {"userName": name or f"u{n}@example.org", "displayName": display}
    return SourceObject("user", f"u{n}", attributes, whole=True)


def _lookups(seen: list[str]) -> list[str]:
    """The link lookups by source id among ``seen``."""
    return [s for s in seen if s.startswith(LOOKUP) and any(w in s for w in BY_SOURCE_ID)]


def test_a_first_load_looks_links_up_only_for_an_object_it_reads_again(
    database: Database, tmp_path: Path
) -> None:
    integration_id = hub_integration(database, tmp_path)
    users = [_user(n, f"User {n}") for n in range(30)]
    # Three pages of ten, then u3 again, renamed since (a delta read may do that): only
    # its link, not its userName, says it is the user the first page created.
    pages = paged(users, 10)
    pages[-1:] = paged([*users[20:], _user(3, "Renamed", "renamed@example.org")], 10)
    source = PreparedSource({"user": pages})

    with statements(database) as seen:
        report = prepared_cycle(database, integration_id, source).run()
    first = _lookups(seen)
    assert report.status == "Active", (report.reason_code, report.reason)
    assert (report.counts.get("create"), report.counts.get("update")) == (30, 1), report.counts
    assert len(first) == 1, first  # the last page's, for u3
    with database.read() as conn:
        rows = conn.execute(
            sa.select(USERS.c.user_name, USERS.c.display_name).where(
                USERS.c.owner_integration_id == integration_id
            )
        ).all()
    assert len(rows) == 30
    assert dict(rows)["renamed@example.org"] == "Renamed"

    # Once linked, every page asks: the next cycle finds everything unchanged.
    with statements(database) as seen:
        report = prepared_cycle(database, integration_id, source).run()
    second = _lookups(seen)
    assert report.status == "Active", (report.reason_code, report.reason)
    assert report.counts.get("create", 0) == 0, report.counts
    assert len(second) == len(pages), second
