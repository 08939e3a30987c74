"""Person-days (延べ人数) and headcount active on a date, as of a date, by any dimension.

Read-only. Every function takes the as-of date explicitly: the edges decide what "today" is.
Totals as of D include every entry dated on or before D, and nothing after.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sqlalchemy import case, func, select

from .extensions import db
from .models import Disaster, Duty, Entry, Operation
from .query import Destination, EntryFilter, Sender, apply_filter, joined


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
            key=key.isoformat() if isinstance(key, date) else str(key),
            name=str(name),
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
