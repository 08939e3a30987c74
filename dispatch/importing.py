"""Import a spreadsheet of dispatches (.csv or .xlsx): every row or none.

Offices keep their rota in Excel and hand it over as .xlsx or as CSV in whatever encoding Excel wrote.
A file is read once (sheets.py, within the bounds of limits.py), every row is checked against master data
preloaded into dicts and against the rules the entry form applies (limits.py, text.py), and every problem
is reported with the row number the person sees in Excel, so one pass of corrections fixes the whole file.
Nothing is written unless every row is good.

Two steps, so that a large or hostile file never holds the write lock while it is read:
``check_import`` reads and checks the whole file without the lock and without writing (a page or command
calls it before ``web.write`` or ``writing()``); ``write_import`` runs under the lock, looks the keys up
again (another writer may have logged one since) and writes. Like the services, it flushes and never
commits: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from operator import attrgetter
from typing import Generic, TypeVar, cast

from .actors import Actor
from .catalog import closed_problem
from .closing import closed_dates
from .entries import EntryDraft, draft_problems, entry_ids, latest_entry_date
from .errors import Busy, EntryKey, ImportRefused, Refusal
from .import_writing import Progress, write_rows
from .limits import MAX_HEADCOUNT, MAX_IMPORT_NAME, MAX_NOTE, MAX_SENDER_UNIT
from .lookup import Duties, LookupRefused, Operations, Organisations
from .models import Disaster, Duty, Operation, Organisation, OrgKind
from .sheets import UNSUPPORTED_FORMAT, Row, RowError, read_rows, refused
from .text import normalise, unsafe_characters_problem
from .wareki import WarekiError, format_long, parse_date

__all__ = [
    "UNSUPPORTED_FORMAT",
    "CheckedImport",
    "ImportResult",
    "RowError",
    "check_import",
    "import_dispatches",
    "write_import",
]

T = TypeVar("T")


@dataclass(frozen=True)
class ImportResult:
    # Ids rather than entries: a large file's entries would not fit in memory as objects.
    entry_ids: list[int]
    person_days: int
    # The import's audit record: the entries list shows the import's rows with ?imported=<this id>.
    record_id: int | None = None


@dataclass(frozen=True)
class CheckedImport:
    """A file whose every row was checked: its drafts, and for each key the index of its draft (every key
    once, as the check refuses a file that repeats one)."""

    drafts: list[EntryDraft]
    lines: list[int]
    first: dict[EntryKey, int]
    # Named in the import's audit record: the file as uploaded and the SHA-256 of its bytes.
    filename: str = ""
    checksum: str = ""


@dataclass(frozen=True)
class _Column:
    field: str
    label: str
    required: bool


COLUMNS = (
    _Column("date", "日付", True),
    _Column("operation", "派遣区分", True),
    _Column("sender", "派遣元", True),
    _Column("sender_unit", "所属", False),
    _Column("destination", "派遣先", True),
    _Column("duty", "業務", True),
    _Column("headcount", "人数", True),
    _Column("note", "備考", False),
)
_BY_HEADER = {normalise(name).lower(): col for col in COLUMNS for name in (col.field, col.label)}
_LABEL = {col.field: col.label for col in COLUMNS}

# What a CSV export puts in front of a cell Excel would run as a formula (OWASP's list).
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
# The largest integer every supported database stores; beyond it the insert itself would fail.
_MAX_HEADCOUNT = 2**31 - 1
# Characters of a cell's value repeated in a message (a value in a column without a header, say).
_SHOWN = 50


def check_import(disaster: Disaster, data: bytes, filename: str, *, encoding: str = "auto") -> CheckedImport:
    """Read and check every row of a .csv or .xlsx, without the write lock and writing nothing: the checked
    drafts, or ImportRefused listing every problem by line.

    ``encoding`` applies to CSV: "auto" (UTF-8 with or without BOM, else CP932), "utf-8" or "cp932".
    Duplicates of logged entries are looked for here too, so one refusal names them all; write_import
    looks again under the lock.
    """
    rows = read_rows(data, filename, encoding)
    header_line, header = _first_row(rows)
    reader = _RowReader(disaster, header_line, header)

    errors: list[RowError] = []
    drafts: list[EntryDraft] = []
    lines: list[int] = []
    # Where each key is first seen, as an index into drafts: a later row with the same key is the same
    # fact again.
    first: dict[EntryKey, int] = {}
    for line, cells in rows:
        draft = reader.read(line, cells, errors)
        if draft is None:
            continue
        seen = first.setdefault(draft.key, len(drafts))
        if seen != len(drafts):
            errors.append(RowError(line, f"{lines[seen]}行目と同じ派遣が重複しています"))
        drafts.append(draft)
        lines.append(line)
    if not drafts and not errors:
        raise refused(0, "取り込む行がありません（見出し行だけです）")
    checked = CheckedImport(drafts, lines, first, filename, hashlib.sha256(data).hexdigest())
    errors.extend(_logged_already(checked))
    if errors:
        raise ImportRefused(sorted(errors, key=attrgetter("line")))
    return checked


def write_import(
    checked: CheckedImport, actor: Actor, reason: str = "", progress: Progress | None = None
) -> ImportResult:
    """Log every checked draft, under the write lock; ImportRefused, and nothing written, when a key was
    logged since the check or a row falls on a closed day the actor may not change (each such row named
    by its line). ``progress(done, total)`` is called as the rows are written."""
    duplicates = _logged_already(checked)
    if duplicates:
        raise ImportRefused(duplicates)
    disaster = checked.drafts[0].operation.disaster
    closed = closed_problem(disaster)
    if closed:
        raise refused(0, closed)
    flagged = _closed_rows(checked, disaster, actor, reason)
    try:
        ids, record_id = write_rows(
            checked.drafts,
            checked.lines,
            actor,
            reason=reason,
            flagged=flagged,
            filename=checked.filename,
            checksum=checked.checksum,
            progress=progress,
        )
    except Busy:
        raise
    except Refusal as exc:
        # A writer racing us: every other check has passed.
        raise refused(0, str(exc)) from exc
    return ImportResult(ids, sum(d.headcount for d in checked.drafts), record_id)


def _closed_rows(checked: CheckedImport, disaster: Disaster, actor: Actor, reason: str) -> set[date]:
    """The closed (確定) dates among the rows; ImportRefused naming every row on one when the actor may not
    change closed days, or gave no reason (as closing.guard_closed, row by row)."""
    closed = closed_dates(disaster, {d.date for d in checked.drafts})
    if not closed or (actor.may_amend_closed_days and reason.strip()):
        return closed
    after = (
        "変更は総合防災課に依頼してください。"
        if not actor.may_amend_closed_days
        else "変更する理由を入力してください。"
    )
    raise ImportRefused(
        [
            RowError(line, f"{format_long(d.date)}は締め済み（確定）です。{after}")
            for d, line in zip(checked.drafts, checked.lines, strict=True)
            if d.date in closed
        ]
    )


def import_dispatches(
    disaster: Disaster,
    data: bytes,
    filename: str,
    *,
    encoding: str = "auto",
    actor: Actor,
    reason: str = "",
    progress: Progress | None = None,
) -> ImportResult:
    """check_import and write_import in one, for a caller that holds the write lock (or needs none)."""
    return write_import(check_import(disaster, data, filename, encoding=encoding), actor, reason, progress)


def _logged_already(checked: CheckedImport) -> list[RowError]:
    """The drafts whose keys are logged entries already, as the database is now."""
    drafts, lines = checked.drafts, checked.lines
    return [
        RowError(lines[index], f"登録済みの派遣と重複しています（{drafts[index].describe()}）")
        for index in map(checked.first.__getitem__, entry_ids(checked.first))
    ]


def _first_row(rows: Iterator[tuple[int, Row]]) -> tuple[int, Row]:
    for line, cells in rows:
        return line, cells
    raise refused(0, "ファイルが空です")


def _shown(value: object) -> str:
    """A cell's value as a message repeats it: cut short, so a long value cannot make a long message."""
    text = _plain(value)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…（{len(text):,}文字）"


