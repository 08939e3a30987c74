"""Write use cases for entries: log entries, a period, copy a day, edit, delete, restore.

Each one checks the whole batch first and writes all of it or nothing. They flush and never commit:
the caller (the request pipeline in views.py, a CLI command, a job) owns the transaction and rolls back
on a Refusal.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from . import audit, clock, tally
from .actors import Actor
from .catalog import closed_problem, entry_problems
from .closing import guard_closed
from .days_off import day_off
from .disagreements import type_headcount
from .errors import ClosingError, DuplicateEntry, EntryKey, Refusal
from .extensions import db
from .limits import MAX_HEADCOUNT, MAX_NOTE, MAX_PERIOD_DAYS, MAX_SENDER_UNIT
from .models import AuditRecord, Disaster, Duty, Entry, Operation, Organisation, utcnow
from .query import EntryFilter, entries_select
from .wareki import format_long

# Rows per statement when many entries are written: few statements, yet a batch's parameters and audit
# snapshots stay a few megabytes however long the import.
WRITE_BATCH = 2_000
# Values per IN list of a look-up, well under every database's limit on parameters.
LOOKUP_BATCH = 500
# Up to this many senders of an operation, a look-up narrows its dates to them (see _lookups).
FEW_SENDERS = 100

ENTRY = Entry.__table__
# The columns of the unique index uq_entry_key, in its order.
KEY_COLUMNS = (
    ENTRY.c.operation_id,
    ENTRY.c.date,
    ENTRY.c.sender_id,
    ENTRY.c.sender_unit,
    ENTRY.c.destination_id,
    ENTRY.c.duty_id,
)
KEY_NAMES = tuple(column.key for column in KEY_COLUMNS)


@dataclass(slots=True)
class EntryDraft:
    """An entry before it is written: objects, not ids, so messages can name them.

    Treated as a value once made. Not a frozen dataclass: a frozen one sets each field through
    object.__setattr__, which was a third of an import's time reading a row."""

    date: date
    operation: Operation
    sender: Organisation
    destination: Organisation
    duty: Duty
    headcount: int
    sender_unit: str = ""
    note: str = ""
    # 'roster' when derived from the team members on duty (roster.py).
    source: str = "manual"
    # Computed once: an import reads the key of each of its rows several times, and every id read through
    # an ORM object costs an attribute lookup.
    key: EntryKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.key = (
            self.operation.id,
            self.date,
            self.sender.id,
            self.sender_unit,
            self.destination.id,
            self.duty.id,
        )

    def describe(self) -> str:
        unit = f"（{self.sender_unit}）" if self.sender_unit else ""
        return (
            f"{format_long(self.date)} {self.operation.name} {self.sender.name}{unit}"
            f"→{self.destination.name} {self.duty.name_ja}"
        )


def latest_entry_date(today: date | None = None) -> date:
    """The last date an entry may have: ENTRY_HORIZON_DAYS after today in Japan (or after ``today``)."""
    return (today or clock.today()) + timedelta(days=int(current_app.config["ENTRY_HORIZON_DAYS"]))


def date_problem(day: date, start: date, latest: date) -> str | None:
    """Why an entry cannot be dated ``day``, naming the dates it may have; None when it may.

    From the disaster's start to a few days ahead (latest_entry_date): a year typo (2123, 令和99年) would
    otherwise move person-days silently out of every total as of today.
    """
    if day < start:
        return f"災害の発生日（{format_long(start)}）より前の日付です。"
    if day > latest:
        return (
            f"{format_long(latest)}より後の日付です。"
            f"日付は{format_long(start)}から{format_long(latest)}までの範囲で入力してください。"
        )
    return None


def draft_problems(draft: EntryDraft, latest: date | None = None, kept: Sequence[int] = ()) -> list[str]:
    """What is wrong with one draft on its own, in Japanese; empty when it may be written.

    ``latest`` is the last date an entry may have (latest_entry_date(), by default): a caller checking
    many drafts passes it once. A date after the operation's end (終了日) and a deactivated organisation
    are refused too (catalog.entry_problems); ``kept``: the organisations an edited entry already names,
    which stay allowed after they were deactivated.
    """
    problems = []
    if draft.headcount < 1:
        problems.append("人数は1以上で入力してください。")
    elif draft.headcount > MAX_HEADCOUNT:
        problems.append(f"人数は{MAX_HEADCOUNT:,}以下で入力してください。")
    if draft.sender.id == draft.destination.id:
        problems.append("派遣元と派遣先が同じです。")
    wrong_date = date_problem(draft.date, draft.operation.disaster.start_date, latest or latest_entry_date())
    if wrong_date:
        problems.append(wrong_date)
    if len(draft.sender_unit) > MAX_SENDER_UNIT:
        problems.append(f"所属は{MAX_SENDER_UNIT}文字以内で入力してください。")
    if len(draft.note) > MAX_NOTE:
        problems.append(f"備考は{MAX_NOTE:,}文字以内で入力してください。")
    problems += entry_problems(draft.operation, draft.date, (draft.sender, draft.destination), kept)
    return problems


