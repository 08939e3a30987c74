"""Totals for an interval (a month, a fiscal year, any from–to) and weekday-only periods.

The figures are the founding case's (549 entries, 延べ2,319人, 2023-07-16 to 2023-10-31), summed by hand
once from the entries per month and operation:

| month   | mutual-aid | water-supply | recovery-support | relief-act | total |
|---------|-----------:|-------------:|-----------------:|-----------:|------:|
| 2023-07 |        491 |          105 |                  |            |   596 |
| 2023-08 |      1,610 |              |               26 |            | 1,636 |
| 2023-09 |            |              |               20 |            |    20 |
| 2023-10 |            |              |                  |         67 |    67 |
| total   |      2,101 |          105 |               46 |         67 | 2,319 |

and 2023-08-10 to 2023-08-20: 延べ730人.
"""

from __future__ import annotations

import io
import json
from datetime import date

from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from openpyxl import load_workbook

from dispatch.days_off import day_off
from dispatch.entries import period_dates, skipped_days
from dispatch.errors import Refusal
from dispatch.intervals import (
    Interval,
    fiscal_year_interval,
    interval_headline,
    interval_totals,
    month_interval,
    monthly_totals,
)
from dispatch.models import Disaster, Entry
from dispatch.totals import Dimension, totals
from tests.factories import BASE, SLUG, entry_form
from tests.reading import counts, csv_rows, facts, plain

DEMO = (549, 2319)
MONTHS = {
    (2023, 7): {"mutual-aid": 491, "water-supply": 105},
    (2023, 8): {"mutual-aid": 1610, "recovery-support": 26},
    (2023, 9): {"recovery-support": 20},
    (2023, 10): {"relief-act": 67},
}
MONTH_TOTALS = {(2023, 7): 596, (2023, 8): 1636, (2023, 9): 20, (2023, 10): 67}


def by_operation(disaster: Disaster, interval: Interval) -> dict[str, int]:
    return {row.key: row.person_days for row in interval_totals(disaster, interval, Dimension.OPERATION).rows}


# --- totals for an interval ----------------------------------------------------------------------------


def test_each_month_by_operation_as_summed_by_hand(demo_disaster: Disaster) -> None:
    for (year, month), expected in MONTHS.items():
        interval = month_interval(year, month)
        assert by_operation(demo_disaster, interval) == expected
        assert interval_headline(demo_disaster, interval)[0] == MONTH_TOTALS[(year, month)]
    assert sum(MONTH_TOTALS.values()) == 596 + 1636 + 20 + 67 == 2319


def test_fiscal_year_2023_equals_the_sum_of_its_months(demo_disaster: Disaster) -> None:
    fy = fiscal_year_interval(2023)
    assert fy == Interval(date(2023, 4, 1), date(2024, 3, 31))
    whole = interval_totals(demo_disaster, fy, Dimension.OPERATION)
    assert whole.person_days == 2319
    months = [interval_totals(demo_disaster, m, Dimension.OPERATION).person_days for m in fy.months()]
    assert len(months) == 12
    assert months == [0, 0, 0, 596, 1636, 20, 67, 0, 0, 0, 0, 0]
    assert sum(months) == whole.person_days
    table = monthly_totals(demo_disaster, fy, Dimension.OPERATION)
    assert [table.month_total(i) for i in range(12)] == months
    assert {key: table.row_total(key) for key, _ in table.rows} == {
        "mutual-aid": 2101,
        "water-supply": 105,
        "recovery-support": 46,
        "relief-act": 67,
    }
    assert interval_headline(demo_disaster, fiscal_year_interval(2022))[0] == 0


