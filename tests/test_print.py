"""Paper: the workbooks print (their page setup read back, then LibreOffice's own PDF of the totals
workbook), and the status report and the dashboard come as A4 PDFs carrying the pages' text.

LibreOffice Calc, pdftotext and pdfinfo are Debian's (scripts/setup --dev installs them): these tests fail,
never skip, where they are missing. Figures are the founding case's (dispatch/demo.py) as of 2023-10-31,
延べ2,319人, checked by hand in tests/test_exports.py.
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlalchemy import select

from dispatch import pdf
from dispatch.catalog import create_disaster
from dispatch.closing import closed_dates
from dispatch.extensions import db
from dispatch.models import Disaster, Duty, Role
from dispatch.query import EntryFilter
from dispatch.reports import status_report
from tests import factories
from tests.factories import BASE, OGA, SLUG

AS_OF = "2023-10-31"
DISASTER = "令和5年7月14日からの大雨"
WAREKI_AS_OF = "令和5年10月31日時点"
SUMMARY_SHEETS = ["派遣区分別", "派遣先別", "派遣元別", "業務別", "派遣先×業務", "派遣元×派遣先"]
# The demo's operation codes: the app's own, never printed.
OPERATION_CODES = ["mutual-aid", "water-supply", "relief-act", "recovery-support"]
A4_PORTRAIT, A4_LANDSCAPE = (595, 842), (842, 595)  # points


# --- tools --------------------------------------------------------------------------------------------


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, (
        f"{name} is missing: scripts/setup --dev installs it (Debian's libreoffice-calc, poppler-utils)"
    )
    return found


def run(*args: str, timeout: int = 60) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{args[0]} failed ({done.returncode}): {done.stderr}"
    return done.stdout


def page_sizes(path: Path) -> list[tuple[int, int]]:
    """Each page's width and height in points, rounded: the length of the list is the page count."""
    [pages] = re.findall(r"^Pages:\s+(\d+)$", run(tool("pdfinfo"), str(path)), re.M)
    info = run(tool("pdfinfo"), "-f", "1", "-l", pages, str(path))
    return [
        (round(float(w)), round(float(h))) for w, h in re.findall(r"size:\s+([\d.]+) x ([\d.]+) pts", info)
    ]


def page_text(path: Path, page: int) -> str:
    """One page's text, laid out as printed (columns side by side)."""
    return run(tool("pdftotext"), "-layout", "-f", str(page), "-l", str(page), str(path), "-")


def squeezed(text: str) -> str:
    """Text without whitespace: a PDF breaks long lines where the page ends and spaces columns out."""
    return re.sub(r"\s+", "", text)


def header_of(text: str) -> list[str]:
    """A page's first line (its header), cut into its parts: left, centre, right."""
    first = next(line for line in text.splitlines() if line.strip())
    return re.split(r"\s{2,}", first.strip())


def saved(data: bytes, path: Path) -> Path:
    path.write_bytes(data)
    return path


def download(client: FlaskClient, url: str, mimetype: str) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.mimetype == mimetype
    return response.data


def workbook(client: FlaskClient, url: str) -> Workbook:
    return load_workbook(
        io.BytesIO(download(client, url, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))
    )


# --- the workbooks' page setup, read back ---------------------------------------------------------------


def test_every_sheet_of_the_totals_workbook_is_set_up_for_a4(client: FlaskClient, demo: None) -> None:
    book = workbook(client, f"{BASE}/totals.xlsx?as_of={AS_OF}")
    assert book.sheetnames == ["派遣一覧", *SUMMARY_SHEETS]
    # Wider than a portrait page: 派遣一覧 (8 columns), 派遣先×業務 (5 duties), 派遣元×派遣先 (5 destinations).
    landscape = {"派遣一覧", "派遣先×業務", "派遣元×派遣先"}
    for sheet in book.worksheets:
        setup = sheet.page_setup
        assert (setup.paperSize, setup.fitToWidth, setup.fitToHeight) == (9, 1, 0), sheet.title
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        assert setup.orientation == ("landscape" if sheet.title in landscape else "portrait"), sheet.title
        assert sheet.print_title_rows == ("$1:$1" if sheet.title == "派遣一覧" else "$1:$2"), sheet.title
        header = sheet.oddHeader
        assert (header.left.text, header.center.text, header.right.text) == (DISASTER, "&A", WAREKI_AS_OF)
        assert sheet.oddFooter.center.text == "&P / &N"


