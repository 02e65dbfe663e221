"""How idsync uses its PostgreSQL connections: reads in autocommit (one round trip, no
BEGIN and COMMIT), writes in a transaction, and a connection checked before use only
after it sat idle — so a connection the server dropped meanwhile is replaced unseen,
and one dropped while in steady use costs one failed statement, not more. Reads on the
main thread (the API's event loop) keep one connection of their own; reads in other
threads check one out of the pool: both recover alike."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from idsync.errors.catalogue import DATABASE_UNAVAILABLE, IdsyncError
from idsync.store import database as database_module
from idsync.store.database import Database, open_database
from idsync.store.migrate import upgrade
from idsync.store.resources import lookup
from tests.conftest import POSTGRES_URL, _postgres_schema


@pytest.fixture
def pg() -> Iterator[Database]:
    for url in _postgres_schema():
        db = open_database(url)
        yield db
        db.dispose()


Run = Callable[[Callable[[], Any]], Any]


@pytest.fixture(params=["main thread", "another thread"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """Calls a function on the main thread, or on one other thread (as a worker's)."""
    if request.param == "main thread":
        yield lambda fn: fn()
        return
    with ThreadPoolExecutor(1) as pool:
        yield lambda fn: pool.submit(fn).result()


def _backend_pid(db: Database) -> int:
    with db.read() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def _terminate(pid: int) -> None:
    with psycopg.connect(POSTGRES_URL, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def _status(conn: sa.Connection) -> psycopg.pq.TransactionStatus:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    return raw.info.transaction_status


def test_a_read_opens_no_transaction_and_a_write_does(pg: Database) -> None:
    with pg.read() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert _status(conn) is psycopg.pq.TransactionStatus.IDLE
    with pg.write() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert _status(conn) is psycopg.pq.TransactionStatus.INTRANS
        # A read inside a write reads through the write's transaction.
        with pg.read() as inner:
            assert inner is conn


def _commit_waits_for_disk(conn: sa.Connection) -> str:
    return str(conn.exec_driver_sql("SHOW synchronous_commit").scalar_one())


def test_only_a_replayable_write_commits_without_waiting_for_the_disk(pg: Database) -> None:
    """A sync cycle's batch, which its checkpoint lets it write again, commits without
    waiting for the log to reach the disk; every other write waits, as before, and the
    setting ends with the transaction that asked for it."""
    with pg.write(replayable=True) as conn:
        assert _commit_waits_for_disk(conn) == "off"
        with pg.write() as joined:  # a write inside it joins it, as it is
            assert _commit_waits_for_disk(joined) == "off"
    for _ in range(3):  # whichever pooled connection comes next
        with pg.write() as conn:
            assert _commit_waits_for_disk(conn) == "on"


def test_reads_on_the_main_thread_keep_one_connection_others_use_the_pool(pg: Database) -> None:
    first = _backend_pid(pg)
    with pg.write() as conn:  # a write checks one out of the pool
        writer = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
    assert _backend_pid(pg) == first != writer
    with ThreadPoolExecutor(1) as other:
        assert other.submit(_backend_pid, pg).result() != first


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    pg: Database, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = run(lambda: _backend_pid(pg))
    _terminate(first)
    assert run(lambda: _backend_pid(pg)) != first


def test_a_connection_dropped_while_in_use_fails_one_statement_then_reads_recover(
    pg: Database, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = run(lambda: _backend_pid(pg))
    _terminate(first)
    with pytest.raises(IdsyncError) as caught:
        run(lambda: _backend_pid(pg))
    assert caught.value.error is DATABASE_UNAVAILABLE
    assert run(lambda: _backend_pid(pg)) != first


def test_a_connection_dropped_under_a_prepared_lookup_is_not_handed_out_again(
    pg: Database, monkeypatch: pytest.MonkeyPatch, run: Run
) -> None:
    """The API's lookups bypass SQLAlchemy's execution (store/prepared.py) but keep its
    handling of a dropped connection: one lookup fails with the catalogue's error, the
    next gets a new connection."""
    upgrade(pg)
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = run(lambda: _backend_pid(pg))
    _terminate(first)
    invalidated: list[bool] = []
    with pytest.raises(IdsyncError) as caught:
        run(lambda: _lookup_noting_invalidation(pg, invalidated))
    assert invalidated == [True]  # at once, as SQLAlchemy's execution does, not on return
    assert caught.value.error is DATABASE_UNAVAILABLE
    cause = caught.value.__cause__
    assert isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated
    assert run(lambda: _lookup(pg)) == 0
    assert run(lambda: _backend_pid(pg)) != first


def _lookup(db: Database) -> int:
    with db.read() as conn:
        return lookup(conn, "User", str(uuid.uuid4()), "user_name_key", "nobody", 0, 1).total


def _lookup_noting_invalidation(db: Database, invalidated: list[bool]) -> None:
    with db.read() as conn:
        try:
            lookup(conn, "User", str(uuid.uuid4()), "user_name_key", "nobody", 0, 1)
        finally:
            invalidated.append(conn.invalidated)
