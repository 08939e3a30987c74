"""Person-days over an interval (from one date to another, both included), and month by month within it.

Split from totals.py, which answers as of a date: a figure for an interval is one as of its end less one as
of the day before its start, which is what a filter's ``date_from`` asks of totals() and headline() (and of
the tally's ``since``). Months and fiscal years (年度, April to March) are intervals; a monthly table cuts
an interval into the calendar months it touches, which add up to it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from .models import Disaster
from .query import EntryFilter
from .totals import Dimension, Totals, headline, totals
from .viewpoint import SENDER_KIND_ORDER
from .wareki import format_period


@dataclass(frozen=True)
class Interval:
    """From one date to another, both included."""

    start: date
    end: date

    def months(self) -> list[Interval]:
        """The calendar months the interval touches, each cut to the interval."""
        months = []
        first = self.start
        while first <= self.end:
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            months.append(Interval(first, min(following - timedelta(days=1), self.end)))
            first = following
        return months

    def label(self) -> str:
        """In 和暦: 令和5年7月1日から31日まで."""
        return format_period(self.start, self.end)


def month_interval(year: int, month: int) -> Interval:
    following = date(year + month // 12, month % 12 + 1, 1)
    return Interval(date(year, month, 1), following - timedelta(days=1))


def fiscal_year_interval(year: int) -> Interval:
    """The fiscal year (年度) starting in April of the year: 2023 → 2023-04-01 to 2024-03-31 (令和5年度)."""
    return Interval(date(year, 4, 1), date(year + 1, 3, 31))


def interval_totals(
    disaster: Disaster, interval: Interval, by: Dimension, flt: EntryFilter | None = None
) -> Totals:
    """Person-days from the start to the end inclusive: per key, the person-days through the end less those
    through the day before the start, from the tally (tally_reading.as_of's `since`). `active` is the headcount on
    the end date."""
    flt = (flt or EntryFilter()).narrowed(date_from=_later(interval.start, (flt or EntryFilter()).date_from))
    return totals(disaster, interval.end, by, flt)


def interval_headline(
    disaster: Disaster, interval: Interval, flt: EntryFilter | None = None
) -> tuple[int, int]:
    """(person-days from the start to the end, headcount active on the end date)."""
    flt = (flt or EntryFilter()).narrowed(date_from=_later(interval.start, (flt or EntryFilter()).date_from))
    return headline(disaster, interval.end, flt)


def interval_json(table: Totals, interval: Interval) -> dict[str, Any]:
    """A Totals' JSON with the interval: `from` and `to` (and `as_of`, the end date)."""
    return {**table.as_json(), "from": interval.start.isoformat(), "to": interval.end.isoformat()}


@dataclass(frozen=True)
class MonthlyTable:
    """Person-days per month of an interval, rows by one dimension: cells[(key, month index)]."""

    by: Dimension
    months: list[Interval]
    rows: list[tuple[str, str]]  # (key, name), in the order of the whole interval's totals
    cells: dict[tuple[str, int], int]

    def row_total(self, key: str) -> int:
        return sum(self.cells.get((key, i), 0) for i in range(len(self.months)))

    def month_total(self, index: int) -> int:
        return sum(self.cells.get((key, index), 0) for key, _ in self.rows)


def monthly_totals(
    disaster: Disaster, interval: Interval, by: Dimension, flt: EntryFilter | None = None
) -> MonthlyTable:
    """Each month's interval totals by the dimension: the months add up to the interval's total."""
    months = interval.months()
    cells: dict[tuple[str, int], int] = {}
    names: dict[str, str] = {}
    for index, month in enumerate(months):
        for row in interval_totals(disaster, month, by, flt).rows:
            names[row.key] = row.name
            cells[(row.key, index)] = row.person_days
    whole = Counter({key: 0 for key in names})
    for (key, _), value in cells.items():
        whole[key] += value
    order: list[str]
    if by is Dimension.SENDER_KIND:
        order = [str(k.value) for k in SENDER_KIND_ORDER if k.value in names]
    else:
        order = sorted(names, key=lambda k: (-whole[k], k))
    return MonthlyTable(by, months, [(key, names[key]) for key in order], cells)


def _later(a: date, b: date | None) -> date:
    return a if b is None else max(a, b)
