"""Where the benchmark's data lives: a SQLite file or a PostgreSQL database.

`Target` names one database by its SQLAlchemy URL (a bare path is a SQLite file) and does what the harness
needs beyond the application: a plain DB-API connection for the floors (`Conn`: sqlite3, or psycopg in
autocommit mode, `?` placeholders on both), emptying it before generation, a consistent copy of it (SQLite's
backup API; on PostgreSQL `CREATE DATABASE … TEMPLATE`), removing it, its size, and scratch databases beside it
(SQLite files in the same directory; PostgreSQL databases named after it, `<name>_<suffix>`).
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

SQLITE_BUSY_TIMEOUT_MS = 15_000
# The audit columns every bulk-inserted entry shares, as each database stores them (SQLAlchemy's SQLite
# DateTime format; an aware timestamp on PostgreSQL).
STAMP_SQL = {"sqlite": "'2024-01-01 00:00:00.000000'", "postgresql": "'2024-01-01 00:00:00+00'"}


def _busy_timeout_ms() -> int:
    """The application's busy timeout, wherever it is defined now."""
    from bench.compat import first_module

    module = first_module("dispatch.write_lock", "dispatch.extensions", having="SQLITE_BUSY_TIMEOUT_MS")
    return int(module.SQLITE_BUSY_TIMEOUT_MS) if module is not None else SQLITE_BUSY_TIMEOUT_MS


def pg_url(text: str) -> str:
    """A PostgreSQL URL with the psycopg 3 driver spelled out, as dispatch.config.database_url does."""
    if text.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    return text


