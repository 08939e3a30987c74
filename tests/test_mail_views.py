"""Digest pages through the test client: recipients (admin and read-only), previews, the deliveries page
with its test mail, and the failure banner on the dashboard.

Previews use the demo disaster: the digest dated 2023-08-01 reports figures as of 2023-07-31.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dispatch.extensions import db
from dispatch.models import AuditRecord, Delivery, DeliveryStatus, Recipient, Role
from dispatch.recipients import DIVISION_LABEL, add_recipient
from tests import factories
from tests.factories import AKITA_CITY, BASE, GOJOME, logged_in, make_user
from tests.reading import field_errors, flashes, plain

DASHBOARD = f"{BASE}/?as_of=2023-08-01"
GOJOME_ADDRESS = "bousai@town.gojome.lg.jp"
AKITA_ADDRESS = "kikikanri@city.akita.lg.jp"
DIVISION_ADDRESS = "sogo-bousai@pref.akita.lg.jp"
REFUSED = "SMTPサーバー 127.0.0.1:2525 に接続できません（接続を拒否されました）"


def by_testid(text: str, name: str) -> str:
    [found] = re.findall(rf'data-testid="{name}"[^>]*>(.*?)</(?:section|p|pre|dd|table)>', text, re.S)
    return unescape(found)


def recipient(app: Flask, org_code: str | None, email: str, **kwargs: Any) -> int:
    with app.app_context():
        org = factories.org(org_code) if org_code else None
        created = add_recipient(org, email, actor=factories.admin("test"), **kwargs)
        db.session.commit()
        return created.id


def delivery(
    app: Flask, recipient_id: int, day: date, status: DeliveryStatus, error: str = "", attempts: int = 1
) -> int:
    with app.app_context():
        row = Delivery(
            digest_date=day,
            recipient_id=recipient_id,
            status=status.value,
            attempts=attempts,
            last_error=error,
            subject=f"【応援職員派遣 日報】テスト {day.isoformat()}",
            sent_at=datetime(2023, 7, 31, 23, 0, tzinfo=UTC) if status is DeliveryStatus.SENT else None,
        )
        db.session.add(row)
        db.session.commit()
        return row.id


def recipients_by_email(app: Flask) -> dict[str, Recipient]:
    with app.app_context():
        rows = list(db.session.scalars(select(Recipient)))
        for row in rows:
            db.session.expunge(row)
        return {r.email: r for r in rows}


@pytest.fixture
def three_lists(app: Flask) -> dict[str, int]:
    """An address at 五城目町, one at 秋田市, one on the division's list."""
    return {
        GOJOME_ADDRESS: recipient(app, GOJOME, GOJOME_ADDRESS, note="総務課防災係"),
        AKITA_ADDRESS: recipient(app, AKITA_CITY, AKITA_ADDRESS),
        DIVISION_ADDRESS: recipient(app, None, DIVISION_ADDRESS),
    }


# --- who reaches what -----------------------------------------------------------------------------------

USERS = {
    "admin": (Role.ADMIN, None),
    "hq": (Role.HQ, None),
    "reviewer": (Role.REVIEWER, None),
    "gojome": (Role.MUNICIPALITY, GOJOME),
}

PAGES = {
    "/admin/recipients": {"admin"},
    "/admin/deliveries": {"admin"},
    "/recipients": {"admin", "hq", "reviewer", "gojome"},
    "/digests/preview?org=053619&date=2023-08-01": {"admin", "reviewer", "gojome"},
    "/digests/preview?org=052019&date=2023-08-01": {"admin", "reviewer"},
    "/digests/preview?date=2023-08-01": {"admin", "reviewer", "gojome"},  # gojome: its own digest
    "/digests/preview?org=division&date=2023-08-01": {"admin", "reviewer"},
}


@pytest.mark.parametrize("who", list(USERS))
def test_each_role_reaches_exactly_its_digest_pages(
    client_as: Callable[..., FlaskClient], demo: None, three_lists: dict[str, int], who: str
) -> None:
    role, org = USERS[who]
    client = client_as(role, who, org)
    for path, allowed in PAGES.items():
        expected = 200 if who in allowed else 403
        assert client.get(path).status_code == expected, (who, path)
    target = three_lists[AKITA_ADDRESS]
    writes = {
        f"/admin/recipients/{target}": {"admin"},
        f"/admin/recipients/{target}/active": {"admin"},
        f"/admin/recipients/{target}/delete": {"admin"},
        "/admin/deliveries/test-mail": {"admin"},
        "/deliveries/acknowledge": {"admin", "reviewer"},
    }
    for path, allowed in writes.items():
        if who not in allowed:
            assert client.post(path, data={"active": "0", "to": "x@example.jp"}).status_code == 403, path
    assert len(recipients_by_email(client.application)) == 3


