"""Person-days (延べ人数) and headcount active on a date, as of a date, by any dimension.

Read-only. Every function takes the as-of date explicitly: the edges decide what "today" is.
Totals as of D include every entry dated on or before D, and nothing after.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select

from .extensions import db
from .models import Disaster, Duty, Entry, Operation
from .query import Destination, EntryFilter, Sender, apply_filter, joined
from .wareki import format_long


class Dimension(StrEnum):
    OPERATION = "operation"
    DESTINATION = "destination"
    SENDER = "sender"
    DUTY = "duty"
    DATE = "date"

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self]


DIMENSION_LABELS = {
    Dimension.OPERATION: "派遣区分",
    Dimension.DESTINATION: "派遣先",
    Dimension.SENDER: "派遣元",
    Dimension.DUTY: "業務",
    Dimension.DATE: "日付",
}


@dataclass(frozen=True)
class TotalRow:
    key: str
    name: str
    person_days: int
    active: int


@dataclass(frozen=True)
class Totals:
    disaster: str
    as_of: date
    person_days: int
    active: int
    by: Dimension
    rows: list[TotalRow]

    def as_json(self) -> dict[str, Any]:
        return {
            "disaster": self.disaster,
            "as_of": self.as_of.isoformat(),
            "person_days": self.person_days,
            "active": self.active,
            "by": self.by.value,
            "rows": [
                {"key": r.key, "name": r.name, "person_days": r.person_days, "active": r.active}
                for r in self.rows
            ],
        }


def _sums(as_of: date) -> tuple[Any, Any]:
    person_days = func.coalesce(func.sum(Entry.headcount), 0)
    active = func.coalesce(func.sum(case((Entry.date == as_of, Entry.headcount), else_=0)), 0)
    return person_days, active


def headline(disaster: Disaster, as_of: date, flt: EntryFilter | None = None) -> tuple[int, int]:
    """(person-days as of the date, headcount active on the date)."""
    flt = flt or EntryFilter()
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    person_days, active = _sums(as_of)
    stmt = apply_filter(joined(select(person_days, active)), disaster, flt)
    row = db.session.execute(stmt).one()
    return int(row[0]), int(row[1])


def totals(disaster: Disaster, as_of: date, by: Dimension, flt: EntryFilter | None = None) -> Totals:
    flt = flt or EntryFilter()
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    key_col, name_col = _key_columns(by)
    person_days, active = _sums(as_of)
    stmt = apply_filter(joined(select(key_col, name_col, person_days, active)), disaster, flt).group_by(
        key_col, name_col
    )
    rows = [
        TotalRow(
            key=_key_text(key),
            name=_name_text(by, name),
            person_days=int(pd),
            active=int(act),
        )
        for key, name, pd, act in db.session.execute(stmt)
    ]
    rows.sort(key=lambda r: (-r.person_days, r.key))
    return Totals(
        disaster=disaster.slug,
        as_of=as_of,
        person_days=sum(r.person_days for r in rows),
        active=sum(r.active for r in rows),
        by=by,
        rows=rows,
    )


def _key_columns(by: Dimension) -> tuple[Any, Any]:
    match by:
        case Dimension.OPERATION:
            return Operation.code, Operation.name
        case Dimension.DESTINATION:
            return Destination.code, Destination.name
        case Dimension.SENDER:
            return Sender.code, Sender.name
        case Dimension.DUTY:
            return Duty.code, Duty.name_ja
        case Dimension.DATE:
            return Entry.date, Entry.date


def _earlier(a: date, b: date | None) -> date:
    return a if b is None else min(a, b)


@dataclass(frozen=True)
class CrossTable:
    """Person-days as of a date, rows by one dimension and columns by another, with totals that add up."""

    as_of: date
    rows_by: Dimension
    cols_by: Dimension
    rows: list[tuple[str, str]]  # (key, name), biggest total first
    cols: list[tuple[str, str]]
    cells: dict[tuple[str, str], int]
    row_totals: dict[str, int]
    col_totals: dict[str, int]
    total: int

    def cell(self, row: str, col: str) -> int:
        return self.cells.get((row, col), 0)


def cross_table(
    disaster: Disaster, as_of: date, rows_by: Dimension, cols_by: Dimension, flt: EntryFilter | None = None
) -> CrossTable:
    flt = flt or EntryFilter()
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    row_key, row_name = _key_columns(rows_by)
    col_key, col_name = _key_columns(cols_by)
    stmt = apply_filter(
        joined(select(row_key, row_name, col_key, col_name, func.sum(Entry.headcount))), disaster, flt
    ).group_by(row_key, row_name, col_key, col_name)
    cells: dict[tuple[str, str], int] = {}
    row_names: dict[str, str] = {}
    col_names: dict[str, str] = {}
    for rk, rn, ck, cn, person_days in db.session.execute(stmt):
        r, c = _key_text(rk), _key_text(ck)
        row_names[r] = _name_text(rows_by, rn)
        col_names[c] = _name_text(cols_by, cn)
        cells[(r, c)] = int(person_days)
    # One pass over the cells: a sender × destination table of a national disaster has a million of them.
    row_totals: Counter[str] = Counter()
    col_totals: Counter[str] = Counter()
    for (r, c), value in cells.items():
        row_totals[r] += value
        col_totals[c] += value
    order_rows = sorted(row_names, key=lambda r: (-row_totals[r], r))
    order_cols = sorted(col_names, key=lambda c: (-col_totals[c], c))
    return CrossTable(
        as_of=as_of,
        rows_by=rows_by,
        cols_by=cols_by,
        rows=[(r, row_names[r]) for r in order_rows],
        cols=[(c, col_names[c]) for c in order_cols],
        cells=cells,
        row_totals=row_totals,
        col_totals=col_totals,
        total=sum(cells.values()),
    )


@dataclass(frozen=True)
class DayPoint:
    """One date of the daily series: headcount that day per operation, and person-days so far."""

    day: date
    by_operation: dict[str, int]
    total: int
    cumulative: int


def daily_series(disaster: Disaster, as_of: date, flt: EntryFilter | None = None) -> list[DayPoint]:
    """Every date from the first entry to the last on or before the as-of date; days without entries
    are zeros, so a chart's time axis has no gaps."""
    flt = flt or EntryFilter()
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    stmt = apply_filter(
        joined(select(Entry.date, Operation.code, func.sum(Entry.headcount))), disaster, flt
    ).group_by(Entry.date, Operation.code)
    per_day: dict[date, dict[str, int]] = {}
    for day, code, headcount in db.session.execute(stmt):
        per_day.setdefault(day, {})[code] = int(headcount)
    if not per_day:
        return []
    points = []
    cumulative = 0
    day = min(per_day)
    while day <= max(per_day):
        values = per_day.get(day, {})
        total = sum(values.values())
        cumulative += total
        points.append(DayPoint(day, values, total, cumulative))
        day += timedelta(days=1)
    return points


def _key_text(key: object) -> str:
    return key.isoformat() if isinstance(key, date) else str(key)


def _name_text(by: Dimension, name: object) -> str:
    return format_long(name) if by is Dimension.DATE and isinstance(name, date) else str(name)
