"""People and teams (issue 17): entries derived from the roster, 実人数 beside 延べ, and the tally kept exact.

The figures are worked out by hand: 長崎県 → 珠洲市, 16 persons, 第1陣 2024-02-20..02-27 (8 days) and
第2陣 2024-02-25..03-03 (2024 is a leap year: 02-25..02-29 and 03-01..03-03, 8 days): 16 × 8 × 2 = 256.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from flask import current_app
from sqlalchemy import select

from dispatch import tally_check
from dispatch.digest import division_digest, render_division
from dispatch.entries import delete_entry
from dispatch.errors import Refusal
from dispatch.extensions import db
from dispatch.models import Disaster, Entry, Operation
from dispatch.persons import Window, has_roster, with_persons
from dispatch.reports import status_report
from dispatch.roster import (
    PersonFields,
    TeamFields,
    add_person,
    add_team,
    erase_person,
    set_member,
    set_travel_days_count,
)
from dispatch.roster_models import Person, Team
from dispatch.totals import Dimension, headline, totals
from tests import factories
from tests.conftest import statements_sent

NAGASAKI_PREF = "420000"
NAGASAKI_CITY = "422011"
SUZU = "172057"
CHIBA_PREF = "120006"
# 28 municipalities of 千葉県 (the 千葉 figure: 「県職員130人、28市町から99人の計229職員」).
CHIBA_TOWNS = [
    "121002",
    "122025",
    "122033",
    "122041",
    "122050",
    "122068",
    "122076",
    "122084",
    "122106",
    "122114",
    "122122",
    "122131",
    "122157",
    "122165",
    "122173",
    "122181",
    "122190",
    "122203",
    "122211",
    "122220",
    "122238",
    "122246",
    "122254",
    "122262",
    "122271",
    "122289",
    "122297",
    "122301",
]
NOTO = date(2024, 1, 1)


def noto() -> tuple[Disaster, Operation]:
    disaster = factories.disaster("noto-roster", NOTO)
    return disaster, factories.operation(disaster, "counterpart")


def people(disaster: Disaster, count: int, sender: str, kind: str, prefix: str = "職員") -> list[Person]:
    return [
        add_person(
            disaster,
            PersonFields(
                name=f"{prefix}{n}", kana=f"ショクイン{n}", sender=factories.org(sender), staff_kind=kind
            ),
            factories.hq(),
        )
        for n in range(count)
    ]


def team(
    disaster: Disaster, op: Operation, number: int, start: date, end: date, *, travel: bool = True
) -> Team:
    return add_team(
        disaster,
        TeamFields(
            number=number,
            team_type="counterpart",
            operation=op,
            sender=factories.org(NAGASAKI_PREF),
            destination=factories.org(SUZU),
            duty=factories.duty("water_supply"),
            start_date=start,
            end_date=end,
            travel_at_start=travel,
            travel_at_end=travel,
            receiving_section="市災害対策本部",
        ),
        factories.hq(),
    )


def fill(t: Team, members: list[Person]) -> None:
    for person in members:
        set_member(t, person, t.start_date, t.end_date, factories.hq())


def nagasaki_16(disaster: Disaster) -> list[Person]:
    return people(disaster, 8, NAGASAKI_PREF, "prefecture", "県") + people(
        disaster, 8, NAGASAKI_CITY, "municipal", "市"
    )


def two_rotations(same_people: bool) -> tuple[Disaster, Team, Team]:
    disaster, op = noto()
    first_people = nagasaki_16(disaster)
    second_people = first_people if same_people else nagasaki_16(disaster)
    first = team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 27))
    second = team(disaster, op, 2, date(2024, 2, 25), date(2024, 3, 3))
    fill(first, first_people)
    fill(second, second_people)
    return disaster, first, second


def on_duty(disaster: Disaster, day: date) -> int:
    return headline(disaster, day)[1]


def test_two_overlapping_teams_of_16_give_256_person_days_and_32_persons(ctx: None) -> None:
    disaster, _, _ = two_rotations(same_people=False)
    person_days, _ = headline(disaster, date(2024, 3, 3))
    assert person_days == 256
    for day in (date(2024, 2, 25), date(2024, 2, 26), date(2024, 2, 27)):
        assert on_duty(disaster, day) == 32
    for day in (date(2024, 2, 20), date(2024, 2, 24), date(2024, 2, 28), date(2024, 3, 3)):
        assert on_duty(disaster, day) == 16
    table = with_persons(
        disaster, totals(disaster, date(2024, 3, 3), Dimension.SENDER), Window(date(2024, 3, 3))
    )
    assert table.persons == 32
    assert {r.key: (r.person_days, r.persons) for r in table.rows} == {
        NAGASAKI_PREF: (128, 16),
        NAGASAKI_CITY: (128, 16),
    }
    # Every derived entry is marked as the roster's, and the tally agrees with the entries.
    sources = set(db.session.scalars(select(Entry.source)))
    assert sources == {"roster"}
    assert tally_check.check(disaster.id) == []


def test_the_same_16_in_both_rotations_are_16_persons_counted_once_a_day(ctx: None) -> None:
    disaster, _, _ = two_rotations(same_people=True)
    assert on_duty(disaster, date(2024, 2, 26)) == 16
    # 02-20..03-03 is 13 days, each of the 16 on duty once a day.
    assert headline(disaster, date(2024, 3, 3))[0] == 208
    table = with_persons(
        disaster, totals(disaster, date(2024, 3, 3), Dimension.OPERATION), Window(date(2024, 3, 3))
    )
    assert table.persons == 16
    assert table.as_json()["rows"][0]["persons"] == 16
    assert tally_check.check(disaster.id) == []


def test_travel_days_that_do_not_count_leave_the_first_and_last_days_out(ctx: None) -> None:
    disaster, first, _ = two_rotations(same_people=False)
    set_travel_days_count(first.operation, False, factories.hq())
    # Each team loses its two travel days: 16 × 6 × 2.
    assert headline(disaster, date(2024, 3, 3))[0] == 192
    assert on_duty(disaster, date(2024, 2, 20)) == 0
    assert on_duty(disaster, date(2024, 2, 25)) == 16  # 第2陣 travels in
    assert on_duty(disaster, date(2024, 2, 26)) == 32
    assert tally_check.check(disaster.id) == []


def test_a_members_dates_change_the_derived_entries(ctx: None) -> None:
    disaster, first, _ = two_rotations(same_people=False)
    stint = first.stints[0]
    set_member(first, stint.person, date(2024, 2, 22), date(2024, 2, 27), factories.hq())  # joins late
    assert on_duty(disaster, date(2024, 2, 20)) == 15
    assert headline(disaster, date(2024, 3, 3))[0] == 254
    set_member(first, stint.person, date(2024, 2, 20), date(2024, 2, 27), factories.hq())
    assert headline(disaster, date(2024, 3, 3))[0] == 256
    assert tally_check.check(disaster.id) == []


def test_a_roster_entry_is_changed_through_the_roster_only(ctx: None) -> None:
    disaster, _, _ = two_rotations(same_people=False)
    entry = db.session.scalars(select(Entry)).first()
    assert entry is not None
    with pytest.raises(Refusal, match="名簿"):
        delete_entry(entry, factories.hq())


def test_a_typed_entry_on_a_roster_key_is_taken_over(ctx: None) -> None:
    disaster, op = noto()
    factories.entry(
        date(2024, 2, 20), 3, op=op, sender=NAGASAKI_PREF, destination=SUZU, duty_code="water_supply"
    )
    staff = people(disaster, 5, NAGASAKI_PREF, "prefecture")
    fill(team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 21)), staff)
    [taken] = db.session.scalars(select(Entry).where(Entry.date == date(2024, 2, 20)))
    assert (taken.headcount, taken.source) == (5, "roster")
    assert headline(disaster, date(2024, 2, 21))[0] == 10
    assert tally_check.check(disaster.id) == []


def _two_from_nagasaki_for_two_days() -> tuple[Disaster, Operation]:
    """Two of 長崎県's staff on a team from 2024-02-20 to 02-21: 4 person-days, all the roster's."""
    disaster, op = noto()
    fill(
        team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 21)),
        people(disaster, 2, NAGASAKI_PREF, "prefecture"),
    )
    return disaster, op


def test_persons_are_null_where_typed_entries_share_the_figure(ctx: None) -> None:
    disaster, op = _two_from_nagasaki_for_two_days()
    factories.entry(date(2024, 2, 20), 4, op=op, sender=CHIBA_PREF, destination=SUZU)
    table = with_persons(
        disaster, totals(disaster, date(2024, 2, 21), Dimension.SENDER), Window(date(2024, 2, 21))
    )
    assert table.persons is None  # 4 typed person-days have no names
    assert {r.key: r.persons for r in table.rows} == {NAGASAKI_PREF: 2, CHIBA_PREF: None}


def test_no_distinct_count_is_asked_when_typed_entries_share_every_row(ctx: None) -> None:
    disaster, op = _two_from_nagasaki_for_two_days()
    # Typed for the same sender the day before the team: the row's person-days are no longer all the roster's.
    factories.entry(date(2024, 2, 19), 4, op=op, sender=NAGASAKI_PREF, destination=SUZU)
    table = totals(disaster, date(2024, 2, 21), Dimension.SENDER)
    with statements_sent() as sent:
        table = with_persons(disaster, table, Window(date(2024, 2, 21)))
    assert {r.key: r.persons for r in table.rows} == {NAGASAKI_PREF: None}
    assert table.persons is None
    assert not [s for s in sent if "count(distinct" in s.lower()], sent


def test_130_prefecture_staff_and_99_from_28_municipalities_are_229_persons(ctx: None) -> None:
    disaster, op = noto()
    staff = people(disaster, 130, CHIBA_PREF, "prefecture")
    for n in range(99):
        staff += people(disaster, 1, CHIBA_TOWNS[n % 28], "municipal", f"町{n}-")
    t = add_team(
        disaster,
        TeamFields(
            number=1, team_type="shelter", operation=op, sender=factories.org(CHIBA_PREF),
            destination=factories.org(SUZU), duty=factories.duty("water_supply"),
            start_date=date(2024, 1, 10), end_date=date(2024, 1, 14),
        ),
        factories.hq(),
    )  # fmt: skip
    fill(t, staff)
    as_of = date(2024, 1, 31)
    assert headline(disaster, as_of)[0] == 229 * 5
    window = Window(as_of)
    kinds = with_persons(disaster, totals(disaster, as_of, Dimension.SENDER_KIND), window)
    assert kinds.persons == 229
    assert sorted(r.persons for r in kinds.rows if r.persons is not None) == [99, 130]
    assert len(totals(disaster, as_of, Dimension.SENDER).rows) == 29
    # The report, from 千葉県's side: 「実人数229人（県職員130人、市町職員99人）、延べ…人」 (移動日 not marked).
    current_app.config["OWN_ORGANISATION"] = CHIBA_PREF
    text = status_report(disaster, as_of, closed=False).text()
    assert (
        "実績：1月31日までに実人数229人（県職員130人、市町村職員99人）、延べ1,145人（県職員650人、市町村職員495人）"
        in text
    )
    assert "（移動日を含む）" not in text


def test_the_report_says_travel_days_are_counted(ctx: None) -> None:
    disaster, _, _ = two_rotations(same_people=False)
    current_app.config["OWN_ORGANISATION"] = NAGASAKI_PREF
    text = status_report(disaster, date(2024, 3, 3), closed=False).text()
    assert "派遣期間：令和6年2月20日から（継続中）（移動日を含む）" in text
    assert "実人数32人（県職員16人、市町職員16人）、延べ256人（県職員128人、市町職員128人）" in text


def test_erasing_a_person_keeps_the_numbers(ctx: None) -> None:
    disaster, first, _ = two_rotations(same_people=False)
    person = first.stints[0].person
    with pytest.raises(Refusal):
        erase_person(person, factories.hq())
    erase_person(person, factories.admin())
    assert person.name == "（消去済み）" and person.contact == ""
    assert headline(disaster, date(2024, 3, 3))[0] == 256
    table = with_persons(
        disaster, totals(disaster, date(2024, 3, 3), Dimension.OPERATION), Window(date(2024, 3, 3))
    )
    assert table.persons == 32


def test_a_disaster_without_people_has_no_persons(ctx: None) -> None:
    disaster, op = noto()
    factories.entry(date(2024, 2, 20), 4, op=op, sender=CHIBA_PREF, destination=SUZU)
    assert not has_roster(disaster.id)
    table = with_persons(
        disaster, totals(disaster, date(2024, 2, 21), Dimension.SENDER), Window(date(2024, 2, 21))
    )
    assert table.persons is None
    assert table.as_json()["rows"][0]["persons"] is None


def test_a_member_outside_the_team_period_is_refused(ctx: None) -> None:
    disaster, op = noto()
    t = team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 27))
    [person] = people(disaster, 1, NAGASAKI_PREF, "prefecture")
    with pytest.raises(Refusal, match="班の期間"):
        set_member(t, person, date(2024, 2, 19), date(2024, 2, 27), factories.hq())
    assert t.start_date + timedelta(days=7) == t.end_date


def test_the_divisions_digest_gives_persons_and_teams_ending_with_no_successor(ctx: None) -> None:
    disaster, _, _ = two_rotations(same_people=False)
    # The digest dated 3/1 speaks of 2/29, and 第2陣 ends on 3/3, within 3 days, with no 第3陣.
    digest = division_digest(date(2024, 3, 1), since=datetime(2024, 2, 29, tzinfo=UTC), include_empty=True)
    assert digest is not None
    body = render_division(digest).body
    assert "実人数32人、延べ208人" in body  # through 2/29: 第1陣 16 × 8 = 128, 第2陣 16 × 5 (2/25–2/29) = 80
    assert "交代の班が登録されていない班（3日以内に終了）:" in body
    assert "・長崎県 第2陣 → 珠洲市（給水業務）令和6年3月3日まで" in body


def test_a_disaster_without_people_costs_one_query(ctx: None) -> None:
    from sqlalchemy import event

    disaster, op = noto()
    factories.entry(date(2024, 2, 20), 4, op=op, sender=CHIBA_PREF, destination=SUZU)
    table = totals(disaster, date(2024, 2, 21), Dimension.SENDER)
    statements: list[str] = []
    engine = db.engine

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert with_persons(disaster, table, Window(date(2024, 2, 21))) is table
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1 and "team" in statements[0]
