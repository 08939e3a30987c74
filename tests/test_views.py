"""Pages and JSON through the test client, on the founding case (the demo data, dispatch/demo.py).

The demo holds 549 entries, 延べ2,319人, dated 2023-07-16 to 2023-10-31. Figures for filters were read
once from the demo data and written down; the small ones were checked by hand against demo.py:

    water-supply to 五城目町, 7/18-7/20: 秋田市 (上下水道局) 3 a day on 7/18-7/20, 大仙市 2 a day
        -> 6 entries, 延べ15人 (9 + 6)
    everything 7/16-7/20: 3 + 5 + 7 + 7 + 8 = 30 entries, 7 + 11 + 15 + 15 + 27 = 延べ75人
    五城目町 from every operation: mutual-aid 108 entries / 286, recovery-support 36 / 46,
        relief-act 59 / 67, water-supply 16 / 37 -> 219 entries, 延べ436人
    2023-10-31: 秋田県 (総務部総合防災課) 1, 湯沢市 1, 三種町 1, all relief-act to 五城目町 -> 3 active
    2023-10-30 (a Monday): 秋田県 (総務部総合防災課) 2
    list order is newest first, 50 a page: October's relief-act entries fill page 1 down to 10/5,
        so page 2 starts on 2023-10-04; page 11 holds the last 49

No demo day is closed (締め), so every figure and every listed date is marked 速報. Pages need a login:
`client` (conftest) is disaster HQ staff, who may enter, edit and delete.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from html import unescape
from html.parser import HTMLParser

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from dispatch.catalog import reopen_operation
from dispatch.extensions import db
from dispatch.models import Entry, Role
from tests import factories
from tests.factories import BASE, SLUG, entry_form, import_form, logged_in, make_user
from tests.reading import (
    counts,
    entry_id,
    facts,
    field_errors,
    flashes,
    list_summary,
    plain,
    totals_json,
)

DEMO = (549, 2319)  # entries, person-days

# 秋田県 (総務部総合防災課) -> 五城目町, 災害救助法関係事務: a relief-act row on every working day in October.
PREF_RELIEF = {
    "operation": "relief-act",
    "sender": "050008",
    "sender_unit": "総務部総合防災課",
    "destination": "053619",
    "duty": "relief_act",
}

# What entry_form() enters: 横手市 -> 五城目町, 災害救助法関係事務.
FORM_ENTRY = {
    "operation": "relief-act",
    "sender": "052035",
    "sender_unit": "",
    "destination": "053619",
    "duty": "relief_act",
}


# --- reading pages ------------------------------------------------------------------------------------


class _Parsed(HTMLParser):
    """Input values by name, attributes by element id, and every attribute that names a URL."""

    URL_ATTRIBUTES = frozenset(
        {"href", "src", "action", "srcset", "formaction", "poster", "data", "background", "cite"}
    )

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.inputs: dict[str, str] = {}
        self.by_id: dict[str, dict[str, str]] = {}
        self.urls: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "input" and "name" in values:
            self.inputs[values["name"]] = values.get("value", "")
        if "id" in values:
            self.by_id[values["id"]] = values
        self.urls.extend(value for name, value in values.items() if name in self.URL_ATTRIBUTES)


def flash_html(text: str, category: str) -> list[str]:
    """Flash messages of one category as HTML: the duplicate refusal carries links to the entries."""
    return [m.strip() for m in re.findall(rf'<p class="flash flash-{category}"[^>]*>(.*?)</p>', text, re.S)]


def by_testid(text: str, name: str) -> str:
    [found] = re.findall(rf'data-testid="{name}"[^>]*>(.*?)</', text, re.S)
    return plain(found)


def table_rows(fragment: str) -> list[list[str]]:
    return [
        [plain(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", fragment, re.S)
    ]


def breakdown(text: str, label: str) -> list[list[str]]:
    """The rows of one table on the totals page, e.g. 派遣区分別."""
    [section] = re.findall(rf"<h2>{label}別</h2>(.*?)</section>", text, re.S)
    return table_rows(section)


def listed(text: str) -> list[list[str]]:
    """The entry list's rows: date, operation, sender, unit, destination, duty, headcount, note."""
    [body] = re.findall(r"<tbody>(.*?)</tbody>", text, re.S)
    return [row[:8] for row in table_rows(body)]


def input_value(text: str, name: str) -> str:
    return _Parsed(text).inputs[name]


def edit_link(entry_id: int) -> str:
    return f"{BASE}/entries/{entry_id}/edit"


# --- reading the database -----------------------------------------------------------------------------


def entries_on(app: Flask, day: date) -> list[tuple[object, ...]]:
    """(operation, sender, unit, destination, duty, headcount, note) of every entry on a date, sorted."""
    with app.app_context():
        return [fact[1:] for fact in facts(Entry.date == day)]


def headline(client: FlaskClient, as_of: str) -> tuple[int, int]:
    data = totals_json(client, as_of)
    return data["person_days"], data["active"]


# --- forms ----------------------------------------------------------------------------------------------