def test_a_municipality_sees_its_own_recipients_only_and_cannot_change_them(
    client_as: Callable[..., FlaskClient], three_lists: dict[str, int]
) -> None:
    page = client_as(Role.MUNICIPALITY, "gojome", GOJOME).get("/recipients").text
    assert "日報の配信先（五城目町）" in page
    assert GOJOME_ADDRESS in page and "総務課防災係" in page
    assert AKITA_ADDRESS not in page and DIVISION_ADDRESS not in page
    assert "/admin/recipients" not in page
    assert 'action="/admin' not in page


def test_division_staff_read_every_list(
    client_as: Callable[..., FlaskClient], three_lists: dict[str, int]
) -> None:
    page = client_as(Role.REVIEWER).get("/recipients").text
    groups = [plain(g) for g in re.findall(r"<h2>(.*?)</h2>", page)]
    assert groups == [DIVISION_LABEL, "052019 秋田市", "053619 五城目町"]
    for address in three_lists:
        assert address in page
    assert "/admin/recipients" not in page


# --- managing recipients --------------------------------------------------------------------------------


@pytest.fixture
def admin(client_as: Callable[..., FlaskClient]) -> FlaskClient:
    return client_as(Role.ADMIN, "kato")


def test_an_admin_adds_an_organisation_address_through_the_form(admin: FlaskClient, app: Flask) -> None:
    response = admin.post(
        "/admin/recipients",
        data={
            "kind": "organisation",
            "organisation": "053619 五城目町",
            "email": "Bousai@Town.Gojome.LG.JP",
            "note": "総務課",
            "send_empty": "y",
        },
    )
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).text
    assert flashes(page, "success") == ["五城目町の配信先に Bousai@town.gojome.lg.jp を追加しました。"]
    [added] = recipients_by_email(app).values()
    assert (added.email, added.note, added.send_empty, added.active) == (
        "Bousai@town.gojome.lg.jp",
        "総務課",
        True,
        True,
    )
    with app.app_context():
        [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "recipient"))
        assert (record.action, record.actor, record.object_id) == ("create", "kato", added.id)
    sections = [plain(s) for s in re.findall(r"<h3>(.*?)</h3>", page)]
    assert sections == ["053619 五城目町"]


def test_an_admin_adds_a_division_address(admin: FlaskClient, app: Flask) -> None:
    response = admin.post("/admin/recipients", data={"kind": "division", "email": DIVISION_ADDRESS})
    assert response.status_code == 302
    [added] = recipients_by_email(app).values()
    assert (added.kind, added.organisation_id, added.email) == ("division", None, DIVISION_ADDRESS)


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        (
            {"kind": "organisation", "organisation": "053619", "email": GOJOME_ADDRESS.upper()},
            "email",
            "「BOUSAI@town.gojome.lg.jp」は五城目町の配信先に登録済みです。",
        ),
        (
            {"kind": "organisation", "organisation": "053619", "email": "bousai@localhost"},
            "email",
            "「bousai@localhost」はメールアドレスの形式ではありません（例: bousai@city.example.lg.jp）。",
        ),
        (
            {"kind": "organisation", "organisation": "", "email": "x@town.gojome.lg.jp"},
            "organisation",
            "団体を選ぶか、団体コードを入力してください。",
        ),
        (
            {"kind": "organisation", "organisation": "どこにもない町", "email": "x@town.gojome.lg.jp"},
            "organisation",
            "「どこにもない町」に当たる団体が見つかりません。候補から選ぶか、団体コードを入力してください。",
        ),
        ({"kind": "division", "email": ""}, "email", "メールアドレスを入力してください。"),
    ],
)
def test_a_refused_address_is_explained_next_to_its_field(
    admin: FlaskClient, app: Flask, form: dict[str, str], field: str, message: str
) -> None:
    recipient(app, GOJOME, GOJOME_ADDRESS)
    response = admin.post("/admin/recipients", data=form)
    assert response.status_code == 200
    assert field_errors(response.text) == {field: [message]}
    assert list(recipients_by_email(app)) == [GOJOME_ADDRESS]


