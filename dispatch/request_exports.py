"""Exports of the requests and of the fill: rows for CSV (exports.csv_response, BOM or CP932) and a
workbook that prints (A4, title rows repeated).

The requests export carries the importer's columns (request_import.py), one row per revision and a 取下げ
row for a withdrawn request: an exported file imports back as the same requests into another disaster.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import IO

from openpyxl import Workbook

from .fill import Fill
from .models import Disaster
from .request_models import RequestState, StaffRequest
from .requests import request_list
from .wareki import format_long
from .xlsx_print import neutralise

FILL_HEADER = (
    "派遣先コード",
    "派遣先",
    "業務コード",
    "業務",
    "要請（人/日）",
    "調整済み（人/日）",
    "従事（人）",
    "未充足（人）",
)
_STATE_TEXT = {RequestState.COORDINATING.value: "調整中", RequestState.CLOSED.value: "終了"}


def request_rows(disaster: Disaster, organisation_id: int | None = None) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for request in request_list(disaster, organisation_id):
        rows.extend(_rows_of(request))
    return rows


def _rows_of(request: StaffRequest) -> list[tuple[object, ...]]:
    def row(
        start: date, end: date, persons: int, fiscal_year: int | None, status: str, note: str
    ) -> tuple[object, ...]:
        return (
            request.number,
            request.received_on.isoformat(),
            request.requester.code,
            request.route_label,
            request.duty.code if request.duty else "",
            request.job_type,
            persons,
            start.isoformat(),
            end.isoformat(),
            fiscal_year or "",
            request.place,
            status,
            note,
        )

    state = _STATE_TEXT.get(request.state, "")
    rows = [
        row(
            r.date_from,
            r.date_to,
            r.persons,
            r.fiscal_year,
            state,
            r.note or (request.note if n == 0 else ""),
        )
        for n, r in enumerate(request.revisions)
    ]
    if request.withdrawn_on is not None:
        last = request.revisions[-1]
        rows.append(
            row(
                request.withdrawn_on,
                max(request.withdrawn_on, last.date_to),
                0,
                last.fiscal_year,
                "取下げ",
                "",
            )
        )
    return rows


def fill_rows(fill: Fill) -> list[tuple[object, ...]]:
    return [
        (
            r.destination,
            r.destination_name,
            r.duty,
            r.duty_name,
            r.requested,
            r.assigned,
            r.on_duty,
            r.unfilled,
        )
        for r in fill.rows
    ]


def write_table_workbook(
    target: IO[bytes], title: str, sheet_name: str, header: Sequence[str], rows: Sequence[Sequence[object]]
) -> None:
    """One sheet: the title, the header, the rows; A4 landscape, one page wide, title rows on every page."""
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = sheet_name
    sheet.append([title])
    sheet.append(list(header))
    for row in rows:
        sheet.append([_cell(value) for value in row])
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.paperSize = sheet.PAPERSIZE_A4
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True  # type: ignore[union-attr]
    sheet.print_title_rows = "1:2"
    workbook.save(target)


def _cell(value: object) -> object:
    # A cell Excel would run as a formula is written as text with the export's apostrophe
    # (xlsx_print.neutralise).
    return neutralise(value) if isinstance(value, str) else value


def fill_title(disaster: Disaster, day: date) -> str:
    return f"{disaster.name}　充足状況　{format_long(day)}時点"
