"""Rows, users and forms for tests, built through the real services so every invariant applies.

The codes are the organisations' 全国地方公共団体コード; SLUG and BASE name the founding case's disaster
(dispatch/demo.py, loaded by the `demo` fixture) and its pages.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_login import FlaskLoginClient
from sqlalchemy import select

from dispatch.accounts import create_user
from dispatch.actors import Actor
from dispatch.catalog import create_disaster, create_operation
from dispatch.entries import EntryDraft, log_entries
from dispatch.extensions import db
from dispatch.models import Disaster, Duty, Entry, Operation, Organisation, Role, User
from dispatch.request_models import Route, StaffRequest
from dispatch.requests import RequestDraft, create_request

AKITA_PREF = "050008"
AKITA_CITY = "052019"
NOSHIRO = "052027"
YOKOTE = "052035"
OGA = "052060"
KOSAKA = "053031"
HAPPO = "053490"
GOJOME = "053619"
IKAWA = "053660"

SLUG = "akita-2023-rain"
BASE = f"/disasters/{SLUG}"

PASSWORD = "correct horse battery"


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


def staff_request(
    d: Disaster,
    number: str,
    requester: str,
    duty_code: str | None,
    persons: int,
    date_from: date,
    date_to: date,
    *,
    received_on: date = date(2023, 7, 31),
    route: Route = Route.AGREEMENT,
    **details: Any,
) -> StaffRequest:
    """A request (要請) logged by HQ; `details` are RequestDraft's other fields (job_type, place …)."""
    return create_request(
        d,
        RequestDraft(
            number=number,
            requester=org(requester),
            received_on=received_on,
            route=route,
            duty=duty(duty_code) if duty_code else None,
            persons=persons,
            date_from=date_from,
            date_to=date_to,
            **details,
        ),
        hq(),
    )


def entry(day: date, headcount: int = 1, **kwargs: object) -> Entry:
    [created] = log_entries([draft(day, headcount, **kwargs)], actor=hq())  # type: ignore[arg-type]
    return created


def admin(name: str = "admin") -> Actor:
    """A system administrator (also what the CLI acts as)."""
    return Actor(name, Role.ADMIN)


def entry_row(**overrides: Any) -> Entry:
    """An entry added straight to the session, past the services (秋田県 -> 五城目町, 給水業務, 1 person on
    2023-08-01 unless overridden): for tests of what the database itself refuses."""
    values: dict[str, Any] = {
        "date": date(2023, 8, 1),
        "operation": operation(),
        "sender": org(AKITA_PREF),
        "destination": org(GOJOME),
        "duty": duty("water_supply"),
        "headcount": 1,
    }
    values.update(overrides)
    row = Entry(**values)
    db.session.add(row)
    return row


def make_user(app: Flask, role: Role, username: str | None = None, org_code: str | None = None) -> User:
    """A user with a known password (PASSWORD), committed so that other requests see it."""
    with app.app_context():
        organisation = org(org_code) if org_code else None
        user, _ = create_user(
            username or f"{role.value}-user",
            role,
            actor=admin("test"),
            organisation=organisation,
            password=PASSWORD,
        )
        db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


def logged_in(app: Flask, user: User) -> FlaskClient:
    """A test client of the app already logged in as the user (the login page has tests of its own)."""
    app.test_client_class = FlaskLoginClient
    return app.test_client(user=user)


def entry_form(**changes: str) -> dict[str, str]:
    """The new-entry (and edit) form as HQ fills it in: 横手市 -> 五城目町, 災害救助法関係事務, 2 people on
    2023-11-01, a day after the founding case ends."""
    form = {
        "date": "2023-11-01",
        "operation": "relief-act",
        "sender": "052035 横手市",
        "sender_unit": "",
        "destination": "053619 五城目町",
        "duty": "relief_act",
        "headcount": "2",
        "note": "",
        "reason": "",
    }
    form.update(changes)
    return form


IMPORT_HEADER = "日付,派遣区分,派遣元,所属,派遣先,業務,人数,備考"


def import_form(lines: list[str]) -> dict[str, object]:
    """The import page's form with a UTF-8 CSV file of these rows under the Japanese header."""
    data = "\n".join([IMPORT_HEADER, *lines, ""]).encode("utf-8")
    return {"file": (io.BytesIO(data), "x.csv"), "encoding": "auto"}
