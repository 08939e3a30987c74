"""Reading back what the app gave: page text, flash messages and field errors, CSV downloads, command
results, the master data files and row counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from html import unescape
from importlib import resources
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import ColumnElement, func, select

from dispatch.extensions import db
from dispatch.models import AuditRecord, Duty, Entry, Operation
from dispatch.query import Destination, Sender, joined
from tests.factories import BASE

# --- pages ----------------------------------------------------------------------------------------------


def plain(fragment: str) -> str:
    """Text as a person reads it: a line break is a space, other tags dropped, whitespace (U+3000 too)
    collapsed."""
    text = re.sub(r"<[^>]+>", "", re.sub(r"<br\s*/?>", " ", fragment))
    return re.sub(r"\s+", " ", unescape(text)).strip()


def flashes(text: str, category: str) -> list[str]:
    """The flash messages of one category (success, error), as text."""
    return [plain(m) for m in re.findall(rf'<p class="flash flash-{category}"[^>]*>(.*?)</p>', text, re.S)]


def field_errors(text: str) -> dict[str, list[str]]:
    """Every error shown next to a field, by field id."""
    found: dict[str, list[str]] = {}
    for field, message in re.findall(r'<p class="error" id="([\w-]+)-error">(.*?)</p>', text, re.S):
        found.setdefault(field, []).append(plain(message))
    return found


def totals_json(client: FlaskClient, as_of: str, by: str = "operation") -> dict[str, Any]:
    """The founding case's totals as of a date, by a dimension, from totals.json."""
    response = client.get(f"{BASE}/totals.json?as_of={as_of}&by={by}")
    assert response.status_code == 200
    return response.get_json()


def list_summary(text: str) -> str:
    """The line above the entry list: how many entries the filter found and their person-days."""
    [found] = re.findall(r'data-testid="list-summary">(.*?)</p>', text, re.S)
    return plain(found)


# --- downloads and files --------------------------------------------------------------------------------


def csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    """A CSV download's rows, header included (utf-8-sig drops the byte-order mark)."""
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def master_csv(name: str) -> list[dict[str, str]]:
    """One of the master data files shipped in dispatch/data, as the loader reads it."""
    text = resources.files("dispatch").joinpath("data", name).read_text(encoding="utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_ok(result: Result) -> None:
    """A command exited 0, or the test fails showing what it printed and raised."""
    assert result.exit_code == 0, f"{result.output}{result.exception!r}"


# --- the database ---------------------------------------------------------------------------------------


def facts(*where: ColumnElement[bool]) -> list[tuple[Any, ...]]:
    """The entries that match, as codes (date, operation, sender, unit, destination, duty, headcount, note),
    sorted; read in the current application context."""
    stmt = joined(
        select(
            Entry.date,
            Operation.code,
            Sender.code,
            Entry.sender_unit,
            Destination.code,
            Duty.code,
            Entry.headcount,
            Entry.note,
        )
    ).where(*where)
    return sorted(tuple(row) for row in db.session.execute(stmt))


def entry_id(
    app: Flask,
    day: date,
    *,
    sender: str,
    destination: str,
    duty: str,
    operation: str | None = None,
    sender_unit: str | None = None,
) -> int:
    """The id of the one entry on the day with these codes (the whole key, or as much as tells it apart)."""
    found = [Entry.date == day, Sender.code == sender, Destination.code == destination, Duty.code == duty]
    if operation is not None:
        found.append(Operation.code == operation)
    if sender_unit is not None:
        found.append(Entry.sender_unit == sender_unit)
    with app.app_context():
        [entry] = db.session.scalars(joined(select(Entry.id)).where(*found))
        return entry


def audit_record_id(app: Flask, entry_id: int, action: str) -> int:
    """The id of the audit record of an entry's creation, change, deletion or restoring."""
    with app.app_context():
        [record] = db.session.scalars(
            select(AuditRecord.id).where(
                AuditRecord.object_type == "entry",
                AuditRecord.object_id == entry_id,
                AuditRecord.action == action,
            )
        )
        return record


def count(app: Flask, model: type) -> int:
    """Rows of a model in the whole database."""
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model)) or 0


def counts(app: Flask) -> tuple[int, int]:
    """(entries, person-days) in the whole database."""
    with app.app_context():
        entries, person_days = db.session.execute(
            select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0))
        ).one()
        return int(entries), int(person_days)
