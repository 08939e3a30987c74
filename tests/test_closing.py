"""締め: closing days, amending closed days only with a reason, and the audit trail of it all."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError

from dispatch.audit import AuditFilter, audit_select
from dispatch.closing import close_day, closed_dates, reopen_day
from dispatch.entries import delete_entry, log_entries, restore_entry, update_entry
from dispatch.errors import ClosingError, Refusal
from dispatch.extensions import db
from dispatch.models import AuditRecord, Entry
from tests.factories import disaster, draft, entry, hq, reviewer

DAY = date(2023, 8, 1)


def test_close_and_reopen_a_day(ctx: None) -> None:
    rain = disaster()
    close_day(rain, DAY, reviewer("kato"))
    assert closed_dates(rain) == {DAY}

    with pytest.raises(ClosingError, match="締め済み"):
        close_day(rain, DAY, reviewer("kato"))
    with pytest.raises(ClosingError, match="理由"):
        reopen_day(rain, DAY, reviewer("kato"), reason=" ")

    reopen_day(rain, DAY, reviewer("kato"), reason="秋田市から追加報告")
    assert closed_dates(rain) == set()
    actions = [r.action for r in db.session.scalars(audit_select(AuditFilter(object_type="closed_day")))]
    assert actions == ["reopen_day", "close_day"]


def test_hq_cannot_close_a_day(ctx: None) -> None:
    with pytest.raises(ClosingError):
        close_day(disaster(), DAY, hq())


def test_hq_cannot_add_edit_or_delete_on_a_closed_day(ctx: None) -> None:
    existing = entry(DAY, 3)
    close_day(disaster(), DAY, reviewer())

    with pytest.raises(Refusal, match="総合防災課に依頼"):
        log_entries([draft(DAY, 2, duty_code="damage_survey")], hq())
    with pytest.raises(Refusal, match="総合防災課に依頼"):
        update_entry(existing, draft(DAY, 5), hq())
    with pytest.raises(Refusal, match="総合防災課に依頼"):
        delete_entry(existing, hq())
    # Moving an open day's entry onto a closed day is a change to the closed day too.
    movable = entry(date(2023, 8, 2), 1)
    with pytest.raises(Refusal, match="総合防災課に依頼"):
        update_entry(movable, draft(DAY, 1, duty_code="certificate"), hq())


def test_reviewer_edit_on_a_closed_day_needs_a_reason(ctx: None) -> None:
    existing = entry(DAY, 3)
    close_day(disaster(), DAY, reviewer())

    with pytest.raises(Refusal, match="理由"):
        update_entry(existing, draft(DAY, 5), reviewer("kato"))

    update_entry(existing, draft(DAY, 5), reviewer("kato"), reason="五城目町の報告訂正")
    [record] = db.session.scalars(
        audit_select(AuditFilter(object_type="entry", object_id=existing.id)).where(
            AuditRecord.action == "update"
        )
    )
    assert record.actor == "kato"
    assert record.before is not None and record.before["headcount"] == 3
    assert record.after is not None and record.after["headcount"] == 5
    assert record.reason == "五城目町の報告訂正"
    assert record.closed_day_change is True


def test_open_day_changes_are_audited_but_not_flagged(ctx: None) -> None:
    created = entry(DAY, 3)
    update_entry(created, draft(DAY, 4), hq("sato"))
    records = list(db.session.scalars(audit_select(AuditFilter(object_id=created.id, object_type="entry"))))
    assert [r.action for r in records] == ["update", "create"]
    assert [r.closed_day_change for r in records] == [False, False]
    assert records[0].before == {**records[1].after, "headcount": 3}  # type: ignore[dict-item]


def test_a_deleted_entry_is_restored_from_the_trail(ctx: None) -> None:
    gone = entry(DAY, 7, sender_unit="総務部")
    gone_id = gone.id
    delete_entry(gone, hq("sato"))
    assert db.session.get(Entry, gone_id) is None

    [deletion] = db.session.scalars(
        audit_select(AuditFilter(object_type="entry", object_id=gone_id)).where(
            AuditRecord.action == "delete"
        )
    )
    restored = restore_entry(deletion, reviewer("kato"))
    assert (restored.date, restored.headcount, restored.sender_unit) == (DAY, 7, "総務部")
    assert db.session.scalar(select(func.sum(Entry.headcount))) == 7


def test_the_audit_trail_is_append_only_in_the_database(ctx: None) -> None:
    entry(DAY, 1)
    db.session.commit()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text("UPDATE audit_record SET actor = 'someone else'"))
    db.session.rollback()
    with pytest.raises(DatabaseError, match="append-only"):
        db.session.execute(text("DELETE FROM audit_record"))
    db.session.rollback()
    assert db.session.scalar(select(func.count(AuditRecord.id))) >= 1