def period_form(**changes: str) -> dict[str, str]:
    form = entry_form(headcount="5")
    del form["date"]
    form.update({"date_from": "2023-11-01", "date_to": "2023-11-13", "confirmed": ""})
    form.update(changes)
    return form


def confirm(client: FlaskClient, page: str, form: dict[str, str], token: str) -> TestResponse:
    """The period or copy form sent again with the token its preview gave: saves what was previewed."""
    return client.post(f"{BASE}/entries/{page}", data={**form, "confirmed": token, "save": "1"})


def copy_form(**changes: str) -> dict[str, str]:
    form = {
        "source": "",
        "target_from": "",
        "target_to": "",
        "operation": "",
        "sender": "",
        "destination": "",
        "confirmed": "",
    }
    form.update(changes)
    return form


# --- pages --------------------------------------------------------------------------------------------


def test_index_lists_the_disaster(client: FlaskClient, demo: None) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert '<html lang="ja">' in response.text
    assert "<h1>災害一覧</h1>" in response.text
    assert table_rows(response.text)[1] == ["令和5年7月14日からの大雨", "令和5年7月14日", "対応中", "入力"]


def test_index_without_disasters_says_how_to_add_one(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "災害が登録されていません。" in response.text


def test_totals_page_as_of_the_end_of_mutual_aid(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals?as_of=2023-08-31")
    assert response.status_code == 200
    assert "<title>集計 令和5年8月31日時点 | 応援職員派遣トラッカー</title>" in response.text
    assert by_testid(response.text, "as-of") == "令和5年8月31日時点（2023-08-31） 速報"
    assert by_testid(response.text, "total-person-days") == "2,232"
    assert by_testid(response.text, "total-active") == "11"
    assert breakdown(response.text, "派遣区分") == [
        ["派遣区分", "延べ人数", "当日"],
        ["災害時の相互応援協定に基づく派遣", "2,101", "10"],
        ["応急給水業務に係る派遣", "105", "0"],
        ["災害復旧支援業務に係る派遣", "26", "1"],
        ["計", "2,232", "11"],
    ]


def test_totals_page_as_of_the_end_of_recovery_support(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals?as_of=2023-09-29")
    assert by_testid(response.text, "as-of") == "令和5年9月29日時点（2023-09-29） 速報"
    assert ["災害復旧支援業務に係る派遣", "46", "1"] in breakdown(response.text, "派遣区分")
    assert by_testid(response.text, "total-person-days") == "2,252"


def test_totals_page_accepts_a_wareki_date(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals?as_of=令和5年10月31日")
    assert by_testid(response.text, "as-of") == "令和5年10月31日時点（2023-10-31） 速報"
    assert by_testid(response.text, "total-person-days") == "2,319"
    assert by_testid(response.text, "total-active") == "3"


def test_totals_page_reports_a_bad_date(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals?as_of=abc")
    assert response.status_code == 200
    assert '<p class="error">日付として読めません: abc（本日時点で表示しています）</p>' in response.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", "該当 549件 延べ 2,319人"),
        ("?operation=water-supply", "該当 50件 延べ 105人"),
        ("?destination=053619", "該当 219件 延べ 436人"),
        ("?destination=五城目町", "該当 219件 延べ 436人"),
        ("?date_from=2023-07-16&date_to=2023-07-20", "該当 30件 延べ 75人 （令和5年7月20日まで）"),
        ("?date_from=令和5年7月20日&date_to=2023/7/20", "該当 8件 延べ 27人 （令和5年7月20日まで）"),
        (
            "?operation=water-supply&destination=053619&date_from=2023-07-18&date_to=2023-07-20",
            "該当 6件 延べ 15人 （令和5年7月20日まで）",
        ),
        ("?date_from=2023-11-01", "該当 0件 延べ 0人"),
    ],
)
def test_entry_list_filters(client: FlaskClient, demo: None, query: str, expected: str) -> None:
    response = client.get(f"{BASE}/entries{query}")
    assert response.status_code == 200
    assert list_summary(response.text) == expected


def test_entry_list_shows_the_filtered_rows(client: FlaskClient, demo: None) -> None:
    response = client.get(
        f"{BASE}/entries?operation=water-supply&destination=053619&date_from=2023-07-18&date_to=2023-07-20"
    )
    water = "応急給水業務に係る派遣"
    assert listed(response.text) == [
        ["令和5年7月20日（木）速報", water, "秋田市", "上下水道局", "五城目町", "給水業務", "3", ""],
        ["令和5年7月20日（木）速報", water, "大仙市", "", "五城目町", "給水業務", "2", ""],
        ["令和5年7月19日（水）速報", water, "秋田市", "上下水道局", "五城目町", "給水業務", "3", ""],
        ["令和5年7月19日（水）速報", water, "大仙市", "", "五城目町", "給水業務", "2", ""],
        ["令和5年7月18日（火）速報", water, "秋田市", "上下水道局", "五城目町", "給水業務", "3", ""],
        ["令和5年7月18日（火）速報", water, "大仙市", "", "五城目町", "給水業務", "2", ""],
    ]
    assert 'class="pages"' not in response.text


def test_entry_list_reports_an_unknown_organisation(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/entries?destination=存在しない町")
    assert '<p class="error">「存在しない町」に当たる団体が見つかりません。</p>' in response.text


def test_entry_list_pages(client: FlaskClient, demo: None) -> None:
    first = client.get(f"{BASE}/entries")
    assert "1 / 11 ページ" in first.text
    assert len(listed(first.text)) == 50
    assert listed(first.text)[0][0] == "令和5年10月31日（火）速報"

    second = client.get(f"{BASE}/entries?page=2")
    assert second.status_code == 200
    assert "2 / 11 ページ" in second.text
    rows = listed(second.text)
    assert len(rows) == 50
    assert rows[0][0] == "令和5年10月4日（水）速報"
    assert f'<a href="{BASE}/entries?page=1">前へ</a>' in second.text
    assert f'<a href="{BASE}/entries?page=3">次へ</a>' in second.text

    last = client.get(f"{BASE}/entries?page=11")
    assert "11 / 11 ページ" in last.text
    assert len(listed(last.text)) == 49
    assert listed(last.text)[-1][0] == "令和5年7月16日（日）速報"


def test_entry_list_pages_keep_the_filter(client: FlaskClient, demo: None) -> None:
    first = client.get(f"{BASE}/entries?destination=053619")
    assert "1 / 5 ページ" in first.text
    [next_page] = re.findall(r'<a href="([^"]+)">次へ</a>', first.text)
    second = client.get(unescape(next_page))
    assert "2 / 5 ページ" in second.text
    assert list_summary(second.text) == "該当 219件 延べ 436人"
    assert {row[4] for row in listed(second.text)} == {"五城目町"}


def test_new_entry_page_shows_the_day_total(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/entries/new?date=2023-10-31")
    assert response.status_code == 200
    assert "<h1>1日分の派遣を入力</h1>" in response.text
    assert "<h2>令和5年10月31日時点</h2>" in response.text
    assert by_testid(response.text, "person-days") == "2,319"
    assert by_testid(response.text, "active") == "3"
    assert input_value(response.text, "date") == "2023-10-31"


def test_edit_and_delete_pages(app: Flask, client: FlaskClient, demo: None) -> None:
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)

    edit = client.get(edit_link(target))
    assert edit.status_code == 200
    assert "<h1>派遣を編集</h1>" in edit.text
    values = _Parsed(edit.text).inputs
    assert values["date"] == "2023-10-31"
    assert values["sender"] == "050008 秋田県"
    assert values["sender_unit"] == "総務部総合防災課"
    assert values["destination"] == "053619 五城目町"
    assert values["headcount"] == "1"

    delete = client.get(f"{BASE}/entries/{target}/delete")
    assert delete.status_code == 200
    assert "<h1>この派遣を削除しますか</h1>" in delete.text
    assert "<dd>令和5年10月31日（火）</dd>" in delete.text
    assert "<dd>秋田県（総務部総合防災課）</dd>" in delete.text
    assert "削除すると延べ人数が1人減ります。" in delete.text


@pytest.mark.parametrize(
    "path",
    [
        "/disasters/no-such-rain/totals",
        "/disasters/no-such-rain/entries",
        "/disasters/no-such-rain/totals.json",
    ],
)
def test_unknown_disaster_is_a_japanese_404(client: FlaskClient, demo: None, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert '<html lang="ja">' in response.text
    assert "<h1>ページが見つかりません</h1>" in response.text


@pytest.mark.parametrize("page", ["edit", "delete"])
def test_unknown_entry_is_404(client: FlaskClient, demo: None, page: str) -> None:
    response = client.get(f"{BASE}/entries/999999/{page}")
    assert response.status_code == 404
    assert "ページが見つかりません" in response.text


def test_entry_of_another_disaster_is_404_under_the_wrong_slug(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    with app.app_context():
        other = factories.entry(date(2023, 8, 1), 2).id
        db.session.commit()

    assert client.get(f"/disasters/test-rain/entries/{other}/edit").status_code == 200
    assert client.get(f"{BASE}/entries/{other}/edit").status_code == 404
    assert client.get(f"{BASE}/entries/{other}/delete").status_code == 404
    changed = entry_form(date="2023-08-01", operation="mutual-aid", headcount="9")
    assert client.post(f"{BASE}/entries/{other}/edit", data=changed).status_code == 404
    assert client.post(f"{BASE}/entries/{other}/delete").status_code == 404
    assert entries_on(app, date(2023, 8, 1))[0] == (
        "mutual-aid",
        "050008",
        "",
        "053619",
        "water_supply",
        2,
        "",
    )
    assert counts(app) == (DEMO[0] + 1, DEMO[1] + 2)


# --- totals.json --------------------------------------------------------------------------------------


def test_totals_json_by_operation(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.json?as_of=2023-08-31&by=operation")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
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


def test_totals_json_breaks_ties_by_key(client: FlaskClient, demo: None) -> None:
    # As of 7/17 only water-supply has run. 五城目町: 秋田市 3 + 3; 八峰町: 能代市 2 + 2, 大館市 2;
    # 男鹿市: 秋田市 2 + 2; 井川町: 横手市 2. 五城目町 and 八峰町 tie at 6: 053490 sorts first.
    response = client.get(f"{BASE}/totals.json?as_of=2023-07-17&by=destination")
    assert response.get_json() == {
        "disaster": SLUG,
        "as_of": "2023-07-17",
        "person_days": 18,
        "persons": None,
        "active": 11,
        "by": "destination",
        "rows": [
            {"key": "053490", "name": "八峰町", "person_days": 6, "persons": None, "active": 4},
            {"key": "053619", "name": "五城目町", "person_days": 6, "persons": None, "active": 3},
            {"key": "052060", "name": "男鹿市", "person_days": 4, "persons": None, "active": 2},
            {"key": "053660", "name": "井川町", "person_days": 2, "persons": None, "active": 2},
        ],
    }


def test_totals_json_as_of_the_last_demo_day(client: FlaskClient, demo: None) -> None:
    data = totals_json(client, "2023-10-31")
    assert (data["person_days"], data["active"]) == (2319, 3)
    assert [(r["key"], r["person_days"], r["active"]) for r in data["rows"]] == [
        ("mutual-aid", 2101, 0),
        ("water-supply", 105, 0),
        ("relief-act", 67, 3),
        ("recovery-support", 46, 0),
    ]


def test_totals_json_refuses_an_unknown_dimension(client: FlaskClient, demo: None) -> None:
    response = client.get(f"{BASE}/totals.json?as_of=2023-08-31&by=city")
    assert response.status_code == 400
    assert response.get_json() == {
        "error": "by は operation, destination, sender, duty, date, sender_kind のいずれかです。"
    }


@pytest.mark.parametrize("as_of", ["abc", "2023-02-30"])
def test_totals_json_refuses_a_bad_date(client: FlaskClient, demo: None, as_of: str) -> None:
    response = client.get(f"{BASE}/totals.json?as_of={as_of}")
    assert response.status_code == 400
    assert response.get_json() == {"error": f"日付として読めません: {as_of}"}


# --- one day's entry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("sender", ["052019 秋田市", "052019", "秋田市", "アキタシ", "あきたし"])
def test_new_entry_finds_the_sender_however_it_is_typed(
    app: Flask, client: FlaskClient, demo: None, sender: str
) -> None:
    response = client.post(
        f"{BASE}/entries/new",
        data=entry_form(sender=sender, sender_unit="総務部", headcount="３", note="交代要員"),
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BASE}/entries/new?date=2023-11-01"
    assert entries_on(app, date(2023, 11, 1)) == [
        ("relief-act", "052019", "総務部", "053619", "relief_act", 3, "交代要員")
    ]
    with app.app_context():
        [created_by] = db.session.scalars(select(Entry.created_by).where(Entry.date == date(2023, 11, 1)))
    assert created_by == "hq-user"  # the logged-in user (conftest.client)

    page = client.get(response.headers["Location"])
    assert flashes(page.text, "success") == [
        "登録しました: 令和5年11月1日 秋田市→五城目町 災害救助法関係事務 3人"
    ]
    assert by_testid(page.text, "person-days") == "2,322"
    assert by_testid(page.text, "active") == "3"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"date": ""}, "date", "日付を入力してください。"),
        ({"date": "2023-07-13"}, "date", "災害の発生日（令和5年7月14日）より前の日付です。"),
        ({"date": "2023-02-30"}, "date", "日付として読めません: 2023-02-30"),
        (
            {"sender": "存在しない町"},
            "sender",
            "「存在しない町」に当たる団体が見つかりません。候補から選ぶか、団体コードを入力してください。",
        ),
        ({"sender": "053619", "destination": "五城目町"}, "destination", "派遣元と派遣先が同じです。"),
        ({"headcount": "0"}, "headcount", "人数は1以上10,000以下で入力してください。"),
        ({"headcount": ""}, "headcount", "人数を入力してください。"),
        ({"headcount": "abc"}, "headcount", "人数は半角数字で入力してください。"),
    ],
)
def test_new_entry_errors_show_next_to_their_field(
    app: Flask, client: FlaskClient, demo: None, changes: dict[str, str], field: str, message: str
) -> None:
    response = client.post(f"{BASE}/entries/new", data=entry_form(**changes))
    assert response.status_code == 422
    assert field_errors(response.text) == {field: [message]}
    assert _Parsed(response.text).by_id[field]["aria-invalid"] == "true"
    assert counts(app) == DEMO


def test_duplicate_entry_is_refused_with_a_link_to_the_existing_one(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    existing = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    response = client.post(
        f"{BASE}/entries/new",
        data=entry_form(date="2023-10-31", sender="050008", sender_unit="総務部総合防災課", headcount="5"),
    )
    assert response.status_code == 409
    assert flash_html(response.text, "error") == [
        f'登録済みの派遣と重複します（1件）。 登録済み: <a href="{edit_link(existing)}">'
        "令和5年10月31日 秋田県→五城目町 災害救助法関係事務（1人）</a>"
    ]
    assert counts(app) == DEMO
    assert headline(client, "2023-10-31") == (2319, 3)


# --- a period -------------------------------------------------------------------------------------------


def test_period_is_previewed_then_written_when_confirmed(app: Flask, client: FlaskClient, demo: None) -> None:
    form = period_form()
    preview = client.post(f"{BASE}/entries/period", data=form)
    assert preview.status_code == 200
    text = plain(preview.text)
    assert "追加される延べ人数: 13日 × 5人 = 延べ65人" in text
    assert "令和5年11月1日から令和5年11月13日まで 13日分、延べ65人を登録します。" in text
    assert counts(app) == DEMO

    token = input_value(preview.text, "confirmed")
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    saved = confirm(client, "period", form, token)
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"{BASE}/entries?date_from=2023-11-01&date_to=2023-11-13"

    listing = client.get(saved.headers["Location"])
    assert flashes(listing.text, "success") == ["13日分を登録しました（延べ65人）。"]
    assert list_summary(listing.text) == "該当 13件 延べ 65人 （令和5年11月13日まで）"
    assert counts(app) == (562, 2384)
    assert entries_on(app, date(2023, 11, 7)) == [("relief-act", "052035", "", "053619", "relief_act", 5, "")]
    assert headline(client, "2023-11-13") == (2384, 5)


def test_period_token_for_another_headcount_previews_again(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = period_form()
    token = input_value(client.post(f"{BASE}/entries/period", data=form).text, "confirmed")

    replayed = client.post(
        f"{BASE}/entries/period", data={**form, "headcount": "6", "confirmed": token, "save": "1"}
    )
    assert replayed.status_code == 200
    assert "13日 × 6人 = 延べ78人" in plain(replayed.text)
    new_token = input_value(replayed.text, "confirmed")
    assert new_token and new_token != token
    assert counts(app) == DEMO


def test_period_overlapping_entries_shows_the_clash(app: Flask, client: FlaskClient, demo: None) -> None:
    monday = entry_id(app, date(2023, 10, 30), **PREF_RELIEF)
    tuesday = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    form = period_form(
        date_from="2023-10-30",
        date_to="2023-11-03",
        sender="050008",
        sender_unit="総務部総合防災課",
        headcount="1",
    )
    response = client.post(f"{BASE}/entries/period", data=form)
    assert response.status_code == 200
    assert "次の2日は登録済みのため、この期間は登録できません。" in response.text
    assert f'<a href="{edit_link(monday)}">令和5年10月30日（2人）</a>' in response.text
    assert f'<a href="{edit_link(tuesday)}">令和5年10月31日（1人）</a>' in response.text
    assert input_value(response.text, "confirmed") == ""
    assert 'name="save"' not in response.text
    assert counts(app) == DEMO


def test_period_confirmed_after_a_clash_appeared_writes_nothing(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = period_form()
    token = input_value(client.post(f"{BASE}/entries/period", data=form).text, "confirmed")
    # Someone else logs one of those days between the preview and the confirmation.
    assert (
        client.post(f"{BASE}/entries/new", data=entry_form(date="2023-11-05", headcount="5")).status_code
        == 302
    )
    clash = entry_id(app, date(2023, 11, 5), **FORM_ENTRY)

    response = confirm(client, "period", form, token)
    assert response.status_code == 409
    assert flash_html(response.text, "error") == [
        f'登録済みの派遣と重複します（1件）。 登録済み: <a href="{edit_link(clash)}">'
        "令和5年11月5日 横手市→五城目町 災害救助法関係事務（5人）</a>"
    ]
    assert counts(app) == (550, 2324)
    assert entries_on(app, date(2023, 11, 1)) == []


# --- copying a day ------------------------------------------------------------------------------------


def test_copy_day_of_one_destination_to_a_range(app: Flask, client: FlaskClient, demo: None) -> None:
    # 7/20's rows at 五城目町 are the water-supply operation's, which ended on 7/26 (demo.py): reopened, so
    # that the crews' rota may be repeated in November (a copy after the end is refused: test_catalog.py).
    with app.app_context():
        reopen_operation(factories.operation(factories.disaster(SLUG), "water-supply"), factories.admin())
        db.session.commit()
    form = copy_form(
        source="2023-07-20", target_from="2023-11-01", target_to="2023-11-03", destination="053619"
    )
    preview = client.post(f"{BASE}/entries/copy", data=form)
    assert preview.status_code == 200
    assert "6件、延べ15人を登録します。" in plain(preview.text)
    assert counts(app) == DEMO

    token = input_value(preview.text, "confirmed")
    saved = confirm(client, "copy", form, token)
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"{BASE}/entries?date_from=2023-11-01&date_to=2023-11-03"
    listing = client.get(saved.headers["Location"])
    assert flashes(listing.text, "success") == ["6件をコピーしました（延べ15人）。"]
    assert list_summary(listing.text) == "該当 6件 延べ 15人 （令和5年11月3日まで）"
    assert counts(app) == (555, 2334)
    assert entries_on(app, date(2023, 11, 2)) == [
        ("water-supply", "052019", "上下水道局", "053619", "water_supply", 3, ""),
        ("water-supply", "052124", "", "053619", "water_supply", 2, ""),
    ]


def test_copy_whole_day_to_one_day(app: Flask, client: FlaskClient, demo: None) -> None:
    form = copy_form(source="2023-10-31", target_from="2023-11-01")
    preview = client.post(f"{BASE}/entries/copy", data=form)
    assert "3件、延べ3人を登録します。" in plain(preview.text)

    token = input_value(preview.text, "confirmed")
    saved = confirm(client, "copy", form, token)
    assert saved.status_code == 302
    assert entries_on(app, date(2023, 11, 1)) == [
        ("relief-act", "050008", "総務部総合防災課", "053619", "relief_act", 1, ""),
        ("relief-act", "052078", "", "053619", "relief_act", 1, ""),
        ("relief-act", "053481", "", "053619", "relief_act", 1, ""),
    ]
    assert headline(client, "2023-11-01") == (2322, 3)


def test_copy_onto_existing_entries_is_refused_whole(app: Flask, client: FlaskClient, demo: None) -> None:
    # 7/19 at 五城目町: 秋田市 and 大仙市. 秋田市 is there again on 7/20, 大仙市 on 7/20-7/22: 4 of 6 clash.
    form = copy_form(
        source="2023-07-19", target_from="2023-07-20", target_to="2023-07-22", destination="五城目町"
    )
    response = client.post(f"{BASE}/entries/copy", data=form)
    assert response.status_code == 200
    assert "コピー先に登録済みの派遣が4件あるため、コピーできません。" in response.text
    links = re.findall(r'<li><a href="[^"]+/edit">(.*?)</a></li>', response.text)
    assert links == [
        "令和5年7月20日 秋田市→五城目町 給水業務（3人）",
        "令和5年7月20日 大仙市→五城目町 給水業務（2人）",
        "令和5年7月21日 大仙市→五城目町 給水業務（2人）",
        "令和5年7月22日 大仙市→五城目町 給水業務（2人）",
    ]
    assert input_value(response.text, "confirmed") == ""
    assert counts(app) == DEMO


def test_copy_confirmed_after_a_clash_appeared_writes_nothing(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = copy_form(source="2023-10-31", target_from="2023-11-01", target_to="2023-11-03")
    preview = client.post(f"{BASE}/entries/copy", data=form)
    assert "9件、延べ9人を登録します。" in plain(preview.text)
    token = input_value(preview.text, "confirmed")
    clash_form = entry_form(date="2023-11-02", sender="050008", sender_unit="総務部総合防災課", headcount="1")
    assert client.post(f"{BASE}/entries/new", data=clash_form).status_code == 302
    clash = entry_id(app, date(2023, 11, 2), **PREF_RELIEF)

    response = confirm(client, "copy", form, token)
    assert response.status_code == 409
    assert flash_html(response.text, "error") == [
        f'登録済みの派遣と重複します（1件）。 登録済み: <a href="{edit_link(clash)}">'
        "令和5年11月2日 秋田県→五城目町 災害救助法関係事務（1人）</a>"
    ]
    assert counts(app) == (550, 2320)
    assert entries_on(app, date(2023, 11, 1)) == []
    assert entries_on(app, date(2023, 11, 3)) == []


def test_copy_from_an_empty_day_is_an_error_on_the_source(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    response = client.post(
        f"{BASE}/entries/copy", data=copy_form(source="2023-07-15", target_from="2023-07-16")
    )
    assert response.status_code == 422
    assert field_errors(response.text) == {
        "source": ["令和5年7月15日の派遣はありません（絞り込みもご確認ください）。"]
    }
    assert input_value(response.text, "confirmed") == ""
    assert counts(app) == DEMO


# --- editing and deleting -----------------------------------------------------------------------------


def test_edit_headcount_changes_the_totals(app: Flask, client: FlaskClient, demo: None) -> None:
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    changed = entry_form(
        date="2023-10-31", sender="050008 秋田県", sender_unit="総務部総合防災課", headcount="4"
    )
    response = client.post(edit_link(target), data=changed)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BASE}/entries?date_from=2023-10-31&date_to=2023-10-31"

    listing = client.get(response.headers["Location"])
    assert flashes(listing.text, "success") == ["変更しました。"]
    assert list_summary(listing.text) == "該当 3件 延べ 6人 （令和5年10月31日まで）"
    assert counts(app) == (549, 2322)
    data = totals_json(client, "2023-10-31")
    assert (data["person_days"], data["active"]) == (2322, 6)
    assert {
        "key": "relief-act",
        "name": "災害救助法業務に係る派遣",
        "person_days": 70,
        "persons": None,
        "active": 6,
    } in data["rows"]


def test_edit_onto_an_existing_key_is_refused_with_a_link(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    monday = entry_id(app, date(2023, 10, 30), **PREF_RELIEF)
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    moved = entry_form(
        date="2023-10-30", sender="050008 秋田県", sender_unit="総務部総合防災課", headcount="1"
    )
    response = client.post(edit_link(target), data=moved)
    assert response.status_code == 409
    assert flash_html(response.text, "error") == [
        f'登録済みの派遣と重複します。 登録済み: <a href="{edit_link(monday)}">'
        "令和5年10月30日 秋田県→五城目町 災害救助法関係事務（2人）</a>"
    ]
    assert ("relief-act", "050008", "総務部総合防災課", "053619", "relief_act", 1, "") in entries_on(
        app, date(2023, 10, 31)
    )
    assert counts(app) == DEMO
    assert headline(client, "2023-10-31") == (2319, 3)


def test_delete_removes_the_entry_and_its_person_days(app: Flask, client: FlaskClient, demo: None) -> None:
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    assert client.get(f"{BASE}/entries/{target}/delete").status_code == 200
    assert counts(app) == DEMO

    response = client.post(f"{BASE}/entries/{target}/delete")
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BASE}/entries?date_from=2023-10-31&date_to=2023-10-31"
    listing = client.get(response.headers["Location"])
    # HQ cannot open the audit log: the message names who can restore from it.
    assert flashes(listing.text, "success") == [
        "削除しました。削除した内容は監査ログに残り、総合防災課（確認・締め担当）または管理者が監査ログから復元できます。"
    ]
    assert list_summary(listing.text) == "該当 2件 延べ 2人 （令和5年10月31日まで）"
    assert counts(app) == (548, 2318)
    assert headline(client, "2023-10-31") == (2318, 2)
    assert client.get(edit_link(target)).status_code == 404


# --- importing ------------------------------------------------------------------------------------------


def upload(client: FlaskClient, lines: list[str]) -> TestResponse:
    return client.post(f"{BASE}/import", data=import_form(lines))


def test_import_csv_adds_every_row(app: Flask, client: FlaskClient, demo: None) -> None:
    response = upload(
        client,
        [
            "2023-11-01,災害救助法業務に係る派遣,横手市,,五城目町,災害救助法関係事務,2,",
            "令和5年11月2日,relief-act,052035,,五城目町,relief_act,３,取り込み",
        ],
    )
    assert response.status_code == 302
    # The list of the two imported rows alone.
    assert re.fullmatch(rf"{BASE}/entries\?imported=\d+", response.headers["Location"])
    listing = client.get(response.headers["Location"])
    assert flashes(listing.text, "success") == ["2行を取り込みました（延べ5人）。"]
    assert "該当 <strong>2</strong>件　延べ <strong>5</strong>人" in listing.text
    assert counts(app) == (551, 2324)
    assert entries_on(app, date(2023, 11, 2)) == [
        ("relief-act", "052035", "", "053619", "relief_act", 3, "取り込み")
    ]


def test_import_bad_csv_shows_every_error_and_writes_nothing(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    response = upload(
        client,
        [
            "2023-11-01,relief-act,存在しない町,,五城目町,relief_act,2,",
            "2023-11-02,relief-act,横手市,,五城目町,relief_act,0,",
            "2023-10-31,relief-act,秋田県,総務部総合防災課,五城目町,relief_act,1,",
            "2023-11-03,relief-act,横手市,,五城目町,relief_act,1,",
        ],
    )
    assert response.status_code == 422
    assert "<h2>取り込みを中止しました（3件のエラー。何も登録していません）</h2>" in response.text
    assert [plain(li) for li in re.findall(r"<li>(.*?)</li>", response.text)] == [
        "2行目: 派遣元「存在しない町」が見つかりません（団体コードまたは名称）",
        "3行目: 人数は1以上で入力してください。",
        "4行目: 登録済みの派遣と重複しています（令和5年10月31日 災害救助法業務に係る派遣 秋田県（総務部総合防災課）"
        "→五城目町 災害救助法関係事務）",
    ]
    assert counts(app) == DEMO


def test_import_without_a_file_asks_for_one(app: Flask, client: FlaskClient, demo: None) -> None:
    response = client.post(f"{BASE}/import", data={"encoding": "auto"})
    assert response.status_code == 422
    assert field_errors(response.text) == {"file": ["ファイルを選んでください。"]}
    assert counts(app) == DEMO


# --- CSRF -------------------------------------------------------------------------------------------------


def csrf_client(app: Flask) -> FlaskClient:
    """Logged in as HQ staff, so that only the missing token can be the reason for a refusal."""
    return logged_in(app, make_user(app, Role.HQ))


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_post_without_a_valid_csrf_token_is_refused(csrf_app: Flask, demo: None, token: str | None) -> None:
    client = csrf_client(csrf_app)
    assert client.get(f"{BASE}/entries/new").status_code == 200
    form = entry_form()
    if token is not None:
        form["csrf_token"] = token
    response = client.post(f"{BASE}/entries/new", data=form)
    assert response.status_code == 400
    assert '<html lang="ja">' in response.text
    assert "<h1>送信を受け付けられませんでした</h1>" in response.text
    assert "ページを開き直してもう一度送信してください。" in response.text
    assert counts(csrf_app) == DEMO


def test_post_with_the_csrf_token_from_the_form_succeeds(csrf_app: Flask, demo: None) -> None:
    client = csrf_client(csrf_app)
    token = input_value(client.get(f"{BASE}/entries/new").text, "csrf_token")
    assert token
    response = client.post(f"{BASE}/entries/new", data={**entry_form(), "csrf_token": token})
    assert response.status_code == 302
    assert counts(csrf_app) == (550, 2321)

    target = entry_id(csrf_app, date(2023, 11, 1), **FORM_ENTRY)
    assert client.post(f"{BASE}/entries/{target}/delete").status_code == 400
    delete_token = input_value(client.get(f"{BASE}/entries/{target}/delete").text, "csrf_token")
    assert (
        client.post(f"{BASE}/entries/{target}/delete", data={"csrf_token": delete_token}).status_code == 302
    )
    assert counts(csrf_app) == DEMO


# --- nothing from outside -------------------------------------------------------------------------------


def _every_page(app: Flask, client: FlaskClient) -> list[tuple[str, TestResponse]]:
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    pages = [
        "/",
        f"{BASE}/totals",
        f"{BASE}/totals?as_of=2023-08-31",
        f"{BASE}/totals?as_of=abc",
        f"{BASE}/entries",
        f"{BASE}/entries?page=2&destination=053619",
        f"{BASE}/entries/new?date=2023-10-31",
        f"{BASE}/entries/period",
        f"{BASE}/entries/copy",
        f"{BASE}/entries/day?date=2023-10-31&from=2023-10-30",
        f"{BASE}/import",
        edit_link(target),
        f"{BASE}/entries/{target}/delete",
        "/disasters/no-such-rain/totals",
    ]
    responses = [(path, client.get(path)) for path in pages]
    posts = [
        (f"{BASE}/entries/new", entry_form(headcount="0")),
        (
            f"{BASE}/entries/new",
            entry_form(date="2023-10-31", sender="050008", sender_unit="総務部総合防災課"),
        ),
        (f"{BASE}/entries/period", period_form()),
        (
            f"{BASE}/entries/period",
            period_form(date_from="2023-10-30", sender="050008", sender_unit="総務部総合防災課"),
        ),
        (f"{BASE}/entries/copy", copy_form(source="2023-10-31", target_from="2023-11-01")),
        (f"{BASE}/entries/copy", copy_form(source="2023-07-19", target_from="2023-07-20")),
    ]
    responses += [(f"POST {path}", client.post(path, data=form)) for path, form in posts]
    responses.append(
        (
            f"POST {BASE}/import",
            upload(client, ["2023-11-01,relief-act,存在しない町,,五城目町,relief_act,2,"]),
        )
    )
    return responses


def _pages_for_other_roles(
    app: Flask, client_as: Callable[..., FlaskClient], anonymous: FlaskClient
) -> list[tuple[str, TestResponse]]:
    """The login page, and the pages only the division (締め, 監査ログ) or an admin (users) reach."""
    target = entry_id(app, date(2023, 10, 31), **PREF_RELIEF)
    with app.test_request_context():
        admin_pages = [
            url_for("closing.closing_page", slug=SLUG),
            url_for("entries.entry_history", slug=SLUG, entry_id=target),
            url_for("audit.audit_log"),
            url_for("admin.users"),
            url_for("auth.change_password"),
        ]
        login = url_for("auth.login")
    admin = client_as(Role.ADMIN, "admin-user")
    return [(login, anonymous.get(login)), *((path, admin.get(path)) for path in admin_pages)]


def test_no_page_references_anything_outside(
    app: Flask,
    client: FlaskClient,
    client_as: Callable[..., FlaskClient],
    anonymous: FlaskClient,
    demo: None,
) -> None:
    static: set[str] = set()
    pages = _every_page(app, client) + _pages_for_other_roles(app, client_as, anonymous)
    for name, response in pages:
        assert response.status_code in (200, 404, 409, 422), name
        urls = _Parsed(response.text).urls
        assert urls, name
        outside = [u for u in urls if re.match(r"\s*([a-z][a-z0-9+.-]*:|//)", u, re.IGNORECASE)]
        assert outside == [], name
        assert not re.search(r"https?://", response.text), name
        static.update(u for u in urls if u.startswith("/static/"))

    assert static == {
        "/static/app.css",
        "/static/menu.js",
        "/static/period.js",
        "/static/closed_days.js",
        "/static/grid.js",
    }
    for path in sorted(static):
        asset = client.get(path)
        assert asset.status_code == 200
        text = asset.get_data(as_text=True)
        asset.close()
        assert not re.search(r"https?://|url\(\s*['\"]?//|@import", text), path
