"""The one way to open the database.

SQLite (a file, the embedded default) and PostgreSQL (production) go through the
same code; the differences are confined here and in ``filter_sql.py``.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, DisconnectionError, OperationalError

from idsync.errors.catalogue import (
    CONCURRENT_CHANGE,
    DATABASE_UNAVAILABLE,
    INVALID_DATABASE_URL,
    NUL_CHARACTER,
    IdsyncError,
)
from idsync.scim.compare import fold

SQLITE_BUSY_TIMEOUT_MS = 10_000
PING_AFTER_IDLE_SECONDS = 5.0
"""A pooled PostgreSQL connection idle this long is checked before use (see _ping_when_idle)."""


def normalize_url(url: str) -> URL:
    """Parse a database URL; plain ``postgresql://`` means psycopg 3."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise IdsyncError(INVALID_DATABASE_URL, url=url, reason=str(exc)) from None
    backend = parsed.get_backend_name()
    if (
        backend == "postgresql" and parsed.drivername in ("postgresql", "postgres")
    ) or backend == "postgres":
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise IdsyncError(
            INVALID_DATABASE_URL, url=url, reason=f"the {backend!r} backend is not supported"
        )
    return parsed


class Database:
    """An engine plus the transaction discipline idsync uses.

    ``read()`` reads in autocommit, each statement seeing what was committed before it
    began: on PostgreSQL that is what READ COMMITTED gives a transaction's statements
    anyway, without the BEGIN and COMMIT round trips (two of the four a filtered GET made).
    ``write()`` opens one that takes the write lock up front
    (``BEGIN IMMEDIATE`` on SQLite): a deferred SQLite transaction that reads and
    then writes fails at once with "database is locked" when another writer got
    in between, instead of waiting.

    Inside a ``write()``, in the same thread, a ``write()`` joins it and a ``read()``
    reads through it, seeing what it wrote. A joined write whose caller handles its
    database errors and goes on says so (``may_fail``): it runs in a savepoint, so the
    error undoes only its part, as its own transaction would have. Only those: on
    PostgreSQL, a transaction with more than 64 subtransactions slows every later
    statement down (its subtransaction cache overflows). That is how a sync cycle
    writes several pages (objects, links, log, checkpoint) in one transaction:
    each commit writes every index page it dirtied, and a first cycle's random
    keys dirty a page per row, so fewer, larger commits write each page once.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            _create_private_file(self.url)
        # hide_parameters: a statement's values (argon2 hashes, users' documents) never
        # reach an exception's text, and so never a log line.
        self.engine: Engine = create_engine(
            self.url, echo=echo, hide_parameters=True, **self._engine_options()
        )
        # Within one process, SQLite writers queue on this lock instead of in
        # SQLite's busy handler, which sleeps in coarse steps under contention.
        self._write_lock = threading.Lock() if self.dialect == "sqlite" else None
        self._reading: ContextVar[Connection | None] = ContextVar(
            f"idsync_read_{id(self)}", default=None
        )
        self._writing: ContextVar[tuple[int, Connection] | None] = ContextVar(
            f"idsync_write_{id(self)}", default=None
        )
        """The open write transaction and its thread: a context copied into another
        thread (a read-ahead helper) must not use it."""
        self._main_reader: Connection | None = None
        self._main_used = 0.0
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing = threading.Lock()
        self._reads = self.engine
        if self.dialect == "sqlite":
            _configure_sqlite(self.engine)
        else:
            event.listen(self.engine, "handle_error", _terse_postgres_error)
            _ping_when_idle(self.engine)
            self._reads = self.engine.execution_options(isolation_level="AUTOCOMMIT")

    def _engine_options(self) -> dict[str, Any]:
        json_options = {"json_serializer": _dumps, "json_deserializer": orjson.loads}
        if self.dialect == "sqlite":
            return {
                "pool_size": 8,
                "max_overflow": 32,
                "pool_pre_ping": False,
                "pool_use_lifo": True,
                **json_options,
            }
        return {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": False, **json_options}

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection without a transaction (migrations manage their own)."""
        with _unavailable_as_error(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction; nested calls in the same context share the outer one.

        A request authenticates and then reads through one connection, instead of
        checking one out of the pool for each step.
        """
        current = self._joined_write() or self._reading.get()
        if current is not None:
            yield current
            return
        if threading.current_thread() is threading.main_thread():
            with self._main_thread_read() as conn:
                yield conn
            return
        with _unavailable_as_error(), self._reads.connect() as conn, conn.begin():
            token = self._reading.set(conn)
            try:
                yield conn
            finally:
                self._reading.reset(token)

    @contextmanager
    def _main_thread_read(self) -> Iterator[Connection]:
        """Reads on the event loop's thread share one long-lived connection.

        The API answers reads inline on the loop, in the process's main thread (on
        PostgreSQL, only those of one user by a unique key); checking a connection out
        of the pool and back for each request cost about a tenth of a filtered GET on
        SQLite, a sixth on PostgreSQL. It reads in autocommit, so each statement still
        sees the latest committed data. After PING_AFTER_IDLE_SECONDS unused it is
        checked first, as the pool checks its own (``_ping_when_idle``); a database
        error, or a connection lost, drops it, and the next read opens a fresh one.
        """
        conn = self._main_reader_ready()
        token = self._reading.set(conn)
        try:
            with _unavailable_as_error():
                yield conn
        except BaseException as exc:
            if isinstance(exc, DBAPIError) or conn.invalidated:
                self._drop_main_reader()
            raise
        finally:
            self._reading.reset(token)
            self._main_used = time.monotonic()

    def _main_reader_ready(self) -> Connection:
        conn = self._main_reader
        if conn is not None and time.monotonic() - self._main_used >= PING_AFTER_IDLE_SECONDS:
            try:
                dbapi = conn.connection.dbapi_connection
                assert dbapi is not None
                self.engine.dialect.do_ping(dbapi)
            except Exception:  # whatever the driver raises for a connection gone
                self._drop_main_reader()
                conn = None
        if conn is None:
            with _unavailable_as_error():
                conn = self._main_reader = self._reads.connect()
        return conn

    def _drop_main_reader(self) -> None:
        conn, self._main_reader = self._main_reader, None
        if conn is not None:
            conn.invalidate()
            conn.close()

    def _joined_write(self) -> Connection | None:
        writing = self._writing.get()
        if writing is None or writing[0] != threading.get_ident():
            return None
        return writing[1]

    @contextmanager
    def write(self, *, may_fail: bool = False, replayable: bool = False) -> Iterator[Connection]:
        """A write transaction; nested calls in the same thread join it (``may_fail``: as a
        savepoint, for a caller that handles the error).

        ``replayable``: what it writes carries its own way back (a sync cycle's batch of
        pages, committed with the checkpoint that skips them next time), so on
        PostgreSQL its commit does not wait for the log to reach the disk
        (``synchronous_commit`` off, for this transaction alone). A server crash may then
        forget the last such commits, each whole and with its checkpoint, and the
        cycle's next run reads and writes those pages again: nothing is half done. Any
        transaction that commits later (the cycle's end, a SCIM request) flushes them
        with its own log. SQLite's commits already do not wait for the disk
        (``synchronous = NORMAL`` with a write-ahead log)."""
        joined = self._joined_write()
        if joined is not None and may_fail:
            with _unavailable_as_error(), joined.begin_nested():
                yield joined
            return
        if joined is not None:
            yield joined
            return
        with self._new_write(replayable) as conn:
            token = self._writing.set((threading.get_ident(), conn))
            try:
                yield conn
            finally:
                self._writing.reset(token)

    @contextmanager
    def _new_write(self, replayable: bool) -> Iterator[Connection]:
        if self._write_lock is None:
            with _unavailable_as_error(), self.engine.connect() as conn, conn.begin():
                if replayable:
                    conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
                yield conn
            return
        with self._write_lock, _unavailable_as_error(), self.engine.connect() as conn:
            # The driver runs in autocommit (see _configure_sqlite); this opens the
            # transaction, and SQLAlchemy's commit/rollback end it.
            _begin_immediate(conn)
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def dispose(self) -> None:
        if self._main_reader is not None:
            self._main_reader.close()
            self._main_reader = None
        with self._checkpointing:
            if self._checkpointer is not None:
                self._checkpointer.close()
                self._checkpointer = None
        self.engine.dispose()

    def refresh_statistics(self, *tables: str, vacuum: bool = False) -> None:
        """Let PostgreSQL's planner see how big ``tables`` have grown.

        A sync cycle can take a table from empty to a million rows long before
        autovacuum's next ANALYZE; planning lookups for an "empty" table, PostgreSQL
        scans it whole each time, and the cycle turns quadratic. SQLite needs nothing:
        without statistics it prefers the indexes anyway.

        With ``vacuum``, VACUUM (ANALYZE): it also marks the pages whose rows every
        transaction sees as all-visible, so that an index-only scan of them no longer
        reads the table. After a first load of users, the check of each new membership
        looks its user up that way (migration 0014): a million lookups read a million
        table pages without it, about a fifth of the check's time. VACUUM passes over
        pages already marked, so a table that changed little costs little.
        """
        if self.dialect != "postgresql":
            return
        verb = "VACUUM (ANALYZE)" if vacuum else "ANALYZE"
        # VACUUM runs outside a transaction; ANALYZE may too.
        with self.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in tables:
                conn.exec_driver_sql(f'{verb} "{table}"')

    def checkpoint_wal(self) -> None:
        """Copy what SQLite's write-ahead log holds into the database file; PASSIVE: as far
        as open reads allow, without waiting for anyone. Once the log is copied whole, the
        next write starts it again from its beginning. Nothing on PostgreSQL, nor while
        another thread checkpoints (that one copies the same log).

        On a connection of its own, outside the pool: a pooled one would be the one the
        last commit returned (the pool hands out the most recent first), and the next
        write would then take another and fill a second page cache (``cache_size``), 60 MB
        more for a 100,000-user first load. A checkpoint needs no page cache."""
        if self.dialect != "sqlite" or not self._checkpointing.acquire(blocking=False):
            return
        try:
            if self._checkpointer is None:
                args, options = self.engine.dialect.create_connect_args(self.url)
                options.update(check_same_thread=False, isolation_level=None)
                connect: Callable[..., sqlite3.Connection] = sqlite3.connect  # as the dialect does
                self._checkpointer = connect(*args, **options)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            self._checkpointing.release()

    def ping(self) -> None:
        with self.read() as conn:
            conn.exec_driver_sql("SELECT 1")


@contextmanager
def _unavailable_as_error() -> Iterator[None]:
    """Database errors a client or an operator can act on, as catalogue errors."""
    try:
        yield
    except OperationalError as exc:
        if _is_connection_failure(exc):
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else "connection failed"
            raise IdsyncError(DATABASE_UNAVAILABLE, reason=reason) from exc
        _raise_if_concurrent(exc)
        raise
    except DBAPIError as exc:
        _raise_if_concurrent(exc)
        if _refuses_nul(exc):
            # The API refuses it earlier; this is for every other writer (sync cycles)
            # and any path the API does not check.
            raise IdsyncError(NUL_CHARACTER, where="a value") from exc
        raise


def _refuses_nul(exc: DBAPIError) -> bool:
    """Whether PostgreSQL's text types refused a NUL character: psycopg refuses one before
    sending a text value; the server refuses one sent in COPY's binary format."""
    message = str(exc.orig)
    if "NUL (0x00)" in message:
        return True
    first_line = message.splitlines()[0] if message else ""
    return getattr(exc.orig, "sqlstate", None) == "22021" and first_line.endswith(": 0x00")


_CONCURRENT_STATES = {
    "40P01": "the database broke a deadlock between them",
    "40001": "the database could not serialise them",
    "23503": "a row it refers to was deleted by the other request",
}


def _raise_if_concurrent(exc: DBAPIError) -> None:
    """PostgreSQL's answers to two transactions colliding: retrying the request is the fix."""
    reason = _CONCURRENT_STATES.get(getattr(exc.orig, "sqlstate", None) or "")
    if reason is not None:
        raise IdsyncError(CONCURRENT_CHANGE, reason=reason) from exc


def _terse_postgres_error(context: ExceptionContext) -> None:
    """Keep only PostgreSQL's primary message in a database error's text.

    Its DETAIL carries values: "Key (user_name_key)=(…) already exists", "Failing row
    contains (…)" with the whole row, password hash included. The diagnostics stay on
    the exception (``orig.diag``) for code that needs them; only the text changes.
    """
    original = context.original_exception
    diag = getattr(original, "diag", None)
    primary = diag.message_primary if diag is not None else None
    wrapped = context.sqlalchemy_exception
    if wrapped is None or not primary:
        return
    name = f"{type(original).__module__}.{type(original).__name__}"
    wrapped.args = (f"({name}) {primary}", *wrapped.args[1:])
    original.args = (primary,)


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only if it sat idle PING_AFTER_IDLE_SECONDS.

    SQLAlchemy's ``pool_pre_ping`` pings on every checkout: a round trip per request,
    one of the four a filtered GET made. A connection in steady use needs none: if the server
    went away under it, the statement fails as DATABASE_UNAVAILABLE and SQLAlchemy
    drops every connection of the pool that was open then. One idle for a while (after
    a quiet night, a database restart) is checked, and replaced if dead, as before.
    The pool's documented way: a checkout listener raising DisconnectionError.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["idsync_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        # A new connection's info is empty: it was just opened, it needs no check.
        idle_since = record.info.pop("idsync_idle_since", None)
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"an idle connection was lost: {exc}") from exc


