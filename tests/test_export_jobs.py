"""Large .xlsx exports built as jobs (dispatch/export_jobs.py), on the founding case with the threshold
lowered so that its 549 entries (延べ2,319人 as of 2023-10-31) are a "large" export.

Figures by hand (tests/test_exports.py): 549 entries as of 2023-10-31; 男鹿市 (052060) sees 10 entries,
延べ20人, all water supply it received.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlalchemy import select, update

from dispatch import export_jobs, exports, scheduler
from dispatch.extensions import db
from dispatch.models import ExportJob, ExportStatus, Role
from tests.factories import BASE, OGA
from tests.test_print import (
    DISASTER,
    SUMMARY_SHEETS,
    WAREKI_AS_OF,
    header_of,
    libreoffice_pdf,
    page_sizes,
    page_text,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TOTALS = f"{BASE}/totals.xlsx?as_of=2023-10-31"


@pytest.fixture
def folder(app: Flask, tmp_path: Path) -> Path:
    """Where the built workbooks go; every export of more than 100 entries is a job."""
    app.config["EXPORT_JOB_FOLDER"] = str(tmp_path / "exports")
    app.config["EXPORT_JOB_ROWS"] = 100
    return tmp_path / "exports"


def values(book: Workbook) -> dict[str, list[tuple[object, ...]]]:
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def immediate(app: Flask, client: FlaskClient, url: str) -> Workbook:
    """The same export sent at once (the threshold out of reach)."""
    lowered = app.config["EXPORT_JOB_ROWS"]
    app.config["EXPORT_JOB_ROWS"] = 10**9
    try:
        response = client.get(url)
    finally:
        app.config["EXPORT_JOB_ROWS"] = lowered
    assert response.status_code == 200 and response.mimetype == XLSX
    return load_workbook(io.BytesIO(response.data))


def ask(client: FlaskClient, url: str = TOTALS) -> str:
    """Ask for a large export: the progress page's URL."""
    response = client.get(url)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(f"{BASE}/exports/")
    return location


def build(runner: FlaskCliRunner, expected: str = "built=1 failed=0") -> None:
    result = runner.invoke(args=["run-export-jobs"])
    assert expected in result.output, result.output


def download(client: FlaskClient, progress: str) -> Workbook:
    response = client.get(f"{progress}/file")
    assert response.status_code == 200 and response.mimetype == XLSX
    return load_workbook(io.BytesIO(response.data))


def jobs(app: Flask) -> list[ExportJob]:
    with app.app_context():
        found = list(db.session.scalars(select(ExportJob).order_by(ExportJob.id)))
        db.session.expunge_all()
        return found


# --- the job's workbook is the immediate one ------------------------------------------------------------


def test_a_large_workbook_is_built_as_a_job_with_the_cells_of_the_immediate_one(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo: None, folder: Path
) -> None:
    expected = values(immediate(app, client, TOTALS))
    assert len(expected["派遣一覧"]) == 1 + 549

    progress = ask(client)
    page = client.get(progress)
    assert page.status_code == 200
    assert "順番待ち" in page.text and "作成を始めるときに件数を数えます" in page.text
    assert "100件を超える" in page.text
    # Reloads itself without a script until the job is done.
    assert page.headers["Refresh"] == "3"
    assert "ダウンロード" not in page.text
    # Asking again while it waits is the same job.
    assert ask(client) == progress

    build(runner)
    done = client.get(progress)
    assert "完成" in done.text and "549 / 549行（100%）" in done.text
    assert "Refresh" not in done.headers
    assert f'href="{progress}/file"' in done.text
    assert values(download(client, progress)) == expected

    [job] = jobs(app)
    assert (job.status, job.rows_written, job.rows_total, job.kind) == ("done", 549, 549, "totals")
    [built] = list(folder.iterdir())
    # Written for the service account alone, as the database is.
    assert built.stat().st_mode & 0o777 == 0o600
    assert job.file_path == f"exports/{built.name}"


def test_a_filtered_entries_workbook_keeps_its_filter(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo: None, folder: Path
) -> None:
    # Before 8/31: mutual-aid's and the others' entries up to that day, more than 100 of them.
    url = f"{BASE}/entries.xlsx?date_to=2023-08-31&sender=050008"
    expected = values(immediate(app, client, url))
    progress = ask(client, url)
    build(runner)
    assert values(download(client, progress)) == expected
    [job] = jobs(app)
    assert job.filters == {"date_to": "2023-08-31", "sender": "050008"}
    assert job.rows_total == len(expected["派遣一覧"]) - 1


