"""How idsync uses its PostgreSQL connections: reads in autocommit (one round trip, no
BEGIN and COMMIT), writes in a transaction, and a pooled connection checked before use
only after it sat idle — so a connection the server dropped meanwhile is replaced
unseen, and one dropped while in steady use costs one failed statement, not more."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

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


def test_a_connection_dropped_while_idle_is_replaced_before_use(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    first = _backend_pid(pg)
    _terminate(first)
    assert _backend_pid(pg) != first


def test_a_connection_dropped_while_in_use_fails_one_statement_then_the_pool_recovers(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend_pid(pg)
    _terminate(first)
    with pytest.raises(IdsyncError) as caught:
        _backend_pid(pg)
    assert caught.value.error is DATABASE_UNAVAILABLE
    assert _backend_pid(pg) != first


def test_a_connection_dropped_under_a_prepared_lookup_is_not_handed_out_again(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API's lookups bypass SQLAlchemy's execution (store/prepared.py) but keep its
    handling of a dropped connection: one lookup fails with the catalogue's error, the
    next gets a new connection."""
    upgrade(pg)
    monkeypatch.setattr(database_module, "PING_AFTER_IDLE_SECONDS", 3600.0)
    first = _backend_pid(pg)
    _terminate(first)
    invalidated: list[bool] = []
    with pytest.raises(IdsyncError) as caught:
        _lookup_noting_invalidation(pg, invalidated)
    assert invalidated == [True]  # at once, as SQLAlchemy's execution does, not on return
    assert caught.value.error is DATABASE_UNAVAILABLE
    cause = caught.value.__cause__
    assert isinstance(cause, sa.exc.DBAPIError) and cause.connection_invalidated
    with pg.read() as conn:
        assert lookup(conn, "User", str(uuid.uuid4()), "user_name_key", "nobody", 0, 1).total == 0
    assert _backend_pid(pg) != first


def _lookup_noting_invalidation(db: Database, invalidated: list[bool]) -> None:
    with db.read() as conn:
        try:
            lookup(conn, "User", str(uuid.uuid4()), "user_name_key", "nobody", 0, 1)
        finally:
            invalidated.append(conn.invalidated)
