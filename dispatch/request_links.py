"""Entries and the request each fills (issue 16, item 3): automatic where one request matches, by choice
where several do.

An entry matches a request when its destination and duty are the request's and its date lies within the
request's period as it stood then (requests.within_period). Where exactly one short-term request matches,
the entry fills it and nothing is stored. Where several match (one request for 土木 and one for 建築 at the
same place and duty, say), a person chooses: EntryRequestLink, most often a day's entries at once for one
request. A stored link counts only while the entry still matches its request; an entry matching several
requests and linked to none is on duty at its destination × duty but fills none of them in particular
(`unassigned`).

Use cases flush and never commit; every link and unlink is audited.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Select, func, select

from . import audit
from .actors import Actor
from .extensions import db
from .models import Dim, Entry, Operation, Tally
from .request_models import EntryRequestLink, Route, StaffRequest
from .requests import RequestRefused, persons_on, within_period
from .wareki import format_long

Key = tuple[int, int]  # destination id, duty id

E = Entry.__table__
L = EntryRequestLink.__table__

# How many refused entries a refusal names; the rest are counted.
NAMED = 5
# Ids in one IN list, well inside what either database takes as parameters.
CHUNK = 5000


def _operations(disaster_id: int) -> Select[Any]:
    return select(Operation.id).where(Operation.disaster_id == disaster_id)


def key_of(request: StaffRequest) -> Key:
    assert request.duty_id is not None
    return request.requester_id, request.duty_id


def same_key_requests(request: StaffRequest) -> list[StaffRequest]:
    """Every short-term request of the disaster for the request's destination and duty, itself included."""
    destination, duty = key_of(request)
    return list(
        db.session.scalars(
            select(StaffRequest)
            .where(
                StaffRequest.disaster_id == request.disaster_id,
                StaffRequest.requester_id == destination,
                StaffRequest.duty_id == duty,
                StaffRequest.route != Route.LONG_TERM.value,
            )
            .order_by(StaffRequest.number)
        )
    )


# --- reading ----------------------------------------------------------------------------------------------


def key_daily(disaster_id: int, key: Key, since: date, until: date) -> dict[date, int]:
    """The destination × duty's headcount each day, from the tally (one range of its key)."""
    t = Tally.__table__
    stmt = select(t.c.date, t.c.headcount).where(
        t.c.disaster_id == disaster_id,
        t.c.dim == Dim.DU,
        t.c.key1 == key[0],
        t.c.key2 == key[1],
        t.c.date >= since,
        t.c.date <= until,
    )
    return {day: int(n) for day, n in db.session.execute(stmt)}


def links_by_day(
    request_ids: Sequence[int], key: Key, since: date, until: date
) -> dict[tuple[int, date], int]:
    """The headcount linked to each of the requests on each day, of the entries of that destination × duty.
    Read from the links' side, the links first (their request's index) and their entries by id after: a
    busy destination has far more entries than links, and a planner joining the two may start from them."""
    links = select(L.c.entry_id, L.c.request_id).where(L.c.request_id.in_(request_ids))
    linked = {entry_id: request_id for entry_id, request_id in db.session.execute(links)}
    result: dict[tuple[int, date], int] = {}
    ids = sorted(linked)
    for start in range(0, len(ids), CHUNK):
        # By id alone, the rest checked here: given the destination too, SQLite reads its index instead.
        stmt = select(E.c.id, E.c.destination_id, E.c.duty_id, E.c.date, E.c.headcount).where(
            E.c.id.in_(ids[start : start + CHUNK])
        )
        for entry_id, destination, duty, day, headcount in db.session.execute(stmt):
            if (destination, duty) == key and since <= day <= until:
                at = (linked[entry_id], day)
                result[at] = result.get(at, 0) + int(headcount)
    return result


def links_on(disaster_id: int, day: date, organisation_id: int | None = None) -> list[tuple[int, Key, int]]:
    """The day's links: (request id, the entry's destination × duty, headcount) summed, one index range of
    the day's entries; nothing at all where nobody has chosen."""
    stmt = (
        select(L.c.request_id, E.c.destination_id, E.c.duty_id, func.sum(E.c.headcount))
        .select_from(E.join(L, L.c.entry_id == E.c.id))
        .where(E.c.operation_id.in_(_operations(disaster_id)), E.c.date == day)
        .group_by(L.c.request_id, E.c.destination_id, E.c.duty_id)
    )
    if organisation_id is not None:
        stmt = stmt.where(E.c.destination_id == organisation_id)
    return [(request_id, (dest, duty), int(n)) for request_id, dest, duty, n in db.session.execute(stmt)]


