"""The entry form driven in headless Chromium through a real HTTP server."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from dispatch.models import Role
from tests.browser import OutsideRequests, chromium, live_server, log_in
from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def demo_app(app: Flask, demo: None) -> Flask:
    make_user(app, Role.HQ, "hq-night")
    return app


def test_entry_form_adds_to_the_total(demo_app: Flask) -> None:
    outside = OutsideRequests()
    with live_server(demo_app) as base, chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        outside.attach(page)

        page.goto(f"{base}/disasters/akita-2023-rain/entries/new?date=2023-10-31")
        # Not logged in: the login page, which then returns to the page asked for.
        assert page.get_by_role("heading", name="ログイン").is_visible()
        log_in(page, "hq-night", PASSWORD)
        page.wait_for_url("**/entries/new?date=2023-10-31")
        assert page.get_by_test_id("person-days").inner_text() == "2,319"
        assert page.get_by_test_id("active").inner_text() == "3"

        page.get_by_label("日付").fill("2023-10-31")
        page.get_by_label("派遣区分").select_option(label="災害救助法業務に係る派遣")
        page.get_by_label("派遣元", exact=True).fill("052035 横手市")
        page.get_by_label("所属").fill("総務部危機対策課")
        page.get_by_label("派遣先").fill("五城目町")
        page.get_by_label("業務").select_option(label="災害救助法関係事務")
        page.get_by_label("人数").fill("4")
        page.get_by_role("button", name="登録").click()

        page.wait_for_url("**/entries/new?date=2023-10-31")
        assert "登録しました" in page.get_by_role("status").first.inner_text()
        assert page.get_by_test_id("person-days").inner_text() == "2,323"
        assert page.get_by_test_id("active").inner_text() == "7"

        page.goto(f"{base}/disasters/akita-2023-rain/totals?as_of=2023-10-31")
        assert page.get_by_test_id("total-person-days").inner_text() == "2,323"
        assert page.get_by_test_id("as-of").inner_text().startswith("令和5年10月31日時点")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "totals.png"), full_page=True)

    assert outside.urls == []


def test_form_errors_show_next_to_their_fields(demo_app: Flask) -> None:
    with live_server(demo_app) as base, chromium() as browser:
        page = browser.new_page(locale="ja-JP")
        page.goto(f"{base}/disasters/akita-2023-rain/entries/new")
        log_in(page, "hq-night", PASSWORD)
        page.wait_for_url("**/entries/new")
        page.get_by_label("派遣元", exact=True).fill("存在しない町")
        page.get_by_label("人数").fill("0")
        page.get_by_role("button", name="登録").click()

        sender_error = page.locator("#sender-error")
        assert "「存在しない町」に当たる団体が見つかりません" in sender_error.inner_text()
        assert "人数は1以上" in page.locator("#headcount-error").inner_text()
        assert page.get_by_label("人数").get_attribute("aria-invalid") == "true"


def test_dashboard_draws_its_charts_with_nothing_from_outside(demo_app: Flask) -> None:
    outside = OutsideRequests()
    with live_server(demo_app) as base, chromium() as browser:
        page = browser.new_page(locale="ja-JP", viewport={"width": 1280, "height": 900})
        outside.attach(page)
        page.goto(f"{base}/disasters/akita-2023-rain/?as_of=2023-10-31")
        log_in(page, "hq-night", PASSWORD)
        page.wait_for_url("**/disasters/akita-2023-rain/?as_of=2023-10-31")

        assert page.get_by_test_id("headline-person-days").inner_text() == "2,319"
        # At 1280 px the wide copy of each chart shows (the phone's copy is hidden).
        daily = page.locator('.chart-wide svg[data-chart="daily"]')
        assert daily.is_visible()
        assert daily.bounding_box()["height"] > 200  # type: ignore[index]
        # 108 days from 7/16 to 10/31; each day with dispatches draws at least one bar.
        assert daily.locator("rect[data-value]").count() >= 88
        assert daily.locator('[data-series="cumulative"]').get_attribute("data-value") == "2319"
        bars = page.locator('.chart-wide svg[data-chart="bar"]').first.locator("rect[data-value]")
        assert bars.first.get_attribute("data-value") == "1815"  # 秋田市, the largest destination

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    # The page and everything it loads came from 127.0.0.1: no CDN, no web font, no beacon.
    assert outside.urls == []
