"""Disasters and operations run from the browser and the CLI (dispatch/catalog.py, pages/disasters.py,
catalog_cli.py): an operation ended on a date reads 「…から…まで」 and refuses later entries by every way in;
a closed disaster takes no entries and sends no digest; every change is audited; only the division and the
administrator may make them."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import func, select

from dispatch.catalog import (
    close_disaster,
    create_disaster,
    end_operation,
    move_operation,
    reopen_operation,
    set_receiving_section,
    update_disaster,
)
from dispatch.delivery import send_due_digests
from dispatch.entries import log_entries
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import AuditRecord, Disaster, Operation, Recipient, RecipientKind, Role
from dispatch.reports import status_report
from dispatch.seeding import seed_founding_case
from tests import factories
from tests.factories import BASE, GOJOME, SLUG, entry_form, import_form, logged_in, make_user
from tests.reading import assert_ok, counts, flashes, plain

ENDED = "派遣区分「mutual-aidの派遣」は令和5年8月5日で終了しています。"


def _audit(object_type: str) -> list[tuple[str, Any, Any]]:
    records = db.session.scalars(
        select(AuditRecord).where(AuditRecord.object_type == object_type).order_by(AuditRecord.id)
    )
    return [(r.action, r.before, r.after) for r in records]


# --- ending an operation ------------------------------------------------------------------------------------


def test_an_ended_operation_reads_from_to_and_refuses_later_entries(ctx: None) -> None:
    op = factories.operation()
    factories.entry(date(2023, 8, 1), 3, op=op)
    end_operation(op, date(2023, 8, 5), factories.reviewer())
    # Any as-of date after the end: the period ends on the end date, not on the last entry or the as-of date.
    for as_of in (date(2023, 8, 5), date(2023, 9, 30)):
        text = status_report(op.disaster, as_of, closed=False).text()
        assert "派遣期間：令和5年8月1日から5日まで\n" in text
    assert "令和5年8月1日から（継続中）" in status_report(op.disaster, date(2023, 8, 4), False).text()
    factories.entry(date(2023, 8, 5), 1, op=op)  # the end date itself is inside the period
    with pytest.raises(Refusal) as refused:
        factories.entry(date(2023, 8, 6), 1, op=op)
    assert ENDED in str(refused.value)
    assert _audit("operation")[-1] == (
        "end",
        {"code": "mutual-aid", "name": "mutual-aidの派遣", "display_order": 1, "end_date": None},
        {"code": "mutual-aid", "name": "mutual-aidの派遣", "display_order": 1, "end_date": "2023-08-05"},
    )


def test_an_operation_cannot_end_before_its_entries(ctx: None) -> None:
    op = factories.operation()
    factories.entry(date(2023, 8, 1), op=op)
    factories.entry(date(2023, 8, 9), op=op)
    with pytest.raises(Refusal) as refused:
        end_operation(op, date(2023, 8, 5), factories.reviewer())
    assert str(refused.value) == (
        "終了日を令和5年8月5日にはできません。その後の派遣が1件（最後は令和5年8月9日）登録されています。"
    )
    assert op.end_date is None


def test_a_reopened_operation_is_ongoing_and_takes_entries_again(ctx: None) -> None:
    op = factories.operation()
    factories.entry(date(2023, 8, 1), op=op)
    end_operation(op, date(2023, 8, 1), factories.reviewer())
    reopen_operation(op, factories.reviewer())
    factories.entry(date(2023, 8, 2), op=op)
    assert "令和5年8月1日から（継続中）" in status_report(op.disaster, date(2023, 8, 30), False).text()
    assert [action for action, _, _ in _audit("operation")] == ["create", "end", "reopen"]


def test_an_edit_may_not_move_an_entry_past_the_end(ctx: None) -> None:
    from dispatch.entries import update_entry

    op = factories.operation()
    entry = factories.entry(date(2023, 8, 1), op=op)
    end_operation(op, date(2023, 8, 3), factories.reviewer())
    update_entry(entry, factories.draft(date(2023, 8, 3), 2, op=op), factories.hq())  # inside: fine
    with pytest.raises(Refusal, match="派遣区分「mutual-aidの派遣」は令和5年8月3日で終了しています。"):
        update_entry(entry, factories.draft(date(2023, 8, 4), 2, op=op), factories.hq())


def test_end_operation_command_then_the_page_import_and_copy_refuse(
    runner: FlaskCliRunner, app: Flask, client: FlaskClient, demo: None
) -> None:
    """The founding case's relief-act operation (継続中 to 10/31) ended on 10/31 from the CLI."""
    result = runner.invoke(args=["end-operation", SLUG, "relief-act", "--on", "2023-10-31"])
    assert_ok(result)
    assert result.stdout == "ended operation relief-act: 災害救助法業務に係る派遣, 令和5年10月31日まで\n"
    report = runner.invoke(args=["status-report", SLUG, "--as-of", "2023-11-06"]).stdout
    assert "(3) 災害救助法業務に係る派遣\n派遣期間：令和5年10月2日から31日まで\n" in report
    before = counts(app)

    page = client.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-01"))
    assert page.status_code == 422
    assert "派遣区分「災害救助法業務に係る派遣」は令和5年10月31日で終了しています。" in plain(page.text)

    upload = client.post(
        f"{BASE}/import",
        data=import_form(["2023-11-01,relief-act,052035,,053619,relief_act,2,"]),
        content_type="multipart/form-data",
    )
    assert upload.status_code == 422
    assert "令和5年10月31日で終了しています" in plain(upload.text)
    assert counts(app) == before

    again = runner.invoke(args=["reopen-operation", SLUG, "relief-act"])
    assert_ok(again)
    assert again.stdout == "reopened operation relief-act: 災害救助法業務に係る派遣（継続中）\n"
    assert client.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-01")).status_code == 302


