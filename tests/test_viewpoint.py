"""Whose side the figures speak from (dispatch/viewpoint.py): the sending side's report and totals by sender
kind, on the invented disaster noto-2024-drill (dispatch/demo_sending.py) and on the founding case.

Every figure is added up by hand from the stints in demo_sending.py (days inclusive):

(1) to 輪島市: 三重県 4×22 (1/10–31) + 3×41 (1/20–2/29) = 88 + 123 = 211; 津市 2×21 = 42; 四日市市 2×14 = 28;
    秋田県 2×14 = 28; 秋田市 2×14 = 28; 総務省 1×10 = 10; in all 347.
(2) to 珠洲市: 横手市 3×14 = 42; 鈴鹿市 2×10 = 20; 秋田市 2×8 = 16; in all 78.
(3) to 珠洲市: 三重県 1×30 = 30; 秋田県 1×30 = 30; in all 60.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.extensions import db
from dispatch.models import Disaster, Role
from dispatch.reports import status_report
from dispatch.totals import Dimension, totals
from tests.factories import BASE, logged_in, make_user

DRILL = "noto-2024-drill"
AS_OF = date(2024, 4, 30)
MIE = "240001"
AKITA = "050008"

EXPECTED_FROM_MIE = """\
令和6年能登半島地震（演習用の架空データ）に係る応援職員の派遣状況
（令和6年4月30日時点・速報値）

(1) 被災市町への応援職員の派遣（対口支援）
派遣期間：令和6年1月10日から2月29日まで
派遣先：石川県輪島市（市災害対策本部）
従事業務：避難所運営、災害マネジメント総括支援、家屋被害認定調査
派遣者：県職員（3～7人/日）、県内市町職員（2～4人/日）、他都道府県職員（2人/日）、他都道府県の市区町村職員（2人/日）、その他の団体職員（1人/日）
実績：2月29日までに延べ347人（県職員211人、市町職員70人、他都道府県職員28人、他都道府県の市区町村職員28人、その他の団体職員10人）

(2) 応急給水支援
派遣期間：令和6年1月5日から18日まで
派遣先：石川県珠洲市
従事業務：給水業務
派遣者：県内市町職員（2人/日）、他都道府県の市区町村職員（3～5人/日）
実績：1月18日までに延べ78人（市町職員20人、他都道府県の市区町村職員58人）

