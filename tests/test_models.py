"""Models: the local-government code check digit, and the invariants the database enforces by itself.

The constraint tests bypass the services on purpose (db.session.add + flush): the database must refuse
a bad row even when a code path forgets to check.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import IntegrityError, StatementError

from dispatch.extensions import db
from dispatch.models import (
    Disaster,
    Duty,
    Entry,
    Operation,
    Organisation,
    is_valid_lg_code,
    lg_check_digit,
)
from tests.factories import AKITA_CITY, AKITA_PREF, GOJOME, disaster, duty, entry, entry_row, operation, org
from tests.reading import master_csv

sqlite_only = pytest.mark.sqlite_only

UNIQUE_ENTRY_KEY = r"uq_entry_key|UNIQUE constraint failed: entry\."


# --- 全国地方公共団体コード -------------------------------------------------------------------


def test_check_digit_of_the_domain_example() -> None:
    # DOMAIN.md: 05201 -> 6*0 + 5*5 + 4*2 + 3*0 + 2*1 = 35, 35 mod 11 = 2, (11 - 2) mod 10 = 9.
    assert lg_check_digit("05201") == "9"


@pytest.mark.parametrize(
    ("code5", "digit"),
    [
        ("05000", "8"),  # 秋田県
        ("13101", "6"),  # 千代田区
        ("11000", "1"),  # 埼玉県: remainder 0, so (11 - 0) mod 10 = 1
        ("20000", "0"),  # 長野県: remainder 1, so (11 - 1) mod 10 = 0
    ],
)
def test_check_digit_edges(code5: str, digit: str) -> None:
    assert lg_check_digit(code5) == digit


@pytest.mark.parametrize("code", ["052019", "050008", "131016", "110001", "200000"])
def test_valid_codes(code: str) -> None:
    assert is_valid_lg_code(code)


@pytest.mark.parametrize(
    "code",
    [
        "052018",  # 秋田市 with a wrong check digit
        "052010",
        "05201",  # five digits: the check digit is missing
        "0520190",
        "05201a",
        "０５２０１９",  # full-width digits
        "",
    ],
)
def test_invalid_codes(code: str) -> None:
    assert not is_valid_lg_code(code)


def test_every_master_data_code_in_the_csv_files_is_valid() -> None:
    prefectures = [row["code6"] for row in master_csv("prefectures.csv")]
    akita = [row["code6"] for row in master_csv("akita_municipalities.csv")]
    assert len(prefectures) == 47
    assert len(akita) == 26  # 秋田県 and its 25 municipalities
    assert [code for code in prefectures + akita if not is_valid_lg_code(code)] == []


def test_every_loaded_organisation_code_is_valid(ctx: None) -> None:
    codes = list(db.session.scalars(select(Organisation.code)))
    assert len(codes) == 1_959  # 1,788 local governments and the designated cities' 171 wards
    assert [code for code in codes if not is_valid_lg_code(code)] == []
    assert db.session.scalar(select(func.count()).select_from(Duty)) == 19


# --- entry constraints ------------------------------------------------------------------------


def test_a_valid_entry_flushes(ctx: None) -> None:
    row = entry_row()
    db.session.flush()
    assert row.id is not None
    assert row.sender_unit == ""


@pytest.mark.parametrize("headcount", [0, -1])
def test_headcount_below_one_is_refused(ctx: None, headcount: int) -> None:
    entry_row(headcount=headcount)
    with pytest.raises(IntegrityError, match="ck_entry_headcount_positive"):
        db.session.flush()


def test_sender_equal_to_destination_is_refused(ctx: None) -> None:
    entry_row(sender=org(GOJOME), destination=org(GOJOME))
    with pytest.raises(IntegrityError, match="ck_entry_sender_not_destination"):
        db.session.flush()


@pytest.mark.parametrize(
    ("first_unit", "second_unit"),
    [
        ("総務部", "総務部"),
        ("", ""),
        # The column default is '' as well, so an omitted unit collides with an empty one.
        (None, ""),
        (None, None),
    ],
)
def test_duplicate_key_is_refused(ctx: None, first_unit: str | None, second_unit: str | None) -> None:
    entry_row(**({} if first_unit is None else {"sender_unit": first_unit}))
    db.session.flush()
    entry_row(headcount=7, **({} if second_unit is None else {"sender_unit": second_unit}))
    with pytest.raises(IntegrityError, match=UNIQUE_ENTRY_KEY):
        db.session.flush()


@pytest.mark.parametrize(
    "change",
    [
        {"sender_unit": "建設部"},
        {"date": date(2023, 8, 2)},
        {"destination_code": AKITA_CITY},
        {"duty_code": "damage_survey"},
        {"operation_code": "water-supply"},
    ],
)
def test_entries_differing_in_one_key_part_are_both_kept(ctx: None, change: dict[str, Any]) -> None:
    entry_row(sender_unit="総務部")
    overrides: dict[str, Any] = {"sender_unit": "総務部"}
    for name, value in change.items():
        if name == "destination_code":
            overrides["destination"] = org(value)
        elif name == "duty_code":
            overrides["duty"] = duty(value)
        elif name == "operation_code":
            overrides["operation"] = operation(code=value)
        else:
            overrides[name] = value
    entry_row(**overrides)
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(Entry)) == 2


def test_foreign_keys_are_enforced(ctx: None) -> None:
    missing = db.session.scalar(select(func.max(Duty.id))) + 1000
    db.session.add(
        Entry(
            date=date(2023, 8, 1),
            operation=operation(),
            sender=org(AKITA_PREF),
            destination=org(GOJOME),
            duty_id=missing,
            headcount=1,
        )
    )
    with pytest.raises(IntegrityError, match="FOREIGN KEY constraint failed|fk_entry_duty_id_duty"):
        db.session.flush()


def test_an_organisation_in_use_cannot_be_deleted(ctx: None) -> None:
    entry(date(2023, 8, 1))
    with pytest.raises(
        IntegrityError, match="FOREIGN KEY constraint failed|fk_entry_destination_id_organisation"
    ):
        db.session.execute(Organisation.__table__.delete().where(Organisation.code == GOJOME))


# --- organisation, operation ------------------------------------------------------------------


def test_organisation_kind_check(ctx: None) -> None:
    db.session.add(Organisation(code="059999", kind="district", name="架空郡"))
    with pytest.raises(IntegrityError, match="ck_organisation_kind"):
        db.session.flush()


def test_a_ward_has_its_city_and_nothing_else_has_a_parent(ctx: None) -> None:
    db.session.add(Organisation(code="059999", kind="ward", name="架空区"))
    with pytest.raises(IntegrityError, match="ck_organisation_ward_has_parent"):
        db.session.flush()
    db.session.rollback()
    city = db.session.scalar(select(Organisation).where(Organisation.code == "052019"))
    db.session.add(Organisation(code="059999", kind="town", name="架空町", parent=city))
    with pytest.raises(IntegrityError, match="ck_organisation_ward_has_parent"):
        db.session.flush()


def test_other_body_code_must_start_with_x(ctx: None) -> None:
    db.session.add(Organisation(code="123456", kind="other", name="秋田市上下水道局"))
    with pytest.raises(IntegrityError, match="ck_organisation_code_shape"):
        db.session.flush()


def test_other_body_with_x_code_is_accepted(ctx: None) -> None:
    db.session.add(Organisation(code="X0001", kind="other", name="秋田市上下水道局"))
    db.session.flush()
    assert db.session.scalar(select(Organisation.kind).where(Organisation.code == "X0001")) == ("other")


def test_operation_code_is_unique_within_a_disaster(ctx: None) -> None:
    rain = disaster()
    db.session.add(Operation(disaster=rain, code="mutual-aid", name="一"))
    db.session.flush()
    db.session.add(Operation(disaster=rain, code="mutual-aid", name="二"))
    with pytest.raises(
        IntegrityError, match=r"uq_operation_disaster_id_code|UNIQUE constraint failed: operation\."
    ):
        db.session.flush()


def test_the_same_operation_code_in_two_disasters_is_allowed(ctx: None) -> None:
    db.session.add(Operation(disaster=disaster("rain-a"), code="mutual-aid", name="一"))
    db.session.add(Operation(disaster=disaster("rain-b"), code="mutual-aid", name="二"))
    db.session.flush()
    assert db.session.scalar(select(func.count()).select_from(Operation)) == 2


def test_disaster_slug_is_unique(ctx: None) -> None:
    db.session.add(Disaster(slug="rain", name="一", start_date=date(2023, 7, 14)))
    db.session.flush()
    db.session.add(Disaster(slug="rain", name="二", start_date=date(2023, 7, 14)))
    with pytest.raises(IntegrityError, match=r"uq_disaster_slug|UNIQUE constraint failed: disaster"):
        db.session.flush()


# --- timestamps -------------------------------------------------------------------------------


def test_timestamps_come_back_timezone_aware_utc(ctx: None) -> None:
    row = entry(date(2023, 8, 1))
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Entry, row.id)
    assert again is not None
    for stamp in (again.created_at, again.updated_at):
        assert stamp.tzinfo is not None
        assert stamp.utcoffset().total_seconds() == 0


def test_an_aware_timestamp_is_stored_as_utc(ctx: None) -> None:
    nine_in_tokyo = datetime(2023, 8, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    row = entry_row(created_at=nine_in_tokyo)
    db.session.commit()
    db.session.expire_all()
    again = db.session.get(Entry, row.id)
    assert again is not None
    assert again.created_at == datetime(2023, 8, 1, 0, 0, tzinfo=UTC)
    assert again.created_at.tzinfo == UTC


@sqlite_only
def test_sqlite_keeps_the_utc_clock_time(ctx: None) -> None:
    entry_row(created_at=datetime(2023, 8, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo")))
    db.session.flush()
    raw = db.session.connection().exec_driver_sql("SELECT created_at FROM entry").scalar()
    assert str(raw).startswith("2023-08-01 00:00:00")


def test_a_naive_timestamp_is_refused(ctx: None) -> None:
    entry_row(created_at=datetime(2023, 8, 1, 9, 0))  # noqa: DTZ001 - naive on purpose
    with pytest.raises(StatementError, match="naive datetime"):
        db.session.flush()


# --- SQLite connection settings ---------------------------------------------------------------


@sqlite_only
def test_app_connections_use_wal_and_foreign_keys(ctx: None) -> None:
    db.engine.dispose()
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # WRITE_LOCK_TIMEOUT_SECONDS, 10 by default: a writer waits that long, then is told to try again.
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 10_000


@sqlite_only
def test_a_brand_new_database_file_gets_the_settings(tmp_path: Path) -> None:
    # A new file starts in rollback-journal mode with foreign keys off: only the listener changes that.
    engine = create_engine(f"sqlite:///{tmp_path / 'fresh.sqlite'}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()
