"""Fill (充足): what was asked for, what was decided and who is on duty, per date × destination × duty.

Requested comes from the requests as they stood on the date (each request's revision in force, requests.py),
assigned from the assignments covering the date, on duty from the dispatch entries, which stay the record of
what happened: the entries of that date, read through ix_entry_operation_date, one seek per operation.
Unfilled is what was asked for and nobody is on duty for, never negative: an over-filled row is not a
credit for another. Entries that match no request show with nothing requested.

中長期 (地方自治法第252条の17) is counted per fiscal year and 職種 instead: persons requested for the year
against persons secured (確保) by the assignments, and the ratio, as such figures are published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Integer, func, literal_column, select, union_all

from .extensions import db
from .models import Disaster, Duty, Entry, Operation, Organisation, OrgKind, Tally
from .request_models import Assignment, RequestRevision, RequestState, Route, StaffRequest
from .requests import fiscal_year_of, persons_on, within_period

Key = tuple[int, int]  # destination id, duty id

# A row of fill.json, of `flask fill --format csv` and of the fill export, in this order.
FILL_COLUMNS = ("destination", "duty", "requested", "assigned", "on_duty", "unfilled")


class FillRow(NamedTuple):
    """One destination × duty on the day; a tuple, as fill.json at national scale has thousands of them."""

    destination: str
    destination_name: str
    duty: str
    duty_name: str
    requested: int
    assigned: int
    on_duty: int

    @property
    def unfilled(self) -> int:
        return max(self.requested - self.on_duty, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "duty": self.duty,
            "requested": self.requested,
            "assigned": self.assigned,
            "on_duty": self.on_duty,
            "unfilled": self.unfilled,
        }


@dataclass(frozen=True)
class Fill:
    disaster: str
    date: date
    rows: list[FillRow]

    @property
    def requested(self) -> int:
        return sum(r.requested for r in self.rows)

    @property
    def assigned(self) -> int:
        return sum(r.assigned for r in self.rows)

    @property
    def on_duty(self) -> int:
        return sum(r.on_duty for r in self.rows)

    @property
    def unfilled(self) -> int:
        """Each row's gap added up: an over-filled destination does not fill another's gap."""
        return sum(r.unfilled for r in self.rows)

    @property
    def gaps(self) -> list[FillRow]:
        return [r for r in self.rows if r.unfilled]

    def as_json(self) -> dict[str, Any]:
        # The totals from the rows as written, each row's gap worked out once: fill.json has thousands of rows.
        rows = [r.as_json() for r in self.rows]
        totals = {
            key: sum(row[key] for row in rows) for key in ("requested", "assigned", "on_duty", "unfilled")
        }
        return {"disaster": self.disaster, "date": self.date.isoformat(), **totals, "rows": rows}


RR = RequestRevision.__table__
AS = Assignment.__table__
E = Entry.__table__


def assigned_on(disaster: Disaster, day: date, organisation_id: int | None = None) -> dict[Key, int]:
    stmt = (
        select(AS.c.requester_id, AS.c.duty_id, func.sum(AS.c.persons))
        .where(AS.c.disaster_id == disaster.id, AS.c.counts_to >= day, AS.c.date_from <= day)
        .group_by(AS.c.requester_id, AS.c.duty_id)
    )
    if organisation_id is not None:
        stmt = stmt.where(AS.c.requester_id == organisation_id)
    return {(dest, duty): int(n) for dest, duty, n in db.session.execute(stmt)}


def on_duty_on(disaster: Disaster, day: date, organisation_id: int | None = None) -> dict[Key, int]:
    operations = select(Operation.id).where(Operation.disaster_id == disaster.id)
    stmt = (
        select(E.c.destination_id, E.c.duty_id, func.sum(E.c.headcount))
        .where(E.c.operation_id.in_(operations), E.c.date == day)
        .group_by(E.c.destination_id, E.c.duty_id)
    )
    if organisation_id is not None:
        stmt = stmt.where(E.c.destination_id == organisation_id)
    return {(dest, duty): int(n) for dest, duty, n in db.session.execute(stmt)}


def _parts(disaster: Disaster, day: date, organisation_id: int | None) -> list[Any]:
    """The three sums as (destination, duty, requested, assigned, on duty) rows, for one UNION ALL."""
    zero = literal_column("0", Integer)
    # The first select names the union's columns.
    requested = select(
        RR.c.requester_id.label("destination_id"),
        RR.c.duty_id.label("duty_id"),
        RR.c.persons.label("requested"),
        zero.label("assigned"),
        zero.label("on_duty"),
    ).where(RR.c.disaster_id == disaster.id, RR.c.in_force_to >= day, RR.c.date_from <= day)
    assigned = select(AS.c.requester_id, AS.c.duty_id, zero, AS.c.persons, zero).where(
        AS.c.disaster_id == disaster.id, AS.c.counts_to >= day, AS.c.date_from <= day
    )
    operations = select(Operation.id).where(Operation.disaster_id == disaster.id)
    on_duty = select(E.c.destination_id, E.c.duty_id, zero, zero, E.c.headcount).where(
        E.c.operation_id.in_(operations), E.c.date == day
    )
    if organisation_id is not None:
        requested = requested.where(RR.c.requester_id == organisation_id)
        assigned = assigned.where(AS.c.requester_id == organisation_id)
        on_duty = on_duty.where(E.c.destination_id == organisation_id)
    return [requested, assigned, on_duty]


def fill_on(disaster: Disaster, day: date, organisation_id: int | None = None) -> Fill:
    """The fill on `day`, in one statement: the revisions in force, the assignments counting and the day's
    entries, each one index range, summed per destination × duty and named in the database, so that Python
    only wraps the rows; for a municipality (organisation_id) only where it is the destination."""
    parts = union_all(*_parts(disaster, day, organisation_id)).subquery("parts")
    # Summed by ids first and named after: grouping or sorting by names costs PostgreSQL a collation-aware
    # comparison per row (two thirds of the statement's time at national scale); the rows are sorted here.
    sums = (
        select(
            parts.c.destination_id,
            parts.c.duty_id,
            func.sum(parts.c.requested).label("requested"),
            func.sum(parts.c.assigned).label("assigned"),
            func.sum(parts.c.on_duty).label("on_duty"),
        )
        .group_by(parts.c.destination_id, parts.c.duty_id)
        .subquery("sums")
    )
    org, duty = Organisation.__table__.c, Duty.__table__.c
    stmt = (
        select(org.code, org.name, duty.code, duty.name_ja, sums.c.requested, sums.c.assigned, sums.c.on_duty)
        .select_from(sums)
        .join(Organisation.__table__, org.id == sums.c.destination_id)
        .join(Duty.__table__, duty.id == sums.c.duty_id)
    )
    rows = [
        FillRow(code, name, duty_code, duty_name, int(r), int(a), int(o))
        for code, name, duty_code, duty_name, r, a, o in db.session.execute(stmt)
    ]
    rows.sort()
    return Fill(disaster.slug, day, rows)


# --- the request board ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BoardRow:
    request: StaffRequest
    requested: int
    on_duty: int
    days_short: int

    @property
    def percent(self) -> int:
        """The fill bar's length, 0–100 (an over-filled request shows a full bar)."""
        return min(100, round(100 * self.on_duty / self.requested)) if self.requested else 100


