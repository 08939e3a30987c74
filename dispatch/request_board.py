"""The request board on the dashboard: the open requests asking for staff on a date, the most short first.

A national disaster holds thousands of open requests (the benchmark's 10,000 leave some 2,400 asking on a
day), and a request's days short need its destination × duty's whole history. So the board is chosen in two
steps: every asking request's figures for the day alone, from plain rows (the revisions in force, the day's
entries and links: three statements, no objects), then the history only for the requests shown. The day's
figures are the ones key_days gives for that day, so the rows shown and their order are those of the whole
board's first rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select, tuple_
from sqlalchemy.orm import selectinload

from .extensions import db
from .fill import on_duty_on
from .limits import BOARD_ROWS
from .models import Disaster
from .request_links import Key, RequestDays, key_days, links_on, spans
from .request_models import RequestRevision, RequestState, Route, StaffRequest
from .requests import persons_on

_ASKING_STATES = (RequestState.OPEN.value, RequestState.COORDINATING.value)


@dataclass(frozen=True)
class BoardRow:
    request: StaffRequest
    requested: int
    on_duty: int
    days_short: int
    # Today's entries of its destination × duty that match it and another request and are linked to none.
    unassigned: int = 0

    @property
    def percent(self) -> int:
        """The fill bar's length, 0–100 (an over-filled request shows a full bar)."""
        return min(100, round(100 * self.on_duty / self.requested)) if self.requested else 100


@dataclass(frozen=True)
class Board:
    """The rows shown, and how many requests ask for staff on the date in all."""

    rows: list[BoardRow]
    asking: int

    def __iter__(self) -> Iterator[BoardRow]:
        return iter(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    @property
    def hidden(self) -> int:
        return self.asking - len(self.rows)


@dataclass(frozen=True)
class _Today:
    request_id: int
    number: str
    key: Key
    requested: int
    on_duty: int

    @property
    def order(self) -> tuple[int, str]:
        return (-(self.requested - self.on_duty), self.number)


def board(
    disaster: Disaster, today: date, organisation_id: int | None = None, limit: int = BOARD_ROWS
) -> Board:
    """Each open request asking for staff today, at most `limit`, the most short first: requested vs on duty
    today (the entries that fill it, request_links.py), and the days since its first start on which fewer
    filled it than it asked for then; on a day it shares with other requests, not a day on which the entries
    linked to none could still fill it (short whatever is chosen)."""
    asking = _asking_today(disaster, today, organisation_id)
    shown = sorted(asking, key=lambda t: t.order)[:limit]
    if not shown:
        return Board([], len(asking))
    shown_ids = {t.request_id for t in shown}
    rows = []
    for key_requests in _requests({t.key for t in shown}, disaster).values():
        wanted = [r for r in key_requests if r.id in shown_ids]
        days = key_days(key_requests, min(r.revisions[0].date_from for r in wanted), today)
        for request in wanted:
            mine = days.get(request.id, RequestDays())
            rows.append(
                BoardRow(
                    request,
                    persons_on(request, today),
                    mine.on_duty.get(today, 0),
                    _days_short(request, mine, today),
                    mine.unassigned.get(today, 0),
                )
            )
    rows.sort(key=lambda r: (-(r.requested - r.on_duty), r.request.number))
    return Board(rows, len(asking))


def _asking_today(disaster: Disaster, today: date, organisation_id: int | None) -> list[_Today]:
    """Every asking request's figures for today: key_days for one day, from plain rows."""
    rev = RequestRevision
    stmt = (
        select(
            rev.request_id,
            StaffRequest.number,
            StaffRequest.state,
            rev.requester_id,
            rev.duty_id,
            rev.persons,
        )
        .join(StaffRequest, StaffRequest.id == rev.request_id)
        .where(rev.disaster_id == disaster.id, rev.date_from <= today, rev.in_force_to >= today)
    )
    if organisation_id is not None:
        stmt = stmt.where(rev.requester_id == organisation_id)
    # The requests in force today by destination × duty, whatever their state: they share the day's entries.
    in_force: dict[Key, list[tuple[int, str, str, int]]] = defaultdict(list)
    for request_id, number, state, requester_id, duty_id, persons in db.session.execute(stmt):
        if duty_id is not None:  # a request for no duty is 中長期, never in force by the day
            in_force[requester_id, duty_id].append((request_id, number, state, persons))
    headcount = on_duty_on(disaster, today, organisation_id)
    linked: dict[int, int] = defaultdict(int)
    for request_id, _, n in links_on(disaster.id, today, organisation_id):
        linked[request_id] += n
    found = []
    for key, requests in in_force.items():
        alone = len(requests) == 1
        for request_id, number, state, persons in requests:
            if state in _ASKING_STATES and persons:
                on_duty = headcount.get(key, 0) if alone else linked.get(request_id, 0)
                found.append(_Today(request_id, number, key, persons, on_duty))
    return found


def _requests(keys: set[Key], disaster: Disaster) -> dict[Key, list[StaffRequest]]:
    """The short-term requests of each destination × duty shown, with their revisions."""
    stmt = (
        select(StaffRequest)
        .where(
            StaffRequest.disaster_id == disaster.id,
            StaffRequest.route != Route.LONG_TERM.value,
            tuple_(StaffRequest.requester_id, StaffRequest.duty_id).in_(sorted(keys)),
        )
        .options(selectinload(StaffRequest.revisions))
        .order_by(StaffRequest.number)
    )
    found: dict[Key, list[StaffRequest]] = defaultdict(list)
    for request in db.session.scalars(stmt):
        assert request.duty_id is not None
        found[request.requester_id, request.duty_id].append(request)
    return found


def _days_short(request: StaffRequest, days: RequestDays, today: date) -> int:
    short = 0
    for first, last, persons in spans(request):
        day = first
        while day <= min(last, today):
            if days.on_duty.get(day, 0) + days.unassigned.get(day, 0) < persons:
                short += 1
            day += timedelta(days=1)
    return short
