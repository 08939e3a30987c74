"""People and teams: add, change, remove and erase people; add and change teams and their members.

Every use case flushes and never commits, audits what it changed, and brings the roster's entries in step
(roster_sync.py). Audit records of people hold no personal data (ids, codes, the staff kind), so erasing a
person leaves no name behind in the trail. Reading personal data is logged, not audited: a read happens
on pages that take no write lock, so each read is one line of the `dispatch.personal_data` log (who, what,
how many people), beside the request's own log line (logs.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select

from . import audit
from .actors import Actor
from .catalog import entry_problems
from .errors import Refusal
from .extensions import db
from .limits import MAX_PERIOD_DAYS, MAX_SENDER_UNIT
from .models import Disaster, Duty, Operation, Organisation, Role, utcnow
from .roster_models import Person, StaffKind, Stint, Team, TeamType
from .roster_sync import Scope, refresh_duty, sync, team_scope
from .wareki import format_long

PERSONAL_DATA_LOG = logging.getLogger("dispatch.personal_data")
ERASED_NAME = "（消去済み）"


def log_read(actor: Actor, what: str, disaster: Disaster, persons: int) -> None:
    """One line per read of personal data: who read what, of which disaster, how many people."""
    PERSONAL_DATA_LOG.info(
        "personal_data_read actor=%s role=%s disaster=%s what=%s persons=%d",
        actor.name, actor.role.value, disaster.slug, what, persons,
    )  # fmt: skip


@dataclass(frozen=True)
class PersonFields:
    name: str
    sender: Organisation
    staff_kind: str
    kana: str = ""
    sender_unit: str = ""
    job_type: str = ""
    position: str = ""
    staff_number: str = ""
    contact: str = ""


def person_problems(fields: PersonFields) -> list[str]:
    problems = []
    if not fields.name.strip():
        problems.append("氏名を入力してください。")
    if len(fields.name) > 100 or len(fields.kana) > 200:
        problems.append("氏名は100文字、カナは200文字以内で入力してください。")
    if fields.staff_kind not in {k.value for k in StaffKind}:
        problems.append("職員区分は 県職員・市町村職員・消防職員・その他 のいずれかです。")
    if len(fields.sender_unit) > MAX_SENDER_UNIT:
        problems.append(f"所属は{MAX_SENDER_UNIT}文字以内で入力してください。")
    if max(len(fields.job_type), len(fields.position), len(fields.staff_number)) > 50:
        problems.append("職種・職名・職員番号は50文字以内で入力してください。")
    if len(fields.contact) > 200:
        problems.append("連絡先は200文字以内で入力してください。")
    return problems


def _snapshot(person: Person) -> dict[str, Any]:
    """What the audit keeps of a person: nothing that names them."""
    return {
        "sender": person.sender.code if person.sender else None,
        "staff_kind": person.staff_kind,
        "removed": person.removed,
        "erased": person.erased_at is not None,
    }


def add_person(disaster: Disaster, fields: PersonFields, actor: Actor) -> Person:
    problems = person_problems(fields)
    if problems:
        raise Refusal("\n".join(problems))
    person = Person(disaster_id=disaster.id, **_values(fields))
    db.session.add(person)
    db.session.flush()
    audit.record(
        "create", "person", person.id, actor=actor, disaster_id=disaster.id, after=_snapshot(person),
        summary=f"名簿 #{person.id}",
    )  # fmt: skip
    return person


def _values(fields: PersonFields) -> dict[str, Any]:
    values: dict[str, Any] = {k: v.strip() for k, v in fields.__dict__.items() if isinstance(v, str)}
    values["sender_id"] = fields.sender.id
    return values


def update_person(person: Person, fields: PersonFields, actor: Actor, reason: str = "") -> Person:
    if person.erased_at is not None:
        raise Refusal("消去済みの職員は変更できません。")
    problems = person_problems(fields)
    if problems:
        raise Refusal("\n".join(problems))
    stints = db.session.scalars(select(Stint).where(Stint.person_id == person.id)).all()
    if any(s.team.destination_id == fields.sender.id for s in stints):
        raise Refusal("職員の派遣元が、所属する班の派遣先と同じになります。")
    before = _snapshot(person)
    moved = (person.sender_id, person.sender_unit) != (fields.sender.id, fields.sender_unit.strip())
    for name, value in _values(fields).items():
        setattr(person, name, value)
    db.session.flush()
    db.session.expire(person, ["sender"])
    audit.record(
        "update", "person", person.id, actor=actor, disaster_id=person.disaster_id, before=before,
        after=_snapshot(person), reason=reason, summary=f"名簿 #{person.id}",
    )  # fmt: skip
    if moved:  # the sender and unit are part of the entries' key
        _sync_person(person, actor, reason)
    return person


def _sync_person(person: Person, actor: Actor, reason: str) -> None:
    stints = db.session.scalars(select(Stint).where(Stint.person_id == person.id)).all()
    scopes = [team_scope(s.team) for s in stints]
    if scopes:
        scope = scopes[0]
        for other in scopes[1:]:
            scope = scope | other
        sync(_disaster(person.disaster_id), scope, actor, reason)


def _disaster(disaster_id: int) -> Disaster:
    found = db.session.get(Disaster, disaster_id)
    assert found is not None
    return found


def remove_person(person: Person, actor: Actor, reason: str = "") -> None:
    """Off every list of the disaster from now on; the row and the days served stay (for the audit)."""
    before = _snapshot(person)
    person.removed = True
    db.session.flush()
    audit.record(
        "remove", "person", person.id, actor=actor, disaster_id=person.disaster_id, before=before,
        after=_snapshot(person), reason=reason, summary=f"名簿 #{person.id}",
    )  # fmt: skip


def erase_person(person: Person, actor: Actor, reason: str = "") -> None:
    """Blank every personal field (an administrator's step, when the data is no longer needed). The
    person's days stay, so entries, totals and 実人数 keep their numbers."""
    if actor.role is not Role.ADMIN:
        raise Refusal("職員の消去は管理者だけが行えます。")
    before = _snapshot(person)
    person.name, person.kana, person.contact, person.staff_number = ERASED_NAME, "", "", ""
    person.job_type, person.position = "", ""
    person.removed = True
    person.erased_at = utcnow()
    db.session.flush()
    audit.record(
        "erase", "person", person.id, actor=actor, disaster_id=person.disaster_id, before=before,
        after=_snapshot(person), reason=reason, summary=f"名簿 #{person.id}",
    )  # fmt: skip


@dataclass(frozen=True)
class TeamFields:
    number: int
    team_type: str
    operation: Operation
    sender: Organisation
    destination: Organisation
    duty: Duty
    start_date: date
    end_date: date
    receiving_section: str = ""
    travel_at_start: bool = False
    travel_at_end: bool = False
    leader: Person | None = None
    note: str = ""


def team_problems(disaster: Disaster, fields: TeamFields) -> list[str]:
    problems = []
    if fields.number < 1 or fields.number > 999:
        problems.append("陣の番号は1から999までです。")
    if fields.team_type not in {t.value for t in TeamType}:
        problems.append("班の種類が正しくありません。")
    if fields.end_date < fields.start_date:
        problems.append("終了日が開始日より前です。")
    elif (fields.end_date - fields.start_date).days >= MAX_PERIOD_DAYS:
        problems.append(f"期間は{MAX_PERIOD_DAYS}日以内にしてください。")
    if fields.start_date < disaster.start_date:
        problems.append(f"災害の発生日（{format_long(disaster.start_date)}）より前の日付です。")
    if fields.sender.id == fields.destination.id:
        problems.append("派遣元と派遣先が同じです。")
    if fields.operation.disaster_id != disaster.id:
        problems.append("この災害の派遣区分ではありません。")
    if len(fields.receiving_section) > 100:
        problems.append("配属先は100文字以内で入力してください。")
    problems += entry_problems(fields.operation, fields.end_date, (fields.sender, fields.destination))
    return problems


def _team_snapshot(team: Team) -> dict[str, Any]:
    return {
        "number": team.number,
        "team_type": team.team_type,
        "operation": team.operation.code,
        "sender": team.sender.code,
        "destination": team.destination.code,
        "duty": team.duty.code,
        "start_date": team.start_date.isoformat(),
        "end_date": team.end_date.isoformat(),
        "travel_at_start": team.travel_at_start,
        "travel_at_end": team.travel_at_end,
        "receiving_section": team.receiving_section,
        "members": len(team.stints),
    }


def _team_summary(team: Team) -> str:
    return f"{team.sender.name} {team.label}→{team.destination.name}"


def add_team(disaster: Disaster, fields: TeamFields, actor: Actor) -> Team:
    problems = team_problems(disaster, fields)
    if problems:
        raise Refusal("\n".join(problems))
    team = Team(disaster_id=disaster.id)
    _set_team(team, fields)
    db.session.add(team)
    _flush_team(team)
    audit.record(
        "create", "team", team.id, actor=actor, disaster_id=disaster.id, after=_team_snapshot(team),
        summary=_team_summary(team),
    )  # fmt: skip
    return team


def _set_team(team: Team, fields: TeamFields) -> None:
    for name in ("number", "team_type", "operation", "sender", "destination", "duty", "start_date",
                 "end_date", "travel_at_start", "travel_at_end", "leader"):  # fmt: skip
        setattr(team, name, getattr(fields, name))
    team.receiving_section = fields.receiving_section.strip()
    team.note = fields.note.strip()


def _flush_team(team: Team) -> None:
    try:
        with db.session.begin_nested():
            db.session.flush()
    except Exception as exc:  # the unique key of a team: the same number twice
        if "uq_team" in str(exc) or "UNIQUE constraint failed: team." in str(exc):
            raise Refusal(f"{team.label}は同じ派遣元・派遣先・業務に登録済みです。") from exc
        raise


def update_team(team: Team, fields: TeamFields, actor: Actor, reason: str = "") -> Team:
    disaster = _disaster(team.disaster_id)
    problems = team_problems(disaster, fields)
    outside = [s for s in team.stints if s.start_date < fields.start_date or s.end_date > fields.end_date]
    if outside:
        problems.append(f"期間外の隊員がいます（{len(outside)}人）。先に隊員の日付を変えてください。")
    if problems:
        raise Refusal("\n".join(problems))
    before, old_scope = _team_snapshot(team), team_scope(team)
    _set_team(team, fields)
    _flush_team(team)
    for stint in team.stints:
        refresh_duty(stint, team)
    audit.record(
        "update", "team", team.id, actor=actor, disaster_id=disaster.id, before=before,
        after=_team_snapshot(team), reason=reason, summary=_team_summary(team),
    )  # fmt: skip
    sync(disaster, old_scope | team_scope(team), actor, reason)
    return team


def set_member(
    team: Team,
    person: Person,
    start: date,
    end: date,
    actor: Actor,
    reason: str = "",
    *,
    sync_now: bool = True,
) -> Stint:
    """Add the person to the team for their own dates, or change their dates in it."""
    problems = []
    if person.disaster_id != team.disaster_id or person.removed:
        problems.append("この災害の名簿にいない職員です。")
    if person.sender_id == team.destination_id:
        problems.append("職員の派遣元が班の派遣先と同じです。")
    if end < start:
        problems.append("隊員の終了日が開始日より前です。")
    if start < team.start_date or end > team.end_date:
        problems.append(
            f"隊員の日付は班の期間（{format_long(team.start_date)}〜{format_long(team.end_date)}）の内にしてください。"
        )
    if problems:
        raise Refusal("\n".join(problems))
    stint = next((s for s in team.stints if s.person_id == person.id), None)
    before = (
        None if stint is None else {"from": stint.start_date.isoformat(), "to": stint.end_date.isoformat()}
    )
    if stint is None:
        stint = Stint(person=person, start_date=start, end_date=end)
        team.stints.append(stint)
    stint.start_date, stint.end_date = start, end
    refresh_duty(stint, team)
    db.session.flush()
    audit.record(
        "member", "team", team.id, actor=actor, disaster_id=team.disaster_id, before=before,
        after={"person": person.id, "from": start.isoformat(), "to": end.isoformat()}, reason=reason,
        summary=_team_summary(team),
    )  # fmt: skip
    if sync_now:
        sync(_disaster(team.disaster_id), team_scope(team), actor, reason)
    return stint


def drop_member(stint: Stint, actor: Actor, reason: str = "") -> None:
    team = stint.team
    audit.record(
        "member", "team", team.id, actor=actor, disaster_id=team.disaster_id,
        before={"person": stint.person_id, "from": stint.start_date.isoformat(), "to": stint.end_date.isoformat()},
        reason=reason, summary=_team_summary(team),
    )  # fmt: skip
    team.stints.remove(stint)
    db.session.flush()
    sync(_disaster(team.disaster_id), team_scope(team), actor, reason)


def set_travel_days_count(operation: Operation, counts: bool, actor: Actor, reason: str = "") -> None:
    """Whether the operation counts travel days as person-days; every team of it recomputed."""
    if operation.travel_days_count == counts:
        return
    operation.travel_days_count = counts
    teams = db.session.scalars(select(Team).where(Team.operation_id == operation.id)).all()
    for team in teams:
        for stint in team.stints:
            refresh_duty(stint, team)
    db.session.flush()
    audit.record(
        "update", "operation", operation.id, actor=actor, disaster_id=operation.disaster_id,
        before={"travel_days_count": not counts}, after={"travel_days_count": counts}, reason=reason,
        summary=f"{operation.name}: 移動日を延べ人数に{'含める' if counts else '含めない'}",
    )  # fmt: skip
    if teams:
        scope = Scope(frozenset(), min(t.start_date for t in teams), max(t.end_date for t in teams))
        for team in teams:
            scope = scope | team_scope(team)
        sync(operation.disaster, scope, actor, reason)
