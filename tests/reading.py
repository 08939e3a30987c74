"""Reading back what the app gave: page text, flash messages and field errors, CSV downloads, command
results, the master data files and row counts."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from importlib import resources

from click.testing import Result
from flask import Flask
from sqlalchemy import func, select

from dispatch.extensions import db
from dispatch.models import Entry

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
