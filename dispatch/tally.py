"""Person-days kept in step with the entries, so a total as of any date never reads the entries table.

Every write to `entry` changes the tally in the same transaction: the ORM's own inserts, edits and
deletes through the session events below, and bulk inserts (the importer) by calling `apply()`. The
tally holds, per disaster, dimension key and date, that day's headcount and the person-days through that
day (models.Tally); a figure as of D is the key's latest row on or before D. `check()` compares it with a
recomputation from the entries and `rebuild()` recomputes it (`flask check-totals`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from functools import cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    event,
    func,
    inspect,
    literal,
    select,
    text,
    union_all,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, object_session

from .extensions import db
from .models import Entry, Operation, Tally
from .write_lock import take_turns_on_disaster


@dataclass(frozen=True)
class Change:
    """One entry's headcount added to (or, negative, taken from) the tally."""

    disaster_id: int | None  # None: looked up from the operation
    operation_id: int
    date: date
    sender_id: int
    destination_id: int
    duty_id: int
    headcount: int


# Each dimension's key (key1, key2) of a change; 0 where the dimension has fewer than two parts.
DIMENSIONS: dict[str, Callable[[Change], tuple[int, int]]] = {
    "A": lambda c: (0, 0),
    "O": lambda c: (c.operation_id, 0),
    "S": lambda c: (c.sender_id, 0),
    "D": lambda c: (c.destination_id, 0),
    "U": lambda c: (c.duty_id, 0),
    "DU": lambda c: (c.destination_id, c.duty_id),
    "SD": lambda c: (c.sender_id, c.destination_id),
}
# The same keys as entry columns, for the statements that fill the tally from the entries.
COLUMNS: dict[str, tuple[str, ...]] = {
    "A": (),
    "O": ("e.operation_id",),
    "S": ("e.sender_id",),
    "D": ("e.destination_id",),
    "U": ("e.duty_id",),
    "DU": ("e.destination_id", "e.duty_id"),
    "SD": ("e.sender_id", "e.destination_id"),
}
# Up to this many keys of a dimension are read one index seek each; more (an import) read the dimension once.
SEEK_LIMIT = 64
# Up to this many changes (an entry form, a short period) read every dimension in one statement.
FEW_CHANGES = 8

Key = tuple[int, int]
T = Tally.__table__


class TallyError(RuntimeError):
    """The tally and the entries disagree: a headcount would go below zero."""


# --- keeping it in step ---------------------------------------------------------------------------------


def apply(changes: Iterable[Change]) -> None:
    """Add the changes to the tally in the session's transaction."""
    _apply(db.session(), list(changes))


def _apply(session: Session, changes: list[Change]) -> None:
    if not changes:
        return
    conn = session.connection()
    changes = _with_disasters(conn, changes)
    for disaster_id in sorted({c.disaster_id or 0 for c in changes}):
        take_turns_on_disaster(conn, disaster_id)
    writes = _Writes()
    if len(changes) <= FEW_CHANGES:
        _apply_few(conn, changes, writes)
        writes.execute(conn)
        return
    # One dimension at a time, so an import of 100,000 entries holds one dimension's deltas, not seven.
    for dim, key_of in DIMENSIONS.items():
        deltas: dict[int, dict[Key, Counter[date]]] = defaultdict(lambda: defaultdict(Counter))
        for change in changes:
            deltas[change.disaster_id or 0][key_of(change)][change.date] += change.headcount
        for disaster_id, by_key in deltas.items():
            changed = {key: days for key, days in by_key.items() if any(days.values())}
            if changed:
                _plan(conn, disaster_id, dim, changed, writes)
                writes.execute(conn, unless_fewer_than=_WRITE_EVERY)
        del deltas
    writes.execute(conn)


# Where each dimension's key is in an imported row (operation_id, date, sender_id, destination_id, duty_id,
# headcount): apply_rows groups plain tuples without building a Change per row.
_ROW_KEYS: dict[str, tuple[int, ...]] = {
    "A": (),
    "O": (0,),
    "S": (2,),
    "D": (3,),
    "U": (4,),
    "DU": (3, 4),
    "SD": (2, 3),
}