@dataclass(frozen=True)
class RequestDays:
    """A request's own headcount each day of a range (only days within its period, only days with some),
    and, on the days it shares with another request, the headcount linked to none of those in force."""

    on_duty: dict[date, int] = field(default_factory=dict)
    unassigned: dict[date, int] = field(default_factory=dict)


def spans(request: StaffRequest) -> list[tuple[date, date, int]]:
    """The days the request is in force, as (first, last, persons a day) per revision: the `in_force_to`
    that requests.refresh_spans keeps (within_period, without reading the revisions day by day)."""
    return [(r.date_from, r.in_force_to, r.persons) for r in request.revisions if r.in_force_to is not None]


def key_days(same_key: Sequence[StaffRequest], since: date, until: date) -> dict[int, RequestDays]:
    """Each request of one destination × duty, its days in [since, until]: every entry there on the days it
    alone is in force, those linked to it on the days others are too. One read of the tally, and one of
    the links when days are shared; the work in Python is the size of the answer."""
    if not same_key or until < since:
        return {}
    disaster_id, key = same_key[0].disaster_id, key_of(same_key[0])
    daily = key_daily(disaster_id, key, since, until)
    days = sorted(daily)
    in_force: dict[date, list[int]] = {}
    for request in same_key:
        for first, last, _ in spans(request):
            for day in days[bisect_left(days, first) : bisect_right(days, last)]:
                in_force.setdefault(day, []).append(request.id)
    shared = [day for day, ids in in_force.items() if len(ids) > 1]
    links = links_by_day([r.id for r in same_key], key, min(shared), max(shared)) if shared else {}
    result: dict[int, RequestDays] = {r.id: RequestDays() for r in same_key}
    for day, ids in in_force.items():
        headcount = daily[day]
        if len(ids) == 1:
            result[ids[0]].on_duty[day] = headcount
            continue
        rest = headcount - sum(links.get((rid, day), 0) for rid in ids)
        for rid in ids:
            linked = links.get((rid, day), 0)
            if linked:
                result[rid].on_duty[day] = linked
            if rest:
                result[rid].unassigned[day] = rest
    return result


def request_days(
    request: StaffRequest, since: date, until: date, same_key: Sequence[StaffRequest] | None = None
) -> RequestDays:
    """key_days for one request. `same_key`: the requests of its destination × duty, when the caller has
    them."""
    if request.long_term or request.duty_id is None:
        return RequestDays()
    found = key_days(same_key_requests(request) if same_key is None else same_key, since, until)
    return found.get(request.id, RequestDays())


@dataclass(frozen=True)
class DayEntry:
    entry: Entry
    linked_to: StaffRequest | None  # the link stored, whether or not it still counts
    fills: StaffRequest | None  # whom it fills that day: its link if it still matches, or the one request


@dataclass(frozen=True)
class DayRequest:
    request: StaffRequest
    requested: int
    on_duty: int


@dataclass(frozen=True)
class DayChoice:
    """A request's destination × duty on one day: the requests in force, and the entries with their links."""

    request: StaffRequest
    day: date
    requests: list[DayRequest]
    entries: list[DayEntry]

    @property
    def shared(self) -> bool:
        return len(self.requests) > 1

    @property
    def unassigned(self) -> int:
        return sum(e.entry.headcount for e in self.entries if e.fills is None) if self.shared else 0


def day_choice(request: StaffRequest, day: date) -> DayChoice:
    destination, duty = key_of(request)
    in_force = [r for r in same_key_requests(request) if within_period(r, day)]
    rows = db.session.execute(
        select(Entry, EntryRequestLink.request_id)
        .outerjoin(EntryRequestLink, EntryRequestLink.entry_id == Entry.id)
        .where(
            Entry.operation_id.in_(_operations(request.disaster_id)),
            Entry.destination_id == destination,
            Entry.duty_id == duty,
            Entry.date == day,
        )
        .order_by(Entry.id)
    ).all()
    by_id = {r.id: r for r in in_force}
    entries = []
    for entry, linked_id in rows:
        linked = by_id.get(linked_id) if linked_id is not None else None
        if linked_id is not None and linked is None:
            linked = db.session.get(StaffRequest, linked_id)
        fills = in_force[0] if len(in_force) == 1 else by_id.get(linked_id) if linked_id else None
        entries.append(DayEntry(entry, linked, fills))
    requests = [
        DayRequest(r, persons_on(r, day), sum(e.entry.headcount for e in entries if e.fills is r))
        for r in in_force
    ]
    return DayChoice(request, day, requests, entries)


# --- choosing ---------------------------------------------------------------------------------------------


