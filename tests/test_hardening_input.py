"""Issue 12, what a user types or a machine breaks: the input and fault probes of
../shared/probes/failed-2026-11-30.md, grouped by cause, each test naming the probes it covers.

The probes ran twice, [5201] on SQLite and [5202] on PostgreSQL (355 and 435 are the same probe); every
test here runs on the suite's database (PostgreSQL when TEST_DATABASE_URL is set), so one test covers both
numbers. Each answer must be a 4xx or a 503 with a Japanese message, never a 500 or Werkzeug's English
page, and nothing may be written: `written` counts entries and audit records before and after.

The founding case (the `demo` fixture) holds 549 entries, 延べ2,319人, from 2023-07-16 to 2023-10-31, for
the disaster akita-2023-rain that began on 2023-07-14 (令和5年7月14日).
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import event, func, select, text

from dispatch import clock, create_app
from dispatch.entries import log_entries
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import AuditRecord, Entry, Role
from dispatch.text import unsafe_characters
from dispatch.wareki import format_long
from tests import factories
from tests.factories import BASE, GOJOME, OGA, entry_form, logged_in, make_user
from tests.reading import csv_rows, field_errors, plain

HUGE = "99999999999999999999999"  # 23 digits
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def written(app: Flask) -> tuple[int, int]:
    """(entries, audit records) in the whole database."""
    with app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(Entry)) or 0
        records = db.session.scalar(select(func.count()).select_from(AuditRecord)) or 0
        return entries, records


def assert_japanese_refusal(response: Any, status: int) -> str:
    """The status, a page in Japanese (never Werkzeug's English one); the page's text."""
    assert response.status_code == status, response.text[:500]
    assert "Internal Server Error" not in response.text
    page = plain(response.text)
    assert JAPANESE.search(page), page[:300]
    return page


@pytest.fixture
def admin(client_as: Callable[..., FlaskClient], demo: None) -> FlaskClient:
    return client_as(Role.ADMIN, "sadmin")


# --- 1. NUL bytes: refused at the edge, before anything reads the database ------------------------------

NUL_REFUSED = "制御文字（NUL）"


@pytest.mark.parametrize("field", ["sender_unit", "note", "sender"])
def test_nul_in_an_entry_form_is_refused_and_nothing_written(
    app: Flask, client: FlaskClient, demo: None, field: str
) -> None:
    """Probes 375, 376 (SQLite: stored as typed), 455, 456, 462 (PostgreSQL: a 500)."""
    before = written(app)
    value = "052035\x00横手市" if field == "sender" else "総務\x00課"
    response = client.post(f"{BASE}/entries/new", data=entry_form(**{field: value}))
    assert NUL_REFUSED in assert_japanese_refusal(response, 400)
    assert written(app) == before


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/entries?sender=%00",  # 479
        f"{BASE}/entries?operation=%00",  # 480
        f"{BASE}/entries?duty=%00",  # 481
        f"{BASE}/entries.csv?sender=%00",  # 483
        f"{BASE}/entries.xlsx?operation=%00",  # 484
        "/disasters/%00/",  # 487
        "/audit?actor=%00",  # 492
        "/audit?object_type=%00",  # 494
        "/audit?disaster=%00",  # 495
        "/digests/preview?org=%00",  # 498
        "/audit/export.csv?actor=%00",  # 501
        f"{BASE}/?as_of=2023-08-01%00",
        f"{BASE}/entries?%00=1",
    ],
)
def test_nul_in_a_url_is_refused(admin: FlaskClient, url: str) -> None:
    """Probes 479, 480, 481, 483, 484, 487, 492, 494, 495, 498, 501 (PostgreSQL: a 500 or a broken
    download), on the path, a query value and a query name alike."""
    assert NUL_REFUSED in assert_japanese_refusal(admin.get(url), 400)


def test_nul_in_the_login_name_is_refused_before_login(app: Flask, anonymous: FlaskClient) -> None:
    """Probe 503 (PostgreSQL: a 500 before login). Only the 4xx and its message: throttling is issue 12's
    other part."""
    make_user(app, Role.HQ, "shq")
    response = anonymous.post("/login", data={"username": "shq\x00", "password": factories.PASSWORD})
    assert NUL_REFUSED in assert_japanese_refusal(response, 400)
    assert anonymous.get("/").status_code == 302


def test_nul_in_json_is_refused(client: FlaskClient, demo: None) -> None:
    """JSON is read nowhere yet; a NUL in it is refused all the same, before any page reads it."""
    response = client.post(f"{BASE}/entries/new", json={"note": "a\x00b"})
    assert NUL_REFUSED in assert_japanese_refusal(response, 400)


# --- 2. Control and bidirectional characters: refused next to the field ---------------------------------


@pytest.mark.parametrize(
    ("field", "value", "codes"),
    [
        ("note", "連絡\x1b[31m済\x07み\x08\u202e", "U+001B、U+0007、U+0008、U+202E"),  # 377, 457
        ("sender_unit", "総務部\u202e課防災", "U+202E"),  # 378, 458
        ("sender_unit", "総務部\u200b総合防災課", "U+200B"),  # 378, 458
    ],
)
def test_control_and_bidi_characters_are_refused_next_to_the_field(
    app: Flask, client: FlaskClient, demo: None, field: str, value: str, codes: str
) -> None:
    """Probes 377, 378 (SQLite), 457, 458 (PostgreSQL): stored as typed before."""
    before = written(app)
    response = client.post(f"{BASE}/entries/new", data=entry_form(**{field: value}))
    assert response.status_code == 422
    label = "備考" if field == "note" else "所属"
    assert field_errors(response.text)[field] == [
        f"{label}に制御文字または見えない文字（{codes}）が含まれています。削除してから入力してください。"
    ]
    assert written(app) == before


def test_a_note_keeps_its_line_breaks_and_tabs(app: Flask, client: FlaskClient, demo: None) -> None:
    """What a note of several lines holds is not a control character to refuse."""
    response = client.post(f"{BASE}/entries/new", data=entry_form(note="1行目\r\n2行目\t（続き）"))
    assert response.status_code == 302


def test_the_one_rule_of_unsafe_characters() -> None:
    """text.unsafe_characters, the rule the forms use and the importer can use: line breaks and tabs only
    in text of several lines; every control, bidirectional and zero-width character never."""
    assert unsafe_characters("a\tb\nc", multiline=True) == []
    assert unsafe_characters("a\tb\nc") == ["\t", "\n"]
    assert unsafe_characters("\x00\x7f\x85\u200b\u200d\u200e\u202a\u2066\ufeff") == list(
        "\x00\x7f\x85\u200b\u200d\u200e\u202a\u2066\ufeff"
    )
    assert unsafe_characters("総務部　総合防災課（Ａ班）①") == []


# --- 3. Dates without bounds -------------------------------------------------------------------------------


def _horizon_message(latest: date) -> str:
    return (
        f"{format_long(latest)}より後の日付です。"
        f"日付は令和5年7月14日から{format_long(latest)}までの範囲で入力してください。"
    )


@pytest.mark.parametrize(
    "typed",
    [
        "R99.1.1",  # 363, 443
        "令和99年1月1日",
        "9999-12-31",  # 368, 448
        "2123-11-02",  # 369, 449
    ],
)
def test_an_entry_date_past_the_horizon_is_refused_naming_the_range(
    app: Flask, client: FlaskClient, demo: None, typed: str
) -> None:
    """Probes 363, 368, 369 (SQLite), 443, 448, 449 (PostgreSQL): accepted and counted before."""
    before = written(app)
    response = client.post(f"{BASE}/entries/new", data=entry_form(date=typed))
    assert response.status_code == 422
    latest = clock.today() + timedelta(days=7)
    assert field_errors(response.text)["date"] == [_horizon_message(latest)]
    assert written(app) == before


def test_an_entry_dated_0001_01_01_is_refused_and_the_page_shows(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    """Probes 358 (SQLite), 438 (PostgreSQL): a 500, the page itself failing to write the date in 和暦."""
    before = written(app)
    response = client.post(f"{BASE}/entries/new", data=entry_form(date="0001-01-01"))
    assert response.status_code == 422
    assert field_errors(response.text)["date"] == ["災害の発生日（令和5年7月14日）より前の日付です。"]
    assert written(app) == before
    # A link carrying such a date opens the form without it.
    assert client.get(f"{BASE}/entries/new?date=0001-01-01").status_code == 200


def test_the_horizon_is_a_setting(app_with: Callable[..., Flask], demo: None) -> None:
    """ENTRY_HORIZON_DAYS (default 7): the last day is accepted, the next refused."""
    app = app_with(ENTRY_HORIZON_DAYS=2)
    client = logged_in(app, make_user(app, Role.HQ, "horizon"))
    last = clock.today() + timedelta(days=2)
    refused = client.post(f"{BASE}/entries/new", data=entry_form(date=(last + timedelta(days=1)).isoformat()))
    assert field_errors(refused.text)["date"] == [_horizon_message(last)]
    assert client.post(f"{BASE}/entries/new", data=entry_form(date=last.isoformat())).status_code == 302


def test_a_period_and_a_copy_past_the_horizon_are_refused(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    """The period and copy forms hold the same range as the entry form."""
    before = written(app)
    latest = clock.today() + timedelta(days=7)
    period = client.post(
        f"{BASE}/entries/period",
        data=entry_form(date_from="2023-11-01", date_to="2123-11-02"),
    )
    assert period.status_code == 422
    assert field_errors(period.text)["date_to"] == ["期間は366日以内にしてください。"]
    period = client.post(
        f"{BASE}/entries/period",
        data=entry_form(date_from=latest.isoformat(), date_to=(latest + timedelta(days=3)).isoformat()),
    )
    assert field_errors(period.text)["date_to"] == [_horizon_message(latest)]
    copy = client.post(f"{BASE}/entries/copy", data={"source": "2023-10-31", "target_from": "R99.1.1"})
    assert copy.status_code == 422
    assert field_errors(copy.text)["target_from"] == [_horizon_message(latest)]
    assert written(app) == before


def test_every_way_in_refuses_an_entry_past_the_horizon(ctx: None) -> None:
    """entries.draft_problems, which log_entries and the importer both ask: a draft dated 2123 is refused
    whoever writes it."""
    draft = factories.draft(date(2123, 11, 2))
    with pytest.raises(Refusal, match="より後の日付です"):
        log_entries([draft], factories.hq())
    assert db.session.scalar(select(func.count()).select_from(Entry)) == 0


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/?as_of=9999-12-31",  # 393, 473
        f"{BASE}/?as_of=0001-01-01",  # 394, 474
        f"{BASE}/report?as_of=0001-01-01",  # 395, 475
        f"{BASE}/totals?as_of=0001-01-01",
        f"{BASE}/totals?as_of=9999-12-31",
    ],
)
def test_an_as_of_date_out_of_range_is_a_message_on_the_page(admin: FlaskClient, url: str) -> None:
    """Probes 393, 394, 395 (SQLite), 473, 474, 475 (PostgreSQL): a 500 before. The page shows today's
    figures and says why its date was not taken, as it does for a date it cannot read."""
    page = assert_japanese_refusal(admin.get(url), 200)
    assert "平成12年1月1日から令和82年12月31日までの日付にしてください。" in page
    assert format_long(clock.today()) in page


def test_an_as_of_date_out_of_range_is_a_400_in_json_and_downloads(admin: FlaskClient) -> None:
    json = admin.get(f"{BASE}/totals.json?as_of=0001-01-01")
    assert json.status_code == 400
    assert json.get_json() == {"error": "平成12年1月1日から令和82年12月31日までの日付にしてください。"}
    assert_japanese_refusal(admin.get(f"{BASE}/totals.csv?as_of=9999-12-31"), 400)
    assert_japanese_refusal(admin.get(f"{BASE}/entries.csv?date_to=9999-12-31"), 400)
    entries = assert_japanese_refusal(admin.get(f"{BASE}/entries?date_from=0001-01-01"), 200)
    assert "平成12年1月1日から令和82年12月31日までの日付にしてください。" in entries


def test_a_page_writes_a_date_before_the_eras_rather_than_fail(app: Flask) -> None:
    """The 和暦 filters of every page, the error page's too: a date before 昭和 is written as ISO."""
    assert app.jinja_env.filters["wareki"](date(1, 1, 1)) == "0001-01-01"
    assert app.jinja_env.filters["wareki_weekday"](date(1926, 12, 24)) == "1926-12-24"
    assert app.jinja_env.filters["wareki"](date(2023, 7, 14)) == "令和5年7月14日"


def test_a_digest_preview_for_0001_01_01_is_a_400(admin: FlaskClient) -> None:
    """Probes 420 (SQLite), 500 (PostgreSQL): a 500 before."""
    page = assert_japanese_refusal(admin.get("/digests/preview?date=0001-01-01"), 400)
    assert "平成12年1月1日から令和82年12月31日までの日付にしてください。" in page


# --- 4. Huge integers in URLs and query strings ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/entries?page={HUGE}",  # 397, 477
        f"{BASE}/entries/{HUGE}/history",  # 409, 489
        f"/audit?page={HUGE}",  # 411, 491
        f"/admin/users/{HUGE}",  # 422, 502
        f"{BASE}/entries/{HUGE}/edit",
        f"/admin/recipients/{HUGE}",
        f"{BASE}/entries?page=١٢",
    ],
)
def test_a_huge_id_or_page_number_is_not_found(admin: FlaskClient, url: str) -> None:
    """Probes 397, 409, 411, 422 (SQLite: OverflowError), 477, 489, 491, 502 (PostgreSQL: DataError)."""
    page = assert_japanese_refusal(admin.get(url), 404)
    assert "ページが見つかりません" in page