def test_end_operation_command_refusals(runner: FlaskCliRunner, demo: None) -> None:
    twice = runner.invoke(args=["end-operation", SLUG, "mutual-aid", "--on", "2023-09-01"])
    assert twice.exit_code == 1
    assert "派遣区分「災害時の相互応援協定に基づく派遣」は令和5年8月31日に終了しています。" in twice.output
    unknown = runner.invoke(args=["end-operation", SLUG, "no-such-op", "--on", "2023-09-01"])
    assert unknown.exit_code == 1
    assert "「no-such-op」に当たる派遣区分が見つかりません。" in unknown.output
    not_ended = runner.invoke(args=["reopen-operation", SLUG, "relief-act"])
    assert not_ended.exit_code == 1
    assert "派遣区分「災害救助法業務に係る派遣」は終了していません。" in not_ended.output


# --- order, names, receiving sections ---------------------------------------------------------------------


def test_moving_an_operation_renumbers_the_report(ctx: None) -> None:
    disaster = seed_founding_case().disaster
    water = next(op for op in disaster.operations if op.code == "water-supply")
    move_operation(water, -3, factories.reviewer())
    db.session.refresh(disaster)
    assert [(op.display_order, op.code) for op in disaster.operations] == [
        (1, "water-supply"),
        (2, "mutual-aid"),
        (3, "recovery-support"),
        (4, "relief-act"),
    ]
    text = status_report(disaster, date(2023, 10, 31), False).text()
    assert text.index("(1) 応急給水業務に係る派遣") < text.index("(2) 災害時の相互応援協定に基づく派遣")
    # Each operation whose place changed has its record.
    assert [(b["display_order"], a["display_order"]) for _, b, a in _audit("operation")[-4:]] == [
        (4, 1),
        (1, 2),
        (2, 3),
        (3, 4),
    ]
    with pytest.raises(Refusal, match="これ以上上に移せません"):
        move_operation(water, -1, factories.reviewer())


def test_a_receiving_section_beside_a_dated_destination(ctx: None) -> None:
    op = factories.operation()
    factories.entry(date(2023, 8, 1), 2, op=op, destination=GOJOME)
    factories.entry(date(2023, 8, 3), 1, op=op, destination="052019")
    end_operation(op, date(2023, 8, 3), factories.reviewer())
    section = set_receiving_section(op, factories.org(GOJOME), "町災害対策本部事務局", factories.reviewer())
    assert section is not None
    text = status_report(op.disaster, date(2023, 8, 31), False).text()
    # Destinations in code order (秋田市 052019, then 五城目町 053619), each with its last date.
    assert "派遣先：秋田市（8月3日まで）、五城目町（町災害対策本部事務局、8月1日まで）\n" in text
    set_receiving_section(op, factories.org(GOJOME), "", factories.reviewer())
    assert "五城目町（8月1日まで）" in status_report(op.disaster, date(2023, 8, 31), False).text()
    assert [
        (action, (b or {}).get("name"), (a or {}).get("name")) for action, b, a in _audit("receiving_section")
    ] == [
        ("create", None, "町災害対策本部事務局"),
        ("delete", "町災害対策本部事務局", None),
    ]


