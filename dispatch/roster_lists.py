"""受入名簿 (per destination) and 派遣名簿 (per sender), for a date or a team, as CSV and as .xlsx that prints.

Both are personal data: the file name starts 【個人情報】 and so does the first row, so a file forwarded or
printed says what it holds wherever it goes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import IO

from openpyxl import Workbook
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from .extensions import db
from .models import Disaster, Organisation
from .roster_models import Person, Stint, Team
from .wareki import format_long
from .xlsx_print import COUNT_FORMAT, DATE_FORMAT, Cells, page_header_footer, setup_sheet, title_row

PERSONAL = "【個人情報】"
HEADER = (
    "番号", "氏名", "氏名カナ", "派遣元", "所属", "職種", "職名", "職員区分", "班", "派遣先", "配属先",
    "開始日", "終了日", "連絡先",
)  # fmt: skip
WIDTHS = (6, 16, 18, 16, 20, 12, 12, 12, 8, 16, 20, 12, 12, 18)


@dataclass(frozen=True)
class RosterList:
    """Which list: receiving (受入名簿, by destination) or sending (派遣名簿, by sender), of one body,
    for a date or a team."""

    receiving: bool
    organisation: Organisation
    day: date | None = None
    team: Team | None = None

    @property
    def title(self) -> str:
        kind = "受入名簿" if self.receiving else "派遣名簿"
        when = (
            f"{self.team.label}" if self.team is not None else f"{format_long(self.day)}" if self.day else ""
        )
        return f"{PERSONAL}{kind} {self.organisation.name} {when}"

    def stints(self, disaster: Disaster) -> list[Stint]:
        stmt = (
            select(Stint)
            .join(Stint.team)
            .join(Stint.person)
            .options(contains_eager(Stint.team), contains_eager(Stint.person))
            .where(Team.disaster_id == disaster.id, Person.removed.is_(False))
            .order_by(Team.start_date, Team.number, Person.kana, Person.id)
        )
        if self.receiving:
            stmt = stmt.where(Team.destination_id == self.organisation.id)
        else:
            stmt = stmt.where(Person.sender_id == self.organisation.id)
        if self.team is not None:
            stmt = stmt.where(Stint.team_id == self.team.id)
        if self.day is not None:
            stmt = stmt.where(Stint.start_date <= self.day, Stint.end_date >= self.day)
        return list(db.session.scalars(stmt).unique())


def rows(stints: Sequence[Stint]) -> list[list[object]]:
    return [
        [
            n, s.person.name, s.person.kana, s.person.sender.name, s.person.sender_unit, s.person.job_type,
            s.person.position, s.person.staff_kind_label, s.team.label, s.team.destination.name,
            s.team.receiving_section, s.start_date, s.end_date, s.person.contact,
        ]
        for n, s in enumerate(stints, start=1)
    ]  # fmt: skip


def csv_rows(stints: Sequence[Stint]) -> list[list[object]]:
    return [[*r[:11], r[11].isoformat(), r[12].isoformat(), r[13]] for r in rows(stints)]  # type: ignore[attr-defined]


def write_list(
    target: IO[bytes], disaster: Disaster, which: RosterList, stints: Sequence[Stint], as_of: date
) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("受入名簿" if which.receiving else "派遣名簿")
    setup_sheet(
        sheet,
        page_header_footer(f"{PERSONAL}{disaster.name}", which.day or as_of),
        WIDTHS,
        "1:2",
        "A3",
    )
    title_row(sheet, f"{which.title}（{len(stints)}人）", WIDTHS)
    cells = Cells(sheet)
    sheet.append(cells.header(HEADER))
    for row in rows(stints):
        sheet.append(
            [
                cells(v, COUNT_FORMAT)
                if isinstance(v, int)
                else cells(v, DATE_FORMAT)
                if isinstance(v, date)
                else cells(str(v))
                for v in row
            ]  # fmt: skip
        )
    workbook.save(target)
