"""A cycle cut off from its database (a PostgreSQL restart or failover) records what
really happened, database unavailable, counts it toward quarantine, and the next cycle
resumes from its checkpoint without losing or duplicating anything.

The cut is real: mid-cycle, from the cycle's own progress callback, the cycle's role
may no longer log in and its backends are terminated (``pg_terminate_backend``); the
role may log in again two seconds later, as a database coming back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from idsync.config import Settings
from idsync.manage import integrations, jobs
from idsync.store.database import Database, open_database
from idsync.store.migrate import upgrade
from idsync.store.models import USERS
from idsync.sync import engine
from idsync.sync.jobs import TRANSIENT_FAILURES_LIMIT
from tests.conftest import POSTGRES_URL, REQUIRE_POSTGRES, add_file_integration

USERS_IN_FILE = 40


@dataclass
class Cuttable:
    db: Database
    role: str
    admin: sa.Engine

    def cut(self, back_after: float = 2.0) -> None:
        """Refuse the role's logins, kill its connections, let it in again later."""
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{self.role}" NOLOGIN')
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"
                ),
                {"r": self.role},
            )
        threading.Timer(back_after, self.restore).start()

    def restore(self) -> None:
        with self.admin.begin() as conn:
            conn.exec_driver_sql(f'ALTER ROLE "{self.role}" LOGIN')


@pytest.fixture
def cuttable() -> Iterator[Cuttable]:
    """A PostgreSQL schema of its own, used through a role of its own."""
    name = f"idsync_cut_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(POSTGRES_URL.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE ROLE "{name}" LOGIN')
            conn.exec_driver_sql(f'CREATE SCHEMA "{name}" AUTHORIZATION "{name}"')
    except sa.exc.OperationalError as exc:
        if REQUIRE_POSTGRES:
            raise
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {exc.orig}")
    url = sa.make_url(POSTGRES_URL).set(username=name, query={"options": f"-csearch_path={name}"})
    db = open_database(url.render_as_string(hide_password=False))
    upgrade(db)
    yield Cuttable(db, name, admin)
    db.dispose()
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{name}" CASCADE')
        conn.exec_driver_sql(f'DROP ROLE "{name}"')
    admin.dispose()


def _integration(db: Database, folder: Path) -> str:
    users = folder / "users.csv"
    users.write_text(
        "id,userName\n" + "".join(f"{n},user{n}@example.org\n" for n in range(USERS_IN_FILE))
    )
    return add_file_integration(db, {"users": str(users), "page_size": 10}, org_name="Cut")


def _cut_once(cuttable: Cuttable) -> engine.ProgressCallback:
    done: list[bool] = []

    def progress(event: engine.Progress) -> None:
        if not done:
            done.append(True)
            cuttable.cut()

    return progress


def test_a_cycle_cut_off_from_the_database_records_it_and_resumes(
    cuttable: Cuttable, tmp_path: Path
) -> None:
    db, config = cuttable.db, Settings.from_env()
    integration = _integration(db, tmp_path)

    cut = jobs.run_cycle(db, config, integration, progress=_cut_once(cuttable))
    # Not yet quarantined: one failure; the job has not finished a cycle yet.
    assert (cut.status, cut.reason_code) == ("NotRun", "IDS-503-001"), cut
    job = integrations.get_job(db, integration)
    assert job.successive_failures == 1
    assert job.checkpoint is not None, "the cycle's checkpoint is kept for the next one"

    resumed = jobs.run_cycle(db, config, integration)
    assert resumed.cycle_id == cut.cycle_id, "the next cycle resumes the one cut off"
    assert (resumed.status, resumed.reason_code) == ("Active", None)
    with db.read() as conn:
        names = list(conn.execute(sa.select(USERS.c.user_name)).scalars())
    assert sorted(names) == sorted(f"user{n}@example.org" for n in range(USERS_IN_FILE))

    for failures in range(1, TRANSIENT_FAILURES_LIMIT + 1):
        report = jobs.run_cycle(db, config, integration, full=True, progress=_cut_once(cuttable))
        assert report.reason_code == "IDS-503-001"
        assert integrations.get_job(db, integration).successive_failures == failures
    assert report.status == "Quarantine", "cut off again and again, the job is quarantined"
