"""The tally's writes: rows to insert, update, delete and shift, gathered while tally.py plans them and
sent with one statement of each kind.

Split from tally.py, which decides what to write; this module only knows how to send it, to SQLite
through the driver's executemany and to PostgreSQL as one statement over arrays (an import's many new rows
by COPY). The importers send their new rows through the driver with the same helpers (driver_executemany,
driver_insert).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from .errors import Busy
from .write_lock import waited_too_long


@dataclass
class Writes:
    """Rows to change, written with one statement of each kind, and early when an import piles them up.

    Each row is a tuple of values as the driver takes them (a date as ISO text on SQLite, bind_date), sent
    with driver_executemany: an entry form's POST on a day before the last rewrites the person-days of every
    later day of its seven keys, some 200 rows, and SQLAlchemy's handling of each row's parameters cost
    more than the database's update of it. The rows between changed days are shifted a stretch a statement
    (tally._plan_key, tally._plan_days)."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)  # _INSERT_COLUMNS
    updates: list[tuple[Any, ...]] = field(default_factory=list)  # headcount, person_days, then _KEY_COLUMNS
    deletes: list[tuple[Any, ...]] = field(default_factory=list)  # _KEY_COLUMNS
    # person-days added, the key (without its date), and the dates the stretch lies between (both excluded)
    shifts: list[tuple[Any, ...]] = field(default_factory=list)
    # SQLite stores a date as ISO text, as SQLAlchemy's Date does there.
    iso_dates: bool = False

    def bind_date(self, day: date) -> Any:
        return day.isoformat() if self.iso_dates else day

    def execute(self, conn: Connection, *, unless_fewer_than: int = 0) -> None:
        waiting = len(self.inserts) + len(self.updates) + len(self.deletes) + len(self.shifts)
        if not waiting or waiting < unless_fewer_than:
            return
        if conn.dialect.name == "postgresql":
            self._execute_on_postgresql(conn)
        else:
            self._execute_on_sqlite(conn)
        self.inserts, self.updates, self.deletes, self.shifts = [], [], [], []

    def _execute_on_postgresql(self, conn: Connection) -> None:
        # Many new rows (an import's) go by COPY: 280,000 rows took 2.8 s where the statement over arrays
        # took 4.5-5.1 s (parsing the arrays' text and unnesting them; docs/benchmarks.md). A COPY costs a
        # round trip of its own, so a few rows (an entry form's) stay in the one statement below. The
        # inserts name changed days, which the other rows of the statement never meet (see _PG_WRITE), so
        # sending them after it changes nothing.
        copied: list[tuple[Any, ...]] = []
        if len(self.inserts) >= _COPY_FROM:
            copied, self.inserts = self.inserts, []
        if self.deletes or self.updates or self.shifts or self.inserts:
            self._one_statement(conn)
        if copied:
            driver_insert(conn, "tally", _INSERT_COLUMNS, copied)

    def _one_statement(self, conn: Connection) -> None:
        # One statement over arrays: executemany sends PostgreSQL a statement a row (a POST's 200 updates
        # cost some 10 ms), and a statement a kind is a round trip a kind while the disaster's writers
        # wait their turn (write_lock.take_turns_on_disaster).
        params: list[str] = []
        for rows, width in (
            (self.deletes, len(_KEY_COLUMNS)),
            (self.updates, len(_KEY_COLUMNS) + 2),
            (self.shifts, len(_KEY_COLUMNS) + 2),
            (self.inserts, len(_INSERT_COLUMNS)),
        ):
            # A column at a time (itemgetter), not zip(*rows): unpacking 280,000 rows into zip's arguments
            # took a third longer.
            params += [pg_array(map(itemgetter(i), rows)) for i in range(width)]
        # Each row of the arrays names tally rows by their key, to be sought in the primary key. The
        # planner, costing a seek as if from disk, joined the roster import's 64,000 updates by hashing
        # the whole tally instead (1.8 million rows, spilled to disk): 0.96 s against 0.39 s seeking.
        seek = bool(self.updates or self.deletes or self.shifts)
        if seek:
            conn.exec_driver_sql(_PG_SEEK_ONLY, ("off", "off"))
        conn.exec_driver_sql(_PG_WRITE, tuple(params))
        if seek:
            conn.exec_driver_sql(_PG_SEEK_ONLY, ("on", "on"))

    def _execute_on_sqlite(self, conn: Connection) -> None:
        row = " AND ".join(f"{column} = ?" for column in _KEY_COLUMNS)
        if self.deletes:
            driver_executemany(conn, f"DELETE FROM tally WHERE {row}", self.deletes)
        if self.updates:
            driver_executemany(
                conn, f"UPDATE tally SET headcount = ?, person_days = ? WHERE {row}", self.updates
            )
        if self.shifts:
            driver_executemany(conn, _SHIFT, self.shifts)
        if self.inserts:
            values = ", ".join("?" * len(_INSERT_COLUMNS))
            driver_executemany(
                conn, f"INSERT INTO tally ({', '.join(_INSERT_COLUMNS)}) VALUES ({values})", self.inserts
            )


