"""The audit trail through the pages: an entry's history, the filtered log, its CSV export, restoring a
deleted entry, and changing an entry on a closed (確定) day.

On the founding case (dispatch/demo.py): 延べ2,319人 as of 2023-10-31. The entry added here is 横手市 ->
五城目町, 災害救助法関係事務, on 2023-11-01: 2 people, then 3, then deleted; so the total as of 2023-11-01
is 2,319 + 3 = 2,322 while it exists and 2,319 once it is gone.

The closed-day tests edit 秋田県 (総務部総合防災課) -> 五城目町 on 2023-10-31, 1 person in the demo.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.extensions import db
from dispatch.models import AuditRecord, Entry, Role
from dispatch.query import Destination, Sender, joined
from tests.factories import BASE, entry_form
from tests.reading import audit_record_id, csv_rows, flashes, plain, totals_json

HEADER = [
    "日時",
    "利用者",
    "操作",
    "対象",
    "対象ID",
    "内容",
    "変更前",
    "変更後",
    "理由",
    "確定日の変更",
    "変更内容",
]
ADDED = "令和5年11月1日 横手市→五城目町 災害救助法関係事務"


def rows_of(text: str) -> list[list[str]]:
    """The body rows of the page's table, cell by cell, as text; each element of a cell a word of its own
    (the 確定日 badge beside an action reads "削除 確定日")."""
    [body] = re.findall(r"<tbody>(.*?)</tbody>", text, re.S)
    return [
        [plain(cell.replace("<", " <")) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


def find_entry(app: Flask, day: date, sender: str, destination: str = "053619") -> Entry | None:
    with app.app_context():
        entry = db.session.scalar(
            joined(select(Entry)).where(
                Entry.date == day, Sender.code == sender, Destination.code == destination
            )
        )
        if entry is not None:
            db.session.expunge(entry)
        return entry


def person_days(client: FlaskClient, as_of: str) -> int:
    return totals_json(client, as_of)["person_days"]


@pytest.fixture
def reviewer(client_as: Callable[..., FlaskClient]) -> FlaskClient:
    return client_as(Role.REVIEWER, "kato")


@pytest.fixture
def changed(app: Flask, client: FlaskClient, demo: None) -> int:
    """The id of an entry HQ added (2), edited (3) and deleted, all through the pages."""
    assert client.post(f"{BASE}/entries/new", data=entry_form()).status_code == 302
    added = find_entry(app, date(2023, 11, 1), "052035")
    assert added is not None and added.headcount == 2
    assert person_days(client, "2023-11-01") == 2321
    edit = client.post(f"{BASE}/entries/{added.id}/edit", data=entry_form(headcount="3"))
    assert edit.status_code == 302
    assert person_days(client, "2023-11-01") == 2322
    assert client.post(f"{BASE}/entries/{added.id}/delete", data={"reason": ""}).status_code == 302
    assert find_entry(app, date(2023, 11, 1), "052035") is None
    assert person_days(client, "2023-11-01") == 2319
    return added.id


def test_history_shows_create_update_delete_in_order(client: FlaskClient, changed: int) -> None:
    response = client.get(f"{BASE}/entries/{changed}/history")
    assert response.status_code == 200
    assert f"<h1>派遣の変更履歴 #{changed}</h1>" in response.text
    assert "この派遣は削除されています。" in response.text
    # HQ may not restore, so no link to the log is offered.
    assert 'href="/audit?' not in response.text
    rows = rows_of(response.text)
    assert [row[1:] for row in rows] == [
        ["hq-user", "登録", f"{ADDED} 2人", "", ""],
        ["hq-user", "変更", f"{ADDED} 3人", "人数: 2 → 3", ""],
        ["hq-user", "削除", f"{ADDED} 3人", "", ""],
    ]
    assert all(re.fullmatch(r"令和\d+年\d+月\d+日 \d\d:\d\d(:\d\d)?", row[0]) for row in rows), rows


def test_history_of_an_unknown_entry_is_404(client: FlaskClient, demo: None) -> None:
    assert client.get(f"{BASE}/entries/999999/history").status_code == 404


def test_audit_log_filtered_by_object(reviewer: FlaskClient, changed: int) -> None:
    response = reviewer.get(f"/audit?object_type=entry&object_id={changed}")
    assert response.status_code == 200
    assert '<p class="summary">3件' in response.text
    rows = rows_of(response.text)
    assert [row[1:7] for row in rows] == [
        ["hq-user", "削除", f"派遣 #{changed}", f"{ADDED} 3人", "", ""],
        ["hq-user", "変更", f"派遣 #{changed}", f"{ADDED} 3人", "人数: 2 → 3", ""],
        ["hq-user", "登録", f"派遣 #{changed}", f"{ADDED} 2人", "", ""],
    ]
    # Only the deletion offers a restore.
    assert [row[7] for row in rows] == ["復元", "", ""]

    by_actor = reviewer.get("/audit?actor=kato")
    assert '<p class="summary">0件' in by_actor.text


def test_audit_log_filter_by_date_reports_a_bad_one(reviewer: FlaskClient, changed: int) -> None:
    response = reviewer.get("/audit?date_from=abc")
    assert response.status_code == 200
    assert '<p class="error">日付として読めません: abc</p>' in response.text


def test_audit_export_is_utf8_with_a_bom_and_japanese_headers(reviewer: FlaskClient, changed: int) -> None:
    response = reviewer.get(f"/audit/export.csv?object_type=entry&object_id={changed}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")
    rows = csv_rows(body)
    assert rows[0] == HEADER
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows[1:]] == [
        ("hq-user", "削除", "派遣", str(changed), f"{ADDED} 3人"),
        ("hq-user", "変更", "派遣", str(changed), f"{ADDED} 3人"),
        ("hq-user", "登録", "派遣", str(changed), f"{ADDED} 2人"),
    ]
    update = rows[2]
    assert '"headcount": 2' in update[6]
    assert '"headcount": 3' in update[7]
    assert '"sender_name": "横手市"' in update[7]
    assert update[8:] == ["", "", "人数: 2 → 3"]


def test_audit_export_in_cp932(reviewer: FlaskClient, changed: int) -> None:
    response = reviewer.get(f"/audit/export.csv?encoding=cp932&object_type=entry&object_id={changed}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=shift_jis"
    body = response.get_data()
    assert not body.startswith(b"\xef\xbb\xbf")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")
    rows = csv_rows(body, "cp932")
    assert rows[0] == HEADER
    assert [r[2] for r in rows[1:]] == ["削除", "変更", "登録"]
    assert rows[1][5] == f"{ADDED} 3人"


def test_audit_export_refuses_an_unknown_encoding(reviewer: FlaskClient, changed: int) -> None:
    response = reviewer.get("/audit/export.csv?encoding=latin-1")
    assert response.status_code == 400
    assert "文字コード「latin-1」には対応していません（utf-8 または cp932）。" in response.text


def test_audit_export_in_cp932_refuses_what_cp932_cannot_hold(
    reviewer: FlaskClient, client: FlaskClient, changed: int
) -> None:
    assert client.post(f"{BASE}/entries/new", data=entry_form(note="𠮷田さん")).status_code == 302
    response = reviewer.get("/audit/export.csv?encoding=cp932")
    assert response.status_code == 422
    assert "Shift_JIS（CP932）で表せない文字があります: 𠮷" in response.text
    utf8 = reviewer.get("/audit/export.csv")
    assert utf8.status_code == 200
    assert "𠮷田さん" in utf8.get_data().decode("utf-8-sig")


def test_a_deleted_entry_is_restored_from_the_log_once(
    app: Flask, reviewer: FlaskClient, changed: int
) -> None:
    deletion = audit_record_id(app, changed, "delete")
    response = reviewer.post(f"/audit/{deletion}/restore", data={"reason": ""})
    assert response.status_code == 302
    restored = find_entry(app, date(2023, 11, 1), "052035")
    assert restored is not None
    assert (restored.headcount, restored.created_by) == (3, "kato")
    assert response.headers["Location"] == f"{BASE}/entries/{restored.id}/history"
    assert person_days(reviewer, "2023-11-01") == 2322

    history = reviewer.get(response.headers["Location"])
    assert flashes(history.text, "success") == ["派遣を復元しました。"]
    # A new entry, with a history of its own: the deleted one's id is not reused.
    assert restored.id != changed
    assert [row[1:3] for row in rows_of(history.text)] == [["kato", "登録"], ["kato", "復元"]]

    again = reviewer.post(f"/audit/{deletion}/restore", data={"reason": ""})
    assert again.status_code == 302
    assert again.headers["Location"] == f"/audit?object_type=entry&object_id={changed}"
    refused = reviewer.get(again.headers["Location"])
    assert flashes(refused.text, "error") == ["同じ内容の派遣が既に登録されているため、復元できません。"]
    assert person_days(reviewer, "2023-11-01") == 2322


def test_a_new_entry_never_takes_the_id_of_a_deleted_one(
    app: Flask, client: FlaskClient, changed: int
) -> None:
    other = entry_form(date="2023-11-02", sender="052124 大仙市")
    assert client.post(f"{BASE}/entries/new", data=other).status_code == 302
    added = find_entry(app, date(2023, 11, 2), "052124")
    assert added is not None
    assert added.id != changed


def test_only_a_deletion_can_be_restored(app: Flask, reviewer: FlaskClient, changed: int) -> None:
    creation = audit_record_id(app, changed, "create")
    response = reviewer.post(f"/audit/{creation}/restore", data={"reason": ""})
    refused = reviewer.get(response.headers["Location"])
    assert flashes(refused.text, "error") == ["復元できるのは派遣の削除の記録だけです。"]
    assert person_days(reviewer, "2023-11-01") == 2319
    assert reviewer.post("/audit/999999/restore", data={"reason": ""}).status_code == 404


# --- a closed day -------------------------------------------------------------------------------------

PREF_RELIEF = {
    "date": "2023-10-31",
    "sender": "050008 秋田県",
    "sender_unit": "総務部総合防災課",
}


@pytest.fixture
def closed_day(app: Flask, reviewer: FlaskClient, demo: None) -> int:
    """2023-10-31 closed by the reviewer; the id of the prefecture's relief-act entry on it (1 person)."""
    response = reviewer.post(f"{BASE}/closing", data={"close-day": "2023-10-31", "close-submit": "締める"})
    assert response.status_code == 302
    entry = find_entry(app, date(2023, 10, 31), "050008")
    assert entry is not None and entry.headcount == 1
    return entry.id


