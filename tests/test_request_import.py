"""Importing requests (CSV in UTF-8 with BOM or CP932, .xlsx) and exporting requests and fill.

The file below asks, for the test disaster: R1 五城目町 避難所運営 30 a day 8/1–8/31, 40 from 8/5 (a second
row, a revision); R2 井川町 給水業務 5 a day 8/1–8/10, withdrawn from 8/4; L1 秋田県 土木 12 persons for
FY2023 (中長期). On 8/3: 30 + 5 = 35 requested; on 8/6: 40 (R2 withdrawn).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select

from dispatch.catalog import create_disaster
from dispatch.extensions import db
from dispatch.models import Role
from dispatch.request_models import StaffRequest
from tests.factories import disaster, hq

JAPANESE = "要請番号,受付日,要請元,区分,業務,職種,人数,開始日,終了日,年度,勤務場所,状況,備考"
ENGLISH = "request_no,received,requester,route,duty,job_type,persons,from,to,fiscal_year,place,status,note"
ROWS = [
    "R1,2023-07-31,五城目町,相互応援協定,避難所運営,一般事務,30,2023-08-01,2023-08-31,,五城目町役場,,",
    "R1,2023-07-31,五城目町,相互応援協定,避難所運営,一般事務,40,2023-08-05,2023-08-31,,五城目町役場,,増員",
    "R2,2023-07-31,053660,対口支援,water_supply,,5,2023-08-01,2023-08-10,,,,",
    "R2,2023-07-31,053660,対口支援,water_supply,,0,2023-08-04,2023-08-10,,,取下げ,自前で確保",
    "L1,2023-07-31,秋田県,地方自治法第252条の17（中長期）,,土木,12,2023-10-01,2024-03-31,2023,,,",
]


@pytest.fixture
def rain(app: Flask) -> None:
    with app.app_context():
        disaster()
        create_disaster("other-rain", "別の豪雨", disaster().start_date, hq())
        db.session.commit()


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8-sig") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def requested(client: FlaskClient, day: str, slug: str = "test-rain") -> int:
    answer = client.get(f"/disasters/{slug}/fill.json?date={day}").get_json()
    assert isinstance(answer["requested"], int)
    return answer["requested"]


def count_requests(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(StaffRequest)) or 0


def test_csv_with_bom_and_japanese_headers(
    rain: None, app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    path = write(tmp_path, "requests.csv", "\n".join([JAPANESE, *ROWS, ""]))
    result = runner.invoke(args=["import-requests", "test-rain", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 3 requests, 4 revisions" in result.output
    assert (requested(client, "2023-08-03"), requested(client, "2023-08-06")) == (35, 40)
    long_term = client.get("/disasters/test-rain/fill.json?fiscal_year=2023").get_json()
    assert (long_term["requested"], long_term["rows"][0]["job_type"]) == (12, "土木")


def test_cp932_with_english_headers_and_xlsx(
    rain: None, app: Flask, runner: FlaskCliRunner, client: FlaskClient, tmp_path: Path
) -> None:
    path = write(tmp_path, "requests.csv", "\r\n".join([ENGLISH, *ROWS, ""]), "cp932")
    assert runner.invoke(args=["import-requests", "test-rain", str(path)]).exit_code == 0
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    for line in [JAPANESE, *ROWS]:
        sheet.append(line.split(","))
    book.save(tmp_path / "requests.xlsx")
    result = runner.invoke(args=["import-requests", "other-rain", str(tmp_path / "requests.xlsx")])
    assert result.exit_code == 0, result.output
    assert requested(client, "2023-08-03", "other-rain") == requested(client, "2023-08-03") == 35


def test_every_bad_line_is_named_and_nothing_written(
    rain: None, app: Flask, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    bad = [
        ROWS[0],
        "R3,2023-07-31,どこにもない町,相互応援協定,避難所運営,,3,2023-08-01,2023-08-10,,,,",
        "R4,2023-07-31,五城目町,相互応援協定,避難所運営,,三人,2023-08-01,2023-07-10,,,,",
        "R5,2023-07-31,五城目町,宇宙連合,,,3,2023-08-01,2023-08-10,,,,",
        "R1,2023-07-31,井川町,相互応援協定,避難所運営,一般事務,40,2023-08-01,2023-08-31,,,,",
        "L2,2023-07-31,秋田県,中長期,,土木,12,2023-10-01,2024-03-31,,,,",
    ]
    path = write(tmp_path, "bad.csv", "\n".join([JAPANESE, *bad, ""]))
    result = runner.invoke(args=["import-requests", "test-rain", str(path)])
    assert result.exit_code == 1
    lines = result.output
    assert "bad.csv:3行目: 要請元「どこにもない町」が見つかりません" in lines
    assert "bad.csv:4行目: 人数「三人」が数値ではありません" in lines
    assert "bad.csv:5行目: 区分「宇宙連合」が分かりません" in lines
    assert "bad.csv:6行目: 要請番号「R1」の要請元・区分・業務・職種が2行目と異なります" in lines
    assert "bad.csv:6行目: 要請番号「R1」の開始日が2行目と同じです" in lines
    assert "bad.csv:7行目: 中長期（地方自治法第252条の17）の要請には年度を入力してください。" in lines
    assert "何も登録していません" in lines
    assert count_requests(app) == 0
    # A number already registered is refused too.
    good = write(tmp_path, "good.csv", "\n".join([JAPANESE, ROWS[0], ""]))
    assert runner.invoke(args=["import-requests", "test-rain", str(good)]).exit_code == 0
    again = runner.invoke(args=["import-requests", "test-rain", str(good)])
    assert again.exit_code == 1 and "2行目: 要請番号「R1」は登録済みです" in again.output


def test_the_upload_page(rain: None, app: Flask, client_as: Callable[..., FlaskClient]) -> None:
    hq_client = client_as(Role.HQ)
    data = "\n".join([JAPANESE, *ROWS, ""]).encode("utf-8-sig")
    response = hq_client.post(
        "/disasters/test-rain/requests/import",
        data={"file": (io.BytesIO(data), "requests.csv"), "encoding": "auto"},
    )
    assert response.status_code == 302
    assert count_requests(app) == 3
    refused = hq_client.post(
        "/disasters/test-rain/requests/import",
        data={"file": (io.BytesIO(data), "requests.csv"), "encoding": "auto"},
    )
    assert refused.status_code == 422 and "登録済み" in refused.get_data(as_text=True)
    reviewer = client_as(Role.REVIEWER)
    assert reviewer.get("/disasters/test-rain/requests/import").status_code == 403


def test_exports_import_back(
    rain: None, app: Flask, client: FlaskClient, runner: FlaskCliRunner, tmp_path: Path
) -> None:
    path = write(tmp_path, "requests.csv", "\n".join([JAPANESE, *ROWS, ""]))
    assert runner.invoke(args=["import-requests", "test-rain", str(path)]).exit_code == 0
    exported = client.get("/disasters/test-rain/requests.csv")
    assert exported.data.startswith(b"\xef\xbb\xbf")
    text = exported.data.decode("utf-8-sig")
    assert text.splitlines()[0] == JAPANESE
    back = write(tmp_path, "back.csv", text)
    result = runner.invoke(args=["import-requests", "other-rain", str(back)])
    assert result.exit_code == 0, result.output
    for day in ("2023-08-03", "2023-08-04", "2023-08-06"):
        assert requested(client, day, "other-rain") == requested(client, day)

    fill = client.get("/disasters/test-rain/fill.csv?date=2023-08-03")
    assert fill.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(fill.data.decode("utf-8-sig"))))
    assert rows[0][:2] == ["派遣先コード", "派遣先"]
    assert [(r[1], r[3], r[4]) for r in rows[1:]] == [
        ("五城目町", "避難所運営", "30"),
        ("井川町", "給水業務", "5"),
    ]
    book = load_workbook(io.BytesIO(client.get("/disasters/test-rain/fill.xlsx?date=2023-08-03").data))
    sheet = book.active
    assert sheet is not None and sheet.title == "充足状況"
    assert [c.value for c in sheet[3]][:5] == ["053619", "五城目町", "shelter", "避難所運営", 30]
    assert load_workbook(io.BytesIO(client.get("/disasters/test-rain/requests.xlsx").data)).active is not None
