"""Spreadsheet exports: CSV and the dispatch workbook (.xlsx).

CSV is UTF-8 with BOM by default (Japanese Excel reads anything else as CP932), CP932 on request, and every
cell that Excel would take for a formula neutralised, in CSV and .xlsx alike. Rows are read from the
database in batches and written as they come: CSV straight to the client, a workbook to a temporary file
that is then sent. Memory stays flat however many entries a disaster has.

The entries sheet and the entries CSV carry exactly the importer's columns, written so that the importer
reads every row back as the same entry: an exported file can be corrected and imported elsewhere.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, func, select

from .extensions import db
from .importing import COLUMNS
from .models import Disaster, Duty, Entry, Operation, Organisation
from .query import Destination, EntryFilter, Sender, apply_filter, entries_select, joined
from .text import normalise
from .totals import CrossTable, Dimension, Totals, cross_table, totals
from .wareki import format_long

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
ENCODINGS = {"utf-8": "utf-8", "cp932": "cp932"}


class Unencodable(ValueError):
    """Cells that CP932 cannot hold, named so the user can fix or choose UTF-8."""

    def __init__(self, samples: list[str]) -> None:
        super().__init__("Shift_JIS（CP932）で表せない文字があります: " + "、".join(samples))
        self.samples = samples


def neutralise(value: object) -> str:
    """A cell as text that Excel shows as typed, never runs: a leading ' before = + - @ tab CR."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def csv_lines(header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([neutralise(v) for v in row])
        yield buffer.getvalue()


def check_cp932(lines: Iterable[str]) -> None:
    """Raise Unencodable naming the characters CP932 cannot hold (read before streaming a CP932 file)."""
    bad: list[str] = []
    for line in lines:
        try:
            line.encode("cp932")
            continue
        except UnicodeEncodeError:
            pass
        for char in line:
            try:
                char.encode("cp932")
            except UnicodeEncodeError:
                if char not in bad:
                    bad.append(char)
    if bad:
        raise Unencodable(bad[:20])