def link_entries(request: StaffRequest, entry_ids: Iterable[int], actor: Actor) -> int:
    """Link the entries to the request (all or none): each must match it. An entry linked to another
    request moves. Returns how many links changed."""
    entries = _entries(request, entry_ids)
    refused = [e for e in entries if _mismatch(request, e)]
    if refused:
        lines = [f"{_entry_label(e)}: {_mismatch(request, e)}" for e in refused[:NAMED]]
        more = f"ほか{len(refused) - NAMED}件。" if len(refused) > NAMED else ""
        raise RequestRefused(
            f"要請{request.number}に該当しない派遣は割り当てられません。" + " ".join(lines) + more
        )
    links = _links_of(e.id for e in entries)
    changed = 0
    for entry in entries:
        link = links.get(entry.id)
        if link is not None and link.request_id == request.id:
            continue
        before = None if link is None else {"entry": _entry_label(entry), "request": _number(link.request_id)}
        if link is None:
            db.session.add(EntryRequestLink(entry_id=entry.id, request_id=request.id, created_by=actor.name))
        else:
            link.request_id = request.id
            link.created_by = actor.name
        _audit(
            "link", entry, request, actor, before, {"entry": _entry_label(entry), "request": request.number}
        )
        changed += 1
    db.session.flush()
    return changed


def unlink_entries(request: StaffRequest, entry_ids: Iterable[int], actor: Actor) -> int:
    """Remove the entries' links to this request (links to other requests stay). Returns how many."""
    entries = _entries(request, entry_ids)
    links = _links_of(e.id for e in entries)
    changed = 0
    for entry in entries:
        link = links.get(entry.id)
        if link is None or link.request_id != request.id:
            continue
        db.session.delete(link)
        _audit(
            "unlink", entry, request, actor, {"entry": _entry_label(entry), "request": request.number}, None
        )
        changed += 1
    db.session.flush()
    return changed


def unassigned_entry_ids(request: StaffRequest, day: date) -> list[int]:
    """The entries of the request's destination × duty on `day` that match several requests and fill none."""
    choice = day_choice(request, day)
    return [e.entry.id for e in choice.entries if e.fills is None] if choice.shared else []


def _entries(request: StaffRequest, entry_ids: Iterable[int]) -> list[Entry]:
    if request.long_term or request.duty_id is None:
        raise RequestRefused("中長期の要請には派遣を割り当てません（年度の人数で数えます）。")
    wanted = sorted(set(entry_ids))
    if not wanted:
        raise RequestRefused("割り当てる派遣を選んでください。")
    found = list(
        db.session.scalars(
            select(Entry)
            .where(Entry.id.in_(wanted), Entry.operation_id.in_(_operations(request.disaster_id)))
            .order_by(Entry.id)
        )
    )
    missing = sorted(set(wanted) - {e.id for e in found})
    if missing:
        raise RequestRefused(
            "この災害の派遣に見つからない番号があります: " + "、".join(str(n) for n in missing[:NAMED])
        )
    return found


def _mismatch(request: StaffRequest, entry: Entry) -> str:
    """Why the entry does not match the request, or '' when it does."""
    if (entry.destination_id, entry.duty_id) != key_of(request):
        duty = request.duty.name_ja if request.duty else ""
        return f"派遣先・業務が要請（{request.requester.name} {duty}）と異なります。"
    if not within_period(request, entry.date):
        return f"{format_long(entry.date)}は要請の期間外です。"
    return ""


def _links_of(entry_ids: Iterable[int]) -> dict[int, EntryRequestLink]:
    ids = list(entry_ids)
    found = db.session.scalars(select(EntryRequestLink).where(EntryRequestLink.entry_id.in_(ids)))
    return {link.entry_id: link for link in found}


def _number(request_id: int) -> str:
    return db.session.scalar(select(StaffRequest.number).where(StaffRequest.id == request_id)) or ""


def _entry_label(entry: Entry) -> str:
    unit = f"（{entry.sender_unit}）" if entry.sender_unit else ""
    return (
        f"{format_long(entry.date)} {entry.sender.name}{unit}→{entry.destination.name} "
        f"{entry.duty.name_ja} {entry.headcount}人"
    )


def _audit(
    action: str,
    entry: Entry,
    request: StaffRequest,
    actor: Actor,
    before: dict[str, str] | None,
    after: dict[str, str] | None,
) -> None:
    audit.record(
        action,
        "request_link",
        entry.id,
        actor=actor,
        disaster_id=request.disaster_id,
        before=before,
        after=after,
        summary=f"要請{request.number} {_entry_label(entry)}",
    )
