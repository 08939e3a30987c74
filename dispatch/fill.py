"""Fill (充足): what was asked for, what was decided and who is on duty, per date × destination × duty.

Requested comes from the requests as they stood on the date (each request's revision in force, requests.py),
assigned from the assignments covering the date, on duty from the dispatch entries, which stay the record of
what happened: the entries of that date, read through ix_entry_operation_date, one seek per operation.
Unfilled is what was asked for and nobody is on duty for, never negative: an over-filled row is not a
credit for another. Entries that match no request show with nothing requested.

Where several requests are in force on one destination × duty (one for 土木 and one for 建築, say), an entry
fills the one it is linked to (request_links.py): each request's gap is its own, and an over-filled request
is no credit for its neighbour either. Entries linked to none of them are `unassigned`: on duty there, and
set against the requests' gaps together, as before any link was made. Without links a row reads as it
always did.

中長期 (地方自治法第252条の17) is counted per fiscal year and 職種 instead: persons requested for the year
against persons secured (確保) by the assignments, and the ratio, as such figures are published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Integer, and_, func, literal_column, select, union_all

from .extensions import db
from .models import Disaster, Duty, Entry, Operation, Organisation, OrgKind
from .request_links import links_on, request_days, same_key_requests
from .request_models import Assignment, EntryRequestLink, RequestRevision, Route, StaffRequest
from .requests import fiscal_year_of

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
    # The requests' gaps before the unassigned are set against them: requested less on duty where one
    # request (or none) is in force; where several are, each request's own gap, those nobody linked to
    # counting whole.
    shortfall: int
    # On duty here, matching several requests and linked to none of them.
    unassigned: int = 0

    @property
    def unfilled(self) -> int:
        return max(self.shortfall - self.unassigned, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "duty": self.duty,
            "requested": self.requested,
            "assigned": self.assigned,
            "on_duty": self.on_duty,
            "unfilled": self.unfilled,
            "unassigned": self.unassigned,
        }


class RequestFill(NamedTuple):
    """One short-term request on the day: what it asks, what is assigned to it and who fills it (every entry
    of its destination × duty where it alone is in force, those linked to it where others are too)."""

    request_id: int
    request: str
    destination: str
    destination_name: str
    duty: str
    duty_name: str
    job_type: str
    requested: int
    assigned: int
    on_duty: int
    shared: bool  # another request is in force on the same destination × duty

    @property
    def unfilled(self) -> int:
        return max(self.requested - self.on_duty, 0)

    def as_json(self) -> dict[str, Any]:
        return {
            "request": self.request,
            "destination": self.destination,
            "duty": self.duty,
            "job_type": self.job_type,
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
    # Per request (fill.json?by=request, the fill page): read only when asked, as it costs a second pass.
    requests: list[RequestFill] | None = None

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
    def unassigned(self) -> int:
        return sum(r.unassigned for r in self.rows)

    @property
    def gaps(self) -> list[FillRow]:
        return [r for r in self.rows if r.unfilled]

    def as_json(self) -> dict[str, Any]:
        # The totals from the rows as written, each row's gap worked out once: fill.json has thousands of rows.
        rows = [r.as_json() for r in self.rows]
        totals = {
            key: sum(row[key] for row in rows)
            for key in ("requested", "assigned", "on_duty", "unfilled", "unassigned")
        }
        answer = {"disaster": self.disaster, "date": self.date.isoformat(), **totals, "rows": rows}
        if self.requests is not None:
            answer["requests"] = [r.as_json() for r in self.requests]
        return answer


RR = RequestRevision.__table__
AS = Assignment.__table__
E = Entry.__table__


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
    """The three sums as (destination, duty, requested, requests, assigned, on duty) rows, for one UNION ALL;
    `requests` counts the requests in force (one revision each on a day)."""
    zero = literal_column("0", Integer)
    one = literal_column("1", Integer)
    # The first select names the union's columns.
    requested = select(
        RR.c.requester_id.label("destination_id"),
        RR.c.duty_id.label("duty_id"),
        RR.c.persons.label("requested"),
        one.label("requests"),
        zero.label("assigned"),
        zero.label("on_duty"),
    ).where(RR.c.disaster_id == disaster.id, RR.c.in_force_to >= day, RR.c.date_from <= day)
    assigned = select(AS.c.requester_id, AS.c.duty_id, zero, zero, AS.c.persons, zero).where(
        AS.c.disaster_id == disaster.id, AS.c.counts_to >= day, AS.c.date_from <= day
    )
    operations = select(Operation.id).where(Operation.disaster_id == disaster.id)
    on_duty = select(E.c.destination_id, E.c.duty_id, zero, zero, zero, E.c.headcount).where(
        E.c.operation_id.in_(operations), E.c.date == day
    )
    if organisation_id is not None:
        requested = requested.where(RR.c.requester_id == organisation_id)
        assigned = assigned.where(AS.c.requester_id == organisation_id)
        on_duty = on_duty.where(E.c.destination_id == organisation_id)
    return [requested, assigned, on_duty]


def fill_on(
    disaster: Disaster, day: date, organisation_id: int | None = None, *, by_request: bool = False
) -> Fill:
    """The fill on `day`, in one statement: the revisions in force, the assignments counting and the day's
    entries, each one index range, summed per destination × duty and named in the database, so that Python
    only wraps the rows; for a municipality (organisation_id) only where it is the destination. Where several
    requests share a row, the day's links (one more range of the day's entries) split it."""
    parts = union_all(*_parts(disaster, day, organisation_id)).subquery("parts")
    # Summed by ids first and named after: grouping or sorting by names costs PostgreSQL a collation-aware
    # comparison per row (two thirds of the statement's time at national scale); the rows are sorted here.
    sums = (
        select(
            parts.c.destination_id,
            parts.c.duty_id,
            func.sum(parts.c.requested).label("requested"),
            func.sum(parts.c.requests).label("requests"),
            func.sum(parts.c.assigned).label("assigned"),
            func.sum(parts.c.on_duty).label("on_duty"),
        )
        .group_by(parts.c.destination_id, parts.c.duty_id)
        .subquery("sums")
    )
    org, duty = Organisation.__table__.c, Duty.__table__.c
    stmt = (
        select(
            org.code,
            org.name,
            duty.code,
            duty.name_ja,
            sums.c.requested,
            sums.c.assigned,
            sums.c.on_duty,
            sums.c.requests,
        )
        .select_from(sums)
        .join(Organisation.__table__, org.id == sums.c.destination_id)
        .join(Duty.__table__, duty.id == sums.c.duty_id)
    )
    # Core rows, not the ORM's: nothing here is an entity, and at national scale they are thousands.
    found = db.session.connection().execute(stmt).all()
    split = _split(disaster, day, organisation_id) if any(n > 1 for *_, n in found) else {}
    rows = []
    for code, name, duty_code, duty_name, r, a, o, n in found:
        requested, on_duty = int(r), int(o)
        if n > 1:
            linked, less = split.get((code, duty_code), (0, 0))
            shortfall, unassigned = requested - less, on_duty - linked
        else:
            shortfall, unassigned = max(requested - on_duty, 0) if n else 0, 0
        rows.append(
            FillRow(code, name, duty_code, duty_name, requested, int(a), on_duty, shortfall, unassigned)
        )
    rows.sort()
    return Fill(
        disaster.slug, day, rows, request_fill(disaster, day, organisation_id) if by_request else None
    )


def _split(
    disaster: Disaster, day: date, organisation_id: int | None
) -> dict[tuple[str, str], tuple[int, int]]:
    """Per destination × duty (by codes) where entries of the day are linked to a request in force there:
    the headcount so linked, and how much of the requests' asking it fills (each request's linked headcount,
    up to what it asks: an over-filled request fills no other). One statement; where nobody has linked an
    entry that day, one empty range of the day's entries."""
    org, duty = Organisation.__table__.c, Duty.__table__.c
    links = EntryRequestLink.__table__.c
    operations = select(Operation.id).where(Operation.disaster_id == disaster.id)
    stmt = (
        select(org.code, duty.code, RR.c.persons, func.sum(E.c.headcount))
        .select_from(E)
        .join(EntryRequestLink.__table__, links.entry_id == E.c.id)
        # The link counts only while its request is in force on the day, for the entry's destination and duty.
        .join(
            RR,
            and_(
                RR.c.request_id == links.request_id,
                RR.c.requester_id == E.c.destination_id,
                RR.c.duty_id == E.c.duty_id,
                RR.c.in_force_to >= day,
                RR.c.date_from <= day,
            ),
        )
        .join(Organisation.__table__, org.id == E.c.destination_id)
        .join(Duty.__table__, duty.id == E.c.duty_id)
        .where(E.c.operation_id.in_(operations), E.c.date == day)
        .group_by(links.request_id, RR.c.persons, org.code, duty.code)
    )
    if organisation_id is not None:
        stmt = stmt.where(E.c.destination_id == organisation_id)
    split: dict[tuple[str, str], tuple[int, int]] = {}
    for code, duty_code, persons, n in db.session.connection().execute(stmt):
        linked, less = split.get((code, duty_code), (0, 0))
        split[(code, duty_code)] = (linked + int(n), less + min(int(n), int(persons)))
    return split


