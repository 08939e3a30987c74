"""The field page and the rotation calendar in headless Chromium at 1366 and 390 px: nothing scrolls sideways
(issue 17). Three rotations of long-named teams to one destination, overlapping and with a gap."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask

from dispatch.extensions import db
from dispatch.models import Role
from dispatch.roster import PersonFields, add_person
from tests import factories
from tests.browser import chromium, live_server, log_in
from tests.factories import PASSWORD, make_user
from tests.test_roster import NAGASAKI_PREF, fill, team

pytestmark = pytest.mark.browser

WIDTHS = ({"width": 1366, "height": 768}, {"width": 390, "height": 844})
SLUG = "noto-roster"


@pytest.fixture
def rotations(app: Flask) -> None:
    with app.app_context():
        disaster = factories.disaster(SLUG, date(2024, 1, 1))
        op = factories.operation(disaster, "counterpart")
        staff = [
            add_person(
                disaster,
                PersonFields(
                    name=f"長崎 とても長い氏名の職員{n}",
                    kana=f"ナガサキ ショクイン{n}",
                    sender=factories.org(NAGASAKI_PREF),
                    staff_kind="prefecture",
                    sender_unit="危機管理監危機管理課防災企画班（災害対策本部事務局）",
                    position="防災監兼危機管理課長補佐",
                    contact="095-000-0000（内線 1234）／090-0000-0000",
                ),
                factories.hq(),
            )  # fmt: skip
            for n in range(12)
        ]
        fill(team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 27)), staff[:6])
        fill(team(disaster, op, 2, date(2024, 2, 25), date(2024, 3, 3)), staff[6:])
        team(disaster, op, 3, date(2024, 3, 8), date(2024, 3, 15))
        db.session.commit()


def test_field_page_and_rotation_calendar_fit_1366_and_390(app: Flask, rotations: None) -> None:
    make_user(app, Role.HQ, "roster-hq")
    found: list[str] = []
    with live_server(app) as base, chromium() as browser:
        for size in WIDTHS:
            page = browser.new_page(viewport=size)  # type: ignore[arg-type]
            page.goto(f"{base}/login")
            log_in(page, "roster-hq", PASSWORD)
            for path in (f"/disasters/{SLUG}/field?date=2024-02-26", f"/disasters/{SLUG}/rotation"):
                page.goto(base + path)
                scroll, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
                if scroll > inner:
                    found.append(f"{path} at {size['width']}px: {scroll}px wide")
                if path.endswith("rotation"):
                    assert page.get_by_text("（重なりあり）").count() == 2
                    assert page.get_by_test_id("rotation-gaps").count() == 1
                else:
                    assert page.get_by_test_id("field-count").inner_text().endswith("12人（移動日を含む）")
            page.close()
    assert found == []
