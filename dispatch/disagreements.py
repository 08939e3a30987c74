"""名簿と入力の不一致: a key the roster holds whose headcount somebody typed differently.

Where the roster covers a key (roster_sync.py), its headcount is the entry's, and the tally, totals and
reports count it alone. A figure typed for the same key (a typed entry the roster took over, or a roster
entry's headcount edited by hand) is kept beside it in ``Entry.typed_headcount``; where the two differ the
day is flagged on the dashboard and the closing page, and closing it needs a reason (closing.py). The flag
goes when the figures agree again (the typed one is changed, or the roster's), or when somebody accepts the
roster's figure, which drops the typed one. Every change is audited; none changes a counted figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .limits import MAX_HEADCOUNT
from .models import Duty, Entry, Operation, Organisation, utcnow
from .wareki import format_long

Sender = aliased(Organisation)
Destination = aliased(Organisation)


@dataclass(frozen=True)
class Disagreement:
    """One entry whose roster headcount and typed headcount differ."""

    entry_id: int
    date: date
    operation: str
    sender: str
    sender_unit: str
    destination: str
    duty: str
    roster: int
    typed: int

    def describe(self) -> str:
        unit = f"（{self.sender_unit}）" if self.sender_unit else ""
        return f"{self.operation} {self.sender}{unit}→{self.destination} {self.duty}"


def disagreements(
    disaster_id: int, visible_to: int | None = None, among: Iterable[date] | None = None
) -> list[Disagreement]:
    """Every disagreement of the disaster, by date; only those whose sender or destination is ``visible_to``
    when given (a municipality's own), only on the dates ``among`` when given."""
    stmt = (
        select(
            Entry.id,
            Entry.date,
            Operation.name,
            Sender.name,
            Entry.sender_unit,
            Destination.name,
            Duty.name_ja,
            Entry.headcount,
            Entry.typed_headcount,
            Entry.sender_id,
            Entry.destination_id,
        )
        .join(Operation, Operation.id == Entry.operation_id)
        .join(Sender, Sender.id == Entry.sender_id)
        .join(Destination, Destination.id == Entry.destination_id)
        .join(Duty, Duty.id == Entry.duty_id)
        .where(
            Operation.disaster_id == disaster_id,
            Entry.typed_headcount.is_not(None),
            Entry.typed_headcount != Entry.headcount,
        )
        .order_by(Entry.date, Operation.display_order, Sender.code, Entry.sender_unit, Destination.code)
    )
    wanted = None if among is None else set(among)
    if wanted is not None:
        if not wanted:
            return []
        stmt = stmt.where(Entry.date.between(min(wanted), max(wanted)))
    # A municipality's own are picked here, not in SQL: the disagreements are few and found through their
    # partial index, where an OR over sender and destination would have SQLite read every entry of the body.
    found = []
    for row in db.session.execute(stmt):
        entry_id, day, operation, sender, unit, destination, duty, roster, typed, *ends = row
        if typed is None or (wanted is not None and day not in wanted):
            continue
        if visible_to is None or visible_to in ends:
            found.append(
                Disagreement(entry_id, day, operation, sender, unit, destination, duty, roster, typed)
            )
    return found


def by_date(found: Iterable[Disagreement]) -> dict[date, list[Disagreement]]:
    days: dict[date, list[Disagreement]] = {}
    for d in found:
        days.setdefault(d.date, []).append(d)
    return days


def needs_reason(days: dict[date, list[Disagreement]]) -> str:
    """The refusal of closing these days without a reason."""
    listed = sorted(days)
    shown = "、".join(format_long(d) for d in listed[:3]) + ("ほか" if len(listed) > 3 else "")
    count = sum(len(found) for found in days.values())
    return f"{shown}は名簿と入力の人数が一致しません（{count}件）。締める理由を入力してください。"


def snapshot(entry: Entry) -> dict[str, Any]:
    """An entry's audit snapshot with its typed headcount, for the changes this module and the roster make."""
    return {**audit.entry_snapshot(entry), "typed_headcount": entry.typed_headcount}


def type_headcount(
    entry: Entry, headcount: int, actor: Actor, reason: str = "", *, closed_day_change: bool = False
) -> None:
    """Keep a headcount typed by hand for a roster's entry beside the roster's, which stays the counted one.
    The caller has guarded a closed day (entries.update_entry), as for any change of an entry."""
    if not 1 <= headcount <= MAX_HEADCOUNT:
        raise Refusal(f"人数は1以上{MAX_HEADCOUNT:,}以下で入力してください。")
    if entry.typed_headcount == headcount:
        return
    what = f"入力の人数を{headcount}人に"
    _set(entry, headcount, actor, reason.strip() or "入力の人数", what, closed_day_change)


def accept_roster(entry: Entry, actor: Actor, reason: str = "") -> None:
    """Take the roster's headcount as the day's figure: the typed one is dropped, and the flag with it."""
    if entry.typed_headcount is None or entry.typed_headcount == entry.headcount:
        raise Refusal("この派遣には名簿と一致しない入力の人数がありません。")
    _set(entry, None, actor, reason.strip() or "名簿の人数を採用", f"名簿の人数{entry.headcount}人を採用")


def _set(
    entry: Entry, typed: int | None, actor: Actor, reason: str, what: str, closed_day_change: bool = False
) -> None:
    before = snapshot(entry)
    entry.typed_headcount = typed
    entry.updated_by = actor.name
    entry.updated_at = utcnow()
    audit.record(
        "update", "entry", entry.id, actor=actor, disaster_id=entry.operation.disaster_id, before=before,
        after=snapshot(entry), reason=reason, summary=f"{audit.entry_summary(entry)}（{what}）",
        closed_day_change=closed_day_change,
    )  # fmt: skip
    db.session.flush()