def apply_rows(disaster_id: int, rows: Sequence[tuple[int, date, int, int, int, int]]) -> None:
    """Add new entries of one disaster, as (operation_id, date, sender_id, destination_id, duty_id,
    headcount) tuples, to the tally: what apply() does for an import, grouped with plain dicts (an import of
    100,000 rows spent seconds building and grouping a Change per row and dimension)."""
    if not rows:
        return
    if len(rows) <= FEW_CHANGES:
        apply(Change(disaster_id, r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
        return
    conn = db.session().connection()
    take_turns_on_disaster(conn, disaster_id)
    writes = _Writes()
    for dim, where in _ROW_KEYS.items():
        by_key: dict[Key, Counter[date]] = defaultdict(Counter)
        for (key1, key2, day), headcount in _summed(rows, where).items():
            if headcount:
                by_key[key1, key2][day] = headcount
        if by_key:
            _plan(conn, disaster_id, dim, by_key, writes)
            writes.execute(conn, unless_fewer_than=_WRITE_EVERY)
        del by_key
    writes.execute(conn)


def _summed(
    rows: Sequence[tuple[int, date, int, int, int, int]], where: tuple[int, ...]
) -> dict[tuple[Any, Any, date], int]:
    """Headcounts by (key1, key2, date) of one dimension, its key at ``where`` in each row."""
    summed: dict[tuple[Any, Any, date], int] = defaultdict(int)
    if not where:
        for row in rows:
            summed[0, 0, row[1]] += row[5]
    elif len(where) == 1:
        (i,) = where
        for row in rows:
            summed[row[i], 0, row[1]] += row[5]
    else:
        i, j = where
        for row in rows:
            summed[row[i], row[j], row[1]] += row[5]
    return summed


def _apply_few(conn: Connection, changes: list[Change], writes: _Writes) -> None:
    """A form's few entries: every dimension's keys read in one statement, not one per dimension."""
    deltas: dict[tuple[int, str], dict[Key, Counter[date]]] = defaultdict(lambda: defaultdict(Counter))
    for change in changes:
        for dim, key_of in DIMENSIONS.items():
            deltas[change.disaster_id or 0, dim][key_of(change)][change.date] += change.headcount
    changed = {
        (disaster_id, dim, key): days
        for (disaster_id, dim), by_key in deltas.items()
        for key, days in by_key.items()
        if any(days.values())
    }
    starts = {wanted: min(d for d, n in days.items() if n) for wanted, days in changed.items()}
    stored = _read_keys(conn, starts)
    for disaster_id, dim in deltas:
        by_key = {key: days for (d, m, key), days in changed.items() if (d, m) == (disaster_id, dim)}
        if by_key:
            _plan(
                conn, disaster_id, dim, by_key, writes, {key: stored[disaster_id, dim, key] for key in by_key}
            )


def _with_disasters(conn: Connection, changes: list[Change]) -> list[Change]:
    missing = {c.operation_id for c in changes if c.disaster_id is None}
    if not missing:
        return changes
    stmt = select(Operation.id, Operation.disaster_id).where(Operation.id.in_(missing))
    disaster_of = {operation_id: disaster_id for operation_id, disaster_id in conn.execute(stmt)}
    return [
        c if c.disaster_id is not None else replace(c, disaster_id=disaster_of[c.operation_id])
        for c in changes
    ]


@dataclass
class _Series:
    """One key's rows from `start` on, and the person-days the day before `start`."""

    base: int = 0
    start: date | None = None
    rows: dict[date, tuple[int, int]] | None = None  # date → (headcount, person_days)


# Built once, so each use only binds values: an entry form's POST runs them for seven dimensions.
_BOUND_KEY = and_(
    T.c.disaster_id == bindparam("d"),
    T.c.dim == bindparam("m"),
    T.c.key1 == bindparam("k1"),
    T.c.key2 == bindparam("k2"),
)
_LAST_BEFORE = (
    select(T.c.date, T.c.headcount, T.c.person_days)
    .where(_BOUND_KEY, T.c.date < bindparam("start"))
    .order_by(T.c.date.desc())
    .limit(1)
    .subquery()
)
# A key's rows from a date on, and the one row before it (whose person-days the new rows build on).
_READ_KEY = union_all(
    select(T.c.date, T.c.headcount, T.c.person_days).where(_BOUND_KEY, T.c.date >= bindparam("start")),
    select(*_LAST_BEFORE.c),
)
_ROW = "disaster_id = {m} AND dim = {m} AND key1 = {m} AND key2 = {m} AND date = {m}"
_DELETE = "DELETE FROM tally WHERE " + _ROW
_UPDATE = "UPDATE tally SET headcount = {m}, person_days = {m} WHERE " + _ROW
# The rows of a key between two dates (both excluded): their person-days moved by what was added before.
_SHIFT = (
    "UPDATE tally SET person_days = person_days + {m} "
    "WHERE disaster_id = {m} AND dim = {m} AND key1 = {m} AND key2 = {m} AND date > {m} AND date < {m}"
)


@dataclass
class _Writes:
    """Rows to change, written with one statement of each kind, and early when an import piles them up.
    Each row's values in its statement's order, the date last; sent straight to the driver, as inserts are
    (an import before most of a disaster's days updates the person-days of every later row of its keys)."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)  # in _INSERT_COLUMNS order
    updates: list[tuple[Any, ...]] = field(default_factory=list)  # headcount, person-days, the row's key
    deletes: list[tuple[Any, ...]] = field(default_factory=list)  # the row's key
    shifts: list[tuple[Any, ...]] = field(default_factory=list)  # person-days added, key, after, before

    def execute(self, conn: Connection, *, unless_fewer_than: int = 0) -> None:
        waiting = len(self.inserts) + len(self.updates) + len(self.deletes) + len(self.shifts)
        if waiting < unless_fewer_than:
            return
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        if self.deletes:
            driver_executemany(conn, _DELETE.format(m=mark), _dated(conn, self.deletes, 1))
        if self.updates:
            driver_executemany(conn, _UPDATE.format(m=mark), _dated(conn, self.updates, 1))
        if self.shifts:
            driver_executemany(conn, _SHIFT.format(m=mark), _dated(conn, self.shifts, 2))
        if self.inserts:
            _insert(conn, self.inserts)
        self.inserts, self.updates, self.deletes, self.shifts = [], [], [], []


def _dated(conn: Connection, rows: list[tuple[Any, ...]], dates: int) -> list[tuple[Any, ...]]:
    """Rows whose last ``dates`` values are dates, with them as ISO text on SQLite (how SQLAlchemy's Date
    stores them there)."""
    if conn.dialect.name != "sqlite":
        return rows
    return [(*row[:-dates], *(d.isoformat() for d in row[-dates:])) for row in rows]


_INSERT_COLUMNS = ("disaster_id", "dim", "key1", "key2", "date", "headcount", "person_days")
# Written before planning more once this many rows wait: an import of 100,000 entries makes some 280,000.
_WRITE_EVERY = 20_000


def _insert(conn: Connection, rows: list[tuple[Any, ...]]) -> None:
    # Straight to the driver: SQLAlchemy's per-row parameter handling costs more than the database's own
    # insert of a row, and an import writes hundreds of thousands. Dates go as ISO text on SQLite, which
    # is how SQLAlchemy's Date stores them there.
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO tally ({', '.join(_INSERT_COLUMNS)}) VALUES ({', '.join([mark] * len(_INSERT_COLUMNS))})"
    if conn.dialect.name == "sqlite":
        rows = [(a, b, c, d, day.isoformat(), h, p) for a, b, c, d, day, h, p in rows]
    driver_executemany(conn, sql, rows)


def driver_executemany(conn: Connection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """executemany on the driver's own cursor: SQLAlchemy's executemany, even exec_driver_sql, still looks
    at each row's parameters. The driver's errors come out as SQLAlchemy's (IntegrityError, a full disk's
    OperationalError ...), as the pages and the importer expect them."""
    dbapi = conn.dialect.dbapi
    assert dbapi is not None
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    except dbapi.Error as exc:
        raise DBAPIError.instance(sql, None, exc, dbapi.Error) from exc
    finally:
        cursor.close()


def _plan(
    conn: Connection,
    disaster_id: int,
    dim: str,
    by_key: dict[Key, Counter[date]],
    writes: _Writes,
    stored: dict[Key, _Series] | None = None,
) -> None:
    if stored is None:
        stored = _stored(conn, disaster_id, dim, by_key)
    for key, days in by_key.items():
        series = stored[key]
        if series.rows:
            _plan_key(disaster_id, dim, key, days, series.base, series.rows, writes)
        else:
            _plan_inserts(disaster_id, dim, key, days, series.base, writes.inserts)


def _plan_key(
    disaster_id: int,
    dim: str,
    key: Key,
    days: Counter[date],
    base: int,
    rows: dict[date, tuple[int, int]],
    writes: _Writes,
) -> None:
    """A key with rows stored from its first changed day on: each changed day's row written, and the stored
    rows between changed days (and after the last) shifted by the person-days added before them, one
    statement a stretch: an import before most of a disaster's days would otherwise rewrite every later
    row of its keys one by one."""
    key1, key2 = key
    stored = sorted(rows)
    shift = 0  # person-days added so far
    after = 0  # the first stored row after the previous changed day
    previous = date.min
    for day in sorted(d for d, n in days.items() if n):
        at = bisect_left(stored, day)
        if shift and at > after:
            writes.shifts.append((shift, disaster_id, dim, key1, key2, previous, day))
        old_headcount, old_person_days = rows.get(day, (0, 0))
        headcount = old_headcount + days[day]
        if headcount < 0:
            raise TallyError(f"tally {dim} {key} on {day}: headcount {headcount} below zero")
        shift += days[day]
        if day not in rows:
            before = rows[stored[at - 1]][1] if at else base
            writes.inserts.append((disaster_id, dim, key1, key2, day, headcount, before + shift))
            after = at
        elif headcount:
            writes.updates.append((headcount, old_person_days + shift, disaster_id, dim, key1, key2, day))
            after = at + 1
        else:
            writes.deletes.append((disaster_id, dim, key1, key2, day))
            after = at + 1
        previous = day
    if shift and after < len(stored):
        writes.shifts.append((shift, disaster_id, dim, key1, key2, previous, date.max))


def _stored(
    conn: Connection, disaster_id: int, dim: str, by_key: dict[Key, Counter[date]]
) -> dict[Key, _Series]:
    starts = {key: min(d for d, n in days.items() if n) for key, days in by_key.items()}
    if len(by_key) <= SEEK_LIMIT:
        return {key: _read_key(conn, disaster_id, dim, key, start) for key, start in starts.items()}
    return _read_dimension(conn, disaster_id, dim, starts)


def _plan_inserts(
    disaster_id: int, dim: str, key: Key, days: Counter[date], cumulative: int, inserts: list[tuple[Any, ...]]
) -> None:
    """A key with nothing stored from its first changed day on (a new key, or an import after every entry
    so far): only inserts, the common case of an import, planned without the general case's work."""
    for day in sorted(d for d, n in days.items() if n):
        headcount = days[day]
        if headcount < 0:
            raise TallyError(f"tally {dim} {key} on {day}: headcount {headcount} below zero")
        cumulative += headcount
        inserts.append((disaster_id, dim, key[0], key[1], day, headcount, cumulative))


def _read_key(conn: Connection, disaster_id: int, dim: str, key: Key, start: date) -> _Series:
    series = _Series(0, start, {})
    assert series.rows is not None
    params = {"d": disaster_id, "m": dim, "k1": key[0], "k2": key[1], "start": start}
    for day, headcount, person_days in conn.execute(_READ_KEY, params):
        if day < start:
            series.base = person_days
        else:
            series.rows[day] = (headcount, person_days)
    return series


_KEY_SQL = "disaster_id = {m} AND dim = {m} AND key1 = {m} AND key2 = {m}"
# Part i of the statement: the key's rows from its start on, and the one row before the start.
_FROM_START = "SELECT {i}, date, headcount, person_days FROM tally WHERE {key} AND date >= {m}"
_BEFORE_START = (
    "SELECT * FROM (SELECT {i} AS part, date, headcount, person_days FROM tally WHERE {key} AND date < {m} "
    "ORDER BY date DESC LIMIT 1) AS before_{i}"
)


@cache
def _read_keys_sql(parts: int, mark: str) -> str:
    key = _KEY_SQL.format(m=mark)
    return " UNION ALL ".join(
        sql.format(i=i, key=key, m=mark) for i in range(parts) for sql in (_FROM_START, _BEFORE_START)
    )


def _read_keys(
    conn: Connection, starts: dict[tuple[int, str, Key], date]
) -> dict[tuple[int, str, Key], _Series]:
    """Each (disaster, dimension, key)'s rows from its start, and the person-days before, in one statement.

    Built as text once per number of keys and sent to the driver: an entry form's POST reads seven keys,
    and building and compiling a fourteen-part union each time would cost more than running it.
    """
    wanted = list(starts)
    series = {w: _Series(0, starts[w], {}) for w in wanted}
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


def _read_dimension(
    conn: Connection, disaster_id: int, dim: str, starts: dict[Key, date]
) -> dict[Key, _Series]:
    """Every row of the dimension once, in key order, keeping only what the changed keys need."""
    series = {key: _Series(0, start, {}) for key, start in starts.items()}
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        "SELECT key1, key2, date, headcount, person_days FROM tally "
        f"WHERE disaster_id = {mark} AND dim = {mark} ORDER BY key1, key2, date"
    )
    for key1, key2, day, headcount, person_days in _driver_rows(conn, sql, (disaster_id, dim)):
        found = series.get((key1, key2))
        if found is None:
            continue
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


