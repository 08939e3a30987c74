"""Reviewing as the division does (issue 15, items 1, 5 and 7): 締め in bulk, the audit log in Japanese, and
the small defects a new user met.

Figures worked out by hand from the founding case (dispatch/demo.py):

- Days with entries: 7/16-8/31 every day (water supply from 7/16, mutual aid 7/20-8/31) = 16 + 31 = 47;
  September's working days to 9/29 without 9/18 (recovery support) = 21 - 1 = 20; October's working days
  from 10/2 without 10/9 (relief act) = 22 - 1 = 21. So 88 open days up to 2023-10-31, with all 549 entries
  and 延べ2,319人 (2,101 + 46 + 105 + 67).
- Up to 2023-08-31: 47 days, 延べ2,232人 (mutual aid 2,101 + water supply 105 + recovery support 26: 8/12
  and 8/13 with 2 each, 8 working days to 8/23 with 2 each, then 8/24-8/31's 6 working days with 1).
- 2023-08-01 alone: 18 entries, 延べ80人 (mutual aid to 秋田市 10+10+6+6+6+6+5+5+4+2+4+3 = 67, to 五城目町
  4+2+3+2+1+1 = 13). So up to 8/31 with 8/1 already closed: 46 days, 延べ2,152人.
- 2023-07-16, the first day: 3 water-supply crews (秋田市 to 五城目町 3 and to 男鹿市 2, 能代市 to 八峰町 2),
  延べ7人.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from dispatch import clock, delivery
from dispatch.accounts import update_user
from dispatch.actors import Actor
from dispatch.audit import AuditFilter, audit_select
from dispatch.audit_text import Names, changes, describe
from dispatch.closing import closed_dates
from dispatch.delivery import resend_now, retry_failed, send_due_digests
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import (
    AuditRecord,
    Delivery,
    Disaster,
    Organisation,
    Recipient,
    RecipientKind,
    Role,
    User,
)
from dispatch.recipients import add_recipient, update_recipient
from dispatch.seeding import seed_founding_case
from tests.factories import BASE, GOJOME, OGA, SLUG, admin, entry_form, logged_in, make_user
from tests.racing import at_once, in_context
from tests.reading import csv_rows, flashes, list_summary, plain
from tests.smtp import SMTPServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def reviewer(client_as: Callable[..., FlaskClient], demo: None) -> FlaskClient:
    return client_as(Role.REVIEWER, "kato")


def closing_records(app: Flask) -> list[AuditRecord]:
    with app.app_context():
        records = list(db.session.scalars(audit_select(AuditFilter(object_type="closed_day"))))
        for record in records:
            db.session.expunge(record)
        return records


def closed(app: Flask) -> set[date]:
    with app.app_context():
        rain = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert rain is not None
        return closed_dates(rain)


def listed_days(text: str) -> list[list[str]]:
    [body] = re.findall(r'data-testid="days-to-close">.*?<tbody>(.*?)</tbody>', text, re.S)
    return [
        [plain(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def confirmed_token(text: str) -> str:
    [token] = re.findall(r'name="confirmed" type="hidden" value="([0-9a-f]+)"', text)
    return token


# --- 締め in bulk ------------------------------------------------------------------------------------------


def test_each_open_day_has_its_own_button(app: Flask, reviewer: FlaskClient) -> None:
    page = reviewer.get(f"{BASE}/closing")
    assert page.status_code == 200
    # One 締める per open day, each a styled <button>, never an unstyled <input type="submit">.
    assert (
        len(re.findall(r'<button type="submit" name="close-submit" value="y" aria-label=', page.text)) == 88
    )
    assert 'type="submit"' not in re.sub(r"<button[^>]*>", "", page.text)
    assert 'aria-label="令和5年8月1日を締める"' in page.text

    response = reviewer.post(f"{BASE}/closing", data={"close-day": "2023-08-01", "close-submit": "y"})
    assert response.status_code == 302
    assert closed(app) == {date(2023, 8, 1)}
    after = reviewer.get(f"{BASE}/closing")
    assert flashes(after.text, "success") == ["令和5年8月1日を締めました（確定）。"]
    assert len(re.findall(r'name="close-submit" value="y" aria-label=', after.text)) == 87
    # A closed row offers its reopening, which still asks for a reason.
    assert f'href="{BASE}/closing?reopen=2023-08-01#reopen-form">取り消す</a>' in after.text
    prefilled = reviewer.get(f"{BASE}/closing?reopen=2023-08-01")
    [reopen_day] = re.findall(r'<input[^>]*name="reopen-day"[^>]*>', prefilled.text)
    assert 'value="2023-08-01"' in reopen_day


def test_closing_every_open_day_up_to_october_takes_one_confirmation(
    app: Flask, reviewer: FlaskClient
) -> None:
    confirm = reviewer.get(f"{BASE}/closing/up-to?up_to=2023-10-31")
    assert confirm.status_code == 200
    [summary] = re.findall(r'data-testid="close-summary">(.*?)</p>', confirm.text, re.S)
    assert plain(summary).startswith(
        "令和5年10月31日までの締めていない88日（549件、延べ2,319人）を締めます。"
    )
    days = listed_days(confirm.text)
    assert len(days) == 88
    assert days[0] == ["令和5年7月16日（日）", "3", "7"]
    assert days[-1][0] == "令和5年10月31日（火）"
    assert '<button type="submit">88日を締める（確定）</button>' in confirm.text
    # Showing the list closes nothing.
    assert closed(app) == set()

    done = reviewer.post(
        f"{BASE}/closing/up-to", data={"up_to": "2023-10-31", "confirmed": confirmed_token(confirm.text)}
    )
    assert done.status_code == 302
    assert done.headers["Location"] == f"{BASE}/closing"
    page = reviewer.get(f"{BASE}/closing")
    assert flashes(page.text, "success") == [
        "88日を締めました（確定）: 令和5年7月16日～令和5年10月31日、延べ2,319人。"
    ]
    assert len(closed(app)) == 88
    assert 'name="close-submit" value="y" aria-label=' not in page.text

    # One audit record per day, each naming its own day.
    records = closing_records(app)
    assert len(records) == 88
    assert {(r.action, r.actor, r.object_type) for r in records} == {("close_day", "kato", "closed_day")}
    assert sorted(date.fromisoformat(r.after["date"]) for r in records if r.after) == sorted(closed(app))
    log = reviewer.get("/audit?object_type=closed_day")
    assert '<p class="summary">88件' in log.text
    assert "令和5年10月31日を締め（確定）" in log.text

    # Nothing is left to close.
    again = reviewer.get(f"{BASE}/closing/up-to?up_to=2023-10-31")
    assert "令和5年10月31日までに、締めていない派遣のある日はありません。" in plain(again.text)


def test_bulk_closing_leaves_days_already_closed_alone(app: Flask, reviewer: FlaskClient) -> None:
    reviewer.post(f"{BASE}/closing", data={"close-day": "2023-08-01", "close-submit": "y"})
    before = reviewer.get(f"{BASE}/closing/up-to?up_to=2023-07-31")
    [first] = listed_days(before.text)[:1]
    assert first == ["令和5年7月16日（日）", "3", "7"]

    confirm = reviewer.get(f"{BASE}/closing/up-to?up_to=2023/8/31")
    days = listed_days(confirm.text)
    assert len(days) == 46
    assert "令和5年8月1日（火）" not in [d[0] for d in days]
    assert "延べ2,152人" in plain(confirm.text)
    response = reviewer.post(
        f"{BASE}/closing/up-to", data={"up_to": "2023-08-31", "confirmed": confirmed_token(confirm.text)}
    )
    assert response.status_code == 302
    assert len(closed(app)) == 47
    assert len(closing_records(app)) == 47


def test_a_change_after_the_confirmation_closes_nothing(
    app: Flask, reviewer: FlaskClient, client: FlaskClient
) -> None:
    confirm = reviewer.get(f"{BASE}/closing/up-to?up_to=2023-08-31")
    token = confirmed_token(confirm.text)
    # HQ adds 2 people on 8/15 while the reviewer reads the list.
    added = client.post(
        f"{BASE}/entries/new", data=entry_form(date="2023-08-15", operation="relief-act", headcount="2")
    )
    assert added.status_code == 302

    refused = reviewer.post(f"{BASE}/closing/up-to", data={"up_to": "2023-08-31", "confirmed": token})
    assert refused.status_code == 422
    assert flashes(refused.text, "error") == [
        "確認した後に、締める日か派遣の数字が変わりました。もう一度確認してください。"
    ]
    assert closed(app) == set()
    assert closing_records(app) == []
    # The page lists the days again with the new figure, ready to be confirmed.
    assert "延べ2,234人" in plain(refused.text)
    retried = reviewer.post(
        f"{BASE}/closing/up-to", data={"up_to": "2023-08-31", "confirmed": confirmed_token(refused.text)}
    )
    assert retried.status_code == 302
    assert len(closed(app)) == 47


def test_bulk_closing_refuses_a_bad_date_and_an_empty_range(reviewer: FlaskClient) -> None:
    missing = reviewer.get(f"{BASE}/closing/up-to")
    assert missing.status_code == 400
    assert "締める最後の日を入力してください。" in missing.text
    posted = reviewer.post(f"{BASE}/closing/up-to", data={"confirmed": "0"})
    assert posted.status_code == 400
    assert "締める最後の日を入力してください。" in posted.text
    unreadable = reviewer.get(f"{BASE}/closing/up-to?up_to=abc")
    assert unreadable.status_code == 400
    assert "日付として読めません: abc" in unreadable.text

    empty = reviewer.get(f"{BASE}/closing/up-to?up_to=2023-07-15")
    assert empty.status_code == 200
    assert "令和5年7月15日までに、締めていない派遣のある日はありません。" in plain(empty.text)
    refused = reviewer.post(f"{BASE}/closing/up-to", data={"up_to": "2023-07-15", "confirmed": "0"})
    assert refused.status_code == 422
    assert flashes(refused.text, "error") == ["令和5年7月15日までに、締めていない派遣のある日はありません。"]


def test_only_the_division_and_admins_close_in_bulk(
    app: Flask, client: FlaskClient, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    town = client_as(Role.MUNICIPALITY, "gojome", GOJOME)
    for user in (client, town):
        assert user.get(f"{BASE}/closing/up-to?up_to=2023-10-31").status_code == 403
        assert user.post(f"{BASE}/closing/up-to", data={"up_to": "2023-10-31"}).status_code == 403
    assert closed(app) == set()
    assert client_as(Role.ADMIN).get(f"{BASE}/closing/up-to?up_to=2023-10-31").status_code == 200


# --- the audit log in Japanese ----------------------------------------------------------------------------


def test_the_audit_log_shows_a_headcount_edit_in_japanese(
    app: Flask, client: FlaskClient, reviewer: FlaskClient
) -> None:
    assert client.post(f"{BASE}/entries/new", data=entry_form(headcount="1")).status_code == 302
    with app.app_context():
        entry_id = db.session.scalar(
            select(func.max(AuditRecord.object_id)).where(AuditRecord.object_type == "entry")
        )
    edited = client.post(f"{BASE}/entries/{entry_id}/edit", data=entry_form(headcount="2"))
    assert edited.status_code == 302

    log = reviewer.get(f"/audit?object_type=entry&object_id={entry_id}")
    [cell] = re.findall(r'<td class="changes"[^>]*>(.*?)</td>', log.text, re.S)[:1]
    assert plain(cell) == "人数: 1 → 2"
    assert "headcount" not in log.text
    history = client.get(f"{BASE}/entries/{entry_id}/history")
    assert "人数: 1 → 2" in history.text

    export = csv_rows(reviewer.get(f"/audit/export.csv?object_type=entry&object_id={entry_id}").data)
    assert export[0][-1] == "変更内容"
    assert [row[-1] for row in export[1:]] == ["人数: 1 → 2", ""]


def test_every_field_of_an_entry_by_its_label_with_names_and_wareki(
    app: Flask, client: FlaskClient, reviewer: FlaskClient
) -> None:
    assert client.post(f"{BASE}/entries/new", data=entry_form()).status_code == 302
    with app.app_context():
        entry_id = db.session.scalar(
            select(func.max(AuditRecord.object_id)).where(AuditRecord.object_type == "entry")
        )
    moved = entry_form(
        date="2023-11-02",
        sender="052060 男鹿市",
        sender_unit="総務課",
        destination="052019 秋田市",
        duty="damage_survey",
        headcount="3",
        note="追加報告",
    )
    assert client.post(f"{BASE}/entries/{entry_id}/edit", data=moved).status_code == 302

    log = reviewer.get(f"/audit?object_type=entry&object_id={entry_id}")
    [cell] = re.findall(r'<td class="changes"[^>]*>(.*?)</td>', log.text, re.S)[:1]
    assert [plain(line) for line in cell.split("<br>") if plain(line)] == [
        "日付: 令和5年11月1日 → 令和5年11月2日",
        "派遣元: 横手市 → 男鹿市",
        "所属: （なし） → 総務課",
        "派遣先: 五城目町 → 秋田市",
        "業務: 災害救助法関係事務 → 家屋被害認定調査",
        "人数: 2 → 3",
        "備考: （なし） → 追加報告",
    ]


def test_an_operation_code_reads_as_its_name(demo_disaster: Disaster) -> None:
    record = AuditRecord(
        action="update",
        object_type="entry",
        object_id=1,
        disaster_id=demo_disaster.id,
        before={"operation": "relief-act", "headcount": 1},
        after={"operation": "water-supply", "headcount": 1},
    )
    assert [str(c) for c in changes(record, Names.of([record]))] == [
        "派遣区分: 災害救助法業務に係る派遣 → 応急給水業務に係る派遣"
    ]


def test_users_and_recipients_read_in_japanese(ctx: None) -> None:
    actor = admin("sato")
    gojome = db.session.scalar(select(Organisation).where(Organisation.code == GOJOME))
    oga = db.session.scalar(select(Organisation).where(Organisation.code == OGA))
    assert gojome is not None and oga is not None
    user = User(username="ito", display_name="伊藤", role=Role.HQ.value, password_hash="x", active=True)
    db.session.add(user)
    db.session.flush()
    update_user(
        user, actor=actor, role=Role.MUNICIPALITY, organisation=gojome, display_name="伊藤一郎", active=False
    )
    update_user(
        user, actor=actor, role=Role.MUNICIPALITY, organisation=oga, display_name="伊藤一郎", active=False
    )
    recipient = add_recipient(gojome, "bousai@town.gojome.example.lg.jp", actor=actor)
    update_recipient(recipient, actor=actor, active=False, send_empty=True, note="総務課")

    records = list(
        db.session.scalars(audit_select(AuditFilter(actor="sato")).where(AuditRecord.action == "update"))
    )
    described = describe(records)
    assert [[str(c) for c in described[r.id]] for r in records] == [
        ["配信: 有効 → 無効", "派遣のない日: 送らない → 送る", "メモ: （なし） → 総務課"],
        ["所属団体: 五城目町 → 男鹿市"],
        [
            "表示名: 伊藤 → 伊藤一郎",
            "権限: 災害対策本部（入力） → 市町村（閲覧）",
            "所属団体: （なし） → 五城目町",
            "状態: 有効 → 無効",
        ],
    ]


# --- the small defects ------------------------------------------------------------------------------------


def test_the_delete_page_says_who_can_restore(
    client: FlaskClient, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    assert client.post(f"{BASE}/entries/new", data=entry_form()).status_code == 302
    listing = client.get(f"{BASE}/entries?date_from=2023-11-01")
    [delete] = re.findall(rf'href="({BASE}/entries/\d+/delete)"', listing.text)
    by_others = (
        "削除した内容は監査ログに残り、総合防災課（確認・締め担当）または管理者が監査ログから復元できます。"
    )

    assert by_others in plain(client.get(delete).text)
    reviewer_page = plain(client_as(Role.REVIEWER, "kato").get(delete).text)
    assert "削除した内容は監査ログに残り、監査ログから復元できます。" in reviewer_page
    assert "総合防災課（確認・締め担当）または管理者が" not in reviewer_page

    deleted = client.post(delete, data={"reason": ""}, follow_redirects=True)
    assert flashes(deleted.text, "success") == [f"削除しました。{by_others}"]
    # HQ gets 403 on the log: the page that sent it there would have been a dead end.
    assert client.get("/audit").status_code == 403


def test_scripts_run_points_the_digest_link_at_the_port_it_serves() -> None:
    script = (ROOT / "scripts" / "run").read_text()
    [settings] = re.findall(r"^port=.*?\nexport DISPATCH_BASE_URL=.*?$", script, re.S | re.M)
    assert '--port "$port"' in script

    def base_url(**env: str) -> str:
        shown = subprocess.run(
            ["bash", "-c", settings + '\necho "$DISPATCH_BASE_URL"'], env=env, capture_output=True, text=True
        )
        return shown.stdout.strip()

    assert base_url(PORT="5123") == "http://127.0.0.1:5123"
    assert base_url() == "http://127.0.0.1:5000"
    assert base_url(PORT="5123", DISPATCH_BASE_URL="https://dispatch.pref.example.lg.jp") == (
        "https://dispatch.pref.example.lg.jp"
    )


def test_the_digest_link_follows_the_base_url(app_with: Callable[..., Flask]) -> None:
    app = app_with(BASE_URL="http://127.0.0.1:5123")
    with app.app_context():
        seed_founding_case()
        db.session.commit()
    reviewer = logged_in(app, make_user(app, Role.REVIEWER))
    preview = reviewer.get(f"/digests/preview?org={GOJOME}&date=2023-08-01")
    assert preview.status_code == 200
    assert f"http://127.0.0.1:5123/disasters/{SLUG}/?as_of=2023-07-31" in preview.text
    assert "127.0.0.1:5000" not in preview.text


def test_the_dashboard_opens_on_the_last_day_with_entries(client: FlaskClient, demo: None) -> None:
    page = client.get(f"{BASE}/")
    [as_of] = re.findall(r'data-testid="as-of">(.*?)</p>', page.text, re.S)
    assert plain(as_of).startswith("令和5年10月31日時点（2023-10-31）")
    assert re.search(r'data-testid="headline-person-days"[^>]*>2,319<', page.text)
    [note] = re.findall(r'data-testid="as-of-note">(.*?)</p>', page.text, re.S)
    today = clock.today()
    assert plain(note).startswith(
        "派遣の記録は令和5年10月31日が最後のため、その日の時点を表示しています（今日は"
    )
    # 本日 still means today.
    assert f'href="{BASE}/?as_of={today.isoformat()}">本日</a>' in page.text

    asked = client.get(f"{BASE}/?as_of=2023-08-31")
    assert 'data-testid="as-of-note"' not in asked.text
    assert "令和5年8月31日時点" in asked.text


def test_the_dashboard_opens_on_today_while_entries_go_on(
    client: FlaskClient, demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today", lambda: date(2023, 8, 10))
    page = client.get(f"{BASE}/")
    assert "令和5年8月10日時点（2023-08-10）" in page.text
    assert 'data-testid="as-of-note"' not in page.text


@pytest.mark.parametrize(
    "path",
    [
        f"{BASE}/entries",
        f"{BASE}/entries.csv",
        f"{BASE}/entries.xlsx",
        "/audit",
        "/audit/export.csv",
    ],
)
def test_a_reversed_date_range_is_refused_with_a_message(
    client_as: Callable[..., FlaskClient], demo: None, path: str
) -> None:
    reviewer = client_as(Role.REVIEWER)
    response = reviewer.get(f"{path}?date_from=2023-08-01&date_to=2023-07-31")
    assert response.status_code == 400
    assert (
        "終了日（令和5年7月31日）が開始日（令和5年8月1日）より前です。開始日以降の日付を指定してください。"
        in (plain(response.text))
    )
    assert "該当 0件" not in response.text
    assert '<p class="summary">0件' not in response.text


def test_the_entry_list_says_why_it_lists_nothing(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/entries?date_from=2023-08-01&date_to=2023-07-31")
    assert list_summary(response.text) == "開始日が終了日より後のため、一覧を表示できません。"
    assert "該当する派遣はありません" not in response.text
    same_day = client.get(f"{BASE}/entries?date_from=2023-08-01&date_to=2023-08-01")
    assert same_day.status_code == 200
    assert list_summary(same_day.text) == "該当 18件 延べ 80人 （令和5年8月1日まで）"


def test_place_names_do_not_break_inside_a_word(client: FlaskClient, demo: None) -> None:
    css = (ROOT / "dispatch" / "static" / "app.css").read_text()
    assert ".name { word-break: keep-all; }" in css
    listing = client.get(f"{BASE}/entries?destination=053619&date_from=2023-10-31")
    assert re.search(r'<td class="name"[^>]*>五城目町</td>', listing.text)
    totals = client.get(f"{BASE}/totals?as_of=2023-10-31")
    assert re.search(r'<td class="name"[^>]*>五城目町</td>', totals.text)


def test_a_municipalitys_report_says_whose_it_is(oga: FlaskClient, client: FlaskClient) -> None:
    own = oga.get(f"{BASE}/report?as_of=2023-10-31")
    assert '<h1 class="no-print">状況報告（男鹿市関係分）</h1>' in own.text
    assert "<title>状況報告（男鹿市関係分） 令和5年10月31日時点" in own.text
    [text] = re.findall(r'data-testid="report-text">(.*?)</pre>', own.text, re.S)
    assert text.splitlines()[0] == "令和5年7月14日からの大雨に係る応援職員の派遣状況（男鹿市関係分）"

    whole = client.get(f"{BASE}/report?as_of=2023-10-31")
    assert '<h1 class="no-print">状況報告</h1>' in whole.text
    [text] = re.findall(r'data-testid="report-text">(.*?)</pre>', whole.text, re.S)
    assert text.splitlines()[0] == "令和5年7月14日からの大雨に係る応援職員の派遣状況"


# --- 今すぐ再送 ---------------------------------------------------------------------------------------------

GOSHIN = "goshin@example.lg.jp"
DIGEST_DATE = date(2023, 8, 1)


@pytest.fixture
def failed(mail_app: Flask, smtp_server: SMTPServer) -> int:
    """五城目町's digest for 2023-08-01, failed once with the mail server down (which is up again after);
    its delivery id."""
    with mail_app.app_context():
        seed_founding_case()
        gojome = db.session.scalar(select(Organisation).where(Organisation.code == GOJOME))
        db.session.add(Recipient(kind=RecipientKind.ORGANISATION, organisation_id=gojome.id, email=GOSHIN))
        db.session.commit()
        smtp_server.stop()
        assert send_due_digests(DIGEST_DATE).failed == 1
        smtp_server.start()
        delivery_id = db.session.scalar(select(Delivery.id))
        assert delivery_id is not None
        return delivery_id


def delivery_row(app: Flask, delivery_id: int) -> Delivery:
    with app.app_context():
        row = db.session.get(Delivery, delivery_id)
        assert row is not None
        db.session.expunge(row)
        return row


def test_a_failed_digest_is_resent_now_once_and_audited(
    mail_app: Flask, smtp_server: SMTPServer, failed: int
) -> None:
    operator = logged_in(mail_app, make_user(mail_app, Role.ADMIN, "sato"))
    page = operator.get("/admin/deliveries")
    assert f'action="/admin/deliveries/{failed}/resend"' in page.text
    assert ">今すぐ再送</button>" in page.text

    response = operator.post(f"/admin/deliveries/{failed}/resend", follow_redirects=True)
    assert flashes(response.text, "success") == ["日報を再送しました。"]
    assert smtp_server.recipients() == [GOSHIN]
    row = delivery_row(mail_app, failed)
    assert (row.status, row.attempts, row.claimed_by, row.next_attempt_at) == ("sent", 2, "web sato", None)
    # Sent: nothing left to resend, by hand or by the scheduler.
    assert f'action="/admin/deliveries/{failed}/resend"' not in response.text
    again = operator.post(f"/admin/deliveries/{failed}/resend", follow_redirects=True)
    assert flashes(again.text, "error") == [
        "再送できませんでした: 失敗した日報だけを再送できます。この日報は送信済みか、送信中です。"
    ]
    with mail_app.app_context():
        assert retry_failed(delivery.utcnow() + timedelta(days=1)).sent == 0
    assert len(smtp_server.messages) == 1

    with mail_app.app_context():
        [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "resend"))
        assert (record.actor, record.object_type, record.object_id) == ("sato", "delivery", failed)
        assert record.summary == f"令和5年8月1日の日報 {GOSHIN} を再送（送信済み）"
    log = operator.get("/audit?object_type=delivery")
    [cell] = re.findall(r'<td class="changes"[^>]*>(.*?)</td>', log.text, re.S)
    assert [plain(line) for line in cell.split("<br>") if plain(line)] == [
        "状態: 失敗 → 送信済み",
        "試行回数: 1 → 2",
        f"エラー: SMTPサーバー 127.0.0.1:{smtp_server.port} に接続できません（接続を拒否されました） → （なし）",
    ]
    assert "再送" in plain(log.text) and "日報の配信" in plain(log.text)


def test_a_resend_that_fails_again_is_recorded_and_retried_later(
    mail_app: Flask, smtp_server: SMTPServer, failed: int
) -> None:
    smtp_server.stop()
    operator = logged_in(mail_app, make_user(mail_app, Role.ADMIN, "sato"))
    response = operator.post(f"/admin/deliveries/{failed}/resend", follow_redirects=True)
    [message] = flashes(response.text, "error")
    assert message.startswith("再送しましたが、送信に失敗しました: SMTPサーバー 127.0.0.1:")
    row = delivery_row(mail_app, failed)
    assert (row.status, row.attempts) == ("failed", 2)
    # The backoff starts again from this attempt: 15 minutes after the second.
    assert row.next_attempt_at is not None and row.claimed_at is not None
    assert row.next_attempt_at - row.claimed_at <= timedelta(minutes=15)
    assert row.next_attempt_at - row.claimed_at > timedelta(minutes=14)
    with mail_app.app_context():
        [record] = db.session.scalars(select(AuditRecord).where(AuditRecord.action == "resend"))
        assert record.after is not None and record.after["status"] == "failed"
    smtp_server.start()


def test_a_scheduler_retry_that_takes_the_digest_first_leaves_the_resend_nothing(
    mail_app: Flask,
    mail_app_with: Callable[..., Flask],
    smtp_server: SMTPServer,
    failed: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scheduler = mail_app_with()
    due = delivery.utcnow() + timedelta(minutes=6)
    take_failed = delivery._Ledger.take_failed

    def retried_in_between(ledger: Any, *args: Any) -> bool:
        # The scheduler's retry runs after the page read the row and before it claims it.
        assert in_context(scheduler, retry_failed, due)().sent == 1
        return take_failed(ledger, *args)

    monkeypatch.setattr(delivery._Ledger, "take_failed", retried_in_between)
    operator = logged_in(mail_app, make_user(mail_app, Role.ADMIN, "sato"))
    response = operator.post(f"/admin/deliveries/{failed}/resend", follow_redirects=True)
    assert flashes(response.text, "error") == [
        "再送できませんでした: この日報はいま別の処理（定時の再送など）が送信しています。"
        "配信記録で結果を確認してください。"
    ]
    assert smtp_server.recipients() == [GOSHIN]
    assert delivery_row(mail_app, failed).attempts == 2
    with mail_app.app_context():
        assert db.session.scalar(select(func.count()).where(AuditRecord.action == "resend")) == 0


def test_a_resend_racing_the_scheduler_sends_once(
    mail_app: Flask, mail_app_with: Callable[..., Flask], smtp_server: SMTPServer, failed: int
) -> None:
    due = delivery.utcnow() + timedelta(minutes=6)

    def resend() -> object:
        try:
            return resend_now(failed, Actor("sato", Role.ADMIN), worker="web sato")
        except Refusal as refusal:
            return refusal

    results = at_once(in_context(mail_app_with(), resend), in_context(mail_app_with(), retry_failed, due))
    assert smtp_server.recipients() == [GOSHIN]
    assert delivery_row(mail_app, failed).status == "sent"
    assert sum(1 for r in results if isinstance(r, Refusal) or getattr(r, "sent", 1) == 0) == 1


def test_only_an_admin_resends(mail_app: Flask, smtp_server: SMTPServer, failed: int) -> None:
    for role in (Role.HQ, Role.REVIEWER, Role.MUNICIPALITY):
        user = logged_in(
            mail_app, make_user(mail_app, role, org_code=GOJOME if role is Role.MUNICIPALITY else None)
        )
        assert user.post(f"/admin/deliveries/{failed}/resend").status_code == 403
    assert smtp_server.messages == []
    assert delivery_row(mail_app, failed).status == "failed"
