"""The file to start an import from: the importer's header, one example row, and (in .xlsx) drop-down lists.

Offered as CSV (UTF-8 with BOM, which Excel opens without asking) and as .xlsx, where 派遣区分 and 業務
are chosen from lists of the disaster's operations and the duties (data validation drawing on a second
sheet, 選択肢). The importer reads the first sheet, 派遣, so the lists never get in the way. The example
row names real values of this disaster, so it imports as it is; its note says to delete it. The roster's
template (roster_template.py) is built from the same parts: the example's names, the first sheet and the
lists' sheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import select

from .extensions import db
from .importing import COLUMNS
from .models import Disaster, Duty, Operation, Organisation, OrgKind

HEADER = tuple(column.label for column in COLUMNS)
EXAMPLE_NOTE = "記入例です。この行は消してから取り込んでください"
# Rows of the template the drop-down lists cover: far more than a day's rota, fewer than would slow Excel.
LISTED_ROWS = 10_000
SHEET = "派遣"
CHOICES = "選択肢"


@dataclass(frozen=True)
class Example:
    """The names an example row gives, all of this disaster: its first open operation, a prefecture it
    struck sending to one of that prefecture's municipalities, the first duty ("" where there is none)."""

    operation: str
    sender: str
    destination: str
    duty: str

    @classmethod
    def of(cls, disaster: Disaster) -> Example:
        operation = _first_operation(disaster)
        prefecture = disaster.prefectures[0] if disaster.prefectures else _first_prefecture()
        destination = _a_municipality_of(prefecture) if prefecture is not None else None
        duty = db.session.scalar(select(Duty).order_by(Duty.id).limit(1))
        return cls(
            operation=operation.name if operation else "",
            sender=prefecture.name if prefecture else "",
            destination=destination.name if destination else "",
            duty=duty.name_ja if duty else "",
        )


def example_row(disaster: Disaster) -> list[object]:
    """A row the importer takes for this disaster."""
    example = Example.of(disaster)
    return [
        disaster.start_date,
        example.operation,
        example.sender,
        "総務部",
        example.destination,
        example.duty,
        2,
        EXAMPLE_NOTE,
    ]


def csv_rows(disaster: Disaster) -> list[Sequence[object]]:
    return [as_csv_row(example_row(disaster))]


def as_csv_row(row: Sequence[object]) -> list[object]:
    """A template's row for CSV: dates written as ISO dates, the form every importer reads."""
    return [cell.isoformat() if isinstance(cell, date) else cell for cell in row]


def write_xlsx(target: IO[bytes], disaster: Disaster) -> None:
    book, sheet = start_workbook(SHEET, HEADER, example_row(disaster))
    sheet["A2"].number_format = "yyyy-mm-dd"
    for column, width in zip("ABCDEFGH", (12, 30, 16, 16, 16, 22, 8, 40), strict=True):
        sheet.column_dimensions[column].width = width
    sheet.freeze_panes = "A2"
    lists = [("B", "派遣区分", offered_operations(disaster)), ("F", "業務", duty_names())]
    add_choice_lists(book, sheet, lists)
    book.active = 0
    book.save(target)


def start_workbook(
    title: str, header: Sequence[str], example: Sequence[object]
) -> tuple[Workbook, Worksheet]:
    """A template's workbook: its first sheet, the one importers read, with the header in bold and the
    example row."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    sheet.append(list(header))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.append(list(example))
    return book, sheet


def offered_operations(disaster: Disaster) -> list[str]:
    """The operations a template's list offers: those not ended, or every one when all have ended."""
    return [op.name for op in disaster.operations if op.end_date is None] or [
        op.name for op in disaster.operations
    ]


def duty_names() -> list[str]:
    return [name for (name,) in db.session.execute(select(Duty.name_ja).order_by(Duty.id))]


def add_choice_lists(
    book: Workbook, sheet: Worksheet, lists: Sequence[tuple[str, str, Sequence[str]]]
) -> None:
    """Drop-down lists for a template's columns: for each (column, label, values), the values in a column
    of the sheet 選択肢 under the label, and a data validation that offers them in `column` of `sheet`."""
    choices = book.create_sheet(CHOICES)
    choices.append([label for _, label, _ in lists])
    for n in range(max((len(values) for _, _, values in lists), default=0)):
        choices.append([values[n] if n < len(values) else None for _, _, values in lists])
    for index, (column, label, values) in enumerate(lists, start=1):
        letter = get_column_letter(index)
        # Two widths a character: the labels and values are Japanese.
        choices.column_dimensions[letter].width = min(max([len(label), *map(len, values)]) * 2 + 2, 60)
        if not values:
            continue
        validation = DataValidation(
            type="list", formula1=f"'{CHOICES}'!${letter}$2:${letter}${len(values) + 1}", allow_blank=True
        )
        validation.error = f"{label}は一覧から選んでください（シート「{CHOICES}」）"
        validation.errorTitle = label
        validation.prompt = f"{label}を一覧から選びます"
        validation.add(f"{column}2:{column}{LISTED_ROWS + 1}")
        sheet.add_data_validation(validation)


def _first_operation(disaster: Disaster) -> Operation | None:
    open_ones = [op for op in disaster.operations if op.end_date is None]
    candidates = open_ones or list(disaster.operations)
    return candidates[0] if candidates else None


def _first_prefecture() -> Organisation | None:
    return db.session.scalar(
        select(Organisation)
        .where(Organisation.kind == OrgKind.PREFECTURE, Organisation.active.is_(True))
        .order_by(Organisation.code)
        .limit(1)
    )


def _a_municipality_of(prefecture: Organisation) -> Organisation | None:
    return db.session.scalar(
        select(Organisation)
        .where(
            Organisation.prefecture_id == prefecture.id,
            Organisation.kind.in_([OrgKind.CITY, OrgKind.TOWN, OrgKind.VILLAGE, OrgKind.SPECIAL_WARD]),
            Organisation.active.is_(True),
        )
        .order_by(Organisation.code)
        .limit(1)
    )
