"""Entries linked by choice to one of several requests (request_links.py) and the fill they give, by hand.

Requests of the test disaster (persons a day, August 2023):

    L1  五城目町 避難所運営 土木  10 from 8/1 to 8/31
    L2  五城目町 避難所運営 建築   5 from 8/1 to 8/31   (same destination and duty as L1)
    L3  井川町   給水業務         5 from 8/1 to 8/10   (alone on its destination × duty: automatic)
Entries (all 避難所運営 at 五城目町 unless said):
    8/3  横手市 8, 秋田市 5; 能代市→井川町 給水 4
    8/4  横手市 8, 能代市 3
    8/6  横手市 16, 秋田市 2
    9/5  小坂町 2 (after both periods)

Links chosen: 8/3 横手市 → L1, 秋田市 → L2; 8/4 横手市 → L1 (能代市 left unassigned); 8/6 横手市 → L1,
秋田市 → L2.

8/3: L1 10 / 8 on duty / 2 unfilled; L2 5 / 5 / 0; the row 15 / 13 / 2, nothing unassigned.
     L3 5 / 4 / 1 without any link (the only request there).
8/4: L1 10 / 8 / 2; L2 5 / 0 / 5; 3 unassigned: the row 15 requested, 11 on duty, 7 short less 3 = 4 unfilled.
8/6: L1 over-filled 10 / 16 / 0, which is no credit for L2 5 / 2 / 3: the row 15 / 18 / 3 (before the links
     it read 0, as 18 ≥ 15).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.entries import delete_entry, log_entries
from dispatch.extensions import db
from dispatch.fill import linked_days, unassigned_days
from dispatch.models import AuditRecord, Entry, Role
from dispatch.request_board import board
from dispatch.request_links import link_entries, unlink_entries
from dispatch.request_models import EntryRequestLink, StaffRequest
from dispatch.requests import RequestRefused
from tests.factories import (
    AKITA_CITY,
    GOJOME,
    IKAWA,
    KOSAKA,
    NOSHIRO,
    YOKOTE,
    disaster,
    draft,
    hq,
    org,
    staff_request,
)

BASE = "/disasters/test-rain"
AUG = {day: date(2023, 8, day) for day in range(1, 32)}


def new_request(number: str, requester: str, duty_code: str, job_type: str, persons: int, end: int) -> None:
    staff_request(disaster(), number, requester, duty_code, persons, AUG[1], AUG[end], job_type=job_type)


@pytest.fixture
def two_requests(app: Flask) -> None:
    with app.app_context():
        new_request("L1", GOJOME, "shelter", "土木", 10, 31)
        new_request("L2", GOJOME, "shelter", "建築", 5, 31)
        new_request("L3", IKAWA, "water_supply", "", 5, 10)
        shelter = {"destination": GOJOME, "duty_code": "shelter"}
        log_entries(
            [
                draft(AUG[3], 8, sender=YOKOTE, **shelter),
                draft(AUG[3], 5, sender=AKITA_CITY, **shelter),
                draft(AUG[3], 4, sender=NOSHIRO, destination=IKAWA, duty_code="water_supply"),
                draft(AUG[4], 8, sender=YOKOTE, **shelter),
                draft(AUG[4], 3, sender=NOSHIRO, **shelter),
                draft(AUG[6], 16, sender=YOKOTE, **shelter),
                draft(AUG[6], 2, sender=AKITA_CITY, **shelter),
                draft(date(2023, 9, 5), 2, sender=KOSAKA, **shelter),
            ],
            actor=hq(),
        )
        db.session.commit()


def request_id(app: Flask, number: str) -> int:
    with app.app_context():
        found = db.session.scalar(select(StaffRequest.id).where(StaffRequest.number == number))
        assert found is not None
        return found


def entry_id(app: Flask, day: date, sender: str, destination: str = GOJOME) -> int:
    with app.app_context():
        found = db.session.scalar(
            select(Entry.id).where(
                Entry.date == day,
                Entry.sender_id == org(sender).id,
                Entry.destination_id == org(destination).id,
            )
        )
        assert found is not None
        return found


def choose(client: FlaskClient, app: Flask, number: str, day: date, *senders: str) -> None:
    response = client.post(
        f"{BASE}/requests/{request_id(app, number)}/links",
        data={
            "date": day.isoformat(),
            "action": "link",
            "entry": [str(entry_id(app, day, s)) for s in senders],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.fixture
def linked(two_requests: None, app: Flask, client: FlaskClient) -> None:
    choose(client, app, "L1", AUG[3], YOKOTE)
    choose(client, app, "L2", AUG[3], AKITA_CITY)
    choose(client, app, "L1", AUG[4], YOKOTE)
    choose(client, app, "L1", AUG[6], YOKOTE)
    choose(client, app, "L2", AUG[6], AKITA_CITY)


def shelter_row(answer: dict[str, object]) -> dict[str, object]:
    rows = answer["rows"]
    assert isinstance(rows, list)
    [row] = [r for r in rows if r["destination"] == GOJOME and r["duty"] == "shelter"]
    return dict(row)


def by_request(answer: dict[str, object]) -> dict[str, tuple[str, int, int, int, int]]:
    found = answer["requests"]
    assert isinstance(found, list)
    return {
        r["request"]: (r["job_type"], r["requested"], r["assigned"], r["on_duty"], r["unfilled"])
        for r in found
    }


def test_before_any_link_the_shared_row_reads_as_before(two_requests: None, client: FlaskClient) -> None:
    answer = client.get(f"{BASE}/fill.json?date=2023-08-03&by=request").get_json()
    row = shelter_row(answer)
    assert (row["requested"], row["on_duty"], row["unassigned"], row["unfilled"]) == (15, 13, 13, 2)
    # Nobody has chosen: neither request is filled by anyone in particular; L3 is alone, so automatic.
    assert by_request(answer) == {
        "L1": ("土木", 10, 0, 0, 10),
        "L2": ("建築", 5, 0, 0, 5),
        "L3": ("", 5, 0, 4, 1),
    }
    assert (answer["requested"], answer["on_duty"], answer["unfilled"], answer["unassigned"]) == (
        20,
        17,
        3,
        13,
    )


def test_linked_entries_fill_their_own_request(linked: None, client: FlaskClient) -> None:
    answer = client.get(f"{BASE}/fill.json?date=2023-08-03&by=request").get_json()
    row = shelter_row(answer)
    assert (row["requested"], row["on_duty"], row["unassigned"], row["unfilled"]) == (15, 13, 0, 2)
    assert by_request(answer) == {
        "L1": ("土木", 10, 0, 8, 2),
        "L2": ("建築", 5, 0, 5, 0),
        "L3": ("", 5, 0, 4, 1),
    }
    # Without ?by=request the answer has its documented shape only.
    assert "requests" not in client.get(f"{BASE}/fill.json?date=2023-08-03").get_json()


def test_an_unlinked_entry_under_two_requests_is_unassigned(linked: None, client: FlaskClient) -> None:
    answer = client.get(f"{BASE}/fill.json?date=2023-08-04&by=request").get_json()
    row = shelter_row(answer)
    assert (row["requested"], row["on_duty"], row["unassigned"], row["unfilled"]) == (15, 11, 3, 4)
    assert by_request(answer)["L1"] == ("土木", 10, 0, 8, 2)
    assert by_request(answer)["L2"] == ("建築", 5, 0, 0, 5)
    page = client.get(f"{BASE}/fill?date=2023-08-04").get_data(as_text=True)
    assert 'data-testid="fill-by-request"' in page and "未割当 3人" in page


def test_an_over_filled_request_is_no_credit_for_its_neighbour(linked: None, client: FlaskClient) -> None:
    answer = client.get(f"{BASE}/fill.json?date=2023-08-06&by=request").get_json()
    row = shelter_row(answer)
    assert (row["requested"], row["on_duty"], row["unassigned"], row["unfilled"]) == (15, 18, 0, 3)
    assert by_request(answer)["L1"] == ("土木", 10, 0, 16, 0)
    assert by_request(answer)["L2"] == ("建築", 5, 0, 2, 3)


def test_the_cli_agrees_with_fill_json(linked: None, client: FlaskClient, app: Flask) -> None:
    runner = app.test_cli_runner()
    for asked, by in (("", []), ("&by=request", ["--by-request"])):
        page = client.get(f"{BASE}/fill.json?date=2023-08-06{asked}").get_json()
        result = runner.invoke(args=["fill", "test-rain", "--date", "2023-08-06", "--format", "json", *by])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output) == page
    table = runner.invoke(args=["fill", "test-rain", "--date", "2023-08-04", "--by-request"]).output
    assert "未割当 3人" in table and "要請L2 053619 shelter 建築" in table


def test_the_request_page_board_and_list_use_the_links(linked: None, app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        rows = {r.request.number: r for r in board(disaster(), AUG[4])}
        # L1: 0, 0, 8, 8 of 10 on 8/1–8/4, and on 8/4 the 3 unassigned could make it 11: short on three.
        # L2: 0, 0, 5, 0 of 5, on 8/4 at most 3: short on three. L3 (井川町, alone): 0, 0, 4, 0 of 5: four.
        assert (rows["L1"].requested, rows["L1"].on_duty, rows["L1"].days_short, rows["L1"].unassigned) == (
            10,
            8,
            3,
            3,
        )
        assert (rows["L2"].requested, rows["L2"].on_duty, rows["L2"].days_short, rows["L2"].unassigned) == (
            5,
            0,
            3,
            3,
        )
        assert (rows["L3"].on_duty, rows["L3"].days_short) == (0, 4)
        l1 = db.session.scalars(select(StaffRequest).where(StaffRequest.number == "L1")).one()
        assert linked_days(l1, AUG[31]) == [(AUG[3], 8), (AUG[4], 8), (AUG[6], 16)]
        assert unassigned_days(l1) == [(AUG[4], 3)]
    page = client.get(f"{BASE}/requests/{request_id(app, 'L2')}").get_data(as_text=True)
    assert "複数の要請に該当し未割当のエントリ" in page
    assert f"/requests/{request_id(app, 'L2')}/links?date=2023-08-04" in page
    listing = client.get(f"{BASE}/requests?date=2023-08-03").get_data(as_text=True)
    # Each request's own on duty (not the 13 of the whole destination × duty twice) and its status.
    states = re.findall(
        r'>(L\d)</a>.*?data-label="従事" class="num">(\d+)<.*?"request-state">([^<]+)<', listing, re.S
    )
    assert states == [("L1", "8", "一部充足"), ("L2", "5", "充足"), ("L3", "4", "一部充足")]


def test_the_days_unassigned_entries_link_in_one_go(linked: None, app: Flask, client: FlaskClient) -> None:
    l2 = request_id(app, "L2")
    page = client.get(f"{BASE}/requests/{l2}/links?date=2023-08-04").get_data(as_text=True)
    assert "未割当 3人" in page and "この日の未割当をすべて要請L2に割り当てる" in page
    response = client.post(
        f"{BASE}/requests/{l2}/links", data={"date": "2023-08-04", "action": "link_unassigned"}
    )
    assert response.status_code == 302
    answer = client.get(f"{BASE}/fill.json?date=2023-08-04&by=request").get_json()
    assert (shelter_row(answer)["unassigned"], shelter_row(answer)["unfilled"]) == (0, 4)
    assert by_request(answer)["L2"] == ("建築", 5, 0, 3, 2)
    with app.app_context():
        records = db.session.scalars(
            select(AuditRecord).where(AuditRecord.object_type == "request_link").order_by(AuditRecord.id)
        ).all()
        # Five chosen by the fixture, one here.
        assert [r.action for r in records] == ["link"] * 6
        assert records[-1].after == {"entry": records[-1].after["entry"], "request": "L2"}
        assert "能代市" in records[-1].after["entry"]


def test_moving_and_removing_a_link(linked: None, app: Flask, client: FlaskClient) -> None:
    yokote = entry_id(app, AUG[3], YOKOTE)
    with app.app_context():
        l2 = db.session.scalars(select(StaffRequest).where(StaffRequest.number == "L2")).one()
        assert link_entries(l2, [yokote], hq()) == 1
        db.session.commit()
    answer = client.get(f"{BASE}/fill.json?date=2023-08-03&by=request").get_json()
    assert by_request(answer)["L1"][3:] == (0, 10) and by_request(answer)["L2"][3:] == (13, 0)
    response = client.post(
        f"{BASE}/requests/{request_id(app, 'L2')}/links",
        data={"date": "2023-08-03", "action": "unlink", "entry": [str(yokote)]},
    )
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(EntryRequestLink, yokote) is None
        l1 = db.session.scalars(select(StaffRequest).where(StaffRequest.number == "L1")).one()
        # Not linked to L1: nothing to remove.
        assert unlink_entries(l1, [yokote], hq()) == 0
        moved = db.session.scalars(
            select(AuditRecord).where(
                AuditRecord.object_type == "request_link", AuditRecord.object_id == yokote
            )
        ).all()
        assert [
            (r.action, (r.before or {}).get("request"), (r.after or {}).get("request")) for r in moved
        ] == [
            ("link", None, "L1"),
            ("link", "L1", "L2"),
            ("unlink", "L2", None),
        ]
    row = shelter_row(client.get(f"{BASE}/fill.json?date=2023-08-03").get_json())
    assert (row["unassigned"], row["unfilled"]) == (8, 2)


def test_a_link_to_a_request_the_entry_does_not_match_is_refused(
    two_requests: None, app: Flask, client: FlaskClient
) -> None:
    l1 = request_id(app, "L1")
    other_place = entry_id(app, AUG[3], NOSHIRO, IKAWA)
    response = client.post(
        f"{BASE}/requests/{l1}/links",
        data={"date": "2023-08-03", "action": "link", "entry": [str(other_place)]},
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "要請L1に該当しない派遣は割り当てられません。" in text and "派遣先・業務が要請" in text
    late = entry_id(app, date(2023, 9, 5), KOSAKA)
    with app.app_context():
        item = db.session.get(StaffRequest, l1)
        assert item is not None
        with pytest.raises(RequestRefused, match="令和5年9月5日は要請の期間外です"):
            link_entries(item, [late], hq())
        # All or none: a good entry beside a bad one is not linked either.
        good = entry_id(app, AUG[3], YOKOTE)
        with pytest.raises(RequestRefused):
            link_entries(item, [good, other_place], hq())
        db.session.rollback()
        assert db.session.scalar(select(EntryRequestLink)) is None
    bad = client.post(
        f"{BASE}/requests/{l1}/links", data={"date": "2023-08-03", "action": "link", "entry": ["x"]}
    )
    assert bad.status_code == 422 and "派遣の番号が読めません。" in bad.get_data(as_text=True)


def test_a_municipality_links_only_its_own_bodys_requests(
    two_requests: None, app: Flask, client_as: Callable[..., FlaskClient]
) -> None:
    gojome = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    ikawa = client_as(Role.MUNICIPALITY, "ikawa", IKAWA)
    yokote = client_as(Role.MUNICIPALITY, "yokote", YOKOTE)
    reviewer = client_as(Role.REVIEWER)
    l1, l3 = request_id(app, "L1"), request_id(app, "L3")
    own = {"date": "2023-08-03", "action": "link", "entry": [str(entry_id(app, AUG[3], YOKOTE))]}
    # 井川町 cannot see 五城目町's request at all; 横手市 sends the entry but the request is not its own.
    assert ikawa.post(f"{BASE}/requests/{l1}/links", data=own).status_code == 404
    assert yokote.post(f"{BASE}/requests/{l1}/links", data=own).status_code == 404
    assert reviewer.post(f"{BASE}/requests/{l1}/links", data=own).status_code == 403
    # 五城目町 cannot put 井川町's entry under its own request, nor reach 井川町's request.
    theirs = {"date": "2023-08-03", "action": "link", "entry": [str(entry_id(app, AUG[3], NOSHIRO, IKAWA))]}
    refused = gojome.post(f"{BASE}/requests/{l1}/links", data=theirs)
    assert refused.status_code == 422 and "派遣先・業務が要請" in refused.get_data(as_text=True)
    assert gojome.post(f"{BASE}/requests/{l3}/links", data=theirs).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(EntryRequestLink)) is None
    # Its own entry under its own request: linked.
    assert gojome.get(f"{BASE}/requests/{l1}/links?date=2023-08-03").status_code == 200
    assert gojome.post(f"{BASE}/requests/{l1}/links", data=own).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(EntryRequestLink.request_id)) == l1


def test_a_deleted_entry_takes_its_link_with_it(linked: None, app: Flask, client: FlaskClient) -> None:
    yokote = entry_id(app, AUG[6], YOKOTE)
    with app.app_context():
        entry = db.session.get(Entry, yokote)
        assert entry is not None
        delete_entry(entry, hq(), "誤入力")
        db.session.commit()
        assert db.session.get(EntryRequestLink, yokote) is None
    row = shelter_row(client.get(f"{BASE}/fill.json?date=2023-08-06").get_json())
    assert (row["requested"], row["on_duty"], row["unfilled"]) == (15, 2, 13)


def test_the_digest_names_the_requests_own_gap(linked: None, client_as: Callable[..., FlaskClient]) -> None:
    reviewer = client_as(Role.REVIEWER)
    # The digest dated 8/7 covers 8/6: 18 on duty of 15 asked, yet 建築 is 3 short.
    text = reviewer.get("/digests/preview?date=2023-08-07&org=division").get_data(as_text=True)
    assert "未充足: 五城目町 避難所運営 15人/日のうち18人（要請ごとの不足 3人）" in text
    # The digest dated 8/5 covers 8/4: 11 of 15, 4 missing, as requested less on duty says.
    text = reviewer.get("/digests/preview?date=2023-08-05&org=division").get_data(as_text=True)
    assert "未充足: 五城目町 避難所運営 15人/日のうち11人" in text and "要請ごとの不足" not in text
