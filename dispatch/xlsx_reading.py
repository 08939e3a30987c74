"""The rows of an .xlsx's FIRST sheet, read by python-calamine when the sheet's extent is known to be safe.

An .xlsx is read from its first sheet, whichever sheet was active when it was saved: a workbook the
tracker exported and someone saved while looking at its totals sheet still imports (issue 14).

python-calamine (Rust) reads a sheet 1.7 times faster than openpyxl for the same memory, but it builds the
sheet as one dense grid, from its first used cell to its last: a file of two cells, A1 and XFD1048576,
would become seventeen billion. So before it is handed the file, the sheet's XML is scanned (inflated in
chunks, never whole) for the row and cell references every spreadsheet program writes. When every row
and cell names its place, and the grid they span is within the bounds of limits.py, calamine reads it.
Any other sheet (cells without references, a grid past the bounds: a hostile or hand-made file) is read
row by row by openpyxl, whose rows sheets.py bounds one by one and refuses at the line that crosses a
bound, as before.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from posixpath import join, normpath
from xml.etree.ElementTree import ParseError, fromstring

from python_calamine import CalamineError, CalamineWorkbook

from .limits import MAX_IMPORT_CELLS, MAX_IMPORT_COLUMNS

Row = list[object]

_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PACKAGE_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
# Excel's last row: a reference beyond it is a file no spreadsheet wrote.
_EXCEL_MAX_ROWS = 1_048_576
# Inflated a chunk at a time, so the scan holds a few megabytes however large the sheet.
_CHUNK = 4 * 1024 * 1024

_ROW_TAG = re.compile(rb"<(?:\w+:)?row[\s/>]")
_CELL_TAG = re.compile(rb"<(?:\w+:)?c[\s/>]")
_ROW_REF = re.compile(rb'<(?:\w+:)?row\s[^>]*?\br="(\d{1,7})"')
_CELL_REF = re.compile(rb'<(?:\w+:)?c\s[^>]*?\br="([A-Z]{1,3})(\d{1,7})"')


class Unreadable(Exception):
    """Not a workbook this reader can open."""


def first_sheet_part(archive: zipfile.ZipFile) -> str:
    """The zip path of the workbook's first sheet, as the workbook lists its sheets (not the active one)."""
    try:
        workbook = fromstring(archive.read("xl/workbook.xml"))
        relations = fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except (KeyError, ParseError, ValueError) as exc:
        raise Unreadable from exc
    sheet = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
    if sheet is None:
        raise Unreadable
    wanted = sheet.get(f"{_REL}id")
    for relation in relations.iter(f"{_PACKAGE_REL}Relationship"):
        if relation.get("Id") == wanted:
            target = relation.get("Target", "")
            return target.lstrip("/") if target.startswith("/") else normpath(join("xl", target))
    raise Unreadable


def grid_is_safe(archive: zipfile.ZipFile, part: str) -> bool:
    """Whether every row and cell of the sheet names its place and the grid they span is within bounds."""
    rows = cells = row_refs = cell_refs = 0
    last_row = last_column = 0
    columns: set[bytes] = set()
    rest = b""
    try:
        with archive.open(part) as sheet:
            while chunk := sheet.read(_CHUNK):
                # Up to the last tag's end: a tag cut in two is scanned with the next chunk.
                chunk = rest + chunk
                cut = chunk.rfind(b">") + 1
                chunk, rest = chunk[:cut], chunk[cut:]
                rows += len(_ROW_TAG.findall(chunk))
                cells += len(_CELL_TAG.findall(chunk))
                numbers = _ROW_REF.findall(chunk)
                row_refs += len(numbers)
                last_row = max(last_row, *map(int, numbers), 0)
                refs = _CELL_REF.findall(chunk)
                cell_refs += len(refs)
                columns.update(column for column, _ in refs)
                last_row = max(last_row, *(int(number) for _, number in refs), 0)
                last_column = max(last_column, *map(_column_number, columns), 0)
                if len(rest) > _CHUNK:
                    return False  # a tag megabytes long
    except (KeyError, zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise Unreadable from exc
    if rows != row_refs or cells != cell_refs:
        return False
    if last_row > _EXCEL_MAX_ROWS or last_column > MAX_IMPORT_COLUMNS:
        return False
    return last_row * last_column <= MAX_IMPORT_CELLS


def _column_number(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number


def calamine_rows(data: bytes) -> Iterator[tuple[int, Row]]:
    """The first sheet's rows with Excel's row numbers, from row 1 (empty rows included, as '' cells)."""
    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        sheet = workbook.get_sheet_by_index(0)
        # iter_rows starts at row 1 whatever the first used row, and at the first used column.
        yield from enumerate(sheet.iter_rows(), start=1)
    except CalamineError as exc:
        raise Unreadable from exc