# --- the ORM's writes -----------------------------------------------------------------------------------

_PENDING = "tally_changes"
_FIELDS = ("operation_id", "date", "sender_id", "destination_id", "duty_id", "headcount")


def _entry_change(entry: Entry, sign: int, *, old: bool) -> Change:
    values = {field: _value(entry, field, old) for field in _FIELDS}
    # The operation the entry holds already knows its disaster; otherwise apply() looks it up.
    operation = entry.__dict__.get("operation")
    disaster_id = (
        operation.disaster_id if operation is not None and operation.id == values["operation_id"] else None
    )
    return Change(disaster_id, **{**values, "headcount": sign * values["headcount"]})


def _value(entry: Entry, field: str, old: bool) -> Any:
    if old:
        history = inspect(entry).attrs[field].history
        if history.deleted:
            return history.deleted[0]
    return getattr(entry, field)


def _pending(entry: Entry) -> list[Change]:
    session = object_session(entry)
    assert session is not None
    return session.info.setdefault(_PENDING, [])


@event.listens_for(Entry, "after_insert")
def _entry_inserted(mapper: Any, connection: Any, entry: Entry) -> None:
    _pending(entry).append(_entry_change(entry, +1, old=False))


@event.listens_for(Entry, "after_update")
def _entry_updated(mapper: Any, connection: Any, entry: Entry) -> None:
    state = inspect(entry)
    if any(state.attrs[field].history.deleted for field in _FIELDS):
        _pending(entry).extend([_entry_change(entry, -1, old=True), _entry_change(entry, +1, old=False)])