def test_the_largest_id_is_still_an_id(admin: FlaskClient) -> None:
    """2**31-1 is looked up (and not found); one more is no id at all."""
    assert admin.get(f"{BASE}/entries/{2**31 - 1}/history").status_code == 404
    assert admin.get("/admin/users/2147483647").status_code == 404
    assert admin.get(f"{BASE}/entries?page=2").status_code == 200


def test_a_huge_object_id_in_the_audit_filter_is_a_message(admin: FlaskClient) -> None:
    """Probes 413 (SQLite), 493 (PostgreSQL): a 500 before. The page says so; the export refuses."""
    page = assert_japanese_refusal(admin.get(f"/audit?object_id={HUGE}"), 200)
    assert f"「{HUGE}」は番号として読めません（2,147,483,647以下の半角数字）。" in page
    assert_japanese_refusal(admin.get(f"/audit/export.csv?object_id={HUGE}"), 400)


def test_a_huge_delivery_id_acknowledges_nothing(client_as: Callable[..., FlaskClient], demo: None) -> None:
    """The failure banner's form posts ids: one the database cannot hold is none of them (PostgreSQL: a
    DataError before)."""
    reviewer = client_as(Role.REVIEWER, "srev")
    response = reviewer.post("/deliveries/acknowledge", data={"delivery": [HUGE, "١٢"]})
    assert response.status_code == 302
    assert "配信の失敗0件を確認済みにしました。" in plain(reviewer.get(response.headers["Location"]).text)