def test_small_exports_stay_immediate(client: FlaskClient, demo: None, app: Flask) -> None:
    app.config["EXPORT_JOB_ROWS"] = 549
    response = client.get(TOTALS)
    assert response.status_code == 200 and response.mimetype == XLSX
    assert jobs(app) == []


def test_progress_is_recorded_every_few_thousand_rows(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    demo: None,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exports, "PROGRESS_EVERY", 100)
    reported: list[int] = []
    record = export_jobs._progress
    monkeypatch.setattr(
        export_jobs, "_progress", lambda conn, job_id, n: (reported.append(n), record(conn, job_id, n))
    )
    progress = ask(client)
    build(runner)
    assert reported == [100, 200, 300, 400, 500, 549]
    assert "549 / 549行" in client.get(progress).text


def test_the_progress_page_shows_rows_written_while_the_job_runs(
    app: Flask, client: FlaskClient, demo: None, folder: Path
) -> None:
    progress = ask(client)
    with app.app_context():
        db.session.execute(
            update(ExportJob).values(
                status=ExportStatus.RUNNING, started_at=datetime.now(UTC), rows_total=549, rows_written=200
            )
        )
        db.session.commit()
    page = client.get(progress)
    assert "作成中" in page.text and "200 / 549行（36%）" in page.text
    assert page.headers["Refresh"] == "3"
    assert client.get(f"{progress}/file").status_code == 404


# --- who may see it -----------------------------------------------------------------------------------


def test_only_the_one_who_asked_and_an_administrator_see_the_job(
    app: Flask,
    client: FlaskClient,
    client_as: Callable[..., FlaskClient],
    runner: FlaskCliRunner,
    demo: None,
    folder: Path,
) -> None:
    progress = ask(client)
    build(runner)
    for other in (
        client_as(Role.HQ, "other-hq"),
        client_as(Role.REVIEWER),
        client_as(Role.MUNICIPALITY, "oga", OGA),
    ):
        assert other.get(progress).status_code == 404
        assert other.get(f"{progress}/file").status_code == 404
    admin = client_as(Role.ADMIN)
    assert admin.get(progress).status_code == 200
    assert admin.get(f"{progress}/file").status_code == 200
    # Another disaster's address for the same job is no way in either.
    assert client.get(progress.replace(BASE, "/disasters/noto-2024-drill")).status_code == 404


def test_a_municipalitys_job_holds_only_its_own_entries(
    app: Flask, client_as: Callable[..., FlaskClient], runner: FlaskCliRunner, demo: None, folder: Path
) -> None:
    oga = client_as(Role.MUNICIPALITY, "oga", OGA)
    expected = values(immediate(app, oga, TOTALS))
    app.config["EXPORT_JOB_ROWS"] = 5
    progress = ask(oga)
    build(runner)
    got = values(download(oga, progress))
    assert got == expected
    entries = got["派遣一覧"][1:]
    assert len(entries) == 10 and sum(int(str(row[6])) for row in entries) == 20
    assert all(OGA in f"{row[2]} {row[4]}" for row in entries)
    [job] = jobs(app)
    assert job.rows_total == 10 and job.visible_to is not None


# --- claimed once ---------------------------------------------------------------------------------------


def test_a_job_is_claimed_once(app: Flask, client: FlaskClient, demo: None, folder: Path) -> None:
    ask(client)
    [job] = jobs(app)
    with app.app_context():
        assert export_jobs.claim(job.id, "scheduler-a")
        assert not export_jobs.claim(job.id, "scheduler-b")
        # Claimed, it is no longer waiting for anyone.
        assert export_jobs.run_pending("scheduler-b") == export_jobs.BuildResult()
    assert jobs(app)[0].claimed_by == "scheduler-a"


