"""The status report carries every fact of the prefecture's report (DOMAIN.md), from the demo data, in the
order the prefecture writes it: destinations in 団体コード order with their 配属先, items numbered as printed."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select

from dispatch.extensions import db
from dispatch.models import Disaster, Role
from dispatch.reports import status_report
from tests.browser import chromium, live_server, log_in
from tests.factories import BASE, PASSWORD, SLUG, make_user

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
派遣先：五城目町（町災害対策本部事務局）
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
派遣先：男鹿市（7月23日まで）、八峰町（7月22日まで）、五城目町（7月26日まで）、井川町（7月26日まで）
従事業務：給水業務
派遣者：県内市町村職員（4～15人/日）
実績：7月26日までに秋田市ほか7市から、延べ105人派遣
"""


def test_report_as_of_2023_10_31_carries_every_published_fact(demo_disaster: Disaster) -> None:
    text = status_report(demo_disaster, AS_OF, closed=False).text()
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
        "秋田市ほか7市から、延べ105人",
        # The seed's 配属先, and its destinations in 団体コード order (052060, 053490, 053619, 053660).
        "五城目町（町災害対策本部事務局）",
    ]:
        assert fact in text, fact
    item_4 = text.split("(4) ")[1]
    destinations = item_4.split("派遣先：")[1].split("\n")[0]
    assert re.sub(r"（[^）]*）", "", destinations) == "男鹿市、八峰町、五城目町、井川町"


def test_the_report_is_the_same_from_the_own_prefectures_side(
    app_with: Callable[..., Flask], demo: None
) -> None:
    """scripts/run sets DISPATCH_OWN_ORGANISATION=050008 (秋田県): the founding case reads as before."""
    akita = app_with(OWN_ORGANISATION="050008")
    with akita.app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert disaster is not None
        assert status_report(disaster, AS_OF, closed=False).text() == EXPECTED_AS_OF_2023_10_31


def test_an_operation_that_went_on_after_the_date_is_ongoing_then(demo_disaster: Disaster) -> None:
    text = status_report(demo_disaster, date(2023, 8, 10), closed=False).text()
    assert (
        "(1) 災害時の相互応援協定に基づく派遣\n派遣期間：令和5年7月20日から（継続中）\n派遣先：秋田市、五城目町\n"
        in text
    )
    assert "実績：8月10日までに県及び県内市町村職員、延べ1279人派遣" in text
    # Numbered as printed: the recovery-support and relief-act operations had no entries by 8/10, so the
    # water-supply operation (fourth in display order) is item (2).
    assert "(2) 応急給水業務に係る派遣\n派遣期間：令和5年7月16日から26日まで\n" in text
    assert "(3)" not in text and "(4)" not in text


def test_report_before_any_entry(demo_disaster: Disaster) -> None:
    text = status_report(demo_disaster, date(2023, 7, 15), closed=False).text()
    assert text.endswith("令和5年7月15日までの派遣はありません。\n")


def test_status_report_command(runner: FlaskCliRunner, demo: None) -> None:
    result = runner.invoke(args=["status-report", SLUG, "--as-of", "2023-10-31"])
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED_AS_OF_2023_10_31


def test_report_page_shows_the_same_text(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/report?as_of=2023-10-31")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "延べ2101人派遣" in html
    assert "令和5年10月2日から（継続中）" in html
    assert 'src="/static/report.js"' in html


@pytest.mark.browser
def test_the_printed_report_page_carries_the_report_alone(app: Flask, demo: None) -> None:
    """On paper (print media in Chromium): nothing but the report's text, no menu, user name or button."""
    make_user(app, Role.REVIEWER, "printer")
    with live_server(app) as base, chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(f"{base}{BASE}/report?as_of=2023-10-31")
        log_in(page, "printer", PASSWORD)
        page.wait_for_url("**/report?as_of=2023-10-31")
        assert page.get_by_role("button", name="印刷").is_visible()
        page.emulate_media(media="print")
        for hidden in ("header.site", "footer.site", "#print-report", "#copy-report", "form.as-of"):
            assert not page.locator(hidden).is_visible(), hidden
        printed = page.evaluate("document.body.innerText")
        assert printed.strip() == EXPECTED_AS_OF_2023_10_31.strip()
