"""Who reaches what: the allow-list covers every route, each role gets exactly its pages, and a municipality
sees only the entries its own organisation sent or received.

Figures for 男鹿市 (052060), counted by hand from dispatch/demo.py: 男鹿市 never sends, and receives only
water-supply crews (item 4):

    秋田市 (上下水道局) -> 男鹿市, 7/16-7/19, 2 a day: 4 entries, 延べ 8人
    由利本荘市 -> 男鹿市,          7/18-7/23, 2 a day: 6 entries, 延べ12人
                                                       10 entries, 延べ20人

Cross-check: water-supply is 延べ105人 in all (test_views), of which 八峰町, 五城目町 and 井川町 take the
other 85.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from urllib.parse import quote

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dispatch import access
from dispatch.extensions import db
from dispatch.models import AuditRecord, ClosedDay, Entry, Role, User
from dispatch.query import Destination, Sender, joined
from tests.factories import BASE, GOJOME, OGA, SLUG, entry_form, import_form, logged_in, make_user
from tests.reading import audit_record_id, counts, csv_rows, entry_id, list_summary, totals_json


def pref_relief(app: Flask) -> int:
    """秋田県 (総務部総合防災課) -> 五城目町 on 2023-10-31: involves 五城目町, not 男鹿市."""
    return entry_id(app, date(2023, 10, 31), sender="050008", destination=GOJOME, duty="relief_act")


def state(app: Flask) -> tuple[int, int, int, int, int]:
    """(entries, person-days, audit records, users, closed days): what a refused write must leave alone."""
    entries, person_days = counts(app)
    with app.app_context():
        return (
            entries,
            person_days,
            db.session.scalar(select(func.count(AuditRecord.id))) or 0,
            db.session.scalar(select(func.count(User.id))) or 0,
            db.session.scalar(select(func.count(ClosedDay.id))) or 0,
        )


# --- the allow-list -----------------------------------------------------------------------------------


def test_every_route_is_in_the_allow_list(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()} - {"static"}
    forgotten = sorted(e for e in endpoints if e not in access.PERMISSIONS and e not in access.PUBLIC)
    assert forgotten == []
    # And nothing listed that no longer exists (a renamed view would otherwise keep a stale line).
    assert sorted(set(access.PERMISSIONS) - endpoints) == []
    assert sorted(access.PUBLIC) == ["auth.login", "health.healthz", "static"]


def test_a_view_missing_from_the_table_is_refused_to_everyone(app_with: Callable[..., Flask]) -> None:
    app = app_with()
    app.add_url_rule("/forgotten", "forgotten", lambda: "secret")
    admin = logged_in(app, make_user(app, Role.ADMIN))
    assert admin.get("/forgotten").status_code == 403
    anonymous = app.test_client().get("/forgotten")
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/login?next=/forgotten"


# --- pages by role ------------------------------------------------------------------------------------

PAGES = (
    "index",
    "totals",
    "totals.json",
    "entries",
    "entries export",
    "history",
    "new entry",
    "period",
    "copy",
    "import",
    "import template",
    "edit",
    "delete",
    "closing",
    "audit log",
    "audit export",
    "admin users",
)

READ = {"index", "totals", "totals.json", "entries", "entries export", "history"}
WRITE = {"new entry", "period", "copy", "import", "import template", "edit", "delete"}
CLOSE = {"closing", "audit log", "audit export"}

ALLOWED = {
    Role.ADMIN: READ | WRITE | CLOSE | {"admin users"},
    Role.HQ: READ | WRITE,
    Role.REVIEWER: READ | WRITE | CLOSE,
    Role.MUNICIPALITY: READ,
}


def page_urls(target: int) -> dict[str, str]:
    """One URL per page; the entry pages use an entry to 五城目町, which the municipality user may see."""
    return {
        "index": "/",
        "totals": f"{BASE}/totals?as_of=2023-10-31",
        "totals.json": f"{BASE}/totals.json?as_of=2023-10-31",
        "entries": f"{BASE}/entries",
        "entries export": f"{BASE}/entries.csv",
        "history": f"{BASE}/entries/{target}/history",
        "new entry": f"{BASE}/entries/new",
        "period": f"{BASE}/entries/period",
        "copy": f"{BASE}/entries/copy",
        "import": f"{BASE}/import",
        "import template": f"{BASE}/import/template.xlsx",
        "edit": f"{BASE}/entries/{target}/edit",
        "delete": f"{BASE}/entries/{target}/delete",
        "closing": f"{BASE}/closing",
        "audit log": "/audit",
        "audit export": "/audit/export.csv",
        "admin users": "/admin/users",
    }


@pytest.mark.parametrize("role", list(Role))
def test_pages_by_role(app: Flask, client_as: Callable[..., FlaskClient], demo: None, role: Role) -> None:
    user = client_as(role, org_code=GOJOME if role is Role.MUNICIPALITY else None)
    urls = page_urls(pref_relief(app))
    assert set(urls) == set(PAGES)
    statuses = {}
    for name, url in urls.items():
        response = user.get(url)
        statuses[name] = response.status_code
        response.close()
    assert statuses == {name: 200 if name in ALLOWED[role] else 403 for name in PAGES}


def test_refusal_is_a_japanese_page(client_as: Callable[..., FlaskClient], demo: None) -> None:
    response = client_as(Role.HQ).get("/audit")
    assert response.status_code == 403
    assert '<html lang="ja">' in response.text
    assert "<h1>権限がありません</h1>" in response.text


def test_a_municipality_user_cannot_write(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    target = pref_relief(app)
    admin = make_user(app, Role.ADMIN, "admin-user")
    creation_id = audit_record_id(app, target, "create")
    town = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    before = state(app)
    posts: list[tuple[str, dict[str, object]]] = [
        (f"{BASE}/entries/new", entry_form()),
        (f"{BASE}/entries/period", {**entry_form(), "date_from": "2023-11-01", "date_to": "2023-11-02"}),
        (f"{BASE}/entries/copy", {"source": "2023-10-31", "target_from": "2023-11-01"}),
        (f"{BASE}/import", import_form(["2023-11-01,relief-act,052035,,053619,relief_act,2,"])),
        (f"{BASE}/entries/{target}/edit", entry_form(date="2023-10-31", headcount="9")),
        (f"{BASE}/entries/{target}/delete", {"reason": ""}),
        (f"{BASE}/closing", {"close-day": "2023-10-31", "close-submit": "締める（確定）"}),
        (f"/audit/{creation_id}/restore", {"reason": ""}),
        ("/admin/users/new", {"username": "intruder", "role": "admin", "organisation": ""}),
        (f"/admin/users/{admin.id}", {"role": "municipality", "organisation": GOJOME, "active": "y"}),
        (f"/admin/users/{admin.id}/reset-password", {}),
    ]
    for url, data in posts:
        assert town.post(url, data=data).status_code == 403, url
    assert state(app) == before
    # The same entry from HQ is written: the refusal above was the role's, not the form's.
    assert client_as(Role.HQ).post(f"{BASE}/entries/new", data=entry_form()).status_code == 302
    assert state(app)[:2] == (550, 2321)


def test_reviewer_closes_and_reopens_a_day_and_hq_cannot(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    closing = f"{BASE}/closing"
    close = {"close-day": "2023-08-01", "close-submit": "締める（確定）"}
    hq = client_as(Role.HQ)
    assert hq.post(closing, data=close).status_code == 403
    assert state(app)[4] == 0

    reviewer = client_as(Role.REVIEWER, "kato")
    response = reviewer.post(closing, data=close)
    assert response.status_code == 302
    assert response.headers["Location"] == closing
    page = reviewer.get(closing)
    assert "令和5年8月1日を締めました（確定）。" in page.text
    with app.app_context():
        closed = db.session.execute(select(ClosedDay.date, ClosedDay.closed_by)).all()
        assert [tuple(row) for row in closed] == [(date(2023, 8, 1), "kato")]

    reopen = {"reopen-day": "2023-08-01", "reopen-reason": "秋田市から追加報告", "reopen-submit": "x"}
    assert hq.post(closing, data=reopen).status_code == 403
    assert state(app)[4] == 1
    assert reviewer.post(closing, data=reopen).status_code == 302
    assert state(app)[4] == 0
    with app.app_context():
        actions = db.session.execute(
            select(AuditRecord.action, AuditRecord.actor, AuditRecord.reason)
            .where(AuditRecord.object_type == "closed_day")
            .order_by(AuditRecord.id)
        ).all()
    assert [tuple(row) for row in actions] == [
        ("close_day", "kato", ""),
        ("reopen_day", "kato", "秋田市から追加報告"),
    ]


# --- anonymous ----------------------------------------------------------------------------------------


def every_url(app: Flask) -> list[tuple[str, str]]:
    """(method, path) for every route but the public ones: POST where a route takes only POST."""
    found = []
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if rule.endpoint in access.PUBLIC:
                continue
            # Any id will do: the login comes before the lookup.
            values = {name: SLUG if name == "slug" else 1 for name in rule.arguments}
            path = url_for(rule.endpoint, **values)
            found.append(("GET" if "GET" in (rule.methods or ()) else "POST", path))
    return found


def test_anonymous_is_sent_to_the_login_page_from_everywhere(
    app: Flask, anonymous: FlaskClient, demo: None
) -> None:
    before = state(app)
    urls = every_url(app)
    assert len(urls) == len(access.PERMISSIONS)
    for method, path in urls:
        response = anonymous.open(path, method=method)
        assert response.status_code == 302, path
        # A page is returned to after logging in; a form post is not replayed.
        expected = f"/login?next={quote(path, safe='/')}" if method == "GET" else "/login"
        assert response.headers["Location"] == expected, path
    # The query string travels too, and nothing was written on the way.
    response = anonymous.get(f"{BASE}/entries?page=2")
    assert response.headers["Location"] == f"/login?next={quote(BASE, safe='/')}/entries?page%3D2"
    assert state(app) == before


def test_login_and_health_check_need_no_login(anonymous: FlaskClient) -> None:
    login = anonymous.get("/login")
    assert login.status_code == 200
    assert "<h1>ログイン</h1>" in login.text
    health = anonymous.get("/healthz")
    assert health.status_code == 200
    # No scheduler has run in this database: no heartbeat age, no digest run, nothing degraded.
    assert health.get_json()["status"] == "ok"
    assert health.get_json()["scheduler"]["heartbeat_age_seconds"] is None


# --- a municipality sees its own entries only ---------------------------------------------------------


def test_municipality_totals_count_only_its_own_entries(oga: FlaskClient) -> None:
    data = totals_json(oga, "2023-10-31")
    assert data["person_days"] == 20
    assert data["rows"] == [
        {
            "key": "water-supply",
            "name": "応急給水業務に係る派遣",
            "person_days": 20,
            "persons": None,
            "active": 0,
        }
    ]
    by_sender = totals_json(oga, "2023-10-31", by="sender")
    assert {row["key"]: row["person_days"] for row in by_sender["rows"]} == {"052019": 8, "052108": 12}
    # On 7/18 both crews were there: 2 + 2.
    assert totals_json(oga, "2023-07-18")["active"] == 4


def test_municipality_list_and_totals_page_count_only_its_own_entries(oga: FlaskClient) -> None:
    listing = oga.get(f"{BASE}/entries")
    assert listing.status_code == 200
    assert list_summary(listing.text) == "該当 10件 延べ 20人"
    export = oga.get(f"{BASE}/entries.csv")
    assert export.status_code == 200
    rows = csv_rows(export.data)
    assert len(rows) == 1 + 10
    assert rows[0][6] == "人数"
    assert sum(int(row[6]) for row in rows[1:]) == 20
    # Asking for another destination by filter does not widen the view.
    other = oga.get(f"{BASE}/entries?destination={GOJOME}")
    assert "<p>該当する派遣はありません。</p>" in other.text
    totals = oga.get(f"{BASE}/totals?as_of=2023-10-31")
    assert re.search(r'data-testid="total-person-days"[^>]*>\s*20\s*<', totals.text)


def test_municipality_guessing_entry_ids_finds_only_its_own(app: Flask, oga: FlaskClient) -> None:
    with app.app_context():
        ids = list(db.session.scalars(select(Entry.id).order_by(Entry.id)))
    assert len(ids) == 549
    visible = [i for i in ids if oga.get(f"{BASE}/entries/{i}/history").status_code == 200]
    assert len(visible) == 10
    with app.app_context():
        pairs = db.session.execute(
            joined(select(Entry.id, Sender.code, Destination.code)).where(Entry.id.in_(visible))
        ).all()
    assert {(sender, destination) for _, sender, destination in pairs} == {
        ("052019", OGA),
        ("052108", OGA),
    }

    target = pref_relief(app)
    assert oga.get(f"{BASE}/entries/{target}/history").status_code == 404
    assert oga.get(f"{BASE}/entries/{target}/edit").status_code == 403
    assert oga.get(f"{BASE}/entries/{target}/delete").status_code == 403
    assert oga.get(f"{BASE}/entries/{max(ids) + 1}/history").status_code == 404


def test_municipality_cannot_read_the_history_of_another_towns_deleted_entry(
    app: Flask, client: FlaskClient, oga: FlaskClient
) -> None:
    target = pref_relief(app)
    assert client.post(f"{BASE}/entries/{target}/delete", data={"reason": ""}).status_code == 302
    assert client.get(f"{BASE}/entries/{target}/history").status_code == 200
    assert oga.get(f"{BASE}/entries/{target}/history").status_code == 404

    oga_entry = entry_id(app, date(2023, 7, 16), sender="052019", destination=OGA, duty="water_supply")
    assert client.post(f"{BASE}/entries/{oga_entry}/delete", data={"reason": ""}).status_code == 302
    history = oga.get(f"{BASE}/entries/{oga_entry}/history")
    assert history.status_code == 200
    assert "この派遣は削除されています。" in history.text
    assert totals_json(oga, "2023-10-31")["person_days"] == 18
