"""Issue 12, imports, the write lock and two commands: the probes of 2026-11-30 that failed, by cause.

Each test names its probes (../shared/probes/failed-2026-11-30.md). Every test runs on SQLite and, with
TEST_DATABASE_URL, on PostgreSQL, but the backup's: `flask backup` copies SQLite files only.

Hostile files are made here, as the probes made them: an .xlsx is written part by part through zipfile, so
a sheet can say what no spreadsheet program would (a hundred-million-character cell, a row numbered past
Excel's last, a cell in column XFD), and a file that inflates to 500 MB costs 2 MB and a few seconds, once.
"""

from __future__ import annotations

import io
import os
import re
import sqlite3
import threading
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, insert, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from dispatch import backup, importing, sheets
from dispatch.actors import CLI_ACTOR
from dispatch.entries import draft_problems
from dispatch.extensions import db
from dispatch.limits import MAX_IMPORT_COLUMNS, MAX_IMPORT_ROWS, MAX_NOTE, MAX_SENDER_UNIT
from dispatch.models import AuditRecord, Delivery, Disaster, Entry, Role, Tally, utcnow
from dispatch.recipients import add_recipient
from dispatch.write_lock import begin_write, take_turns_on_disaster
from tests import factories
from tests.factories import AKITA_PREF, GOJOME, PASSWORD, logged_in, make_user
from tests.smtp import SMTPServer

SLUG = "test-rain"
IMPORT = f"/disasters/{SLUG}/import"
HEADER = "日付,派遣区分,派遣元,所属,派遣先,業務,人数,備考"
HEADER_CELLS = HEADER.split(",")
GOOD = ["2023-07-20", "mutual-aid", AKITA_PREF, "", GOJOME, "water_supply", "3", ""]
BUSY = "混み合っています。しばらくしてからもう一度お試しください。"


@pytest.fixture
def disaster_id(app: Flask) -> int:
    """A committed disaster (2023-07-14 on) with the operation mutual-aid, for pages and commands."""
    with app.app_context():
        disaster = factories.disaster(SLUG)
        factories.operation(disaster)
        db.session.commit()
        return disaster.id


def counts(app: Flask) -> tuple[int, int, int]:
    """Entries, audit records and tally rows: what an import that writes nothing leaves as it was."""
    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Entry, AuditRecord, Tally)
        )


def csv_file(*rows: list[str]) -> bytes:
    return ("\r\n".join([HEADER, *(",".join(row) for row in rows)]) + "\r\n").encode("utf-8")


def said(response: Any) -> str:
    """What a page says, without its markup: the text of its <main>, one line per element."""
    main = response.text.partition("<main>")[2].partition("</main>")[0]
    return "\n".join(line.strip() for line in re.sub(r"<[^>]+>", "\n", main).splitlines() if line.strip())


def upload(client: FlaskClient, data: bytes, filename: str, **fields: str) -> Any:
    # Encoded here, in memory: the test client would spool a large body to a file it never closes.
    form = {"file": FileStorage(io.BytesIO(data), filename), "encoding": "auto", **fields}
    boundary, body = encode_multipart(form)
    return client.post(IMPORT, data=body, content_type=f"multipart/form-data; boundary={boundary}")


