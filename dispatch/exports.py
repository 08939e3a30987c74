"""Spreadsheet exports: CSV and the dispatch workbook (.xlsx).

CSV is UTF-8 with BOM by default (Japanese Excel reads anything else as CP932), CP932 on request, and every
cell that Excel would take for a formula neutralised, in CSV and .xlsx alike. Rows are read from the
database in batches and written as they come: CSV straight to the client, a workbook to a temporary file
that is then sent. Memory stays flat however many entries a disaster has.

The entries sheet and the entries CSV carry exactly the importer's columns, written so that the importer
reads every row back as the same entry: an exported file can be corrected and imported elsewhere. Every
sheet of a workbook is set up to print as it is (A4, one page wide, ruled, headed and numbered); the other
sheets show names where the app would have codes.
"""

from __future__ import annotations

import csv
import io
import math
import tempfile
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from copy import copy
from datetime import date
from typing import IO, TYPE_CHECKING, Any, cast
from urllib.parse import quote

from flask import Response, stream_with_context
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.header_footer import HeaderFooter, HeaderFooterItem, _HeaderFooterPart
from openpyxl.worksheet.page import PageMargins, PrintOptions, PrintPageSetup
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Select, func, select

from .extensions import db
from .importing import COLUMNS
from .models import Disaster, Duty, Entry, Operation, Organisation
from .query import Destination, EntryFilter, Sender, apply_filter, entries_select, joined
from .text import normalise
from .totals import CrossTable, Dimension, Interval, Totals, cross_table, monthly_totals, totals
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
    """A cell as text that Excel shows as typed, never runs: a leading ' before = + - @ tab CR.

    A lone sign is no formula (a note 「-」 means "none") and is written as typed: one character cannot
    call anything.
    """
    text = "" if value is None else str(value)
    if len(text) > 1 and text.startswith(FORMULA_PREFIXES):
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
    page = _page_header_footer(disaster.name, as_of)
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


def _text(value: str) -> str | None:
    """A string cell: shown as typed, never a formula, without the control characters .xlsx cannot hold;
    an empty string is an empty cell."""
    return ILLEGAL_CHARACTERS_RE.sub("", neutralise(value)) or None


# --- printing: every sheet as the division files it ----------------------------------------------------

# A sheet wider than this, in Excel's column widths (about one half-width character each), is printed in
# landscape: about what fits across a portrait A4 page at 11 points. Either way it is scaled to one page wide.
PORTRAIT_WIDTH = 100
_A4 = 9  # the paperSize code of A4 in SpreadsheetML
# Room for the page header and footer, in inches.
_MARGINS = PageMargins(left=0.5, right=0.5, top=0.8, bottom=0.7, header=0.3, footer=0.3)
# The longest disaster name a page header shows: Excel refuses a header of more than 255 characters.
_HEADER_NAME = 120