def test_two_schedulers_build_a_job_once(
    app: Flask, app_with: Callable[..., Flask], client: FlaskClient, demo: None, folder: Path
) -> None:
    ask(client)
    schedulers = [app_with(EXPORT_JOB_FOLDER=str(folder)) for _ in range(2)]
    start = threading.Barrier(2)
    results: list[export_jobs.BuildResult] = []

    def run(other: Flask, name: str) -> None:
        with other.app_context():
            start.wait()
            results.append(export_jobs.run_pending(name))

    threads = [threading.Thread(target=run, args=(s, f"s{i}")) for i, s in enumerate(schedulers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.built for r in results) == 1 and sum(r.failed for r in results) == 0
    assert len(list(folder.iterdir())) == 1


def test_the_scheduler_polls_for_queued_jobs(
    app: Flask, client: FlaskClient, demo: None, folder: Path
) -> None:
    table = {job.name: job for job in scheduler.job_table(app.config)}
    assert table["export-jobs"].trigger.interval == timedelta(seconds=5)  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    assert scheduler.run_export_jobs(app, now).summary == "queued=0"
    progress = ask(client)
    outcome = scheduler.run_export_jobs(app, now)
    assert outcome.ok and outcome.summary == "built=1 failed=0 skipped_taken=0"
    assert "完成" in client.get(progress).text


# --- failures and old files -----------------------------------------------------------------------------


def test_a_failed_job_shows_why_in_japanese(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    demo: None,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    progress = ask(client)
    # Fewer rows than the entries: the workbook is refused as the immediate export would refuse it.
    monkeypatch.setattr(exports, "EXCEL_MAX_ROWS", 100)
    result = runner.invoke(args=["run-export-jobs"])
    assert result.exit_code == 1 and "built=0 failed=1" in result.output
    page = client.get(progress)
    assert "失敗" in page.text
    assert "549件の派遣は Excel の1シートの上限（99行）を超えます。" in page.text
    assert "Refresh" not in page.headers
    assert list(folder.iterdir()) == []


def test_a_job_that_breaks_says_so_and_leaves_no_file(
    app: Flask,
    client: FlaskClient,
    runner: FlaskCliRunner,
    demo: None,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def full_disk(file: object, *args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    progress = ask(client)
    monkeypatch.setattr(export_jobs, "write_workbook", full_disk)
    build(runner, "built=0 failed=1")
    page = client.get(progress)
    assert "Excel ファイルを作成できませんでした（OSError）。もう一度出力してください。" in page.text
    assert list(folder.iterdir()) == []
    # Asked again, a failed job is not reused: a new one is queued.
    assert ask(client) != progress


def test_a_built_file_is_removed_after_a_day(
    app: Flask, client: FlaskClient, runner: FlaskCliRunner, demo: None, folder: Path
) -> None:
    progress = ask(client)
    build(runner)
    with app.app_context():
        assert export_jobs.remove_expired(datetime.now(UTC) + timedelta(hours=23)) == 0
        assert export_jobs.remove_expired(datetime.now(UTC) + timedelta(hours=25)) == 1
    assert list(folder.iterdir()) == []
    page = client.get(progress)
    assert "保存期間（24時間）を過ぎたため削除しました" in page.text
    assert client.get(f"{progress}/file").status_code == 404
    assert jobs(app)[0].status == "expired"


# --- it prints like the immediate one ------------------------------------------------------------------


def test_a_job_built_workbook_prints_each_summary_sheet_one_page_wide(
    client: FlaskClient, runner: FlaskCliRunner, demo: None, folder: Path, tmp_path: Path
) -> None:
    progress = ask(client)
    build(runner)
    xlsx = tmp_path / "job.xlsx"
    xlsx.write_bytes(client.get(f"{progress}/file").data)
    printed = libreoffice_pdf(xlsx, tmp_path)
    pages: dict[str, list[int]] = {}
    for number in range(1, len(page_sizes(printed)) + 1):
        left, sheet, right = header_of(page_text(printed, number))
        assert (left, right) == (DISASTER, WAREKI_AS_OF), number
        pages.setdefault(sheet, []).append(number)
    assert list(pages) == ["派遣一覧", *SUMMARY_SHEETS]
    for name in SUMMARY_SHEETS:
        assert len(pages[name]) == 1, (name, pages[name])


def test_a_job_left_running_by_a_stopped_scheduler_is_failed_after_two_hours(
    app: Flask, client: FlaskClient, demo: None, folder: Path
) -> None:
    progress = ask(client)
    [job] = jobs(app)
    with app.app_context():
        assert export_jobs.claim(job.id, "scheduler-that-stopped")
        export_jobs.remove_expired(datetime.now(UTC) + timedelta(minutes=90))
        assert "作成中" in client.get(progress).text
        export_jobs.remove_expired(datetime.now(UTC) + timedelta(hours=3))
    page = client.get(progress)
    assert (
        "作成が中断されました（スケジューラーが停止した可能性があります）。もう一度出力してください。"
        in page.text
    )


def test_a_poll_during_a_build_returns_at_once(
    app: Flask, client: FlaskClient, demo: None, folder: Path
) -> None:
    ask(client)
    with scheduler._BUILDING:
        assert scheduler.run_export_jobs(app, datetime.now(UTC)).summary == "building"
    assert jobs(app)[0].status == "queued"