# --- disasters ----------------------------------------------------------------------------------------------


def test_a_disaster_with_its_affected_prefectures(ctx: None) -> None:
    disaster = create_disaster(
        "noto-quake", "令和6年能登半島地震", date(2024, 1, 1), factories.admin(), [factories.org("170003")]
    )
    assert [p.name for p in disaster.prefectures] == ["石川県"]
    assert _audit("disaster")[-1][2] == {
        "slug": "noto-quake",
        "name": "令和6年能登半島地震",
        "start_date": "2024-01-01",
        "prefectures": "石川県",
        "closed_on": None,
    }
    with pytest.raises(Refusal, match="被災都道府県には都道府県を選んでください（輪島市）"):
        update_disaster(
            disaster, disaster.name, disaster.start_date, [factories.org("172049")], factories.admin()
        )


def test_the_start_cannot_pass_the_first_entry(ctx: None) -> None:
    factories.entry(date(2023, 7, 20))
    disaster = factories.disaster()
    with pytest.raises(Refusal, match="令和5年7月20日の派遣が登録されています"):
        update_disaster(disaster, disaster.name, date(2023, 7, 21), [], factories.admin())


def test_a_closed_disaster_takes_no_entry_by_any_way(ctx: None) -> None:
    entry = factories.entry(date(2023, 8, 1))
    disaster = factories.disaster()
    with pytest.raises(Refusal, match="令和5年8月1日までの派遣が登録されています"):
        close_disaster(disaster, date(2023, 7, 31), factories.reviewer())
    close_disaster(disaster, date(2023, 8, 31), factories.reviewer())
    closed = "災害「テスト豪雨」は令和5年8月31日に終了しています。派遣を登録・変更するには、災害を再開してください。"
    with pytest.raises(Refusal) as refused:
        log_entries([factories.draft(date(2023, 8, 2))], factories.hq())
    assert str(refused.value) == closed
    from dispatch.entries import delete_entry, update_entry

    with pytest.raises(Refusal, match="終了しています"):
        update_entry(entry, factories.draft(date(2023, 8, 1), 5), factories.reviewer())
    with pytest.raises(Refusal, match="終了しています"):
        delete_entry(entry, factories.reviewer())
    assert [action for action, _, _ in _audit("disaster")] == ["create", "end"]


def test_close_and_reopen_disaster_commands(
    runner: FlaskCliRunner, app: Flask, client: FlaskClient, demo: None
) -> None:
    result = runner.invoke(args=["close-disaster", SLUG, "--on", "2023-10-31"])
    assert_ok(result)
    assert result.stdout == "closed disaster akita-2023-rain: 令和5年7月14日からの大雨, 令和5年10月31日終了\n"
    page = client.post(f"{BASE}/entries/new", data=entry_form(date="2023-10-31", headcount="9"))
    assert page.status_code == 422
    assert "令和5年10月31日に終了しています" in plain(page.text)
    index = client.get("/").text
    assert "令和5年10月31日終了" in plain(index)
    twice = runner.invoke(args=["close-disaster", SLUG, "--on", "2023-11-01"])
    assert twice.exit_code == 1
    assert "災害「令和5年7月14日からの大雨」は令和5年10月31日に終了しています。" in twice.output
    assert_ok(runner.invoke(args=["reopen-disaster", SLUG]))
    assert (
        client.post(f"{BASE}/entries/new", data=entry_form(date="2023-10-31", headcount="9")).status_code
        == 302
    )


