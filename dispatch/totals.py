"""Person-days (延べ人数) and headcount active on a date, as of a date, by any dimension.

Read-only. Every function takes the as-of date explicitly: the edges decide what "today" is.
Totals as of D include every entry dated on or before D, and nothing after; totals over an interval, and
month by month, are built on these in intervals.py.

Figures for the whole disaster (a filter of dates only; a headline for one operation, organisation or
duty) come from the tally, which answers as of any date in one index seek per key however many entries
there are (dispatch/tally_reading.py). Narrower filters — a municipality user's own entries, a filtered
list's totals — sum the entries they select.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Any, NamedTuple

from sqlalchemy import Select, case, func, literal, select, true
from sqlalchemy.orm import aliased

from . import tally_reading
from .extensions import db
from .models import Dim, Disaster, Duty, Entry, Operation, Organisation, OrgKind
from .query import Destination, EntryFilter, Sender, apply_filter, joined
from .tally import Key
from .viewpoint import SENDER_KIND_ORDER, SenderKind, Viewpoint, kinds_of, viewpoint_of
from .wareki import format_long


class Dimension(StrEnum):
    OPERATION = "operation"
    DESTINATION = "destination"
    SENDER = "sender"
    DUTY = "duty"
    DATE = "date"
    # Senders grouped by their kind relative to the own organisation (viewpoint.py): 自団体, 県内市町村 …
    SENDER_KIND = "sender_kind"

    @property
    def label(self) -> str:
        return DIMENSION_LABELS[self]


DIMENSION_LABELS = {
    Dimension.OPERATION: "派遣区分",
    Dimension.DESTINATION: "派遣先",
    Dimension.SENDER: "派遣元",
    Dimension.DUTY: "業務",
    Dimension.DATE: "日付",
    Dimension.SENDER_KIND: "派遣元の区分",
}


class TotalRow(NamedTuple):
    """One row of a total. A named tuple rather than a frozen dataclass: a total by sender makes one per
    organisation, some 2,000, and a tuple is built twice as fast."""

    key: str
    name: str
    person_days: int
    active: int
    # 実人数: distinct persons, where the named roster covers the row (persons.py); None elsewhere.
    persons: int | None = None


@dataclass(frozen=True)
class Rest:
    count: int
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
    persons: int | None = None

    def beyond(self, shown: int) -> Rest:
        """What the rows after the first `shown` add up to, for a table that sums them as その他."""
        rest = self.rows[shown:]
        return Rest(len(rest), sum(r.person_days for r in rest), sum(r.active for r in rest))

    def as_json(self) -> dict[str, Any]:
        return {
            "disaster": self.disaster,
            "as_of": self.as_of.isoformat(),
            "person_days": self.person_days,
            "persons": self.persons,
            "active": self.active,
            "by": self.by.value,
            "rows": [
                {
                    "key": r.key,
                    "name": r.name,
                    "person_days": r.person_days,
                    "persons": r.persons,
                    "active": r.active,
                }
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
    narrowed_to = _single_key(disaster, flt)
    if narrowed_to is not None:
        dim, key = narrowed_to
        figure = _tally_figures(disaster, as_of, flt, dim, (key, 0)).get((key, 0))
        return (figure.person_days, figure.headcount) if figure else (0, 0)
    person_days, active = _sums(as_of)
    stmt = apply_filter(joined(select(person_days, active)), disaster, flt)
    row = db.session.execute(stmt).one()
    return int(row[0]), int(row[1])


def totals(disaster: Disaster, as_of: date, by: Dimension, flt: EntryFilter | None = None) -> Totals:
    if by is Dimension.SENDER_KIND:
        return by_sender_kind(totals(disaster, as_of, Dimension.SENDER, flt), viewpoint_of(disaster))
    flt = flt or EntryFilter()
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    rows = (
        _tally_rows(disaster, as_of, by, flt)
        if _whole_disaster(flt)
        else _entry_rows(disaster, as_of, by, flt)
    )
    # Most person-days first, then by key: two stable sorts in C, a third of a key function's time for the
    # 1,800 senders.
    rows.sort(key=attrgetter("key"))
    rows.sort(key=attrgetter("person_days"), reverse=True)
    return Totals(
        disaster=disaster.slug,
        as_of=as_of,
        person_days=sum(r.person_days for r in rows),
        active=sum(r.active for r in rows),
        by=by,
        rows=rows,
    )


def by_sender_kind(senders: Totals, viewpoint: Viewpoint) -> Totals:
    """Totals by sender regrouped by each sender's kind relative to the own organisation, in the kinds'
    order (自団体 first): the tally's sender figures summed, so no dimension of its own is needed."""
    kinds = kinds_of(viewpoint, (row.key for row in senders.rows))
    person_days: Counter[SenderKind] = Counter()
    active: Counter[SenderKind] = Counter()
    for row in senders.rows:
        person_days[kinds[row.key]] += row.person_days
        active[kinds[row.key]] += row.active
    rows = [
        TotalRow(kind.value, viewpoint.kind_name(kind), person_days[kind], active[kind])
        for kind in SENDER_KIND_ORDER
        if kind in person_days
    ]
    return replace(senders, by=Dimension.SENDER_KIND, rows=rows)