def attachment(filename: str, fallback: str) -> str:
    """Content-Disposition for a download named in Japanese (RFC 5987), with an ASCII name for old clients."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    encoding: str = "utf-8",
    fallback: str = "export.csv",
) -> Response:
    """Stream a CSV download; memory stays flat however many rows."""
    codec = ENCODINGS[encoding]

    def body() -> Iterator[bytes]:
        if codec == "utf-8":
            yield b"\xef\xbb\xbf"
        for line in csv_lines(header, rows):
            yield line.encode(codec)

    response = Response(stream_with_context(body()), mimetype="text/csv")
    response.headers["Content-Type"] = f"text/csv; charset={'shift_jis' if codec == 'cp932' else 'utf-8'}"
    response.headers["Content-Disposition"] = attachment(filename, fallback)
    return response


# --- entries and totals -------------------------------------------------------------------------------

# The importer's own columns, in its order: an export is a file the importer takes back.
ENTRY_HEADER = tuple(column.label for column in COLUMNS)

EntryRow = tuple[date, str, str, str, str, str, int, str]


def entry_rows(disaster: Disaster, flt: EntryFilter, batch: int = 1000) -> Iterator[EntryRow]:
    """The entries of the list with this filter, in its order, as the importer's columns.

    Organisations are written as their label (code and name: readable, and unambiguous where two share a
    name), duties by name (unique), operations as the importer reads them back. Rows are read ``batch`` at a
    time, never all at once.

    Everything read from ``disaster`` is read now: a streamed response runs the rows after the request's
    session has been closed, when the query runs in a fresh one and the disaster could not load anything.
    """
    operations = operation_labels(disaster)
    stmt = (
        entries_select(disaster, flt)
        .with_only_columns(
            Entry.date,
            Entry.operation_id,
            Sender.code,
            Sender.name,
            Entry.sender_unit,
            Destination.code,
            Destination.name,
            Duty.name_ja,
            Entry.headcount,
            Entry.note,
        )
        .execution_options(yield_per=batch)
    )
    return _entry_rows(stmt, operations)


def _entry_rows(stmt: Select[*tuple[Any, ...]], operations: dict[int, str]) -> Iterator[EntryRow]:
    for row in db.session.execute(stmt):
        day, operation, s_code, s_name, unit, d_code, d_name, duty, headcount, note = row
        sender, destination = f"{s_code} {s_name}", f"{d_code} {d_name}"
        yield day, operations[operation], sender, unit, destination, duty, headcount, note


def csv_entry_rows(disaster: Disaster, flt: EntryFilter) -> Iterator[Sequence[object]]:
    """Entry rows for CSV: dates in ISO form, which the importer and Excel both read as dates."""
    return ((day.isoformat(), *rest) for day, *rest in entry_rows(disaster, flt))


def operation_labels(disaster: Disaster) -> dict[int, str]:
    """Each operation's name, or its code where the importer would read the name as another operation
    (two operations of one disaster may share a name; codes are unique)."""
    by_text: dict[str, Operation] = {}
    for op in disaster.operations:
        by_text.setdefault(normalise(op.name), op)
    for op in disaster.operations:
        by_text[op.code] = op
    return {
        op.id: op.name if by_text.get(normalise(op.name)) is op else op.code for op in disaster.operations
    }


def last_entry_date(disaster: Disaster, flt: EntryFilter) -> date | None:
    return db.session.scalar(apply_filter(joined(select(func.max(Entry.date))), disaster, flt))


TOTAL_DIMENSIONS = (Dimension.OPERATION, Dimension.DESTINATION, Dimension.SENDER, Dimension.DUTY)
CROSS_TABLES = ((Dimension.DESTINATION, Dimension.DUTY), (Dimension.SENDER, Dimension.DESTINATION))
TOTALS_HEADER = ("延べ人数", "当日人数")


def key_header(by: Dimension) -> tuple[str, str]:
    """Headers of a dimension's key and name columns: 派遣先コード, 派遣先; for dates, ISO and 和暦."""
    if by is Dimension.DATE:
        return "日付", "和暦"
    return f"{by.label}コード", by.label


def total_rows(table: Totals) -> list[tuple[str, str, int, int]]:
    """A totals table's rows and its 計 row; dates in date order, everything else biggest first."""
    rows = table.rows
    if table.by is Dimension.DATE:
        rows = sorted(rows, key=lambda row: row.key)
    return [
        *((row.key, row.name, row.person_days, row.active) for row in rows),
        ("計", "", table.person_days, table.active),
    ]


def totals_csv_rows(table: Totals) -> tuple[list[str], list[tuple[str, str, int, int]]]:
    return [*key_header(table.by), *TOTALS_HEADER], total_rows(table)


# --- the workbook -------------------------------------------------------------------------------------

# Rows on one Excel sheet, the header row included.
EXCEL_MAX_ROWS = 1_048_576


class TooManyRows(ValueError):
    """More entries than one Excel sheet holds: CSV has no such limit."""

    def __init__(self, count: int) -> None:
        super().__init__(
            f"{count:,}件の派遣は Excel の1シートの上限（{EXCEL_MAX_ROWS - 1:,}行）を超えます。"
            "CSV で出力するか、期間などで絞り込んでください。"
        )
        self.count = count


XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATE_FORMAT = "yyyy/mm/dd"
COUNT_FORMAT = "#,##0"
ENTRY_WIDTHS = (12, 32, 24, 20, 24, 24, 8, 40)
_FILTER_LABELS = {
    "date_from": "開始日",
    "date_to": "終了日",
    "operation": "派遣区分",
    "sender": "派遣元",
    "destination": "派遣先",
    "duty": "業務",
}


# A cross sheet's rows and columns before the rest is summed into その他: a national disaster's sender ×
# destination table would otherwise be 1,800 × 1,800 mostly empty cells. Every pair is in 派遣一覧.
CROSS_TABLE_LIMIT = 200


