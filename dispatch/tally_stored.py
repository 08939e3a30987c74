"""The tally's stored rows, read for planning a change to them (tally.py): each changed key's rows from its
first changed day on with the person-days before it, or a key's latest row on or before a day.

Split from tally.py, which plans the change; tally_writes.py sends it and tally_reading.py reads the
figures for totals.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Connection

from . import tally_writes
from .models import Dim

Key = tuple[int, int]

# Up to this many keys of a dimension are read in one statement built for their number (_read_keys); more
# (an import) are read by _read_many_keys.
SEEK_LIMIT = 64


# A stored row as read: its date, headcount and person-days.
Row = tuple[date, int, int]

_KEY_SQL = "disaster_id = {m} AND dim = {m} AND key1 = {m} AND key2 = {m}"
# Part i of a statement: a key's latest row before a day ({op} <) or on or before it ({op} <=).
_LATEST = (
    "SELECT * FROM (SELECT {i} AS part, date, headcount, person_days FROM tally WHERE {key} AND date {op} {m} "
    "ORDER BY date DESC LIMIT 1) AS latest_{i}"
)


@cache
def _read_latest_sql(parts: int, mark: str) -> str:
    key = _KEY_SQL.format(m=mark)
    return " UNION ALL ".join(_LATEST.format(i=i, key=key, m=mark, op="<=") for i in range(parts))


def read_latest(
    conn: Connection, wanted: list[tuple[tuple[int, Dim, Key], date]]
) -> dict[tuple[tuple[int, Dim, Key], date], Row]:
    """Each (key, day)'s latest stored row on or before the day, a seek each, in one statement; a key with
    none is left out. Built as text once per number of parts, as _read_keys is."""
    sqlite = conn.dialect.name == "sqlite"
    params: list[Any] = []
    for (disaster_id, dim, (key1, key2)), day in wanted:
        params += [disaster_id, dim, key1, key2, day.isoformat() if sqlite else day]
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return {
        wanted[part]: (date.fromisoformat(day) if isinstance(day, str) else day, headcount, person_days)
        for part, day, headcount, person_days in conn.exec_driver_sql(
            _read_latest_sql(len(wanted), mark), tuple(params)
        )
    }


@dataclass
class Series:
    """One key's rows from `start` on, and the person-days the day before `start`."""

    base: int = 0
    start: date | None = None
    rows: dict[date, tuple[int, int]] | None = None  # date → (headcount, person_days)


# A key with no row stored (stored() leaves such keys out).
NOTHING_STORED = Series(0, None, None)


def stored(conn: Connection, disaster_id: int, dim: Dim, starts: dict[Key, date]) -> dict[Key, Series]:
    """Each key's rows from its start on, and the person-days before its start; a key with nothing stored
    may be left out."""
    if len(starts) <= SEEK_LIMIT:
        found = _read_keys(conn, {(disaster_id, dim, key): start for key, start in starts.items()})
        return {key: found[disaster_id, dim, key] for key in starts}
    return _read_many_keys(conn, disaster_id, dim, starts)


# Part i of the statement: the key's rows from its start on, and (_LATEST) the one row before the start.
_FROM_START = "SELECT {i}, date, headcount, person_days FROM tally WHERE {key} AND date >= {m}"


@cache
def _read_keys_sql(parts: int, mark: str) -> str:
    key = _KEY_SQL.format(m=mark)
    return " UNION ALL ".join(
        sql.format(i=i, key=key, m=mark, op="<") for i in range(parts) for sql in (_FROM_START, _LATEST)
    )