# --- .xlsx written part by part -------------------------------------------------------------------

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_PACKAGE = "http://schemas.openxmlformats.org/package/2006"
_OFFICE = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PARTS = {
    "[Content_Types].xml": (
        f'<Types xmlns="{_PACKAGE}/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    ),
    "_rels/.rels": (
        f'<Relationships xmlns="{_PACKAGE}/relationships"><Relationship Id="rId1" '
        f'Type="{_OFFICE}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    ),
    "xl/workbook.xml": (
        f'<workbook xmlns="{_MAIN}" xmlns:r="{_OFFICE}">'
        '<sheets><sheet name="派遣" sheetId="1" r:id="rId1"/></sheets></workbook>'
    ),
    "xl/_rels/workbook.xml.rels": (
        f'<Relationships xmlns="{_PACKAGE}/relationships"><Relationship Id="rId1" '
        f'Type="{_OFFICE}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    ),
}


def cells(values: Iterable[str]) -> str:
    return "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)


def row(values: Iterable[str], number: int | None = None) -> str:
    start = f'<row r="{number}">' if number else "<row>"
    return start + cells(values) + "</row>"


def xlsx(sheet_xml: Iterable[str | bytes]) -> bytes:
    """A workbook of one sheet whose <sheetData> is the given XML, streamed through deflate."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, xml in _PARTS.items():
            archive.writestr(name, xml)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet:
            sheet.write(f'<worksheet xmlns="{_MAIN}"><sheetData>'.encode())
            for chunk in sheet_xml:
                sheet.write(chunk.encode() if isinstance(chunk, str) else chunk)
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def sheet_of(*rows: list[str]) -> bytes:
    return xlsx([row(HEADER_CELLS), *(row(r) for r in rows)])


@pytest.fixture(scope="session")
def bomb_500mb() -> bytes:
    """bomb_many_2000000.xlsx: some 2 MB whose sheet inflates to 500 MB of rows of bad dates."""
    bad = (row(["bad-date"] * 8) * 2_826).encode()  # 1 MB of rows
    return xlsx([row(HEADER_CELLS), *([bad] * 500)])


@pytest.fixture(scope="session")
def bomb_bigcell() -> bytes:
    """bomb_bigcell_100.xlsx: about 100 KB holding one note of 104,857,600 characters."""
    note = (b"x" * 2**20 for _ in range(100))
    start = "<row>" + cells(GOOD[:7]) + '<c t="inlineStr"><is><t>'
    return xlsx([row(HEADER_CELLS), start, *note, "</t></is></c></row>"])


@contextmanager
def spying_on_openpyxl(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Every workbook openpyxl is asked to open during the block."""
    opened: list[object] = []
    real = sheets.load_workbook

    def load_workbook(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sheets, "load_workbook", load_workbook)
    yield opened


# --- 1. NUL bytes in an imported file: refused naming the row, nothing written (507, 515, 941) ---------

NUL_ROW = ["2023-07-20", "mutual-aid", AKITA_PREF, "総務\x00部", GOJOME, "water_supply", "3", "初日\x00"]
NUL_PROBLEMS = [
    "3行目: 所属に制御文字または見えない文字（U+0000）が含まれています。削除してから入力してください。",
    "3行目: 備考に制御文字または見えない文字（U+0000）が含まれています。削除してから入力してください。",
]


def test_a_csv_with_nul_bytes_is_refused_on_the_page_naming_the_row_507_515(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    # 507 stored the NULs on SQLite; 515 answered 500 on PostgreSQL.
    before = counts(app)

    response = upload(client, csv_file(GOOD, NUL_ROW), "nul.csv")

    assert response.status_code == 422
    for problem in NUL_PROBLEMS:
        assert problem in said(response)
    assert "\x00" not in said(response)
    assert counts(app) == before


def test_the_cli_refuses_a_file_with_nul_bytes_naming_the_row_941(
    app: Flask, disaster_id: int, tmp_path: Path
) -> None:
    path = tmp_path / "nul.csv"
    path.write_bytes(csv_file(GOOD, NUL_ROW))
    before = counts(app)

    result = app.test_cli_runner().invoke(args=["import-dispatches", SLUG, str(path)])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    for problem in NUL_PROBLEMS:
        assert f"nul.csv:{problem}" in result.output
    assert "何も登録していません" in result.output
    assert counts(app) == before


def test_every_column_refuses_control_characters_like_the_form_507(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    hostile = [
        "2023-07-20\x00",
        "mutual-aid\x1b",
        f"{AKITA_PREF}\u202e",
        "",
        GOJOME,
        "water_supply",
        "3",
        "行1\n行2",
    ]

    response = upload(client, csv_file(hostile), "controls.csv")

    assert response.status_code == 422
    assert "2行目: 日付に制御文字または見えない文字（U+0000）" in said(response)
    assert "2行目: 派遣区分に制御文字または見えない文字（U+001B）" in said(response)
    assert "2行目: 派遣元に制御文字または見えない文字（U+202E）" in said(response)
    # A line break in a note is what a note may hold, as in the form's text area.
    assert "備考に" not in said(response)


# --- 2. The importer applies the form's limits to every text column (523, 524, 527, 529) --------------


def test_notes_and_units_longer_than_the_form_allows_are_refused_in_its_words_523(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    longest = [*GOOD[:3], "課" * MAX_SENDER_UNIT, *GOOD[4:7], "x" * MAX_NOTE]
    too_long = [*GOOD[:3], "課" * (MAX_SENDER_UNIT + 1), *GOOD[4:7], "x" * (MAX_NOTE + 1)]
    long_name = ["2023-07-21", "派" * 100_000, *GOOD[2:]]
    before = counts(app)

    response = upload(client, sheet_of(too_long, long_name), "long.xlsx")

    assert response.status_code == 422
    assert "2行目: 所属は100文字以内で入力してください。" in said(response)
    assert "2行目: 備考は1,000文字以内で入力してください。" in said(response)
    assert "3行目: 派遣区分は200文字以内で入力してください。" in said(response)
    # The page repeats no long value: it stays the size of a page.
    assert len(response.data) < 50_000
    assert counts(app) == before
    # The limits themselves are allowed, as in the form.
    accepted = upload(client, csv_file(longest), "longest.csv")
    assert accepted.status_code == 302
    with app.app_context():
        entry = db.session.scalars(select(Entry)).one()
        assert (len(entry.sender_unit), len(entry.note)) == (MAX_SENDER_UNIT, MAX_NOTE)


def test_the_100_mb_note_is_refused_and_no_page_grows_from_it_523_524_527_529(
    app: Flask, client: FlaskClient, disaster_id: int, bomb_bigcell: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 523 stored a 104,857,600-character note from a 107 KB .xlsx; 524 (the day's list), 527 (the entry's
    # edit page) and 529 (its audit export) then answered 104 MB each. Refused, nothing is stored to grow.
    assert len(bomb_bigcell) < 200_000
    before = counts(app)
    with spying_on_openpyxl(monkeypatch) as opened:
        response = upload(client, bomb_bigcell, "bomb_bigcell_100.xlsx")

    assert response.status_code == 422
    assert "異常に高い圧縮率" in said(response)
    assert opened == []
    assert counts(app) == before
    listing = client.get(f"/disasters/{SLUG}/entries?date_from=2023-07-20&date_to=2023-07-20")
    assert listing.status_code == 200
    assert len(listing.data) < 200_000


def test_every_way_in_refuses_a_note_past_the_limit_523(app: Flask, disaster_id: int) -> None:
    # One set of limits: the use case behind the form, the period, the copy and the restore says it too.
    with app.app_context():
        draft = factories.draft(date(2023, 7, 20))
        assert draft_problems(replace(draft, note="x" * MAX_NOTE)) == []
        assert draft_problems(replace(draft, note="x" * (MAX_NOTE + 1))) == [
            "備考は1,000文字以内で入力してください。"
        ]


# --- 3. A hostile .xlsx is bounded, and nobody waits for an import being read (531, 532, 533) ----------


@pytest.fixture(scope="session")
def bomb_200000_rows() -> bytes:
    """bomb_many_200000.xlsx: 200,000 rows of bad dates in some 300 KB, inflating 229:1."""
    bad = row(["bad-date", *GOOD[1:]]) * 1_000
    return xlsx([row(HEADER_CELLS), *([bad] * 200)])


def test_an_xlsx_that_inflates_to_500_mb_is_refused_before_it_is_read_532(
    app: Flask, client: FlaskClient, disaster_id: int, bomb_500mb: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 532 ran 194 s at 0.93 GB in one worker. Now the zip's directory alone refuses it: openpyxl never
    # opens it (about 10 ms here, whatever the file would inflate to).
    assert 1_500_000 < len(bomb_500mb) < 2_500_000
    before = counts(app)
    with spying_on_openpyxl(monkeypatch) as opened:
        response = upload(client, bomb_500mb, "bomb_many_2000000.xlsx")

    assert response.status_code == 422
    assert "0行目: 展開すると500MBになるファイルです（200MBまで）。" in said(response)
    assert opened == []
    assert counts(app) == before


def test_the_200000_row_probe_file_is_refused_before_it_is_read_531(
    app: Flask,
    client: FlaskClient,
    disaster_id: int,
    bomb_200000_rows: bytes,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 531 answered after 18 s with a 14 MB page listing all 200,000 rows.
    with spying_on_openpyxl(monkeypatch) as opened:
        response = upload(client, bomb_200000_rows, "bomb_many_200000.xlsx")

    assert response.status_code == 422
    assert "0行目: xl/worksheets/sheet1.xml が異常に高い圧縮率（" in said(response)
    assert "100倍まで）で圧縮されています。" in said(response)
    assert opened == []
    assert len(response.data) < 50_000


def test_a_refused_file_shows_100_problems_and_offers_them_all_as_csv_531(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    bad_rows = [["bad-date", *GOOD[1:]]] * 200_000
    data = csv_file(*bad_rows)
    before = counts(app)

    page = upload(client, data, "bomb_many_200000.csv")

    assert page.status_code == 422
    assert "取り込みを中止しました（200,000件のエラー。何も登録していません）" in said(page)
    assert page.text.count("<li>") == 100
    assert "<li>2行目: 日付: 日付として読めません: bad-date</li>" in page.text
    assert "<li>101行目:" in page.text and "<li>102行目:" not in page.text
    assert "ほか199,900件。全件の一覧は、同じファイルをもう一度選んで「エラー一覧をCSVで保存」を押す" in said(
        page
    )
    assert len(page.data) < 100_000

    listed = upload(client, data, "bomb_many_200000.csv", action="errors")

    assert listed.status_code == 200
    assert listed.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in listed.headers["Content-Disposition"]
    lines = listed.data.decode("utf-8-sig").splitlines()
    listed.close()
    assert lines[:2] == ["行,エラー", "2,日付: 日付として読めません: bad-date"]
    assert len(lines) == 1 + 200_000
    assert lines[-1] == "200001,日付: 日付として読めません: bad-date"
    assert counts(app) == before


def test_checking_a_good_file_for_its_problems_writes_nothing_531(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    before = counts(app)

    response = upload(client, sheet_of(GOOD), "good.xlsx", action="errors")

    assert response.status_code == 200
    assert "エラーはありません。「取り込む」で登録できます（まだ何も登録していません）。" in said(response)
    assert counts(app) == before


@pytest.mark.parametrize(
    ("sheet_xml", "problem"),
    [
        # A row numbered past Excel's last: openpyxl would make up every empty row before it.
        (
            [row(HEADER_CELLS), row(GOOD, 5_000_000_000)],
            "1048577行目: 行番号が Excel の上限（1,048,576行）を超えています",
        ),
        # A value in column XFD: the row would be 16,384 cells wide.
        (
            [row(HEADER_CELLS), '<row><c r="XFD2" t="inlineStr"><is><t>x</t></is></c></row>'],
            "2行目: 列が多すぎます（50列まで）",
        ),
        # Empty cells in column XFD, row after row: 16,384 cells each, refused at the 123rd such row.
        (
            [row(HEADER_CELLS), *(f'<row r="{n}"><c r="XFD{n}" s="1"/></row>' for n in range(2, 1_000))],
            "124行目: セルが多すぎます（空のセルも含めて2,000,000個まで）",
        ),
    ],
    ids=["row-past-excel", "column-xfd", "cells"],
)
def test_rows_columns_and_cells_past_the_bounds_are_refused_531(
    app: Flask, client: FlaskClient, disaster_id: int, sheet_xml: list[str], problem: str
) -> None:
    before = counts(app)

    response = upload(client, xlsx(sheet_xml), "hostile.xlsx")

    assert response.status_code == 422
    assert problem in said(response)
    assert counts(app) == before


def test_csv_rows_and_cells_past_the_bounds_are_refused_531(
    app: Flask, client: FlaskClient, disaster_id: int
) -> None:
    before = counts(app)
    too_many = upload(client, csv_file(*[["bad-date", *GOOD[1:]]] * (MAX_IMPORT_ROWS + 1)), "many.csv")
    assert too_many.status_code == 422
    assert "200002行目: 行が多すぎます（見出しを除いて200,000行まで）。ファイルを分けてください" in said(
        too_many
    )

    wide = upload(client, csv_file([*GOOD, *([""] * MAX_IMPORT_COLUMNS), "x"]), "wide.csv")
    assert "2行目: 列が多すぎます（50列まで）" in said(wide)

    huge_cell = upload(client, csv_file([*GOOD[:7], "x" * 200_000]), "huge.csv")
    assert "2行目: セルが長すぎます（131,072文字まで）" in said(huge_cell)
    assert counts(app) == before


@pytest.fixture
def few_bad_rows() -> bytes:
    """A small file within every bound, each of its rows refused."""
    return sheet_of(*[["bad-date", *GOOD[1:]]] * 150)


@pytest.mark.parametrize("hostile", ["bomb_500mb", "few_bad_rows"])
def test_logins_and_entries_go_on_while_a_hostile_import_is_read_533(
    app: Flask,
    client: FlaskClient,
    disaster_id: int,
    hostile: str,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 533: another user's login waited 15.3 s for an import being parsed under the write lock. The import
    # is held inside its reading (the zip's directory; the first row) until a login and an entry save by
    # two other users have completed: they complete while it is still being read, and it is then refused.
    data: bytes = request.getfixturevalue(hostile)
    reading = threading.Event()
    others_done = threading.Event()
    # Whether the others completed while the import was held in its reading (else it gave up waiting).
    completed_meanwhile: list[bool] = []

    def held(real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not reading.is_set():
                reading.set()
                completed_meanwhile.append(others_done.wait(timeout=30))
            return real(*args, **kwargs)

        return wrapper

    if hostile == "bomb_500mb":
        monkeypatch.setattr(sheets, "_check_zip", held(sheets._check_zip))
    else:
        monkeypatch.setattr(importing._RowReader, "read", held(importing._RowReader.read))
    colleague = make_user(app, Role.REVIEWER, "colleague")
    entering = logged_in(app, make_user(app, Role.HQ, "entering"))
    imported: list[Any] = []
    importer = threading.Thread(target=lambda: imported.append(upload(client, data, "hostile.xlsx")))
    importer.start()
    try:
        assert reading.wait(timeout=30)
        login = app.test_client().post("/login", data={"username": colleague.username, "password": PASSWORD})
        entry = entering.post(f"/disasters/{SLUG}/entries/new", data=entry_form())
    finally:
        others_done.set()
        importer.join(timeout=120)

    assert login.status_code == 302, login.text
    assert entry.status_code == 302, entry.text
    assert completed_meanwhile == [True]
    [response] = imported
    assert response.status_code == 422
    assert "取り込みを中止しました" in said(response)
    assert counts(app)[0] == 1  # the entry saved meanwhile, nothing from the file


def entry_form(**changes: str) -> dict[str, str]:
    form = {
        "date": "2023-07-21",
        "operation": "mutual-aid",
        "sender": AKITA_PREF,
        "sender_unit": "",
        "destination": GOJOME,
        "duty": "water_supply",
        "headcount": "2",
        "note": "",
        "reason": "",
    }
    form.update(changes)
    return form


def test_a_row_logged_while_the_file_was_read_is_refused_under_the_lock_533(
    app: Flask, disaster_id: int
) -> None:
    # The file is checked without the lock; its keys are looked up again under it.
    with app.app_context():
        disaster = db.session.get_one(Disaster, disaster_id)
        checked = importing.check_import(disaster, csv_file(GOOD), "late.csv")
        factories.entry(date(2023, 7, 20), 5)
        db.session.commit()

        with pytest.raises(importing.ImportRefused) as caught:
            importing.write_import(checked, CLI_ACTOR)

        assert [e.describe() for e in caught.value.errors] == [
            "2行目: 登録済みの派遣と重複しています（令和5年7月20日 mutual-aidの派遣 秋田県→五城目町 給水業務）"
        ]
        db.session.rollback()
    assert counts(app)[0] == 1


# --- 4. Every wait for the write lock ends: 「混み合っています」, never a hang (533) --------------------


@contextmanager
def another_writer(app: Flask, write: Callable[[], object]) -> Iterator[threading.Event]:
    """Another writer (a worker's thread) that has done `write` in its transaction and holds it, until the
    block ends or the event it gives is set."""
    holding, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with app.app_context():
            begin_write()
            write()
            holding.set()
            release.wait(timeout=60)
            db.session.rollback()

    writer = threading.Thread(target=other_writer)
    writer.start()
    try:
        assert holding.wait(timeout=30)
        yield release
    finally:
        release.set()
        writer.join(timeout=30)


def holding_the_write_lock(app: Flask, disaster_id: int) -> AbstractContextManager[threading.Event]:
    """Another writer in the middle of its write to the disaster, on either database."""
    return another_writer(app, lambda: take_turns_on_disaster(db.session.connection(), disaster_id))


def holding_the_files_key(app: Flask, disaster_id: int) -> AbstractContextManager[threading.Event]:
    """PostgreSQL: another writer has inserted the key of the file GOOD and not committed, straight into the
    table, past the tally: it holds the key, not the disaster's turn. An import's COPY waits on the unique
    index, on the driver's own cursor, past SQLAlchemy's error hook."""

    def insert_the_key() -> None:
        operation_id, day, sender_id, unit, destination_id, duty_id = factories.draft(
            date(2023, 7, 20), op=db.session.get_one(Disaster, disaster_id).operations[0]
        ).key
        now = utcnow()
        db.session.execute(
            insert(Entry).values(
                operation_id=operation_id, date=day, sender_id=sender_id, sender_unit=unit,
                destination_id=destination_id, duty_id=duty_id, headcount=1, note="", source="manual",
                created_by="other", created_at=now, updated_by="other", updated_at=now,
            )
        )  # fmt: skip

    return another_writer(app, insert_the_key)


@pytest.fixture
def impatient(app_with: Callable[..., Flask], disaster_id: int) -> Flask:
    """A worker that waits a third of a second for the write lock."""
    return app_with(WRITE_LOCK_TIMEOUT_SECONDS=0.3)


def test_an_entry_that_waits_past_the_timeout_is_told_to_try_again_533(
    app: Flask, impatient: Flask, disaster_id: int
) -> None:
    entering = logged_in(impatient, make_user(impatient, Role.HQ, "entering"))
    before = counts(app)

    with holding_the_write_lock(app, disaster_id):
        response = entering.post(f"/disasters/{SLUG}/entries/new", data=entry_form())

    assert response.status_code == 503
    assert BUSY in said(response)
    assert 'name="headcount"' in response.text  # next to the form, as it was filled in
    assert counts(app) == before
    # The same entry goes in once the other writer is done.
    assert entering.post(f"/disasters/{SLUG}/entries/new", data=entry_form()).status_code == 302


@pytest.mark.parametrize(
    "other_writer",
    [
        holding_the_write_lock,
        # SQLite's writers queue for the write lock first: only PostgreSQL's can wait on a key.
        pytest.param(holding_the_files_key, marks=pytest.mark.postgresql_only),
    ],
    ids=["the-lock", "the-key"],
)
def test_an_import_that_waits_past_the_timeout_is_told_to_try_again_533(
    app: Flask,
    impatient: Flask,
    disaster_id: int,
    tmp_path: Path,
    other_writer: Callable[[Flask, int], AbstractContextManager[threading.Event]],
) -> None:
    importing_user = logged_in(impatient, make_user(impatient, Role.HQ, "importing"))
    path = tmp_path / "good.csv"
    path.write_bytes(csv_file(GOOD))
    before = counts(app)

    with other_writer(app, disaster_id):
        page = upload(importing_user, csv_file(GOOD), "good.csv")
        command = impatient.test_cli_runner().invoke(args=["import-dispatches", SLUG, str(path)])

    assert page.status_code == 503
    assert BUSY in said(page)
    assert command.exit_code == 1
    assert isinstance(command.exception, SystemExit)
    assert BUSY in command.output
    assert counts(app) == before


def test_a_writer_that_waits_less_than_the_timeout_gets_its_turn_533(
    app: Flask, app_with: Callable[..., Flask], disaster_id: int
) -> None:
    patient = app_with(WRITE_LOCK_TIMEOUT_SECONDS=20)
    entering = logged_in(patient, make_user(patient, Role.HQ, "entering"))

    with holding_the_write_lock(app, disaster_id) as release:
        done = threading.Timer(0.3, release.set)
        done.start()
        response = entering.post(f"/disasters/{SLUG}/entries/new", data=entry_form())
        done.join()

    assert response.status_code == 302, response.text
    assert counts(app)[0] == 1


# --- 5. Commands that failed loudly or silently (927, 937) ---------------------------------------------


@pytest.mark.sqlite_only
def test_a_backup_onto_a_full_disk_removes_its_partial_files_and_says_so_in_one_line_937(
    app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A full disk, as SQLite meets it: the copy cannot grow. The copy's connection is given a page limit
    # (PRAGMA max_page_count), and SQLite fails the backup with SQLITE_FULL, "database or disk is full":
    # the very error of the probe on an 8 MB tmpfs, without mounting one (tests run unprivileged).
    with app.app_context():
        factories.disaster(SLUG)
        db.session.commit()
    real_connect = sqlite3.connect

    def connect(database: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = real_connect(database, *args, **kwargs)
        if str(database).endswith(".partial"):
            connection.execute("PRAGMA max_page_count = 20")
        return connection

    monkeypatch.setattr(backup.sqlite3, "connect", connect)
    target = tmp_path / "backups" / "full-backup.sqlite"

    result = app.test_cli_runner().invoke(args=["backup", str(target)])

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.output.strip().splitlines() == [
        "Error: バックアップを作れませんでした（ディスクの空きがありません）。作りかけのファイルは削除しました。"
        " / No backup was made: the disk is full; the partial files were removed."
    ]
    assert list(target.parent.iterdir()) == []


@pytest.mark.sqlite_only
def test_a_backup_is_readable_by_its_owner_only_937(app: Flask, tmp_path: Path) -> None:
    target = tmp_path / "dispatch-backup.sqlite"
    old_umask = os.umask(0o022)
    try:
        result = app.test_cli_runner().invoke(args=["backup", str(target)])
    finally:
        os.umask(old_umask)

    assert result.exit_code == 0, result.output
    assert target.stat().st_mode & 0o777 == 0o600


def test_send_digests_says_how_many_wait_for_their_retry_and_when_927(
    mail_app: Flask, smtp_server: SMTPServer
) -> None:
    # 927: SMTP back, send-digests rerun at once: exit 0, nothing sent, not a word of the waiting digests.
    with mail_app.app_context():
        factories.entry(date(2023, 7, 31), 3, destination=GOJOME)
        gojome = factories.org(GOJOME)
        for address in ("goshin@example.lg.jp", "somu@example.lg.jp"):
            add_recipient(gojome, address, actor=CLI_ACTOR)
        db.session.commit()
    runner = mail_app.test_cli_runner()
    smtp_server.stop()
    failed = runner.invoke(args=["send-digests", "--date", "2023-08-01"])
    assert failed.exit_code == 1
    smtp_server.start()

    rerun = runner.invoke(args=["send-digests", "--date", "2023-08-01"])

    assert rerun.exit_code == 0, rerun.output
    assert "retries: sent=0 failed=0" in rerun.output
    with mail_app.app_context():
        first = min(d.next_attempt_at for d in db.session.scalars(select(Delivery)) if d.next_attempt_at)
    local = first.astimezone(ZoneInfo("Asia/Tokyo"))
    assert utcnow() < first <= utcnow() + timedelta(minutes=5)
    assert "再送待ちの日報が2件あります。次の再送は令和" in rerun.output
    assert f"{local:%H:%M}以降です" in rerun.output
    assert (
        f"waiting: 2 digest(s) to be retried, the next at {local:%Y-%m-%d %H:%M} Asia/Tokyo." in rerun.output
    )
    assert smtp_server.messages == []
