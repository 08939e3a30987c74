"""Import of people and teams from .csv/.xlsx: one row per person per stint in a team; all rows or none.

Columns, in English or Japanese: team/班 (the rotation's number: 1, 第1陣), name/氏名, kana/氏名カナ,
sender/派遣元, sender_unit/所属, job_type/職種, position/職名, staff_kind/職員区分, operation/派遣区分,
destination/派遣先, duty/業務, from/開始日, to/終了日 (the person's own dates in the team), and optionally
staff_number/職員番号, contact/連絡先, team_sender/班の派遣元 (the body the team goes for; by default the
sender's prefecture, or the sender itself when it is one), team_type/班の種類 and travel_days/移動日: which
of the team's days are travel days, 初日 (its first), 最終日 (its last), 両方 or なし (also 往路・復路・往復,
and first, last, both, none). A team's rows that fill 移動日 agree; a blank cell leaves the team as it is.

A person is the same person across rows, and as one already on the roster, when name, kana and sender
agree, or when the staff number is given and agrees. A team is found by operation, team sender,
destination, duty and number, or made with the period of its rows (an existing team's period widens to
take them). The file is read and checked whole without the write lock; a refusal names every bad line.
roster_writing.py writes what it checked.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from .errors import ImportRefused, LookupRefused
from .lookup import Duties, Operations, Organisations
from .models import Disaster, Duty, Operation, Organisation
from .roster_models import STAFF_KIND_LABELS, TEAM_TYPE_LABELS, StaffKind
from .sheets import RowError, read_rows
from .text import normalise, unsafe_characters_problem
from .wareki import WarekiError, parse_date

COLUMNS = (
    ("team", "班", True), ("name", "氏名", True), ("kana", "氏名カナ", False), ("sender", "派遣元", True),
    ("sender_unit", "所属", False), ("job_type", "職種", False), ("position", "職名", False),
    ("staff_kind", "職員区分", True), ("operation", "派遣区分", True), ("destination", "派遣先", True),
    ("duty", "業務", True), ("from", "開始日", True), ("to", "終了日", True),
    ("staff_number", "職員番号", False), ("contact", "連絡先", False), ("team_sender", "班の派遣元", False),
    ("team_type", "班の種類", False), ("travel_days", "移動日", False),
)  # fmt: skip
LIMITS = {"name": 100, "kana": 200, "sender_unit": 100, "job_type": 50, "position": 50, "staff_number": 50,
          "contact": 200}  # fmt: skip
_BY_HEADER = {normalise(n).lower(): field for field, label, _ in COLUMNS for n in (field, label)}
_LABEL = {field: label for field, label, _ in COLUMNS}
_REQUIRED = {field for field, _, needed in COLUMNS if needed}
_STAFF_KINDS = {
    **{k.value: k.value for k in StaffKind},
    **{label: k.value for k, label in STAFF_KIND_LABELS.items()},
    "県職員": "prefecture", "市町職員": "municipal", "市町村": "municipal", "消防": "fire",
}  # fmt: skip
_TEAM_TYPES = {
    **{t.value: t.value for t in TEAM_TYPE_LABELS},
    **{v: t.value for t, v in TEAM_TYPE_LABELS.items()},
}
# Which ends of the team's period are travel days (移動日): (first day, last day).
_TRAVEL_DAYS = {
    **dict.fromkeys(("なし", "無し", "無", "none", "no"), (False, False)),
    **dict.fromkeys(("初日", "往路", "first", "start"), (True, False)),
    **dict.fromkeys(("最終日", "復路", "last", "end"), (False, True)),
    **dict.fromkeys(("両方", "両日", "往復", "初日と最終日", "初日・最終日", "both"), (True, True)),
}
# The words the template's drop-down list offers for 移動日, one for each of the four cases above.
TRAVEL_DAY_WORDS = ("初日", "最終日", "両方", "なし")
_TEAM_NUMBER = re.compile(r"(?:第)?(\d{1,3})(?:陣|班)?")


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
    travel: tuple[bool, bool] | None  # the team's first and last day travel days; None: not said
    # Computed once (each id read through an ORM object costs an attribute lookup, and a row's is read
    # several times): operation, team sender, destination, duty and number.
    team_key: tuple[int, ...] = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = (self.operation.id, self.team_sender.id, self.destination.id, self.duty.id)
        object.__setattr__(self, "team_key", (*ids, self.team_number))


@dataclass(frozen=True)
class CheckedRoster:
    """A file's rows, every one checked, and what names the file in the audit trail."""

    rows: list[RosterRow]
    filename: str
    checksum: str  # SHA-256 of the file as uploaded


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
        reads: dict[str, Callable[[str], Any]] = {
            "team": _team_number,
            "sender": lambda t: orgs.find(t, role="派遣元"),
            "team_sender": lambda t: orgs.find(t, role="班の派遣元"),
            "destination": lambda t: orgs.find(t, role="派遣先"),
            "operation": lambda t: operations.find(t, role="派遣区分"),
            "duty": lambda t: duties.find(t, role="業務"),
            "staff_kind": _staff_kind,
            "team_type": _team_type,
            "travel_days": _travel_days,
            "from": parse_date,
            "to": parse_date,
        }
        # Each distinct value read once: a long file repeats the same few names, kinds and dates.
        self.readers = [
            (field, self.at.get(field), field in _REQUIRED, functools.cache(read))
            for field, read in reads.items()
        ]
        self.texts = [(field, self.at.get(field)) for field in ("name", "kana", *LIMITS)]

    def read(self, line: int, cells: list[object], errors: list[RowError]) -> RosterRow | None:
        problems: list[str] = []
        found = self._found(cells, problems)
        texts = {f: _text(cells, at) for f, at in self.texts}
        problems += _text_problems(texts)
        start, end = found["from"], found["to"]
        if start and end and end < start:
            problems.append("終了日が開始日より前です")
        if start and start < self.disaster.start_date:
            problems.append("開始日が災害の発生日より前です")
        sender, destination = found["sender"], found["destination"]
        team_sender = found["team_sender"] or (sender and (sender.prefecture or sender))
        if sender is not None and sender is destination:
            problems.append("派遣元と派遣先が同じです")
        elif team_sender is not None and team_sender is destination:
            problems.append("班の派遣元と派遣先が同じです（班の派遣元を書いてください）")
        if problems:
            errors.extend(RowError(line, p) for p in problems)
            return None
        values = {
            f: normalise(texts[f]) if texts[f] else ""
            for f in ("sender_unit", "job_type", "position", "staff_number", "contact")
        }
        return RosterRow(
            line, found["team"], found["team_type"] or "other", team_sender, normalise(texts["name"]),
            normalise(texts["kana"]), sender, values, found["staff_kind"], found["operation"], destination,
            found["duty"], start, end, found["travel_days"],
        )  # fmt: skip

    def _found(self, cells: list[object], problems: list[str]) -> dict[str, Any]:
        """The cells that are looked up or parsed; each problem added to ``problems``."""
        found: dict[str, Any] = {}
        for field, at, needed, read in self.readers:
            found[field] = None
            text = _text(cells, at)
            if not text:
                if needed:
                    problems.append(f"{_LABEL[field]}が空です")
                continue
            try:
                found[field] = read(text)
            except (LookupRefused, WarekiError, ValueError) as exc:
                problems.append(f"{_LABEL[field]}「{text[:50]}」: {exc}")
        return found


