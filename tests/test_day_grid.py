"""The day grid (pages/day_grid.py, day_grid.py) as a plain form of rows, and the type-ahead it asks.

The keys, the suggestions and paste are driven in Chromium in tests/test_browser_grid.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from dispatch.closing import close_day
from dispatch.extensions import db
from dispatch.models import AuditRecord, Disaster, Entry, Role
from tests import factories
from tests.factories import BASE, SLUG

GRID = f"{BASE}/entries/day"
LOOKUP = f"{BASE}/lookup.json"


def grid_form(day: str, *rows: dict[str, str], **extra: str) -> dict[str, str]:
    """The grid as posted without script: rows-<n>-<cell>, blank spare rows after the typed ones."""
    form = {"date": day, "date_to": "", "reason": "", **extra}
    for n, row in enumerate([*rows, {}, {}]):
        for cell in ("operation", "sender", "sender_unit", "destination", "duty", "headcount", "note"):
            form[f"rows-{n}-{cell}"] = row.get(cell, "")
    return form


def row(sender: str, headcount: str, **cells: str) -> dict[str, str]:
    return {
        "operation": "災害救助法",
        "sender": sender,
        "destination": "五城目町",
        "duty": "災害救助法関係事務",
        "headcount": headcount,
        **cells,
    }


def count_on(app: Flask, day: date) -> tuple[int, int]:
    with app.app_context():
        found = db.session.execute(
            select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0)).where(Entry.date == day)
        ).one()
        return int(found[0]), int(found[1])


def test_the_grid_opens_on_a_date_with_the_first_cell_focused_and_is_first_for_hq(
    client: FlaskClient, demo: None
) -> None:
    page = client.get(f"{GRID}?date=2023-11-01").get_data(as_text=True)
    first = re.search(r'<input name="rows-0-operation"[^>]*>', page)
    assert first is not None and "autofocus" in first.group(0)
    assert page.count("autofocus") == 1
    nav = page[page.index('<nav aria-label="メニュー">') :]
    assert nav.index("まとめて入力") < nav.index("ダッシュボード")
    assert 'accesskey="y"' in page and "from=2023-10-31" in page


def test_rows_save_all_at_once_each_cell_through_the_one_look_up(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    response = client.post(
        GRID,
        data=grid_form(
            "2023-11-01",
            row("横手", "2"),  # a unique prefix
            row("05203", "1", sender_unit="総務課"),  # 横手市 again, by its code without the check digit
            row("ゆざわし", "3", duty="災害救"),  # 湯沢市 by its kana; the duty by a prefix
        ),
    )
    assert response.status_code == 302
    assert count_on(app, date(2023, 11, 1)) == (3, 6)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "登録しました: 令和5年11月1日 3件、延べ6人。" in page
    with app.app_context():
        senders = db.session.scalars(
            select(Entry).where(Entry.date == date(2023, 11, 1)).order_by(Entry.headcount)
        ).all()
        assert [(e.sender.name, e.sender_unit, e.headcount) for e in senders] == [
            ("横手市", "総務課", 1),
            ("横手市", "", 2),
            ("湯沢市", "", 3),
        ]


def test_refused_rows_show_their_reasons_in_place_and_nothing_is_written(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    response = client.post(
        GRID,
        data=grid_form(
            "2023-11-01",
            row("横手", "2"),
            row("存在しない町", "1"),
            row("ゴジョウ", "1"),
            row("横手", "2"),
            row("湯沢市", "0"),
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert count_on(app, date(2023, 11, 1)) == (0, 0)
    assert "2行目 派遣元: 派遣元「存在しない町」が見つかりません。" in page
    assert (
        "3行目 派遣元: 派遣元「ゴジョウ」に当たる団体が複数あります: 五城目町（053619）、五條市（292079）"
        in page
    )
    assert "4行目: 1行目と同じ内容です。" in page
    assert "5行目 人数: 人数は1以上" in page
    # The cursor goes to the first bad cell: row 2's 派遣元.
    focused = re.search(r"<input [^>]*autofocus[^>]*>", page)
    assert focused is not None and 'name="rows-1-sender"' in focused.group(0)
    assert 'name="rows-1-sender" value="存在しない町"' in page


def test_same_as_yesterday_fills_the_grid_and_a_duplicate_day_is_refused_row_by_row(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    opened = client.get(f"{GRID}?date=2023-08-02&from=2023-08-01").get_data(as_text=True)
    # 2023-08-01 has 18 rows, 延べ80人; 2023-08-02 holds the same rows already: each is flagged before saving.
    assert opened.count('name="rows-17-sender"') == 1 and 'name="rows-18-sender" value=""' in opened
    assert "18件、延べ80人" in opened
    assert opened.count("登録済みの派遣と重複します") == 18

    form = {k: v for k, v in _grid_inputs(opened).items()}
    refused = client.post(GRID, data={**form, "date": "2023-08-02", "reason": ""})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert page.count("登録済みの派遣と重複します") == 18
    assert len(re.findall(rf'href="{BASE}/entries/\d+/edit"', page)) >= 18
    assert count_on(app, date(2023, 8, 2)) == (18, 80)

    with app.app_context():
        db.session.execute(delete(Entry).where(Entry.date == date(2023, 8, 2)))
        db.session.commit()
    saved = client.post(GRID, data={**form, "date": "2023-08-02", "reason": ""})
    assert saved.status_code == 302
    assert count_on(app, date(2023, 8, 2)) == (18, 80)


def _grid_inputs(page: str) -> dict[str, str]:
    return dict(re.findall(r'<input name="(rows-\d+-[a-z_]+)" value="([^"]*)"', page))


def test_a_removed_row_and_blank_rows_are_left_out_and_a_range_repeats_each_row(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    form = grid_form("2023-11-01", row("横手", "2"), row("湯沢市", "3"), date_to="2023-11-03")
    form["rows-1-removed"] = "1"
    response = client.post(GRID, data=form)
    assert response.status_code == 302
    assert [count_on(app, date(2023, 11, d)) for d in (1, 2, 3)] == [(1, 2)] * 3


def test_check_previews_the_person_days_without_writing(app: Flask, client: FlaskClient, demo: None) -> None:
    response = client.post(
        GRID, data=grid_form("2023-11-01", row("横手", "2"), row("湯沢市", "3"), action="check")
    )
    assert response.status_code == 200
    assert "2件、延べ5人を登録できます。" in response.get_data(as_text=True)
    assert count_on(app, date(2023, 11, 1)) == (0, 0)


def test_a_closed_day_is_said_before_saving_and_refused_row_by_row_for_hq(
    app: Flask, client_as: Callable[..., FlaskClient], demo: None
) -> None:
    with app.app_context():
        disaster = db.session.scalars(select(Disaster).where(Disaster.slug == SLUG)).one()
        close_day(disaster, date(2023, 11, 1), factories.reviewer())
        db.session.commit()
    hq = client_as(Role.HQ, "grid-hq")
    opened = hq.get(f"{GRID}?date=2023-11-01&from=2023-10-31").get_data(as_text=True)
    assert "令和5年11月1日は締め済み（確定）です。変更は総合防災課に依頼してください。" in opened
    refused = hq.post(GRID, data=grid_form("2023-11-01", row("横手", "2"), row("湯沢市", "3")))
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert (
        "1行目: 令和5年11月1日は締め済み（確定）です。" in page and "2行目: 令和5年11月1日は締め済み" in page
    )

    reviewer = client_as(Role.REVIEWER, "grid-reviewer")
    saved = reviewer.post(
        GRID, data=grid_form("2023-11-01", row("横手", "2"), reason="派遣元からの報告が遅れたため")
    )
    assert saved.status_code == 302
    with app.app_context():
        flagged = db.session.scalars(
            select(AuditRecord).where(AuditRecord.action == "create", AuditRecord.closed_day_change)
        ).all()
        assert len(flagged) == 1


def test_type_ahead_answers_by_the_one_look_up(client: FlaskClient, demo: None) -> None:
    def ask(kind: str, q: str) -> dict[str, object]:
        answer = client.get(LOOKUP, query_string={"kind": kind, "q": q}).get_json()
        assert isinstance(answer, dict)
        return answer

    for typed in ("横手", "052035", "05203", "052035 横手市", "よこてし", "ヨコテシ", "横手市"):
        assert ask("organisation", typed)["match"] == "052035 横手市", typed
    assert ask("organisation", "53619")["match"] == "053619 五城目町"  # Excel dropped the leading zero
    ambiguous = ask("organisation", "ゴジョウ")
    assert ambiguous["match"] is None
    assert ambiguous["message"] == (
        "「ゴジョウ」に当たる団体が複数あります: 五城目町（053619）、五條市（292079）。コードか正式名で入力してください。"
    )
    assert ambiguous["suggestions"] == ["053619 五城目町", "292079 五條市"]
    assert ask("organisation", "存在しない町")["message"] == "「存在しない町」に当たる団体が見つかりません。"
    assert ask("operation", "災害時")["match"] == "災害時の相互応援協定に基づく派遣"
    assert ask("operation", "災害")["suggestions"] == [
        "災害時の相互応援協定に基づく派遣",
        "災害復旧支援業務に係る派遣",
        "災害救助法業務に係る派遣",
    ]
    assert ask("duty", "家屋")["match"] == "家屋被害認定調査"
    assert ask("duty", "damage_survey")["match"] == "家屋被害認定調査"


def test_a_municipality_reaches_neither_the_grid_nor_its_look_up(
    client_as: Callable[..., FlaskClient], demo: None
) -> None:
    oga = client_as(Role.MUNICIPALITY, "grid-oga", factories.OGA)
    assert oga.get(GRID).status_code == 403
    assert oga.get(LOOKUP, query_string={"q": "横手"}).status_code == 403


def test_more_rows_than_a_grid_takes_are_refused_not_cut_short(
    app: Flask, client: FlaskClient, demo: None
) -> None:
    rows = [row("横手", str(n + 1)) for n in range(501)]
    response = client.post(GRID, data=grid_form("2023-11-01", *rows))
    assert response.status_code == 422
    assert "501行目: 1回に登録できるのは500行までです。取り込みをお使いください。" in response.get_data(
        as_text=True
    )
    assert count_on(app, date(2023, 11, 1)) == (0, 0)


def test_a_grid_without_a_typed_row_is_refused_with_the_reason(client: FlaskClient, demo: None) -> None:
    # Carried cells alone (派遣区分, 派遣先, 業務) do not make a row.
    carried = {"operation": "災害救助法", "destination": "五城目町", "duty": "災害救助法関係事務"}
    response = client.post(GRID, data=grid_form("2023-11-01", carried))
    assert response.status_code == 422
    assert "登録する行がありません。派遣元と人数を入力してください。" in response.get_data(as_text=True)
