"""The status report carries every fact of the prefecture's report (DOMAIN.md), from the demo data."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from dispatch.extensions import db
from dispatch.models import Disaster
from dispatch.reports import status_report
from dispatch.seeding import seed_founding_case

AS_OF = date(2023, 10, 31)

EXPECTED_AS_OF_2023_10_31 = """\
令和5年7月14日からの大雨に係る応援職員の派遣状況
（令和5年10月31日時点・速報値）

(1) 災害時の相互応援協定に基づく派遣
派遣期間：令和5年7月20日から8月31日まで
派遣先：秋田市（8月31日まで）、五城目町（8月22日まで）
従事業務：給水業務、家屋被害認定調査、罹災証明書交付
派遣者：県職員（6～28人/日）、県内市町村職員（8～52人/日）
実績：8月31日までに県及び県内市町村職員、延べ2101人派遣

(2) 災害復旧支援業務に係る派遣
派遣期間：令和5年8月12日から9月29日まで
派遣先：五城目町（9月29日まで）
従事業務：災害対策本部事務局支援
派遣者：県総務部総合防災課職員（1～2人/日）
実績：9月29日までに県総務部総合防災課職員、延べ46人派遣

(3) 災害救助法業務に係る派遣
派遣期間：令和5年10月2日から（継続中）
派遣先：五城目町
従事業務：災害救助法関係事務
派遣者：県総務部総合防災課職員（1～2人/日）、県内市町村職員（2人/日）
実績：10月31日までに県及び県内市町村職員、延べ67人派遣

(4) 応急給水業務に係る派遣
派遣期間：令和5年7月16日から26日まで
派遣先：五城目町（7月26日まで）、八峰町（7月22日まで）、井川町（7月26日まで）、男鹿市（7月23日まで）
従事業務：給水業務
派遣者：県内市町村職員（4～15人/日）
実績：7月26日までに秋田市ほか7市から、延べ105人派遣
"""


@pytest.fixture
def demo(ctx: None) -> Disaster:
    return seed_founding_case().disaster


def test_report_as_of_2023_10_31_carries_every_published_fact(demo: Disaster) -> None:
    text = status_report(demo, AS_OF, closed=False).text()
    assert text == EXPECTED_AS_OF_2023_10_31
    for fact in [
        "令和5年7月20日から8月31日まで",
        "秋田市（8月31日まで）",
        "五城目町（8月22日まで）",
        "給水業務、家屋被害認定調査",
        "延べ2101人",
        "令和5年8月12日から9月29日まで",
        "延べ46人",
        "10月2日から（継続中）",
        "県総務部総合防災課職員（1～2人/日）",
        "県内市町村職員（2人/日）",
        "令和5年7月16日から26日まで",
        "男鹿市",
        "八峰町",
        "井川町",
        "秋田市ほか7市から、延べ105人",
    ]:
        assert fact in text, fact


def test_an_operation_that_went_on_after_the_date_is_ongoing_then(demo: Disaster) -> None:
    text = status_report(demo, date(2023, 8, 10), closed=False).text()
    assert (
        "(1) 災害時の相互応援協定に基づく派遣\n派遣期間：令和5年7月20日から（継続中）\n派遣先：秋田市、五城目町\n"
        in text
    )
    assert "実績：8月10日までに県及び県内市町村職員、延べ1279人派遣" in text
    # Items keep their numbers; (2) and (3) had no entries by 8/10.
    assert "(2)" not in text and "(3)" not in text
    assert "(4) 応急給水業務に係る派遣" in text


def test_report_before_any_entry(demo: Disaster) -> None:
    text = status_report(demo, date(2023, 7, 15), closed=False).text()
    assert text.endswith("令和5年7月15日までの派遣はありません。\n")


def test_status_report_command(app: Flask, runner: FlaskCliRunner) -> None:
    with app.app_context():
        seed_founding_case()
        db.session.commit()
    result = runner.invoke(args=["status-report", "akita-2023-rain", "--as-of", "2023-10-31"])
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED_AS_OF_2023_10_31


def test_report_page_shows_the_same_text(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        seed_founding_case()
        db.session.commit()
    response = client.get("/disasters/akita-2023-rain/report?as_of=2023-10-31")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "延べ2101人派遣" in html
    assert "令和5年10月2日から（継続中）" in html
    assert 'src="/static/report.js"' in html