# --- reading one row --------------------------------------------------------------------------------


class _CellError(Exception):
    """A cell that cannot be read; the message names the column and the value."""


def _refusal(exc: LookupRefused, unknown: str) -> _CellError:
    """An ambiguous value keeps the look-up's message, which names the candidates; else the importer's own."""
    return _CellError(str(exc) if exc.candidates else unknown)


@dataclass(frozen=True)
class _Bad:
    message: str


class _Cached(Generic[T]):
    """A cell reader that reads each distinct value once: a long file repeats the same few names."""

    def __init__(self, read: Callable[[object], T]) -> None:
        self._read = read
        self._seen: dict[object, T | _Bad] = {}

    def __call__(self, value: object) -> T | _Bad:
        # 1, 1.0 and True are equal keys; spreadsheet cells of different types must not share one.
        key = value if type(value) is str else (type(value), value)
        found = self._seen.get(key)
        if found is None:
            try:
                found = self._read(value)
            except _CellError as exc:
                found = _Bad(str(exc))
            self._seen[key] = found
        return found


def _plain(value: object) -> str:
    """The text of a cell as a person reads it, without the apostrophe an export put before a formula."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    if text.startswith(_NEUTRALISED):
        text = text[1:]
    return text


def _read_note(value: object) -> str | _Bad:
    """As the entry form reads 備考: trimmed, at most MAX_NOTE characters, line breaks and tabs allowed but
    no other control or invisible character. Read for every row: notes rarely repeat."""
    text = _plain(value)
    if not text:
        return text
    if len(text) > MAX_NOTE:
        return _Bad(f"備考は{MAX_NOTE:,}文字以内で入力してください。")
    problem = unsafe_characters_problem("備考", text, multiline=True)
    return text if problem is None else _Bad(problem)


@dataclass(frozen=True)
class _Positions:
    """Where each column is in a row; None for an optional column the file leaves out."""

    date: int
    operation: int
    sender: int
    destination: int
    duty: int
    headcount: int
    sender_unit: int | None = None
    note: int | None = None


# A row's values as read, in the order _RowReader.read reads them.
_Values = tuple[date, Operation, Organisation, Organisation, Duty, int, str, str]


class _RowReader:
    """Turns rows into drafts, with every lookup loaded once for the whole file."""

    def __init__(self, disaster: Disaster, header_line: int, header: Row) -> None:
        self._at = self._columns(header_line, header)
        self._width = len(header)
        self._unnamed = [i for i, cell in enumerate(header) if not _plain(cell)]

        # The catalogues in memory, once per file; each distinct cell value is then resolved once (_Cached).
        self._organisations = Organisations.load(many=True)
        self._operations = Operations(disaster)
        self._duties = Duties.load()
        # The last date an entry may have, as of now: once per file, not once per row.
        self._latest = latest_entry_date()
        # Per operation id the dates it may have; per organisation whether a new entry may name it.
        self._windows: dict[int, tuple[date, date]] = {}
        self._usable_ids: dict[int, bool] = {}

        self._date = _Cached(self._read_date)
        self._operation = _Cached(self._read_operation)
        self._sender = _Cached(lambda v: self._read_org("sender", v))
        self._destination = _Cached(lambda v: self._read_org("destination", v))
        self._duty = _Cached(self._read_duty)
        self._headcount = _Cached(self._read_headcount)
        self._sender_unit = _Cached(self._read_sender_unit)

    @staticmethod
    def _columns(line: int, header: Row) -> _Positions:
        index: dict[str, int] = {}
        errors = []
        for position, cell in enumerate(header):
            name = _plain(cell)
            if not name:
                continue
            column = _BY_HEADER.get(normalise(name).lower()) if len(name) <= MAX_IMPORT_NAME else None
            if column is None:
                errors.append(RowError(line, f"不明な列「{_shown(name)}」があります"))
            elif column.field in index:
                errors.append(RowError(line, f"列「{column.label}」が重複しています"))
            else:
                index[column.field] = position
        for column in COLUMNS:
            if column.required and column.field not in index:
                errors.append(RowError(line, f"必須の列「{column.label}」（{column.field}）がありません"))
        if errors:
            raise ImportRefused(errors)
        return _Positions(**index)

    def read(self, line: int, cells: Row, errors: list[RowError]) -> EntryDraft | None:
        """The row's draft, or None after adding its problems to ``errors``."""
        if len(cells) < self._width:
            cells = [*cells, *([None] * (self._width - len(cells)))]
        at = self._at
        found = (
            self._date(cells[at.date]),
            self._operation(cells[at.operation]),
            self._sender(cells[at.sender]),
            self._destination(cells[at.destination]),
            self._duty(cells[at.duty]),
            self._headcount(cells[at.headcount]),
            self._sender_unit(None if at.sender_unit is None else cells[at.sender_unit]),
            _read_note(None if at.note is None else cells[at.note]),
        )
        # One test for the common row, in C (map and in), before the per-cell look at a row with a problem.
        if self._unnamed or len(cells) > self._width or _Bad in map(type, found):
            bad = [RowError(line, f.message) for f in found if isinstance(f, _Bad)]
            stray = [cells[i] for i in self._unnamed] + list(cells[self._width :])
            bad.extend(
                RowError(line, f"見出しのない列に値があります: 「{_shown(c)}」") for c in stray if _plain(c)
            )
            if bad:
                errors.extend(bad)
                return None
        # Every reader returned a value rather than _Bad, as the check above proves: one cast for the row
        # (a call per value costs more than it says, a hundred thousand rows over).
        day, operation, sender, destination, duty, headcount, sender_unit, note = cast(_Values, found)
        draft = EntryDraft(
            date=day,
            operation=operation,
            sender=sender,
            sender_unit=sender_unit,
            destination=destination,
            duty=duty,
            headcount=headcount,
            note=note,
        )
        if self._plainly_good(draft):
            return draft
        problems = draft_problems(draft, self._latest)
        if problems:
            errors.extend(RowError(line, message) for message in problems)
        return draft

    def _plainly_good(self, draft: EntryDraft) -> bool:
        """Whether draft_problems would find nothing, from facts read once per operation and organisation:
        a hundred thousand rows name a few operations and organisations. False says only "ask draft_problems",
        which words every problem."""
        key = draft.key
        window = self._windows.get(key[0])
        if window is None:
            operation = draft.operation
            last = self._latest if operation.end_date is None else min(self._latest, operation.end_date)
            window = self._windows[key[0]] = (operation.disaster.start_date, last)
        return (
            window[0] <= key[1] <= window[1]
            and key[2] != key[4]
            and 1 <= draft.headcount <= MAX_HEADCOUNT
            and len(draft.sender_unit) <= MAX_SENDER_UNIT
            and len(draft.note) <= MAX_NOTE
            and self._usable(key[2], draft.sender)
            and self._usable(key[4], draft.destination)
        )

    def _usable(self, organisation_id: int, organisation: Organisation) -> bool:
        """Neither a ward nor deactivated: what catalog.entry_problems asks of a new entry's organisation."""
        usable = self._usable_ids.get(organisation_id)
        if usable is None:
            usable = organisation.active and organisation.kind != OrgKind.WARD.value
            self._usable_ids[organisation_id] = usable
        return usable

    @staticmethod
    def _required(field: str, value: object) -> str:
        """A cell that names something (a date, an organisation ...): present, short, plain characters."""
        text = _plain(value)
        label = _LABEL[field]
        if not text:
            raise _CellError(f"{label}が入力されていません")
        if len(text) > MAX_IMPORT_NAME:
            raise _CellError(f"{label}は{MAX_IMPORT_NAME}文字以内で入力してください。")
        problem = unsafe_characters_problem(label, text)
        if problem:
            raise _CellError(problem)
        return text

    @staticmethod
    def _read_sender_unit(value: object) -> str:
        """As the entry form reads 所属: normalised, then at most MAX_SENDER_UNIT plain characters."""
        text = _plain(value)
        # NFKC makes text at most three times shorter (Hangul jamo): longer than this stays too long.
        if len(text) <= 4 * MAX_SENDER_UNIT:
            text = normalise(text)
        if len(text) > MAX_SENDER_UNIT:
            raise _CellError(f"所属は{MAX_SENDER_UNIT}文字以内で入力してください。")
        problem = unsafe_characters_problem("所属", text)
        if problem:
            raise _CellError(problem)
        return text

    @staticmethod
    def _read_date(value: object) -> date:
        if isinstance(value, datetime):
            if value.time() != time(0):
                raise _CellError(f"日付「{value}」に時刻が入っています。日付だけにしてください")
            return value.date()
        if isinstance(value, date):
            return value
        text = _RowReader._required("date", value)
        if not isinstance(value, str):
            raise _CellError(f"日付「{text}」を日付として読めません。書式を日付にしてください")
        try:
            return parse_date(text)
        except WarekiError as exc:
            reason = str(exc)
            if text in reason:
                raise _CellError(f"日付: {reason}") from None
            raise _CellError(f"日付「{text}」: {reason}") from None

    def _read_operation(self, value: object) -> Operation:
        text = self._required("operation", value)
        try:
            return self._operations.find(text, role=_LABEL["operation"])
        except LookupRefused as exc:
            unknown = f"派遣区分「{normalise(text)}」はこの災害に登録されていません"
            raise _refusal(exc, unknown) from None

    def _read_org(self, field: str, value: object) -> Organisation:
        # Excel drops the leading zero of 052019 (秋田市) when a cell is a number: the look-up allows for it.
        text = self._required(field, value)
        try:
            return self._organisations.find(text, role=_LABEL[field])
        except LookupRefused as exc:
            unknown = f"{_LABEL[field]}「{normalise(text)}」が見つかりません（団体コードまたは名称）"
            raise _refusal(exc, unknown) from None

    def _read_duty(self, value: object) -> Duty:
        text = self._required("duty", value)
        try:
            return self._duties.find(text, role=_LABEL["duty"])
        except LookupRefused as exc:
            unknown = f"業務「{normalise(text)}」が見つかりません（業務コードまたは名称）"
            raise _refusal(exc, unknown) from None

    @staticmethod
    def _read_headcount(value: object) -> int:
        if isinstance(value, bool):
            raise _CellError(f"人数「{value}」が数値ではありません")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float):
            if not value.is_integer():
                raise _CellError(f"人数「{value}」が整数ではありません")
            number = int(value)
        else:
            text = _RowReader._required("headcount", value)
            digits = normalise(text).removesuffix("人").strip()
            if not _INTEGER.fullmatch(digits):
                raise _CellError(f"人数「{text}」が数値ではありません")
            number = int(digits)
        if number > _MAX_HEADCOUNT:
            raise _CellError(f"人数「{number}」が大きすぎます")
        return number
