"""The status report (状況報告) in the prefecture's own format, generated from the entries.

For each operation in display order: its period (継続中 while open), destinations with their last dates,
duties, per-day headcount ranges by kind of sender, and person-days as of the date; the same facts in the
same order as the report the founding case started from (DOMAIN.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select

from .extensions import db
from .models import Disaster, Entry, Operation, Organisation, OrgKind
from .query import EntryFilter, apply_filter, joined
from .wareki import era_year, format_long, format_period, format_short


@dataclass(frozen=True)
class SenderGroup:
    """Senders of one kind, as the report names them: 県総務部総合防災課職員, 県内市町村職員, ..."""

    label: str
    min_per_day: int
    max_per_day: int

    @property
    def per_day(self) -> str:
        if self.min_per_day == self.max_per_day:
            return f"{self.min_per_day}人/日"
        return f"{self.min_per_day}～{self.max_per_day}人/日"


@dataclass(frozen=True)
class ReportItem:
    number: int
    operation: Operation
    first: date
    last: date
    ongoing: bool
    destinations: list[tuple[str, date]]  # name, last date; most person-days first
    duties: list[str]
    groups: list[SenderGroup]
    achievement_senders: str
    person_days: int


@dataclass(frozen=True)
class StatusReport:
    disaster: Disaster
    as_of: date
    closed: bool
    items: list[ReportItem]

    @property
    def person_days(self) -> int:
        return sum(item.person_days for item in self.items)

    def text(self) -> str:
        status = "確定値" if self.closed else "速報値"
        lines = [
            f"{self.disaster.name}に係る応援職員の派遣状況",
            f"（{format_long(self.as_of)}時点・{status}）",
            "",
        ]
        for item in self.items:
            lines += _item_lines(item)
            lines.append("")
        if not self.items:
            lines.append(f"{format_long(self.as_of)}までの派遣はありません。")
        return "\n".join(lines).rstrip() + "\n"


def _item_lines(item: ReportItem) -> list[str]:
    period = format_period(item.first, None if item.ongoing else item.last)
    if item.ongoing:
        destinations = "、".join(name for name, _ in item.destinations)
    else:
        destinations = "、".join(
            f"{name}（{_relative(last, item.first)}まで）" for name, last in item.destinations
        )
    duties = "、".join(item.duties[:3]) + ("等" if len(item.duties) > 3 else "")
    groups = "、".join(f"{g.label}（{g.per_day}）" for g in item.groups)
    until = _relative(item.last, item.first)
    return [
        f"({item.number}) {item.operation.name}",
        f"派遣期間：{period}",
        f"派遣先：{destinations}",
        f"従事業務：{duties}",
        f"派遣者：{groups}",
        f"実績：{until}までに{item.achievement_senders}、延べ{item.person_days}人派遣",
    ]


def _relative(day: date, start: date) -> str:
    """The year is dropped when it repeats the period's start, as documents write it."""
    return format_short(day) if era_year(day) == era_year(start) else format_long(day)


def status_report(
    disaster: Disaster, as_of: date, closed: bool, flt: EntryFilter | None = None
) -> StatusReport:
    flt = (flt or EntryFilter()).narrowed(date_to=as_of)
    rows = db.session.execute(
        apply_filter(joined(select(Entry, Operation)), disaster, flt).order_by(Entry.date)
    ).all()
    per_operation: dict[int, list[Entry]] = defaultdict(list)
    for entry, _ in rows:
        per_operation[entry.operation_id].append(entry)
    home = _home_prefecture([e for entries in per_operation.values() for e in entries])
    last_ever = dict(
        db.session.execute(
            select(Entry.operation_id, func.max(Entry.date))
            .join(Operation, Entry.operation_id == Operation.id)
            .where(Operation.disaster_id == disaster.id)
            .group_by(Entry.operation_id)
        ).all()
    )
    items = []
    # Numbered by display order, so an item keeps its number in every report of the disaster.
    for number, operation in enumerate(disaster.operations, start=1):
        entries = per_operation.get(operation.id)
        if entries:
            # Ongoing as of the date while the operation is open, or while it went on after that date.
            ongoing = not operation.closed or last_ever[operation.id] > as_of
            items.append(_item(number, operation, entries, home, as_of, ongoing))
    return StatusReport(disaster, as_of, closed, items)