# From this many new rows on, PostgreSQL takes them by COPY (Writes._execute_on_postgresql).
_COPY_FROM = 1_000
_INSERT_COLUMNS = ("disaster_id", "dim", "key1", "key2", "date", "headcount", "person_days")
# A tally row's primary key, which an update or a delete names.
_KEY_COLUMNS = ("disaster_id", "dim", "key1", "key2", "date")
# The same on PostgreSQL, each a single statement over one array per column (unnest), in the tuples' order.
_PG_KEY = "t.disaster_id = v.d AND t.dim = v.m AND t.key1 = v.k1 AND t.key2 = v.k2 AND t.date = v.t"
_PG_DELETE = (
    "DELETE FROM tally AS t USING unnest(%s::integer[], %s::smallint[], %s::integer[], %s::integer[], "
    f"%s::date[]) AS v(d, m, k1, k2, t) WHERE {_PG_KEY}"
)
_PG_UPDATE = (
    "UPDATE tally AS t SET headcount = v.h, person_days = v.p FROM unnest(%s::integer[], %s::integer[], "
    f"%s::integer[], %s::smallint[], %s::integer[], %s::integer[], %s::date[]) AS v(h, p, d, m, k1, k2, t) "
    f"WHERE {_PG_KEY}"
)
# The rows of a key between two dates (both excluded): their person-days moved by what was added before.
_SHIFT = (
    "UPDATE tally SET person_days = person_days + ? "
    "WHERE disaster_id = ? AND dim = ? AND key1 = ? AND key2 = ? AND date > ? AND date < ?"
)
# A key's stretches never overlap, so each row meets at most one of the arrays' rows.
_PG_SHIFT = (
    "UPDATE tally AS t SET person_days = t.person_days + v.s FROM unnest(%s::integer[], %s::integer[], "
    "%s::smallint[], %s::integer[], %s::integer[], %s::date[], %s::date[]) AS v(s, d, m, k1, k2, a, b) "
    "WHERE t.disaster_id = v.d AND t.dim = v.m AND t.key1 = v.k1 AND t.key2 = v.k2 AND t.date > v.a "
    "AND t.date < v.b"
)
_PG_INSERT = (
    f"INSERT INTO tally ({', '.join(_INSERT_COLUMNS)}) SELECT * FROM unnest(%s::integer[], %s::smallint[], "
    "%s::integer[], %s::integer[], %s::date[], %s::integer[], %s::integer[])"
)