def _entry_rows(disaster: Disaster, as_of: date, by: Dimension, flt: EntryFilter) -> list[TotalRow]:
    key_col, name_col = _key_columns(by)
    person_days, active = _sums(as_of)
    stmt = apply_filter(joined(select(key_col, name_col, person_days, active)), disaster, flt).group_by(
        key_col, name_col
    )
    return [
        TotalRow(
            key=_key_text(key),
            name=_name_text(by, name),
            person_days=int(pd),
            active=int(act),
        )
        for key, name, pd, act in db.session.execute(stmt)
    ]


def _tally_rows(disaster: Disaster, as_of: date, by: Dimension, flt: EntryFilter) -> list[TotalRow]:
    if by is Dimension.DATE:
        return [
            TotalRow(day.isoformat(), format_long(day), headcount, headcount if day == as_of else 0)
            for day, _, headcount in tally_reading.daily(disaster.id, Dim.A, flt.date_from, _until(flt))
        ]
    figures = _tally_figures(disaster, as_of, flt, TALLY_DIMENSION[by], _candidates(disaster, by))
    return [TotalRow(str(f.label[0]), str(f.label[1]), f.person_days, f.headcount) for f in figures.values()]


# The tally's dimension for each of ours (the date dimension reads the whole disaster's daily rows).
TALLY_DIMENSION = {
    Dimension.OPERATION: Dim.O,
    Dimension.SENDER: Dim.S,
    Dimension.DESTINATION: Dim.D,
    Dimension.DUTY: Dim.U,
}
# The tally's two-part dimensions, for cross tables: (rows, columns) → (dimension, rows are key1).
TALLY_PAIRS = {
    (Dimension.DESTINATION, Dimension.DUTY): (Dim.DU, True),
    (Dimension.DUTY, Dimension.DESTINATION): (Dim.DU, False),
    (Dimension.SENDER, Dimension.DESTINATION): (Dim.SD, True),
    (Dimension.DESTINATION, Dimension.SENDER): (Dim.SD, False),
}


def _whole_disaster(flt: EntryFilter) -> bool:
    """Whether the filter narrows by dates only, which the tally answers."""
    return not (flt.operation or flt.sender or flt.destination or flt.duty) and flt.visible_to is None


def _until(flt: EntryFilter) -> date:
    assert flt.date_to is not None
    return flt.date_to


def _tally_figures(
    disaster: Disaster, as_of: date, flt: EntryFilter, dim: Dim, candidates: Select[*tuple[Any, ...]] | Key
) -> dict[Key, tally_reading.Figure]:
    """The figures of the candidates' keys, or of one key (a headline's), for the filter's dates."""
    until = _until(flt)
    if flt.date_from is not None and flt.date_from > until:
        return {}
    if isinstance(candidates, tuple):
        # One key: a statement built once rather than the candidates' subquery built for each call.
        figure = tally_reading.key_as_of(disaster.id, dim, candidates, until, since=flt.date_from)
        figures = {candidates: figure} if figure.person_days else {}
    else:
        figures = tally_reading.as_of(disaster.id, dim, until, candidates, since=flt.date_from)
    if until != as_of:  # the filter ends before the as-of date: nobody is counted as on duty that day
        figures = {key: f._replace(headcount=0) for key, f in figures.items()}
    return figures


def _single_key(disaster: Disaster, flt: EntryFilter) -> tuple[Dim, int] | None:
    """The tally's (dimension, key) for a filter of dates and at most one operation, organisation or duty;
    None when the tally cannot answer it. A code that names nothing is key 0, which has no rows."""
    if flt.visible_to is not None:
        return None
    narrowing = [
        (dim, code)
        for dim, code in (
            (Dim.O, flt.operation),
            (Dim.S, flt.sender),
            (Dim.D, flt.destination),
            (Dim.U, flt.duty),
        )
        if code
    ]
    if not narrowing:
        return Dim.A, 0
    if len(narrowing) > 1:
        return None
    dim, code = narrowing[0]
    match dim:
        case Dim.O:
            key = db.session.scalar(
                select(Operation.id).where(Operation.disaster_id == disaster.id, Operation.code == code)
            )
        case Dim.U:
            key = db.session.scalar(select(Duty.id).where(Duty.code == code))
        case _:
            key = db.session.scalar(select(Organisation.id).where(Organisation.code == code))
    return dim, int(key or 0)


