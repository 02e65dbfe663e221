"""``idsync worker``: cycles as procrastinate tasks on PostgreSQL, across processes.

Real worker processes share one PostgreSQL (a schema of its own per test module) and
sync from the Entra emulator into the hub; the hub is read back over SCIM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from procrastinate.jobs import Status

from idsync.config import Settings
from idsync.manage.worker import QUEUE, RUN_CYCLE, create_app, ensure_schema, requeue_stalled
from idsync.store import integrations as jobs
from idsync.store.database import Database, open_database
from idsync.store.migrate import upgrade
from tests.conftest import (
    PrivateDatabase,
    Server,
    _postgres_schema,
    start_server,
    stop_server,
    wait_for,
)
from tests.entra_emulator import start_emulator
from tests.sync.conftest import (
    Connected,
    Emulator,
    assert_hub_equals_directory,
    connect,
    cycle_finished,
    idsync,
)
from tests.sync.test_crash_resume import assert_no_duplicates


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from _postgres_schema()


@pytest.fixture(scope="module")
def pg_database(pg_url: str) -> Database:
    db = open_database(pg_url)
    upgrade(db)
    return db


@pytest.fixture(scope="module")
def pg_server(
    pg_database: Database, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    handle = start_server(pg_url, tmp_path_factory.mktemp("server") / "serve.log", "--no-scheduler")
    yield handle
    stop_server(handle)


@pytest.fixture
def big_emulator(tmp_path: Path) -> Iterator[Emulator]:
    """Enough objects for a cycle of many pages (at --page-size 3) to be killed mid-way."""
    handle = start_emulator(tmp_path / "emulator.log", Emulator, users=150, groups=10, seed=11)
    yield handle
    handle.stop()


class Worker:
    def __init__(self, database_url: str, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "idsync", "worker", "--database", database_url,
                    "--poll-seconds", "1", "--heartbeat-seconds", "1", *extra,
                ],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )  # fmt: skip

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log_path.read_text().splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        worker.stop()


def _job(db: Database, integration_id: str) -> jobs.JobRecord:
    with db.read() as conn:
        return jobs.get_job(conn, integration_id)


def _objects_read(db: Database, integration_id: str) -> int:
    checkpoint = _job(db, integration_id).checkpoint or {}
    counts = (checkpoint.get("tally") or {}).get("counts", {})
    return int(counts.get("usersRead", 0) + counts.get("groupsRead", 0))


def _connect(db: Database, server: Server, emulator: Emulator) -> Connected:
    """An integration that syncs on its own (a worker runs it), many small pages."""
    connected = connect(db, server, emulator, "--page-size", "3")
    idsync(connected.database_url, "integration", "update", connected.integration_id, "--auto-sync")
    return connected


def test_racing_workers_never_run_a_job_twice_at_once(
    pg_database: Database, pg_server: Server, big_emulator: Emulator, workers: list[Worker],
    tmp_path: Path,
) -> None:  # fmt: skip
    connected = _connect(pg_database, pg_server, big_emulator)
    for n in range(2):
        workers.append(Worker(pg_server.database_url, tmp_path / f"w{n}.log", "--concurrency", "2"))
    # Beyond the scheduler's own queueing lock: four tasks for the one job, deferred at once.
    ensure_schema(pg_database)  # the workers may not have created it yet
    app = create_app(pg_database, Settings.from_env())
    with app.open():
        run_cycle = app.tasks["idsync.run_cycle"]
        for _ in range(4):
            run_cycle.defer(integration_id=connected.integration_id)
    wait_for(lambda: cycle_finished(pg_database, connected.integration_id), "the cycle", 120)
    time.sleep(2)  # let the racers report
    lines = [line for w in workers for line in w.lines()]
    done = [x for x in lines if x.get("event") == "cycle done"]
    busy = [x for x in lines if x.get("event") == "cycle not run" and x["code"] == "IDS-409-014"]
    assert len(done) == 1, done
    assert busy, "no task raced the running cycle: the test proved nothing"
    with pg_database.read() as conn:
        cycles = conn.execute(
            sa.text("SELECT count(*) FROM sync_cycles WHERE integration_id = :i"),
            {"i": connected.integration_id},
        ).scalar_one()
    assert cycles == 1
    assert_hub_equals_directory(connected, big_emulator)
    assert_no_duplicates(connected)


def test_a_killed_worker_s_cycle_completes_on_another(
    pg_database: Database, pg_server: Server, big_emulator: Emulator, workers: list[Worker],
    tmp_path: Path,
) -> None:  # fmt: skip
    connected = _connect(pg_database, pg_server, big_emulator)
    for n in range(2):
        workers.append(Worker(pg_server.database_url, tmp_path / f"w{n}.log"))
    kills = 0
    for threshold in (10, 45, 90):  # objects read when the running worker is killed
        wait_for(
            lambda t=threshold: (
                _objects_read(pg_database, connected.integration_id) >= t
                or cycle_finished(pg_database, connected.integration_id)
            ),
            f"{threshold} objects read",
            90,
        )
        owner = _job(pg_database, connected.integration_id).running_by
        if owner is None:
            continue
        pid = int(owner.split(":")[1])
        victim = next(w for w in workers if w.process.pid == pid)
        os.kill(pid, signal.SIGKILL)
        victim.process.wait()
        kills += 1
        workers.append(Worker(pg_server.database_url, tmp_path / f"w{len(workers)}.log"))
    assert kills >= 2, "the cycle finished before it could be killed"
    wait_for(lambda: cycle_finished(pg_database, connected.integration_id), "the cycle", 120)
    assert _job(pg_database, connected.integration_id).status == "Active"
    assert_hub_equals_directory(connected, big_emulator)
    assert_no_duplicates(connected)


def test_sigterm_stops_the_cycle_at_a_checkpoint_for_another_worker(
    pg_database: Database, pg_server: Server, big_emulator: Emulator, workers: list[Worker],
    tmp_path: Path,
) -> None:  # fmt: skip
    connected = _connect(pg_database, pg_server, big_emulator)
    first = Worker(pg_server.database_url, tmp_path / "first.log")
    workers.append(first)
    wait_for(lambda: _objects_read(pg_database, connected.integration_id) >= 20, "progress", 90)
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=30) == 0
    job = _job(pg_database, connected.integration_id)
    assert job.running_by is None, "the claim was not released"
    assert job.checkpoint is not None, "the checkpoint was lost"
    with pg_database.read() as conn:
        status = conn.execute(
            sa.text("SELECT status FROM sync_cycles WHERE integration_id = :i"),
            {"i": connected.integration_id},
        ).scalar_one()
    assert status == "interrupted"
    workers.append(Worker(pg_server.database_url, tmp_path / "second.log"))
    wait_for(lambda: cycle_finished(pg_database, connected.integration_id), "the cycle", 120)
    assert_hub_equals_directory(connected, big_emulator)
    assert_no_duplicates(connected)


def test_due_jobs_are_queued_every_poll_interval_of_every_minute(tmp_path: Path) -> None:
    """The periodic task's cron as procrastinate reads it: every 5 s, not every second
    of every fifth minute."""
    app = create_app(open_database(f"sqlite:///{tmp_path / 'x.db'}"), Settings(), poll_seconds=5)
    (periodic,) = app.periodic_registry.periodic_tasks.values()
    schedule = periodic.croniter
    schedule.set_current(1_800_000_061)  # 00:01:01 of a minute not divisible by 5
    times = [int(schedule.get_next(float)) for _ in range(13)]
    assert times == list(range(1_800_000_065, 1_800_000_126, 5))


@pytest.fixture
def own_pg_database(postgres_database: PrivateDatabase) -> Database:
    """A PostgreSQL schema of its own, with procrastinate's tables and no other job."""
    ensure_schema(postgres_database.db)
    return postgres_database.db


