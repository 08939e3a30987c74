"""The founding-case demo series reproduces every figure Akita prefecture published."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest

from dispatch import demo, demo_sending
from dispatch.demo import (
    OPERATIONS,
    DemoEntry,
    founding_case_entries,
)
from dispatch.demo_sending import sending_case_entries
from tests.factories import AKITA_CITY, AKITA_PREF, GOJOME, HAPPO, IKAWA, OGA
from tests.reading import master_csv


@pytest.fixture(scope="module")
def organisation_kinds() -> dict[str, str]:
    return {row["code6"]: row["kind"] for row in master_csv("akita_municipalities.csv")}


@pytest.fixture(scope="module")
def duty_codes() -> set[str]:
    return {row["code"] for row in master_csv("duties.csv")}


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
    # Each ended operation ends on its published last day: 8月31日, 9月29日, 7月26日; item 3 is 継続中.
    assert [(op.display_order, op.code, op.name, op.end_date) for op in OPERATIONS] == [
        (1, "mutual-aid", "災害時の相互応援協定に基づく派遣", date(2023, 8, 31)),
        (2, "recovery-support", "災害復旧支援業務に係る派遣", date(2023, 9, 29)),
        (3, "relief-act", "災害救助法業務に係る派遣", None),
        (4, "water-supply", "応急給水業務に係る派遣", date(2023, 7, 26)),
    ]
    assert demo.AFFECTED_PREFECTURES == ("050008",)
    assert demo.OWN_ORGANISATION == "050008"
    assert demo.RECEIVING_SECTIONS == (("recovery-support", "053619", "町災害対策本部事務局"),)


def test_each_ended_operation_ends_on_its_last_entry(entries: list[DemoEntry]) -> None:
    for operation in OPERATIONS:
        if operation.end_date is not None:
            assert max(e.date for e in _of(entries, operation.code)) == operation.end_date


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


# --- the invented disaster seen from a sending prefecture (demo_sending.py) -----------------------------------


def test_the_sending_case_is_named_as_invented() -> None:
    assert demo_sending.DISASTER_SLUG == "noto-2024-drill"
    assert "架空" in demo_sending.DISASTER_NAME
    assert [(op.display_order, op.code, op.end_date) for op in demo_sending.OPERATIONS] == [
        (1, "counterpart", date(2024, 2, 29)),
        (2, "water-supply", date(2024, 1, 18)),
        (3, "long-term", None),
    ]


def test_the_sending_case_figures_added_up_by_hand() -> None:
    rows = sending_case_entries()
    by_operation: dict[str, int] = defaultdict(int)
    by_sender: dict[str, int] = defaultdict(int)
    for entry in rows:
        by_operation[entry.operation] += entry.headcount
        by_sender[entry.sender] += entry.headcount
    assert dict(by_operation) == {"counterpart": 347, "water-supply": 78, "long-term": 60}
    assert dict(by_sender) == {
        "240001": 88 + 123 + 30,  # 三重県
        "242012": 42,  # 津市
        "242021": 28,  # 四日市市
        "242071": 20,  # 鈴鹿市
        "050008": 28 + 30,  # 秋田県
        "052019": 28 + 16,  # 秋田市
        "052035": 42,  # 横手市
        "総務省": 10,
    }
    assert {e.destination for e in rows} == {"172049", "172057"}  # 輪島市, 珠洲市
    for operation in demo_sending.OPERATIONS:
        if operation.end_date is not None:
            assert max(e.date for e in rows if e.operation == operation.code) == operation.end_date
    keys = [(e.operation, e.date, e.sender, e.sender_unit, e.destination, e.duty) for e in rows]
    assert len(keys) == len(set(keys))
