"""The day grid: many rows typed for one date (or each date of a range), checked row by row.

A row is what a person typed, cell by cell. Checking resolves each cell through lookup.py (the rules the
form, the importer and the CLI follow), then checks the drafts as log_entries would (entries.draft_problems,
repeats within the grid and of existing entries, closed days), and keeps every problem on the row and the
cell it came from, so the page can show each refused row's reason in place. Nothing here writes: the page
writes the checked drafts with entries.log_entry_ids under the write lock, which checks them again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from sqlalchemy import select

from .actors import Actor
from .closing import ClosedNotice, closed_notice
from .entries import EntryDraft, draft_problems, entry_ids, latest_entry_date
from .errors import EntryKey, LookupRefused
from .exports import operation_labels
from .extensions import db
from .limits import MAX_HEADCOUNT, MAX_NOTE, MAX_SENDER_UNIT
from .lookup import Duties, Operations, Organisations
from .models import Disaster, Entry
from .query import EntryFilter, entries_select
from .text import normalise, unsafe_characters_problem
from .wareki import format_long

T = TypeVar("T")

# The cells of a row, in the grid's order, with their labels.
CELLS: tuple[tuple[str, str], ...] = (
    ("operation", "派遣区分"),
    ("sender", "派遣元"),
    ("sender_unit", "所属"),
    ("destination", "派遣先"),
    ("duty", "業務"),
    ("headcount", "人数"),
    ("note", "備考"),
)
CELL_NAMES = tuple(name for name, _ in CELLS)
LABELS = dict(CELLS)
# The cells a person types on every row: a row where all of them are empty is a blank row, ignored, however
# the carried cells (派遣区分, 派遣先, 業務) were filled.
TYPED = ("sender", "sender_unit", "headcount", "note")
# Rows one grid may hold: a national day is some hundreds; more is a file for the importer.
MAX_ROWS = 500

_ROW_FIELD = re.compile(r"rows-([0-9]{1,4})-([a-z_]+)")
_DIGITS = re.compile(r"[0-9]{1,9}")


@dataclass
class GridRow:
    """One row as typed, and what checking found: a message per cell, and the row's own problems."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    duplicates: list[Entry] = field(default_factory=list)
    drafts: list[EntryDraft] = field(default_factory=list)

    @property
    def blank(self) -> bool:
        return not any(self.values.get(name, "").strip() for name in TYPED)

    @property
    def refused(self) -> bool:
        return bool(self.errors or self.problems or self.duplicates)

    @property
    def first_bad_cell(self) -> str:
        """The cell the cursor goes to: the first with an error, or the row's first cell."""
        return next((name for name in CELL_NAMES if name in self.errors), CELL_NAMES[0])


@dataclass
class GridCheck:
    """A checked grid: its rows (blank ones included, as typed), the drafts, and the closed-day notice."""

    rows: list[GridRow]
    notice: ClosedNotice | None

    @property
    def drafts(self) -> list[EntryDraft]:
        return [d for row in self.rows for d in row.drafts]

    @property
    def refused(self) -> bool:
        return any(row.refused for row in self.rows) or bool(self.notice and self.notice.refusal)

    @property
    def person_days(self) -> int:
        return sum(d.headcount for d in self.drafts)

    @property
    def filled(self) -> int:
        return sum(1 for row in self.rows if not row.blank)


def rows_from_form(form: Mapping[str, str]) -> list[GridRow]:
    """The rows of a posted grid (rows-<n>-<cell>, n up to 9999), in the order of their numbers; a row
    marked removed (the plain form's 除く box) is left out. More than MAX_ROWS filled rows are refused by
    check, never cut short here."""
    by_index: dict[int, dict[str, str]] = {}
    for key, value in form.items():
        match = _ROW_FIELD.fullmatch(key)
        if match and (match[2] in CELL_NAMES or match[2] == "removed"):
            by_index.setdefault(int(match[1]), {})[match[2]] = value
    return [
        GridRow({name: values.get(name, "") for name in CELL_NAMES})
        for _, values in sorted(by_index.items())
        if not values.get("removed")
    ]


def rows_of_day(disaster: Disaster, day: date, visible_to: int | None) -> list[GridRow]:
    """A day's entries as grid rows (昨日と同じ), in the list's order (operation, destination, sender): what a
    person would type to enter them again."""
    flt = EntryFilter(date_from=day, date_to=day, visible_to=visible_to)
    # An operation by its name, or by its code where another of the disaster's operations shares the name.
    operations = operation_labels(disaster)
    return [
        GridRow(
            {
                "operation": operations[e.operation_id],
                "sender": e.sender.label,
                "sender_unit": e.sender_unit,
                "destination": e.destination.label,
                "duty": e.duty.name_ja,
                "headcount": str(e.headcount),
                "note": e.note,
            }
        )
        for e in db.session.scalars(entries_select(disaster, flt))
    ]


