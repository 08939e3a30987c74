"""The dashboard: headline figures with their as-of date, charts with tables, cross tables that add up."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from dispatch.extensions import db
from dispatch.models import Role
from dispatch.services import seed_founding_case


@pytest.fixture
def demo(app: Flask) -> None:
    with app.app_context():
        seed_founding_case()
        db.session.commit()


def figure_text(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, name
    return match.group(1).strip()


def test_headline_as_of_the_end_of_october(demo: None, client: FlaskClient) -> None:
    html = client.get("/disasters/akita-2023-rain/?as_of=2023-10-31").get_data(as_text=True)
    assert figure_text(html, "as-of").startswith("令和5年10月31日時点（2023-10-31）")
    assert figure_text(html, "headline-person-days") == "2,319"
    assert figure_text(html, "headline-active") == "3"
    # 秋田県 and 15 municipalities sent staff; 5 towns and cities received them.
    assert figure_text(html, "headline-senders") == "16"
    assert figure_text(html, "headline-destinations") == "5"
    assert figure_text(html, "headline-days") == "0 / 88"


def test_cross_table_totals_equal_the_headline(demo: None, client: FlaskClient) -> None:
    html = client.get("/disasters/akita-2023-rain/?as_of=2023-08-31").get_data(as_text=True)
    assert figure_text(html, "headline-person-days") == "2,232"
    assert figure_text(html, "cross-destination-duty-total") == "2,232"
    assert figure_text(html, "cross-sender-destination-total") == "2,232"


def test_charts_are_inline_svg_with_their_tables(demo: None, client: FlaskClient) -> None:
    html = client.get("/disasters/akita-2023-rain/?as_of=2023-10-31").get_data(as_text=True)
    assert html.count('data-chart="daily"') == 1
    assert html.count('data-chart="bar"') == 2
    assert 'data-testid="daily-table"' in html
    assert 'data-testid="destination-table"' in html
    assert "<script" not in html.split("</main>")[0]


def test_closed_days_are_counted(demo: None, client_as: Callable[..., FlaskClient]) -> None:
    reviewer = client_as(Role.REVIEWER)
    for day in ("2023-10-30", "2023-10-31"):
        response = reviewer.post(
            "/disasters/akita-2023-rain/closing", data={"close-day": day, "close-submit": "締める（確定）"}
        )
        assert response.status_code == 302
    html = reviewer.get("/disasters/akita-2023-rain/?as_of=2023-10-31").get_data(as_text=True)
    assert figure_text(html, "headline-days") == "2 / 86"
    assert 'badge-closed">確定' in html


def test_municipality_sees_only_its_own_figures(demo: None, client_as: Callable[..., FlaskClient]) -> None:
    oga = client_as(Role.MUNICIPALITY, "oga", "052060")
    html = oga.get("/disasters/akita-2023-rain/?as_of=2023-10-31").get_data(as_text=True)
    # 男鹿市 received water-supply staff only: 20 person-days (dispatch/demo.py, item 4).
    assert figure_text(html, "headline-person-days") == "20"
    assert figure_text(html, "cross-destination-duty-total") == "20"
    assert "五城目町" not in html.split('data-testid="cross-destination-duty"')[1].split("</table>")[0]
