"""The rows of an uploaded .csv or .xlsx, within the bounds of limits.py, for the importer.

A file comes from anyone who may import, so nothing in it is trusted to be small: a 2 MB .xlsx can inflate
to gigabytes of XML, one cell can hold a hundred million characters, a row can name its last cell XFD (and
be padded with 16,384 empty ones), a row number can jump to a billion. Each bound is checked as early as it
can be: the file's size first; for an .xlsx the zip's directory (how many parts, how large each inflates
to, at what ratio) before openpyxl opens it, which Python's zipfile then holds to (it stops a part at the
size its directory declares); and rows, columns and cells while the rows are read. Every refusal is an
ImportRefused naming the line, or line 0 for the file as a whole.

Decoding follows what Excel writes: CSV in CP932 unless the file starts with a UTF-8 BOM.
"""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from xml.etree.ElementTree import ParseError

from openpyxl import load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from .errors import ImportRefused
from .limits import (
    MAX_IMPORT_BYTES,
    MAX_IMPORT_CELLS,
    MAX_IMPORT_COLUMNS,
    MAX_IMPORT_ROWS,
    XLSX_MAX_PARTS,
    XLSX_MAX_RATIO,
    XLSX_MAX_UNCOMPRESSED,
    XLSX_RATIO_FROM,
)
from .xlsx_reading import Unreadable, calamine_rows, first_sheet_part, grid_is_safe

__all__ = ["UNSUPPORTED_FORMAT", "Row", "RowError", "read_rows"]

Row = Sequence[object]

UNSUPPORTED_FORMAT = "対応していないファイル形式です（.csv または .xlsx）"
UNREADABLE_XLSX = "Excel ファイル（.xlsx）として読めません"
# The last row Excel has; a row numbered beyond it is a file no spreadsheet wrote.
EXCEL_MAX_ROWS = 1_048_576
_MB = 1024 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# The zip's end-of-central-directory record: signature, disk numbers, entries, directory size and offset.
_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
# A directory entry is 46 bytes and its name; no xlsx part is named in more than a few hundred.
_DIRECTORY_ENTRY_BYTES = 512


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in the file. Line 1 is the header row, as Excel numbers it; 0 is the file as a whole."""

    line: int
    message: str

    def describe(self) -> str:
        return f"{self.line}行目: {self.message}"


def refused(line: int, message: str) -> ImportRefused:
    return ImportRefused([RowError(line, message)])


def read_rows(data: bytes, filename: str, encoding: str) -> Iterator[tuple[int, Row]]:
    """The file's rows that are not blank, with the line Excel shows, the header first; ImportRefused when the
    file is not one the importer reads or crosses a bound of limits.py (at once, or at the row that does)."""
    if len(data) > MAX_IMPORT_BYTES:
        raise refused(
            0, f"ファイルが大きすぎます（{MAX_IMPORT_BYTES // _MB}MBまで）。ファイルを分けてください"
        )
    suffix = PurePath(filename).suffix.lower()
    if suffix == ".csv":
        return _bounded(_csv_rows(_decode(data, encoding)))
    if suffix == ".xlsx":
        _check_zip(data)
        return _bounded(_xlsx_rows(data))
    raise refused(0, UNSUPPORTED_FORMAT)


def is_blank(cells: Row) -> bool:
    # A loop rather than all() over a generator: called for every row, and most rows end at the first cell.
    for c in cells:  # noqa: SIM110
        if c is not None and (not isinstance(c, str) or c.strip()):
            return False
    return True


def _bounded(rows: Iterable[tuple[int, Row]]) -> Iterator[tuple[int, Row]]:
    """Rows within the bounds, blank ones left out; refused at the first row past one."""
    cells = 0
    data_rows = -1  # the header is not a data row
    for line, row in rows:
        if line > EXCEL_MAX_ROWS:
            raise refused(line, f"行番号が Excel の上限（{EXCEL_MAX_ROWS:,}行）を超えています")
        cells += len(row)
        if cells > MAX_IMPORT_CELLS:
            raise refused(line, f"セルが多すぎます（空のセルも含めて{MAX_IMPORT_CELLS:,}個まで）")
        if len(row) > MAX_IMPORT_COLUMNS:
            if not is_blank(row[MAX_IMPORT_COLUMNS:]):
                raise refused(line, f"列が多すぎます（{MAX_IMPORT_COLUMNS}列まで）")
            row = row[:MAX_IMPORT_COLUMNS]
        if is_blank(row):
            continue
        data_rows += 1
        if data_rows > MAX_IMPORT_ROWS:
            raise refused(
                line, f"行が多すぎます（見出しを除いて{MAX_IMPORT_ROWS:,}行まで）。ファイルを分けてください"
            )
        yield line, row


# --- CSV --------------------------------------------------------------------------------------------


def _decode(data: bytes, encoding: str) -> str:
    wanted = encoding.strip().lower().replace("_", "-")
    if wanted in ("utf-8", "utf8", "utf-8-sig"):
        return _decode_as(data, "utf-8-sig", "UTF-8")
    if wanted == "cp932":
        return _decode_as(data, "cp932", "CP932（シフトJIS）")
    if wanted != "auto":
        raise refused(0, f"対応していない文字コードです: {encoding}（auto、utf-8、cp932）")
    if data.startswith(_UTF8_BOM):
        return _decode_as(data, "utf-8-sig", "UTF-8")
    if data.startswith(_UTF16_BOMS):
        raise refused(0, "UTF-16 のファイルには対応していません。CSV（UTF-8 または CP932）で保存してください")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp932")
    except UnicodeDecodeError as exc:
        raise refused(
            _line_of(data, exc.start),
            "文字コードを判別できません（UTF-8 としても CP932 としても読めません）",
        ) from exc


def _decode_as(data: bytes, codec: str, shown: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise refused(_line_of(data, exc.start), f"文字コード {shown} として読めない文字があります") from exc


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _csv_rows(text: str) -> Iterator[tuple[int, Row]]:
    # Rows are counted as records, as Excel numbers them, not as physical lines: a quoted cell may
    # hold a line break.
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 0
    try:
        for row in reader:
            line += 1
            yield line, row
    except csv.Error as exc:
        if "field larger than field limit" in str(exc):
            # The csv module's own bound (131,072 characters), far beyond any column's limit.
            raise refused(line + 1, f"セルが長すぎます（{csv.field_size_limit():,}文字まで）") from exc
        raise refused(reader.line_num, f"CSV として読めません: {exc}") from exc


# --- .xlsx ------------------------------------------------------------------------------------------


def _check_zip(data: bytes) -> None:
    """Refuse an .xlsx whose parts would inflate past the bounds, reading only the zip's directory."""
    _check_directory_size(data)
    try:
        parts = zipfile.ZipFile(io.BytesIO(data)).infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise refused(0, UNREADABLE_XLSX) from exc
    if len(parts) > XLSX_MAX_PARTS:
        raise refused(0, f"{UNREADABLE_XLSX}（中の部品が{XLSX_MAX_PARTS:,}個を超えています）")
    inflated = sum(part.file_size for part in parts)
    if inflated > XLSX_MAX_UNCOMPRESSED:
        raise refused(
            0,
            f"展開すると{inflated / _MB:,.0f}MBになるファイルです（{XLSX_MAX_UNCOMPRESSED // _MB}MBまで）。"
            "ファイルを分けるか、CSV で保存してください",
        )
    for part in parts:
        if part.file_size >= XLSX_RATIO_FROM and part.file_size > XLSX_MAX_RATIO * max(part.compress_size, 1):
            raise refused(
                0,
                f"{part.filename} が異常に高い圧縮率（{part.file_size // max(part.compress_size, 1):,}倍、"
                f"{XLSX_MAX_RATIO}倍まで）で圧縮されています。Excel で保存し直してください",
            )