def _item(
    number: int,
    operation: Operation,
    entries: list[Entry],
    home: Organisation | None,
    as_of: date,
    ongoing: bool,
) -> ReportItem:
    by_destination: dict[int, list[Entry]] = defaultdict(list)
    duty_first: dict[str, date] = {}
    duty_days: Counter[str] = Counter()
    for e in entries:
        by_destination[e.destination_id].append(e)
        duty_first.setdefault(e.duty.name_ja, e.date)
        duty_days[e.duty.name_ja] += e.headcount
    destinations = sorted(
        by_destination.values(), key=lambda es: (-sum(e.headcount for e in es), es[0].destination.code)
    )
    return ReportItem(
        number=number,
        operation=operation,
        first=entries[0].date,
        last=as_of if ongoing else entries[-1].date,
        ongoing=ongoing,
        destinations=[(es[0].destination.name, max(e.date for e in es)) for es in destinations],
        # In the order the work began: 給水業務 came before 家屋被害認定調査 after the 2023 rain.
        duties=sorted(duty_first, key=lambda name: (duty_first[name], -duty_days[name])),
        groups=_groups(entries, home),
        achievement_senders=_achievement_senders(entries, home),
        person_days=sum(e.headcount for e in entries),
    )


def _home_prefecture(entries: list[Entry]) -> Organisation | None:
    """The prefecture the disaster struck: where most destinations lie. Its staff are 県職員."""
    counts: Counter[int] = Counter()
    prefectures: dict[int, Organisation] = {}
    for e in entries:
        pref = e.destination if e.destination.org_kind is OrgKind.PREFECTURE else e.destination.prefecture
        if pref is not None:
            counts[pref.id] += e.headcount
            prefectures[pref.id] = pref
    return prefectures[counts.most_common(1)[0][0]] if counts else None


def _kind(org: Organisation, home: Organisation | None) -> str:
    if home is not None and org.id == home.id:
        return "県"
    if org.org_kind.is_municipal:
        return "県内市町村" if home is not None and org.prefecture_id == home.id else "県外市町村"
    if org.org_kind is OrgKind.PREFECTURE:
        return "他都道府県"
    return "その他"


KIND_ORDER = ["県", "県内市町村", "他都道府県", "県外市町村", "その他"]


def _groups(entries: list[Entry], home: Organisation | None) -> list[SenderGroup]:
    per_day: dict[str, Counter[date]] = defaultdict(Counter)
    units: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        kind = _kind(e.sender, home)
        per_day[kind][e.date] += e.headcount
        units[kind].add(e.sender_unit)
    groups = []
    for kind in KIND_ORDER:
        if kind not in per_day:
            continue
        days = per_day[kind].values()
        unit = next(iter(units[kind])) if len(units[kind]) == 1 and kind == "県" else ""
        groups.append(SenderGroup(f"{kind}{unit}職員", min(days), max(days)))
    return groups


def _achievement_senders(entries: list[Entry], home: Organisation | None) -> str:
    kinds = {_kind(e.sender, home) for e in entries}
    if kinds == {"県", "県内市町村"}:
        return "県及び県内市町村職員"
    if len(kinds) == 1 and kinds <= {"県", "他都道府県", "その他"}:
        units = {e.sender_unit for e in entries}
        unit = next(iter(units)) if len(units) == 1 else ""
        return f"{next(iter(kinds)).replace('他都道府県', '他の都道府県')}{unit}職員"
    senders: Counter[int] = Counter()
    orgs: dict[int, Organisation] = {}
    for e in entries:
        senders[e.sender_id] += e.headcount
        orgs[e.sender_id] = e.sender
    ranked = [orgs[i] for i, _ in senders.most_common()]
    if len(ranked) == 1:
        return f"{ranked[0].name}から"
    others = ranked[1:]
    kinds_of_others = {o.org_kind for o in others}
    suffix = (
        others[0].org_kind.label if len(kinds_of_others) == 1 and others[0].org_kind.is_municipal else "団体"
    )
    return f"{ranked[0].name}ほか{len(others)}{suffix}から"