def board(disaster: Disaster, today: date, organisation_id: int | None = None) -> list[BoardRow]:
    """Each open request asking for staff today: requested vs on duty today (its destination × duty), and
    the days since its first start on which fewer were on duty than it asked for then."""
    stmt = select(StaffRequest).where(
        StaffRequest.disaster_id == disaster.id,
        StaffRequest.route != Route.LONG_TERM.value,
        StaffRequest.state.in_([RequestState.OPEN.value, RequestState.COORDINATING.value]),
    )
    if organisation_id is not None:
        stmt = stmt.where(StaffRequest.requester_id == organisation_id)
    open_today = [r for r in db.session.scalars(stmt) if persons_on(r, today)]
    if not open_today:
        return []
    on_duty = on_duty_on(disaster, today, organisation_id)
    rows = []
    for request in open_today:
        assert request.duty_id is not None
        key = (request.requester_id, request.duty_id)
        start = min(r.date_from for r in request.revisions)
        daily = _daily_on_duty(disaster.id, key, start, today)
        days = (start + timedelta(days=offset) for offset in range((today - start).days + 1))
        short = sum(1 for day in days if daily.get(day, 0) < persons_on(request, day))
        rows.append(BoardRow(request, persons_on(request, today), on_duty.get(key, 0), short))
    rows.sort(key=lambda r: (-(r.requested - r.on_duty), r.request.number))
    return rows


def linked_days(request: StaffRequest, until: date) -> list[tuple[date, int]]:
    """The days up to `until` whose entries link to the request, with their headcount: entries of its
    destination and duty on a day inside its period, when no other request of theirs holds that day too
    (then the link is not automatic). Worked out when read; entries carry no link."""
    if request.long_term or request.duty_id is None or not request.revisions:
        return []
    start = min(r.date_from for r in request.revisions)
    end = min(max(r.date_to for r in request.revisions), until)
    others = db.session.scalars(
        select(StaffRequest).where(
            StaffRequest.disaster_id == request.disaster_id,
            StaffRequest.requester_id == request.requester_id,
            StaffRequest.duty_id == request.duty_id,
            StaffRequest.id != request.id,
        )
    ).all()
    daily = _daily_on_duty(request.disaster_id, (request.requester_id, request.duty_id), start, end)
    return [
        (day, headcount)
        for day, headcount in sorted(daily.items())
        if within_period(request, day) and not any(within_period(o, day) for o in others)
    ]


