"""Shared extension objects, so that no module imports the package root for them.

SQLite needs a little care to behave like a server database under concurrent writers: foreign keys are
off by default, readers must not block the writer (WAL), a writer waits instead of failing at once (busy
timeout), and a transaction that reads then writes must take the write lock up front (BEGIN IMMEDIATE),
or two of them deadlock and one fails with "database is locked" however long the timeout.
"""

from __future__ import annotations

import fcntl
import os
from typing import Any

from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, SessionTransaction

# Named constraints make migrations reviewable and identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate(compare_type=True, render_as_batch=True)
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "ログインしてください。"
login_manager.login_message_category = "info"

SQLITE_BUSY_TIMEOUT_MS = 15_000
SQLITE_CACHE_KIB = 16_384
BEGIN_IMMEDIATE = "dispatch_begin_immediate"


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    if not _is_sqlite_dbapi(dbapi_connection):
        return
    # Hand transaction control to SQLAlchemy's "begin" event below instead of the driver's own
    # implicit BEGIN, which is always DEFERRED.
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
def _begin_sqlite(conn: Any) -> None:
    if conn.dialect.name != "sqlite":
        return
    immediate = conn.get_execution_options().get(BEGIN_IMMEDIATE, False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def begin_write() -> None:
    """Start the session's transaction as a writer.

    Call it first in every request or command that will write. On SQLite it takes the write lock now, so a
    concurrent writer waits for the busy timeout rather than failing midway; elsewhere it is a plain begin.
    """
    if db.session().in_transaction():
        db.session.rollback()
    _queue_for_the_write_lock()
    db.session.connection(execution_options={BEGIN_IMMEDIATE: True})


_QUEUE_FD = "dispatch_write_queue_fd"


def _queue_for_the_write_lock() -> None:
    """On a SQLite file, wait in the kernel for the other writers of every process to finish first.

    SQLite's own busy handler polls, sleeping longer after each try (up to 100 ms), so under eight
    concurrent writers the lock sits free while they sleep and latency grows tenfold. An exclusive flock
    on a file beside the database wakes the next writer the moment the last one is done, and the kernel
    releases it if a process dies. Released when the session's transaction ends (_leave_the_queue).
    """
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return
    session = db.session()
    if _QUEUE_FD in session.info:
        return
    fd = os.open(f"{url.database}.write-queue", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    session.info[_QUEUE_FD] = fd


@event.listens_for(Session, "after_transaction_end")
def _leave_the_queue(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and _QUEUE_FD in session.info:
        fd = session.info.pop(_QUEUE_FD)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _is_sqlite_dbapi(dbapi_connection: Any) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")