def test_a_closed_disaster_sends_no_digest(mail_app: Flask, smtp_server: Any) -> None:
    with mail_app.app_context():
        disaster = seed_founding_case().disaster
        gojome = factories.org(GOJOME)
        db.session.add(
            Recipient(kind=RecipientKind.ORGANISATION, organisation_id=gojome.id, email="g@example.jp")
        )
        db.session.add(Recipient(kind=RecipientKind.DIVISION, email="division@example.jp"))
        close_disaster(disaster, date(2023, 10, 31), factories.reviewer())
        db.session.commit()
        closed = send_due_digests(date(2023, 8, 1), worker="test")
    assert (closed.sent, closed.failed) == (0, 0)
    assert smtp_server.messages == []

    runner = mail_app.test_cli_runner()
    assert_ok(runner.invoke(args=["reopen-disaster", SLUG]))
    with mail_app.app_context():
        reopened = send_due_digests(date(2023, 8, 2), worker="test")
    assert reopened.sent == 2
    assert sorted(smtp_server.recipients()) == ["division@example.jp", "g@example.jp"]


# --- the pages ----------------------------------------------------------------------------------------------

SETTINGS = f"{BASE}/settings"


@pytest.fixture
def reviewer(app: Flask, demo: None) -> FlaskClient:
    return logged_in(app, make_user(app, Role.REVIEWER, "kato"))


def test_a_reviewer_creates_a_disaster_and_its_operations_in_the_browser(
    app: Flask, reviewer: FlaskClient
) -> None:
    created = reviewer.post(
        "/disasters/new",
        data={
            "slug": "noto-quake",
            "name": "令和6年能登半島地震",
            "start_date": "令和6年1月1日",
            "prefectures": ["170003"],
        },
    )
    assert created.status_code == 302
    assert created.headers["Location"] == "/disasters/noto-quake/settings"
    added = reviewer.post(
        "/disasters/noto-quake/operations", data={"new-code": "counterpart", "new-name": "対口支援"}
    )
    assert added.status_code == 302
    renamed = reviewer.post(
        "/disasters/noto-quake/operations/counterpart/rename", data={"name": "対口支援による派遣"}
    )
    assert renamed.status_code == 302
    page = reviewer.get("/disasters/noto-quake/settings")
    assert flashes(page.text, "success")[-1] == "派遣区分の名称を変更しました。"
    assert "(1) 対口支援による派遣" in plain(page.text)
    with app.app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == "noto-quake"))
        assert disaster is not None
        assert [p.code for p in disaster.prefectures] == ["170003"]
        assert [(op.code, op.name) for op in disaster.operations] == [("counterpart", "対口支援による派遣")]
        assert [
            (r.actor, r.object_type, r.action)
            for r in db.session.scalars(select(AuditRecord).order_by(AuditRecord.id))
        ][-3:] == [
            ("kato", "disaster", "create"),
            ("kato", "operation", "create"),
            ("kato", "operation", "update"),
        ]


def test_ending_reopening_and_sections_in_the_browser(app: Flask, reviewer: FlaskClient) -> None:
    too_early = reviewer.post(f"{BASE}/operations/relief-act/end", data={"on": "2023-10-30"})
    assert too_early.status_code == 422
    assert (
        "終了日を令和5年10月30日にはできません。その後の派遣が3件（最後は令和5年10月31日）登録されています。"
        in plain(too_early.text)
    )
    assert reviewer.post(f"{BASE}/operations/relief-act/end", data={"on": "2023-10-31"}).status_code == 302
    ended = reviewer.get(f"{BASE}/report?as_of=2023-11-06").text
    assert "派遣期間：令和5年10月2日から31日まで" in ended
    later = reviewer.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-01"))
    assert later.status_code == 422
    assert "派遣区分「災害救助法業務に係る派遣」は令和5年10月31日で終了しています。" in plain(later.text)
    assert reviewer.post(f"{BASE}/operations/relief-act/reopen", data={}).status_code == 302
    section = reviewer.post(
        f"{BASE}/operations/relief-act/sections",
        data={"destination": "053619 五城目町", "name": "町健康福祉課"},
    )
    assert section.status_code == 302
    report = reviewer.get(f"{BASE}/report?as_of=2023-10-31").text
    assert "派遣先：五城目町（町健康福祉課）" in report
    assert reviewer.post(f"{BASE}/operations/relief-act/move", data={"steps": "-1"}).status_code == 302
    with app.app_context():
        ops = db.session.scalars(select(Operation).order_by(Operation.display_order)).all()
        assert [op.code for op in ops] == ["mutual-aid", "relief-act", "recovery-support", "water-supply"]


