"""Closed (確定) days said before saving (issue 14, item 2): the entry form, the period and copy previews, and
the list's links. The grid's own are in tests/test_day_grid.py; the refusals themselves in test_closing.py."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from dispatch.closing import close_day
from dispatch.extensions import db
from dispatch.models import Disaster, Entry, Role
from tests import factories
from tests.factories import BASE, SLUG, entry_form

HQ_SAYS = "令和5年11月1日は締め済み（確定）です。変更は総合防災課に依頼してください。"
REVIEWER_WITHOUT_REASON = "令和5年11月1日は締め済み（確定）です。変更する理由を入力してください。"


@pytest.fixture
def closed(app: Flask, demo: None) -> None:
    """2023-11-01 (after the founding case's last entry) and 2023-10-31 (with 3 entries) closed."""
    with app.app_context():
        disaster = db.session.scalars(select(Disaster).where(Disaster.slug == SLUG)).one()
        for day in (date(2023, 10, 31), date(2023, 11, 1)):
            close_day(disaster, day, factories.reviewer())
        db.session.commit()


def count_on(app: Flask, day: date) -> int:
    with app.app_context():
        return len(db.session.scalars(select(Entry).where(Entry.date == day)).all())


def test_the_entry_form_says_a_closed_day_before_saving(
    client_as: Callable[..., FlaskClient], closed: None
) -> None:
    hq = client_as(Role.HQ, "known-hq")
    page = hq.get(f"{BASE}/entries/new?date=2023-11-01").get_data(as_text=True)
    assert HQ_SAYS in page
    # The closed days travel with the form, so the notice follows a date typed afterwards (closed_days.js).
    assert '"2023-11-01"' in page and 'data-closed-dates="date"' in page
    open_day = hq.get(f"{BASE}/entries/new?date=2023-11-02").get_data(as_text=True)
    assert (
        re.search(r"<p class=\"closed-notice[^>]*hidden>", open_day)
        and "依頼してください。</p>" not in open_day
    )

    reviewer = client_as(Role.REVIEWER, "known-reviewer")
    assert REVIEWER_WITHOUT_REASON in reviewer.get(f"{BASE}/entries/new?date=2023-11-01").get_data(
        as_text=True
    )


def test_the_period_preview_names_the_closed_days_and_offers_no_save_to_hq(
    app: Flask, client_as: Callable[..., FlaskClient], closed: None
) -> None:
    hq = client_as(Role.HQ, "period-hq")
    form = {**entry_form(), "date_from": "2023-11-01", "date_to": "2023-11-03"}
    page = hq.post(f"{BASE}/entries/period", data=form).get_data(as_text=True)
    assert HQ_SAYS in page
    assert "この内容で登録" not in page

    reviewer = client_as(Role.REVIEWER, "period-reviewer")
    asked = reviewer.post(f"{BASE}/entries/period", data=form).get_data(as_text=True)
    assert REVIEWER_WITHOUT_REASON in asked and "この内容で登録" not in asked
    with_reason = reviewer.post(f"{BASE}/entries/period", data={**form, "reason": "報告の遅れ"})
    text = with_reason.get_data(as_text=True)
    assert "令和5年11月1日は締め済み（確定）です。変更は理由とともに監査ログに記録されます。" in text
    assert "この内容で登録" in text
    assert count_on(app, date(2023, 11, 2)) == 0


def test_the_copy_preview_names_the_closed_days_and_offers_no_save_to_hq(
    client_as: Callable[..., FlaskClient], closed: None
) -> None:
    hq = client_as(Role.HQ, "copy-hq")
    page = hq.post(
        f"{BASE}/entries/copy",
        data={"source": "2023-10-30", "target_from": "2023-11-01", "target_to": "2023-11-02"},
    ).get_data(as_text=True)
    assert HQ_SAYS in page
    assert "この内容でコピー" not in page
    open_day = hq.post(f"{BASE}/entries/copy", data={"source": "2023-10-30", "target_from": "2023-11-02"})
    assert "この内容でコピー" in open_day.get_data(as_text=True)


def test_hq_sees_no_edit_or_delete_links_on_closed_rows_and_a_reviewer_does(
    client_as: Callable[..., FlaskClient], closed: None
) -> None:
    listing = f"{BASE}/entries?date_from=2023-10-30&date_to=2023-10-31"
    hq = client_as(Role.HQ, "list-hq").get(listing).get_data(as_text=True)
    reviewer = client_as(Role.REVIEWER, "list-reviewer").get(listing).get_data(as_text=True)
    # 2023-10-31 (closed) has 3 entries, 2023-10-30 (open) 3 as well.
    assert hq.count(">編集</a>") == 3 and hq.count(">削除</a>") == 3
    assert reviewer.count(">編集</a>") == 6 and reviewer.count(">削除</a>") == 6
    assert hq.count(">履歴</a>") == 6


def test_the_edit_form_says_its_entry_is_on_a_closed_day(
    app: Flask, client_as: Callable[..., FlaskClient], closed: None
) -> None:
    with app.app_context():
        entry_id = db.session.scalars(select(Entry.id).where(Entry.date == date(2023, 10, 31))).first()
    page = (
        client_as(Role.REVIEWER, "edit-reviewer")
        .get(f"{BASE}/entries/{entry_id}/edit")
        .get_data(as_text=True)
    )
    assert "令和5年10月31日は締め済み（確定）です。変更する理由を入力してください。" in page
