"""The founding-case demo series reproduces every figure Akita prefecture published."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import date
from pathlib import Path

import pytest

from dispatch import demo
from dispatch.demo import (
    OPERATIONS,
    DemoEntry,
    founding_case_entries,
)

AKITA_PREF = "050008"
AKITA_CITY = "052019"
OGA = "052060"
HAPPO = "053490"
GOJOME = "053619"
IKAWA = "053660"


def _data_dir() -> Path:
    packaged = Path(__file__).resolve().parents[1] / "dispatch" / "data"
    if (packaged / "akita_municipalities.csv").is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def _read_csv(name: str) -> list[dict[str, str]]:
    with (_data_dir() / name).open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def organisation_kinds() -> dict[str, str]:
    return {row["code6"]: row["kind"] for row in _read_csv("akita_municipalities.csv")}


@pytest.fixture(scope="module")
def duty_codes() -> set[str]:
    return {row["code"] for row in _read_csv("duties.csv")}


@pytest.fixture(scope="module")
def entries() -> list[DemoEntry]:
    return founding_case_entries()


def _of(entries: list[DemoEntry], operation: str) -> list[DemoEntry]:
    return [entry for entry in entries if entry.operation == operation]


def _person_days(entries: list[DemoEntry]) -> int:
    return sum(entry.headcount for entry in entries)


def _period(entries: list[DemoEntry]) -> tuple[date, date]:
    days = [entry.date for entry in entries]
    return min(days), max(days)


def test_disaster_and_operations_in_report_order() -> None:
    disaster = (demo.DISASTER_SLUG, demo.DISASTER_NAME, demo.DISASTER_START)
    assert disaster == (
        "akita-2023-rain",
        "令和5年7月14日からの大雨",
        date(2023, 7, 14),
    )
    assert [(op.display_order, op.code, op.name, op.closed) for op in OPERATIONS] == [
        (1, "mutual-aid", "災害時の相互応援協定に基づく派遣", True),
        (2, "recovery-support", "災害復旧支援業務に係る派遣", True),
        (3, "relief-act", "災害救助法業務に係る派遣", False),
        (4, "water-supply", "応急給水業務に係る派遣", True),
    ]


def test_every_entry_belongs_to_a_known_operation(entries: list[DemoEntry]) -> None:
    assert {entry.operation for entry in entries} == {op.code for op in OPERATIONS}


def test_deterministic() -> None:
    assert founding_case_entries() == founding_case_entries()


def test_mutual_aid_published_figures(entries: list[DemoEntry]) -> None:
    mutual_aid = _of(entries, "mutual-aid")
    assert _person_days(mutual_aid) == 2101
    assert _period(mutual_aid) == (date(2023, 7, 20), date(2023, 8, 31))
    last_by_destination = {
        destination: max(e.date for e in mutual_aid if e.destination == destination)
        for destination in {e.destination for e in mutual_aid}
    }
    assert last_by_destination == {AKITA_CITY: date(2023, 8, 31), GOJOME: date(2023, 8, 22)}
    duties = {entry.duty for entry in mutual_aid}
    assert {"water_supply", "damage_survey"} <= duties
    assert len(duties) <= 3


def test_mutual_aid_senders_are_prefecture_and_municipalities(
    entries: list[DemoEntry], organisation_kinds: dict[str, str]
) -> None:
    mutual_aid = _of(entries, "mutual-aid")
    senders = {entry.sender for entry in mutual_aid}
    assert AKITA_PREF in senders
    assert {organisation_kinds[s] for s in senders - {AKITA_PREF}} <= {"city", "town", "village"}
    assert len(senders - {AKITA_PREF}) >= 5
    assert all(e.sender_unit for e in mutual_aid if e.sender == AKITA_PREF)
    assert all(e.sender_unit == "" for e in mutual_aid if e.sender != AKITA_PREF)


def test_mutual_aid_ramps_up_peaks_and_tapers(entries: list[DemoEntry]) -> None:
    per_day: dict[date, int] = defaultdict(int)
    for entry in _of(entries, "mutual-aid"):
        per_day[entry.date] += entry.headcount
    peak_day = max(per_day, key=lambda day: per_day[day])
    assert date(2023, 7, 25) <= peak_day <= date(2023, 8, 10)
    assert per_day[date(2023, 7, 20)] < per_day[peak_day]
    assert per_day[date(2023, 8, 31)] < per_day[peak_day]


def test_recovery_support_published_figures(entries: list[DemoEntry]) -> None:
    recovery = _of(entries, "recovery-support")
    assert _person_days(recovery) == 46
    assert _period(recovery) == (date(2023, 8, 12), date(2023, 9, 29))
    assert {(e.sender, e.sender_unit, e.destination, e.duty) for e in recovery} == {
        (AKITA_PREF, "総務部総合防災課", GOJOME, "hq_support")
    }
    assert {entry.headcount for entry in recovery} == {1, 2}


def test_relief_act_published_figures(entries: list[DemoEntry], organisation_kinds: dict[str, str]) -> None:
    relief = _of(entries, "relief-act")
    assert min(entry.date for entry in relief) == date(2023, 10, 2)
    assert max(entry.date for entry in relief) == date(2023, 10, 31)
    assert {(e.destination, e.duty) for e in relief} == {(GOJOME, "relief_act")}

    prefecture: dict[date, int] = defaultdict(int)
    municipal: dict[date, int] = defaultdict(int)
    for entry in relief:
        if entry.sender == AKITA_PREF:
            assert entry.sender_unit == "総務部総合防災課"
            prefecture[entry.date] += entry.headcount
        else:
            assert organisation_kinds[entry.sender] in {"city", "town", "village"}
            municipal[entry.date] += entry.headcount

    assert set(prefecture) == set(municipal)
    assert set(prefecture.values()) == {1, 2}
    assert all(count == 2 for count in municipal.values())
    assert all(day.weekday() < 5 for day in prefecture)


def test_water_supply_published_figures(entries: list[DemoEntry], organisation_kinds: dict[str, str]) -> None:
    water = _of(entries, "water-supply")
    assert _person_days(water) == 105
    assert _period(water) == (date(2023, 7, 16), date(2023, 7, 26))
    assert {entry.destination for entry in water} == {OGA, HAPPO, GOJOME, IKAWA}
    assert {entry.duty for entry in water} == {"water_supply"}
    senders = {entry.sender for entry in water}
    assert len(senders) == 8
    assert AKITA_CITY in senders
    assert {organisation_kinds[sender] for sender in senders} == {"city"}


def test_keys_are_unique(entries: list[DemoEntry]) -> None:
    keys = [(e.operation, e.date, e.sender, e.sender_unit, e.destination, e.duty) for e in entries]
    assert len(keys) == len(set(keys))


def test_rows_are_valid(
    entries: list[DemoEntry], organisation_kinds: dict[str, str], duty_codes: set[str]
) -> None:
    for entry in entries:
        assert entry.sender != entry.destination
        assert entry.headcount >= 1
        assert entry.sender in organisation_kinds
        assert entry.destination in organisation_kinds
        assert entry.duty in duty_codes
        assert date(2023, 7, 16) <= entry.date <= date(2023, 10, 31)
