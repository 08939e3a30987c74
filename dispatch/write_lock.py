"""The one write-lock protocol of the tracker, for the web, the CLI, the scheduler, the delivery ledger
and the tally alike.

A write that depends on what it read must not interleave with another writer's:

- **SQLite** allows one writer at a time. A transaction that reads first and writes later fails at once
  with "database is locked" when another writer committed in between, however long the busy timeout, so a
  writer takes the lock *before* it reads: ``BEGIN IMMEDIATE``. Writers of every process first queue on an
  exclusive flock beside the database file: SQLite's own busy handler polls with growing sleeps, leaving
  the lock idle while waiters sleep; the kernel wakes the next writer the moment the last one is done, and
  releases the flock if a process dies.
- **PostgreSQL** runs writers side by side; the only read-then-write that needs turns is the tally (a new
  row's person-days are read from the row before it), so the writers of one disaster take turns on its
  row: ``SELECT … FOR NO KEY UPDATE`` (plain FOR UPDATE deadlocks against the KEY SHARE locks that audit
  rows' foreign keys take on the same row).

Entry points: ``begin_write()`` for the ORM session (the request pipeline in views.py, ``writing()`` for
CLI commands and jobs), ``core_transaction(conn)`` for a core connection of its own and ``core_statement``
for one statement on an ``own_connection()`` (the delivery ledger), ``take_turns_on_disaster(conn, id)``
for the tally. Nothing else takes a lock.

Every wait ends: after ``WRITE_LOCK_TIMEOUT_SECONDS`` (config.py; the delivery ledger six times that) a
writer gives up with ``errors.Busy`` (「混み合っています…」, 503), having written nothing. The file lock is waited for in a thread of its own
(``_Waiter``), so the writer keeps its place in the kernel's queue yet can stop waiting at its deadline;
SQLite's busy timeout and PostgreSQL's ``lock_timeout`` bound the database's own waits, and their errors
become the same ``Busy`` wherever a statement meets them (``_busy_errors``).
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import Connection, Select, bindparam, event, select
from sqlalchemy.engine import Engine, ExceptionContext
from sqlalchemy.orm import Session, SessionTransaction

from .errors import Busy
from .extensions import db

# How long a writer waits for the lock when no app says otherwise (WRITE_LOCK_TIMEOUT_SECONDS).
DEFAULT_TIMEOUT_S = 10.0
# The delivery ledger's writes wait this many times as long as a page's (core_transaction).
LEDGER_PATIENCE = 6
# PostgreSQL's "lock_not_available": lock_timeout ran out.
_PG_LOCK_NOT_AVAILABLE = "55P03"
SQLITE_CACHE_KIB = 16_384
# An execution option: begin this connection's transaction as a writer (BEGIN IMMEDIATE on SQLite).
BEGIN_IMMEDIATE = "dispatch_begin_immediate"
_QUEUE_FD = "dispatch_write_queue_fd"
# In a session's info while its transaction is a writer's (begin_write), until the transaction ends.
_WRITER = "dispatch_writer"
# In the info of a connection whose session bounds its lock waits (own_connection): the bound, in seconds.
_BOUNDED_S = "dispatch_lock_waits_bounded_s"


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    if not _is_sqlite_dbapi(dbapi_connection):
        return
    # Hand transaction control to the "begin" event below instead of the driver's own implicit BEGIN,
    # which is always DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {round(lock_timeout() * 1000)}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    # Totals seek one tally row per organisation across the file: keep those pages in a bigger page cache
    # than SQLite's 2 MB default (a ceiling, not an allocation).
    cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin_sqlite(conn: Connection) -> None:
    if conn.dialect.name != "sqlite":
        return
    immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def lock_timeout() -> float:
    """Seconds a writer waits for the lock: the app's WRITE_LOCK_TIMEOUT_SECONDS, else the default."""
    if has_app_context():
        return float(current_app.config.get("WRITE_LOCK_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_S))
    return DEFAULT_TIMEOUT_S


def ledger_timeout() -> float:
    """Seconds a job's core transaction waits for the lock: LEDGER_PATIENCE times a page's."""
    return lock_timeout() * LEDGER_PATIENCE


@event.listens_for(Engine, "handle_error")
def _busy_errors(context: ExceptionContext) -> None:
    """A statement that waited past the timeout (SQLite's busy timeout, PostgreSQL's lock_timeout) is Busy,
    wherever it ran: a page shows 「混み合っています」 instead of an error page."""
    if waited_too_long(context.original_exception):
        raise Busy() from context.original_exception


def waited_too_long(error: BaseException) -> bool:
    """Whether the driver's error is a wait past the timeout. Also asked where rows go to the driver's own
    cursor (tally_writes), which SQLAlchemy's error hook above never sees."""
    if isinstance(error, sqlite3.OperationalError):
        return error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
    return getattr(error, "sqlstate", None) == _PG_LOCK_NOT_AVAILABLE


def begin_write() -> None:
    """Start the session's transaction as a writer.

    What the session read before (the form's organisations, the disaster, the user) stays loaded. On SQLite
    the read transaction is ended by a commit that writes nothing and expires nothing, rather than a
    rollback that would make every one of those objects load again under the lock, and the writer's begins
    with ``BEGIN IMMEDIATE``. On PostgreSQL the read transaction simply becomes the writer's: under READ
    COMMITTED each statement reads what is committed when it runs, so ending it would only cost a COMMIT, a
    BEGIN and the pool's ping of the connection checked out again. Under a stricter isolation level (a
    server whose default was changed) the snapshot would be the form's, taken before the lock, so there
    the read transaction is ended as on SQLite. Unflushed changes made before the lock are a bug and are
    discarded.
    """
    session = db.session()
    sqlite = db.engine.dialect.name == "sqlite"
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            session.rollback()
        elif sqlite or db.engine.dialect.default_isolation_level != "READ COMMITTED":
            _end_reading(session)
    timeout = lock_timeout()
    _queue(db.engine.url.database if sqlite else None, session.info, timeout)
    try:
        if session.in_transaction():
            conn = session.connection()
        else:
            conn = session.connection(execution_options={BEGIN_IMMEDIATE: True})
        _bound_lock_waits(conn, timeout)
    except Busy:
        session.rollback()
        _leave_queue(session.info)
        raise
    session.info[_WRITER] = True


def commit_keeping_objects() -> None:
    """Commit, leaving what the session loaded as it is: a page that wrote only redirects or renders what
    it has, and reloading the user and the entries it wrote would cost a statement each."""
    _end_reading(db.session())


def _end_reading(session: Session) -> None:
    keep = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = keep


@event.listens_for(Session, "after_transaction_end")
def _session_leaves_queue(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(_WRITER, None)
        _leave_queue(session.info)


def holds_write_lock() -> bool:
    """Whether the session's transaction was begun as a writer (for the pipeline's guard and its tests)."""
    session = db.session()
    return session.in_transaction() and bool(session.info.get(_WRITER))


@contextmanager
def writing() -> Iterator[None]:
    """A CLI command's or a job's write: the lock, then commit, or roll back on any exception."""
    begin_write()
    try:
        yield
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


@contextmanager
def core_transaction(conn: Connection, timeout: float | None = None) -> Iterator[Connection]:
    """A short write transaction on a core connection of its own, under the same protocol.

    Its writer is a job, not a person, and what it records must not be lost (a digest sent but not marked
    sent would be sent again): it waits `ledger_timeout()` before it gives up. A writer on a thread without
    the app's context passes that timeout, read where the context is.
    """
    timeout = ledger_timeout() if timeout is None else timeout
    info: dict[str, int] = {}
    _queue(conn.engine.url.database if conn.dialect.name == "sqlite" else None, info, timeout)
    try:
        writer = conn.execution_options(**{BEGIN_IMMEDIATE: True})
        with writer.begin():
            if conn.info.get(_BOUNDED_S) != timeout:
                _bound_lock_waits(writer, timeout)
            yield writer
    finally:
        _leave_queue(info)


def own_connection(timeout: float) -> Connection:
    """A connection for one job's many short writes (the delivery ledger). On PostgreSQL its lock waits are
    bounded once, for its session, rather than by a statement in every transaction; hand it back with
    release_own_connection, which takes the setting off before the pool has it again."""
    conn = db.engine.connect()
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET lock_timeout = {round(timeout * 1000)}")
        conn.commit()
        conn.info[_BOUNDED_S] = timeout
    return conn


def release_own_connection(conn: Connection) -> None:
    """Back to the pool as it came; a connection whose setting cannot be taken off is discarded instead."""
    try:
        # The info stays with the pooled connection: the next to check it out must not find the mark.
        if conn.info.pop(_BOUNDED_S, None) is not None:
            conn.rollback()
            conn.exec_driver_sql("RESET lock_timeout")
            conn.commit()
    except BaseException:
        conn.invalidate()
        raise
    finally:
        conn.close()


@contextmanager
def core_statement(conn: Connection, timeout: float) -> Iterator[Connection]:
    """One write statement that is a transaction of its own, on an own_connection(). On PostgreSQL it runs
    in autocommit, one round trip where BEGIN, the bound and COMMIT made four: a write that takes no turn
    needs nothing more there. On SQLite it is a core_transaction (the queue, then BEGIN IMMEDIATE)."""
    if conn.info.get(_BOUNDED_S) != timeout:
        with core_transaction(conn, timeout) as writer:
            yield writer
        return
    conn.execution_options(isolation_level="AUTOCOMMIT")
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(isolation_level=conn.default_isolation_level)


def take_turns_on_disaster(conn: Connection, disaster_id: int) -> None:
    """PostgreSQL: wait for the other writers of this disaster (SQLite writers already hold the lock)."""
    if conn.dialect.name == "sqlite":
        return
    conn.execute(_turn(), {"disaster_id": disaster_id})


@cache
def _turn() -> Select[int]:
    """The turn's statement, built once (every entry written takes it) when first asked: models.py is not
    imported by this module, which it imports."""
    from .models import Disaster

    return select(Disaster.id).where(Disaster.id == bindparam("disaster_id")).with_for_update(key_share=True)


def _bound_lock_waits(conn: Connection, timeout: float) -> None:
    """PostgreSQL: no statement of this write transaction waits for a lock longer than the timeout (the
    disaster's row in take_turns_on_disaster, a key another writer is inserting). SQLite's busy timeout is
    set once per connection."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL lock_timeout = {round(timeout * 1000)}")


def _queue(database: str | None, info: dict[Any, Any], timeout: float) -> None:
    """On a SQLite file, wait in the kernel for the writers of every process to finish first, at most
    ``timeout`` seconds (then Busy)."""
    if not database or database == ":memory:" or _QUEUE_FD in info:
        return
    fd = os.open(f"{database}.write-queue", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        # Taken: wait for it without blocking this thread past its deadline. The waiter owns fd from here.
        if not _Waiter(fd).wait(timeout):
            raise Busy() from None
    info[_QUEUE_FD] = fd


class _Waiter:
    """Waits for the file lock in a thread of its own, so that the writer keeps its place in the kernel's
    queue (woken the moment the lock is free, not after a sleep) and still stops waiting at its deadline.

    A writer that gave up leaves the waiter blocked in the queue; when its turn comes it lets go at once and
    closes the file. Waiters left this way in one process are capped: past _MAX_ABANDONED the lock is
    plainly stuck, and a writer gives up without waiting rather than add another thread.
    """

    _abandoned = 0
    _count = threading.Lock()

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._taken = threading.Event()
        self._state = threading.Lock()
        self._given_up = False

    def wait(self, timeout: float) -> bool:
        """Whether the lock is ours; if not, the file is closed (now or when the waiter's turn comes)."""
        with _Waiter._count:
            stuck = _Waiter._abandoned >= _MAX_ABANDONED
        if stuck:
            os.close(self._fd)
            return False
        threading.Thread(target=self._take, name="write-queue", daemon=True).start()
        if self._taken.wait(timeout):
            return True
        with self._state:
            if self._taken.is_set():
                return True
            self._given_up = True
            with _Waiter._count:
                _Waiter._abandoned += 1
        return False

    def _take(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        with self._state:
            if not self._given_up:
                self._taken.set()
                return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        with _Waiter._count:
            _Waiter._abandoned -= 1


# Waiters a process leaves in the queue before it stops adding more (see _Waiter).
_MAX_ABANDONED = 16


def _leave_queue(info: dict[Any, Any]) -> None:
    fd = info.pop(_QUEUE_FD, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _is_sqlite_dbapi(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")
