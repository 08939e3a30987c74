"""The flask commands, through Flask's test runner (import-dispatches is tested elsewhere)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import select

from dispatch import create_app
from dispatch.extensions import db
from dispatch.models import Disaster, Duty, Entry, Operation, Organisation
from tests.factories import SLUG
from tests.reading import assert_ok, count

AS_OF_8_31 = {
    "disaster": SLUG,
    "as_of": "2023-08-31",
    "person_days": 2232,
    "persons": None,
    "active": 11,
    "by": "operation",
    "rows": [
        {
            "key": "mutual-aid",
            "name": "災害時の相互応援協定に基づく派遣",
            "person_days": 2101,
            "persons": None,
            "active": 10,
        },
        {
            "key": "water-supply",
            "name": "応急給水業務に係る派遣",
            "person_days": 105,
            "persons": None,
            "active": 0,
        },
        {
            "key": "recovery-support",
            "name": "災害復旧支援業務に係る派遣",
            "person_days": 26,
            "persons": None,
            "active": 1,
        },
    ],
}


@pytest.fixture
def seeded(runner: FlaskCliRunner) -> FlaskCliRunner:
    result = runner.invoke(args=["seed-demo"])
    assert_ok(result)
    return runner


def _totals(runner: FlaskCliRunner, *args: str) -> dict:
    result = runner.invoke(args=["totals", SLUG, *args, "--format", "json"])
    assert_ok(result)
    return json.loads(result.stdout)


# --- init-db, seed-demo -----------------------------------------------------------------------


@pytest.mark.sqlite_only
def test_init_db_on_an_empty_database_twice(tmp_path: Path) -> None:
    app = create_app(
        {
            "TESTING": True,
            "ENV_NAME": "test",
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite'}",
        }
    )
    runner = app.test_cli_runner()
    try:
        for _ in range(2):
            result = runner.invoke(args=["init-db"])
            assert_ok(result)
            assert "master data: 1,788 local governments and 171 wards" in result.stdout
            assert "19 duties" in result.stdout
            # The whole country's list: 1,788 bodies and 171 wards of designated cities.
            assert count(app, Organisation) == 1_959
            assert count(app, Duty) == 19
        assert "(0 added, 0 no longer listed and deactivated)" in result.stdout
    finally:
        with app.app_context():
            db.engine.dispose()


def test_init_db_again_keeps_entries(seeded: FlaskCliRunner, app: Flask) -> None:
    result = seeded.invoke(args=["init-db"])
    assert_ok(result)
    # The country's 1,959 and 総務省, the other body the demo registered; both demo disasters' entries.
    assert count(app, Organisation) == 1_960
    assert count(app, Entry) == 549 + 228


def test_seed_demo_twice(runner: FlaskCliRunner, app: Flask) -> None:
    first = runner.invoke(args=["seed-demo"])
    assert_ok(first)
    # The founding case, and the invented disaster seen from a sending prefecture (demo_sending.py).
    assert first.stdout == (
        "akita-2023-rain: added 549 entries, 2319 person-days\nnoto-2024-drill: added 228 entries, 485 person-days\n"
    )
    second = runner.invoke(args=["seed-demo"])
    assert_ok(second)
    assert second.stdout == (
        "akita-2023-rain: added 0 entries, 0 person-days\nnoto-2024-drill: added 0 entries, 0 person-days\n"
    )
    assert count(app, Entry) == 549 + 228
    assert count(app, Disaster) == 2
    assert count(app, Operation) == 4 + 3


# --- create-disaster, create-operation --------------------------------------------------------


def test_create_disaster(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(
        args=["create-disaster", "noto-2024", "--name", "令和6年能登半島地震", "--start", "2024-01-01"]
    )
    assert_ok(result)
    assert result.stdout == "created disaster noto-2024: 令和6年能登半島地震 (令和6年1月1日～)\n"
    with app.app_context():
        created = db.session.scalar(select(Disaster).where(Disaster.slug == "noto-2024"))
        assert created is not None
        assert (created.name, created.start_date) == ("令和6年能登半島地震", date(2024, 1, 1))


def test_create_disaster_accepts_a_wareki_start(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(
        args=["create-disaster", "akita-2023-rain", "--name", "大雨", "--start", "令和5年7月14日"]
    )
    assert_ok(result)
    with app.app_context():
        start = db.session.scalar(select(Disaster.start_date).where(Disaster.slug == SLUG))
    assert start == date(2023, 7, 14)


def test_create_disaster_twice_fails_in_japanese(runner: FlaskCliRunner, app: Flask) -> None:
    args = ["create-disaster", "noto-2024", "--name", "令和6年能登半島地震", "--start", "2024-01-01"]
    assert_ok(runner.invoke(args=args))
    again = runner.invoke(args=[*args[:3], "別の名前", *args[4:]])
    assert again.exit_code == 1
    assert "災害「noto-2024」は登録済みです。" in again.stderr
    with app.app_context():
        names = db.session.scalars(select(Disaster.name)).all()
    assert names == ["令和6年能登半島地震"]


def test_create_disaster_refuses_a_bad_slug(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(args=["create-disaster", "Noto 2024", "--name", "地震", "--start", "2024-01-01"])
    assert result.exit_code == 1
    assert "識別子（slug）は半角英小文字・数字・ハイフンで入力してください。" in result.stderr
    assert count(app, Disaster) == 0


def test_create_disaster_bad_date_is_a_usage_error(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(args=["create-disaster", "noto-2024", "--name", "地震", "--start", "2024-02-30"])
    assert result.exit_code == 2
    assert "Invalid value for '--start'" in result.stderr
    assert count(app, Disaster) == 0


def test_create_operation(runner: FlaskCliRunner, app: Flask) -> None:
    assert_ok(runner.invoke(args=["create-disaster", "noto-2024", "--name", "地震", "--start", "2024-01-01"]))
    first = runner.invoke(args=["create-operation", "noto-2024", "debris", "--name", "災害廃棄物"])
    assert_ok(first)
    assert first.stdout == "created operation debris: 災害廃棄物\n"
    second = runner.invoke(
        args=["create-operation", "noto-2024", "shelter", "--name", "避難所", "--order", "7"]
    )
    assert_ok(second)
    with app.app_context():
        ops = db.session.execute(select(Operation.code, Operation.display_order).order_by(Operation.id)).all()
    assert [tuple(op) for op in ops] == [("debris", 1), ("shelter", 7)]


def test_create_operation_twice_fails(runner: FlaskCliRunner, app: Flask) -> None:
    assert_ok(runner.invoke(args=["create-disaster", "noto-2024", "--name", "地震", "--start", "2024-01-01"]))
    args = ["create-operation", "noto-2024", "debris", "--name", "災害廃棄物"]
    assert_ok(runner.invoke(args=args))
    again = runner.invoke(args=args)
    assert again.exit_code == 1
    assert "派遣区分「debris」は登録済みです。" in again.stderr
    assert count(app, Operation) == 1


def test_create_operation_for_an_unknown_disaster(runner: FlaskCliRunner, app: Flask) -> None:
    result = runner.invoke(args=["create-operation", "nope", "debris", "--name", "災害廃棄物"])
    assert result.exit_code == 1
    assert "災害「nope」は登録されていません。" in result.stderr
    assert count(app, Operation) == 0


# --- totals -----------------------------------------------------------------------------------


def test_totals_json_as_of_8_31(seeded: FlaskCliRunner) -> None:
    assert _totals(seeded, "--as-of", "2023-08-31", "--by", "operation") == AS_OF_8_31


def test_totals_json_as_of_9_29(seeded: FlaskCliRunner) -> None:
    data = _totals(seeded, "--as-of", "2023-09-29")
    assert (data["as_of"], data["by"], data["person_days"], data["active"]) == (
        "2023-09-29",
        "operation",
        2252,
        1,
    )
    by_key = {row["key"]: (row["person_days"], row["active"]) for row in data["rows"]}
    assert by_key == {
        "mutual-aid": (2101, 0),
        "water-supply": (105, 0),
        "recovery-support": (46, 1),
    }


@pytest.mark.parametrize("as_of", ["令和5年8月31日", "R5.8.31", "2023/8/31", "令和５年８月３１日"])
def test_totals_as_of_accepts_japanese_dates(seeded: FlaskCliRunner, as_of: str) -> None:
    assert _totals(seeded, "--as-of", as_of) == AS_OF_8_31


def test_totals_by_destination(seeded: FlaskCliRunner) -> None:
    # As of 7/26 (worked out from demo.py): 秋田市 152 water + 36 survey; 五城目町 32 + 37;
    # 八峰町 and 井川町 tie at 24, so the lower code comes first.
    data = _totals(seeded, "--as-of", "2023-07-26", "--by", "destination")
    assert (data["by"], data["person_days"], data["active"]) == ("destination", 325, 51)
    assert [(r["key"], r["name"], r["person_days"], r["active"]) for r in data["rows"]] == [
        ("052019", "秋田市", 188, 39),
        ("053619", "五城目町", 69, 10),
        ("053490", "八峰町", 24, 0),
        ("053660", "井川町", 24, 2),
        ("052060", "男鹿市", 20, 0),
    ]


def test_totals_csv(seeded: FlaskCliRunner) -> None:
    result = seeded.invoke(args=["totals", SLUG, "--as-of", "2023-08-31", "--format", "csv"])
    assert_ok(result)
    assert result.stdout == (
        "key,name,person_days,active\n"
        "mutual-aid,災害時の相互応援協定に基づく派遣,2101,10\n"
        "water-supply,応急給水業務に係る派遣,105,0\n"
        "recovery-support,災害復旧支援業務に係る派遣,26,1\n"
    )


def test_totals_table(seeded: FlaskCliRunner) -> None:
    result = seeded.invoke(args=["totals", SLUG, "--as-of", "2023-08-31"])
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == "akita-2023-rain 令和5年8月31日時点（2023-08-31）"
    assert lines[1] == "延べ人数 2,232人 / 当日派遣人数 11人"
    assert [line.split() for line in lines[2:]] == [
        ["mutual-aid", "2,101", "10", "災害時の相互応援協定に基づく派遣"],
        ["water-supply", "105", "0", "応急給水業務に係る派遣"],
        ["recovery-support", "26", "1", "災害復旧支援業務に係る派遣"],
    ]
    # Columns line up: keys padded to the longest (16), figures right-aligned in 8 and 5.
    assert [(line[:16], line[16:26], line[26:33], line[33:]) for line in lines[2:]] == [
        ("mutual-aid      ", "     2,101", "     10", "  災害時の相互応援協定に基づく派遣"),
        ("water-supply    ", "       105", "      0", "  応急給水業務に係る派遣"),
        ("recovery-support", "        26", "      1", "  災害復旧支援業務に係る派遣"),
    ]


def test_totals_unknown_disaster(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["totals", "nope", "--as-of", "2023-08-31"])
    assert result.exit_code == 1
    assert "災害「nope」は登録されていません。" in result.stderr


def test_totals_bad_as_of_is_a_usage_error(seeded: FlaskCliRunner) -> None:
    result = seeded.invoke(args=["totals", SLUG, "--as-of", "8月31日"])
    assert result.exit_code == 2
    assert "Invalid value for '--as-of'" in result.stderr