def driver_executemany(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    """executemany on the driver's own cursor: SQLAlchemy's executemany, even exec_driver_sql, still looks
    at each row's parameters."""
    with _driver_cursor(conn, sql, rows) as cursor:
        cursor.executemany(sql, rows)


def driver_insert(
    conn: Connection, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> None:
    """New rows through the driver: on PostgreSQL as a COPY, which its server takes several times faster
    than an executemany of INSERTs, each row of which it binds and runs as a statement of its own (the
    roster import's 124,000 derived entries went in in 2.5 s instead of 4.0 s); on SQLite, where an
    INSERT costs no round trip, as an executemany. A unique index's refusal is an IntegrityError on both.
    The rows may be an iterator, made as they are sent: PostgreSQL checks and writes the rows it has while
    Python makes the next, so making them costs the import little. It must not read through the
    connection meanwhile."""
    if conn.dialect.name == "sqlite":
        marks = ", ".join(["?"] * len(columns))
        driver_executemany(conn, f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with _driver_cursor(conn, sql, rows) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


@contextmanager
def _driver_cursor(conn: Connection, sql: str, rows: Iterable[Sequence[Any]]) -> Iterator[Any]:
    """The driver's own cursor for one statement over many rows. The driver's errors come out as
    SQLAlchemy's (IntegrityError, a full disk's OperationalError ...), as the pages and the importers
    expect them, and a wait past the timeout as Busy, as write_lock's hook makes it of every other
    statement (on PostgreSQL a COPY waits on a key another writer has inserted and not committed); the
    engine's cursor events still see the statement, so whatever counts or times statements (the
    pipeline test, the benchmark) counts it."""
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    conn.dispatch.before_cursor_execute(conn, cursor, sql, rows, None, True)
    try:
        yield cursor
    except dbapi.Error as exc:
        if waited_too_long(exc):
            raise Busy() from exc
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()
    conn.dispatch.after_cursor_execute(conn, cursor, sql, rows, None, True)


def pg_array(values: Iterable[Any]) -> str:
    """PostgreSQL: a column of ints or dates as an array literal, for a statement that casts it
    (``%s::integer[]``). psycopg dumps a list element by element in Python; joined as text, 900,000 values
    went in 0.25 s instead of 0.7 s."""
    return "{" + ",".join(map(str, values)) + "}"


# The four in one statement. A tally row meets at most one of them: deletes, updates and inserts name the
# changed days, and the shifted stretches lie between them, both ends excluded. Every part of a statement
# sees the table as it was before it, so none meets another's rows.
_PG_WRITE = (
    f"WITH deleted AS ({_PG_DELETE}), updated AS ({_PG_UPDATE}), shifted AS ({_PG_SHIFT}) {_PG_INSERT}"
)


# Hash and merge joins off (or on again) for the rest of the transaction.
_PG_SEEK_ONLY = "SELECT set_config('enable_hashjoin', %s, true), set_config('enable_mergejoin', %s, true)"


def add_to_days(conn: Connection, rows: Sequence[tuple[int, int, int, int, date, int]]) -> None:
    """PostgreSQL: add headcounts to keys, one day each, reading and writing in one statement.

    Rows are (disaster_id, dim, key1, key2, date, headcount), each headcount above zero and each key once.
    The usual entry form's POST: tally.py plans nothing in Python, and the writers' turn
    (write_lock.take_turns_on_disaster) spans this one statement instead of a read, the planning between
    and a write. The caller holds the turn, so the rows read here are the ones this statement changes.
    """
    columns = [list(column) for column in zip(*rows, strict=True)]
    conn.exec_driver_sql(_PG_ADD, tuple(columns))


# A day's row gets the headcount (a new row: the person-days of the key's row before it, plus the
# headcount), and every later row of the key the headcount as person-days. The two parts meet different
# rows (that day's, the days after), and the row before is read as it was before the statement.
_PG_ADD = (
    "WITH v AS (SELECT * FROM unnest(%s::integer[], %s::smallint[], %s::integer[], %s::integer[], %s::date[], "
    "%s::integer[]) AS v(d, m, k1, k2, t, h)), "
    "shifted AS (UPDATE tally AS s SET person_days = s.person_days + v.h FROM v WHERE s.disaster_id = v.d "
    "AND s.dim = v.m AND s.key1 = v.k1 AND s.key2 = v.k2 AND s.date > v.t) "
    f"INSERT INTO tally AS t ({', '.join(_INSERT_COLUMNS)}) "
    "SELECT v.d, v.m, v.k1, v.k2, v.t, v.h, v.h + COALESCE((SELECT p.person_days FROM tally AS p "
    "WHERE p.disaster_id = v.d AND p.dim = v.m AND p.key1 = v.k1 AND p.key2 = v.k2 AND p.date < v.t "
    "ORDER BY p.date DESC LIMIT 1), 0) FROM v "
    "ON CONFLICT (disaster_id, dim, key1, key2, date) DO UPDATE "
    "SET headcount = t.headcount + excluded.headcount, person_days = t.person_days + excluded.headcount"
)