def test_an_admin_stops_and_restarts_an_address(admin: FlaskClient, app: Flask) -> None:
    target = recipient(app, GOJOME, GOJOME_ADDRESS)
    response = admin.post(f"/admin/recipients/{target}/active", data={"active": "0"})
    assert response.status_code == 302
    assert flashes(admin.get("/admin/recipients").text, "success") == [
        f"{GOJOME_ADDRESS} への配信を停止しました。"
    ]
    assert recipients_by_email(app)[GOJOME_ADDRESS].active is False
    admin.post(f"/admin/recipients/{target}/active", data={"active": "1"})
    assert recipients_by_email(app)[GOJOME_ADDRESS].active is True
    with app.app_context():
        changes = db.session.scalar(
            select(func.count(AuditRecord.id)).where(
                AuditRecord.object_type == "recipient", AuditRecord.action == "update"
            )
        )
    assert changes == 2


def test_an_admin_edits_the_note_and_empty_days(admin: FlaskClient, app: Flask) -> None:
    target = recipient(app, GOJOME, GOJOME_ADDRESS)
    form = admin.get(f"/admin/recipients/{target}").text
    assert GOJOME_ADDRESS in form and "053619 五城目町" in form
    response = admin.post(
        f"/admin/recipients/{target}", data={"note": "課長", "send_empty": "y", "active": "y"}
    )
    assert response.status_code == 302
    changed = recipients_by_email(app)[GOJOME_ADDRESS]
    assert (changed.note, changed.send_empty, changed.active) == ("課長", True, True)


def test_deleting_an_address_asks_first(admin: FlaskClient, app: Flask) -> None:
    target = recipient(app, GOJOME, GOJOME_ADDRESS)
    delivery(app, target, date(2023, 8, 1), DeliveryStatus.SENT)
    confirm = admin.get(f"/admin/recipients/{target}/delete")
    assert confirm.status_code == 200
    assert "この配信先を削除しますか" in confirm.text
    assert "この宛先への配信の記録（1件）も削除されます。" in plain(confirm.text)
    assert list(recipients_by_email(app)) == [GOJOME_ADDRESS]
    response = admin.post(f"/admin/recipients/{target}/delete")
    assert response.status_code == 302
    assert recipients_by_email(app) == {}
    assert flashes(admin.get("/admin/recipients").text, "success") == [
        f"配信先 {GOJOME_ADDRESS} を削除しました。"
    ]
    assert admin.get(f"/admin/recipients/{target}/delete").status_code == 404


# --- preview --------------------------------------------------------------------------------------------


def test_the_preview_shows_gojomes_digest_without_sending_it(
    client_as: Callable[..., FlaskClient], app: Flask, demo: None
) -> None:
    gojome_user = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    for client, path in [
        (client_as(Role.REVIEWER), "/digests/preview?org=053619&date=2023-08-01"),
        (client_as(Role.ADMIN), "/digests/preview?org=五城目町&date=令和5年8月1日"),
        (gojome_user, "/digests/preview?date=2023-08-01"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        subject = plain(by_testid(response.text, "preview-subject"))
        assert subject.startswith("【応援職員派遣 日報】"), path
        assert "五城目町" in subject and "令和5年7月31日時点" in subject, path
        body = by_testid(response.text, "preview-body")
        assert "令和5年7月31日時点" in body
    with app.app_context():
        assert db.session.scalar(select(func.count(Delivery.id))) == 0


def test_the_division_summary_is_the_preview_without_an_organisation(
    client_as: Callable[..., FlaskClient], demo: None
) -> None:
    response = client_as(Role.REVIEWER).get("/digests/preview?date=2023-08-01")
    assert response.status_code == 200
    assert f"{DIVISION_LABEL}・令和5年8月1日配信分" in plain(response.text)
    subject = plain(by_testid(response.text, "preview-subject"))
    assert subject.startswith("【応援職員派遣 日報】") and "令和5年7月31日時点" in subject


def test_a_day_with_nothing_to_report_previews_as_no_digest(
    client_as: Callable[..., FlaskClient], demo: None
) -> None:
    response = client_as(Role.ADMIN).get("/digests/preview?org=053619&date=2023-07-01")
    assert response.status_code == 200
    assert by_testid(response.text, "preview-none").startswith("この日に送る日報はありません")


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("org=053619&date=2023-13-45", "日付「2023-13-45」を読めません"),
        ("org=053619&date=きのう", "日付「きのう」を読めません"),
        (
            "org=999999&date=2023-08-01",
            "団体「999999」が見つかりません。団体コード（例: 053619）を指定してください。",
        ),
    ],
)
def test_a_preview_of_a_bad_date_or_organisation_says_what_is_wrong(
    client_as: Callable[..., FlaskClient], demo: None, query: str, message: str
) -> None:
    response = client_as(Role.ADMIN).get(f"/digests/preview?{query}")
    assert response.status_code == 400
    assert plain(by_testid(response.text, "preview-error")).startswith(message)
    assert 'data-testid="preview-body"' not in response.text


