"""Exports (CSV and .xlsx) through the test client, on the founding case (dispatch/demo.py).

Figures were checked by hand against demo.py:

    as of 2023-08-31: mutual-aid 2101 (all of it), recovery-support 26 (8/12-8/23 two a day on 8 days and
        the opening weekend: 20; then one a day on 6 working days), water-supply 105 -> 延べ2232人;
        active on 8/31: 秋田県 (総務部) 10 at 秋田市, recovery-support 1 -> 11
    as of 2023-10-31: everything, 549 entries, 延べ2319人
    water-supply: 5 + 4 + 7 + 5 + 6 + 7 + 6 + 6 + 4 = 50 entries, 延べ105人
    男鹿市 (052060) sees only the water supply it received: 秋田市 (上下水道局) 2 a day on 7/16-7/19 (4 entries,
        8) and 由利本荘市 2 a day on 7/18-7/23 (6 entries, 12) -> 10 entries, 延べ20人
"""

from __future__ import annotations

import io
import re
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from urllib.parse import unquote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlalchemy import ColumnElement, insert, select

from dispatch import clock, exports
from dispatch.catalog import create_disaster, create_operation
from dispatch.entries import EntryDraft, log_entries
from dispatch.extensions import db
from dispatch.importing import import_dispatches
from dispatch.models import Disaster, Entry, Operation, Role
from tests import factories
from tests.factories import BASE, OGA, SLUG
from tests.reading import csv_rows, facts

HEADER = ["日付", "派遣区分", "派遣元", "所属", "派遣先", "業務", "人数", "備考"]
SHEETS = ["派遣一覧", "派遣区分別", "派遣先別", "派遣元別", "業務別", "派遣先×業務", "派遣元×派遣先"]
BOM = b"\xef\xbb\xbf"


# --- helpers ------------------------------------------------------------------------------------------


def person_days(rows: list[list[str]]) -> int:
    return sum(int(row[6]) for row in rows[1:])


def workbook(response_data: bytes) -> Workbook:
    return load_workbook(io.BytesIO(response_data))


def sheet_rows(book: Workbook, name: str) -> list[tuple[object, ...]]:
    return list(book[name].iter_rows(values_only=True))


def download_name(response_headers: object) -> str:
    disposition = response_headers["Content-Disposition"]
    [encoded] = re.findall(r"filename\*=UTF-8''(\S+)", disposition)
    return unquote(encoded)


def add_entry(app: Flask, *, note: str = "", sender_unit: str = "", day: date = date(2023, 11, 1)) -> None:
    """A relief-act entry, 秋田県 -> 五城目町, one person."""
    with app.app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert disaster is not None
        [relief] = [op for op in disaster.operations if op.code == "relief-act"]
        draft = EntryDraft(
            date=day,
            operation=relief,
            sender=factories.org(factories.AKITA_PREF),
            destination=factories.org(factories.GOJOME),
            duty=factories.duty("relief_act"),
            headcount=1,
            sender_unit=sender_unit,
            note=note,
        )
        log_entries([draft], factories.hq())
        db.session.commit()


def copy_of_demo(slug: str) -> Disaster:
    """A new disaster with the demo's operations (same codes and names) and no entries."""
    demo = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
    assert demo is not None
    disaster = create_disaster(slug, "取り込み確認", demo.start_date, factories.hq())
    for op in demo.operations:
        create_operation(disaster, op.code, op.name, factories.hq(), op.display_order)
    return disaster


def of_disaster(slug: str) -> ColumnElement[bool]:
    """A disaster's entries, for `facts`."""
    return Operation.disaster.has(slug=slug)


# --- CSV ----------------------------------------------------------------------------------------------


