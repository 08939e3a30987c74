"""The roster's pages, exports and import (issue 17): who may read whose people, by every route.

Two bodies' teams: 長崎県 → 珠洲市 (staff of 長崎県 and 長崎市) and 千葉県 → 輪島市 (staff of 千葉県). A user of
長崎市 sees the people 長崎市 sent; a user of 珠洲市 the people sent to it; neither ever sees 千葉県's people.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook
from sqlalchemy import func, select

from dispatch.extensions import db
from dispatch.models import Entry, Role
from dispatch.roster_models import Person, Stint, Team
from tests import factories
from tests.test_roster import NAGASAKI_CITY, NAGASAKI_PREF, SUZU, fill, people, team

CHIBA_PREF = "120006"
WAJIMA = "172049"
SLUG = "noto-roster"
BASE = f"/disasters/{SLUG}"
DAY = "2024-02-21"


@pytest.fixture
def roster(app: Flask) -> dict[str, int]:
    with app.app_context():
        disaster = factories.disaster(SLUG, date(2024, 1, 1))
        op = factories.operation(disaster, "counterpart")
        nagasaki = team(disaster, op, 1, date(2024, 2, 20), date(2024, 2, 27))
        fill(nagasaki, people(disaster, 2, NAGASAKI_PREF, "prefecture", "長崎県職員") + people(
            disaster, 2, NAGASAKI_CITY, "municipal", "長崎市職員"))  # fmt: skip
        from dispatch.roster import TeamFields, add_team

        chiba = add_team(
            disaster,
            TeamFields(
                number=1, team_type="shelter", operation=op, sender=factories.org(CHIBA_PREF),
                destination=factories.org(WAJIMA), duty=factories.duty("water_supply"),
                start_date=date(2024, 2, 20), end_date=date(2024, 2, 22),
            ),
            factories.hq(),
        )  # fmt: skip
        chiba_people = people(disaster, 3, CHIBA_PREF, "prefecture", "千葉県職員")
        fill(chiba, chiba_people)
        db.session.commit()
        return {"nagasaki": nagasaki.id, "chiba": chiba.id, "chiba_person": chiba_people[0].id}


def urls(ids: dict[str, int]) -> list[str]:
    """Every GET route of the roster that could show a person, with 千葉県's objects where one is named."""
    return [
        f"{BASE}/people",
        f"{BASE}/people?q=千葉",
        f"{BASE}/people/{ids['chiba_person']}",
        f"{BASE}/teams",
        f"{BASE}/teams/{ids['chiba']}",
        f"{BASE}/field?date={DAY}",
        f"{BASE}/rotation",
        f"{BASE}/roster.csv?kind=receiving&org={WAJIMA}&date={DAY}",
        f"{BASE}/roster.xlsx?kind=receiving&org={WAJIMA}&date={DAY}",
        f"{BASE}/roster.csv?kind=sending&org={CHIBA_PREF}&date={DAY}",
        f"{BASE}/roster.csv?kind=receiving&org={SUZU}&team={ids['chiba']}",
        f"{BASE}/totals.json?as_of=2024-02-29&by=sender",
        f"{BASE}/totals?as_of=2024-02-29",
        f"{BASE}/",
    ]


@pytest.mark.parametrize("org", [NAGASAKI_CITY, SUZU])
def test_a_municipality_never_reads_another_bodys_people(
    client_as: Callable[..., FlaskClient], roster: dict[str, int], org: str
) -> None:
    user = client_as(Role.MUNICIPALITY, f"m{org}", org)
    for url in urls(roster):
        response = user.get(url)
        body = response.get_data()
        if url.endswith(".xlsx?kind=receiving&org=" + WAJIMA + "&date=" + DAY):
            assert response.status_code == 404, url
            continue
        assert "千葉県職員".encode() not in body, url
        assert response.status_code in (200, 403, 404), url
    # What it may see, it sees: the field page lists its own or received people.
    field = user.get(f"{BASE}/field?date={DAY}").get_data(as_text=True)
    assert "長崎市職員0" in field
    assert ("長崎県職員0" in field) is (org == SUZU)


def test_a_reviewer_sees_counts_not_names(
    client_as: Callable[..., FlaskClient], roster: dict[str, int]
) -> None:
    reviewer = client_as(Role.REVIEWER)
    page = reviewer.get(f"{BASE}/people").get_data(as_text=True)
    assert "千葉県" in page and "千葉県職員0" not in page
    assert 'data-testid="people-count">登録 <strong>7</strong>人' in page
    assert "長崎県職員" not in reviewer.get(f"{BASE}/field?date={DAY}").get_data(as_text=True)
    assert reviewer.get(f"{BASE}/people/{roster['chiba_person']}").status_code == 403
    assert reviewer.get(f"{BASE}/roster.csv?kind=receiving&org={SUZU}").status_code == 403


