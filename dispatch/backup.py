"""A consistent copy of the SQLite database while the app keeps writing, verified by opening it.

SQLite's online backup API copies pages under a read transaction, so the copy is one consistent state even
while workers commit; copying the file (and its WAL) by hand is not. PostgreSQL is backed up with pg_dump
(docs/deployment.md).

The copy is written to ``PATH.partial``, readable by its owner only (0600: it holds every password hash),
and renamed to PATH once verified. When anything fails on the way (a full disk above all) the partial
file and its journals are removed, so a failed backup never leaves the disk fuller than it found it.
"""

from __future__ import annotations

import errno
import os
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
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy(url.database, partial)
        result = verify(partial)
        # The copy keeps the source's WAL mode; make it a single self-contained file.
        single = sqlite3.connect(partial)
        try:
            single.execute("PRAGMA journal_mode = DELETE")
        finally:
            single.close()
        partial.rename(target)
    except (BackupError, sqlite3.Error, OSError) as exc:
        _remove(partial)
        raise BackupError(_failed(exc)) from exc
    return BackupResult(target, result.entries, result.schema_revision, target.stat().st_size)


def _copy(database: str, partial: Path) -> None:
    # Created by us, for the owner only, before SQLite opens it (SQLite would make it 0644; its journals
    # take the file's mode).
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT, 0o600))
    os.chmod(partial, 0o600)
    source = sqlite3.connect(database, timeout=30)
    try:
        destination = sqlite3.connect(partial)
        try:
            source.backup(destination)
        finally:
            destination.close()
    finally:
        source.close()


def _failed(exc: BaseException) -> str:
    """One line for the operator, in Japanese and English: why, and that nothing was left behind."""
    full = (
        isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    ) or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC)
    why_ja, why_en = ("ディスクの空きがありません", "the disk is full") if full else (str(exc), str(exc))
    return (
        f"バックアップを作れませんでした（{why_ja}）。作りかけのファイルは削除しました。"
        f" / No backup was made: {why_en}; the partial files were removed."
    )


def _remove(partial: Path) -> None:
    for leftover in (partial, *(partial.with_name(partial.name + s) for s in ("-journal", "-wal", "-shm"))):
        leftover.unlink(missing_ok=True)


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
