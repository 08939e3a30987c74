"""The roster import (roster_import.py, roster_writing.py): travel days (移動日) from the file, one audit record
for the file, closed days guarded, and the derived entries exact.

The figures are worked out by hand. 長崎県 第1陣 → 珠洲市, 16 persons (県8, 長崎市8), 2024-02-20..02-27 (8 days),
its first and last days travel days: under an operation that does not count travel days each person serves
2/21..2/26, 6 days, so 16 × 6 = 96 person-days, 16 on each of those days and none on 2/20 or 2/27; once the
operation counts them, 16 × 8 = 128.
"""

from __future__ import annotations

import hashlib
import io
from datetime import date, datetime
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select

from dispatch import tally_check
from dispatch.closing import close_day
from dispatch.extensions import db
from dispatch.import_template import EXAMPLE_NOTE
from dispatch.import_writing import imported_from
from dispatch.models import AuditRecord, Entry
from dispatch.roster import set_travel_days_count
from dispatch.roster_models import Person, Stint, Team
from tests import factories

SLUG = "noto-travel"
DEMO = factories.BASE
HEADER = "班,氏名,氏名カナ,派遣元,職員区分,派遣区分,派遣先,業務,開始日,終了日,移動日\n"


def sixteen(travel: str = "両方", *, only_first_row: bool = False) -> str:
    """第1陣 of 長崎県 (8) and 長崎市 (8) → 珠洲市, 2/20..2/27; 移動日 on every row, or on the first alone."""
    lines = [HEADER]
    for n in range(16):
        sender, kind = ("長崎県", "県職員") if n < 8 else ("長崎市", "市町村職員")
        said = travel if n == 0 or not only_first_row else ""
        lines.append(
            f"第1陣,職員{n:02d},ショクイン{n:02d},{sender},{kind},counterpart,珠洲市,給水業務,2024-02-20,2024-02-27,"
            f"{said}\n"
        )
    return "".join(lines)


def _setup(app: Flask, *, travel_days_count: bool) -> None:
    with app.app_context():
        op = factories.operation(factories.disaster(SLUG, date(2024, 1, 1)), "counterpart")
        set_travel_days_count(op, travel_days_count, factories.hq())
        db.session.commit()


def _import(runner: FlaskCliRunner, tmp_path: Path, text: str, *args: str) -> tuple[int, str]:
    path = tmp_path / "roster.csv"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(args=["import-roster", SLUG, str(path), *args])
    return result.exit_code, result.output


def _person_days(on: date | None = None) -> int:
    stmt = select(func.coalesce(func.sum(Entry.headcount), 0))
    if on is not None:
        stmt = stmt.where(Entry.date == on)
    return int(db.session.scalar(stmt) or 0)


def test_travel_days_from_the_file_leave_out_the_first_and_last_day(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    _setup(app, travel_days_count=False)
    code, output = _import(runner, tmp_path, sixteen("両方", only_first_row=True))
    assert code == 0, output
    assert "16 rows: 16 new people, 1 new teams" in output
    with app.app_context():
        team = db.session.scalars(select(Team)).one()
        assert (team.travel_at_start, team.travel_at_end) == (True, True)
        assert _person_days() == 96  # 16 × 6
        assert _person_days(date(2024, 2, 20)) == 0
        assert _person_days(date(2024, 2, 21)) == 16
        assert _person_days(date(2024, 2, 26)) == 16
        assert _person_days(date(2024, 2, 27)) == 0
        disaster = factories.disaster(SLUG)
        assert tally_check.check(disaster.id) == []
        set_travel_days_count(factories.operation(disaster, "counterpart"), True, factories.hq())
        db.session.commit()
        assert _person_days() == 128  # 16 × 8
        assert tally_check.check(disaster.id) == []
    totals = runner.invoke(args=["totals", SLUG, "--as-of", "2024-03-31", "--format", "json"])
    assert '"persons": 16' in totals.output and '"person_days": 128' in totals.output


def test_each_travel_day_word_a_clerk_types(runner: FlaskCliRunner, app: Flask, tmp_path: Path) -> None:
    _setup(app, travel_days_count=False)
    # 初日: 2/21..2/27 is 7 days each; then 最終日 on a new import of the same team: 2/20..2/26, 7 days.
    assert _import(runner, tmp_path, sixteen("初日"))[0] == 0
    with app.app_context():
        assert _person_days() == 16 * 7
        assert _person_days(date(2024, 2, 20)) == 0
    assert _import(runner, tmp_path, sixteen("復路"))[0] == 0
    with app.app_context():
        team = db.session.scalars(select(Team)).one()
        assert (team.travel_at_start, team.travel_at_end) == (False, True)
        assert _person_days() == 16 * 7
        assert _person_days(date(2024, 2, 20)) == 16 and _person_days(date(2024, 2, 27)) == 0
        assert db.session.scalar(select(func.count()).select_from(Stint)) == 16
        # The team's change of travel days is audited, as any change to a team.
        changed = db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "team")).one()
        assert changed.before == {"start_date": "2024-02-20", "end_date": "2024-02-27", "travel_at_start": True,
                                  "travel_at_end": False}  # fmt: skip
        assert changed.after is not None and changed.after["travel_at_end"] is True
    # なし, and a blank 移動日 leaves the team as it is.
    assert _import(runner, tmp_path, sixteen(""))[0] == 0
    with app.app_context():
        assert _person_days() == 16 * 7
    assert _import(runner, tmp_path, sixteen("なし"))[0] == 0
    with app.app_context():
        assert _person_days() == 16 * 8
        assert tally_check.check(factories.disaster(SLUG).id) == []


