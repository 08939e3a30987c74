"""Spreadsheet exports: CSV and the dispatch workbook (.xlsx).

CSV is UTF-8 with BOM by default (Japanese Excel reads anything else as CP932), CP932 on request, and every
cell that Excel would take for a formula neutralised, in CSV and .xlsx alike. Rows are read from the
database in batches and written as they come: CSV straight to the client, a workbook to a temporary file
that is then sent. Memory stays flat however many entries a disaster has.

The entries sheet and the entries CSV carry exactly the importer's columns, written so that the importer
reads every row back as the same entry: an exported file can be corrected and imported elsewhere. Every
sheet of a workbook is set up to print as it is (A4, one page wide, ruled, headed and numbered), as
xlsx_print.py lays it out; the other sheets show names where the app would have codes.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.header_footer import HeaderFooter
from sqlalchemy import Select, func, select

from .extensions import db
from .importing import COLUMNS
from .intervals import Interval, monthly_totals
from .models import Disaster, Duty, Entry, Operation, Organisation
from .query import Destination, EntryFilter, Sender, apply_filter, entries_select, joined
from .text import normalise
from .totals import CrossTable, Dimension, Totals, cross_table, totals
from .wareki import format_long
from .xlsx_print import (
    COUNT_FORMAT,
    DATE_FORMAT,
    Cells,
    cell_text,
    neutralise,
    page_header_footer,
    setup_sheet,
    title_row,
)

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

ENCODINGS = {"utf-8": "utf-8", "cp932": "cp932"}


class Unencodable(ValueError):
    """Cells that CP932 cannot hold, named so the user can fix or choose UTF-8."""

    def __init__(self, samples: list[str]) -> None:
        super().__init__("Shift_JIS（CP932）で表せない文字があります: " + "、".join(samples))
        self.samples = samples


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


def workbook_entry_count(disaster: Disaster, flt: EntryFilter, as_of: date) -> int:
    """The entries the workbook's 派遣一覧 holds: those of the filter up to ``as_of``."""
    entries = _workbook_entries(flt, as_of)
    return db.session.scalar(apply_filter(joined(select(func.count(Entry.id))), disaster, entries)) or 0


def workbook_entry_count_past(disaster: Disaster, flt: EntryFilter, as_of: date, limit: int) -> int:
    """The same count, counting no further than ``limit``: whether a workbook is large is known after
    reading at most that many entries, however many there are (a request counting a million took seconds)."""
    entries = _workbook_entries(flt, as_of)
    first = apply_filter(joined(select(Entry.id)), disaster, entries).limit(limit).subquery()
    return db.session.scalar(select(func.count()).select_from(first)) or 0


def _workbook_entries(flt: EntryFilter, as_of: date) -> EntryFilter:
    return flt.narrowed(date_to=as_of if flt.date_to is None else min(as_of, flt.date_to))


# How often, in entries, a workbook built as a job reports its progress (export_jobs.py).
PROGRESS_EVERY = 5_000


def write_workbook(
    target: IO[bytes],
    disaster: Disaster,
    flt: EntryFilter,
    as_of: date,
    progress: Callable[[int], None] | None = None,
) -> None:
    """The entries up to ``as_of`` with the filter, then totals by dimension and the cross tables as of it.

    Sheet 派遣一覧 comes first and starts with the importer's header row, so the file imports as it is.
    Every sheet prints as it is: A4, one page wide, its title rows on every page, ruled, the disaster and
    the as-of date in the page header and page numbers in the footer.
    Write-only: each sheet goes to a temporary file row by row, so memory stays flat. Raises TooManyRows,
    before writing anything, when the entries would not fit on one Excel sheet. ``progress``, when given,
    is called with the entries written so far every PROGRESS_EVERY entries and once they are all written.
    """
    entries = _workbook_entries(flt, as_of)
    count = workbook_entry_count(disaster, flt, as_of)
    if count + 1 > EXCEL_MAX_ROWS:
        raise TooManyRows(count)
    workbook = Workbook(write_only=True)
    page = page_header_footer(disaster.name, as_of)
    rows: Iterable[EntryRow] = entry_rows(disaster, entries)
    if progress is not None:
        rows = _reporting(rows, progress)
    _entries_sheet(workbook.create_sheet("派遣一覧"), page, rows)
    scope = _scope(disaster, flt, as_of)
    for by in TOTAL_DIMENSIONS:
        title = f"{by.label}別"
        _totals_sheet(
            workbook.create_sheet(title),
            page,
            _heading(disaster, f"{title}の延べ人数", as_of, scope),
            totals(disaster, as_of, by, flt),
        )
    for rows_by, cols_by in CROSS_TABLES:
        title = f"{rows_by.label}×{cols_by.label}"
        _cross_sheet(
            workbook.create_sheet(title),
            page,
            _heading(disaster, f"{title}の延べ人数", as_of, scope),
            cross_table(disaster, as_of, rows_by, cols_by, flt, limit=CROSS_TABLE_LIMIT),
        )
    workbook.save(target)


