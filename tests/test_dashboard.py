"""The dashboard: headline figures with their as-of date, charts with tables, cross tables that add up."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.extensions import db
from dispatch.models import Organisation, OrgKind, Role
from tests import factories
from tests.factories import BASE


def figure_text(html: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert match, name
    return match.group(1).strip()


def test_headline_as_of_the_end_of_october(demo: None, client: FlaskClient) -> None:
    html = client.get(f"{BASE}/?as_of=2023-10-31").get_data(as_text=True)
    assert figure_text(html, "as-of").startswith("令和5年10月31日時点（2023-10-31）")
    assert figure_text(html, "headline-person-days") == "2,319"
    assert figure_text(html, "headline-active") == "3"
    # 秋田県 and 15 municipalities sent staff; 5 towns and cities received them.
    assert figure_text(html, "headline-senders") == "16"
    assert figure_text(html, "headline-destinations") == "5"
    assert figure_text(html, "headline-days") == "0 / 88"


def test_cross_table_totals_equal_the_headline(demo: None, client: FlaskClient) -> None:
    html = client.get(f"{BASE}/?as_of=2023-08-31").get_data(as_text=True)
    assert figure_text(html, "headline-person-days") == "2,232"
    assert figure_text(html, "cross-destination-duty-total") == "2,232"
    assert figure_text(html, "cross-sender-destination-total") == "2,232"


def test_charts_are_inline_svg_with_their_tables(demo: None, client: FlaskClient) -> None:
    html = client.get(f"{BASE}/?as_of=2023-10-31").get_data(as_text=True)
    # Each chart twice: for wide screens, and drawn narrower for phones (charts.for_screens).
    assert html.count('data-chart="daily"') == 2
    assert html.count('data-chart="bar"') == 4
    assert html.count('<div class="chart-narrow">') == 3
    assert 'data-testid="daily-table"' in html
    assert 'data-testid="destination-table"' in html
    assert "<script" not in html.split("</main>")[0]


def test_closed_days_are_counted(demo: None, client_as: Callable[..., FlaskClient]) -> None:
    reviewer = client_as(Role.REVIEWER)
    for day in ("2023-10-30", "2023-10-31"):
        response = reviewer.post(f"{BASE}/closing", data={"close-day": day, "close-submit": "締める（確定）"})
        assert response.status_code == 302
    html = reviewer.get(f"{BASE}/?as_of=2023-10-31").get_data(as_text=True)
    assert figure_text(html, "headline-days") == "2 / 86"
    assert 'badge-closed">確定' in html


def test_municipality_sees_only_its_own_figures(oga: FlaskClient) -> None:
    html = oga.get(f"{BASE}/?as_of=2023-10-31").get_data(as_text=True)
    # 男鹿市 received water-supply staff only: 20 person-days (dispatch/demo.py, item 4).
    assert figure_text(html, "headline-person-days") == "20"
    assert figure_text(html, "cross-destination-duty-total") == "20"
    assert "五城目町" not in html.split('data-testid="cross-destination-duty"')[1].split("</table>")[0]


def test_a_national_disaster_shows_the_biggest_twenty_and_sums_the_rest(
    app: Flask, client: FlaskClient
) -> None:
    # 23 destinations, destination n receiving n persons on one day from 秋田県: 1 + 2 + … + 23 = 276.
    with app.app_context():
        towns = list(
            db.session.scalars(
                select(Organisation.code)
                .where(Organisation.kind != OrgKind.PREFECTURE.value, Organisation.code.like("05%"))
                .order_by(Organisation.code)
                .limit(23)
            )
        )
        for n, code in enumerate(towns, start=1):
            factories.entry(date(2023, 7, 20), n, destination=code)
        db.session.commit()

    html = client.get("/disasters/test-rain/?as_of=2023-07-31").get_data(as_text=True)

    assert figure_text(html, "headline-person-days") == "276"
    assert figure_text(html, "headline-destinations") == "23"
    # The three smallest (1 + 2 + 3 persons) are summed into その他 in the table and the cross tables.
    rest = re.search(
        r'data-testid="destination-table-rest">\s*<td>その他（3団体）.*?<td class="num">([\d,]+)</td>',
        html,
        re.S,
    )
    assert rest and rest.group(1) == "6"
    cross_rest = re.search(
        r'data-testid="cross-destination-duty-rest"><th scope="row">その他（3）</th>\s*<td class="num">([\d,]+)</td>',
        html,
    )
    assert cross_rest and cross_rest.group(1) == "6"
    assert "その他（3）" in html.split('data-testid="cross-sender-destination"')[1].split("</thead>")[0]
    assert figure_text(html, "cross-destination-duty-total") == "276"
    assert figure_text(html, "cross-sender-destination-total") == "276"
    assert "上位200までは<a" in html