def test_a_dead_worker_s_cycle_queued_again_meanwhile_does_not_block_the_integration(
    own_pg_database: Database,
) -> None:
    """While a killed worker's task lay stalled ("doing", holding the integration's lock),
    the scheduler queued the due job again. Requeueing the stalled task then broke the
    queueing lock's uniqueness, every scheduler tick failed, and the waiting task never
    got the lock: the killed-worker tests met this at random. Now the stalled task is
    marked failed and the waiting one runs."""
    app = create_app(own_pg_database, Settings.from_env())

    async def race() -> tuple[Status, Status, int | None]:
        async with app.open_async():
            run_cycle = app.tasks[RUN_CYCLE].configure(lock="job-1", queueing_lock="job-1")
            dead = await run_cycle.defer_async(integration_id="job-1")
            killed = await app.job_manager.register_worker()
            fetched = await app.job_manager.fetch_job([QUEUE], killed)
            assert fetched is not None and fetched.id == dead
            waiting = await run_cycle.defer_async(integration_id="job-1")  # the due job again
            await requeue_stalled(app, stalled_seconds=0)  # no heartbeat is that recent
            statuses = [await app.job_manager.get_job_status_async(j) for j in (dead, waiting)]
            another = await app.job_manager.register_worker()
            next_job = await app.job_manager.fetch_job([QUEUE], another)
            return statuses[0], statuses[1], None if next_job is None else next_job.id

    # A thread of its own: a browser test before this one may leave this thread's
    # event loop running, and asyncio.run refuses to start inside it.
    with ThreadPoolExecutor(1) as pool:
        dead_status, waiting_status, next_id = pool.submit(asyncio.run, race()).result()
    assert dead_status == Status.FAILED
    assert waiting_status == Status.TODO
    assert next_id is not None, "the integration's lock is still held by the dead task"