def test_editing_a_closed_day(
    app: Flask, client: FlaskClient, reviewer: FlaskClient, closed_day: int
) -> None:
    edit = f"{BASE}/entries/{closed_day}/edit"

    by_hq = client.post(edit, data=entry_form(**PREF_RELIEF, headcount="2", reason="訂正"))
    assert by_hq.status_code != 302
    [message] = flashes(by_hq.text, "error")
    assert "総合防災課" in message
    assert message == "令和5年10月31日は締め済み（確定）です。変更は総合防災課に依頼してください。"
    assert person_days(client, "2023-10-31") == 2319

    without_reason = reviewer.post(edit, data=entry_form(**PREF_RELIEF, headcount="2", reason=" "))
    assert without_reason.status_code != 302
    [message] = flashes(without_reason.text, "error")
    assert "理由" in message
    assert message == "令和5年10月31日は締め済み（確定）です。変更する理由を入力してください。"
    assert person_days(client, "2023-10-31") == 2319

    with_reason = reviewer.post(
        edit, data=entry_form(**PREF_RELIEF, headcount="2", reason="五城目町の報告訂正")
    )
    assert with_reason.status_code == 302
    assert person_days(client, "2023-10-31") == 2320

    history = client.get(f"{BASE}/entries/{closed_day}/history")
    rows = rows_of(history.text)
    assert [row[1:] for row in rows][-1] == [
        "kato",
        "変更 確定日",
        "令和5年10月31日 秋田県（総務部総合防災課）→五城目町 災害救助法関係事務 2人",
        "人数: 1 → 2",
        "五城目町の報告訂正",
    ]
    assert '<span class="badge badge-closed">確定日</span>' in history.text
    assert history.text.count('<tr class="flagged">') == 1

    with app.app_context():
        record = db.session.scalar(
            select(AuditRecord).where(
                AuditRecord.object_id == closed_day,
                AuditRecord.object_type == "entry",
                AuditRecord.action == "update",
            )
        )
        assert record is not None
        assert (record.before or {})["headcount"] == 1
        assert (record.after or {})["headcount"] == 2
        assert (record.reason, record.closed_day_change, record.actor) == ("五城目町の報告訂正", True, "kato")


def test_deleting_on_a_closed_day_needs_the_division_and_a_reason(
    app: Flask, client: FlaskClient, reviewer: FlaskClient, closed_day: int
) -> None:
    delete = f"{BASE}/entries/{closed_day}/delete"
    page = reviewer.get(delete)
    assert page.status_code == 200
    by_hq = client.post(delete, data={"reason": "重複"})
    assert by_hq.status_code != 302
    assert "令和5年10月31日は締め済み（確定）です。変更は総合防災課に依頼してください。" in flashes(
        by_hq.text, "error"
    )
    without_reason = reviewer.post(delete, data={"reason": ""})
    assert without_reason.status_code != 302
    assert "令和5年10月31日は締め済み（確定）です。変更する理由を入力してください。" in flashes(
        without_reason.text, "error"
    )
    assert person_days(client, "2023-10-31") == 2319

    assert reviewer.post(delete, data={"reason": "重複登録"}).status_code == 302
    assert person_days(client, "2023-10-31") == 2318
    log = reviewer.get(f"/audit?object_type=entry&object_id={closed_day}")
    [deletion] = [row for row in rows_of(log.text) if row[2].startswith("削除")]
    assert deletion[2] == "削除 確定日"
    assert deletion[6] == "重複登録"