class Conn:
    """A plain DB-API connection outside SQLAlchemy, in autocommit mode: statements use `?` placeholders on
    both databases; `begin_write()` and `commit()` make a write transaction as the tracker's writers do
    (BEGIN IMMEDIATE on SQLite, BEGIN on PostgreSQL)."""

    def __init__(self, raw: Any, kind: str) -> None:
        self.raw = raw
        self.kind = kind

    def sql(self, statement: str) -> str:
        return statement if self.kind == "sqlite" else statement.replace("?", "%s")

    def params(self, values: Sequence[Any]) -> tuple[Any, ...]:
        # sqlite3's date adapter is deprecated; the tracker stores dates as ISO text there.
        if self.kind == "sqlite":
            return tuple(v.isoformat() if isinstance(v, date) else v for v in values)
        return tuple(values)

    def execute(self, statement: str, values: Sequence[Any] = ()) -> Any:
        return self.raw.execute(self.sql(statement), self.params(values))

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if self.kind == "sqlite":
            self.raw.executemany(statement, [self.params(r) for r in rows])
        else:
            with self.raw.cursor() as cursor:
                cursor.executemany(self.sql(statement), rows)

    def stream(
        self, statement: str, values: Sequence[Any] = (), size: int = 2000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows as they come: sqlite3 steps through them; psycopg reads a server-side cursor `size` at a time."""
        if self.kind == "sqlite":
            yield from self.execute(statement, values)
            return
        with self.raw.transaction(), self.raw.cursor(name="bench_stream") as cursor:
            cursor.itersize = size
            cursor.execute(self.sql(statement), self.params(values))
            yield from cursor

    def begin_write(self) -> None:
        self.raw.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")

    def commit(self) -> None:
        self.raw.execute("COMMIT")

    def rollback(self) -> None:
        self.raw.execute("ROLLBACK")

    def close(self) -> None:
        self.raw.close()


@dataclass(frozen=True)
class Target:
    url: str

    @classmethod
    def parse(cls, text: str | Path) -> Target:
        value = str(text)
        if "://" in value:
            return cls(pg_url(value))
        return cls(f"sqlite:///{Path(value).resolve()}")

    @property
    def _url(self) -> URL:
        return make_url(self.url)

    @property
    def kind(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._url.get_backend_name()

    @property
    def is_sqlite(self) -> bool:
        return self.kind == "sqlite"

    @property
    def label(self) -> str:
        return "SQLite" if self.is_sqlite else "PostgreSQL"

    @property
    def path(self) -> Path:
        if not self.is_sqlite or not self._url.database:
            raise ValueError(f"not a SQLite file: {self.url}")
        return Path(self._url.database)

    @property
    def name(self) -> str:
        """The file's stem or the database's name."""
        return self.path.stem if self.is_sqlite else str(self._url.database)

    def __str__(self) -> str:
        return str(self.path) if self.is_sqlite else self._url.render_as_string(hide_password=True)

    def sibling(self, suffix: str) -> Target:
        """A scratch database beside this one."""
        if self.is_sqlite:
            return Target(f"sqlite:///{self.path.parent / f'{self.path.stem}-{suffix}.sqlite'}")
        clean = re.sub(r"[^a-z0-9_]", "_", suffix.lower())
        return Target(self._url.set(database=f"{self.name}_{clean}").render_as_string(hide_password=False))

    def libpq(self, database: str | None = None) -> str:
        url = self._url.set(drivername="postgresql")
        if database is not None:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def connect(self) -> Conn:
        if self.is_sqlite:
            raw = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            raw.execute("PRAGMA foreign_keys = ON")
            raw.execute(f"PRAGMA busy_timeout = {_busy_timeout_ms()}")
            raw.execute("PRAGMA journal_mode = WAL")
            raw.execute("PRAGMA synchronous = NORMAL")
            return Conn(raw, "sqlite")
        import psycopg

        return Conn(psycopg.connect(self.libpq(), autocommit=True), "postgresql")

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.libpq("postgres"), autocommit=True)

    def exists(self) -> bool:
        if self.is_sqlite:
            return self.path.exists()
        with self._admin() as admin:
            return (
                admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.name,)).fetchone()
                is not None
            )

    def reset(self) -> None:
        """Empty: no file on SQLite; on PostgreSQL the database (created if missing) with a fresh public schema."""
        if self.is_sqlite:
            self.remove()
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return
        if not self.exists():
            with self._admin() as admin:
                admin.execute(f'CREATE DATABASE "{self.name}"')
        conn = self.connect()
        try:
            conn.raw.execute("DROP SCHEMA IF EXISTS public CASCADE")
            conn.raw.execute("CREATE SCHEMA public")
        finally:
            conn.close()

    def remove(self) -> None:
        if self.is_sqlite:
            for suffix in ("", "-wal", "-shm", ".write-queue"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        with self._admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def copy_to(self, target: Target) -> None:
        """A consistent copy of this database as `target` (replaced): SQLite's backup API, which copies a live
        WAL database; on PostgreSQL a new database with this one as its template, which needs this one to
        have no other session (the harness closes its own first; autovacuum may hold it for a moment)."""
        target.remove()
        if self.is_sqlite:
            src, dst = sqlite3.connect(self.path), sqlite3.connect(target.path)
            try:
                src.backup(dst)
            finally:
                dst.close()
                src.close()
            return
        import psycopg

        with self._admin() as admin:
            for attempt in range(30):
                try:
                    admin.execute(f'CREATE DATABASE "{target.name}" TEMPLATE "{self.name}"')
                    return
                except psycopg.errors.ObjectInUse:
                    if attempt == 29:
                        raise
                    time.sleep(1)

    def size_bytes(self) -> int:
        if self.is_sqlite:
            return sum(
                Path(f"{self.path}{suffix}").stat().st_size
                for suffix in ("", "-wal")
                if Path(f"{self.path}{suffix}").exists()
            )
        conn = self.connect()
        try:
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
        finally:
            conn.close()

    def server_version(self) -> str:
        if self.is_sqlite:
            return sqlite3.sqlite_version
        # The maintenance database: the one named may not exist yet (the run makes it).
        with self._admin() as admin:
            return str(admin.execute("SHOW server_version").fetchone()[0]).split()[0]

    def vacuum_analyze(self) -> None:
        """PostgreSQL: what autovacuum would soon do after a bulk load (statistics, the visibility map), done
        now so that it does not happen in the middle of a measurement."""
        if self.is_sqlite:
            return
        conn = self.connect()
        try:
            conn.raw.execute("VACUUM (ANALYZE)")
        finally:
            conn.close()
