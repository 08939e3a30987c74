"""Rows for tests, built through the real services so every invariant applies."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from dispatch.closing import Actor
from dispatch.extensions import db
from dispatch.models import Disaster, Duty, Entry, Operation, Organisation, Role
from dispatch.services import EntryDraft, create_disaster, create_operation, log_entries

AKITA_PREF = "050008"
AKITA_CITY = "052019"
GOJOME = "053619"
NOSHIRO = "052027"
YOKOTE = "052035"


def hq(name: str = "test") -> Actor:
    """Someone at disaster HQ: may enter and edit, not amend closed days."""
    return Actor(name, Role.HQ)


def reviewer(name: str = "reviewer") -> Actor:
    """The disaster prevention division: may close days and amend closed ones with a reason."""
    return Actor(name, Role.REVIEWER)


def org(code: str) -> Organisation:
    found = db.session.scalar(select(Organisation).where(Organisation.code == code))
    assert found is not None, code
    return found


def duty(code: str) -> Duty:
    found = db.session.scalar(select(Duty).where(Duty.code == code))
    assert found is not None, code
    return found


def disaster(slug: str = "test-rain", start: date = date(2023, 7, 14)) -> Disaster:
    existing = db.session.scalar(select(Disaster).where(Disaster.slug == slug))
    return existing or create_disaster(slug, "テスト豪雨", start, hq())


def operation(d: Disaster | None = None, code: str = "mutual-aid") -> Operation:
    d = d or disaster()
    for op in d.operations:
        if op.code == code:
            return op
    return create_operation(d, code, f"{code}の派遣", hq())


def draft(
    day: date,
    headcount: int = 1,
    *,
    op: Operation | None = None,
    sender: str = AKITA_PREF,
    destination: str = GOJOME,
    duty_code: str = "water_supply",
    sender_unit: str = "",
) -> EntryDraft:
    return EntryDraft(
        date=day,
        operation=op or operation(),
        sender=org(sender),
        destination=org(destination),
        duty=duty(duty_code),
        headcount=headcount,
        sender_unit=sender_unit,
    )


def entry(day: date, headcount: int = 1, **kwargs: object) -> Entry:
    [created] = log_entries([draft(day, headcount, **kwargs)], actor=hq())  # type: ignore[arg-type]
    return created
