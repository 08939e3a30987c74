"""Distinct persons (実人数) beside person-days (延べ), where the named roster covers the figure.

A figure's 実人数 is the number of different people with a day on duty from its start (if any) through its
as-of date, counted from the members' stints (Stint.duty_from/duty_to). It is given only where the roster
covers the figure: where the person-days of the roster's entries equal the figure's person-days, so that no
typed entry (people without names) hides behind it; elsewhere it is None (null in JSON). A disaster with
no team costs one query (has_roster) and the totals are returned as they were.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import aliased

from .extensions import db
from .models import Disaster, Duty, Entry, Operation, Organisation
from .roster_models import Person, Stint, Team
from .totals import Dimension, Totals
from .viewpoint import SenderKind, Viewpoint, kinds_of, viewpoint_of

_Sender = aliased(Organisation)
_Destination = aliased(Organisation)


def has_roster(disaster_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Team.disaster_id == disaster_id))))


@dataclass(frozen=True)
class Window:
    """The days a figure covers: from `since` (None: the start) through `until`; `visible_to` narrows
    to people a municipality sent or received (as EntryFilter.visible_to narrows entries)."""

    until: date
    since: date | None = None
    visible_to: int | None = None
    operation_id: int | None = None


def _person_key(by: Dimension) -> Any:
    match by:
        case Dimension.OPERATION:
            return Operation.code
        case Dimension.DESTINATION:
            return _Destination.code
        case Dimension.DUTY:
            return Duty.code
        case _:
            return _Sender.code


def persons_by(disaster: Disaster, by: Dimension | None, window: Window) -> dict[str, int]:
    """Distinct people on duty in the window per key of the dimension (one key '' for None)."""
    key = _person_key(by) if by is not None else func.min("")
    people = func.count(func.distinct(Stint.person_id))
    stmt = (
        select(key, people)
        .select_from(Stint)
        .join(Team, Team.id == Stint.team_id)
        .join(Person, Person.id == Stint.person_id)
        .where(Team.disaster_id == disaster.id, Stint.duty_from <= window.until)
    )
    if window.since is not None:
        stmt = stmt.where(Stint.duty_to >= window.since)
    if window.visible_to is not None:
        stmt = stmt.where(
            or_(Person.sender_id == window.visible_to, Team.destination_id == window.visible_to)
        )
    match by:
        case Dimension.OPERATION:
            stmt = stmt.join(Operation, Operation.id == Team.operation_id)
        case Dimension.DESTINATION:
            stmt = stmt.join(_Destination, _Destination.id == Team.destination_id)
        case Dimension.DUTY:
            stmt = stmt.join(Duty, Duty.id == Team.duty_id)
        case Dimension.SENDER | Dimension.SENDER_KIND:
            stmt = stmt.join(_Sender, _Sender.id == Person.sender_id)
    if by is None:
        return {"": int(db.session.execute(stmt.with_only_columns(people)).scalar_one())}
    return {str(k): int(n) for k, n in db.session.execute(stmt.group_by(key))}


def roster_person_days(disaster: Disaster, by: Dimension | None, window: Window) -> dict[str, int]:
    """Person-days of the roster's entries in the window per key (one key '' for None)."""
    total = func.sum(Entry.headcount)
    key = _person_key(by) if by is not None else func.min("")
    stmt = (
        select(key, total)
        .select_from(Entry)
        .join(Operation, Operation.id == Entry.operation_id)
        .where(Operation.disaster_id == disaster.id, Entry.source == "roster", Entry.date <= window.until)
    )
    if window.since is not None:
        stmt = stmt.where(Entry.date >= window.since)
    if window.visible_to is not None:
        stmt = stmt.where(
            or_(Entry.sender_id == window.visible_to, Entry.destination_id == window.visible_to)
        )
    match by:
        case Dimension.DESTINATION:
            stmt = stmt.join(_Destination, _Destination.id == Entry.destination_id)
        case Dimension.DUTY:
            stmt = stmt.join(Duty, Duty.id == Entry.duty_id)
        case Dimension.SENDER | Dimension.SENDER_KIND:
            stmt = stmt.join(_Sender, _Sender.id == Entry.sender_id)
    if by is None:
        return {"": int(db.session.execute(stmt.with_only_columns(func.coalesce(total, 0))).scalar_one())}
    return {str(k): int(n) for k, n in db.session.execute(stmt.group_by(key))}


def with_persons(disaster: Disaster, table: Totals, window: Window) -> Totals:
    """The totals with 実人数 where the roster covers them (the top line and each row)."""
    if not has_roster(disaster.id):
        return table
    # The date dimension gets the top line only; senders by kind are counted by sender, then regrouped.
    by = {Dimension.DATE: None, Dimension.SENDER_KIND: Dimension.SENDER}.get(table.by, table.by)
    covered = roster_person_days(disaster, by, window)
    # Every entry has one key of each dimension, so the rows' covered person-days add up to the whole
    # figure's: no second pass over the roster's entries for the top line.
    persons = persons_by(disaster, None, window)[""] if sum(covered.values()) == table.person_days else None
    if by is None:
        return replace(table, persons=persons)
    viewpoint = viewpoint_of(disaster) if table.by is Dimension.SENDER_KIND else None
    if viewpoint is not None:
        covered = _by_kind(covered, viewpoint)
    is_covered = [covered.get(row.key, 0) == row.person_days for row in table.rows]
    # The distinct people are counted only if some row is covered: where the roster's people work beside
    # typed entries, none is, and the count by sender took 42 ms of 125 at 50,000 people (docs/benchmarks.md).
    people: dict[str, int] = {}
    if any(is_covered):
        people = persons_by(disaster, by, window)
        if viewpoint is not None:
            people = _by_kind(people, viewpoint)
    rows = [
        row._replace(persons=people.get(row.key, 0) if row_is_covered else None)
        for row, row_is_covered in zip(table.rows, is_covered, strict=True)
    ]
    return replace(table, rows=rows, persons=persons)


def _by_kind(by_sender: dict[str, int], viewpoint: Viewpoint) -> dict[str, int]:
    # A person has one sender, so the distinct people of a kind are the sum over its senders.
    kinds: dict[str, SenderKind] = kinds_of(viewpoint, by_sender)
    summed: Counter[str] = Counter()
    for code, n in by_sender.items():
        summed[kinds[code].value] += n
    return dict(summed)


def persons_by_kind(disaster: Disaster, window: Window, person_days: int) -> dict[SenderKind, int] | None:
    """実人数 by kind of sender (自団体, 県内市町村 …) where the roster covers the figure of ``person_days``;
    None where it does not (or there is no roster)."""
    if not has_roster(disaster.id) or roster_person_days(disaster, None, window)[""] != person_days:
        return None
    viewpoint = viewpoint_of(disaster)
    by_sender = persons_by(disaster, Dimension.SENDER, window)
    kinds = kinds_of(viewpoint, by_sender)
    summed: Counter[SenderKind] = Counter()
    for code, n in by_sender.items():
        summed[kinds[code]] += n
    return dict(summed)


def travel_days_counted(operation: Operation) -> bool:
    """Whether the operation's person-days include travel days: it counts them and a team marks one."""
    if not operation.travel_days_count:
        return False
    marked = (Team.travel_at_start.is_(True)) | (Team.travel_at_end.is_(True))
    return bool(db.session.scalar(select(exists().where(Team.operation_id == operation.id, marked))))