def test_hq_sees_the_field_with_contacts_and_every_read_is_logged(
    client_as: Callable[..., FlaskClient], roster: dict[str, int], caplog: pytest.LogCaptureFixture
) -> None:
    hq = client_as(Role.HQ)
    with caplog.at_level(logging.INFO, logger="dispatch.personal_data"):
        page = hq.get(f"{BASE}/field?date={DAY}").get_data(as_text=True)
        hq.get(f"{BASE}/people/{roster['chiba_person']}")
    assert 'data-testid="field-count">令和6年2月21日: <strong>7</strong>人' in page
    assert "連絡先" in page and "千葉県職員0" in page
    lines = [r.getMessage() for r in caplog.records if r.name == "dispatch.personal_data"]
    assert any("what=field:2024-02-21 persons=7" in line for line in lines)
    assert any(f"what=person:{roster['chiba_person']} persons=1" in line for line in lines)


def test_the_rotation_calendar_shows_overlaps_and_gaps(
    app: Flask, client_as: Callable[..., FlaskClient], roster: dict[str, int]
) -> None:
    with app.app_context():
        disaster = factories.disaster(SLUG)
        op = factories.operation(disaster, "counterpart")
        team(disaster, op, 2, date(2024, 2, 26), date(2024, 3, 3))  # overlaps 第1陣 on 2/26–2/27
        team(disaster, op, 3, date(2024, 3, 6), date(2024, 3, 10))  # 3/4–3/5 uncovered
        db.session.commit()
    page = client_as(Role.HQ).get(f"{BASE}/rotation").get_data(as_text=True)
    assert "（重なりあり）" in page
    assert "班のいない日: 令和6年3月4日〜令和6年3月5日" in page


def test_lists_for_the_receiving_body_are_marked_personal_data(
    client_as: Callable[..., FlaskClient], roster: dict[str, int]
) -> None:
    suzu = client_as(Role.MUNICIPALITY, "suzu", SUZU)
    csv = suzu.get(f"{BASE}/roster.csv?kind=receiving&org={SUZU}&date={DAY}")
    assert csv.status_code == 200
    assert (
        "%E3%80%90%E5%80%8B%E4%BA%BA%E6%83%85%E5%A0%B1%E3%80%91" in csv.headers["Content-Disposition"]
    )  # 【個人情報】
    lines = csv.get_data().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("【個人情報】受入名簿 珠洲市") and lines[0].endswith("（4人）")
    assert lines[1].startswith("番号,氏名,氏名カナ,派遣元")
    assert len(lines) == 2 + 4
    xlsx = suzu.get(f"{BASE}/roster.xlsx?kind=receiving&org={SUZU}&team={roster['nagasaki']}")
    sheet = load_workbook(io.BytesIO(xlsx.get_data())).active
    assert sheet is not None
    assert str(sheet["A1"].value).startswith("【個人情報】受入名簿 珠洲市 第1陣")
    assert sheet.max_row == 2 + 4


def test_the_dashboard_shows_persons_and_warns_of_a_team_ending_with_no_successor(
    client_as: Callable[..., FlaskClient], roster: dict[str, int]
) -> None:
    page = client_as(Role.HQ).get(f"{BASE}/?as_of=2024-02-25").get_data(as_text=True)
    assert 'data-testid="headline-persons">7<' in page
    assert 'data-testid="teams-ending"' in page and "長崎県 第1陣 → 珠洲市" in page


def test_a_page_for_each_roster_form_works(
    client_as: Callable[..., FlaskClient], roster: dict[str, int], app: Flask
) -> None:
    hq = client_as(Role.HQ)
    for url in (f"{BASE}/people/new", f"{BASE}/teams/new", f"{BASE}/teams/{roster['nagasaki']}/edit",
                f"{BASE}/people/{roster['chiba_person']}/edit", f"{BASE}/roster/import"):  # fmt: skip
        assert hq.get(url).status_code == 200, url
    refused = hq.post(f"{BASE}/people/new", data={"name": "", "sender": "", "staff_kind": "prefecture"})
    assert refused.status_code == 422
    assert "氏名を入力してください。" in refused.get_data(as_text=True)
    made = hq.post(
        f"{BASE}/people/new",
        data={"name": "新 人", "kana": "アラタ ヒト", "sender": NAGASAKI_PREF, "staff_kind": "prefecture"},
    )
    assert made.status_code == 302
    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.name == "新 人"))
        assert person is not None
        person_id = person.id
    joined = hq.post(
        f"{BASE}/teams/{roster['nagasaki']}/members",
        data={"person": str(person_id), "start_date": "2024-02-26", "end_date": "2024-02-27"},
    )
    assert joined.status_code == 302
    with app.app_context():
        day = db.session.scalar(
            select(func.sum(Entry.headcount)).where(Entry.date == date(2024, 2, 26), Entry.source == "roster")
        )
        assert day == 5  # 長崎県 2 + 1 new, 長崎市 2
    template = hq.get(f"{BASE}/roster/template.csv").get_data().decode("utf-8-sig")
    assert template.splitlines()[0].startswith(
        "班,氏名,氏名カナ,派遣元,所属,職種,職名,職員区分,派遣区分,派遣先,業務,開始日,終了日"
    )