def _text(cells: list[object], at: int | None) -> str:
    """A cell as text: a whole number without its '.0', a date as ISO, trimmed; '' when missing."""
    if at is None or at >= len(cells):
        return ""
    value = cells[at]
    if isinstance(value, str):
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, date):
        return value.isoformat()[:10]
    return str(value).strip()


def _text_problems(texts: dict[str, str]) -> list[str]:
    problems = [] if texts["name"] else ["氏名が空です"]
    for field, limit in LIMITS.items():
        if not texts[field]:
            continue
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


def _travel_days(text: str) -> tuple[bool, bool]:
    travel = _TRAVEL_DAYS.get(normalise(text)) or _TRAVEL_DAYS.get(normalise(text).lower())
    if travel is None:
        raise ValueError("初日・最終日・両方・なし のいずれかです（空欄は指定なし）")
    return travel


def check_roster(disaster: Disaster, data: bytes, filename: str, encoding: str = "auto") -> CheckedRoster:
    """Every row read and checked, or ImportRefused naming every bad line; writes nothing."""
    rows = read_rows(data, filename, encoding)
    first = next(rows, None)
    if first is None:
        raise ImportRefused([RowError(0, "ファイルが空です")])
    reader = _Reader(disaster, first[0], list(first[1]))
    errors: list[RowError] = []
    read = [r for line, cells in rows if (r := reader.read(line, list(cells), errors)) is not None]
    errors += _disagreements(read)
    if not read and not errors:
        errors.append(RowError(0, "取り込む行がありません（見出し行だけです）"))
    if errors:
        errors.sort(key=lambda e: e.line)
        raise ImportRefused(errors)
    return CheckedRoster(read, filename, hashlib.sha256(data).hexdigest())


def _disagreements(rows: list[RosterRow]) -> list[RowError]:
    """A person twice in one team, and a team's rows that say different travel days."""
    errors = []
    seen: dict[tuple[Any, ...], int] = {}
    travel: dict[tuple[int, ...], RosterRow] = {}
    for row in rows:
        key = (*row.team_key, identity(row))
        if key in seen:
            errors.append(RowError(row.line, f"{seen[key]}行目と同じ班に同じ職員がいます"))
        seen.setdefault(key, row.line)
        if row.travel is None:
            continue
        said = travel.setdefault(row.team_key, row)
        if said.travel != row.travel:
            errors.append(RowError(row.line, f"{_LABEL['travel_days']}が同じ班の{said.line}行目と違います"))
    return errors


def identity(row: RosterRow) -> tuple[Any, ...]:
    if row.values["staff_number"]:
        return ("no", row.values["staff_number"])
    return (row.name, row.kana, row.sender.id)