def _candidates(disaster: Disaster, by: Dimension) -> Select[*tuple[Any, ...]]:
    """Every possible key of the dimension, with its code and name: (id, 0, code, name). Table columns,
    not mapped attributes: the rows need no ORM loading."""
    match by:
        case Dimension.OPERATION:
            op = Operation.__table__.c
            return select(op.id, literal(0), op.code, op.name).where(op.disaster_id == disaster.id)
        case Dimension.DUTY:
            duty = Duty.__table__.c
            return select(duty.id, literal(0), duty.code, duty.name_ja)
        case _:
            # Not a designated city's ward: no entry names one (catalog.entry_problems refuses it), and
            # each candidate costs a seek.
            org = Organisation.__table__.c
            return select(org.id, literal(0), org.code, org.name).where(org.kind != OrgKind.WARD.value)


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
        case Dimension.SENDER_KIND:
            raise ValueError("sender kinds are regrouped senders (by_sender_kind), not a column")


def _earlier(a: date, b: date | None) -> date:
    return a if b is None else min(a, b)


@dataclass(frozen=True)
class CrossTable:
    """Person-days as of a date, rows by one dimension and columns by another, with totals that add up.

    A limited table shows the biggest rows and columns only; its row and column totals are still the whole
    ones, and `more_rows`/`more_cols` say how many were left for the export."""

    as_of: date
    rows_by: Dimension
    cols_by: Dimension
    rows: list[tuple[str, str]]  # (key, name), biggest total first
    cols: list[tuple[str, str]]
    cells: dict[tuple[str, str], int]
    row_totals: dict[str, int]
    col_totals: dict[str, int]
    total: int
    more_rows: int = 0
    more_cols: int = 0

    def cell(self, row: str, col: str) -> int:
        return self.cells.get((row, col), 0)

    def row_rest(self, row: str) -> int:
        """The row's person-days in the columns not shown."""
        return self.row_totals.get(row, 0) - sum(self.cell(row, c) for c, _ in self.cols)

    def col_rest(self, col: str) -> int:
        """The column's person-days in the rows not shown."""
        return self.col_totals.get(col, 0) - sum(self.cell(r, col) for r, _ in self.rows)

    def hidden_rows_total(self) -> int:
        """Person-days in the rows not shown."""
        return self.total - sum(self.row_totals.get(r, 0) for r, _ in self.rows)

    def hidden_cols_total(self) -> int:
        """Person-days in the columns not shown."""
        return self.total - sum(self.col_totals.get(c, 0) for c, _ in self.cols)

    def rest_total(self) -> int:
        """Person-days in neither a shown row nor a shown column."""
        return self.hidden_rows_total() - sum(self.col_rest(c) for c, _ in self.cols)


def cross_table(
    disaster: Disaster,
    as_of: date,
    rows_by: Dimension,
    cols_by: Dimension,
    flt: EntryFilter | None = None,
    *,
    limit: int | None = None,
    known: Sequence[Totals] = (),
) -> CrossTable:
    """The cross table, or its `limit` biggest rows and columns. `known`: totals by either dimension,
    as of the same date with the same filter, that the caller has already computed."""
    flt = flt or EntryFilter()
    pair = TALLY_PAIRS.get((rows_by, cols_by))
    if pair is not None and _whole_disaster(flt.narrowed(date_to=None)):
        reuse = {t.by: t for t in known if t.as_of == as_of}
        row_totals = reuse.get(rows_by) or totals(disaster, as_of, rows_by, flt)
        col_totals = reuse.get(cols_by) or totals(disaster, as_of, cols_by, flt)
        flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
        if limit is not None or len(row_totals.rows) * len(col_totals.rows) <= PAIR_SEEKS:
            return _tally_cross_table(disaster, as_of, flt, pair, row_totals, col_totals, limit)
    flt = flt.narrowed(date_to=_earlier(as_of, flt.date_to))
    table = _entry_cross_table(disaster, as_of, rows_by, cols_by, flt)
    return table if limit is None else _limited(table, limit)


# Up to this many cells, a whole cross table is read from the tally one seek per cell.
PAIR_SEEKS = 50_000