(3) 中長期の職員派遣（地方自治法第252条の17）
派遣期間：令和6年4月1日から（継続中）
派遣先：石川県珠洲市
従事業務：公共土木施設災害復旧
派遣者：県建設部職員（1人/日）、他都道府県職員（1人/日）
実績：4月30日までに延べ60人（県職員30人、他都道府県職員30人）
"""

# The same disaster from 秋田県's side (the demo's own organisation): the two prefectures swap roles.
EXPECTED_FROM_AKITA_ITEM_1 = """\
(1) 被災市町への応援職員の派遣（対口支援）
派遣期間：令和6年1月10日から2月29日まで
派遣先：石川県輪島市（市災害対策本部）
従事業務：避難所運営、災害マネジメント総括支援、家屋被害認定調査
派遣者：県総務部職員（2人/日）、県内市町村職員（2人/日）、他都道府県職員（3～7人/日）、他都道府県の市区町村職員（2～4人/日）、その他の団体職員（1人/日）
実績：2月29日までに延べ347人（県職員28人、市町村職員28人、他都道府県職員211人、他都道府県の市区町村職員70人、その他の団体職員10人）
"""


@pytest.fixture
def from_mie(app_with: Callable[..., Flask], sending_demo: None) -> Flask:
    return app_with(OWN_ORGANISATION=MIE)


@pytest.fixture
def from_akita(app_with: Callable[..., Flask], sending_demo: None) -> Flask:
    return app_with(OWN_ORGANISATION=AKITA)


def _drill() -> Disaster:
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == DRILL))
    assert disaster is not None
    return disaster


def _by_kind(as_of: date) -> list[tuple[str, str, int, int]]:
    table = totals(_drill(), as_of, Dimension.SENDER_KIND)
    return [(row.key, row.name, row.person_days, row.active) for row in table.rows]


def test_a_sending_prefecture_reports_the_help_it_sent_in_its_own_words(from_mie: Flask) -> None:
    with from_mie.app_context():
        assert status_report(_drill(), AS_OF, closed=False).text() == EXPECTED_FROM_MIE


def test_the_other_sending_prefecture_sees_the_roles_swapped(from_akita: Flask) -> None:
    with from_akita.app_context():
        text = status_report(_drill(), AS_OF, closed=False).text()
    assert EXPECTED_FROM_AKITA_ITEM_1 in text
    assert "実績：1月18日までに延べ78人（市町村職員58人、他都道府県の市区町村職員20人）" in text


def test_without_an_own_organisation_the_affected_prefecture_speaks(app: Flask, sending_demo: None) -> None:
    """The disaster struck 石川県: unset, the report is the help 石川県 received, as before the setting."""
    with app.app_context():
        text = status_report(_drill(), AS_OF, closed=False).text()
    assert "派遣先：輪島市（市災害対策本部）\n" in text
    assert "実績：2月29日までに秋田県ほか5団体から、延べ347人派遣\n" in text


def test_totals_by_sender_kind_from_mie(from_mie: Flask) -> None:
    with from_mie.app_context():
        assert _by_kind(AS_OF) == [
            ("own", "自団体（三重県）", 241, 1),
            ("municipalities", "県内市町村", 90, 0),
            ("other_prefectures", "他都道府県", 58, 1),
            ("other_municipalities", "他都道府県の市区町村", 86, 0),
            ("other_bodies", "その他の団体", 10, 0),
        ]
        # As of 1/20: 三重県 4×11 + 3; 津市 2, 四日市市 2×6, 鈴鹿市 2×10; 秋田県 2×11; 秋田市 2×8, 横手市 3×14; 総務省 10.
        assert _by_kind(date(2024, 1, 20)) == [
            ("own", "自団体（三重県）", 47, 7),
            ("municipalities", "県内市町村", 34, 4),
            ("other_prefectures", "他都道府県", 22, 2),
            ("other_municipalities", "他都道府県の市区町村", 58, 0),
            ("other_bodies", "その他の団体", 10, 0),
        ]
        assert totals(_drill(), date(2024, 1, 20), Dimension.SENDER_KIND).person_days == 171


def test_totals_by_sender_kind_from_akita(from_akita: Flask) -> None:
    with from_akita.app_context():
        assert _by_kind(AS_OF) == [
            ("own", "自団体（秋田県）", 58, 1),
            ("municipalities", "県内市町村", 86, 0),
            ("other_prefectures", "他都道府県", 241, 1),
            ("other_municipalities", "他都道府県の市区町村", 90, 0),
            ("other_bodies", "その他の団体", 10, 0),
        ]


def test_the_founding_case_by_sender_kind(app_with: Callable[..., Flask], demo: None) -> None:
    """秋田県's own staff: item 1 6×8 + 10×39 + 10×22 + 4×18 + 4×32 = 858, item 2 46, item 3 25 (2 on the
    four Mondays worked, 1 on the other 17 working days); everything else is its municipalities'."""
    with app_with(OWN_ORGANISATION=AKITA).app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == "akita-2023-rain"))
        assert disaster is not None
        table = totals(disaster, date(2023, 10, 31), Dimension.SENDER_KIND)
    assert [(row.key, row.person_days, row.active) for row in table.rows] == [
        ("own", 929, 1),
        ("municipalities", 1390, 2),
    ]
    assert table.person_days == 2319


def test_totals_command_by_sender_kind(from_mie: Flask) -> None:
    result = from_mie.test_cli_runner().invoke(
        args=["totals", DRILL, "--as-of", "2024-04-30", "--by", "sender_kind", "--format", "csv"]
    )
    assert result.exit_code == 0, result.output
    assert list(csv.reader(io.StringIO(result.output))) == [
        ["key", "name", "person_days", "active"],
        ["own", "自団体（三重県）", "241", "1"],
        ["municipalities", "県内市町村", "90", "0"],
        ["other_prefectures", "他都道府県", "58", "1"],
        ["other_municipalities", "他都道府県の市区町村", "86", "0"],
        ["other_bodies", "その他の団体", "10", "0"],
    ]


def test_totals_json_by_sender_kind(from_mie: Flask) -> None:
    client = logged_in(from_mie, make_user(from_mie, Role.REVIEWER))
    response = client.get(f"/disasters/{DRILL}/totals.json?as_of=2024-04-30&by=sender_kind")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["by"], body["person_days"], body["active"]) == ("sender_kind", 485, 2)
    assert [(r["key"], r["person_days"]) for r in body["rows"]] == [
        ("own", 241),
        ("municipalities", 90),
        ("other_prefectures", 58),
        ("other_municipalities", 86),
        ("other_bodies", 10),
    ]


def test_the_dashboard_speaks_from_the_own_side(from_mie: Flask) -> None:
    client = logged_in(from_mie, make_user(from_mie, Role.REVIEWER))
    html = client.get(f"/disasters/{DRILL}/?as_of=2024-04-30").text
    assert "三重県から見た応援（派遣した応援）" in html
    table = html.split('data-testid="sender-kind-table"')[1].split("</table>")[0]
    assert '<td class="name">自団体（三重県）</td><td class="num">241</td>' in table
    assert '<td class="name">県内市町村</td><td class="num">90</td>' in table
    assert '<th>計</th><td class="num">485</td>' in table


def test_the_founding_case_dashboard_is_the_affected_prefectures(client: FlaskClient, demo: None) -> None:
    html = client.get(f"{BASE}/?as_of=2023-10-31").text
    assert "秋田県から見た応援（受け入れた応援）" in html
    assert '<td class="name">自団体（秋田県）</td><td class="num">929</td>' in html