def write_workbook(target: IO[bytes], disaster: Disaster, flt: EntryFilter, as_of: date) -> None:
    """The entries up to ``as_of`` with the filter, then totals by dimension and the cross tables as of it.

    Sheet 派遣一覧 comes first and starts with the importer's header row, so the file imports as it is.
    Write-only: each sheet goes to a temporary file row by row, so memory stays flat. Raises TooManyRows,
    before writing anything, when the entries would not fit on one Excel sheet.
    """
    entries = flt.narrowed(date_to=as_of if flt.date_to is None else min(as_of, flt.date_to))
    count = db.session.scalar(apply_filter(joined(select(func.count(Entry.id))), disaster, entries)) or 0
    if count + 1 > EXCEL_MAX_ROWS:
        raise TooManyRows(count)
    workbook = Workbook(write_only=True)
    _entries_sheet(workbook.create_sheet("派遣一覧"), entry_rows(disaster, entries))
    scope = _scope(flt, as_of)
    for by in TOTAL_DIMENSIONS:
        title = f"{by.label}別"
        _totals_sheet(
            workbook.create_sheet(title),
            _heading(disaster, f"{title}の延べ人数", as_of, scope),
            totals(disaster, as_of, by, flt),
        )
    for rows_by, cols_by in CROSS_TABLES:
        title = f"{rows_by.label}×{cols_by.label}"
        _cross_sheet(
            workbook.create_sheet(title),
            _heading(disaster, f"{title}の延べ人数", as_of, scope),
            cross_table(disaster, as_of, rows_by, cols_by, flt, limit=CROSS_TABLE_LIMIT),
        )
    workbook.save(target)


def _heading(disaster: Disaster, subject: str, as_of: date, scope: str) -> str:
    return f"{disaster.name}　{subject}　{format_long(as_of)}時点{scope}"


def _scope(flt: EntryFilter, as_of: date) -> str:
    """The filter in words, for the sheets' first line: what the figures are limited to."""
    parts = [
        f"{_FILTER_LABELS[name]} {value}"
        for name, value in flt.as_params().items()
        if not (name == "date_to" and value == as_of.isoformat())
    ]
    if flt.visible_to is not None:
        org = db.session.get(Organisation, flt.visible_to)
        parts.append(f"{org.name if org else ''}が派遣元または派遣先の派遣のみ")
    return f"（{'、'.join(parts)}）" if parts else ""


def _text(value: str) -> str | None:
    """A string cell: shown as typed, never a formula, without the control characters .xlsx cannot hold;
    an empty string is an empty cell."""
    return ILLEGAL_CHARACTERS_RE.sub("", neutralise(value)) or None


def _cell(
    sheet: WriteOnlyWorksheet, value: str | int | date, number_format: str | None = None, bold: bool = False
) -> Cell:
    # WriteOnlyCell hands the value to Cell, which takes a date; types-openpyxl's stub of it leaves date out.
    cell = WriteOnlyCell(sheet, value=_text(value) if isinstance(value, str) else value)  # type: ignore[arg-type]
    if number_format:
        cell.number_format = number_format
    if bold:
        cell.font = _BOLD
    return cell


_BOLD = Font(bold=True)


def _widths(sheet: WriteOnlyWorksheet, widths: Sequence[float]) -> None:
    # Write-only sheets take column widths and frozen panes only before the first row.
    for index, width in enumerate(widths, start=1):
        # Worksheet._setup gives write-only sheets their column_dimensions; types-openpyxl leaves it out.
        sheet.column_dimensions[get_column_letter(index)].width = width  # type: ignore[attr-defined]


def _entries_sheet(sheet: WriteOnlyWorksheet, rows: Iterable[EntryRow]) -> None:
    _widths(sheet, ENTRY_WIDTHS)
    sheet.freeze_panes = "A2"
    sheet.append([_cell(sheet, label, bold=True) for label in ENTRY_HEADER])
    for day, operation, sender, unit, destination, duty, headcount, note in rows:
        sheet.append(
            [
                _cell(sheet, day, DATE_FORMAT),
                _text(operation),
                _text(sender),
                _text(unit),
                _text(destination),
                _text(duty),
                headcount,
                _text(note),
            ]
        )