def check(
    disaster: Disaster, dates: Sequence[date], rows: list[GridRow], actor: Actor, reason: str
) -> GridCheck:
    """Resolve and check every row for every date; each problem stays on its row (and cell)."""
    notice = closed_notice(disaster, dates, actor, reason)
    filled = [row for row in rows if not row.blank]
    if len(filled) > MAX_ROWS:
        filled[MAX_ROWS].problems.append(
            f"1回に登録できるのは{MAX_ROWS}行までです。取り込みをお使いください。"
        )
        return GridCheck(rows, notice)
    resolver = _Resolver(disaster)
    latest = latest_entry_date()
    for row in filled:
        resolver.resolve(row, dates)
        for draft in row.drafts:
            when = f"{format_long(draft.date)}: " if len(dates) > 1 else ""
            row.problems += [when + p for p in draft_problems(draft, latest)]
        if notice and notice.refusal:
            row.problems.append(notice.refusal)
    _mark_repeats(filled)
    return GridCheck(rows, notice)


def _mark_repeats(rows: Iterable[GridRow]) -> None:
    """Rows that repeat an earlier row of the grid, or an entry already saved (with the entry, to link)."""
    first_at: dict[EntryKey, int] = {}
    numbered = list(enumerate(rows, start=1))
    for number, row in numbered:
        for draft in row.drafts:
            earlier = first_at.setdefault(draft.key, number)
            if earlier != number:
                row.problems.append(f"{earlier}行目と同じ内容です。")
                break
    keys = {d.key for _, row in numbered for d in row.drafts}
    existing = entry_ids(keys)
    if not existing:
        return
    entries = {
        e.id: e for e in db.session.scalars(select(Entry).where(Entry.id.in_(list(existing.values()))))
    }
    for _, row in numbered:
        row.duplicates = [entries[existing[d.key]] for d in row.drafts if d.key in existing]


class _Resolver:
    """Each cell through the one look-up, the catalogues read once for the whole grid."""

    def __init__(self, disaster: Disaster) -> None:
        self.operations = Operations(disaster)
        self.organisations = Organisations.load()
        self.duties = Duties.load()

    def resolve(self, row: GridRow, dates: Sequence[date]) -> None:
        v = row.values
        operation = self._find(row, "operation", self.operations.find)
        sender = self._find(row, "sender", self.organisations.find)
        destination = self._find(row, "destination", self.organisations.find)
        duty = self._find(row, "duty", self.duties.find)
        headcount = _headcount(row)
        unit = _text(row, "sender_unit", MAX_SENDER_UNIT, multiline=False)
        note = _text(row, "note", MAX_NOTE, multiline=True)
        if sender is not None and sender is destination:
            row.errors.setdefault("destination", "派遣元と派遣先が同じです。")
        if row.errors or None in (operation, sender, destination, duty, headcount):
            return
        assert operation and sender and destination and duty and headcount is not None
        v["sender"], v["destination"] = sender.label, destination.label
        row.drafts = [
            EntryDraft(
                date=day,
                operation=operation,
                sender=sender,
                sender_unit=unit,
                destination=destination,
                duty=duty,
                headcount=headcount,
                note=note,
            )
            for day in dates
        ]

    @staticmethod
    def _find(row: GridRow, name: str, find: Callable[..., T]) -> T | None:
        text = row.values.get(name, "").strip()
        if not text:
            row.errors[name] = f"{LABELS[name]}を入力してください。"
            return None
        try:
            return find(text, role=LABELS[name])
        except LookupRefused as exc:
            row.errors[name] = str(exc)
            return None


def _headcount(row: GridRow) -> int | None:
    text = normalise(row.values.get("headcount", "")).removesuffix("人").strip()
    if not text:
        row.errors["headcount"] = "人数を入力してください。"
        return None
    if not _DIGITS.fullmatch(text):
        row.errors["headcount"] = "人数は半角数字で入力してください。"
        return None
    number = int(text)
    if not 1 <= number <= MAX_HEADCOUNT:
        row.errors["headcount"] = f"人数は1以上{MAX_HEADCOUNT:,}以下で入力してください。"
        return None
    return number


def _text(row: GridRow, name: str, limit: int, *, multiline: bool) -> str:
    raw = row.values.get(name, "")
    text = raw.strip() if multiline else normalise(raw)
    if len(text) > limit:
        row.errors[name] = f"{LABELS[name]}は{limit:,}文字以内で入力してください。"
    problem = unsafe_characters_problem(LABELS[name], text, multiline=multiline)
    if problem:
        row.errors[name] = problem
    return text