def test_an_interval_is_the_difference_of_two_as_of_totals(demo_disaster: Disaster) -> None:
    interval = Interval(date(2023, 8, 10), date(2023, 8, 20))
    got = interval_totals(demo_disaster, interval, Dimension.OPERATION).person_days
    through_end = totals(demo_disaster, date(2023, 8, 20), Dimension.OPERATION).person_days
    through_before = totals(demo_disaster, date(2023, 8, 9), Dimension.OPERATION).person_days
    assert got == through_end - through_before == 730
    for by in (Dimension.DESTINATION, Dimension.SENDER, Dimension.DUTY, Dimension.SENDER_KIND):
        assert interval_totals(demo_disaster, interval, by).person_days == 730


def test_sender_kinds_split_each_month_exactly(demo_disaster: Disaster) -> None:
    fy = fiscal_year_interval(2023)
    table = monthly_totals(demo_disaster, fy, Dimension.SENDER_KIND)
    assert [table.month_total(i) for i in range(12)] == [0, 0, 0, 596, 1636, 20, 67, 0, 0, 0, 0, 0]
    assert sum(table.row_total(key) for key, _ in table.rows) == 2319


def test_interval_label_is_in_wareki() -> None:
    assert month_interval(2023, 9).label() == "令和5年9月1日から30日まで"
    assert fiscal_year_interval(2023).label() == "令和5年4月1日から令和6年3月31日まで"
    assert month_interval(2023, 12).end == date(2023, 12, 31)
    assert [m.start.month for m in Interval(date(2023, 11, 15), date(2024, 2, 3)).months()] == [11, 12, 1, 2]