def _totals_sheet(sheet: WriteOnlyWorksheet, heading: str, table: Totals) -> None:
    _widths(sheet, (16, 36, 12, 12))
    sheet.freeze_panes = "A3"
    sheet.append([_cell(sheet, heading, bold=True)])
    sheet.append([_cell(sheet, label, bold=True) for label in (*key_header(table.by), *TOTALS_HEADER)])
    rows = total_rows(table)
    for key, name, person_days, active in rows[:-1]:
        sheet.append(
            [
                _text(key),
                _text(name),
                _cell(sheet, person_days, COUNT_FORMAT),
                _cell(sheet, active, COUNT_FORMAT),
            ]
        )
    key, name, person_days, active = rows[-1]
    sheet.append(
        [
            _cell(sheet, key, bold=True),
            _text(name),
            _cell(sheet, person_days, COUNT_FORMAT, bold=True),
            _cell(sheet, active, COUNT_FORMAT, bold=True),
        ]
    )


def _cross_sheet(sheet: WriteOnlyWorksheet, heading: str, table: CrossTable) -> None:
    row_key, row_name = key_header(table.rows_by)
    rest_col = [f"その他（{table.more_cols:,}）"] if table.more_cols else []
    _widths(sheet, (14, 24, *(14 for _ in table.cols), *(14 for _ in rest_col), 12))
    sheet.freeze_panes = "C3"
    sheet.append([_cell(sheet, heading, bold=True)])
    sheet.append(
        [
            _cell(sheet, row_key, bold=True),
            _cell(sheet, f"{row_name}＼{table.cols_by.label}", bold=True),
            *(_cell(sheet, name, bold=True) for _, name in table.cols),
            *(_cell(sheet, label, bold=True) for label in rest_col),
            _cell(sheet, "計", bold=True),
        ]
    )
    for key, name in table.rows:
        sheet.append(
            [
                _text(key),
                _text(name),
                *(_cell(sheet, table.cell(key, col), COUNT_FORMAT) for col, _ in table.cols),
                *(_cell(sheet, table.row_rest(key), COUNT_FORMAT) for _ in rest_col),
                _cell(sheet, table.row_totals[key], COUNT_FORMAT, bold=True),
            ]
        )
    if table.more_rows:
        sheet.append(
            [
                None,
                _cell(sheet, f"その他（{table.more_rows:,}）", bold=True),
                *(_cell(sheet, table.col_rest(col), COUNT_FORMAT) for col, _ in table.cols),
                *(_cell(sheet, table.rest_total(), COUNT_FORMAT) for _ in rest_col),
                _cell(sheet, table.hidden_rows_total(), COUNT_FORMAT, bold=True),
            ]
        )
    sheet.append(
        [
            None,
            _cell(sheet, "計", bold=True),
            *(_cell(sheet, table.col_totals[col], COUNT_FORMAT, bold=True) for col, _ in table.cols),
            *(_cell(sheet, table.hidden_cols_total(), COUNT_FORMAT, bold=True) for _ in rest_col),
            _cell(sheet, table.total, COUNT_FORMAT, bold=True),
        ]
    )


def xlsx_response(filename: str, fallback: str, write: Callable[[IO[bytes]], None]) -> Response:
    """Send a workbook written to a temporary file, in chunks; the file is gone once sent or abandoned."""
    # Not a with block: the response reads the file after this returns.
    file = tempfile.TemporaryFile()  # noqa: SIM115
    try:
        write(file)
        size = file.tell()
        file.seek(0)
    except BaseException:
        file.close()
        raise
    response = Response(_chunks(file), mimetype=XLSX_MIMETYPE)
    # Closed when the last chunk is read, and when the server closes a response it did not finish.
    response.call_on_close(file.close)
    response.headers["Content-Length"] = str(size)
    response.headers["Content-Disposition"] = attachment(filename, fallback)
    return response


def _chunks(file: IO[bytes], size: int = 64 * 1024) -> Iterator[bytes]:
    with file:
        while chunk := file.read(size):
            yield chunk
