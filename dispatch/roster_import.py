"""Import of people and teams from .csv/.xlsx: one row per person per stint in a team; all rows or none.

Columns, in English or Japanese: team/班 (the rotation's number: 1, 第1陣), name/氏名, kana/氏名カナ,
sender/派遣元, sender_unit/所属, job_type/職種, position/職名, staff_kind/職員区分, operation/派遣区分,
destination/派遣先, duty/業務, from/開始日, to/終了日 (the person's own dates in the team), and optionally
staff_number/職員番号, contact/連絡先, team_sender/班の派遣元 (the body the team goes for; by default the
sender's prefecture, or the sender itself when it is one) and team_type/班の種類.

A person is the same person across rows, and as one already on the roster, when name, kana and sender
agree, or when the staff number is given and agrees. A team is found by operation, team sender,
destination, duty and number, or made with the period of its rows (an existing team's period widens to
take them). The file is read and checked whole without the write lock; a refusal names every bad line.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import insert, select

from . import audit
from .actors import Actor
from .errors import ImportRefused, LookupRefused
from .extensions import db
from .lookup import Duties, Operations, Organisations
from .models import Disaster, Duty, Operation, Organisation, utcnow
from .roster_models import STAFF_KIND_LABELS, TEAM_TYPE_LABELS, Person, StaffKind, Stint, Team
from .roster_sync import Scope, duty_span, sync
from .sheets import RowError, read_rows
from .text import normalise, unsafe_characters_problem
from .wareki import WarekiError, parse_date

COLUMNS = (
    ("team", "班", True), ("name", "氏名", True), ("kana", "氏名カナ", False), ("sender", "派遣元", True),
    ("sender_unit", "所属", False), ("job_type", "職種", False), ("position", "職名", False),
    ("staff_kind", "職員区分", True), ("operation", "派遣区分", True), ("destination", "派遣先", True),
    ("duty", "業務", True), ("from", "開始日", True), ("to", "終了日", True),
    ("staff_number", "職員番号", False), ("contact", "連絡先", False), ("team_sender", "班の派遣元", False),
    ("team_type", "班の種類", False),
)  # fmt: skip
LIMITS = {"name": 100, "kana": 200, "sender_unit": 100, "job_type": 50, "position": 50, "staff_number": 50,
          "contact": 200}  # fmt: skip
_BY_HEADER = {normalise(n).lower(): field for field, label, _ in COLUMNS for n in (field, label)}
_LABEL = {field: label for field, label, _ in COLUMNS}
_STAFF_KINDS = {
    **{k.value: k.value for k in StaffKind},
    **{label: k.value for k, label in STAFF_KIND_LABELS.items()},
    "県職員": "prefecture", "市町職員": "municipal", "市町村": "municipal", "消防": "fire",
}  # fmt: skip
_TEAM_TYPES = {
    **{t.value: t.value for t in TEAM_TYPE_LABELS},
    **{v: t.value for t, v in TEAM_TYPE_LABELS.items()},
}
_TEAM_NUMBER = re.compile(r"(?:第)?(\d{1,3})(?:陣|班)?")

TEMPLATE_HEADER = [label for _, label, _ in COLUMNS]
TEMPLATE_EXAMPLE = [
    "第1陣", "長崎 太郎", "ナガサキ タロウ", "長崎県", "総務部危機管理課", "一般事務", "主査", "県職員",
    "相互応援", "珠洲市", "給水業務", "2024-02-20", "2024-02-27", "", "", "", "対口支援",
]  # fmt: skip


@dataclass(frozen=True)
class RosterRow:
    line: int
    team_number: int
    team_type: str
    team_sender: Organisation
    name: str
    kana: str
    sender: Organisation
    values: dict[str, str]  # sender_unit, job_type, position, staff_number, contact
    staff_kind: str
    operation: Operation
    destination: Organisation
    duty: Duty
    start: date
    end: date

    @property
    def team_key(self) -> tuple[int, ...]:
        ids = (self.operation.id, self.team_sender.id, self.destination.id, self.duty.id)
        return (*ids, self.team_number)


@dataclass(frozen=True)
class ImportResult:
    people: int  # new on the roster
    teams: int  # new teams
    stints: int


class _Reader:
    def __init__(self, disaster: Disaster, header_line: int, header: list[object]) -> None:
        self.disaster = disaster
        self.at: dict[str, int] = {}
        errors = []
        for position, cell in enumerate(header):
            name = str(cell or "").strip()
            if not name:
                continue
            field = _BY_HEADER.get(normalise(name).lower()) if len(name) <= 50 else None
            if field is None:
                errors.append(RowError(header_line, f"不明な列「{name[:50]}」があります"))
            elif field in self.at:
                errors.append(RowError(header_line, f"列「{_LABEL[field]}」が重複しています"))
            else:
                self.at[field] = position
        for field, label, needed in COLUMNS:
            if needed and field not in self.at:
                errors.append(RowError(header_line, f"必須の列「{label}」（{field}）がありません"))
        if errors:
            raise ImportRefused(errors)
        orgs, operations, duties = Organisations.load(many=True), Operations(disaster), Duties.load()
        # Each distinct value looked up once: a long file repeats the same few names.
        self.find_org = functools.cache(orgs.find)
        self.find_operation = functools.cache(operations.find)
        self.find_duty = functools.cache(duties.find)
        self.parse_date = functools.cache(parse_date)

    def cell(self, cells: list[object], field: str) -> str:
        at = self.at.get(field)
        value = cells[at] if at is not None and at < len(cells) else None
        if value is None:
            return ""
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, date):
            return value.isoformat()[:10]
        return str(value).strip()

    def read(self, line: int, cells: list[object], errors: list[RowError]) -> RosterRow | None:
        problems: list[str] = []
        found = self._found(cells, problems)
        texts = {f: self.cell(cells, f) for f in ("name", "kana", *LIMITS)}
        problems += _text_problems(texts)
        start, end = found["from"], found["to"]
        if start and end and end < start:
            problems.append("終了日が開始日より前です")
        if start and start < self.disaster.start_date:
            problems.append("開始日が災害の発生日より前です")
        sender, destination = found["sender"], found["destination"]
        if sender is not None and sender is destination:
            problems.append("派遣元と派遣先が同じです")
        if problems:
            errors.extend(RowError(line, p) for p in problems)
            return None
        team_sender = found["team_sender"] or (sender.prefecture or sender)
        values = {
            f: normalise(texts[f]) for f in ("sender_unit", "job_type", "position", "staff_number", "contact")
        }
        return RosterRow(
            line, found["team"], found["team_type"] or "other", team_sender, normalise(texts["name"]),
            normalise(texts["kana"]), sender, values, found["staff_kind"], found["operation"], destination,
            found["duty"], start, end,
        )  # fmt: skip

    def _found(self, cells: list[object], problems: list[str]) -> dict[str, Any]:
        """The cells that are looked up or parsed; each problem added to ``problems``."""

        def get(field: str, read: Callable[[str], Any]) -> Any:
            text = self.cell(cells, field)
            if not text:
                if any(f == field and needed for f, _, needed in COLUMNS):
                    problems.append(f"{_LABEL[field]}が空です")
                return None
            try:
                return read(text)
            except (LookupRefused, WarekiError, ValueError) as exc:
                problems.append(f"{_LABEL[field]}「{text[:50]}」: {exc}")
                return None

        return {
            "team": get("team", _team_number),
            "sender": get("sender", lambda t: self.find_org(t, role="派遣元")),
            "team_sender": get("team_sender", lambda t: self.find_org(t, role="班の派遣元")),
            "destination": get("destination", lambda t: self.find_org(t, role="派遣先")),
            "operation": get("operation", lambda t: self.find_operation(t, role="派遣区分")),
            "duty": get("duty", lambda t: self.find_duty(t, role="業務")),
            "staff_kind": get("staff_kind", _staff_kind),
            "team_type": get("team_type", _team_type),
            "from": get("from", self.parse_date),
            "to": get("to", self.parse_date),
        }


def _text_problems(texts: dict[str, str]) -> list[str]:
    problems = [] if texts["name"] else ["氏名が空です"]
    for field, limit in LIMITS.items():
        if len(texts[field]) > limit:
            problems.append(f"{_LABEL[field]}は{limit}文字以内で入力してください")
        problem = unsafe_characters_problem(_LABEL[field], texts[field])
        if problem:
            problems.append(problem)
    return problems


def _team_number(text: str) -> int:
    found = _TEAM_NUMBER.fullmatch(normalise(text))
    if found is None or int(found[1]) < 1:
        raise ValueError("班は 1 や 第1陣 の形で書いてください")
    return int(found[1])


def _staff_kind(text: str) -> str:
    kind = _STAFF_KINDS.get(normalise(text)) or _STAFF_KINDS.get(normalise(text).lower())
    if kind is None:
        raise ValueError("県職員・市町村職員・消防職員・その他 のいずれかです")
    return kind


def _team_type(text: str) -> str:
    kind = _TEAM_TYPES.get(normalise(text))
    if kind is None:
        raise ValueError("総括支援・対口支援・避難所運営・被害認定調査・給水・その他 のいずれかです")
    return kind


def check_roster(disaster: Disaster, data: bytes, filename: str, encoding: str = "auto") -> list[RosterRow]:
    """Every row read and checked, or ImportRefused naming every bad line; writes nothing."""
    rows = read_rows(data, filename, encoding)
    first = next(rows, None)
    if first is None:
        raise ImportRefused([RowError(0, "ファイルが空です")])
    reader = _Reader(disaster, first[0], list(first[1]))
    errors: list[RowError] = []
    read = [r for line, cells in rows if (r := reader.read(line, list(cells), errors)) is not None]
    seen: dict[tuple[Any, ...], int] = {}
    for row in read:
        key = (*row.team_key, _identity(row))
        if key in seen:
            errors.append(RowError(row.line, f"{seen[key]}行目と同じ班に同じ職員がいます"))
        seen.setdefault(key, row.line)
    if not read and not errors:
        errors.append(RowError(0, "取り込む行がありません（見出し行だけです）"))
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportRefused(errors)
    return read


def _identity(row: RosterRow) -> tuple[Any, ...]:
    if row.values["staff_number"]:
        return ("no", row.values["staff_number"])
    return (row.name, row.kana, row.sender.id)


def write_roster(disaster: Disaster, rows: list[RosterRow], actor: Actor, reason: str = "") -> ImportResult:
    """Write the checked rows under the write lock: people, teams, stints, then the roster's entries."""
    people = _people(disaster, rows)
    new_people = [r for r in {_identity(r): r for r in rows}.values() if _identity(r) not in people]
    if new_people:
        people.update(_insert_people(disaster, new_people))
    teams, made = _teams(disaster, rows)
    stints = _stints(rows, teams, people)
    audit.record(
        "import", "roster", None, actor=actor, disaster_id=disaster.id, reason=reason,
        summary=f"名簿の取り込み: {len(rows):,}行（新しい職員{len(new_people):,}人、新しい班{made}）",
    )  # fmt: skip
    scope = Scope(frozenset(), min(r.start for r in rows), max(r.end for r in rows))
    for team in teams.values():
        scope = scope | Scope(frozenset({(team.operation_id, team.destination_id, team.duty_id)}),
                              team.start_date, team.end_date)  # fmt: skip
    sync(disaster, scope, actor, reason or "名簿の取り込み")
    return ImportResult(len(new_people), made, stints)