def find_entries(keys: Iterable[EntryKey]) -> dict[EntryKey, Entry]:
    """Existing entries with these keys."""
    ids = entry_ids(keys)
    return dict(zip(ids, _load(list(ids.values())), strict=True))


def entry_ids(keys: Iterable[EntryKey]) -> dict[EntryKey, int]:
    """The ids of the existing entries with these keys.

    A row-value IN over the whole key would be exact, but SQLite answers it by scanning the whole index
    once per statement. These statements seek the unique index uq_entry_key (operation_id, date,
    sender_id, ...) on SQLite and PostgreSQL alike, and the rest of the key is matched here: an import of
    new rows reads nothing, a period of one sender reads only that sender's days.
    """
    wanted = set(keys)
    dates: dict[int, set[date]] = defaultdict(set)
    senders: dict[int, set[int]] = defaultdict(set)
    for operation_id, day, sender_id, *_ in wanted:
        dates[operation_id].add(day)
        senders[operation_id].add(sender_id)
    found: dict[EntryKey, int] = {}
    for operation_id, days in sorted(dates.items()):
        for stmt, params in _lookups(operation_id, sorted(days), sorted(senders[operation_id])):
            for entry_id, *columns in db.session.execute(stmt, params):
                key = tuple(columns)
                if key in wanted:
                    found[key] = entry_id
    return found


# Built once, with the lists as expanding parameters: an entry form's POST asks for one key, and building
# the statement anew cost more than the seek.
_BY_DAYS = select(ENTRY.c.id, *KEY_COLUMNS).where(
    ENTRY.c.operation_id == bindparam("operation_id"), ENTRY.c.date.in_(bindparam("days", expanding=True))
)
_BY_DAYS_AND_SENDERS = _BY_DAYS.where(ENTRY.c.sender_id.in_(bindparam("senders", expanding=True)))


def _lookups(
    operation_id: int, days: list[date], senders: list[int]
) -> Iterator[tuple[Select[*tuple[Any, ...]], dict[str, Any]]]:
    for some_days in _batches(days, LOOKUP_BATCH):
        params = {"operation_id": operation_id, "days": list(some_days)}
        if len(senders) <= FEW_SENDERS:
            # One seek per date and sender: far less than the days' rows when the senders are few, far more
            # when they are many (an import names hundreds).
            yield _BY_DAYS_AND_SENDERS, {**params, "senders": senders}
        else:
            yield _BY_DAYS, params


def _batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _load(ids: Sequence[int]) -> list[Entry]:
    """The entries with these ids, in the same order."""
    by_id: dict[int, Entry] = {}
    for some in _batches(ids, LOOKUP_BATCH):
        by_id.update((e.id, e) for e in db.session.scalars(select(Entry).where(Entry.id.in_(some))))
    return [by_id[entry_id] for entry_id in ids]


def log_entries(drafts: Sequence[EntryDraft], actor: Actor, reason: str = "") -> list[Entry]:
    """Write every draft, or none if any is invalid or collides with an entry or with another draft."""
    return _load(log_entry_ids(drafts, actor, reason))


def log_entry_ids(drafts: Sequence[EntryDraft], actor: Actor, reason: str = "") -> list[int]:
    """log_entries, giving the new entries' ids without loading them back (a form words its message
    from its drafts)."""
    latest = latest_entry_date()
    problems = [f"{d.describe()}: {p}" for d in drafts for p in draft_problems(d, latest)]
    if problems:
        raise Refusal("\n".join(problems))
    seen: set[EntryKey] = set()
    repeated = []
    for draft in drafts:
        if draft.key in seen:
            repeated.append(draft)
        seen.add(draft.key)
    if repeated:
        raise DuplicateEntry(
            "同じ内容の行が重複しています: " + "、".join(d.describe() for d in repeated),
            [d.key for d in repeated],
        )
    existing = entry_ids(seen)
    if existing:
        raise DuplicateEntry(f"登録済みの派遣と重複します（{len(existing)}件）。", sorted(existing))
    return write_entries(drafts, actor, reason)