def test_a_bad_travel_value_names_its_line_and_writes_nothing(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    _setup(app, travel_days_count=False)
    bad = sixteen("両方").replace(
        "職員03,ショクイン03,長崎県,県職員,counterpart,珠洲市,給水業務,2024-02-20,2024-02-27,両方",
        "職員03,ショクイン03,長崎県,県職員,counterpart,珠洲市,給水業務,2024-02-20,2024-02-27,たぶん",
    )
    bad = bad.replace("2024-02-27,両方\n第1陣,職員05", "2024-02-27,初日\n第1陣,職員05")
    code, output = _import(runner, tmp_path, bad)
    assert code == 1
    assert "roster.csv:5行目: 移動日「たぶん」: 初日・最終日・両方・なし のいずれかです" in output
    assert "roster.csv:6行目: 移動日が同じ班の2行目と違います" in output
    with app.app_context():
        for model in (Person, Team, Stint, Entry):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_the_import_is_one_record_naming_the_file_and_each_entry_finds_it(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    _setup(app, travel_days_count=False)
    text = sixteen("両方")
    assert _import(runner, tmp_path, text)[0] == 0
    with app.app_context():
        record = db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "import")).one()
        after = record.after or {}
        assert after["file"] == "roster.csv"
        assert after["sha256"] == hashlib.sha256(text.encode()).hexdigest()
        assert (after["first_line"], after["last_line"], after["rows"]) == (2, 17, 16)
        # 2 senders × 6 days: 12 entries of 8, 延べ96.
        assert (after["people"], after["teams"], after["entries"], after["person_days"]) == (16, 1, 12, 96)
        assert db.session.scalar(select(func.count()).select_from(AuditRecord).where(
            AuditRecord.object_type == "entry")) == 0  # fmt: skip
        for entry in db.session.scalars(select(Entry)):
            found = imported_from(record.disaster_id or 0, entry.id)
            assert found is not None and found.record.id == record.id and found.line is None
            assert (
                found.describe() == "名簿ファイル「roster.csv」（2〜17行目）の取り込みで、隊員の日付から作成"
            )


def test_closed_days_need_a_reason_and_each_entry_on_one_is_recorded(
    runner: FlaskCliRunner, app: Flask, tmp_path: Path
) -> None:
    _setup(app, travel_days_count=False)
    with app.app_context():
        close_day(factories.disaster(SLUG), date(2024, 2, 21), factories.reviewer())
        db.session.commit()
    code, output = _import(runner, tmp_path, sixteen("両方"))
    assert code == 1 and "締め済み（確定）" in output
    with app.app_context():  # refused whole: the people and the team written before the guard are gone too
        for model in (Person, Team, Stint, Entry):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0
    code, output = _import(runner, tmp_path, sixteen("両方"), "--reason", "名簿の後追い入力")
    assert code == 0, output
    with app.app_context():
        flagged = db.session.scalars(select(AuditRecord).where(AuditRecord.closed_day_change.is_(True))).all()
        # 2/21: 長崎県 8 and 長崎市 8, a record each with its snapshot and the reason.
        assert sorted((r.after or {})["headcount"] for r in flagged) == [8, 8]
        assert {(r.after or {})["date"] for r in flagged} == {"2024-02-21"}
        assert {r.reason for r in flagged} == {"名簿の後追い入力"}
        assert all(r.summary.startswith("令和6年2月21日 ") and r.summary.endswith(" 8人") for r in flagged)
        assert _person_days() == 96
        assert tally_check.check(factories.disaster(SLUG).id) == []


