"""The request pages: who may enter, edit, revise, withdraw and close; the board on the dashboard; counterparts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.extensions import db
from dispatch.models import AuditRecord, Role
from dispatch.request_models import StaffRequest
from tests.factories import GOJOME, IKAWA, YOKOTE, disaster, entry

BASE = "/disasters/test-rain"


def request_form(**changes: str) -> dict[str, str]:
    form = {
        "number": "R-1",
        "requester": f"{GOJOME} 五城目町",
        "received_on": "2023-07-31",
        "route": "agreement",
        "duty": "shelter",
        "job_type": "一般事務",
        "persons": "30",
        "date_from": "2023-08-01",
        "date_to": "2023-08-31",
        "fiscal_year": "",
        "place": "五城目町役場",
        "reason": "避難所の運営",
        "conditions": "",
        "lodging": "",
        "note": "",
    }
    form.update(changes)
    return form


def the_request(app: Flask, number: str = "R-1") -> StaffRequest:
    with app.app_context():
        found = db.session.scalar(select(StaffRequest).where(StaffRequest.number == number))
        assert found is not None
        db.session.expunge(found)
        return found


def setup_disaster(app: Flask) -> None:
    with app.app_context():
        disaster()
        db.session.commit()


def test_hq_enters_revises_assigns_and_withdraws(app: Flask, client: FlaskClient) -> None:
    setup_disaster(app)
    response = client.post(f"{BASE}/requests/new", data=request_form())
    assert response.status_code == 302, response.get_data(as_text=True)
    item = the_request(app)
    page = f"{BASE}/requests/{item.id}"
    assert "五城目町" in client.get(page).get_data(as_text=True)
    revised = client.post(
        f"{page}/revise",
        data={"persons": "40", "date_from": "2023-08-05", "date_to": "2023-08-31", "note": "増員"},
    )
    assert revised.status_code == 302
    assigned = client.post(
        f"{page}/assignments",
        data={
            "sender": f"{YOKOTE} 横手市",
            "persons": "10",
            "date_from": "2023-08-01",
            "date_to": "2023-08-15",
            "decided_on": "2023-07-31",
        },
    )
    assert assigned.status_code == 302
    fill = client.get(f"{BASE}/fill.json?date=2023-08-06").get_json()
    assert fill["rows"] == [
        {
            "destination": GOJOME,
            "duty": "shelter",
            "requested": 40,
            "assigned": 10,
            "on_duty": 0,
            "unfilled": 40,
            "unassigned": 0,
        }
    ]
    listing = client.get(f"{BASE}/requests?date=2023-08-06").get_data(as_text=True)
    assert "R-1" in listing and "調整中" in listing
    assert client.post(f"{page}/withdraw", data={"on": "2023-08-10", "reason": "不要"}).status_code == 302
    assert client.get(f"{BASE}/fill.json?date=2023-08-10").get_json()["requested"] == 0
    with app.app_context():
        actions = db.session.scalars(
            select(AuditRecord.action).where(AuditRecord.object_type.in_(["request", "assignment"]))
        ).all()
        assert sorted(actions) == ["create", "create", "revise", "withdraw"]


def test_bad_input_is_shown_next_to_its_field(app: Flask, client: FlaskClient) -> None:
    setup_disaster(app)
    response = client.post(
        f"{BASE}/requests/new", data=request_form(date_to="2023-07-01", persons="たくさん")
    )
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "人数は半角数字で入力してください。" in text and "終了日が開始日より前です。" in text
    long_term = client.post(f"{BASE}/requests/new", data=request_form(route="long_term", duty=""))
    assert long_term.status_code == 422 and "年度を入力してください" in long_term.get_data(as_text=True)
    assert client.post(f"{BASE}/requests/new", data=request_form()).status_code == 302
    again = client.post(f"{BASE}/requests/new", data=request_form())
    assert again.status_code == 422 and "登録済み" in again.get_data(as_text=True)


def test_roles(app: Flask, client: FlaskClient, client_as: Callable[..., FlaskClient]) -> None:
    setup_disaster(app)
    reviewer = client_as(Role.REVIEWER)
    assert reviewer.post(f"{BASE}/requests/new", data=request_form()).status_code == 403
    gojome = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    ikawa = client_as(Role.MUNICIPALITY, "ikawa", IKAWA)
    # A municipality enters its own body's request, not another's.
    assert gojome.post(f"{BASE}/requests/new", data=request_form()).status_code == 302
    refused = ikawa.post(f"{BASE}/requests/new", data=request_form(number="R-2"))
    assert refused.status_code == 403 and "自団体の要請だけ" in refused.get_data(as_text=True)
    item = the_request(app)
    assert "R-1" in gojome.get(f"{BASE}/requests").get_data(as_text=True)
    assert "R-1" not in ikawa.get(f"{BASE}/requests").get_data(as_text=True)
    assert ikawa.get(f"{BASE}/requests/{item.id}").status_code == 404
    assert gojome.post(f"{BASE}/requests/{item.id}/withdraw", data={"on": "2023-08-10"}).status_code == 403
    # HQ may not close; a reviewer may.
    assert client.post(f"{BASE}/requests/{item.id}/state", data={"state": "closed"}).status_code == 403
    assert reviewer.post(f"{BASE}/requests/{item.id}/state", data={"state": "closed"}).status_code == 302
    assert "終了" in reviewer.get(f"{BASE}/requests/{item.id}").get_data(as_text=True)


def test_the_dashboard_shows_the_request_board(app: Flask, client: FlaskClient) -> None:
    setup_disaster(app)
    client.post(f"{BASE}/requests/new", data=request_form(persons="30", date_from="2023-08-01"))
    with app.app_context():
        entry(
            date(2023, 8, 2),
            18,
            sender=YOKOTE,
            destination=GOJOME,
            duty_code="shelter",
        )
        db.session.commit()
    page = client.get(f"{BASE}/?as_of=2023-08-02").get_data(as_text=True)
    assert 'data-testid="request-board"' in page
    assert "18 / 30人" in page and "2日" in page  # short on 8/1 (none) and 8/2 (18 of 30)
    item = the_request(app)
    linked = client.get(f"{BASE}/requests/{item.id}").get_data(as_text=True)
    assert 'data-testid="linked-entries"' in linked and "18人" in linked
    fill = client.get(f"{BASE}/fill?date=2023-08-02").get_data(as_text=True)
    assert "未充足 12人" in fill


def test_counterparts_list_and_matrix(app: Flask, client: FlaskClient) -> None:
    setup_disaster(app)
    form = {
        "supporter": f"{YOKOTE} 横手市",
        "supported": f"{GOJOME} 五城目町",
        "stage": "第1段階",
        "decided_on": "2023-07-20",
    }
    assert client.post(f"{BASE}/counterparts", data=form).status_code == 302
    again = client.post(f"{BASE}/counterparts", data=form)
    assert again.status_code == 422 and "登録済み" in again.get_data(as_text=True)
    page = client.get(f"{BASE}/counterparts").get_data(as_text=True)
    assert 'data-testid="counterpart-matrix"' in page and "第1段階" in page