def _tally_cross_table(
    disaster: Disaster,
    as_of: date,
    flt: EntryFilter,
    pair: tuple[Dim, bool],
    row_totals: Totals,
    col_totals: Totals,
    limit: int | None,
) -> CrossTable:
    dim, rows_first = pair
    rows = row_totals.rows[:limit]
    cols = col_totals.rows[:limit]
    row_ids = _ids(disaster, row_totals.by, [r.key for r in rows])
    col_ids = _ids(disaster, col_totals.by, [c.key for c in cols])
    firsts, seconds = (row_ids, col_ids) if rows_first else (col_ids, row_ids)
    code_of = {**{(0, i): k for k, i in row_ids.items()}, **{(1, i): k for k, i in col_ids.items()}}
    cells: dict[tuple[str, str], int] = {}
    if firsts and seconds:
        first, second = _id_column(dim, 0), _id_column(dim, 1)
        candidates = (
            select(first, second)
            .select_from(first.table)
            .join(second.table, true())  # every pair of the shown rows and columns
            .where(first.in_(list(firsts.values())), second.in_(list(seconds.values())))
        )
        for (k1, k2), figure in _tally_figures(disaster, as_of, flt, dim, candidates).items():
            r, c = (k1, k2) if rows_first else (k2, k1)
            cells[(code_of[(0, r)], code_of[(1, c)])] = figure.person_days
    return CrossTable(
        as_of=as_of,
        rows_by=row_totals.by,
        cols_by=col_totals.by,
        rows=[(r.key, r.name) for r in rows],
        cols=[(c.key, c.name) for c in cols],
        cells=cells,
        row_totals={r.key: r.person_days for r in row_totals.rows},
        col_totals={c.key: c.person_days for c in col_totals.rows},
        total=row_totals.person_days,
        more_rows=len(row_totals.rows) - len(rows),
        more_cols=len(col_totals.rows) - len(cols),
    )


_SECOND_DUTY = aliased(Duty)
_SECOND_ORG = aliased(Organisation)


def _id_column(dim: Dim, part: int) -> Any:
    """The id column of part 0 or 1 of a two-part tally dimension (distinct tables for a cross join)."""
    if dim is Dim.DU:
        return Organisation.id if part == 0 else _SECOND_DUTY.id
    return Organisation.id if part == 0 else _SECOND_ORG.id


def _ids(disaster: Disaster, by: Dimension, codes: list[str]) -> dict[str, int]:
    if not codes:
        return {}
    match by:
        case Dimension.DUTY:
            stmt = select(Duty.code, Duty.id).where(Duty.code.in_(codes))
        case Dimension.OPERATION:
            stmt = select(Operation.code, Operation.id).where(
                Operation.disaster_id == disaster.id, Operation.code.in_(codes)
            )
        case _:
            stmt = select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))
    return {str(code): int(key) for code, key in db.session.execute(stmt)}


def _entry_cross_table(
    disaster: Disaster, as_of: date, rows_by: Dimension, cols_by: Dimension, flt: EntryFilter
) -> CrossTable:
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


def _limited(table: CrossTable, limit: int) -> CrossTable:
    rows, cols = table.rows[:limit], table.cols[:limit]
    shown_cols = {c for c, _ in cols}
    shown_rows = {r for r, _ in rows}
    return replace(
        table,
        rows=rows,
        cols=cols,
        cells={(r, c): v for (r, c), v in table.cells.items() if r in shown_rows and c in shown_cols},
        more_rows=len(table.rows) - len(rows),
        more_cols=len(table.cols) - len(cols),
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
    per_day: dict[date, dict[str, int]] = {}
    for day, code, headcount in _daily_by_operation(disaster, flt):
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


def _daily_by_operation(disaster: Disaster, flt: EntryFilter) -> list[tuple[date, str, int]]:
    if _whole_disaster(flt):
        code_of = {op.id: op.code for op in disaster.operations}
        return [
            (day, code_of[key1], headcount)
            for day, (key1, _), headcount in tally_reading.daily(
                disaster.id, Dim.O, flt.date_from, _until(flt)
            )
        ]
    stmt = apply_filter(
        joined(select(Entry.date, Operation.code, func.sum(Entry.headcount))), disaster, flt
    ).group_by(Entry.date, Operation.code)
    return [(day, code, int(headcount)) for day, code, headcount in db.session.execute(stmt)]


def _key_text(key: object) -> str:
    return key.isoformat() if isinstance(key, date) else str(key)


def _name_text(by: Dimension, name: object) -> str:
    return format_long(name) if by is Dimension.DATE and isinstance(name, date) else str(name)
