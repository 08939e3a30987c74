"""Totals: person-days as of a date and headcount active on it, by every dimension.

The small series below is worked out by hand:

    date  operation     sender (unit)     destination  duty           headcount
    8/1   mutual-aid    秋田県 (総務部)   五城目町     damage_survey  3
    8/1   water-supply  横手市            五城目町     water_supply   2
    8/2   mutual-aid    秋田県 (総務部)   五城目町     damage_survey  3
    8/2   mutual-aid    能代市            秋田市       damage_survey  5
    8/2   water-supply  秋田市            五城目町     water_supply   2
    8/3   mutual-aid    能代市            秋田市       certificate    4

As of 8/2: 延べ15人 (3+2+3+5+2), 10 active on 8/2 (3+5+2); the 8/3 row is not counted yet.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pytest
from sqlalchemy import select

from dispatch.catalog import create_disaster
from dispatch.entries import log_entries
from dispatch.extensions import db
from dispatch.models import Disaster, Entry, Operation
from dispatch.query import EntryFilter
from dispatch.totals import Dimension, Totals, headline, totals
from tests.factories import (
    AKITA_CITY,
    AKITA_PREF,
    GOJOME,
    NOSHIRO,
    YOKOTE,
    disaster,
    draft,
    entry,
    hq,
    operation,
)

AS_OF = date(2023, 8, 2)


@pytest.fixture
def series(ctx: None) -> Disaster:
    rain = disaster()
    mutual_aid = operation(rain, "mutual-aid")
    water = operation(rain, "water-supply")
    day1, day2, day3 = date(2023, 8, 1), date(2023, 8, 2), date(2023, 8, 3)
    survey = {"op": mutual_aid, "duty_code": "damage_survey"}
    log_entries(
        [
            draft(day1, 3, sender=AKITA_PREF, sender_unit="総務部", **survey),
            draft(day1, 2, op=water, sender=YOKOTE),
            draft(day2, 3, sender=AKITA_PREF, sender_unit="総務部", **survey),
            draft(day2, 5, sender=NOSHIRO, destination=AKITA_CITY, **survey),
            draft(day2, 2, op=water, sender=AKITA_CITY),
            draft(day3, 4, op=mutual_aid, sender=NOSHIRO, destination=AKITA_CITY, duty_code="certificate"),
        ],
        actor=hq("test"),
    )
    # Another disaster on the same days must never leak into these totals.
    other = operation(create_disaster("other-rain", "別の豪雨", date(2023, 7, 1), hq()), "mutual-aid")
    entry(day2, 50, op=other)
    return rain


def _rows(result: Totals) -> list[tuple[str, str, int, int]]:
    return [(r.key, r.name, r.person_days, r.active) for r in result.rows]


# --- as of ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("as_of", "person_days", "active"),
    [
        (date(2023, 7, 31), 0, 0),
        (date(2023, 8, 1), 5, 5),
        (date(2023, 8, 2), 15, 10),
        (date(2023, 8, 3), 19, 4),
        (date(2023, 8, 4), 19, 0),
    ],
)
def test_as_of_counts_up_to_and_including_the_date(
    series: Disaster, as_of: date, person_days: int, active: int
) -> None:
    result = totals(series, as_of, Dimension.OPERATION)
    assert (result.person_days, result.active) == (person_days, active)
    assert headline(series, as_of) == (person_days, active)


def test_nothing_yet_gives_no_rows(series: Disaster) -> None:
    result = totals(series, date(2023, 7, 31), Dimension.DESTINATION)
    assert result.rows == []


# --- dimensions -------------------------------------------------------------------------------


def test_by_operation(series: Disaster) -> None:
    result = totals(series, AS_OF, Dimension.OPERATION)
    assert _rows(result) == [
        ("mutual-aid", "mutual-aidの派遣", 11, 8),
        ("water-supply", "water-supplyの派遣", 4, 2),
    ]
    assert (result.disaster, result.as_of, result.by) == ("test-rain", AS_OF, Dimension.OPERATION)


def test_by_destination(series: Disaster) -> None:
    assert _rows(totals(series, AS_OF, Dimension.DESTINATION)) == [
        (GOJOME, "五城目町", 10, 5),
        (AKITA_CITY, "秋田市", 5, 5),
    ]


def test_by_sender_ties_are_ordered_by_code(series: Disaster) -> None:
    # 秋田市 and 横手市 both have 2 person-days: the lower code comes first.
    assert _rows(totals(series, AS_OF, Dimension.SENDER)) == [
        (AKITA_PREF, "秋田県", 6, 3),
        (NOSHIRO, "能代市", 5, 5),
        (AKITA_CITY, "秋田市", 2, 2),
        (YOKOTE, "横手市", 2, 0),
    ]


def test_by_duty(series: Disaster) -> None:
    assert _rows(totals(series, AS_OF, Dimension.DUTY)) == [
        ("damage_survey", "家屋被害認定調査", 11, 8),
        ("water_supply", "給水業務", 4, 2),
    ]


def test_by_duty_includes_the_later_row_once_as_of_reaches_it(series: Disaster) -> None:
    # certificate and water_supply tie at 4: the key decides.
    assert _rows(totals(series, date(2023, 8, 3), Dimension.DUTY)) == [
        ("damage_survey", "家屋被害認定調査", 11, 0),
        ("certificate", "罹災証明書交付", 4, 4),
        ("water_supply", "給水業務", 4, 0),
    ]


def test_by_date(series: Disaster) -> None:
    assert _rows(totals(series, date(2023, 8, 3), Dimension.DATE)) == [
        ("2023-08-02", "令和5年8月2日", 10, 0),
        ("2023-08-01", "令和5年8月1日", 5, 0),
        ("2023-08-03", "令和5年8月3日", 4, 4),
    ]


def test_as_json_shape(series: Disaster) -> None:
    assert totals(series, AS_OF, Dimension.DESTINATION).as_json() == {
        "disaster": "test-rain",
        "as_of": "2023-08-02",
        "person_days": 15,
        "persons": None,
        "active": 10,
        "by": "destination",
        "rows": [
            {"key": GOJOME, "name": "五城目町", "person_days": 10, "persons": None, "active": 5},
            {"key": AKITA_CITY, "name": "秋田市", "person_days": 5, "persons": None, "active": 5},
        ],
    }


# --- filters ----------------------------------------------------------------------------------


def test_filter_by_destination(series: Disaster) -> None:
    result = totals(series, AS_OF, Dimension.SENDER, EntryFilter(destination=GOJOME))
    assert _rows(result) == [
        (AKITA_PREF, "秋田県", 6, 3),
        (AKITA_CITY, "秋田市", 2, 2),
        (YOKOTE, "横手市", 2, 0),
    ]
    assert (result.person_days, result.active) == (10, 5)
    assert headline(series, AS_OF, EntryFilter(destination=GOJOME)) == (10, 5)


def test_filter_by_operation(series: Disaster) -> None:
    result = totals(series, AS_OF, Dimension.DESTINATION, EntryFilter(operation="water-supply"))
    assert _rows(result) == [(GOJOME, "五城目町", 4, 2)]


def test_filter_by_sender_and_duty(series: Disaster) -> None:
    flt = EntryFilter(sender=NOSHIRO, duty="certificate")
    assert _rows(totals(series, date(2023, 8, 3), Dimension.DATE, flt)) == [
        ("2023-08-03", "令和5年8月3日", 4, 4)
    ]
    assert totals(series, AS_OF, Dimension.DATE, flt).rows == []


def test_filter_date_from(series: Disaster) -> None:
    result = totals(series, date(2023, 8, 3), Dimension.OPERATION, EntryFilter(date_from=AS_OF))
    assert (result.person_days, result.active) == (14, 4)
    assert headline(series, date(2023, 8, 3), EntryFilter(date_from=AS_OF)) == (14, 4)
    # A range that ends before it starts, and a destination with no entries, count nothing.
    assert headline(series, AS_OF, EntryFilter(date_from=date(2023, 8, 5), date_to=date(2023, 8, 4))) == (
        0,
        0,
    )
    assert headline(series, AS_OF, EntryFilter(destination=NOSHIRO)) == (0, 0)


def test_filter_date_to_earlier_than_as_of_wins(series: Disaster) -> None:
    flt = EntryFilter(date_to=date(2023, 8, 1))
    result = totals(series, date(2023, 8, 3), Dimension.OPERATION, flt)
    assert (result.person_days, result.active) == (5, 0)
    assert headline(series, date(2023, 8, 3), flt) == (5, 0)


def test_filter_date_to_later_than_as_of_does_not_widen(series: Disaster) -> None:
    flt = EntryFilter(date_to=date(2023, 8, 31))
    assert totals(series, AS_OF, Dimension.OPERATION, flt).person_days == 15
    assert headline(series, AS_OF, flt) == (15, 10)


# --- the founding case ------------------------------------------------------------------------


def _by_operation(result: Totals) -> dict[str, tuple[int, int]]:
    return {r.key: (r.person_days, r.active) for r in result.rows}


def test_founding_case_as_of_8_31(demo_disaster: Disaster) -> None:
    result = totals(demo_disaster, date(2023, 8, 31), Dimension.OPERATION)
    # Published: 延べ2101人 (item 1) and 延べ105人 (item 4). Item 2 has reached 26 of its 46.
    assert _rows(result) == [
        ("mutual-aid", "災害時の相互応援協定に基づく派遣", 2101, 10),
        ("water-supply", "応急給水業務に係る派遣", 105, 0),
        ("recovery-support", "災害復旧支援業務に係る派遣", 26, 1),
    ]
    assert (result.person_days, result.active) == (2232, 11)


def test_founding_case_as_of_8_30(demo_disaster: Disaster) -> None:
    # Worked out from demo.py: only 県総務部's 10 surveyors in 秋田市 were on duty on 8/31,
    # so the day before stands at 2101 - 10.
    mutual_aid = _by_operation(totals(demo_disaster, date(2023, 8, 30), Dimension.OPERATION))["mutual-aid"]
    assert mutual_aid == (2091, 10)


def test_founding_case_as_of_9_29(demo_disaster: Disaster) -> None:
    result = _by_operation(totals(demo_disaster, date(2023, 9, 29), Dimension.OPERATION))
    assert result == {
        "mutual-aid": (2101, 0),
        "recovery-support": (46, 1),
        "water-supply": (105, 0),
    }


def test_founding_case_mutual_aid_by_destination(demo_disaster: Disaster) -> None:
    flt = EntryFilter(operation="mutual-aid")
    rows = totals(demo_disaster, date(2023, 8, 31), Dimension.DESTINATION, flt).rows
    assert {r.key for r in rows} == {AKITA_CITY, GOJOME}
    assert sum(r.person_days for r in rows) == 2101


def test_founding_case_relief_act(demo_disaster: Disaster) -> None:
    relief = db.session.scalars(
        select(Entry)
        .join(Operation)
        .where(Operation.disaster_id == demo_disaster.id, Operation.code == "relief-act")
    ).all()
    assert min(e.date for e in relief) == date(2023, 10, 2)
    prefecture: dict[date, int] = defaultdict(int)
    municipal: dict[date, int] = defaultdict(int)
    for row in relief:
        assert row.destination.code == GOJOME
        if row.sender.kind == "prefecture":
            assert row.sender.code == AKITA_PREF
            prefecture[row.date] += row.headcount
        else:
            assert row.sender.kind in {"city", "town", "village"}
            municipal[row.date] += row.headcount
    # 県総務部総合防災課職員（1～2人/日）、県内市町村職員（2人/日）
    assert set(prefecture.values()) == {1, 2}
    assert set(municipal) == set(prefecture)
    assert set(municipal.values()) == {2}
    assert len(prefecture) == 21  # working days from 10/2 to 10/31, without the 10/9 holiday
    relief_total = totals(demo_disaster, date(2023, 10, 31), Dimension.OPERATION).rows
    assert ("relief-act", 67) in {(r.key, r.person_days) for r in relief_total}
