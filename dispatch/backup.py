"""A consistent copy of the SQLite database while the app keeps writing, verified by opening it.

SQLite's online backup API copies pages under a read transaction, so the copy is one consistent state even
while workers commit; copying the file (and its WAL) by hand is not. PostgreSQL is backed up with pg_dump
(docs/deployment.md).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """Why no backup was made (the message is shown to the operator as it is)."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    entries: int
    schema_revision: str
    size_bytes: int


def backup_sqlite(database_url: str, target: Path) -> BackupResult:
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise BackupError("backup copies SQLite databases; for PostgreSQL use pg_dump (docs/deployment.md)")
    if target.exists():
        raise BackupError(f"{target} exists already: choose a new file name")
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(url.database, timeout=30)
    partial = target.with_name(target.name + ".partial")
    try:
        destination = sqlite3.connect(partial)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()
    try:
        result = verify(partial)
    except BackupError:
        partial.unlink(missing_ok=True)
        raise
    # The copy keeps the source's WAL mode; make it a single self-contained file.
    single = sqlite3.connect(partial)
    single.execute("PRAGMA journal_mode = DELETE")
    single.close()
    partial.rename(target)
    return BackupResult(target, result.entries, result.schema_revision, target.stat().st_size)


def verify(path: Path) -> BackupResult:
    """Open the copy and check it: integrity, a schema revision, entries countable."""
    connection = sqlite3.connect(path)
    try:
        (integrity,) = connection.execute("PRAGMA integrity_check").fetchone()
        if integrity != "ok":
            raise BackupError(f"the copy failed its integrity check: {integrity}")
        (revision,) = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        (entries,) = connection.execute("SELECT count(*) FROM entry").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"the copy cannot be read: {exc}") from exc
    finally:
        connection.close()
    return BackupResult(path, int(entries), str(revision), path.stat().st_size)
