"""The dispatch entries a roster implies, kept in step with it through the entries' own write path.

Where a team's members are recorded, the day's entry of a key (date × operation × sender × unit ×
destination × duty) is the number of different people on duty that day whose team has the operation,
destination and duty and who were sent by that sender and unit: a person in two overlapping teams of the
same key is counted once that day. Such entries carry source 'roster' and are written only here: new ones
through entries.write_entries (audited, closed days guarded, tally applied), changed and dropped ones
through the session, whose events keep the tally in step (tally.py). A typed entry that holds a key the
roster now covers is taken over: the roster's headcount is counted, the typed one kept beside it and the day
flagged where they differ (disagreements.py), the change audited. When the roster no longer covers such a
key, the typed figure is the entry's again (source 'manual') rather than lost with the roster's.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import pairwise
from typing import Any, Protocol

from sqlalchemy import select

from . import audit
from .actors import Actor
from .catalog import closed_problem
from .closing import guard_closed
from .disagreements import snapshot
from .entries import KEY_COLUMNS, EntryDraft, entry_ids, write_entries
from .errors import ClosingError, EntryKey, Refusal
from .extensions import db
from .models import Disaster, Duty, Entry, Operation, Organisation, utcnow
from .roster_models import Person, Stint, Team

# (operation_id, destination_id, duty_id): the part of an entry's key a team decides.
TeamKey = tuple[int, int, int]
ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Scope:
    """The team keys and the dates a change to the roster may have changed the entries of."""

    keys: frozenset[TeamKey]
    first: date
    last: date

    def __or__(self, other: Scope) -> Scope:
        return Scope(self.keys | other.keys, min(self.first, other.first), max(self.last, other.last))


def team_scope(team: Team) -> Scope:
    return Scope(
        frozenset({(team.operation_id, team.destination_id, team.duty_id)}), team.start_date, team.end_date
    )


class TeamDays(Protocol):
    """What decides a member's days on duty: the team's period and which of its ends are travel days."""

    @property
    def start_date(self) -> date: ...
    @property
    def end_date(self) -> date: ...
    @property
    def travel_at_start(self) -> bool: ...
    @property
    def travel_at_end(self) -> bool: ...


def duty_span(start: date, end: date, team: TeamDays, travel_days_count: bool) -> tuple[date, date] | None:
    """A member's days on duty: their own dates, less the team's travel days (its first and last day, when
    marked) if the operation does not count travel days as person-days; None when nothing is left."""
    if not travel_days_count:
        if team.travel_at_start and start == team.start_date:
            start += timedelta(days=1)
        if team.travel_at_end and end == team.end_date:
            end -= timedelta(days=1)
    return (start, end) if start <= end else None


def refresh_duty(stint: Stint, team: Team) -> None:
    span = duty_span(stint.start_date, stint.end_date, team, team.operation.travel_days_count)
    stint.duty_from, stint.duty_to = span if span else (None, None)


def wanted(disaster: Disaster, scope: Scope) -> dict[EntryKey, int]:
    """The headcount of every entry key in the scope, from the people on duty."""
    ops, dests, duties = (sorted({k[i] for k in scope.keys}) for i in range(3))
    stmt = (
        select(
            Stint.person_id,
            Stint.duty_from,
            Stint.duty_to,
            Team.operation_id,
            Team.destination_id,
            Team.duty_id,
            Person.sender_id,
            Person.sender_unit,
        )
        .join(Team, Team.id == Stint.team_id)
        .join(Person, Person.id == Stint.person_id)
        .where(
            Team.disaster_id == disaster.id,
            Team.operation_id.in_(ops),
            Team.destination_id.in_(dests),
            Team.duty_id.in_(duties),
            Stint.duty_from <= scope.last,
            Stint.duty_to >= scope.first,
        )
    )
    # Each key but its date: the spans of each person on duty under it.
    spans: dict[tuple[int, int, str, int, int], dict[int, list[tuple[date, date]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for person_id, first, last, op_id, dest_id, duty_id, sender_id, unit in db.session.execute(stmt):
        if (op_id, dest_id, duty_id) in scope.keys and first is not None and last is not None:
            span = (max(first, scope.first), min(last, scope.last))
            spans[op_id, sender_id, unit, dest_id, duty_id][person_id].append(span)
    return {
        (op_id, day, sender_id, unit, dest_id, duty_id): headcount
        for (op_id, sender_id, unit, dest_id, duty_id), people in spans.items()
        for day, headcount in _on_duty(people.values())
    }


def _on_duty(people: Iterable[list[tuple[date, date]]]) -> Iterator[tuple[date, int]]:
    """Each day someone is on duty and how many are, from each person's spans: a person counted once a
    day however many of their spans hold it. Counted where the number changes, not day by day per person
    (an import derives a hundred thousand entries from four hundred thousand person-days)."""
    change: Counter[date] = Counter()
    for person_spans in people:
        for first, last in _merged(person_spans):
            change[first] += 1
            change[last + ONE_DAY] -= 1
    on_duty = 0
    for point, following in pairwise(sorted(change)):
        on_duty += change[point]
        day = point
        while on_duty and day < following:
            yield day, on_duty
            day += ONE_DAY


def _merged(spans: list[tuple[date, date]]) -> list[tuple[date, date]]:
    if len(spans) == 1:
        return spans
    merged: list[tuple[date, date]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + ONE_DAY:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def held(disaster: Disaster, scope: Scope) -> dict[EntryKey, tuple[int, int]]:
    """The roster's entries in the scope now: (id, headcount) by key, read as plain rows (a roster import
    reads a hundred thousand and changes few)."""
    ops, dests, duties = (sorted({k[i] for k in scope.keys}) for i in range(3))
    stmt = select(Entry.id, *KEY_COLUMNS, Entry.headcount).where(
        Entry.source == "roster",
        Entry.operation_id.in_(ops),
        Entry.destination_id.in_(dests),
        Entry.duty_id.in_(duties),
        Entry.date >= scope.first,
        Entry.date <= scope.last,
    )
    found: dict[EntryKey, tuple[int, int]] = {}
    for entry_id, op_id, day, sender_id, unit, dest_id, duty_id, headcount in db.session.execute(stmt):
        if (op_id, dest_id, duty_id) in scope.keys:
            found[op_id, day, sender_id, unit, dest_id, duty_id] = (entry_id, headcount)
    return found


@dataclass(frozen=True)
class Plan:
    """What bringing a scope's entries in line takes: entries to change (a headcount of 0 deletes one),
    typed entries taken over among them, and the headcounts of the keys that have no entry yet."""

    changed: list[tuple[Entry, int]]
    new: dict[EntryKey, int]


def plan(disaster: Disaster, scope: Scope) -> Plan:
    """What the scope's entries need, from the people on duty and the entries there are (after a flush)."""
    db.session.flush()
    want = wanted(disaster, scope)
    have = held(disaster, scope)
    new_keys = [k for k in want if k not in have]
    typed = entry_ids(new_keys) if new_keys else {}
    stale = {entry_id: want.get(k, 0) for k, (entry_id, n) in have.items() if n != want.get(k, 0)}
    stale.update((entry_id, want[k]) for k, entry_id in typed.items())
    entries = _load(list(stale))
    new = {k: n for k, n in want.items() if k not in have and k not in typed}
    return Plan([(entries[entry_id], n) for entry_id, n in stale.items()], new)


