"""Writing a checked roster import (roster_import.py): people, teams, stints and the entries they imply.

An import of 50,000 rows spent its time per row: an ORM object per team, an entry written with RETURNING
and an audit record with a JSON snapshot per derived entry, SQLAlchemy's handling of every row's
parameters, a tally Change per entry. Here new people, teams, stints and entries go to the driver in
chunks of plain tuples, their ids reserved beforehand (import_writing.reserve_ids); the entries are planned
once over the import's whole scope (roster_sync.plan) and added to the tally from plain tuples; and the
import is audited as ONE record (action and object "import", as a dispatch import is): who, when, the file's
name and SHA-256, its lines, the people, teams and stints it added, and the ids of the entries it derived,
as runs, from which an entry's history names the file (import_writing.imported_from). What the import
changes of what was already there is audited a record each, as any other change is: a team whose period or
travel days change, an entry whose headcount changes or a typed entry the roster takes over. A derived
entry on a closed (確定) day, which a reviewer may import with a reason, gets its own flagged record too.

Like the services it never commits: the caller owns the transaction (and holds the write lock).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, Date, select

from . import audit, tally, tally_writes
from .actors import Actor
from .entries import EntryDraft
from .errors import EntryKey
from .extensions import db
from .import_writing import bound_value, insert_entries, reserve_ids, runs_of
from .models import AuditRecord, Disaster, Duty, Operation, Organisation, utcnow
from .roster_import import CheckedRoster, RosterRow, identity
from .roster_models import Person, Stint, Team
from .roster_sync import Objects, Scope, change, duty_span, guard, plan, refresh_duty
from .wareki import format_long

_PERSON_COLUMNS = ("id", "disaster_id", "name", "kana", "sender_id", "sender_unit", "job_type", "position",
                   "staff_kind", "staff_number", "contact", "removed", "created_at")  # fmt: skip
_TEAM_COLUMNS = ("id", "disaster_id", "number", "team_type", "operation_id", "sender_id", "destination_id",
                 "duty_id", "receiving_section", "start_date", "end_date", "travel_at_start", "travel_at_end",
                 "note")  # fmt: skip
_STINT_COLUMNS = ("id", "team_id", "person_id", "start_date", "end_date", "duty_from", "duty_to")
_AUDIT = AuditRecord.__table__
_AUDIT_COLUMNS = ("at", "actor", "action", "object_type", "object_id", "disaster_id", "summary", "after", "reason",
                  "closed_day_change")  # fmt: skip
_DEFAULT_REASON = "名簿の取り込み"

TeamKey = tuple[int, ...]


@dataclass(frozen=True)
class ImportResult:
    people: int  # new on the roster
    teams: int  # new teams
    stints: int


@dataclass(frozen=True)
class _NewTeam:
    """A team the import makes: what its members' days on duty depend on (roster_sync.TeamDays)."""

    id: int
    start_date: date
    end_date: date
    travel_at_start: bool
    travel_at_end: bool


def write_roster(disaster: Disaster, checked: CheckedRoster, actor: Actor, reason: str = "") -> ImportResult:
    """Write the checked rows under the write lock: people, teams, stints, then the roster's entries."""
    rows, reason = checked.rows, reason.strip()
    writer = _Writer(db.session.connection())
    people = _people(disaster, rows)
    new_people = [r for r in {identity(r): r for r in rows}.values() if identity(r) not in people]
    people.update(writer.people(disaster, new_people))
    teams, made = _teams(writer, disaster, rows, actor, reason)
    stints = _stints(writer, rows, teams, people)
    # Team keys are (operation, team sender, destination, duty, number); the entries' part is three of them.
    scope = Scope(frozenset((k[0], k[2], k[3]) for k in teams),
                  min(t.start_date for t in teams.values()), max(t.end_date for t in teams.values()))  # fmt: skip
    todo = plan(disaster, scope)
    change(disaster, todo.changed, actor, reason)
    ids = _derived(writer, disaster, todo.new, actor, reason)
    first, last = rows[0].line, rows[-1].line
    person_days = sum(todo.new.values())
    audit.record(
        # The last id: imported_from finds an entry's import by a seek on (object_type, object_id).
        "import", "import", ids[-1] if ids else None, actor=actor, disaster_id=disaster.id, reason=reason,
        after={"file": checked.filename, "sha256": checked.checksum, "roster": True, "rows": len(rows),
               "first_line": first, "last_line": last, "people": len(new_people), "teams": made,
               "stints": stints, "entries": len(ids), "person_days": person_days,
               "changed_entries": len(todo.changed), "ids": runs_of(ids)},
        summary=f"名簿ファイル「{checked.filename}」の{first}〜{last}行目 {len(rows):,}行（新しい職員"
                f"{len(new_people):,}人、新しい班{made:,}、派遣{len(ids):,}件・延べ{person_days:,}人）",
    )  # fmt: skip
    db.session.flush()
    return ImportResult(len(new_people), made, stints)