def _read_keys(
    conn: Connection, starts: dict[tuple[int, Dim, Key], date]
) -> dict[tuple[int, Dim, Key], Series]:
    """Each (disaster, dimension, key)'s rows from its start, and the person-days before, in one statement.

    Built as text once per number of keys and sent to the driver: an entry form's POST reads seven keys,
    and building and compiling a fourteen-part union each time would cost more than running it.
    """
    wanted = list(starts)
    series = {w: Series(0, starts[w], {}) for w in wanted}
    sqlite = conn.dialect.name == "sqlite"
    params: list[Any] = []
    for disaster_id, dim, (key1, key2) in wanted:
        start: Any = starts[disaster_id, dim, (key1, key2)]
        start = start.isoformat() if sqlite else start
        params += [disaster_id, dim, key1, key2, start] * 2
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    for part, day, headcount, person_days in conn.exec_driver_sql(
        _read_keys_sql(len(wanted), mark), tuple(params)
    ):
        found = series[wanted[part]]
        day = date.fromisoformat(day) if isinstance(day, str) else day
        assert found.start is not None and found.rows is not None
        if day < found.start:
            found.base = person_days
        else:
            found.rows[day] = (headcount, person_days)
    return series


# PostgreSQL: the changed keys' rows from their starts on, and the row before each start, a seek each; the
# keys and starts as arrays (tally_writes.pg_array).
_PG_READ_KEYS = (
    "SELECT v.k1, v.k2, t.date, t.headcount, t.person_days "
    "FROM unnest(%s::integer[], %s::integer[], %s::date[]) AS v(k1, k2, s) CROSS JOIN LATERAL ("
    "(SELECT date, headcount, person_days FROM tally WHERE disaster_id = %s AND dim = %s AND key1 = v.k1 "
    "AND key2 = v.k2 AND date < v.s ORDER BY date DESC LIMIT 1) UNION ALL "
    "(SELECT date, headcount, person_days FROM tally WHERE disaster_id = %s AND dim = %s AND key1 = v.k1 "
    "AND key2 = v.k2 AND date >= v.s)) AS t"
)


def _read_many_keys(
    conn: Connection, disaster_id: int, dim: Dim, starts: dict[Key, date]
) -> dict[Key, Series]:
    """The rows the changed keys need, from their starts on, and the person-days before; a key with no
    stored row is left out (an import's new keys, most of its keys). SQLite reads the dimension once in key
    order and keeps what is needed; PostgreSQL seeks each key, reading only those rows: a roster import's
    sender × destination keys needed 125,000 of the dimension's 990,000 rows, and fetching them all took
    twice as long."""
    series: dict[Key, Series] = {}
    if conn.dialect.name == "postgresql":
        keys1, keys2, days = zip(*((k1, k2, day) for (k1, k2), day in starts.items()), strict=True)
        sql = _PG_READ_KEYS
        params: tuple[Any, ...] = (
            tally_writes.pg_array(keys1), tally_writes.pg_array(keys2), tally_writes.pg_array(days),
            disaster_id, dim.value, disaster_id, dim.value,
        )  # fmt: skip
    else:
        sql = (
            "SELECT key1, key2, date, headcount, person_days FROM tally "
            "WHERE disaster_id = ? AND dim = ? ORDER BY key1, key2, date"
        )
        params = (disaster_id, dim)
    for key1, key2, day, headcount, person_days in _driver_rows(conn, sql, params):
        key = (key1, key2)
        found = series.get(key)
        if found is None:
            start = starts.get(key)
            if start is None:
                continue
            found = series[key] = Series(0, start, {})
        assert found.start is not None and found.rows is not None
        day = date.fromisoformat(day) if isinstance(day, str) else day
        if day < found.start:
            found.base = person_days
        else:
            found.rows[day] = (headcount, person_days)
    return series


def _driver_rows(conn: Connection, sql: str, params: tuple[Any, ...]) -> Iterator[tuple[Any, ...]]:
    """A long read's rows straight from the driver's cursor (a dimension of a million rows spent seconds
    becoming SQLAlchemy rows), a server-side one on PostgreSQL so the rows come a batch at a time."""
    dbapi_connection: Any = conn.connection.dbapi_connection
    sqlite = conn.dialect.name == "sqlite"
    cursor = dbapi_connection.cursor() if sqlite else dbapi_connection.cursor(name="tally_dimension")
    if not sqlite:
        cursor.itersize = 10_000
    try:
        cursor.execute(sql, params)
        yield from cursor
    finally:
        cursor.close()
