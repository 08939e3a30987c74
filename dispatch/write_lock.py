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
CLI commands and jobs), ``core_transaction(conn)`` for a core connection of its own (the delivery ledger),
``take_turns_on_disaster(conn, id)`` for the tally. Nothing else takes a lock.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction

from .extensions import db

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_CACHE_KIB = 16_384
# An execution option: begin this connection's transaction as a writer (BEGIN IMMEDIATE on SQLite).
BEGIN_IMMEDIATE = "dispatch_begin_immediate"
_QUEUE_FD = "dispatch_write_queue_fd"


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    if not _is_sqlite_dbapi(dbapi_connection):
        return
    # Hand transaction control to the "begin" event below instead of the driver's own implicit BEGIN,
    # which is always DEFERRED.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
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


def begin_write() -> None:
    """Start the session's transaction as a writer.

    What the session read before (the form's organisations, the disaster, the user) stays loaded: the read
    transaction is ended by a commit that writes nothing and expires nothing, rather than a rollback that
    would make every one of those objects load again under the lock. Unflushed changes made before the
    lock are a bug and are discarded.
    """
    session = db.session()
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            session.rollback()
        else:
            _end_reading(session)
    _queue(db.engine.url.database if db.engine.dialect.name == "sqlite" else None, session.info)
    session.connection(execution_options={BEGIN_IMMEDIATE: True})


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
        _leave_queue(session.info)


def holds_write_lock() -> bool:
    """Whether the session's transaction was begun as a writer (for the pipeline's guard and its tests)."""
    session = db.session()
    if not session.in_transaction():
        return False
    return bool(session.connection().get_execution_options().get(BEGIN_IMMEDIATE, False))


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
def core_transaction(conn: Connection) -> Iterator[Connection]:
    """A short write transaction on a core connection of its own, under the same protocol."""
    info: dict[str, int] = {}
    _queue(conn.engine.url.database if conn.dialect.name == "sqlite" else None, info)
    try:
        writer = conn.execution_options(**{BEGIN_IMMEDIATE: True})
        with writer.begin():
            yield writer
    finally:
        _leave_queue(info)


def take_turns_on_disaster(conn: Connection, disaster_id: int) -> None:
    """PostgreSQL: wait for the other writers of this disaster (SQLite writers already hold the lock)."""
    if conn.dialect.name == "sqlite":
        return
    from .models import Disaster

    conn.execute(select(Disaster.id).where(Disaster.id == disaster_id).with_for_update(key_share=True))


def _queue(database: str | None, info: dict[Any, Any]) -> None:
    """On a SQLite file, wait in the kernel for the writers of every process to finish first."""
    if not database or database == ":memory:" or _QUEUE_FD in info:
        return
    fd = os.open(f"{database}.write-queue", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    info[_QUEUE_FD] = fd


def _leave_queue(info: dict[Any, Any]) -> None:
    fd = info.pop(_QUEUE_FD, None)
    if fd is not None:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _is_sqlite_dbapi(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")