def test_tables_are_ruled(client: FlaskClient, demo: None) -> None:
    book = workbook(client, f"{BASE}/totals.xlsx?as_of={AS_OF}")
    for name in SUMMARY_SHEETS:
        sheet = book[name]
        # The title row is not part of the table; every cell from the header row down is ruled, 計 included.
        assert sheet["A1"].border.left.style is None, name
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                sides = (cell.border.left, cell.border.right, cell.border.top, cell.border.bottom)
                assert [side.style for side in sides] == ["thin"] * 4, (name, cell.coordinate)
    # The entries sheet, up to a million rows, prints its grid instead of a border on every cell.
    assert book["派遣一覧"].print_options.gridLines


def test_the_entries_workbook_is_set_up_too(client: FlaskClient, demo: None) -> None:
    book = workbook(client, f"{BASE}/entries.xlsx?date_to=2023-08-31&operation=water-supply")
    for sheet in book.worksheets:
        assert (sheet.page_setup.paperSize, sheet.page_setup.fitToWidth) == (9, 1), sheet.title
        assert sheet.oddHeader.right.text == "令和5年8月31日時点"
    # The filter in words, by name: 派遣区分 応急給水業務に係る派遣, not its code.
    assert book["派遣区分別"]["A1"].value == (
        f"{DISASTER}　派遣区分別の延べ人数　令和5年8月31日時点（派遣区分 応急給水業務に係る派遣）"
    )


def test_an_ampersand_in_the_disaster_name_prints_as_itself(app: Flask, client: FlaskClient) -> None:
    with app.app_context():
        create_disaster("bay-quake", "湾岸地震&津波", date(2024, 1, 1), factories.hq())
        db.session.commit()
    book = workbook(client, "/disasters/bay-quake/totals.xlsx?as_of=2024-01-31")
    # & starts a code in a page header (&P, &A): a literal one is written twice.
    assert book["派遣区分別"].oddHeader.left.text == "湾岸地震&&津波"


# --- LibreOffice's PDF of the totals workbook -----------------------------------------------------------


def libreoffice_pdf(xlsx: Path, tmp_path: Path) -> Path:
    """The workbook converted by LibreOffice Calc, headless, with a profile of its own (never the user's)."""
    run(
        tool("soffice"),
        f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
        "--headless",
        "--convert-to",
        "pdf",
        "--outdir",
        str(tmp_path),
        str(xlsx),
        timeout=180,
    )
    converted = xlsx.with_suffix(".pdf")
    assert converted.exists(), "LibreOffice wrote no PDF"
    return converted