class _Writer:
    """New rows straight to the driver, with ids reserved beforehand and values bound as SQLAlchemy binds
    them (dates as ISO text on SQLite), each distinct date converted once."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.now = utcnow()
        process = Date().dialect_impl(conn.dialect).bind_processor(conn.dialect)
        self.date: Callable[[date | None], Any] = functools.cache(
            lambda day: day if process is None or day is None else process(day)
        )

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> None:
        tally_writes.driver_insert(self.conn, table, columns, rows)

    def people(self, disaster: Disaster, rows: list[RosterRow]) -> dict[tuple[Any, ...], int]:
        """New people, their ids by identity."""
        ids = reserve_ids(self.conn, "person", len(rows))
        stamp = bound_value(Person.__table__.c.created_at, self.conn.dialect, self.now)
        self.insert("person", _PERSON_COLUMNS, [
            (person_id, disaster.id, r.name, r.kana, r.sender.id, r.values["sender_unit"], r.values["job_type"],
             r.values["position"], r.staff_kind, r.values["staff_number"], r.values["contact"], False, stamp)
            for person_id, r in zip(ids, rows, strict=True)
        ])  # fmt: skip
        return {identity(r): person_id for person_id, r in zip(ids, rows, strict=True)}

    def closed_day_records(
        self, disaster: Disaster, entries: list[tuple[int, EntryKey, int]], actor: Actor, reason: str
    ) -> None:
        """A record each for new entries (id, key, headcount) on closed (確定) days, flagged, as every other
        change to a closed day is: the digests report them entry by entry. Built from objects each read
        once and sent to the driver: a catch-up import may put a hundred thousand on closed days. The
        snapshot is the text SQLAlchemy's JSON type would send (json.dumps, which the engine keeps as its
        serializer): on PostgreSQL the type wraps each value for psycopg to serialize, twice the time."""
        objects = Objects()
        stamp = bound_value(_AUDIT.c.at, self.conn.dialect, self.now)
        # The snapshot and summary of each key but its date, made once, before the rows are sent (the objects
        # are read through the same connection); each entry puts its day and headcount in.
        templates: dict[tuple[int, int, str, int, int], tuple[dict[str, Any], str]] = {}
        for _, (op_id, day, sender_id, unit, dest_id, duty_id), headcount in entries:
            if (op_id, sender_id, unit, dest_id, duty_id) not in templates:
                facts = EntryDraft(
                    date=day, operation=objects.get(Operation, op_id), sender=objects.get(Organisation, sender_id),
                    destination=objects.get(Organisation, dest_id), duty=objects.get(Duty, duty_id),
                    headcount=headcount, sender_unit=unit,
                )  # fmt: skip
                templates[op_id, sender_id, unit, dest_id, duty_id] = (
                    audit.entry_snapshot(facts), audit.entry_route(facts)
                )  # fmt: skip
        long_dates: dict[date, str] = {}

        def records() -> Iterator[tuple[Any, ...]]:
            # Made as the driver takes them: on PostgreSQL the server writes the records already sent while
            # these are made.
            for entry_id, (op_id, day, sender_id, unit, dest_id, duty_id), headcount in entries:
                snapshot, route = templates[op_id, sender_id, unit, dest_id, duty_id]
                long_date = long_dates.get(day) or long_dates.setdefault(day, format_long(day))
                yield (stamp, actor.name, "create", "entry", entry_id, disaster.id,
                       audit.dated_summary(long_date, route, headcount),
                       json.dumps({**snapshot, "date": day.isoformat(), "headcount": headcount}), reason, True)  # fmt: skip

        self.insert("audit_record", _AUDIT_COLUMNS, records())


def _people(disaster: Disaster, rows: list[RosterRow]) -> dict[tuple[Any, ...], int]:
    """The people of the roster already, by the identities the rows use."""
    found: dict[tuple[Any, ...], int] = {}
    stmt = select(Person.id, Person.name, Person.kana, Person.sender_id, Person.staff_number).where(
        Person.disaster_id == disaster.id, Person.erased_at.is_(None)
    )
    for person_id, name, kana, sender_id, number in db.session.execute(stmt):
        found.setdefault((name, kana, sender_id), person_id)
        if number:
            found.setdefault(("no", number), person_id)
    return found


def _teams(
    writer: _Writer, disaster: Disaster, rows: list[RosterRow], actor: Actor, reason: str
) -> tuple[dict[TeamKey, _NewTeam | Team], int]:
    """Every team the rows name: new ones written, existing ones widened to take their rows and given the
    travel days the rows say; and how many are new."""
    members: dict[TeamKey, list[RosterRow]] = {}
    for row in rows:
        members.setdefault(row.team_key, []).append(row)
    existing: dict[TeamKey, Team] = {
        (t.operation_id, t.sender_id, t.destination_id, t.duty_id, t.number): t
        for t in db.session.scalars(select(Team).where(Team.disaster_id == disaster.id))
    }
    new_keys = [key for key in members if key not in existing]
    teams: dict[TeamKey, _NewTeam | Team] = {}
    values = []
    for team_id, key in zip(reserve_ids(writer.conn, "team", len(new_keys)), new_keys, strict=True):
        team_rows = members[key]
        start, end = min(r.start for r in team_rows), max(r.end for r in team_rows)
        at_start, at_end = _travel(team_rows) or (False, False)
        teams[key] = _NewTeam(team_id, start, end, at_start, at_end)
        r = team_rows[0]
        values.append((team_id, disaster.id, r.team_number, r.team_type, r.operation.id, r.team_sender.id,
                       r.destination.id, r.duty.id, "", writer.date(start), writer.date(end), at_start, at_end,
                       ""))  # fmt: skip
    writer.insert("team", _TEAM_COLUMNS, values)
    for key in members.keys() - set(new_keys):
        teams[key] = _widened(existing[key], members[key], actor, reason)
    return teams, len(new_keys)


def _travel(rows: list[RosterRow]) -> tuple[bool, bool] | None:
    """The travel days a team's rows say (they agree: roster_import checked), None where none says."""
    return next((r.travel for r in rows if r.travel is not None), None)