_THIN = Side(style="thin", color="808080")
_RULED = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_BOLD = Font(bold=True)
_TITLE_FONT = Font(bold=True, size=12)
_TITLE_ALIGNMENT = Alignment(vertical="top", wrap_text=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8ECF1")
_HEADER_ALIGNMENT = Alignment(horizontal="center", vertical="center", wrap_text=True)
# Points per line of the title row (12-point type), and its width per character relative to a column
# width unit: a full-width character takes two units at 11 points.
_TITLE_LINE = 18
_TITLE_SCALE = 12 / 11

# Organisations keep their 全国地方公共団体コード, after the name: a public code readers know. Operations
# and duties are shown by name alone; their codes (mutual-aid, water_supply) are the app's own.
_CODED = frozenset({Dimension.DESTINATION, Dimension.SENDER})


def _page_header_footer(disaster_name: str, as_of: date) -> HeaderFooter:
    """The disaster, the sheet and the as-of date (和暦) at the top of every page; page n of m at the foot."""
    name = disaster_name if len(disaster_name) <= _HEADER_NAME else disaster_name[: _HEADER_NAME - 1] + "…"
    # In header text & starts a code (&A the sheet's name, &P the page): a literal one is written &&.
    return HeaderFooter(
        oddHeader=HeaderFooterItem(
            left=_HeaderFooterPart(name.replace("&", "&&"), size=9),
            center=_HeaderFooterPart("&A", size=9),
            right=_HeaderFooterPart(f"{format_long(as_of)}時点", size=9),
        ),
        oddFooter=HeaderFooterItem(center=_HeaderFooterPart("&P / &N", size=9)),
    )


def _setup(
    sheet: WriteOnlyWorksheet,
    page: HeaderFooter,
    widths: Sequence[float],
    title_rows: str,
    freeze: str,
    gridlines: bool = False,
) -> None:
    """Column widths, frozen panes and the print setup: all of it before the first row, which is when a
    write-only sheet writes what comes before its rows."""
    # Worksheet._setup gives write-only sheets these same attributes; types-openpyxl leaves them out.
    printed = cast(Worksheet, sheet)
    for index, width in enumerate(widths, start=1):
        printed.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = freeze
    printed.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    printed.page_setup = PrintPageSetup(
        orientation="landscape" if sum(widths) > PORTRAIT_WIDTH else "portrait",
        paperSize=_A4,
        fitToWidth=1,
        fitToHeight=0,
    )
    printed.page_margins = _MARGINS
    printed.print_options = PrintOptions(horizontalCentered=True, gridLines=gridlines)
    sheet.print_title_rows = title_rows
    sheet.HeaderFooter = page


class _Cells:
    """The cells of one sheet's table: ruled on every side (an empty one too) unless the sheet prints its
    grid; bold, number formats and the header's shading as asked.

    openpyxl finds a style in the workbook's list by hashing it, on every cell it is set on: ruled cells
    took three times as long to write as plain ones. Each combination is set once here, and later cells
    start from a copy of the result."""

    def __init__(self, sheet: WriteOnlyWorksheet, ruled: bool = True) -> None:
        self.sheet = sheet
        self.ruled = ruled
        self._styles: dict[tuple[str | None, bool, bool], StyleArray] = {}

    def __call__(
        self,
        value: str | int | date,
        number_format: str | None = None,
        bold: bool = False,
        header: bool = False,
    ) -> Cell:
        text = _text(value) if isinstance(value, str) else value
        key = (number_format, bold, header)
        made = self._styles.get(key)
        if made is not None:
            # Cell copies the style array it is given.
            return Cell(self.sheet, row=1, column=1, value=text, style_array=made)
        cell = Cell(self.sheet, row=1, column=1, value=text)
        if self.ruled:
            cell.border = _RULED
        if number_format:
            cell.number_format = number_format
        if bold or header:
            cell.font = _BOLD
        if header:
            cell.fill = _HEADER_FILL
            cell.alignment = _HEADER_ALIGNMENT
        # The style array openpyxl built; types-openpyxl declares it only as a slot.
        self._styles[key] = copy(cell._style)  # type: ignore[attr-defined]
        return cell

    def header(self, labels: Iterable[str]) -> list[Cell]:
        """A table's header row: bold, shaded, centred and wrapped, printed again on every page."""
        return [self(label, header=True) for label in labels]


def _title(sheet: WriteOnlyWorksheet, heading: str, widths: Sequence[float]) -> None:
    """The first row: what the sheet holds, as of when, limited to what. Merged across the table and
    wrapped, since text running past the last column would be cut off on paper; merged cells do not grow
    by themselves, so the row is given the height of the lines it needs."""
    cell = WriteOnlyCell(sheet, value=_text(heading))
    cell.font = _TITLE_FONT
    cell.alignment = _TITLE_ALIGNMENT
    printed = cast(Worksheet, sheet)
    printed.merged_cells.add(f"A1:{get_column_letter(len(widths))}1")
    lines = math.ceil(_display_width(heading) * _TITLE_SCALE / sum(widths))
    printed.row_dimensions[1].height = _TITLE_LINE * max(lines, 1)
    sheet.append([cell])


def _display_width(text: str) -> int:
    """Columns the text takes: two for a full-width character, one for any other."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


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


# --- the sheets ---------------------------------------------------------------------------------------


def _entries_sheet(sheet: WriteOnlyWorksheet, page: HeaderFooter, rows: Iterable[EntryRow]) -> None:
    # Ruled by printing the grid rather than by a border on each cell: the sheet is the table, and plain
    # cells write in two thirds of the time of bordered ones, a difference a million entries feel.
    cell = _Cells(sheet, ruled=False)
    _setup(sheet, page, ENTRY_WIDTHS, title_rows="1:1", freeze="A2", gridlines=True)
    sheet.append(cell.header(ENTRY_HEADER))
    for day, operation, sender, unit, destination, duty, headcount, note in rows:
        sheet.append(
            [
                cell(day, DATE_FORMAT),
                _text(operation),
                _text(sender),
                _text(unit),
                _text(destination),
                _text(duty),
                headcount,
                _text(note),
            ]
        )


def _totals_sheet(sheet: WriteOnlyWorksheet, page: HeaderFooter, heading: str, table: Totals) -> None:
    by = table.by
    widths = (36, 12, 12, 12) if by in _CODED else (36, 12, 12)
    cell = _Cells(sheet)
    _setup(sheet, page, widths, title_rows="1:2", freeze="A3")
    _title(sheet, heading, widths)
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
    cell = _Cells(sheet)
    _setup(sheet, page, widths, title_rows="1:2", freeze=f"{get_column_letter(len(labels) + 1)}3")
    _title(sheet, heading, widths)
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
