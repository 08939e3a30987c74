"""An import people can start from, and follow (issue 14, items 2 to 4): the templates, the first sheet, the
list of what was imported, each entry's line in its history, the progress on a terminal."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from sqlalchemy import select

from dispatch import cli, import_jobs, tally_check
from dispatch.audit import AuditFilter, audit_select
from dispatch.entries import EntryDraft, delete_entry, restore_entry, update_entry
from dispatch.extensions import db
from dispatch.import_template import EXAMPLE_NOTE, HEADER
from dispatch.import_writing import imported_from
from dispatch.importing import import_dispatches
from dispatch.models import AuditRecord, Disaster, Duty, Entry, Role, User
from tests import factories
from tests.factories import BASE, SLUG
from tests.reading import facts
from tests.test_exports import copy_of_demo, of_disaster

BOM = b"\xef\xbb\xbf"


def demo_disaster() -> Disaster:
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
    assert disaster is not None
    return disaster


# --- the templates --------------------------------------------------------------------------------------


def test_the_import_page_links_both_templates(client: FlaskClient, demo: None) -> None:
    page = client.get(f"{BASE}/import").text
    assert f'href="{BASE}/import/template.xlsx"' in page
    assert f'href="{BASE}/import/template.csv"' in page


def test_the_csv_template_is_the_header_and_an_example_that_imports(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/import/template.csv")
    assert response.status_code == 200
    assert response.data.startswith(BOM)
    lines = response.data[len(BOM) :].decode("utf-8").splitlines()
    assert lines[0] == ",".join(HEADER) == "日付,派遣区分,派遣元,所属,派遣先,業務,人数,備考"
    # The demo's first open operation, 秋田県 (the prefecture struck) to 秋田市, the first duty.
    assert lines[1] == f"2023-07-14,災害救助法業務に係る派遣,秋田県,総務部,秋田市,給水業務,2,{EXAMPLE_NOTE}"
    assert len(lines) == 2
    with client.application.app_context():
        result = import_dispatches(demo_disaster(), response.data, "template.csv", actor=factories.hq())
        assert (len(result.entry_ids), result.person_days) == (1, 2)


def test_the_xlsx_template_has_drop_down_lists_of_the_operations_and_duties(
    client: FlaskClient, demo: None
) -> None:
    response = client.get(f"{BASE}/import/template.xlsx")
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["派遣", "選択肢"]
    sheet = book["派遣"]
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0] == list(HEADER)
    assert rows[1][1:] == [
        "災害救助法業務に係る派遣",
        "秋田県",
        "総務部",
        "秋田市",
        "給水業務",
        2,
        EXAMPLE_NOTE,
    ]
    assert rows[1][0].date() == date(2023, 7, 14)
    lists = {str(v.sqref): v.formula1 for v in sheet.data_validations.dataValidation}
    with client.application.app_context():
        operations = [op.name for op in demo_disaster().operations if op.end_date is None]
        duties = list(db.session.scalars(select(Duty.name_ja).order_by(Duty.id)))
    assert lists == {
        "B2:B10001": f"'選択肢'!$A$2:$A${len(operations) + 1}",
        "F2:F10001": f"'選択肢'!$B$2:$B${len(duties) + 1}",
    }
    choices = [[cell.value for cell in row] for row in book["選択肢"].iter_rows()]
    assert [row[0] for row in choices[1 : len(operations) + 1]] == operations
    assert [row[1] for row in choices[1 : len(duties) + 1]] == duties
    assert len(duties) == 19
    with client.application.app_context():
        result = import_dispatches(demo_disaster(), response.data, "template.xlsx", actor=factories.hq())
        assert (len(result.entry_ids), result.person_days) == (1, 2)


# --- the first sheet, whichever was active ----------------------------------------------------------------


def test_an_export_saved_with_its_second_sheet_active_imports_back(client: FlaskClient, demo: None) -> None:
    exported = client.get(f"{BASE}/entries.xlsx").data
    book = load_workbook(io.BytesIO(exported))
    assert book.sheetnames[0] == "派遣一覧"
    # As a person leaves it after looking at the totals: the second sheet showing.
    book.active = 1
    for sheet in book.worksheets:
        sheet.sheet_view.tabSelected = sheet is book.worksheets[1]
    saved = io.BytesIO()
    book.save(saved)
    assert load_workbook(saved).active.title != "派遣一覧"  # type: ignore[union-attr]

    with client.application.app_context():
        target = copy_of_demo("second-sheet")
        result = import_dispatches(target, saved.getvalue(), "派遣一覧.xlsx", actor=factories.hq())
        assert (len(result.entry_ids), result.person_days) == (549, 2319)
        db.session.commit()
        assert facts(of_disaster("second-sheet")) == facts(of_disaster(SLUG))
        assert tally_check.check(target.id) == []


# --- landing on the imported rows, and each entry's line ------------------------------------------------

ROWS = [
    "日付,派遣区分,派遣元,所属,派遣先,業務,人数,備考",
    "2023-11-01,relief-act,横手市,,五城目町,relief_act,2,",
    "",
    "2023-11-02,relief-act,052035,,五城目町,relief_act,3,取り込み",
]


def test_an_imported_entrys_history_names_its_file_and_line_and_it_can_be_edited_deleted_and_restored(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    hq = client_as(Role.HQ)
    response = hq.post(
        f"{BASE}/import",
        data={"file": (io.BytesIO("\n".join(ROWS).encode()), "rota.csv"), "encoding": "auto"},
    )
    assert response.status_code == 302
    listing = hq.get(response.headers["Location"]).text
    assert "該当 <strong>2</strong>件　延べ <strong>5</strong>人" in listing
    assert "取り込んだ行だけを表示しています" in listing

    with app.app_context():
        [second] = db.session.scalars(select(Entry).where(Entry.date == date(2023, 11, 2)))
        entry_id = second.id
        found = imported_from(second.operation.disaster_id, entry_id)
        assert found is not None
        assert (found.file, found.line) == ("rota.csv", 4)

    reviewer = client_as(Role.REVIEWER)
    history = reviewer.get(f"{BASE}/entries/{entry_id}/history").text
    assert "ファイル「rota.csv」の4行目から取り込み" in history
    assert "取り込み</td>" in history

    with app.app_context():
        entry = db.session.get_one(Entry, entry_id)
        draft = EntryDraft(
            date=entry.date,
            operation=entry.operation,
            sender=entry.sender,
            destination=entry.destination,
            duty=entry.duty,
            headcount=5,
        )
        update_entry(entry, draft, factories.hq())
        db.session.commit()
        delete_entry(db.session.get_one(Entry, entry_id), factories.hq())
        db.session.commit()
        deleted = db.session.scalars(
            audit_select(AuditFilter(object_type="entry", object_id=entry_id)).where(
                AuditRecord.action == "delete"
            )
        ).one()
        restored = restore_entry(deleted, factories.reviewer(), "誤って削除")
        db.session.commit()
        assert (restored.headcount, restored.note) == (5, "")
        restored_id = restored.id
        assert tally_check.check(restored.operation.disaster_id) == []

    history = reviewer.get(f"{BASE}/entries/{entry_id}/history").text
    # Oldest first: imported, changed (人数 3 → 5), deleted.
    assert re.findall(r'data-label="操作">([^<]+)<', history) == ["取り込み", "変更", "削除"]
    assert "ファイル「rota.csv」の4行目から取り込み" in history
    assert "人数: 3 → 5" in history
    restored_history = reviewer.get(f"{BASE}/entries/{restored_id}/history").text
    assert re.findall(r'data-label="操作">([^<]+)<', restored_history) == ["登録", "復元"]


# --- progress on a terminal -----------------------------------------------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_import_progress_is_a_bar_on_a_terminal_and_nothing_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    terminal = Terminal()
    monkeypatch.setattr(cli.sys, "stderr", terminal)
    with cli._import_progress(25_000) as progress:
        assert progress is not None
        for done in (10_000, 20_000, 25_000):
            progress(done, 25_000)
    shown = terminal.getvalue()
    assert "書き込み中" in shown
    assert "25000/25000" in shown
    assert "100%" in shown

    monkeypatch.setattr(cli.sys, "stderr", io.StringIO())
    with cli._import_progress(25_000) as progress:
        assert progress is None


# --- a large web import in the background -----------------------------------------------------------------


def test_a_large_web_import_shows_its_progress_then_lands_on_its_rows(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two rows count as large here, so the background path runs on a small file.
    monkeypatch.setattr(import_jobs, "BACKGROUND_ROWS", 1)
    hq = client_as(Role.HQ)
    response = hq.post(
        f"{BASE}/import",
        data={"file": (io.BytesIO("\n".join(ROWS).encode()), "big.csv"), "encoding": "auto"},
    )
    assert response.status_code == 302
    page = response.headers["Location"]
    token = page.rsplit("/", 1)[1]
    assert page == f"{BASE}/import/jobs/{token}"
    import_jobs.wait(token, timeout=60)

    # Someone else cannot follow it.
    assert client_as(Role.HQ, "another-hq").get(page).status_code == 404
    done = hq.get(page)
    assert done.status_code == 302
    assert re.fullmatch(rf"{BASE}/entries\?imported=\d+", done.headers["Location"])
    listing = hq.get(done.headers["Location"]).text
    assert "2行を取り込みました（延べ5人）。" in listing
    assert "該当 <strong>2</strong>件　延べ <strong>5</strong>人" in listing
    with app.app_context():
        assert tally_check.check(demo_disaster().id) == []


def test_the_progress_page_refreshes_itself_and_shows_the_rows_written(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    hq = client_as(Role.HQ)
    with app.app_context():
        username = db.session.scalars(select(User.username).order_by(User.id.desc())).first()
        assert username is not None
        progress = import_jobs.Progress(owner=username, filename="rota.csv", total=120_000, state="writing")
        progress.done = 30_000
        import_jobs.record(app, "some-token", progress)
    page = hq.get(f"{BASE}/import/jobs/some-token")
    assert page.status_code == 200
    assert '<meta http-equiv="refresh" content="2">' in page.text
    assert "書き込み中: 30,000 / 120,000行（25%）" in page.text
    assert '<progress max="120000" value="30000">' in page.text
    assert hq.get(f"{BASE}/import/jobs/no-such-token").status_code == 404
    with app.app_context():
        progress.state, progress.problems = "refused", [(5, "登録済みの派遣と重複しています")]
        import_jobs.record(app, "some-token", progress)
    refused = hq.get(f"{BASE}/import/jobs/some-token")
    assert refused.status_code == 422
    assert "http-equiv" not in refused.text
    assert "<li>5行目: 登録済みの派遣と重複しています</li>" in refused.text
