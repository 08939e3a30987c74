"""How an exported sheet is laid out and printed, whatever it holds: the division files its sheets on paper.

Split from exports.py, which says what each export contains; the roster lists (roster_lists.py) print the
same way. A sheet is set up before its first row (a write-only sheet writes what comes before its rows
then): A4, one page wide, its title rows on every page, the disaster and the as-of date in the page header
and page numbers in the footer. Its table is ruled, its header row bold and shaded, and its first row is a
title merged across the table. Every text cell is written as Excel shows it typed, never as a formula, in
.xlsx as in CSV (``neutralise``).
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable, Sequence
from copy import copy
from datetime import date
from typing import TYPE_CHECKING, cast

from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.header_footer import HeaderFooter, HeaderFooterItem, _HeaderFooterPart
from openpyxl.worksheet.page import PageMargins, PrintOptions, PrintPageSetup
from openpyxl.worksheet.properties import PageSetupProperties
from openpyxl.worksheet.worksheet import Worksheet

from .wareki import format_long

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
DATE_FORMAT = "yyyy/mm/dd"
COUNT_FORMAT = "#,##0"


def neutralise(value: object) -> str:
    """A cell as text that Excel shows as typed, never runs: a leading ' before = + - @ tab CR.

    A lone sign is no formula (a note 「-」 means "none") and is written as typed: one character cannot
    call anything.
    """
    text = "" if value is None else str(value)
    if len(text) > 1 and text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def cell_text(value: str) -> str | None:
    """A string cell: shown as typed, never a formula, without the control characters .xlsx cannot hold;
    an empty string is an empty cell."""
    return ILLEGAL_CHARACTERS_RE.sub("", neutralise(value)) or None


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


def page_header_footer(disaster_name: str, as_of: date) -> HeaderFooter:
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


def setup_sheet(
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


class Cells:
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
        text = cell_text(value) if isinstance(value, str) else value
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


def title_row(sheet: WriteOnlyWorksheet, heading: str, widths: Sequence[float]) -> None:
    """The first row: what the sheet holds, as of when, limited to what. Merged across the table and
    wrapped, since text running past the last column would be cut off on paper; merged cells do not grow
    by themselves, so the row is given the height of the lines it needs."""
    cell = WriteOnlyCell(sheet, value=cell_text(heading))
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