def test_a_municipality_previews_no_other_digest(client_as: Callable[..., FlaskClient], demo: None) -> None:
    gojome_user = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    assert gojome_user.get("/digests/preview?org=052019&date=2023-08-01").status_code == 403
    assert gojome_user.get("/digests/preview?org=秋田市&date=2023-08-01").status_code == 403
    assert gojome_user.get("/digests/preview?org=division&date=2023-08-01").status_code == 403
    # And has no organisation box to type into.
    assert 'name="org"' not in gojome_user.get("/digests/preview?date=2023-08-01").text


# --- deliveries -----------------------------------------------------------------------------------------


@pytest.fixture
def three_deliveries(app: Flask, three_lists: dict[str, int]) -> dict[str, int]:
    return {
        "sent": delivery(app, three_lists[GOJOME_ADDRESS], date(2023, 8, 1), DeliveryStatus.SENT),
        "failed": delivery(
            app, three_lists[AKITA_ADDRESS], date(2023, 8, 1), DeliveryStatus.FAILED, REFUSED, attempts=2
        ),
        "sending": delivery(app, three_lists[DIVISION_ADDRESS], date(2023, 8, 2), DeliveryStatus.SENDING),
    }


def delivery_rows(text: str) -> list[list[str]]:
    table = by_testid(text, "deliveries")
    return [
        [plain(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*data-testid=\"delivery-\d+\"[^>]*>(.*?)</tr>", table, re.S)
    ]


def test_the_deliveries_page_lists_and_filters_by_date_and_status(
    admin: FlaskClient, three_deliveries: dict[str, int]
) -> None:
    page = admin.get("/admin/deliveries").text
    assert plain(by_testid(page, "deliveries-summary")) == "3件"
    rows = delivery_rows(page)
    # Newest digest date first; within a date, the latest claimed first.
    assert [(r[0], r[2], r[3]) for r in rows] == [
        ("令和5年8月2日", "送信中", "1"),
        ("令和5年8月1日", "失敗", "2"),
        ("令和5年8月1日", "送信済み", "1"),
    ]

    failed = admin.get("/admin/deliveries?status=failed").text
    [row] = delivery_rows(failed)
    assert row[1] == f"秋田市 {AKITA_ADDRESS}"
    assert row[7] == REFUSED

    on_the_2nd = delivery_rows(admin.get("/admin/deliveries?date=2023-08-02").text)
    assert [(r[1], r[2]) for r in on_the_2nd] == [(f"{DIVISION_LABEL} {DIVISION_ADDRESS}", "送信中")]
    sent_on_the_1st = delivery_rows(admin.get("/admin/deliveries?date=令和5年8月1日&status=sent").text)
    assert [r[1] for r in sent_on_the_1st] == [f"五城目町 {GOJOME_ADDRESS}"]


def test_a_bad_filter_is_explained_and_the_list_unfiltered(
    admin: FlaskClient, three_deliveries: dict[str, int]
) -> None:
    response = admin.get("/admin/deliveries?date=2023-02-30&status=lost")
    assert response.status_code == 200
    errors = [plain(e) for e in re.findall(r'<p class="error">(.*?)</p>', response.text, re.S)]
    assert len(errors) == 2
    assert errors[1] == "状態は 送信済み・失敗・送信中 から選んでください。"
    assert len(delivery_rows(response.text)) == 3


@pytest.fixture
def mail_admin(mail_app: Flask) -> FlaskClient:
    return logged_in(mail_app, make_user(mail_app, Role.ADMIN, "kato"))


def test_a_test_mail_reaches_the_address(mail_admin: FlaskClient, smtp_server: Any) -> None:
    response = mail_admin.post("/admin/deliveries/test-mail", data={"to": "Kato@Pref.Akita.lg.jp"})
    assert response.status_code == 302
    page = mail_admin.get(response.headers["Location"]).text
    assert flashes(page, "success") == [
        "テストメールを Kato@pref.akita.lg.jp に送りました。届いたか確認してください。"
    ]
    [message] = smtp_server.to("Kato@pref.akita.lg.jp")
    assert message["Subject"] == "【応援職員派遣】テストメール"
    assert "応援職員派遣トラッカーからのテストメールです。" in message.get_content()


def test_a_test_mail_that_cannot_be_sent_shows_the_error(mail_admin: FlaskClient, smtp_server: Any) -> None:
    smtp_server.stop()
    response = mail_admin.post("/admin/deliveries/test-mail", data={"to": "kato@pref.akita.lg.jp"})
    page = mail_admin.get(response.headers["Location"]).text
    [error] = flashes(page, "error")
    assert error == (
        f"テストメールを送れませんでした: SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません"
        "（接続を拒否されました）"
    )


def test_a_test_mail_to_a_bad_address_is_not_attempted(mail_admin: FlaskClient, smtp_server: Any) -> None:
    response = mail_admin.post("/admin/deliveries/test-mail", data={"to": "kato"})
    page = mail_admin.get(response.headers["Location"]).text
    assert flashes(page, "error") == [
        "「kato」はメールアドレスの形式ではありません（例: bousai@city.example.lg.jp）。"
    ]
    assert smtp_server.messages == []


# --- the failure banner ---------------------------------------------------------------------------------


def banner(client: FlaskClient) -> str | None:
    page = client.get(DASHBOARD)
    assert page.status_code == 200
    found = re.findall(r'data-testid="delivery-failures">(.*?)</section>', page.text, re.S)
    return plain(found[0]) if found else None


def test_a_failed_delivery_shows_on_the_dashboard_until_acknowledged(
    client_as: Callable[..., FlaskClient], app: Flask, demo: None, three_deliveries: dict[str, int]
) -> None:
    reviewer = client_as(Role.REVIEWER, "sato")
    shown = banner(reviewer)
    assert shown is not None
    assert shown.startswith("日報の配信に失敗しています（1件）。")
    assert f"令和5年8月1日配信分 秋田市 {AKITA_ADDRESS}（2回）: {REFUSED}" in shown
    # The administrator also gets the way to the deliveries page.
    assert banner(client_as(Role.ADMIN)) == f"{shown} 配信記録を見る"
    # Those who cannot acknowledge it are not shown it.
    assert banner(client_as(Role.HQ)) is None
    assert banner(client_as(Role.MUNICIPALITY, "akita", AKITA_CITY)) is None

    response = reviewer.post(
        "/deliveries/acknowledge",
        data={"delivery": [str(three_deliveries["failed"])], "next": DASHBOARD},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == DASHBOARD
    assert banner(reviewer) is None
    with app.app_context():
        row = db.session.get(Delivery, three_deliveries["failed"])
        assert row is not None
        assert row.acknowledged_by == "sato" and row.acknowledged_at is not None


def test_acknowledging_leaves_failures_the_banner_did_not_show(
    client_as: Callable[..., FlaskClient], app: Flask, demo: None, three_deliveries: dict[str, int]
) -> None:
    reviewer = client_as(Role.REVIEWER, "sato")
    assert banner(reviewer) is not None
    # A new failure arrives after the page was shown; the sent row is not a failure to acknowledge.
    later = delivery(
        app, recipients_by_email(app)[DIVISION_ADDRESS].id, date(2023, 8, 1), DeliveryStatus.FAILED, "550"
    )
    reviewer.post(
        "/deliveries/acknowledge",
        data={
            "delivery": [str(three_deliveries["failed"]), str(three_deliveries["sent"])],
            "next": DASHBOARD,
        },
    )
    shown = banner(reviewer)
    assert shown is not None and shown.startswith("日報の配信に失敗しています（1件）。")
    assert DIVISION_ADDRESS in shown and AKITA_ADDRESS not in shown
    with app.app_context():
        sent = db.session.get(Delivery, three_deliveries["sent"])
        assert sent is not None and sent.acknowledged_at is None
        assert later


def test_acknowledge_sends_nowhere_but_this_site(
    client_as: Callable[..., FlaskClient], demo: None, three_deliveries: dict[str, int]
) -> None:
    response = client_as(Role.ADMIN).post(
        "/deliveries/acknowledge",
        data={"delivery": [str(three_deliveries["failed"])], "next": "//evil.example/"},
    )
    assert response.headers["Location"] == "/"


def test_acknowledging_needs_the_csrf_token_from_the_banner(
    csrf_app: Flask, demo: None, three_deliveries: dict[str, int]
) -> None:
    client = logged_in(csrf_app, make_user(csrf_app, Role.REVIEWER, "sato"))
    page = client.get(DASHBOARD).text
    assert (
        client.post(
            "/deliveries/acknowledge", data={"delivery": [str(three_deliveries["failed"])]}
        ).status_code
        == 400
    )
    assert banner(client) is not None
    [token] = re.findall(r'name="csrf_token" value="([^"]+)"', by_testid(page, "delivery-failures"))
    ids = re.findall(r'name="delivery" value="(\d+)"', page)
    assert ids == [str(three_deliveries["failed"])]
    response = client.post("/deliveries/acknowledge", data={"delivery": ids, "csrf_token": token})
    assert response.status_code == 302
    assert banner(client) is None