def _reporting(rows: Iterable[EntryRow], progress: Callable[[int], None]) -> Iterator[EntryRow]:
    written = 0
    for row in rows:
        yield row
        written += 1
        if written % PROGRESS_EVERY == 0:
            progress(written)
    progress(written)


def _heading(disaster: Disaster, subject: str, as_of: date, scope: str) -> str:
    return f"{disaster.name}　{subject}　{format_long(as_of)}時点{scope}"


def _scope(disaster: Disaster, flt: EntryFilter, as_of: date) -> str:
    """The filter in words, for the sheets' first line: what the figures are limited to."""
    parts = [
        f"{_FILTER_LABELS[name]} {_filter_value(disaster, name, value)}"
        for name, value in flt.as_params().items()
        if not (name == "date_to" and value == as_of.isoformat())
    ]
    if flt.visible_to is not None:
        org = db.session.get(Organisation, flt.visible_to)
        parts.append(f"{org.name if org else ''}が派遣元または派遣先の派遣のみ")
    return f"（{'、'.join(parts)}）" if parts else ""


def _filter_value(disaster: Disaster, name: str, value: str) -> str:
    """A filter's value as a reader knows it: a date in 和暦, a name where the filter holds a code."""
    if name in ("date_from", "date_to"):
        return format_long(date.fromisoformat(value))
    if name == "operation":
        return next((op.name for op in disaster.operations if op.code == value), value)
    column = Duty.name_ja if name == "duty" else Organisation.name
    code = Duty.code if name == "duty" else Organisation.code
    return db.session.scalar(select(column).where(code == value)) or value


# --- the sheets ---------------------------------------------------------------------------------------


# Organisations keep their 全国地方公共団体コード, after the name: a public code readers know. Operations
# and duties are shown by name alone; their codes (mutual-aid, water_supply) are the app's own.
_CODED = frozenset({Dimension.DESTINATION, Dimension.SENDER})


def _label_header(by: Dimension, label: str) -> list[str]:
    return [label, f"{by.label}コード"] if by in _CODED else [label]


def _labels(by: Dimension, key: str, name: str) -> list[str]:
    return [name, key] if by in _CODED else [name]