def _check_directory_size(data: bytes) -> None:
    """Refuse a zip whose directory alone lists too many parts, before zipfile reads every entry of it."""
    tail = data[-(_END_OF_DIRECTORY.size + 0xFFFF) :]
    at = tail.rfind(_END_SIGNATURE)
    if at < 0 or len(tail) - at < _END_OF_DIRECTORY.size:
        return  # not a zip: zipfile says so
    *_, entries, directory_bytes, _offset, _comment = _END_OF_DIRECTORY.unpack_from(tail, at)
    if entries > XLSX_MAX_PARTS or directory_bytes > XLSX_MAX_PARTS * _DIRECTORY_ENTRY_BYTES:
        raise refused(0, f"{UNREADABLE_XLSX}（中の部品が{XLSX_MAX_PARTS:,}個を超えています）")


# What openpyxl raises on a file that is not a workbook, or a damaged one.
_UNREADABLE = (
    InvalidFileException,
    zipfile.BadZipFile,
    zlib.error,
    ParseError,
    KeyError,
    ValueError,
    OSError,
    EOFError,
)


def _xlsx_rows(data: bytes) -> Iterator[tuple[int, Row]]:
    """The first sheet's rows (not the active one's): by python-calamine when its grid is known to be within
    the bounds, else row by row through openpyxl (xlsx_reading says why)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        part = first_sheet_part(archive)
        safe = grid_is_safe(archive, part)
    except (Unreadable, zipfile.BadZipFile, ValueError, OSError) as exc:
        raise refused(0, UNREADABLE_XLSX) from exc
    if safe:
        try:
            yield from calamine_rows(data)
        except Unreadable as exc:
            raise refused(0, UNREADABLE_XLSX) from exc
        return
    yield from _openpyxl_rows(data)


def _openpyxl_rows(data: bytes) -> Iterator[tuple[int, Row]]:
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except _UNREADABLE as exc:
        raise refused(0, UNREADABLE_XLSX) from exc
    try:
        sheet = workbook.worksheets[0] if workbook.worksheets else None
        if sheet is None or not hasattr(sheet, "reset_dimensions"):
            raise refused(0, "先頭のシートが表ではありません")
        # Some writers record a wrong used range, and read-only mode would trust it and cut rows short.
        sheet.reset_dimensions()
        # Missing rows come back empty, so the count is Excel's own row number.
        yield from enumerate(sheet.iter_rows(values_only=True), start=1)
    except _UNREADABLE as exc:
        raise refused(0, UNREADABLE_XLSX) from exc
    finally:
        workbook.close()