def test_libreoffice_prints_each_summary_sheet_on_one_page_with_names(
    client: FlaskClient, demo: None, tmp_path: Path
) -> None:
    xlsx = saved(download_xlsx(client, f"{BASE}/totals.xlsx?as_of={AS_OF}"), tmp_path / "totals.xlsx")
    printed = libreoffice_pdf(xlsx, tmp_path)
    sizes = page_sizes(printed)
    pages: dict[str, list[int]] = {}
    texts = []
    for number in range(1, len(sizes) + 1):
        text = page_text(printed, number)
        texts.append(text)
        left, sheet, right = header_of(text)
        assert (left, right) == (DISASTER, WAREKI_AS_OF), number
        pages.setdefault(sheet, []).append(number)
        # Page n of m, n counted through the whole document (LibreOffice numbers the workbook as one).
        assert re.search(rf"^\s*{number}\s*/\s*{len(sizes)}\s*$", text, re.M), number
    assert list(pages) == ["派遣一覧", *SUMMARY_SHEETS]
    # Each summary sheet fits on one page, so it is one page wide: before the page setup, the totals
    # workbook took 48 pages, each summary sheet two (当日人数 alone on the second).
    for name in SUMMARY_SHEETS:
        assert len(pages[name]) == 1, (name, pages[name])
    # The entries run over several landscape pages, each with every column and the header row repeated.
    for number in pages["派遣一覧"]:
        assert sizes[number - 1] == A4_LANDSCAPE
        header = squeezed(texts[number - 1])
        assert all(label in header for label in ("日付", "派遣区分", "人数", "備考")), number
    assert all(size in (A4_PORTRAIT, A4_LANDSCAPE) for size in sizes)

    everything = "\n".join(texts)
    by_sheet = {name: texts[pages[name][0] - 1] for name in SUMMARY_SHEETS}
    assert "災害時の相互応援協定に基づく派遣" in by_sheet["派遣区分別"]
    assert "当日人数" in by_sheet["派遣区分別"]
    assert "家屋被害認定調査" in by_sheet["業務別"]
    assert "給水業務" in by_sheet["派遣先×業務"]
    assert "2,319" in by_sheet["派遣元×派遣先"]
    for code in [*OPERATION_CODES, *duty_codes(client.application)]:
        assert not re.search(rf"(?<![\w-]){re.escape(code)}(?![\w-])", everything), code


def download_xlsx(client: FlaskClient, url: str) -> bytes:
    return download(client, url, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def duty_codes(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Duty.code)))


# --- PDFs of the status report and the dashboard ------------------------------------------------------


def expected_report(app: Flask, visible_to: int | None = None) -> str:
    """The status report's text as the page shows it, for the demo as of 2023-10-31."""
    day = date.fromisoformat(AS_OF)
    with app.app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert disaster is not None
        closed = day in closed_dates(disaster, [day])
        return status_report(disaster, day, closed, EntryFilter(visible_to=visible_to)).text()


def test_the_report_pdf_carries_the_reports_text(client: FlaskClient, demo: None, tmp_path: Path) -> None:
    response = client.get(f"{BASE}/report.pdf?as_of={AS_OF}")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('inline; filename="akita-2023-rain_report_2023-10-31.pdf"')
    printed = saved(response.data, tmp_path / "report.pdf")
    sizes = page_sizes(printed)
    assert sizes == [A4_PORTRAIT]
    first = page_text(printed, 1)
    assert header_of(first) == [DISASTER, "状況報告", WAREKI_AS_OF]
    text = squeezed(first)
    report = expected_report(client.application)
    lines = [line for line in report.splitlines() if line.strip()]
    # The seed's own figures (DOMAIN.md) are among them.
    assert "実績：8月31日までに県及び県内市町村職員、延べ2101人派遣" in lines
    assert "実績：9月29日までに県総務部総合防災課職員、延べ46人派遣" in lines
    assert "派遣期間：令和5年10月2日から（継続中）" in lines
    for line in lines:
        assert squeezed(line) in text, line
    assert re.search(r"^\s*1\s*/\s*1\s*$", first, re.M)


def test_a_municipality_gets_its_own_report_as_pdf(oga: FlaskClient, tmp_path: Path) -> None:
    printed = saved(
        download(oga, f"{BASE}/report.pdf?as_of={AS_OF}", "application/pdf"), tmp_path / "oga.pdf"
    )
    text = squeezed("".join(page_text(printed, n) for n in range(1, len(page_sizes(printed)) + 1)))
    with oga.application.app_context():
        oga_id = factories.org(OGA).id
    own = expected_report(oga.application, visible_to=oga_id)
    for line in own.splitlines():
        assert squeezed(line) in text, line
    # 男鹿市 received water-supply crews only: 延べ20人, none of the prefecture-wide 延べ2101人.
    assert "延べ20人" in text
    assert "延べ2101人" not in text