def write_entries(drafts: Sequence[EntryDraft], actor: Actor, reason: str = "") -> list[int]:
    """Insert drafts already checked, with an audit record each, and add them to the tally; their ids.

    The caller has checked every draft (draft_problems) and its key (entry_ids), as log_entries and the
    importer do, each reporting problems in its own words. Closed days are still refused here
    (guard_closed), and so is a key another writer inserted since the check (DuplicateEntry).

    Rows go through the core insert, many to a statement, not through the session: for an import of a
    hundred thousand rows the unit of work costs far more than the rows, and holds every object until
    commit.
    """
    flagged = _guard(drafts, actor, reason)
    now = utcnow()
    ids: list[int] = []
    for batch in _batches(drafts, WRITE_BATCH):
        batch_ids = _insert(batch, actor, now)
        audit.record_many(
            [
                _created_record(entry_id, draft, actor, now, reason, flagged)
                for entry_id, draft in zip(batch_ids, batch, strict=True)
            ]
        )
        ids.extend(batch_ids)
    # The session events that keep the tally in step see only the ORM's writes, not the core insert.
    tally.apply(_tally_change(d) for d in drafts)
    return ids


_INSERT = insert(ENTRY).returning(ENTRY.c.id, *KEY_COLUMNS)


def _insert(drafts: Sequence[EntryDraft], actor: Actor, now: datetime) -> list[int]:
    stamps = {"created_by": actor.name, "created_at": now, "updated_by": actor.name, "updated_at": now}
    rows = [
        dict(
            zip(KEY_NAMES, d.key, strict=True), headcount=d.headcount, note=d.note, source=d.source, **stamps
        )
        for d in drafts
    ]
    # The keys come back with the ids, because RETURNING rows need not follow the parameters' order; asking
    # SQLAlchemy to sort them (sort_by_parameter_order) would double the time on SQLite.
    with _refusing_duplicates(d.key for d in drafts):
        id_of = {tuple(key): entry_id for entry_id, *key in db.session.execute(_INSERT, rows)}
    return [id_of[d.key] for d in drafts]


def _created_record(
    entry_id: int, draft: EntryDraft, actor: Actor, now: datetime, reason: str, flagged: set[date]
) -> dict[str, Any]:
    """The record of an entry's creation, with the columns _audit_entry gives the records of its changes."""
    return audit.new_record(
        "create",
        "entry",
        entry_id,
        actor=actor,
        at=now,
        disaster_id=draft.operation.disaster_id,
        after=audit.entry_snapshot(draft),
        reason=reason.strip(),
        summary=audit.entry_summary(draft),
        closed_day_change=draft.date in flagged,
    )


def _tally_change(draft: EntryDraft) -> tally.Change:
    operation_id, day, sender_id, _, destination_id, duty_id = draft.key
    return tally.Change(
        disaster_id=draft.operation.disaster_id,
        operation_id=operation_id,
        date=day,
        sender_id=sender_id,
        destination_id=destination_id,
        duty_id=duty_id,
        headcount=draft.headcount,
    )


def _guard(drafts: Sequence[EntryDraft], actor: Actor, reason: str) -> set[date]:
    """The closed dates among the drafts' (refused unless the actor may amend them with a reason); a closed
    disaster (終了) refuses every change."""
    by_disaster: dict[int, tuple[Disaster, set[date]]] = {}
    for d in drafts:
        disaster = d.operation.disaster
        by_disaster.setdefault(disaster.id, (disaster, set()))[1].add(d.date)
    flagged: set[date] = set()
    for disaster, dates in by_disaster.values():
        closed = closed_problem(disaster)
        if closed:
            raise Refusal(closed)
        try:
            flagged |= guard_closed(disaster, dates, actor, reason)
        except ClosingError as exc:
            raise Refusal(str(exc)) from exc
    return flagged