def test_csv_is_utf8_with_bom_and_the_importers_header(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/entries.csv?date_to=2023-07-17")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.data.startswith(BOM)
    rows = csv_rows(response.data)
    # Newest first, as the list: 7/17 (5 crews) then 7/16 (3 crews).
    assert rows == [
        HEADER,
        [
            "2023-07-17",
            "応急給水業務に係る派遣",
            "052019 秋田市",
            "上下水道局",
            "052060 男鹿市",
            "給水業務",
            "2",
            "",
        ],
        ["2023-07-17", "応急給水業務に係る派遣", "052027 能代市", "", "053490 八峰町", "給水業務", "2", ""],
        ["2023-07-17", "応急給水業務に係る派遣", "052043 大館市", "", "053490 八峰町", "給水業務", "2", ""],
        [
            "2023-07-17",
            "応急給水業務に係る派遣",
            "052019 秋田市",
            "上下水道局",
            "053619 五城目町",
            "給水業務",
            "3",
            "",
        ],
        ["2023-07-17", "応急給水業務に係る派遣", "052035 横手市", "", "053660 井川町", "給水業務", "2", ""],
        [
            "2023-07-16",
            "応急給水業務に係る派遣",
            "052019 秋田市",
            "上下水道局",
            "052060 男鹿市",
            "給水業務",
            "2",
            "",
        ],
        ["2023-07-16", "応急給水業務に係る派遣", "052027 能代市", "", "053490 八峰町", "給水業務", "2", ""],
        [
            "2023-07-16",
            "応急給水業務に係る派遣",
            "052019 秋田市",
            "上下水道局",
            "053619 五城目町",
            "給水業務",
            "3",
            "",
        ],
    ]
    assert download_name(response.headers) == "派遣一覧_令和5年7月17日時点.csv"
    assert 'filename="akita-2023-rain_entries_2023-07-17.csv"' in response.headers["Content-Disposition"]


def test_csv_of_every_entry(client: FlaskClient, demo: None) -> None:
    rows = csv_rows(client.get(f"{BASE}/entries.csv").data)
    assert len(rows) - 1 == 549
    assert person_days(rows) == 2319
    assert rows[1][0] == "2023-10-31"
    assert rows[-1][0] == "2023-07-16"


def test_cp932_on_request_has_no_bom(client: FlaskClient, demo: None) -> None:
    add_entry(client.application, note="髙橋班長が引率")
    response = client.get(f"{BASE}/entries.csv?encoding=cp932&date_from=2023-11-01")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=shift_jis"
    assert not response.data.startswith(BOM)
    assert csv_rows(response.data, "cp932") == [
        HEADER,
        [
            "2023-11-01",
            "災害救助法業務に係る派遣",
            "050008 秋田県",
            "",
            "053619 五城目町",
            "災害救助法関係事務",
            "1",
            "髙橋班長が引率",
        ],
    ]
    every = csv_rows(client.get(f"{BASE}/entries.csv?encoding=cp932").data, "cp932")
    assert (len(every) - 1, person_days(every)) == (550, 2320)


def test_a_character_cp932_cannot_hold_is_named_not_dropped(client: FlaskClient, demo: None) -> None:
    add_entry(client.application, note="𠮷田さん同行")
    response = client.get(f"{BASE}/entries.csv?encoding=cp932&operation=relief-act")
    assert response.status_code == 422
    assert response.mimetype == "text/html"
    assert "Shift_JIS で出力できない文字があります" in response.text
    assert "「𠮷」（U+20BB7）" in response.text
    # The way out keeps the filter and asks for UTF-8.
    assert f'href="{BASE}/entries.csv?encoding=utf-8&amp;operation=relief-act"' in response.text

    utf8 = client.get(f"{BASE}/entries.csv?encoding=utf-8&operation=relief-act")
    assert utf8.status_code == 200
    rows = csv_rows(utf8.data)
    assert rows[1][7] == "𠮷田さん同行"
    # relief-act: 59 entries in the demo, and this one.
    assert len(rows) - 1 == 60
    # Other exports that do not hold the note are still fine in CP932.
    assert client.get(f"{BASE}/entries.csv?encoding=cp932&operation=water-supply").status_code == 200


def test_formula_cells_are_neutralised_in_csv_and_xlsx(client: FlaskClient, demo: None) -> None:
    add_entry(client.application, note="=1+1", sender_unit="@SUM(A1)")
    add_entry(client.application, note="-2 と +3", sender_unit="総務部", day=date(2023, 11, 2))
    only = "date_from=2023-11-01&date_to=2023-11-02"
    rows = csv_rows(client.get(f"{BASE}/entries.csv?{only}").data)
    assert [(row[3], row[7]) for row in rows[1:]] == [("総務部", "'-2 と +3"), ("'@SUM(A1)", "'=1+1")]

    response = client.get(f"{BASE}/entries.xlsx?{only}")
    sheet = workbook(response.data)["派遣一覧"]
    unit, note = sheet["D3"], sheet["H3"]
    assert (unit.value, unit.data_type) == ("'@SUM(A1)", "s")
    assert (note.value, note.data_type) == ("'=1+1", "s")
    assert (sheet["H2"].value, sheet["H2"].data_type) == ("'-2 と +3", "s")
    assert not any(cell.data_type == "f" for row in sheet.iter_rows() for cell in row)

    # The importer takes the apostrophe off again: the text comes back as it was typed.
    app = client.application
    with app.app_context():
        target = copy_of_demo("formula-check")
        result = import_dispatches(target, response.data, "派遣一覧.xlsx", actor=factories.hq())
        assert len(result.entry_ids) == 2
        assert [(fact[3], fact[7]) for fact in facts(of_disaster("formula-check"))] == [
            ("@SUM(A1)", "=1+1"),
            ("総務部", "-2 と +3"),
        ]


def test_filters_apply(client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda: date(2023, 8, 31))
    rows = csv_rows(client.get(f"{BASE}/entries.csv?operation=water-supply").data)
    assert (len(rows) - 1, person_days(rows)) == (50, 105)
    assert {row[1] for row in rows[1:]} == {"応急給水業務に係る派遣"}

    book = workbook(client.get(f"{BASE}/entries.xlsx?operation=water-supply").data)
    entries = sheet_rows(book, "派遣一覧")
    assert (len(entries) - 1, sum(row[6] for row in entries[1:])) == (50, 105)
    # Without an end date the workbook is as of today, and says what it is limited to.
    heading = sheet_rows(book, "派遣区分別")[0][0]
    assert (
        heading
        == "令和5年7月14日からの大雨　派遣区分別の延べ人数　令和5年8月31日時点（派遣区分 応急給水業務に係る派遣）"
    )
    # Operations and duties by name alone: their codes are the app's own, not what a reader knows.
    assert sheet_rows(book, "派遣区分別")[-1] == ("計", 105, 0)


def test_a_list_export_covers_entries_dated_ahead(
    client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On 10/15 the rota to 10/31 is already entered: the list export holds it, and so do its totals.
    monkeypatch.setattr(clock, "today", lambda: date(2023, 10, 15))
    response = client.get(f"{BASE}/entries.xlsx")
    assert download_name(response.headers) == "派遣一覧_令和5年10月31日時点.xlsx"
    book = workbook(response.data)
    assert len(sheet_rows(book, "派遣一覧")) - 1 == 549
    assert sheet_rows(book, "派遣区分別")[-1] == ("計", 2319, 3)


def test_a_filter_that_does_not_read_is_refused(client: FlaskClient, demo: None) -> None:
    unknown = client.get(f"{BASE}/entries.csv?sender=存在しない市")
    assert unknown.status_code == 400
    assert "「存在しない市」に当たる団体が見つかりません。" in unknown.text
    assert client.get(f"{BASE}/entries.xlsx?date_from=2023-02-30").status_code == 400
    assert client.get(f"{BASE}/entries.csv?encoding=latin-1").status_code == 400
    assert client.get(f"{BASE}/totals.csv?by=weekday").status_code == 400
    assert client.get(f"{BASE}/totals.csv?encoding=sjis").status_code == 400
    bad_date = client.get(f"{BASE}/totals.xlsx?as_of=令和5年13月1日")
    assert bad_date.status_code == 400
    assert "時点:" in bad_date.text
    assert client.get("/disasters/no-such-disaster/entries.xlsx").status_code == 404


# --- xlsx ---------------------------------------------------------------------------------------------


def test_workbook_layout(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.xlsx?as_of=2023-08-31")
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert download_name(response.headers) == "集計_令和5年8月31日時点.xlsx"
    book = workbook(response.data)
    assert book.sheetnames == SHEETS

    entries = book["派遣一覧"]
    assert [cell.value for cell in entries[1]] == HEADER
    assert entries.freeze_panes == "A2"
    assert entries.column_dimensions["B"].width == 32
    first = entries["A2"]
    assert first.is_date
    # A real date cell: openpyxl reads it back as a midnight datetime, Excel shows 2023/08/31.
    assert isinstance(first.value, datetime)
    assert first.value.date() == date(2023, 8, 31)
    assert first.number_format == "yyyy/mm/dd"
    # Entries up to the as-of date only: 2232 person-days, like every other sheet.
    values = sheet_rows(book, "派遣一覧")
    assert sum(row[6] for row in values[1:]) == 2232

    operations = sheet_rows(book, "派遣区分別")
    # Names, not the app's codes (mutual-aid ...): operations and duties by name alone.
    assert operations == [
        ("令和5年7月14日からの大雨　派遣区分別の延べ人数　令和5年8月31日時点", None, None),
        ("派遣区分", "延べ人数", "当日人数"),
        ("災害時の相互応援協定に基づく派遣", 2101, 10),
        ("応急給水業務に係る派遣", 105, 0),
        ("災害復旧支援業務に係る派遣", 26, 1),
        ("計", 2232, 11),
    ]
    assert book["派遣区分別"].freeze_panes == "A3"
    duties = sheet_rows(book, "業務別")
    assert duties[1] == ("業務", "延べ人数", "当日人数")
    assert {"家屋被害認定調査", "給水業務"} <= {row[0] for row in duties[2:-1]}
    assert duties[-1] == ("計", 2232, 11)
    assert sum(row[1] for row in duties[2:-1]) == 2232
    # Organisations by name, with their 団体コード after it.
    for name in ("派遣先別", "派遣元別", "業務別"):
        rows = sheet_rows(book, name)
        assert rows[0][0] == f"令和5年7月14日からの大雨　{name}の延べ人数　令和5年8月31日時点"
    for name in ("派遣先別", "派遣元別"):
        rows = sheet_rows(book, name)
        assert rows[1] == (name[:3], f"{name[:3]}コード", "延べ人数", "当日人数")
        assert rows[-1] == ("計", None, 2232, 11)
        assert sum(row[2] for row in rows[2:-1]) == 2232
    destinations = sheet_rows(book, "派遣先別")
    assert destinations[2:-1] == [
        ("秋田市", "052019", 1815, 10),
        ("五城目町", "053619", 349, 1),
        ("八峰町", "053490", 24, 0),
        ("井川町", "053660", 24, 0),
        ("男鹿市", "052060", 20, 0),
    ]


@pytest.mark.parametrize(("as_of", "headline"), [("2023-08-31", 2232), ("2023-10-31", 2319)])
def test_cross_tables_add_up_to_the_headline(
    client: FlaskClient, demo: None, as_of: str, headline: int
) -> None:
    book = workbook(client.get(f"{BASE}/totals.xlsx?as_of={as_of}").data)
    for name in ("派遣先×業務", "派遣元×派遣先"):
        sheet = book[name]
        assert sheet.freeze_panes == "C3"
        rows = sheet_rows(book, name)
        assert rows[1][-1] == "計"
        body, totals_row = rows[2:-1], rows[-1]
        assert totals_row[0] == "計"
        assert totals_row[-1] == headline
        # Every row total is its row's sum, every column total its column's, and both add to the grand total.
        for row in body:
            assert sum(row[2:-1]) == row[-1]
        for column in range(2, len(totals_row) - 1):
            assert sum(row[column] for row in body) == totals_row[column]
        assert sum(row[-1] for row in body) == headline
    assert sheet_rows(book, "派遣先×業務")[1][:2] == ("派遣先＼業務", "派遣先コード")
    assert sheet_rows(book, "派遣元×派遣先")[1][:2] == ("派遣元＼派遣先", "派遣元コード")
    # Duties by name in the columns, destinations by name with their code after it in the rows.
    assert sheet_rows(book, "派遣先×業務")[2][:2] == ("秋田市", "052019")
    assert "給水業務" in sheet_rows(book, "派遣先×業務")[1]


def test_cross_sheets_of_a_big_disaster_show_the_biggest_and_sum_the_rest(
    client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's 16 senders and 5 destinations stand in for a national disaster's 1,800 of each.
    monkeypatch.setattr("dispatch.exports.CROSS_TABLE_LIMIT", 2)
    book = workbook(client.get(f"{BASE}/totals.xlsx?as_of=2023-08-31").data)
    rows = sheet_rows(book, "派遣元×派遣先")
    assert rows[1][4] == "その他（3）"  # columns: the 2 biggest destinations, the other 3, the total
    body, rest, totals_row = rows[2:4], rows[4], rows[5]
    assert rest[0] == "その他（14）"
    assert totals_row[-1] == 2232
    for row in (*body, rest):
        assert sum(row[2:-1]) == row[-1]
    for column in range(2, len(totals_row)):
        assert sum(row[column] for row in (*body, rest)) == totals_row[column]


def test_totals_match_the_dashboards_figures(client: FlaskClient, demo: None) -> None:
    book = workbook(client.get(f"{BASE}/totals.xlsx?as_of=2023-10-31").data)
    duties = sheet_rows(book, "業務別")
    assert duties[-1] == ("計", 2319, 3)
    assert sheet_rows(book, "派遣区分別")[2:] == [
        ("災害時の相互応援協定に基づく派遣", 2101, 0),
        ("応急給水業務に係る派遣", 105, 0),
        ("災害救助法業務に係る派遣", 67, 3),
        ("災害復旧支援業務に係る派遣", 46, 0),
        ("計", 2319, 3),
    ]
    assert len(sheet_rows(book, "派遣一覧")) - 1 == 549


def test_xlsx_round_trips_through_the_importer(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/entries.xlsx")
    assert response.status_code == 200
    app = client.application
    with app.app_context():
        target = copy_of_demo("round-trip")
        result = import_dispatches(target, response.data, "派遣一覧.xlsx", actor=factories.hq())
        assert (len(result.entry_ids), result.person_days) == (549, 2319)
        db.session.commit()
        assert facts(of_disaster("round-trip")) == facts(of_disaster(SLUG))


@pytest.mark.parametrize("encoding", ["utf-8", "cp932"])
def test_csv_round_trips_through_the_importer(client: FlaskClient, demo: None, encoding: str) -> None:
    data = client.get(f"{BASE}/entries.csv?encoding={encoding}").data
    app = client.application
    with app.app_context():
        target = copy_of_demo("round-trip")
        result = import_dispatches(target, data, "派遣一覧.csv", actor=factories.hq())
        assert (len(result.entry_ids), result.person_days) == (549, 2319)
        assert facts(of_disaster("round-trip")) == facts(of_disaster(SLUG))


def test_totals_csv_by_dimension(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.csv?as_of=2023-08-31&by=destination")
    assert response.status_code == 200
    assert response.data.startswith(BOM)
    assert download_name(response.headers) == "集計_派遣先別_令和5年8月31日時点.csv"
    assert csv_rows(response.data) == [
        ["派遣先コード", "派遣先", "延べ人数", "当日人数"],
        ["052019", "秋田市", "1815", "10"],
        ["053619", "五城目町", "349", "1"],
        ["053490", "八峰町", "24", "0"],
        ["053660", "井川町", "24", "0"],
        ["052060", "男鹿市", "20", "0"],
        ["計", "", "2232", "11"],
    ]
    cp932 = client.get(f"{BASE}/totals.csv?as_of=2023-08-31&by=operation&encoding=cp932")
    assert csv_rows(cp932.data, "cp932")[-1] == ["計", "", "2232", "11"]
    # By date: in date order, ISO and 和暦.
    days = csv_rows(client.get(f"{BASE}/totals.csv?as_of=2023-07-17&by=date").data)
    assert days == [
        ["日付", "和暦", "延べ人数", "当日人数"],
        ["2023-07-16", "令和5年7月16日", "7", "0"],
        ["2023-07-17", "令和5年7月17日", "11", "11"],
        ["計", "", "18", "11"],
    ]


def test_a_workbook_refuses_more_entries_than_a_sheet_holds(
    client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 550)
    assert client.get(f"{BASE}/entries.xlsx").status_code == 200
    add_entry(client.application)
    refused = client.get(f"{BASE}/entries.xlsx")
    assert refused.status_code == 422
    assert "550件の派遣は Excel の1シートの上限（549行）を超えます。" in refused.text
    assert client.get(f"{BASE}/totals.xlsx?as_of=2023-10-31").status_code == 200
    assert client.get(f"{BASE}/entries.csv").status_code == 200


# --- who sees what ------------------------------------------------------------------------------------


def test_a_municipality_exports_only_its_own_entries(oga: FlaskClient) -> None:
    rows = csv_rows(oga.get(f"{BASE}/entries.csv").data)
    assert (len(rows) - 1, person_days(rows)) == (10, 20)
    assert {row[4] for row in rows[1:]} == {"052060 男鹿市"}
    # A filter for someone else's destination does not widen the view.
    assert csv_rows(oga.get(f"{BASE}/entries.csv?destination=053619").data) == [HEADER]

    book = workbook(oga.get(f"{BASE}/totals.xlsx?as_of=2023-10-31").data)
    assert len(sheet_rows(book, "派遣一覧")) - 1 == 10
    heading = sheet_rows(book, "派遣元別")[0][0]
    assert (
        heading
        == "令和5年7月14日からの大雨　派遣元別の延べ人数　令和5年10月31日時点（男鹿市が派遣元または派遣先の派遣のみ）"
    )
    assert sheet_rows(book, "派遣元別")[2:] == [
        ("由利本荘市", "052108", 12, 0),
        ("秋田市", "052019", 8, 0),
        ("計", None, 20, 0),
    ]
    for name in ("派遣先×業務", "派遣元×派遣先"):
        assert sheet_rows(book, name)[-1][-1] == 20

    by_sender = csv_rows(oga.get(f"{BASE}/totals.csv?as_of=2023-10-31&by=sender").data)
    assert by_sender[1:] == [
        ["052108", "由利本荘市", "12", "0"],
        ["052019", "秋田市", "8", "0"],
        ["計", "", "20", "0"],
    ]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_export(client_as: Callable[..., FlaskClient], demo: None, role: Role) -> None:
    user = client_as(role, org_code=OGA if role is Role.MUNICIPALITY else None)
    for url in ("entries.csv", "entries.xlsx", "totals.csv", "totals.xlsx"):
        assert user.get(f"{BASE}/{url}?as_of=2023-10-31").status_code == 200, url


# --- links --------------------------------------------------------------------------------------------


def test_the_list_and_the_totals_page_link_to_their_exports(client: FlaskClient, demo: None) -> None:
    listing = client.get(f"{BASE}/entries?operation=water-supply&sender=052019").text
    for link in (
        f"{BASE}/entries.csv?operation=water-supply&amp;sender=052019",
        f"{BASE}/entries.csv?encoding=cp932&amp;operation=water-supply&amp;sender=052019",
        f"{BASE}/entries.xlsx?operation=water-supply&amp;sender=052019",
    ):
        assert f'href="{link}"' in listing, link
    totals = client.get(f"{BASE}/totals?as_of=2023-08-31").text
    assert f'href="{BASE}/totals.xlsx?as_of=2023-08-31"' in totals
    for by in ("operation", "destination", "sender", "duty", "date"):
        assert f'href="{BASE}/totals.csv?as_of=2023-08-31&amp;by={by}"' in totals, by


# --- memory -------------------------------------------------------------------------------------------


def bulk_entries(app: Flask, start: int, count: int) -> None:
    """Synthetic entries straight into the table: 500 days × 100 units of one sender, one destination."""
    with app.app_context():
        disaster = factories.disaster("bulk-rain", date(2020, 1, 1))
        operation = factories.operation(disaster, "bulk")
        sender, destination = factories.org(factories.AKITA_PREF), factories.org(factories.GOJOME)
        duty = factories.duty("water_supply")
        db.session.execute(
            insert(Entry),
            [
                {
                    "date": date(2020, 1, 1) + timedelta(days=i % 500),
                    "operation_id": operation.id,
                    "sender_id": sender.id,
                    "sender_unit": f"第{i // 500}班",
                    "destination_id": destination.id,
                    "duty_id": duty.id,
                    "headcount": 1 + i % 3,
                    "note": f"備考 {i}",
                }
                for i in range(start, start + count)
            ],
        )
        db.session.commit()


def streamed(client: FlaskClient, url: str) -> Iterator[bytes]:
    response = client.get(url, buffered=False)
    assert response.status_code == 200
    try:
        yield from response.response
    finally:
        response.close()


def download_peak(client: FlaskClient, url: str) -> tuple[int, int]:
    """(bytes downloaded, peak Python allocation while answering), reading the body chunk by chunk."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        size = sum(len(chunk) for chunk in streamed(client, url))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return size, peak


MB = 1024 * 1024


def test_exports_stream_with_flat_memory(app: Flask, client: FlaskClient) -> None:
    """Peak memory barely moves with the number of entries. The workbook is measured on fewer entries than
    the CSV only because openpyxl takes far longer per row, and tracemalloc slows it several times over."""
    csv_url = "/disasters/bulk-rain/entries.csv"
    xlsx_url = "/disasters/bulk-rain/totals.xlsx?as_of=2021-12-31"
    bulk_entries(app, 0, 1_000)
    # Warm up: compiled queries, templates and imports are cached once, not per export.
    b"".join(streamed(client, csv_url))
    b"".join(streamed(client, xlsx_url))
    csv_small = download_peak(client, csv_url)
    xlsx_small = download_peak(client, xlsx_url)

    bulk_entries(app, 1_000, 4_000)
    xlsx_size, xlsx_peak = download_peak(client, xlsx_url)
    bulk_entries(app, 5_000, 45_000)
    csv_size, csv_peak = download_peak(client, csv_url)
    print(
        f"\nexport peaks (tracemalloc): CSV {csv_small[1] / MB:.2f} MB for 1,000 entries, "
        f"{csv_peak / MB:.2f} MB for 50,000 ({csv_size / MB:.1f} MB file); "
        f"xlsx {xlsx_small[1] / MB:.2f} MB for 1,000, {xlsx_peak / MB:.2f} MB for 5,000 "
        f"({xlsx_size / MB:.2f} MB file)"
    )
    assert csv_size > 50_000 * 80
    assert csv_peak < 40 * MB
    assert xlsx_peak < 40 * MB
    # 50 and 5 times the entries, not 50 and 5 times the memory.
    assert csv_peak < 2 * csv_small[1] + 2 * MB
    assert xlsx_peak < 2 * xlsx_small[1] + 2 * MB