def request_fill(disaster: Disaster, day: date, organisation_id: int | None = None) -> list[RequestFill]:
    """Each short-term request in force on `day`: requested, assigned to it, and who fills it."""
    sr, org, duty = StaffRequest.__table__.c, Organisation.__table__.c, Duty.__table__.c
    stmt = (
        select(
            RR.c.request_id,
            sr.number,
            org.code,
            org.name,
            duty.code,
            duty.name_ja,
            sr.job_type,
            RR.c.persons,
            RR.c.requester_id,
            RR.c.duty_id,
        )
        .join(StaffRequest.__table__, sr.id == RR.c.request_id)
        .join(Organisation.__table__, org.id == RR.c.requester_id)
        .join(Duty.__table__, duty.id == RR.c.duty_id)
        .where(RR.c.disaster_id == disaster.id, RR.c.in_force_to >= day, RR.c.date_from <= day)
    )
    if organisation_id is not None:
        stmt = stmt.where(RR.c.requester_id == organisation_id)
    found = db.session.execute(stmt).all()
    per_key: dict[Key, int] = {}
    for *_, dest, duty_id in found:
        per_key[(dest, duty_id)] = per_key.get((dest, duty_id), 0) + 1
    on_duty = on_duty_on(disaster, day, organisation_id)
    linked: dict[tuple[int, Key], int] = {}
    for rid, key, n in links_on(disaster.id, day, organisation_id):
        linked[(rid, key)] = linked.get((rid, key), 0) + n
    assigned = assigned_per_request(disaster, day, organisation_id)
    rows = []
    for rid, number, code, name, duty_code, duty_name, job_type, persons, dest, duty_id in found:
        key = (dest, duty_id)
        shared = per_key[key] > 1
        here = linked.get((rid, key), 0) if shared else on_duty.get(key, 0)
        rows.append(
            RequestFill(
                rid,
                number,
                code,
                name,
                duty_code,
                duty_name,
                job_type,
                int(persons),
                assigned.get(rid, 0),
                here,
                shared,
            )
        )
    rows.sort(key=lambda r: (r.destination, r.duty, r.request))
    return rows