@event.listens_for(Entry, "after_delete")
def _entry_deleted(mapper: Any, connection: Any, entry: Entry) -> None:
    _pending(entry).append(_entry_change(entry, -1, old=True))


@event.listens_for(Session, "before_flush")
def _flush_begins(session: Session, context: Any, instances: Any) -> None:
    # A flush that failed midway left its changes here; they were rolled back with it.
    session.info[_PENDING] = []


@event.listens_for(Session, "after_flush")
def _flushed(session: Session, context: Any) -> None:
    _apply(session, session.info.pop(_PENDING, []))


# --- reading --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    person_days: int  # through the as-of date
    headcount: int  # on the as-of date
    label: tuple[Any, ...] = ()  # the candidate's columns after its key (a code and a name, say)


def as_of(
    disaster_id: int, dim: str, day: date, candidates: Select[*tuple[Any, ...]], *, since: date | None = None
) -> dict[Key, Figure]:
    """The keys' figures as of `day` (counting only entries from `since` on, if given); keys with none are
    left out. `candidates` selects (key1, key2, *label) for each key: one index seek each."""
    figures = {key: figure for key, figure in _latest(disaster_id, dim, day, candidates)}
    if since is not None:
        before = {
            key: f.person_days for key, f in _latest(disaster_id, dim, since - timedelta(days=1), candidates)
        }
        figures = {
            key: Figure(f.person_days - before.get(key, 0), f.headcount, f.label)
            for key, f in figures.items()
        }
    return {key: f for key, f in figures.items() if f.person_days}