def test_the_dashboard_pdf_carries_its_figures(client: FlaskClient, demo: None, tmp_path: Path) -> None:
    printed = saved(
        download(client, f"{BASE}/dashboard.pdf?as_of={AS_OF}", "application/pdf"), tmp_path / "d.pdf"
    )
    sizes = page_sizes(printed)
    assert set(sizes) == {A4_LANDSCAPE}
    texts = [page_text(printed, n) for n in range(1, len(sizes) + 1)]
    for number, text in enumerate(texts, start=1):
        assert header_of(text) == [DISASTER, "派遣状況ダッシュボード", WAREKI_AS_OF]
        assert re.search(rf"^\s*{number}\s*/\s*{len(sizes)}\s*$", text, re.M), number
    text = squeezed("".join(texts))
    # The headline (labels over figures), then the tables, by name.
    assert "累計延べ人数当日派遣人数派遣元派遣先確定日/速報日2,319人3人16団体5団体0/88日" in text
    for shown in ("派遣先×業務", "派遣元×派遣先", "家屋被害認定調査", "災害時の相互応援協定に基づく派遣"):
        assert shown in text, shown
    # What only a screen can use is left out: the date form (its 本日 link) and the links to other pages.
    assert "本日" not in text
    assert "Excelで出力" not in text


def test_a_pdf_for_a_date_it_cannot_read_is_refused(client: FlaskClient, demo: None) -> None:
    for name in ("report.pdf", "dashboard.pdf"):
        refused = client.get(f"{BASE}/{name}?as_of=令和5年13月1日")
        assert refused.status_code == 400, name
        assert "時点:" in refused.text
    assert client.get("/disasters/no-such-disaster/report.pdf").status_code == 404


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_print_the_report(
    client_as: Callable[..., FlaskClient], demo: None, role: Role
) -> None:
    user = client_as(role, org_code=OGA if role is Role.MUNICIPALITY else None)
    assert user.get(f"{BASE}/report.pdf?as_of={AS_OF}").status_code == 200


def test_the_pages_link_to_their_pdfs(client: FlaskClient, demo: None) -> None:
    report = client.get(f"{BASE}/report?as_of={AS_OF}").text
    assert f'href="{BASE}/report.pdf?as_of={AS_OF}"' in report
    dashboard = client.get(f"{BASE}/?as_of={AS_OF}").text
    assert f'href="{BASE}/dashboard.pdf?as_of={AS_OF}"' in dashboard


# --- nothing fetched while drawing ----------------------------------------------------------------------


@pytest.fixture
def static_only(app: Flask) -> pdf.StaticFilesOnly:
    assert app.static_folder is not None
    return pdf.StaticFilesOnly("http://localhost/static/", app.static_folder)


def test_the_fetcher_reads_the_apps_static_files_and_nothing_else(static_only: pdf.StaticFilesOnly) -> None:
    stylesheet = static_only.fetch("http://localhost/static/app.css")
    assert stylesheet.content_type == "text/css"
    assert b"@page pdf" in stylesheet.read()
    for url in (
        "http://example.com/static/app.css",
        "https://localhost/static/app.css",
        "http://localhost/static/../config.py",
        "http://localhost/static/%2e%2e/__init__.py",
        "http://localhost/static/app.css?v=1",
        "http://localhost/static/no-such.css",
        "http://localhost/login",
        "file:///etc/passwd",
        "data:text/css,body{}",
    ):
        with pytest.raises(pdf.RefusedFetch):
            static_only.fetch(url)


def test_drawing_refuses_anything_from_outside(static_only: pdf.StaticFilesOnly) -> None:
    styled = '<link rel="stylesheet" href="http://localhost/static/app.css"><p>地図</p>'
    assert pdf.draw(styled, static_only).startswith(b"%PDF")
    for url in ("http://192.0.2.1/map.png", "file:///etc/hostname"):
        with pytest.raises(pdf.RefusedFetch):
            pdf.draw(f'<p>地図</p><img src="{url}">', static_only)
