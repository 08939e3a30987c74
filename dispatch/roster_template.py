"""The file to start a roster import from: the importer's header, one example row, and (in .xlsx) drop-down
lists.

Offered as the entries' template is (import_template.py): CSV in UTF-8 with BOM, and .xlsx whose first
sheet, 名簿, is what the importer reads, and whose second, 選択肢, holds the lists for 職員区分, 派遣区分,
業務, 班の種類 and 移動日. The example row names this disaster's own operation, bodies and duty, so it
imports as it is; its 連絡先 says to delete it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import IO

from openpyxl.utils import get_column_letter

from .import_template import (
    EXAMPLE_NOTE,
    Example,
    add_choice_lists,
    as_csv_row,
    duty_names,
    offered_operations,
    start_workbook,
)
from .models import Disaster
from .roster_import import COLUMNS, TRAVEL_DAY_WORDS
from .roster_models import STAFF_KIND_LABELS, TEAM_TYPE_LABELS, StaffKind

HEADER = tuple(label for _, label, _ in COLUMNS)
SHEET = "名簿"
# The example person's stint: the disaster's first week, its first and last days travel days.
EXAMPLE_DAYS = 7


def example_row(disaster: Disaster) -> list[object]:
    """A row the importer takes for this disaster: a prefecture's staff member in its first team."""
    example = Example.of(disaster)
    cells: dict[str, object] = {
        "team": "第1陣",
        "name": "防災 太郎",
        "kana": "ボウサイ タロウ",
        "sender": example.sender,
        "sender_unit": "総務部危機管理課",
        "job_type": "一般事務",
        "position": "主査",
        "staff_kind": STAFF_KIND_LABELS[StaffKind.PREFECTURE],
        "operation": example.operation,
        "destination": example.destination,
        "duty": example.duty,
        "from": disaster.start_date,
        "to": disaster.start_date + timedelta(days=EXAMPLE_DAYS - 1),
        "contact": EXAMPLE_NOTE,
        "travel_days": "両方",
    }
    return [cells.get(field, "") for field, _, _ in COLUMNS]


def csv_rows(disaster: Disaster) -> list[Sequence[object]]:
    return [as_csv_row(example_row(disaster))]


def write_xlsx(target: IO[bytes], disaster: Disaster) -> None:
    book, sheet = start_workbook(SHEET, HEADER, example_row(disaster))
    for index, (field, label, _) in enumerate(COLUMNS, start=1):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(len(label) * 2 + 2, 12)
        if field in ("from", "to"):
            sheet[f"{letter}2"].number_format = "yyyy-mm-dd"
    sheet.column_dimensions[_column("contact")].width = 40
    sheet.freeze_panes = "C2"
    add_choice_lists(
        book,
        sheet,
        [
            (_column("staff_kind"), "職員区分", list(STAFF_KIND_LABELS.values())),
            (_column("operation"), "派遣区分", offered_operations(disaster)),
            (_column("duty"), "業務", duty_names()),
            (_column("team_type"), "班の種類", list(TEAM_TYPE_LABELS.values())),
            (_column("travel_days"), "移動日", list(TRAVEL_DAY_WORDS)),
        ],
    )
    book.active = 0
    book.save(target)


def _column(field: str) -> str:
    """The letter of the importer's column for `field` in the template."""
    return get_column_letter(next(i for i, (name, _, _) in enumerate(COLUMNS, start=1) if name == field))