def _audit_entry(
    action: str,
    entry: Entry,
    actor: Actor,
    *,
    before: dict[str, object] | None = None,
    after: dict[str, object] | None = None,
    reason: str = "",
    flagged: bool = False,
) -> None:
    audit.record(
        action,
        "entry",
        entry.id,
        actor=actor,
        disaster_id=entry.operation.disaster_id,
        before=before,
        after=after,
        reason=reason.strip(),
        summary=audit.entry_summary(entry),
        closed_day_change=flagged,
    )


def period_dates(date_from: date, date_to: date, *, skip_holidays: bool = False) -> list[date]:
    """Every date from one to the other, both included; with skip_holidays, weekdays that are not national
    holidays only (skipped_days lists the others)."""
    if date_to < date_from:
        raise Refusal("終了日が開始日より前です。")
    days = (date_to - date_from).days + 1
    if days > MAX_PERIOD_DAYS:
        raise Refusal(f"期間は{MAX_PERIOD_DAYS}日以内にしてください。")
    every = [date_from + timedelta(days=n) for n in range(days)]
    if not skip_holidays:
        return every
    kept = [day for day in every if day_off(day) is None]
    if not kept:
        raise Refusal("期間内の日がすべて土日祝日です。期間を変えるか「土日祝日を除く」を外してください。")
    return kept


def skipped_days(date_from: date, date_to: date) -> list[tuple[date, str]]:
    """The Saturdays, Sundays and national holidays from one date to the other, each with its reason."""
    days = (date_to - date_from).days + 1
    named = ((date_from + timedelta(days=n), day_off(date_from + timedelta(days=n))) for n in range(days))
    return [(day, reason) for day, reason in named if reason is not None]


def log_period(draft: EntryDraft, date_to: date, actor: Actor, reason: str = "") -> list[Entry]:
    """The same headcount on every day from draft.date to date_to inclusive; all days or none."""
    return log_entries(period_drafts(draft, date_to), actor, reason)


def copy_drafts(
    disaster: Disaster, source: date, targets: Sequence[date], flt: EntryFilter
) -> list[EntryDraft]:
    """A day's entries (those the filter keeps) as drafts on each target date; empty when there are none."""
    if source in targets:
        raise Refusal("コピー先にコピー元と同じ日が含まれています。")
    day = flt.narrowed(date_from=source, date_to=source)
    originals = list(db.session.scalars(entries_select(disaster, day)))
    return [
        EntryDraft(
            date=target,
            operation=e.operation,
            sender=e.sender,
            sender_unit=e.sender_unit,
            destination=e.destination,
            duty=e.duty,
            headcount=e.headcount,
            note=e.note,
        )
        for target in targets
        for e in originals
    ]


def copy_day(
    disaster: Disaster,
    source: date,
    targets: Sequence[date],
    flt: EntryFilter,
    actor: Actor,
    reason: str = "",
) -> list[Entry]:
    """Repeat a day's entries (those the filter keeps) on each target date: rotations repeat."""
    drafts = copy_drafts(disaster, source, targets, flt)
    if not drafts:
        raise Refusal(f"{format_long(source)}の派遣はありません（コピー元が空です）。")
    return log_entries(drafts, actor, reason)


@dataclass(frozen=True)
class Preview:
    """What a batch of drafts will add, shown before anything is written."""

    count: int
    person_days: int
    clashes: list[Entry]


def preview(drafts: Sequence[EntryDraft]) -> Preview:
    """The entries and person-days the drafts would add, and the existing entries they would repeat."""
    clashes = find_entries(d.key for d in drafts)
    return Preview(
        count=len(drafts),
        person_days=sum(d.headcount for d in drafts),
        clashes=sorted(clashes.values(), key=lambda e: e.date),
    )


def period_drafts(draft: EntryDraft, date_to: date, *, skip_holidays: bool = False) -> list[EntryDraft]:
    """The same draft on every day from draft.date to date_to inclusive (weekdays only with skip_holidays)."""
    return [replace(draft, date=d) for d in period_dates(draft.date, date_to, skip_holidays=skip_holidays)]


ROSTER_ENTRY = "名簿（班・陣）から計算された派遣です。名簿で隊員や日付を変えてください。"
ROSTER_KEY = (
    "名簿（班・陣）から計算された派遣です。日付・派遣区分・派遣元・所属・派遣先・業務・備考は名簿で変えてください"
    "（人数は、入力の人数として名簿の人数と並べて記録できます）。"
)