def _insert_people(disaster: Disaster, rows: list[RosterRow]) -> dict[tuple[Any, ...], int]:
    """New people, many to a statement; their ids by identity (RETURNING rows need not follow the
    parameters' order, so each comes back with what identifies it)."""
    table = Person.__table__
    stmt = insert(table).returning(
        table.c.id, table.c.name, table.c.kana, table.c.sender_id, table.c.staff_number
    )
    now = utcnow()
    ids: dict[tuple[Any, ...], int] = {}
    for start in range(0, len(rows), 2000):
        values = [
            dict(disaster_id=disaster.id, name=r.name, kana=r.kana, sender_id=r.sender.id, staff_kind=r.staff_kind,
                 removed=False, created_at=now, **r.values)
            for r in rows[start : start + 2000]
        ]  # fmt: skip
        for person_id, name, kana, sender_id, number in db.session.execute(stmt, values):
            ids[("no", number) if number else (name, kana, sender_id)] = person_id
    return ids


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


def _teams(disaster: Disaster, rows: list[RosterRow]) -> tuple[dict[tuple[int, ...], Team], int]:
    periods: dict[tuple[int, ...], list[RosterRow]] = {}
    for row in rows:
        periods.setdefault(row.team_key, []).append(row)
    existing: dict[tuple[int, ...], Team] = {
        (t.operation_id, t.sender_id, t.destination_id, t.duty_id, t.number): t
        for t in db.session.scalars(select(Team).where(Team.disaster_id == disaster.id))
    }
    made = 0
    for key, members in periods.items():
        first, last = min(r.start for r in members), max(r.end for r in members)
        team = existing.get(key)
        if team is None:
            row = members[0]
            team = Team(disaster_id=disaster.id, number=row.team_number, team_type=row.team_type,
                        operation=row.operation, sender=row.team_sender, destination=row.destination,
                        duty=row.duty, start_date=first, end_date=last)  # fmt: skip
            db.session.add(team)
            existing[key] = team
            made += 1
        else:
            team.start_date, team.end_date = min(team.start_date, first), max(team.end_date, last)
    db.session.flush()
    return {key: existing[key] for key in periods}, made


def _stints(
    rows: list[RosterRow], teams: dict[tuple[int, ...], Team], people: dict[tuple[Any, ...], int]
) -> int:
    held = {
        (team_id, person_id): stint_id
        for stint_id, team_id, person_id in db.session.execute(
            select(Stint.id, Stint.team_id, Stint.person_id).where(
                Stint.team_id.in_([t.id for t in teams.values()])
            )
        )
    }
    new, changed = [], 0
    for row in rows:
        team = teams[row.team_key]
        person_id = people[_identity(row)]
        span = duty_span(row.start, row.end, team, row.operation.travel_days_count)
        values = dict(team_id=team.id, person_id=person_id, start_date=row.start, end_date=row.end,
                      duty_from=span[0] if span else None, duty_to=span[1] if span else None)  # fmt: skip
        stint_id = held.get((team.id, person_id))
        if stint_id is None:
            new.append(values)
        else:
            db.session.execute(
                Stint.__table__.update().where(Stint.__table__.c.id == stint_id).values(**values)
            )
            changed += 1
    for start in range(0, len(new), 2000):
        db.session.execute(insert(Stint.__table__), new[start : start + 2000])
    return len(new) + changed