def test_closing_and_reopening_the_disaster_in_the_browser(app: Flask, reviewer: FlaskClient) -> None:
    closed = reviewer.post(f"{BASE}/close", data={"close-on": "2023-10-31"})
    assert closed.status_code == 302
    assert "に終了しています" in reviewer.get(SETTINGS).text
    assert reviewer.post(f"{BASE}/reopen", data={}).status_code == 302
    with app.app_context():
        disaster = factories.disaster(SLUG)
        assert disaster.closed_on is None
        assert [
            r.action
            for r in db.session.scalars(select(AuditRecord).where(AuditRecord.object_type == "disaster"))
        ][-2:] == [
            "end",
            "reopen",
        ]


# Each page or action of pages/disasters.py, with what a permitted role gets.
DISASTER_ACTIONS: list[tuple[str, str, dict[str, Any], int]] = [
    ("get", "/disasters/new", {}, 200),
    ("post", "/disasters/new", {"slug": "x-rain", "name": "X", "start_date": "2024-01-01"}, 302),
    ("get", SETTINGS, {}, 200),
    (
        "post",
        SETTINGS,
        {"name": "令和5年7月14日からの大雨", "start_date": "2023-07-14", "prefectures": ["050008"]},
        302,
    ),
    ("post", f"{BASE}/operations", {"new-code": "extra", "new-name": "追加の派遣"}, 302),
    ("post", f"{BASE}/operations/relief-act/rename", {"name": "災害救助法業務"}, 302),
    ("post", f"{BASE}/operations/relief-act/move", {"steps": "1"}, 302),
    ("post", f"{BASE}/operations/relief-act/end", {"on": "2023-10-31"}, 302),
    ("post", f"{BASE}/operations/mutual-aid/reopen", {}, 302),
    (
        "post",
        f"{BASE}/operations/mutual-aid/sections",
        {"destination": "052019", "name": "市災害対策本部"},
        302,
    ),
    ("post", f"{BASE}/close", {"close-on": "2023-10-31"}, 302),
    ("post", f"{BASE}/reopen", {}, 302),
]


@pytest.mark.parametrize("role", list(Role))
def test_only_the_division_and_the_administrator_run_disasters(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None, role: Role
) -> None:
    user = client_as(role, f"{role.value}-x", GOJOME if role is Role.MUNICIPALITY else None)
    allowed = role in (Role.ADMIN, Role.REVIEWER)
    with app.app_context():
        records = db.session.scalar(select(func.count(AuditRecord.id)))
    for method, url, data, status in DISASTER_ACTIONS:
        response = getattr(user, method)(url, data=data)
        assert response.status_code == (status if allowed else 403), (role, method, url)
    with app.app_context():
        changed = db.session.scalar(select(func.count(AuditRecord.id))) - (records or 0)
    # Ten changes, each audited: the disaster created (its settings saved unchanged: no record), an operation
    # added, one renamed, two moved (the one below moves up), one ended, one reopened, a section, the
    # disaster closed and reopened.
    assert changed == (10 if allowed else 0)


def test_the_menu_links_the_settings_for_those_who_may_use_them(
    client: FlaskClient, reviewer: FlaskClient
) -> None:
    assert f'href="{SETTINGS}"' in reviewer.get(f"{BASE}/").text
    assert f'href="{SETTINGS}"' not in client.get(f"{BASE}/").text  # hq
    assert 'data-testid="new-disaster-link"' in reviewer.get("/").text
    assert 'data-testid="new-disaster-link"' not in client.get("/").text


def test_the_settings_forms_carry_their_csrf_tokens(csrf_app: Flask, demo: None) -> None:
    client = logged_in(csrf_app, make_user(csrf_app, Role.REVIEWER, "kato"))
    page = client.get(SETTINGS).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    assert client.post(f"{BASE}/operations/relief-act/rename", data={"name": "救助法業務"}).status_code == 400
    renamed = client.post(
        f"{BASE}/operations/relief-act/rename", data={"name": "救助法業務", "csrf_token": token.group(1)}
    )
    assert renamed.status_code == 302
    closing = re.search(r'name="close-csrf_token" value="([^"]+)"', page)
    assert closing is not None
    closed = client.post(
        f"{BASE}/close", data={"close-on": "2023-10-31", "close-csrf_token": closing.group(1)}
    )
    assert closed.status_code == 302