def update_entry(entry: Entry, draft: EntryDraft, actor: Actor, reason: str = "") -> Entry:
    if entry.source == "roster":
        # The roster's headcount stays the counted one; a typed one is kept beside it (disagreements.py).
        if draft.key != _as_draft(entry).key or draft.note != entry.note:
            raise Refusal(ROSTER_KEY)
        flagged = bool(_guard([draft], actor, reason))
        type_headcount(entry, draft.headcount, actor, reason, closed_day_change=flagged)
        return entry
    problems = draft_problems(draft, kept=(entry.sender_id, entry.destination_id))
    if problems:
        raise Refusal("\n".join(problems))
    clash = entry_ids([draft.key]).get(draft.key)
    if clash is not None and clash != entry.id:
        raise DuplicateEntry("登録済みの派遣と重複します。", [draft.key])
    before = audit.entry_snapshot(entry)
    flagged = bool(_guard([draft, _as_draft(entry)], actor, reason))
    entry.date = draft.date
    entry.operation = draft.operation
    entry.sender = draft.sender
    entry.sender_unit = draft.sender_unit
    entry.destination = draft.destination
    entry.duty = draft.duty
    entry.headcount = draft.headcount
    entry.note = draft.note
    entry.updated_by = actor.name
    entry.updated_at = utcnow()
    with _refusing_duplicates([draft.key]):
        db.session.flush()
    after = audit.entry_snapshot(entry)
    if after != before:
        _audit_entry("update", entry, actor, before=before, after=after, reason=reason, flagged=flagged)
    return entry


def delete_entry(entry: Entry, actor: Actor, reason: str = "") -> None:
    """Delete an entry; its last values stay in the audit trail, from which it can be restored."""
    if entry.source == "roster":
        raise Refusal(ROSTER_ENTRY)
    flagged = bool(_guard([_as_draft(entry)], actor, reason))
    _audit_entry("delete", entry, actor, before=audit.entry_snapshot(entry), reason=reason, flagged=flagged)
    db.session.delete(entry)
    db.session.flush()


def restore_entry(record: AuditRecord, actor: Actor, reason: str = "") -> Entry:
    """Bring back a deleted entry from the values its deletion recorded."""
    if record.action != "delete" or record.object_type != "entry" or not record.before:
        raise Refusal("復元できるのは派遣の削除の記録だけです。")
    disaster = db.session.get(Disaster, record.disaster_id) if record.disaster_id else None
    if disaster is None:
        raise Refusal("災害が見つかりません。")
    values = record.before
    operation = next((op for op in disaster.operations if op.code == values["operation"]), None)
    sender = _by_code(Organisation, values["sender"])
    destination = _by_code(Organisation, values["destination"])
    duty = _by_code(Duty, values["duty"])
    if operation is None or sender is None or destination is None or duty is None:
        raise Refusal("派遣区分・団体・業務のいずれかが見つからないため復元できません。")
    draft = EntryDraft(
        date=date.fromisoformat(str(values["date"])),
        operation=operation,
        sender=sender,
        sender_unit=str(values.get("sender_unit", "")),
        destination=destination,
        duty=duty,
        headcount=int(values["headcount"]),
        note=str(values.get("note", "")),
    )
    [entry] = log_entries([draft], actor, reason)
    _audit_entry(
        "restore", entry, actor, after=audit.entry_snapshot(entry), reason=f"記録#{record.id}から復元"
    )
    return entry


def _by_code(model: type[Organisation] | type[Duty], code: object) -> Any:
    return db.session.scalar(select(model).where(model.code == str(code)))


def _as_draft(entry: Entry) -> EntryDraft:
    return EntryDraft(
        date=entry.date,
        operation=entry.operation,
        sender=entry.sender,
        destination=entry.destination,
        duty=entry.duty,
        headcount=entry.headcount,
        sender_unit=entry.sender_unit,
        note=entry.note,
    )


@contextmanager
def _refusing_duplicates(keys: Iterable[EntryKey]) -> Iterator[None]:
    # Another writer can insert the same key between our check and our write (PostgreSQL runs writers
    # side by side); the unique constraint is then the last word and the whole batch is refused.
    try:
        yield
    except IntegrityError as exc:
        text = str(exc.orig)
        if "uq_entry_key" in text or "UNIQUE constraint failed: entry." in text:
            raise DuplicateEntry("登録済みの派遣と重複します（同時に登録されました）。", list(keys)) from exc
        raise
