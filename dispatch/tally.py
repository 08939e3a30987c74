"""Person-days kept in step with the entries, so a total as of any date never reads the entries table.

Every write to `entry` changes the tally in the same transaction: the ORM's own inserts, edits and
deletes through the session events below, and bulk inserts (the importer) by calling `apply()`. The
tally holds, per disaster, dimension key and date, that day's headcount and the person-days through that
day (models.Tally); a figure as of D is the key's latest row on or before D (tally_reading.py reads
it). `check()` compares it with a recomputation from the entries and `rebuild()` recomputes it
(`flask check-totals`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    event,
    inspect,
    select,
)
from sqlalchemy.orm import Session, object_session

from . import tally_stored, tally_writes
from .extensions import db
from .models import Dim, Entry, Operation, Tally
from .tally_stored import NOTHING_STORED, Key, Row, Series
from .tally_writes import Writes
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
DIMENSIONS: dict[Dim, Callable[[Change], tuple[int, int]]] = {
    Dim.A: lambda c: (0, 0),
    Dim.O: lambda c: (c.operation_id, 0),
    Dim.S: lambda c: (c.sender_id, 0),
    Dim.D: lambda c: (c.destination_id, 0),
    Dim.U: lambda c: (c.duty_id, 0),
    Dim.DU: lambda c: (c.destination_id, c.duty_id),
    Dim.SD: lambda c: (c.sender_id, c.destination_id),
}
# The same keys as entry columns, for the statements that fill the tally from the entries.
COLUMNS: dict[Dim, tuple[str, ...]] = {
    Dim.A: (),
    Dim.O: ("e.operation_id",),
    Dim.S: ("e.sender_id",),
    Dim.D: ("e.destination_id",),
    Dim.U: ("e.duty_id",),
    Dim.DU: ("e.destination_id", "e.duty_id"),
    Dim.SD: ("e.sender_id", "e.destination_id"),
}
# Up to this many changes (an entry form, a short period) read every dimension in one statement.
FEW_CHANGES = 8
# Written before planning more once this many rows wait: an import of 100,000 entries makes some 280,000.
_WRITE_EVERY = 20_000

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
    writes = Writes(iso_dates=conn.dialect.name == "sqlite")
    if len(changes) <= FEW_CHANGES:
        few = _deltas(changes)
        added = _added_to_single_days(few) if conn.dialect.name == "postgresql" else None
        if added:
            tally_writes.add_to_days(conn, added)
            return
        _apply_few(conn, few, writes)
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
_ROW_KEYS: dict[Dim, tuple[int, ...]] = {
    Dim.A: (),
    Dim.O: (0,),
    Dim.S: (2,),
    Dim.D: (3,),
    Dim.U: (4,),
    Dim.DU: (3, 4),
    Dim.SD: (2, 3),
}


def apply_rows(disaster_id: int, rows: Sequence[tuple[int, date, int, int, int, int]]) -> None:
    """Add new entries of one disaster, as (operation_id, date, sender_id, destination_id, duty_id,
    headcount) tuples, to the tally: what apply() does for an import, grouped with plain dicts (an import of
    100,000 rows spent seconds building and grouping a Change per row and dimension).

    The rows are taken in date order, so each key's days come in order: a key with nothing stored from its
    first day on (every key of a first import, most of a day's import) is planned in one pass of running
    sums, without a Counter per key or a sort per dimension; only keys with stored rows from that day on
    take _plan's general way."""
    if not rows:
        return
    if len(rows) <= FEW_CHANGES:
        apply(Change(disaster_id, r[0], r[1], r[2], r[3], r[4], r[5]) for r in rows)
        return
    conn = db.session().connection()
    take_turns_on_disaster(conn, disaster_id)
    writes = Writes(iso_dates=conn.dialect.name == "sqlite")
    in_order = sorted(rows, key=itemgetter(1))
    for dim, where in _ROW_KEYS.items():
        summed = _summed(in_order, where)
        starts = {key: next(iter(days)) for key, days in summed.items()}
        stored = tally_stored.stored(conn, disaster_id, dim, starts)
        later = {key: Counter[date]() for key, series in stored.items() if series.rows}
        _plan_new(disaster_id, dim, summed, stored, later, writes)
        if later:
            _plan(conn, disaster_id, dim, later, writes, stored)
        writes.execute(conn, unless_fewer_than=_WRITE_EVERY)
        del summed, stored
    writes.execute(conn)


def _plan_new(
    disaster_id: int,
    dim: Dim,
    summed: dict[Key, dict[date, int]],
    stored: dict[Key, Series],
    later: dict[Key, Counter[date]],
    writes: Writes,
) -> None:
    """Inserts for the keys with nothing stored from their first day on, each day's person-days the running
    sum from the stored day before; the days of the other keys (``later``) are gathered for _plan.
    ``summed`` holds each key's days in date order."""
    bound: dict[date, Any] = {}
    inserts = writes.inserts
    # The rows carry the dimension as a plain int: sqlite3 binds a member of an IntEnum only after looking
    # for an adapter, and an import sends hundreds of thousands of rows (100,000 entries went in at 20,000
    # rows/s with the member, 25,000 with the int; docs/benchmarks.md).
    code = dim.value
    # Keys in order, each key's days in order: the rows then go into the tally's primary key in its own
    # order, which a new disaster's rows extend at its right edge (PostgreSQL took 280,000 rows in 3.1 s
    # so, 4.0 s in date order; docs/benchmarks.md). Sorting the keys costs far less than sorting the rows.
    for key in sorted(summed):
        days = summed[key]
        if key in later:
            counter = later[key]
            for day, headcount in days.items():
                counter[day] += headcount
            continue
        key1, key2 = key
        stored_key = stored.get(key)
        person_days = stored_key.base if stored_key is not None else 0
        for day, headcount in days.items():
            if headcount <= 0:
                if headcount:
                    raise TallyError(f"tally {dim} {key} on {day}: headcount {headcount} below zero")
                continue
            person_days += headcount
            value = bound.get(day)
            if value is None:
                value = bound[day] = writes.bind_date(day)
            inserts.append((disaster_id, code, key1, key2, value, headcount, person_days))


def _summed(
    rows: Sequence[tuple[int, date, int, int, int, int]], where: tuple[int, ...]
) -> dict[Key, dict[date, int]]:
    """Headcounts by key and date of one dimension, its key at ``where`` in each row; each key's dates in
    the rows' order."""
    # The key's parts are Any: a row's columns differ in type, and the key is made of whichever ``where`` names.
    summed: dict[Any, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    if not where:
        for row in rows:
            summed[0, 0][row[1]] += row[5]
    elif len(where) == 1:
        (i,) = where
        for row in rows:
            summed[row[i], 0][row[1]] += row[5]
    else:
        i, j = where
        for row in rows:
            summed[row[i], row[j]][row[1]] += row[5]
    return summed


def _deltas(changes: list[Change]) -> dict[tuple[int, Dim, Key], Counter[date]]:
    """The few changes' headcounts by disaster, dimension, key and day."""
    deltas: dict[tuple[int, Dim, Key], Counter[date]] = defaultdict(Counter)
    for change in changes:
        for dim, key_of in DIMENSIONS.items():
            deltas[change.disaster_id or 0, dim, key_of(change)][change.date] += change.headcount
    return deltas


def _added_to_single_days(
    deltas: dict[tuple[int, Dim, Key], Counter[date]],
) -> list[tuple[int, Dim, int, int, date, int]] | None:
    """The rows for tally_writes.add_to_days when every changed key gains headcount on one day (a new
    entry, the entry form's usual POST); None when a key loses headcount or changes on several days."""
    added = []
    for (disaster_id, dim, (key1, key2)), days in deltas.items():
        changed = [(day, n) for day, n in days.items() if n]
        if not changed:
            continue
        if len(changed) > 1 or changed[0][1] < 0:
            return None
        added.append((disaster_id, dim, key1, key2, *changed[0]))
    return added


def _apply_few(conn: Connection, deltas: dict[tuple[int, Dim, Key], Counter[date]], writes: Writes) -> None:
    """A form's few entries (on PostgreSQL only those add_to_days cannot take: an edit, a deletion): for
    each changed day of each key, its latest row on or before that day, every dimension in one statement.
    Not every later row: an entry on an early day of a long, busy disaster has a later row for nearly every
    day after it in each of its seven keys, and reading them into Python only to learn whether a row lies
    between changed days cost more than shifting them (the shifts name stretches of dates, whatever rows
    they hold)."""
    changed = {
        wanted: sorted(day for day, n in days.items() if n)
        for wanted, days in deltas.items()
        if any(days.values())
    }
    latest = tally_stored.read_latest(
        conn, [(wanted, day) for wanted, days in changed.items() for day in days]
    )
    for wanted, days in changed.items():
        _plan_days(wanted, [(day, deltas[wanted][day], latest.get((wanted, day))) for day in days], writes)


def _plan_days(
    wanted: tuple[int, Dim, Key], days: list[tuple[date, int, Row | None]], writes: Writes
) -> None:
    """One key's changed days in date order, each with its delta and the key's latest row on or before it
    as stored before the change: that day's row is written, and the stretches between changed days (and
    after the last) shifted by the person-days added before them."""
    disaster_id, dim, (key1, key2) = wanted
    bind = writes.bind_date
    shift = 0  # person-days added so far
    previous = date.min
    for day, delta, row in days:
        if shift:
            writes.shifts.append((shift, disaster_id, dim, key1, key2, bind(previous), bind(day)))
        shift += delta
        if row is not None and row[0] == day:
            headcount = row[1] + delta
            if headcount < 0:
                raise TallyError(f"tally {dim} {(key1, key2)} on {day}: headcount {headcount} below zero")
            if headcount:
                writes.updates.append((headcount, row[2] + shift, disaster_id, dim, key1, key2, bind(day)))
            else:
                writes.deletes.append((disaster_id, dim, key1, key2, bind(day)))
        elif delta < 0:
            raise TallyError(f"tally {dim} {(key1, key2)} on {day}: headcount {delta} below zero")
        else:
            before = row[2] if row is not None else 0
            writes.inserts.append((disaster_id, dim, key1, key2, bind(day), delta, before + shift))
        previous = day
    if shift:
        writes.shifts.append((shift, disaster_id, dim, key1, key2, bind(previous), bind(date.max)))


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


def _plan(
    conn: Connection,
    disaster_id: int,
    dim: Dim,
    by_key: dict[Key, Counter[date]],
    writes: Writes,
    stored: dict[Key, Series] | None = None,
) -> None:
    if stored is None:
        starts = {key: min(d for d, n in days.items() if n) for key, days in by_key.items()}
        stored = tally_stored.stored(conn, disaster_id, dim, starts)
    for key, days in by_key.items():
        series = stored.get(key, NOTHING_STORED)
        if series.rows:
            _plan_key(disaster_id, dim, key, days, series.base, series.rows, writes)
        else:
            _plan_inserts(disaster_id, dim, key, days, series.base, writes)


def _plan_key(
    disaster_id: int,
    dim: Dim,
    key: Key,
    days: Counter[date],
    base: int,
    rows: dict[date, tuple[int, int]],
    writes: Writes,
) -> None:
    """A key with rows stored from its first changed day on: each changed day's row written, and the stored
    rows between changed days (and after the last) shifted by the person-days added before them, one
    statement a stretch: an entry on an early day, or an import before most of a disaster's days, would
    otherwise rewrite every later row of its keys one by one."""
    key1, key2 = key
    code = dim.value  # a plain int, as in _plan_new
    stored = sorted(rows)
    shift = 0  # person-days added so far
    after = 0  # the first stored row after the previous changed day
    previous = date.min
    bind = writes.bind_date
    for day in sorted(d for d, n in days.items() if n):
        at = bisect_left(stored, day)
        if shift and at > after:
            writes.shifts.append((shift, disaster_id, code, key1, key2, bind(previous), bind(day)))
        old_headcount, old_person_days = rows.get(day, (0, 0))
        headcount = old_headcount + days[day]
        if headcount < 0:
            raise TallyError(f"tally {dim} {key} on {day}: headcount {headcount} below zero")
        shift += days[day]
        if day not in rows:
            before = rows[stored[at - 1]][1] if at else base
            writes.inserts.append((disaster_id, code, key1, key2, bind(day), headcount, before + shift))
            after = at
        elif headcount:
            writes.updates.append(
                (headcount, old_person_days + shift, disaster_id, code, key1, key2, bind(day))
            )
            after = at + 1
        else:
            writes.deletes.append((disaster_id, code, key1, key2, bind(day)))
            after = at + 1
        previous = day
    if shift and after < len(stored):
        writes.shifts.append((shift, disaster_id, code, key1, key2, bind(previous), bind(date.max)))


def _plan_inserts(
    disaster_id: int, dim: Dim, key: Key, days: Counter[date], cumulative: int, writes: Writes
) -> None:
    """A key with nothing stored from its first changed day on (a new key, or an entry after every entry
    so far): only inserts, planned without the general case's work."""
    code = dim.value  # a plain int, as in _plan_new
    for day in sorted(d for d, n in days.items() if n):
        headcount = days[day]
        if headcount < 0:
            raise TallyError(f"tally {dim} {key} on {day}: headcount {headcount} below zero")
        cumulative += headcount
        writes.inserts.append(
            (disaster_id, code, key[0], key[1], writes.bind_date(day), headcount, cumulative)
        )


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