def _printed_names(by: Dimension, rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Each row's name as printed, by key: with its code in brackets where two rows share a name and no
    code column tells them apart (two operations of one disaster may have the same name)."""
    rows = list(rows)
    seen = Counter(name for _, name in rows)
    return {key: f"{name}（{key}）" if by not in _CODED and seen[name] > 1 else name for key, name in rows}


def _entries_sheet(sheet: WriteOnlyWorksheet, page: HeaderFooter, rows: Iterable[EntryRow]) -> None:
    # Ruled by printing the grid rather than by a border on each cell: the sheet is the table, and plain
    # cells write in two thirds of the time of bordered ones, a difference a million entries feel.
    cell = Cells(sheet, ruled=False)
    setup_sheet(sheet, page, ENTRY_WIDTHS, title_rows="1:1", freeze="A2", gridlines=True)
    sheet.append(cell.header(ENTRY_HEADER))
    for day, operation, sender, unit, destination, duty, headcount, note in rows:
        sheet.append(
            [
                cell(day, DATE_FORMAT),
                cell_text(operation),
                cell_text(sender),
                cell_text(unit),
                cell_text(destination),
                cell_text(duty),
                headcount,
                cell_text(note),
            ]
        )


def _totals_sheet(sheet: WriteOnlyWorksheet, page: HeaderFooter, heading: str, table: Totals) -> None:
    by = table.by
    widths = (36, 12, 12, 12) if by in _CODED else (36, 12, 12)
    cell = Cells(sheet)
    setup_sheet(sheet, page, widths, title_rows="1:2", freeze="A3")
    title_row(sheet, heading, widths)
    sheet.append(cell.header([*_label_header(by, by.label), *TOTALS_HEADER]))
    names = _printed_names(by, ((row.key, row.name) for row in table.rows))
    for row in table.rows:
        sheet.append(
            [
                *(cell(label) for label in _labels(by, row.key, names[row.key])),
                cell(row.person_days, COUNT_FORMAT),
                cell(row.active, COUNT_FORMAT),
            ]
        )
    sheet.append(
        [
            *(cell(label, bold=True) for label in _labels(by, "", "計")),
            cell(table.person_days, COUNT_FORMAT, bold=True),
            cell(table.active, COUNT_FORMAT, bold=True),
        ]
    )


def _cross_sheet(sheet: WriteOnlyWorksheet, page: HeaderFooter, heading: str, table: CrossTable) -> None:
    by = table.rows_by
    labels = _label_header(by, f"{by.label}＼{table.cols_by.label}")
    rest_col = [f"その他（{table.more_cols:,}）"] if table.more_cols else []
    widths = (24, 12)[: len(labels)] + tuple(14 for _ in (*table.cols, *rest_col)) + (12,)
    cell = Cells(sheet)
    setup_sheet(sheet, page, widths, title_rows="1:2", freeze=f"{get_column_letter(len(labels) + 1)}3")
    title_row(sheet, heading, widths)
    col_names = _printed_names(table.cols_by, table.cols)
    sheet.append(cell.header([*labels, *(col_names[col] for col, _ in table.cols), *rest_col, "計"]))
    names = _printed_names(by, table.rows)
    for key, _ in table.rows:
        sheet.append(
            [
                *(cell(label) for label in _labels(by, key, names[key])),
                *(cell(table.cell(key, col), COUNT_FORMAT) for col, _ in table.cols),
                *(cell(table.row_rest(key), COUNT_FORMAT) for _ in rest_col),
                cell(table.row_totals[key], COUNT_FORMAT, bold=True),
            ]
        )
    if table.more_rows:
        sheet.append(
            [
                *(cell(label, bold=True) for label in _labels(by, "", f"その他（{table.more_rows:,}）")),
                *(cell(table.col_rest(col), COUNT_FORMAT) for col, _ in table.cols),
                *(cell(table.rest_total(), COUNT_FORMAT) for _ in rest_col),
                cell(table.hidden_rows_total(), COUNT_FORMAT, bold=True),
            ]
        )
    sheet.append(
        [
            *(cell(label, bold=True) for label in _labels(by, "", "計")),
            *(cell(table.col_totals[col], COUNT_FORMAT, bold=True) for col, _ in table.cols),
            *(cell(table.hidden_cols_total(), COUNT_FORMAT, bold=True) for _ in rest_col),
            cell(table.total, COUNT_FORMAT, bold=True),
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
    return file_response(file, size, filename, fallback)


def file_response(file: IO[bytes], size: int, filename: str, fallback: str) -> Response:
    """Send an open workbook from where it stands, in chunks, closing it once sent or abandoned."""
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


# --- monthly totals of an interval ------------------------------------------------------------------------

# Per operation, and per sender kind (自団体, 県内市町村 … relative to DISPATCH_OWN_ORGANISATION).
MONTHLY_DIMENSIONS = (Dimension.OPERATION, Dimension.SENDER_KIND)


def monthly_rows(
    disaster: Disaster, interval: Interval, flt: EntryFilter
) -> tuple[list[str], list[tuple[object, ...]]]:
    """One row per operation and per sender kind (each block with its 計 row), a column per month of the
    interval (cut to it) and the interval's total: the months add up to it."""
    tables = [monthly_totals(disaster, interval, by, flt) for by in MONTHLY_DIMENSIONS]
    months = interval.months()
    header = ["集計区分", "コード", "名称", *(f"{m.start:%Y-%m}" for m in months), "期間計"]
    rows: list[tuple[object, ...]] = []
    for table in tables:
        for key, name in table.rows:
            cells = [table.cells.get((key, i), 0) for i in range(len(months))]
            rows.append((table.by.label, key, name, *cells, sum(cells)))
        totals_by_month = [table.month_total(i) for i in range(len(months))]
        rows.append((table.by.label, "計", "", *totals_by_month, sum(totals_by_month)))
    return header, rows


def write_monthly_workbook(
    target: IO[bytes], disaster: Disaster, interval: Interval, flt: EntryFilter
) -> None:
    """The monthly totals on one sheet: the disaster and the interval in 和暦 as its title."""
    header, rows = monthly_rows(disaster, interval, flt)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = "月別集計"
    sheet.append([f"{disaster.name}　月別の延べ人数　{interval.label()}"])
    sheet.append(header)
    for row in rows:
        sheet.append(list(row))
    for column in range(4, len(header) + 1):
        for (cell,) in sheet.iter_rows(min_row=3, min_col=column, max_col=column):
            cell.number_format = COUNT_FORMAT
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.print_title_rows = "1:2"
    workbook.save(target)