# --- 5. Headcount: digits only ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["1_000", "١٢", "+5", "1e3"])
def test_a_headcount_that_is_not_plain_digits_is_refused(
    app: Flask, client: FlaskClient, demo: None, typed: str
) -> None:
    """Probes 355, 356 (SQLite), 435, 436 (PostgreSQL): 1_000 and Arabic-Indic ١٢ were read by int()."""
    before = written(app)
    response = client.post(f"{BASE}/entries/new", data=entry_form(headcount=typed))
    assert response.status_code == 422
    assert field_errors(response.text)["headcount"] == ["人数は半角数字で入力してください。"]
    assert written(app) == before


def test_full_width_digits_are_still_a_headcount(app: Flask, client: FlaskClient, demo: None) -> None:
    assert client.post(f"{BASE}/entries/new", data=entry_form(headcount="１２人")).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Entry.headcount).where(Entry.date == date(2023, 11, 1))) == 12


# --- 6. History: only the versions the body could see -------------------------------------------------------


def test_history_hides_the_version_of_another_municipality(
    app: Flask, client: FlaskClient, oga: FlaskClient, demo: None
) -> None:
    """Probe 135: an entry moved from 五城目町 to 男鹿市 showed 男鹿市 its 五城目 version, note included."""
    gojome = {"destination": f"{GOJOME} 五城目町", "note": "五城目町向けの連絡メモ"}
    assert client.post(f"{BASE}/entries/new", data=entry_form(**gojome)).status_code == 302
    with app.app_context():
        entry_id = db.session.scalar(select(Entry.id).where(Entry.date == date(2023, 11, 1)))
    moved = {"destination": f"{OGA} 男鹿市", "note": "男鹿市へ訂正", "headcount": "3"}
    assert client.post(f"{BASE}/entries/{entry_id}/edit", data=entry_form(**moved)).status_code == 302

    as_oga = oga.get(f"{BASE}/entries/{entry_id}/history")
    assert as_oga.status_code == 200
    page = plain(as_oga.text)
    assert "五城目" not in page
    assert "連絡メモ" not in page
    rows = _history(as_oga.text)
    assert [row[2:] for row in rows] == [
        ["登録", "この時点の内容は他団体のため表示しません", "", ""],
        [
            "変更",
            "令和5年11月1日 横手市→男鹿市 災害救助法関係事務 3人",
            "この時点の内容は他団体のため表示しません",
            "",
        ],
    ]

    # Disaster HQ reads every version, as before.
    as_hq = plain(client.get(f"{BASE}/entries/{entry_id}/history").text)
    assert "五城目町向けの連絡メモ" in as_hq
    assert "男鹿市へ訂正" in as_hq