ROSTER_CSV = """班,氏名,氏名カナ,派遣元,所属,職種,職名,職員区分,派遣区分,派遣先,業務,開始日,終了日
第1陣,佐藤 一,サトウ ハジメ,長崎県,危機管理課,一般事務,主査,県職員,counterpart,珠洲市,給水業務,2024-03-01,2024-03-05
第1陣,鈴木 二,スズキ ジ,長崎市,,土木,,市町村職員,counterpart,珠洲市,給水業務,2024-03-01,2024-03-03
第2陣,佐藤 一,サトウ ハジメ,長崎県,危機管理課,一般事務,主査,県職員,counterpart,珠洲市,給水業務,2024-03-05,2024-03-08
"""


def test_import_roster_writes_people_teams_and_entries(
    runner: FlaskCliRunner, app: Flask, tmp_path: object
) -> None:
    with app.app_context():
        factories.operation(factories.disaster("noto-import", date(2024, 1, 1)), "counterpart")
        db.session.commit()
    path = tmp_path / "roster.csv"  # type: ignore[operator]
    path.write_text(ROSTER_CSV, encoding="utf-8")
    result = runner.invoke(args=["import-roster", "noto-import", str(path)])
    assert result.exit_code == 0, result.output
    assert "3 rows: 2 new people, 2 new teams" in result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Person)) == 2
        assert db.session.scalar(select(func.count()).select_from(Team)) == 2
        assert db.session.scalar(select(func.count()).select_from(Stint)) == 3
        # 佐藤 5 + 4 days, but 3/5 once (both teams), 鈴木 3 days: 8 + 3 = 11.
        assert db.session.scalar(select(func.sum(Entry.headcount))) == 11
    json_out = runner.invoke(args=["totals", "noto-import", "--as-of", "2024-03-31", "--format", "json"])
    assert '"persons": 2' in json_out.output and '"person_days": 11' in json_out.output


def test_import_roster_names_every_bad_line_and_writes_nothing(
    runner: FlaskCliRunner, app: Flask, tmp_path: object
) -> None:
    with app.app_context():
        factories.operation(factories.disaster("noto-import", date(2024, 1, 1)), "counterpart")
        db.session.commit()
    bad = ROSTER_CSV + "第1陣,,,長崎県,,,,県職員,counterpart,珠洲市,給水業務,2024-03-01,2024-03-02\n"
    bad += "第x陣,山田,ヤマダ,どこか,,,,職員,counterpart,珠洲市,給水業務,2024-03-09,2024-03-01\n"
    path = tmp_path / "bad.csv"  # type: ignore[operator]
    path.write_text(bad, encoding="utf-8")
    result = runner.invoke(args=["import-roster", "noto-import", str(path)])
    assert result.exit_code == 1
    assert "bad.csv:5行目: 氏名が空です" in result.output
    for problem in (
        "6行目: 班「第x陣」",
        "6行目: 派遣元「どこか」",
        "6行目: 職員区分「職員」",
        "6行目: 終了日が開始日より前です",
    ):
        assert problem in result.output, problem
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Person)) == 0
        assert db.session.scalar(select(func.count()).select_from(Entry)) == 0


def test_the_import_page_writes_all_rows_or_names_every_bad_line(
    client_as: Callable[..., FlaskClient], app: Flask
) -> None:
    with app.app_context():
        factories.operation(factories.disaster("noto-import", date(2024, 1, 1)), "counterpart")
        db.session.commit()
    hq = client_as(Role.HQ)
    url = "/disasters/noto-import/roster/import"
    bad = ROSTER_CSV + "第1陣,,,長崎県,,,,県職員,counterpart,珠洲市,給水業務,2024-03-01,2024-03-02\n"
    refused = hq.post(url, data={"file": (io.BytesIO(bad.encode()), "bad.csv"), "encoding": "auto"})
    assert refused.status_code == 422
    assert "5行目: 氏名が空です" in refused.get_data(as_text=True)
    done = hq.post(url, data={"file": (io.BytesIO(ROSTER_CSV.encode()), "roster.csv"), "encoding": "auto"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.sum(Entry.headcount))) == 11


def test_removing_erasing_and_travel_days_through_the_pages(
    client_as: Callable[..., FlaskClient], roster: dict[str, int], app: Flask
) -> None:
    admin = client_as(Role.ADMIN)
    person = roster["chiba_person"]
    assert admin.post(f"{BASE}/people/{person}/remove", data={"reason": "名簿の誤り"}).status_code == 302
    assert "千葉県職員0" not in admin.get(f"{BASE}/people").get_data(as_text=True)
    assert admin.post(f"{BASE}/people/{person}/erase", data={"reason": "保存期間の満了"}).status_code == 302
    with app.app_context():
        erased = db.session.get(Person, person)
        assert erased is not None and erased.name == "（消去済み）" and erased.erased_at is not None
        op_id = factories.operation(factories.disaster(SLUG), "counterpart").id
        before = db.session.scalar(select(func.sum(Entry.headcount)))
    # 長崎県 第1陣 marks both its travel days; 千葉県's team marks none. 4 members × 2 days fewer.
    assert admin.post(f"{BASE}/operations/{op_id}/travel-days", data={"counts": "0"}).status_code == 302
    with app.app_context():
        assert db.session.scalar(select(func.sum(Entry.headcount))) == before - 8