def test_the_roster_import_page_links_both_templates(client: FlaskClient, demo: None) -> None:
    page = client.get(f"{DEMO}/roster/import").text
    assert f'href="{DEMO}/roster/template.xlsx"' in page
    assert f'href="{DEMO}/roster/template.csv"' in page


# The founding case's example row: its first open operation, 秋田県 (the prefecture struck) to 秋田市, the
# first duty, from the disaster's first day for a week.
EXAMPLE = [
    "第1陣", "防災 太郎", "ボウサイ タロウ", "秋田県", "総務部危機管理課", "一般事務", "主査", "県職員",
    "災害救助法業務に係る派遣", "秋田市", "給水業務", "2023-07-14", "2023-07-20", "", EXAMPLE_NOTE, "", "",
    "両方",
]  # fmt: skip


def test_the_csv_roster_template_is_the_header_and_an_example_that_imports(
    client: FlaskClient, demo: None
) -> None:
    response = client.get(f"{DEMO}/roster/template.csv")
    assert response.status_code == 200
    assert response.data.startswith(b"\xef\xbb\xbf")
    lines = response.data.decode("utf-8-sig").splitlines()
    assert lines[0] == (
        "班,氏名,氏名カナ,派遣元,所属,職種,職名,職員区分,派遣区分,派遣先,業務,開始日,終了日,"
        "職員番号,連絡先,班の派遣元,班の種類,移動日"
    )
    assert lines[1] == ",".join(EXAMPLE)
    assert len(lines) == 2
    _imports_one_person_for_a_week(client, response.data, "名簿.csv")


def test_the_xlsx_roster_template_has_drop_down_lists_and_an_example_that_imports(
    client: FlaskClient, demo: None
) -> None:
    response = client.get(f"{DEMO}/roster/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["名簿", "選択肢"]
    rows = [list(row) for row in book["名簿"].iter_rows(values_only=True)]
    assert rows[0][:3] == ["班", "氏名", "氏名カナ"] and rows[0][-1] == "移動日" and len(rows) == 2
    example = [cell.date().isoformat() if isinstance(cell, datetime) else cell or "" for cell in rows[1]]
    assert example == EXAMPLE
    lists = {str(v.sqref): v.formula1 for v in book["名簿"].data_validations.dataValidation}
    assert lists == {
        "H2:H10001": "'選択肢'!$A$2:$A$5",  # 職員区分: 県職員, 市町村職員, 消防職員, その他
        "I2:I10001": "'選択肢'!$B$2:$B$2",  # the one operation not ended
        "K2:K10001": "'選択肢'!$C$2:$C$20",  # the 19 duties
        "Q2:Q10001": "'選択肢'!$D$2:$D$7",  # 班の種類: six
        "R2:R10001": "'選択肢'!$E$2:$E$5",  # 移動日: 初日, 最終日, 両方, なし
    }
    choices = [list(row) for row in book["選択肢"].iter_rows(values_only=True)]
    assert choices[0] == ["職員区分", "派遣区分", "業務", "班の種類", "移動日"]
    assert [row[0] for row in choices[1:5]] == ["県職員", "市町村職員", "消防職員", "その他"]
    assert [row[1] for row in choices[1:3]] == ["災害救助法業務に係る派遣", None]
    assert [row[4] for row in choices[1:5]] == ["初日", "最終日", "両方", "なし"]
    _imports_one_person_for_a_week(client, response.data, "名簿.xlsx")


def _imports_one_person_for_a_week(client: FlaskClient, data: bytes, filename: str) -> None:
    """The example imports as it is: one person, and an entry of one for each day 7/14..7/20, 7
    person-days: its operation counts travel days (as operations do unless told otherwise), so the first
    and last days count too."""
    imported = client.post(
        f"{DEMO}/roster/import",
        data={"file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )
    assert imported.status_code == 302, imported.text
    with client.application.app_context():
        person = db.session.scalar(select(Person).where(Person.name == "防災 太郎"))
        assert person is not None and person.contact == EXAMPLE_NOTE
        days = db.session.execute(
            select(Entry.date, Entry.headcount).where(Entry.source == "roster").order_by(Entry.date)
        ).all()
        assert [(d.isoformat(), n) for d, n in days] == [(f"2023-07-{day}", 1) for day in range(14, 21)]