# A day's headcount for one key stays far below 2**32 (10,000 a row), and person-days below 2**31 keep
# the packed value inside a signed 64-bit integer.
_PACK = 2**32


def _latest(
    disaster_id: int, dim: str, day: date, candidates: Select[*tuple[Any, ...]]
) -> Iterator[tuple[Key, Figure]]:
    # A scalar subquery in the select list, not a join: the database walks the candidate keys and seeks
    # each one, rather than scanning the dimension's rows. One seek per key finds the latest row on or
    # before the day; it packs the person-days through that row with the headcount when the row is the
    # day's own, so the day's headcount needs no second seek.
    keys = candidates.subquery("keys")
    k1, k2 = keys.c[0], keys.c[1]
    packed = (
        select(
            cast(T.c.person_days, BigInteger) * literal(_PACK, BigInteger)
            + case((T.c.date == day, T.c.headcount), else_=0)
        )
        .where(
            T.c.disaster_id == disaster_id, T.c.dim == dim, T.c.key1 == k1, T.c.key2 == k2, T.c.date <= day
        )
        .order_by(T.c.date.desc())
        .limit(1)
        .scalar_subquery()
    )
    for value, key1, key2, *label in db.session.execute(select(packed, *keys.c)).all():
        if value is not None:
            person_days, headcount = divmod(int(value), _PACK)
            yield (key1, key2), Figure(person_days, headcount, tuple(label))