def test_cli_totals_from_to(runner: FlaskCliRunner, demo: None) -> None:
    result = runner.invoke(
        args=["totals", SLUG, "--from", "2023-08-01", "--to", "2023-08-31", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["from"], data["to"], data["person_days"]) == ("2023-08-01", "2023-08-31", 1636)
    assert {r["key"]: r["person_days"] for r in data["rows"]} == MONTHS[(2023, 8)]

    table = runner.invoke(args=["totals", SLUG, "--from", "令和5年4月1日", "--to", "2024-03-31"])
    assert table.exit_code == 0, table.output
    assert "令和5年4月1日から令和6年3月31日まで（2023-04-01〜2024-03-31）" in table.output
    assert "延べ人数 2,319人" in table.output


def test_cli_refuses_a_reversed_or_half_interval(runner: FlaskCliRunner, demo: None) -> None:
    reversed_ = runner.invoke(args=["totals", SLUG, "--from", "2023-08-31", "--to", "2023-08-01"])
    assert reversed_.exit_code == 2
    assert "終了日（令和5年8月1日）が開始日（令和5年8月31日）より前です。" in reversed_.output
    half = runner.invoke(args=["totals", SLUG, "--from", "2023-08-01"])
    assert half.exit_code == 2 and "--from と --to は両方指定してください。" in half.output
    both = runner.invoke(
        args=["totals", SLUG, "--as-of", "2023-08-01", "--from", "2023-08-01", "--to", "2023-08-02"]
    )
    assert both.exit_code == 2 and "同時に指定できません" in both.output


def test_totals_json_for_an_interval(client: FlaskClient, demo: None) -> None:
    data = client.get(f"{BASE}/totals.json?from=2023-07-01&to=2023-07-31").get_json()
    assert (data["from"], data["to"], data["person_days"]) == ("2023-07-01", "2023-07-31", 596)
    assert {r["key"]: r["person_days"] for r in data["rows"]} == MONTHS[(2023, 7)]
    kinds = client.get(f"{BASE}/totals.json?from=2023-08-10&to=2023-08-20&by=sender_kind").get_json()
    assert kinds["person_days"] == 730
    assert sum(r["person_days"] for r in kinds["rows"]) == 730
    assert client.get(f"{BASE}/totals.json?fy=2023").get_json()["person_days"] == 2319
    assert client.get(f"{BASE}/totals.json?month=2023-10").get_json()["person_days"] == 67


def test_totals_json_refuses_a_reversed_range_in_japanese(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.json?from=2023-08-31&to=2023-08-01")
    assert response.status_code == 400
    assert response.get_json()["error"] == (
        "終了日（令和5年8月1日）が開始日（令和5年8月31日）より前です。開始日以降の日付を指定してください。"
    )
    half = client.get(f"{BASE}/totals.json?from=2023-08-01")
    assert half.status_code == 400 and "両方" in half.get_json()["error"]
    assert client.get(f"{BASE}/totals.json?month=2023-13").status_code == 400


def test_totals_page_states_the_interval_in_wareki(client: FlaskClient, demo: None) -> None:
    page = client.get(f"{BASE}/totals?month=2023-09")
    assert page.status_code == 200
    text = plain(page.text)
    assert "令和5年9月1日から30日まで（2023-09-01〜2023-09-30）" in text
    assert "期間の延べ人数 20人" in text
    fy = plain(client.get(f"{BASE}/totals?fy=2023").text)
    assert "令和5年度（令和5年4月1日から令和6年3月31日まで）" in fy
    assert "期間の延べ人数 2,319人" in fy
    custom = plain(client.get(f"{BASE}/totals?from=2023-08-10&to=2023-08-20").text)
    assert "令和5年8月10日から20日まで" in custom and "期間の延べ人数 730人" in custom
    # The as-of page offers the selector.
    assert 'name="month"' in client.get(f"{BASE}/totals?as_of=2023-10-31").text
    bad = client.get(f"{BASE}/totals?from=2023-08-31&to=2023-08-01")
    assert bad.status_code == 400 and "より前です" in plain(bad.text)


def test_a_municipality_sees_its_own_entries_only_in_an_interval(oga: FlaskClient) -> None:
    """男鹿市 only ever received water-supply crews: 延べ20人, all in July 2023."""
    everything = oga.get(f"{BASE}/totals.json?as_of=2023-10-31").get_json()["person_days"]
    assert everything == 20
    july = oga.get(f"{BASE}/totals.json?month=2023-07").get_json()
    assert july["person_days"] == everything
    assert [r["key"] for r in july["rows"]] == ["water-supply"]
    assert oga.get(f"{BASE}/totals.json?from=2023-08-01&to=2023-10-31").get_json()["person_days"] == 0
    rows = csv_rows(oga.get(f"{BASE}/monthly.csv?fy=2023").data)
    total = next(row for row in rows if row[:2] == ["派遣区分", "計"])
    assert int(total[-1]) == everything


def test_monthly_csv_per_operation_and_sender_kind(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/monthly.csv?fy=2023")
    assert response.status_code == 200
    rows = csv_rows(response.data)
    months = [f"2023-{m:02d}" for m in range(4, 13)] + ["2024-01", "2024-02", "2024-03"]
    assert rows[0] == ["集計区分", "コード", "名称", *months, "期間計"]
    operations = {row[1]: [int(v) for v in row[3:]] for row in rows[1:] if row[0] == "派遣区分"}
    assert operations["mutual-aid"] == [0, 0, 0, 491, 1610, 0, 0, 0, 0, 0, 0, 0, 2101]
    assert operations["water-supply"][3] == 105 and operations["water-supply"][-1] == 105
    assert operations["recovery-support"][4:6] == [26, 20]
    assert operations["relief-act"][6] == 67
    assert operations["計"] == [0, 0, 0, 596, 1636, 20, 67, 0, 0, 0, 0, 0, 2319]
    kinds = {row[1]: [int(v) for v in row[3:]] for row in rows[1:] if row[0] == "派遣元の区分"}
    assert kinds["計"] == operations["計"]


def test_monthly_xlsx(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/monthly.xlsx?from=2023-07-16&to=2023-10-31")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    assert sheet is not None
    values = list(sheet.iter_rows(values_only=True))
    assert "令和5年7月16日から10月31日まで" in str(values[0][0])
    assert values[1] == ("集計区分", "コード", "名称", "2023-07", "2023-08", "2023-09", "2023-10", "期間計")
    total = next(row for row in values[2:] if row[0] == "派遣区分" and row[1] == "計")
    assert total[3:] == (596, 1636, 20, 67, 2319)


def test_monthly_export_needs_an_interval(client: FlaskClient, demo: None) -> None:
    assert client.get(f"{BASE}/monthly.csv").status_code == 400


# --- weekday-only periods ------------------------------------------------------------------------------

# 2023-09-15 (Fri) to 2023-09-25 (Mon): 16 Sat, 17 Sun, 18 敬老の日, 23 秋分の日 (a Saturday), 24 Sun.
WEEKDAYS = [date(2023, 9, d) for d in (15, 19, 20, 21, 22, 25)]
SKIPPED = [
    (date(2023, 9, 16), "土曜日"),
    (date(2023, 9, 17), "日曜日"),
    (date(2023, 9, 18), "敬老の日"),
    (date(2023, 9, 23), "秋分の日"),
    (date(2023, 9, 24), "日曜日"),
]


def test_weekday_only_dates_skip_weekends_and_national_holidays() -> None:
    start, end = date(2023, 9, 15), date(2023, 9, 25)
    assert period_dates(start, end, skip_holidays=True) == WEEKDAYS
    assert skipped_days(start, end) == SKIPPED
    assert len(period_dates(start, end)) == 11
    assert day_off(date(2024, 2, 12)) == "建国記念の日 振替休日"  # 建国記念の日 fell on a Sunday
    assert day_off(date(2023, 9, 19)) is None


def test_a_period_of_days_off_only_is_refused() -> None:
    try:
        period_dates(date(2023, 9, 16), date(2023, 9, 18), skip_holidays=True)
    except Refusal as refusal:
        assert "すべて土日祝日" in str(refusal)
    else:
        raise AssertionError("a period of days off only was accepted")


def weekday_form(**changes: str) -> dict[str, str]:
    form = entry_form(
        operation="recovery-support",
        sender_unit="応援テスト班",
        headcount="3",
        date_from="2023-09-15",
        date_to="2023-09-25",
        skip_holidays="y",
        confirmed="",
    )
    del form["date"]
    form.update(changes)
    return form


def test_weekday_only_period_previews_skipped_days_and_writes_exactly_the_weekdays(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = weekday_form()
    preview = client.post(f"{BASE}/entries/period", data=form)
    assert preview.status_code == 200, plain(preview.text)
    text = plain(preview.text)
    assert "土日祝日を除く 5日（登録しません）:" in text
    for shown in (
        "令和5年9月16日（土曜日）",
        "令和5年9月17日（日曜日）",
        "令和5年9月18日（敬老の日）",
        "令和5年9月23日（秋分の日）",
        "令和5年9月24日（日曜日）",
    ):
        assert shown in text
    assert "登録する日 6日、延べ18人" in text
    assert "（土日祝日を除く） 6日分、延べ18人を登録します。" in text
    assert counts(app) == DEMO

    token = preview.text.split('name="confirmed" type="hidden" value="')[1].split('"')[0]
    saved = client.post(f"{BASE}/entries/period", data={**form, "confirmed": token, "save": "1"})
    assert saved.status_code == 302
    assert counts(app) == (549 + 6, 2319 + 18)
    with app.app_context():
        written = [fact[0] for fact in facts(Entry.sender_unit == "応援テスト班")]
    assert written == WEEKDAYS


def test_period_without_the_option_still_writes_every_day(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = weekday_form()
    del form["skip_holidays"]
    preview = client.post(f"{BASE}/entries/period", data=form)
    assert preview.status_code == 200
    assert "11日分、延べ33人" in plain(preview.text)
    assert "土日祝日を除く 5日" not in plain(preview.text)


def test_period_page_refuses_days_off_only(app: Flask, client: FlaskClient, demo: None) -> None:
    response = client.post(
        f"{BASE}/entries/period", data=weekday_form(date_from="2023-09-16", date_to="2023-09-18")
    )
    assert response.status_code == 422
    assert "期間内の日がすべて土日祝日です。" in plain(response.text)
    assert counts(app) == DEMO