def test_history_of_a_deleted_entry_hides_the_other_bodys_versions(
    app: Flask, client: FlaskClient, oga: FlaskClient, demo: None
) -> None:
    """The same for an entry deleted after it was moved: 男鹿市 still reads its own last version."""
    gojome = {"destination": f"{GOJOME} 五城目町", "note": "五城目町向けの連絡メモ"}
    assert client.post(f"{BASE}/entries/new", data=entry_form(**gojome)).status_code == 302
    with app.app_context():
        entry_id = db.session.scalar(select(Entry.id).where(Entry.date == date(2023, 11, 1)))
    moved = {"destination": f"{OGA} 男鹿市", "note": "男鹿市へ訂正"}
    assert client.post(f"{BASE}/entries/{entry_id}/edit", data=entry_form(**moved)).status_code == 302
    assert client.post(f"{BASE}/entries/{entry_id}/delete", data={"reason": ""}).status_code == 302

    page = plain(oga.get(f"{BASE}/entries/{entry_id}/history").text)
    assert "五城目" not in page
    assert "男鹿市" in page


def _history(text: str) -> list[list[str]]:
    [body] = re.findall(r"<tbody>(.*?)</tbody>", text, re.S)
    return [
        [plain(cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)
    ]


# --- 7. Faults of the machine: Japanese 500 and 503 pages -----------------------------------------------------


def _faulting_app(url: str, **settings: Any) -> Flask:
    """An app as production runs it: exceptions become the app's error pages instead of reaching the test."""
    config = {
        "TESTING": True,
        "PROPAGATE_EXCEPTIONS": False,
        "ENV_NAME": "test",
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": url,
        "WTF_CSRF_ENABLED": False,
        **settings,
    }
    return create_app(config)


@pytest.fixture(params=["sqlite", "postgresql"])
def unreachable_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database that is not there: a SQLite file in a folder that does not exist, or a PostgreSQL server
    on a port nothing listens on (both, whichever database the suite runs on)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'no-such-folder' / 'dispatch.sqlite'}"
    return "postgresql+psycopg://postgres@127.0.0.1:1/dispatch"