def daily(disaster_id: int, dim: str, since: date | None, until: date) -> list[tuple[date, Key, int]]:
    """(date, key, headcount) for every date with entries from `since` to `until`."""
    stmt = select(T.c.date, T.c.key1, T.c.key2, T.c.headcount).where(
        T.c.disaster_id == disaster_id, T.c.dim == dim, T.c.date <= until
    )
    if since is not None:
        stmt = stmt.where(T.c.date >= since)
    return [(day, (k1, k2), h) for day, k1, k2, h in db.session.execute(stmt)]


# --- checking and rebuilding ----------------------------------------------------------------------------


def recomputed(dim: str, disaster_id: int | None = None) -> str:
    """SQL for the dimension's rows recomputed from the entries, in the tally's columns."""
    columns = COLUMNS[dim]
    keys = (*columns, "0", "0")[:2]
    group = ", ".join(("o.disaster_id", *columns))
    where = "" if disaster_id is None else f"WHERE o.disaster_id = {int(disaster_id)} "
    return (
        f"SELECT o.disaster_id AS disaster_id, '{dim}' AS dim, {keys[0]} AS key1, {keys[1]} AS key2, "
        f"e.date AS date, SUM(e.headcount) AS headcount, "
        f"SUM(SUM(e.headcount)) OVER (PARTITION BY {group} ORDER BY e.date) AS person_days "
        f"FROM entry e JOIN operation o ON o.id = e.operation_id {where}GROUP BY {group}, e.date"
    )


def fill_statements(disaster_id: int | None = None) -> list[str]:
    return [
        f"INSERT INTO tally (disaster_id, dim, key1, key2, date, headcount, person_days) "
        f"{recomputed(dim, disaster_id)}"
        for dim in DIMENSIONS
    ]


def rebuild(disaster_id: int) -> int:
    """Recompute the disaster's tally from its entries; the rows written."""
    db.session.execute(delete(T).where(T.c.disaster_id == disaster_id))
    for statement in fill_statements(disaster_id):
        db.session.execute(text(statement))
    return int(
        db.session.scalar(select(func.count()).select_from(T).where(T.c.disaster_id == disaster_id)) or 0
    )


@dataclass(frozen=True)
class Difference:
    dim: str
    missing: int  # rows the entries call for that the tally lacks or holds otherwise
    extra: int  # rows the tally holds that the entries do not call for
    sample: Sequence[tuple[Any, ...]]


def check(disaster_id: int) -> list[Difference]:
    """Where the disaster's tally differs from a recomputation from its entries (empty: it agrees)."""
    differences = []
    for dim in DIMENSIONS:
        stored = (
            f"SELECT disaster_id, dim, key1, key2, date, headcount, person_days FROM tally "
            f"WHERE disaster_id = {int(disaster_id)} AND dim = '{dim}'"
        )
        wanted = f"SELECT * FROM ({recomputed(dim, disaster_id)}) r"
        missing = db.session.execute(text(f"{wanted} EXCEPT {stored}")).all()
        extra = db.session.execute(text(f"{stored} EXCEPT {wanted}")).all()
        if missing or extra:
            differences.append(Difference(dim, len(missing), len(extra), [*missing[:3], *extra[:3]]))
    return differences
