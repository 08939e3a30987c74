"""Import a spreadsheet of dispatches (.csv or .xlsx): every row or none.

Offices keep their rota in Excel and hand it over as .xlsx or as CSV in whatever encoding Excel wrote
(CP932 unless the file starts with a UTF-8 BOM). A file is read once, every row is checked against
master data preloaded into dicts, and every problem is reported with the row number the person sees in
Excel, so one pass of corrections fixes the whole file. Nothing is written unless every row is good.

Like the services, this flushes and never commits: the caller owns the transaction.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from operator import attrgetter
from pathlib import PurePath
from typing import Generic, TypeVar, cast
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from .actors import Actor
from .entries import EntryDraft, draft_problems, entry_ids, write_entries
from .errors import EntryKey, ImportRefused, Refusal
from .lookup import Duties, LookupRefused, Operations, Organisations
from .models import Disaster, Duty, Operation, Organisation
from .text import normalise
from .wareki import WarekiError, parse_date

__all__ = ["ImportResult", "RowError", "import_dispatches"]

T = TypeVar("T")
Row = Sequence[object]


@dataclass(frozen=True)
class RowError:
    """One problem in the file. Line 1 is the header row, as Excel numbers it; 0 is the file as a whole."""

    line: int
    message: str

    def describe(self) -> str:
        return f"{self.line}行目: {self.message}"


@dataclass(frozen=True)
class ImportResult:
    # Ids rather than entries: a large file's entries would not fit in memory as objects.
    entry_ids: list[int]
    person_days: int


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

UNSUPPORTED_FORMAT = "対応していないファイル形式です（.csv または .xlsx）"
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# What a CSV export puts in front of a cell Excel would run as a formula (OWASP's list).
_NEUTRALISED = ("'=", "'+", "'-", "'@", "'\t", "'\r")
_INTEGER = re.compile(r"[+-]?\d+", re.ASCII)
# The largest integer every supported database stores; beyond it the insert itself would fail.
_MAX_HEADCOUNT = 2**31 - 1


def import_dispatches(
    disaster: Disaster,
    data: bytes,
    filename: str,
    *,
    encoding: str = "auto",
    actor: Actor,
    reason: str = "",
) -> ImportResult:
    """Check every row of a .csv or .xlsx and log them all, or raise ImportRefused and write nothing.

    ``encoding`` applies to CSV: "auto" (UTF-8 with or without BOM, else CP932), "utf-8" or "cp932".
    """
    rows = _rows(data, filename, encoding)
    header_line, header = _first_row(rows)
    reader = _RowReader(disaster, header_line, header)

    errors: list[RowError] = []
    drafts: list[EntryDraft] = []
    lines: list[int] = []
    # Where each key is first seen, as an index into drafts: a later row with the same key is the same
    # fact again.
    first: dict[EntryKey, int] = {}
    for line, cells in rows:
        if _is_blank(cells):
            continue
        draft = reader.read(line, cells, errors)
        if draft is None:
            continue
        seen = first.setdefault(draft.key, len(drafts))
        if seen != len(drafts):
            errors.append(RowError(line, f"{lines[seen]}行目と同じ派遣が重複しています"))
        drafts.append(draft)
        lines.append(line)
    if not drafts and not errors:
        raise ImportRefused([RowError(0, "取り込む行がありません（見出し行だけです）")])

    for key in entry_ids(first):
        index = first[key]
        errors.append(RowError(lines[index], f"登録済みの派遣と重複しています（{drafts[index].describe()}）"))
    if errors:
        raise ImportRefused(sorted(errors, key=attrgetter("line")))

    try:
        ids = write_entries(drafts, actor, reason)
    except Refusal as exc:
        # A closed day, or a writer racing us: every other check has passed above.
        raise ImportRefused([RowError(0, str(exc))]) from exc
    return ImportResult(ids, sum(d.headcount for d in drafts))


# --- reading the file -------------------------------------------------------------------------------


def _refused(line: int, message: str) -> ImportRefused:
    return ImportRefused([RowError(line, message)])


def _rows(data: bytes, filename: str, encoding: str) -> Iterator[tuple[int, Row]]:
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return _csv_rows(_decode(data, encoding))
    if suffix == ".xlsx":
        return _xlsx_rows(data)
    raise _refused(0, UNSUPPORTED_FORMAT)


def _decode(data: bytes, encoding: str) -> str:
    wanted = encoding.strip().lower().replace("_", "-")
    if wanted in ("utf-8", "utf8", "utf-8-sig"):
        return _decode_as(data, "utf-8-sig", "UTF-8")
    if wanted == "cp932":
        return _decode_as(data, "cp932", "CP932（シフトJIS）")
    if wanted != "auto":
        raise _refused(0, f"対応していない文字コードです: {encoding}（auto、utf-8、cp932）")
    if data.startswith(_UTF8_BOM):
        return _decode_as(data, "utf-8-sig", "UTF-8")
    if data.startswith(_UTF16_BOMS):
        raise _refused(
            0, "UTF-16 のファイルには対応していません。CSV（UTF-8 または CP932）で保存してください"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError as exc:
        raise _refused(
            _line_of(data, exc.start),
            "文字コードを判別できません（UTF-8 としても CP932 としても読めません）",
        ) from exc


def _decode_as(data: bytes, codec: str, shown: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _refused(_line_of(data, exc.start), f"文字コード {shown} として読めない文字があります") from exc


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _csv_rows(text: str) -> Iterator[tuple[int, Row]]:
    # Rows are counted as records, as Excel numbers them, not as physical lines: a quoted cell may
    # hold a line break.
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise _refused(reader.line_num, f"CSV として読めません: {exc}") from exc


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Row]]:
    unreadable = "Excel ファイル（.xlsx）として読めません"
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise _refused(0, unreadable) from exc
    try:
        sheet = workbook.active
        if sheet is None or not hasattr(sheet, "reset_dimensions"):
            raise _refused(0, "先頭のシートが表ではありません")
        # Some writers record a wrong used range, and read-only mode would trust it and cut rows short.
        sheet.reset_dimensions()
        # Missing rows come back empty, so the count is Excel's own row number.
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    except (ParseError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise _refused(0, unreadable) from exc
    finally:
        workbook.close()


def _is_blank(cells: Row) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def _first_row(rows: Iterator[tuple[int, Row]]) -> tuple[int, Row]:
    for line, cells in rows:
        if not _is_blank(cells):
            return line, cells
    raise _refused(0, "ファイルが空です")


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

        self._date = _Cached(self._read_date)
        self._operation = _Cached(self._read_operation)
        self._sender = _Cached(lambda v: self._read_org("sender", v))
        self._destination = _Cached(lambda v: self._read_org("destination", v))
        self._duty = _Cached(self._read_duty)
        self._headcount = _Cached(self._read_headcount)
        self._sender_unit = _Cached(lambda v: normalise(_plain(v)))

    @staticmethod
    def _columns(line: int, header: Row) -> _Positions:
        index: dict[str, int] = {}
        errors = []
        for position, cell in enumerate(header):
            name = _plain(cell)
            if not name:
                continue
            column = _BY_HEADER.get(normalise(name).lower())
            if column is None:
                errors.append(RowError(line, f"不明な列「{name}」があります"))
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
        day = self._date(cells[at.date])
        operation = self._operation(cells[at.operation])
        sender = self._sender(cells[at.sender])
        destination = self._destination(cells[at.destination])
        duty = self._duty(cells[at.duty])
        headcount = self._headcount(cells[at.headcount])
        found = (day, operation, sender, destination, duty, headcount)
        bad = [RowError(line, f.message) for f in found if isinstance(f, _Bad)]
        if self._unnamed or len(cells) > self._width:
            stray = [cells[i] for i in self._unnamed] + list(cells[self._width :])
            bad.extend(
                RowError(line, f"見出しのない列に値があります: 「{_plain(c)}」") for c in stray if _plain(c)
            )
        if bad:
            errors.extend(bad)
            return None
        # Every reader returned a value rather than _Bad, as the check above proves.
        draft = EntryDraft(
            date=cast(date, day),
            operation=cast(Operation, operation),
            sender=cast(Organisation, sender),
            sender_unit=self._sender_unit(None if at.sender_unit is None else cells[at.sender_unit]),
            destination=cast(Organisation, destination),
            duty=cast(Duty, duty),
            headcount=cast(int, headcount),
            note=_plain(None if at.note is None else cells[at.note]),
        )
        problems = draft_problems(draft)
        if problems:
            errors.extend(RowError(line, message) for message in problems)
        return draft

    @staticmethod
    def _required(field: str, value: object) -> str:
        text = _plain(value)
        if not text:
            raise _CellError(f"{_LABEL[field]}が入力されていません")
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