def sync(disaster: Disaster, scope: Scope, actor: Actor, reason: str = "") -> int:
    """Bring the roster's entries in the scope in line with the people on duty; the entries changed."""
    if not scope.keys:
        return 0
    todo = plan(disaster, scope)
    change(disaster, todo.changed, actor, reason)
    new = drafts(todo.new)
    if new:
        write_entries(new, actor, reason or "名簿から")
    db.session.flush()
    return len(todo.changed) + len(new)


def drafts(headcounts: dict[EntryKey, int]) -> list[EntryDraft]:
    """The entries of these keys as drafts, each operation, organisation and duty read once."""
    objects = Objects()
    return [objects.draft(k, n) for k, n in headcounts.items()]


def change(disaster: Disaster, changed: list[tuple[Entry, int]], actor: Actor, reason: str) -> None:
    """Set each entry's headcount (0: delete it), each change audited, its closed days guarded."""
    if changed:
        guard(disaster, {e.date for e, _ in changed}, actor, reason)
    for entry, headcount in changed:
        _change(entry, headcount, actor, reason)


def guard(disaster: Disaster, dates: Iterable[date], actor: Actor, reason: str) -> set[date]:
    """The closed (確定) dates among ``dates``; a refusal when the disaster is closed or the actor may not
    change them."""
    closed = closed_problem(disaster)
    if closed:
        raise Refusal(closed)
    try:
        return guard_closed(disaster, dates, actor, reason)
    except ClosingError as exc:
        raise Refusal(str(exc)) from exc


def _change(entry: Entry, headcount: int, actor: Actor, reason: str) -> None:
    before = snapshot(entry)
    disaster_id = entry.operation.disaster_id
    typed = entry.typed_headcount
    if headcount == 0 and typed is None:
        audit.record(
            "delete", "entry", entry.id, actor=actor, disaster_id=disaster_id, before=before,
            reason=reason or "名簿から", summary=audit.entry_summary(entry),
        )  # fmt: skip
        db.session.delete(entry)
        return
    if headcount == 0 and typed is not None:
        # The roster no longer covers the key: the figure typed for it is the day's again.
        headcount, entry.typed_headcount, entry.source = typed, None, "manual"
    elif entry.source == "manual":
        # Taken over: the typed figure is kept beside the roster's, and flagged where they differ.
        entry.typed_headcount, entry.source = entry.headcount, "roster"
    entry.headcount = headcount
    entry.updated_by = actor.name
    entry.updated_at = utcnow()
    audit.record(
        "update", "entry", entry.id, actor=actor, disaster_id=disaster_id, before=before,
        after=snapshot(entry), reason=reason or "名簿から", summary=audit.entry_summary(entry),
    )  # fmt: skip


def _load(ids: list[int]) -> dict[int, Entry]:
    found: dict[int, Entry] = {}
    for start in range(0, len(ids), 1000):
        some = ids[start : start + 1000]
        found.update((e.id, e) for e in db.session.scalars(select(Entry).where(Entry.id.in_(some))))
    return found


class Objects:
    """Operations, organisations and duties by id, each read once for all the drafts of a sync."""

    def __init__(self) -> None:
        self.seen: dict[tuple[type, int], Any] = {}

    def get(self, model: type, key: int) -> Any:
        found = self.seen.get((model, key))
        if found is None:
            found = self.seen[model, key] = db.session.get(model, key)
        return found

    def draft(self, key: EntryKey, headcount: int) -> EntryDraft:
        op_id, day, sender_id, unit, dest_id, duty_id = key
        return EntryDraft(
            date=day, operation=self.get(Operation, op_id), sender=self.get(Organisation, sender_id),
            destination=self.get(Organisation, dest_id), duty=self.get(Duty, duty_id), headcount=headcount,
            sender_unit=unit, source="roster",
        )  # fmt: skip