def _widened(team: Team, rows: list[RosterRow], actor: Actor, reason: str) -> Team:
    """An existing team with the period that takes its rows and the travel days they say (its members' days
    on duty recomputed, the change audited), or as it was."""
    before = _days(team)
    team.start_date = min(team.start_date, *(r.start for r in rows))
    team.end_date = max(team.end_date, *(r.end for r in rows))
    team.travel_at_start, team.travel_at_end = _travel(rows) or (team.travel_at_start, team.travel_at_end)
    if _days(team) != before:
        for stint in team.stints:
            refresh_duty(stint, team)
        audit.record(
            "update", "team", team.id, actor=actor, disaster_id=team.disaster_id, before=before,
            after=_days(team), reason=reason or _DEFAULT_REASON,
            summary=f"{team.sender.name} {team.label}→{team.destination.name}",
        )  # fmt: skip
    return team


def _days(team: Team) -> dict[str, Any]:
    return {
        "start_date": team.start_date.isoformat(),
        "end_date": team.end_date.isoformat(),
        "travel_at_start": team.travel_at_start,
        "travel_at_end": team.travel_at_end,
    }


def _stints(
    writer: _Writer,
    rows: list[RosterRow],
    teams: dict[TeamKey, _NewTeam | Team],
    people: dict[tuple[Any, ...], int],
) -> int:
    """Each row's stint: a new one written, a member's existing stint given the row's dates."""
    held = _held([team.id for team in teams.values() if isinstance(team, Team)])
    values = []
    for row in rows:
        team = teams[row.team_key]
        person_id = people[identity(row)]
        stint = held.get((team.id, person_id))
        if stint is not None:
            assert isinstance(team, Team)
            stint.start_date, stint.end_date = row.start, row.end
            refresh_duty(stint, team)
            continue
        span = duty_span(row.start, row.end, team, row.operation.travel_days_count)
        duty_from, duty_to = span or (None, None)
        values.append((team.id, person_id, writer.date(row.start), writer.date(row.end), writer.date(duty_from),
                       writer.date(duty_to)))  # fmt: skip
    ids = reserve_ids(writer.conn, "stint", len(values))
    writer.insert("stint", _STINT_COLUMNS, [(i, *v) for i, v in zip(ids, values, strict=True)])
    return len(rows)


def _held(team_ids: list[int]) -> dict[tuple[int, int], Stint]:
    """The stints of these (existing) teams, by team and person."""
    held: dict[tuple[int, int], Stint] = {}
    for start in range(0, len(team_ids), 1000):
        stmt = select(Stint).where(Stint.team_id.in_(team_ids[start : start + 1000]))
        held.update(((s.team_id, s.person_id), s) for s in db.session.scalars(stmt))
    return held


def _derived(
    writer: _Writer, disaster: Disaster, new: dict[EntryKey, int], actor: Actor, reason: str
) -> list[int]:
    """The entries of keys the roster now covers and no entry holds: written in key order (the order of the
    entry's unique index), added to the tally; their ids."""
    if not new:
        return []
    keys = sorted(new)
    flagged = guard(disaster, {k[1] for k in keys}, actor, reason)
    ids = reserve_ids(writer.conn, "entry", len(keys))
    insert_entries(writer.conn, ids, [(k, new[k], "") for k in keys], actor, writer.now, source="roster")
    if flagged:
        writer.closed_day_records(disaster, [(i, k, new[k]) for i, k in zip(ids, keys, strict=True) if k[1] in flagged],
                                  actor, reason)  # fmt: skip
    tally.apply_rows(disaster.id, [(k[0], k[1], k[2], k[4], k[5], new[k]) for k in keys])
    return ids