def _daily_on_duty(disaster_id: int, key: Key, since: date, until: date) -> dict[date, int]:
    """The destination × duty's headcount each day, from the tally (one range of its key)."""
    t = Tally.__table__
    stmt = select(t.c.date, t.c.headcount).where(
        t.c.disaster_id == disaster_id,
        t.c.dim == "DU",
        t.c.key1 == key[0],
        t.c.key2 == key[1],
        t.c.date >= since,
        t.c.date <= until,
    )
    return {day: int(n) for day, n in db.session.execute(stmt)}


# --- 中長期 ---------------------------------------------------------------------------------------------


@dataclass
class LongTermRow:
    destination: str
    destination_name: str
    job_type: str
    requested: int = 0
    secured: int = 0
    senders: dict[str, int] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "job_type": self.job_type,
            "requested": self.requested,
            "secured": self.secured,
            "ratio": ratio(self.secured, self.requested),
            "senders": dict(sorted(self.senders.items())),
        }


@dataclass
class PrefectureFigures:
    """Secured per destination prefecture, split as published: the prefecture itself (県) and its
    municipalities (市町村)."""

    prefecture: str
    name: str
    requested: int = 0
    secured_prefecture: int = 0
    secured_municipalities: int = 0

    @property
    def secured(self) -> int:
        return self.secured_prefecture + self.secured_municipalities

    def as_json(self) -> dict[str, Any]:
        return {
            "prefecture": self.prefecture,
            "requested": self.requested,
            "secured": self.secured,
            "secured_prefecture": self.secured_prefecture,
            "secured_municipalities": self.secured_municipalities,
        }


@dataclass(frozen=True)
class LongTermFill:
    disaster: str
    fiscal_year: int
    as_of: date | None
    rows: list[LongTermRow]
    prefectures: list[PrefectureFigures]

    @property
    def requested(self) -> int:
        return sum(r.requested for r in self.rows)

    @property
    def secured(self) -> int:
        return sum(r.secured for r in self.rows)

    def as_json(self) -> dict[str, Any]:
        return {
            "disaster": self.disaster,
            "fiscal_year": self.fiscal_year,
            "date": self.as_of.isoformat() if self.as_of else None,
            "requested": self.requested,
            "secured": self.secured,
            "shortfall": max(self.requested - self.secured, 0),
            "ratio": ratio(self.secured, self.requested),
            "rows": [r.as_json() for r in self.rows],
            "prefectures": [p.as_json() for p in self.prefectures],
        }


def ratio(secured: int, requested: int) -> float | None:
    return round(secured / requested, 3) if requested else None


def long_term_fill(
    disaster: Disaster, fiscal_year: int, as_of: date | None = None, organisation_id: int | None = None
) -> LongTermFill:
    """Persons requested for the fiscal year (each request's latest revision for that year, as known on
    `as_of`) against persons secured by assignments starting in that year and decided by `as_of`."""
    stmt = select(StaffRequest).where(
        StaffRequest.disaster_id == disaster.id, StaffRequest.route == Route.LONG_TERM.value
    )
    if organisation_id is not None:
        stmt = stmt.where(StaffRequest.requester_id == organisation_id)
    rows: dict[tuple[int, str], LongTermRow] = {}
    prefectures: dict[int, PrefectureFigures] = {}
    for request in db.session.scalars(stmt):
        if request.withdrawn_on is not None and (as_of is None or request.withdrawn_on <= as_of):
            continue
        revisions = [
            r
            for r in request.revisions
            if r.fiscal_year == fiscal_year and (as_of is None or r.date_from <= as_of)
        ]
        assignments = [
            a
            for a in request.assignments
            if fiscal_year_of(a.date_from) == fiscal_year and (as_of is None or a.decided_on <= as_of)
        ]
        if not revisions and not assignments:
            continue
        destination = request.requester
        row = rows.setdefault(
            (destination.id, request.job_type),
            LongTermRow(destination.code, destination.name, request.job_type),
        )
        latest = max(revisions, key=lambda r: (r.date_from, r.id)) if revisions else None
        requested = latest.persons if latest else 0
        row.requested += requested
        pref = _prefecture_of(destination)
        figures = prefectures.setdefault(pref.id, PrefectureFigures(pref.code, pref.name))
        figures.requested += requested
        for assignment in assignments:
            row.secured += assignment.persons
            code = assignment.sender.code
            row.senders[code] = row.senders.get(code, 0) + assignment.persons
            if destination.id == pref.id:
                figures.secured_prefecture += assignment.persons
            else:
                figures.secured_municipalities += assignment.persons
    return LongTermFill(
        disaster.slug,
        fiscal_year,
        as_of,
        sorted(rows.values(), key=lambda r: (r.destination, r.job_type)),
        sorted(prefectures.values(), key=lambda p: p.prefecture),
    )


def _prefecture_of(org: Organisation) -> Organisation:
    if org.kind == OrgKind.PREFECTURE.value or org.prefecture is None:
        return org
    return org.prefecture