DATABASE_DOWN = "データベースに接続できません"


def test_database_unreachable_is_a_503_in_japanese(
    app: Flask, unreachable_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Probe 536: a wrong DATABASE_URL gave Werkzeug's English 500 page, for a login and a logged-in page."""
    user = make_user(app, Role.HQ, "shq")
    down = _faulting_app(unreachable_url)
    try:
        login = down.test_client().post("/login", data={"username": "shq", "password": "anything-at-all"})
        page = assert_japanese_refusal(login, 503)
        assert DATABASE_DOWN in page
        assert "しばらく待ってからもう一度お試しください" in page
        assert "この操作による変更は保存されていません。" in page
        assert login.headers["Retry-After"] == "60"

        dashboard = logged_in(down, user).get(f"{BASE}/")
        assert DATABASE_DOWN in assert_japanese_refusal(dashboard, 503)
    finally:
        with down.app_context():
            db.engine.dispose()
    assert "fault=database status=503" in caplog.text
    assert "Traceback" in caplog.text


@pytest.fixture
def full_disk_app(app_with: Callable[..., Flask]) -> Iterator[Flask]:
    """An app whose SQLite database cannot grow: every connection's max_page_count is the file's size, so
    the next page an insert needs fails with SQLITE_FULL, as on a full disk."""
    app = app_with(PROPAGATE_EXCEPTIONS=False)
    with app.app_context():
        engine = db.engine
    engine.dispose()

    def no_room(dbapi_connection: Any, record: Any) -> None:
        cursor = dbapi_connection.cursor()
        [pages] = cursor.execute("PRAGMA page_count").fetchone()
        cursor.execute(f"PRAGMA max_page_count = {pages}")
        cursor.close()

    event.listen(engine, "connect", no_room)
    yield app
    event.remove(engine, "connect", no_room)
    engine.dispose()


@pytest.mark.sqlite_only
def test_disk_full_is_a_503_in_japanese_and_nothing_is_written(
    app: Flask, full_disk_app: Flask, demo: None, caplog: pytest.LogCaptureFixture
) -> None:
    """Probe 938: a new entry on a full disk gave Werkzeug's English 500 page (3 tries). SQLite only:
    PostgreSQL cannot be made to run out of disk in a test."""
    client = logged_in(full_disk_app, make_user(app, Role.HQ, "shq"))
    before = written(app)
    # Free room in the pages already there takes a few entries; then the disk is full, and stays so.
    statuses = []
    for day in range(1, 31):
        response = client.post(f"{BASE}/entries/new", data=entry_form(date=f"2023-11-{day:02d}"))
        statuses.append(response.status_code)
        if response.status_code != 302:
            break
    assert statuses[-1] == 503, statuses
    page = assert_japanese_refusal(response, 503)
    assert "ディスクの空きがありません" in page
    assert "この操作による変更は保存されていません。" in page
    accepted = written(app)
    assert accepted == (before[0] + len(statuses) - 1, before[1] + len(statuses) - 1)
    for _ in range(2):
        again = client.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-30"))
        assert "ディスクの空きがありません" in assert_japanese_refusal(again, 503)
    assert written(app) == accepted
    assert "fault=disk status=503" in caplog.text


@pytest.mark.sqlite_only
def test_an_import_on_a_full_disk_is_a_503_in_japanese_and_nothing_is_written(
    app: Flask, full_disk_app: Flask, demo: None
) -> None:
    """Probe 537: an import of 2,000 rows on a full disk gave Werkzeug's English 500 page. All rows or
    none: the refusal leaves the database as it was. SQLite only, as above."""
    client = logged_in(full_disk_app, make_user(app, Role.HQ, "shq"))
    before = written(app)
    rows = [f"2023-11-01,relief-act,{code},,053619,relief_act,1," for code in _senders(app, 2000)]
    response = client.post(
        f"{BASE}/import", data=factories.import_form(rows), content_type="multipart/form-data"
    )
    page = assert_japanese_refusal(response, 503)
    assert "ディスクの空きがありません" in page
    assert written(app) == before


def _senders(app: Flask, count: int) -> list[str]:
    """Codes of `count` bodies that may send (not wards) other than 五城目町, in code order (one row each)."""
    from dispatch.models import Organisation

    with app.app_context():
        codes = db.session.scalars(
            select(Organisation.code)
            .where(Organisation.code != GOJOME, Organisation.kind != "ward")
            .order_by(Organisation.code)
        )
        return list(codes)[:count]


def test_a_reviewer_still_enters_and_corrects_entries(
    client_as: Callable[..., FlaskClient], demo: None
) -> None:
    """Probe 540 was a policy question: reviewers keep the right to enter and correct entries (closed days
    too, with a reason), as the README's role table says."""
    reviewer = client_as(Role.REVIEWER)
    response = reviewer.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-01"))
    assert response.status_code == 302


def test_an_unexpected_error_is_a_500_in_japanese_with_its_traceback_logged(
    app_with: Callable[..., Flask], demo: None, caplog: pytest.LogCaptureFixture
) -> None:
    """An error no page expected (a table renamed under the running app): the 500 page says what happened
    and what to do, and the log has the traceback."""
    app = app_with(PROPAGATE_EXCEPTIONS=False)
    client = logged_in(app, make_user(app, Role.HQ, "shq"))
    with app.app_context():
        db.session.execute(text("ALTER TABLE closed_day RENAME TO closed_day_away"))
        db.session.commit()
    try:
        response = client.get(f"{BASE}/totals")
    finally:
        with app.app_context():
            db.session.execute(text("ALTER TABLE closed_day_away RENAME TO closed_day"))
            db.session.commit()
    page = assert_japanese_refusal(response, 500)
    assert "エラーが発生しました" in page
    assert "システム管理者に連絡してください" in page
    assert "fault=error status=500" in caplog.text
    assert "closed_day" in caplog.text and "Traceback" in caplog.text
    assert client.get(f"{BASE}/totals").status_code == 200


# --- Item 10: exports neutralise formulas, not lone signs --------------------------------------------------------


def test_a_lone_sign_is_exported_as_typed(app: Flask, client: FlaskClient, demo: None) -> None:
    """Issue 12, item 10: a note 「-」 came out as 「'-」; a formula is still neutralised."""
    assert client.post(f"{BASE}/entries/new", data=entry_form(note="-")).status_code == 302
    other = {"date": "2023-11-02", "note": "=1+1", "sender_unit": "+"}
    assert client.post(f"{BASE}/entries/new", data=entry_form(**other)).status_code == 302
    rows = csv_rows(client.get(f"{BASE}/entries.csv?date_from=2023-11-01&date_to=2023-11-02").data)
    assert [(row[3], row[7]) for row in rows[1:]] == [("+", "'=1+1"), ("", "-")]

    workbook = client.get(f"{BASE}/entries.xlsx?date_from=2023-11-01&date_to=2023-11-02").data
    sheet = load_workbook(io.BytesIO(workbook))["派遣一覧"]
    assert [sheet["D2"].value, sheet["H2"].value, sheet["H3"].value] == ["+", "'=1+1", "-"]
