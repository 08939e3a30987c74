"""Requests and fill, against a scenario worked out by hand.

Requests of the test disaster (persons a day):

    R1  五城目町 避難所運営   30 from 8/1 to 8/31, revised to 40 from 8/5   (partially filled)
    R2  井川町   給水業務     5 from 8/1 to 8/10                            (over-filled on 8/3)
    R3  男鹿市   家屋被害認定  10 from 8/1 to 8/20, withdrawn from 8/4
Assignments: R1 横手市 10 (8/1–8/15) and 秋田市 15 (8/3–8/31); R2 能代市 5 (8/1–8/10); R3 小坂町 4 (8/1–8/20).
Entries:
    8/3  横手市→五城目町 避難所運営 10, 秋田市→五城目町 避難所運営 8, 能代市→井川町 給水 8,
         小坂町→男鹿市 家屋被害認定 4, 秋田県→八峰町 災害廃棄物 3 and 秋田県→五城目町 給水 2 (no request)
    8/6  横手市→五城目町 避難所運営 10, 秋田市→五城目町 避難所運営 15, 小坂町→男鹿市 家屋被害認定 4

8/3: 男鹿市 10 / 4 / 4 / 6; 八峰町 0 / 0 / 3 / 0; 五城目町 避難所 30 / 25 / 18 / 12; 五城目町 給水 0 / 0 / 2 / 0;
     井川町 5 / 5 / 8 / 0. Totals 45 requested, 34 assigned, 35 on duty, 18 unfilled.
8/6: 男鹿市 0 / 0 / 4 / 0 (withdrawn); 五城目町 避難所 40 / 25 / 25 / 15; 井川町 5 / 5 / 0 / 5.
     Totals 45, 30, 29, 20.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from dispatch.entries import log_entries
from dispatch.extensions import db
from dispatch.fill import fill_on, linked_days
from dispatch.models import Disaster, Role
from dispatch.request_board import board
from dispatch.request_models import StaffRequest
from dispatch.requests import (
    RequestRefused,
    add_assignment,
    linked_request,
    persons_on,
    revise_request,
    withdraw_request,
)
from tests.factories import (
    AKITA_CITY,
    AKITA_PREF,
    GOJOME,
    HAPPO,
    IKAWA,
    KOSAKA,
    NOSHIRO,
    OGA,
    YOKOTE,
    disaster,
    draft,
    duty,
    hq,
    org,
    staff_request,
)

AUG = {day: date(2023, 8, day) for day in range(1, 32)}


def new_request(
    rain: Disaster, number: str, requester: str, duty_code: str, persons: int, start: int, end: int
) -> StaffRequest:
    return staff_request(rain, number, requester, duty_code, persons, AUG[start], AUG[end])


def assign(request: StaffRequest, sender: str, persons: int, start: int, end: int) -> None:
    add_assignment(
        request, org(sender), hq(), persons=persons, date_from=AUG[start], date_to=AUG[end], decided_on=AUG[1]
    )


@pytest.fixture
def scenario(app: Flask) -> None:
    with app.app_context():
        rain = disaster()
        r1 = new_request(rain, "R1", GOJOME, "shelter", 30, 1, 31)
        revise_request(r1, hq(), persons=40, date_from=AUG[5], date_to=AUG[31])
        r2 = new_request(rain, "R2", IKAWA, "water_supply", 5, 1, 10)
        r3 = new_request(rain, "R3", OGA, "damage_survey", 10, 1, 20)
        assign(r1, YOKOTE, 10, 1, 15)
        assign(r1, AKITA_CITY, 15, 3, 31)
        assign(r2, NOSHIRO, 5, 1, 10)
        assign(r3, KOSAKA, 4, 1, 20)
        withdraw_request(r3, AUG[4], hq(), "自前で対応")
        shelter = {"destination": GOJOME, "duty_code": "shelter"}
        survey = {"sender": KOSAKA, "destination": OGA, "duty_code": "damage_survey"}
        log_entries(
            [
                draft(AUG[3], 10, sender=YOKOTE, **shelter),
                draft(AUG[3], 8, sender=AKITA_CITY, **shelter),
                draft(AUG[3], 8, sender=NOSHIRO, destination=IKAWA, duty_code="water_supply"),
                draft(AUG[3], 4, **survey),
                draft(AUG[3], 3, sender=AKITA_PREF, destination=HAPPO, duty_code="debris"),
                draft(AUG[3], 2, sender=AKITA_PREF, destination=GOJOME, duty_code="water_supply"),
                draft(AUG[6], 10, sender=YOKOTE, **shelter),
                draft(AUG[6], 15, sender=AKITA_CITY, **shelter),
                draft(AUG[6], 4, **survey),
            ],
            actor=hq(),
        )
        db.session.commit()


def rows_of(fill_json: dict[str, object]) -> list[tuple[object, ...]]:
    rows = fill_json["rows"]
    assert isinstance(rows, list)
    return [
        (r["destination"], r["duty"], r["requested"], r["assigned"], r["on_duty"], r["unfilled"])
        for r in rows
    ]


AUG3 = {
    "disaster": "test-rain",
    "date": "2023-08-03",
    "requested": 45,
    "assigned": 34,
    "on_duty": 35,
    "unfilled": 18,
    "unassigned": 0,
}
AUG3_ROWS = [
    (OGA, "damage_survey", 10, 4, 4, 6),
    (HAPPO, "debris", 0, 0, 3, 0),
    (GOJOME, "shelter", 30, 25, 18, 12),
    (GOJOME, "water_supply", 0, 0, 2, 0),
    (IKAWA, "water_supply", 5, 5, 8, 0),
]
AUG6_ROWS = [
    (OGA, "damage_survey", 0, 0, 4, 0),
    (GOJOME, "shelter", 40, 25, 25, 15),
    (IKAWA, "water_supply", 5, 5, 0, 5),
]


def test_fill_json_matches_the_hand_computed_scenario(scenario: None, client: FlaskClient) -> None:
    answer = client.get("/disasters/test-rain/fill.json?date=2023-08-03").get_json()
    assert {k: v for k, v in answer.items() if k != "rows"} == AUG3
    assert rows_of(answer) == AUG3_ROWS
    assert set(answer["rows"][0]) == {
        "destination",
        "duty",
        "requested",
        "assigned",
        "on_duty",
        "unfilled",
        "unassigned",
    }
    later = client.get("/disasters/test-rain/fill.json?date=2023-08-06").get_json()
    assert (later["requested"], later["assigned"], later["on_duty"], later["unfilled"]) == (45, 30, 29, 20)
    assert rows_of(later) == AUG6_ROWS


def test_the_cli_gives_the_same_as_fill_json(
    scenario: None, client: FlaskClient, runner: FlaskCliRunner
) -> None:
    page = client.get("/disasters/test-rain/fill.json?date=2023-08-03").get_json()
    result = runner.invoke(args=["fill", "test-rain", "--date", "2023-08-03", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == page
    result = runner.invoke(args=["fill", "test-rain", "--date", "令和5年8月3日", "--format", "csv"])
    rows = list(csv.reader(io.StringIO(result.output)))
    assert rows[0] == ["destination", "duty", "requested", "assigned", "on_duty", "unfilled"]
    assert [tuple(r[:2]) + tuple(int(x) for x in r[2:]) for r in rows[1:]] == AUG3_ROWS
    table = runner.invoke(args=["fill", "test-rain", "--date", "2023-08-03"]).output
    assert "要請 45人/日 / 調整済み 34人/日 / 従事 35人 / 未充足 18人" in table


def test_a_revision_applies_from_its_own_start(scenario: None, app: Flask) -> None:
    with app.app_context():
        rain = disaster()
        shelter = (org(GOJOME).code, "shelter")

        def requested(day: int) -> int:
            rows = {(r.destination, r.duty): r.requested for r in fill_on(rain, AUG[day]).rows}
            return rows.get(shelter, 0)

        assert [requested(d) for d in (1, 4, 5, 31)] == [30, 30, 40, 40]
        # Outside the period nothing is requested: the row is gone.
        assert requested(1) == 30 and fill_on(rain, date(2023, 9, 1)).rows == []


def test_a_withdrawn_request_counts_up_to_the_day_before(scenario: None, app: Flask) -> None:
    with app.app_context():
        [r3] = [r for r in db.session.query(StaffRequest) if r.number == "R3"]
        assert [persons_on(r3, AUG[d]) for d in (3, 4, 5)] == [10, 0, 0]
        with pytest.raises(RequestRefused):
            withdraw_request(r3, AUG[5], hq())


def test_entries_link_to_the_one_matching_request(scenario: None, app: Flask) -> None:
    with app.app_context():
        rain = disaster()
        found = linked_request(rain.id, org(GOJOME).id, duty("shelter").id, AUG[3])
        assert found is not None and found.number == "R1"
        assert linked_days(found, AUG[31]) == [(AUG[3], 18), (AUG[6], 25)]
        # No request for 給水 at 五城目町, and R3 withdrawn by 8/6.
        assert linked_request(rain.id, org(GOJOME).id, duty("water_supply").id, AUG[3]) is None
        assert linked_request(rain.id, org(OGA).id, duty("damage_survey").id, AUG[6]) is None
        # Two requests for the same destination and duty: no automatic link.
        new_request(rain, "R4", GOJOME, "shelter", 2, 3, 3)
        assert linked_request(rain.id, org(GOJOME).id, duty("shelter").id, AUG[3]) is None
        assert linked_days(found, AUG[31]) == [(AUG[6], 25)]
        db.session.rollback()


def test_the_board_shows_open_requests_and_days_short(scenario: None, app: Flask) -> None:
    with app.app_context():
        rows = {r.request.number: r for r in board(disaster(), AUG[6])}
        # R3 is withdrawn; R1: 40 asked, 25 on duty, short every day 8/1–8/6 (0, 0, 18, 0, 0, 25 on duty);
        # R2: 5 asked, 0 on duty on 8/6, short on every day but 8/3.
        assert sorted(rows) == ["R1", "R2"]
        assert (rows["R1"].requested, rows["R1"].on_duty, rows["R1"].days_short) == (40, 25, 6)
        assert (rows["R2"].requested, rows["R2"].on_duty, rows["R2"].days_short) == (5, 0, 5)
        assert rows["R1"].percent == 62


def test_the_board_shows_the_most_short_requests_and_counts_the_rest(
    scenario: None, app: Flask, client: FlaskClient
) -> None:
    with app.app_context():
        # R1 is 15 short (40 asked, 25 on duty), R2 5 short: one row shows R1, and says one more asks.
        shown = board(disaster(), AUG[6], limit=1)
        assert [(r.request.number, r.requested, r.on_duty, r.days_short) for r in shown] == [
            ("R1", 40, 25, 6)
        ]
        assert (shown.asking, shown.hidden) == (2, 1)
        assert board(disaster(), AUG[6], limit=0).asking == 2
    page = client.get("/disasters/test-rain/?as_of=2023-08-06").get_data(as_text=True)
    assert 'data-testid="request-board"' in page and "request-board-hidden" not in page


def test_a_municipality_sees_only_its_own_destination(
    scenario: None, client_as: Callable[..., FlaskClient]
) -> None:
    gojome = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    answer = gojome.get("/disasters/test-rain/fill.json?date=2023-08-03").get_json()
    assert rows_of(answer) == [(GOJOME, "shelter", 30, 25, 18, 12), (GOJOME, "water_supply", 0, 0, 2, 0)]


def test_fill_json_refuses_a_bad_date(scenario: None, client: FlaskClient) -> None:
    response = client.get("/disasters/test-rain/fill.json?date=2023-13-01")
    assert response.status_code == 400 and "error" in response.get_json()
    response = client.get("/disasters/test-rain/fill.json?fiscal_year=twenty")
    assert response.status_code == 400 and "年度" in response.get_json()["error"]