def _create_private_file(url: URL) -> None:
    """Create a new SQLite database file readable by its owner only, as the key file is.

    SQLite creates its -wal and -shm files with the database file's permissions, so
    they are private too. An existing file keeps the permissions it has.
    """
    path = url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return
    except OSError:
        # A missing folder or no permission: SQLite reports it, with the path, on connect.
        return


def _is_connection_failure(exc: OperationalError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(
        marker in text
        for marker in (
            "connection refused",
            "could not connect",
            "unable to open database",
            "server closed the connection",
            "connection failed",
            "no such host",
        )
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit: reads need no BEGIN (each statement reads a consistent snapshot,
        # and a BEGIN per read costs more than the read); writes BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        dbapi_connection.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        dbapi_connection.execute("PRAGMA foreign_keys = ON")
        dbapi_connection.execute("PRAGMA synchronous = NORMAL")
        # A sync cycle inserts a million membership rows whose index keys are random
        # UUIDs: with SQLite's default 2 MB page cache nearly every insert misses. The
        # cache grows only as far as a connection uses it; 64 MB keeps a 100k-user
        # directory's indexes in memory. Checkpointing every 40 MB of WAL instead of
        # every 4 MB writes a hot index page to the database once, not ten times.
        dbapi_connection.execute("PRAGMA cache_size = -65536")
        dbapi_connection.execute("PRAGMA wal_autocheckpoint = 10000")
        # Filters fold case themselves (idsync_fold) when the attribute is not
        # caseExact; LIKE must then compare exactly, as it does on PostgreSQL.
        dbapi_connection.execute("PRAGMA case_sensitive_like = ON")
        # SQLite's lower() only folds ASCII; filters need the same Unicode folding
        # as PostgreSQL's lower() and as scim2-models' comparisons.
        dbapi_connection.create_function("idsync_fold", 1, _fold_or_none, deterministic=True)
        mode = dbapi_connection.execute("PRAGMA journal_mode").fetchone()
        if mode and str(mode[0]).lower() not in ("wal", "memory"):
            dbapi_connection.execute("PRAGMA journal_mode = WAL")


def _begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock, waiting for another process that holds it.

    SQLite's own busy handler sleeps 1, 2, 5, 10… ms between tries, while another
    worker process holds the lock for a fraction of a millisecond: writers from
    two processes would spend most of their time asleep. This retries in steps
    that fit how long a write takes, up to the same deadline.
    """
    raw = conn.connection.driver_connection
    assert isinstance(raw, sqlite3.Connection)
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = 0.00005
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        while True:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as exc:
                if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.002)
    finally:
        raw.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _fold_or_none(value: Any) -> Any:
    return fold(value) if isinstance(value, str) else value


_opened: dict[str, Database] = {}
_opened_lock = threading.Lock()


def open_database(url: str) -> Database:
    """Open (once per process) the database at ``url``."""
    with _opened_lock:
        db = _opened.get(url)
        if db is None:
            db = _opened[url] = Database(url)
        return db