def assigned_per_request(disaster: Disaster, day: date, organisation_id: int | None = None) -> dict[int, int]:
    """Persons a day assigned to each request on `day` (its assignments counting then)."""
    stmt = (
        select(AS.c.request_id, func.sum(AS.c.persons))
        .where(AS.c.disaster_id == disaster.id, AS.c.counts_to >= day, AS.c.date_from <= day)
        .group_by(AS.c.request_id)
    )
    if organisation_id is not None:
        stmt = stmt.where(AS.c.requester_id == organisation_id)
    return {rid: int(n) for rid, n in db.session.execute(stmt)}


def linked_days(request: StaffRequest, until: date) -> list[tuple[date, int]]:
    """The days up to `until` on which entries fill the request, with their headcount: every entry of its
    destination and duty on a day inside its period when no other request holds that day too, and on the
    days others do, the entries linked to it (request_links.py)."""
    if request.long_term or request.duty_id is None or not request.revisions:
        return []
    start = min(r.date_from for r in request.revisions)
    end = min(max(r.date_to for r in request.revisions), until)
    return sorted(request_days(request, start, end).on_duty.items())


def unassigned_days(request: StaffRequest) -> list[tuple[date, int]]:
    """The days of the request's period on which entries match it and another request and are linked to
    neither (複数の要請に該当し未割当), with their headcount."""
    if request.long_term or request.duty_id is None or not request.revisions:
        return []
    start = min(r.date_from for r in request.revisions)
    end = max(r.date_to for r in request.revisions)
    return sorted(request_days(request, start, end, same_key_requests(request)).unassigned.items())


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
