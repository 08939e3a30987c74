"""The status report (状況報告) in the prefecture's own format, generated from the entries.

For each operation with entries, in display order and numbered as printed ((1), (2), … with no gaps): its
period (継続中 until it ends), destinations in 団体コード order with their receiving sections (配属先) and
last dates, duties, per-day headcount ranges by kind of sender, and person-days as of the date; the same facts
in the same order as the report the founding case started from (DOMAIN.md).

The report speaks from the own organisation's side (viewpoint.py). An affected prefecture reports the help it
received, in the founding case's words (県及び県内市町村職員、延べ2101人派遣). A sending prefecture reports the
help it sent, its person-days split by kind of sender in its own words: 延べ1,212人（県職員964人、市町職員248人）;
municipalities outside its prefecture carry their prefecture's name (石川県輪島市).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy import select

from .extensions import db
from .models import Disaster, Entry, Operation, Organisation, ReceivingSection
from .persons import Window, has_roster, persons_by_kind, travel_days_counted
from .query import EntryFilter, apply_filter, joined
from .viewpoint import SENDER_KIND_ORDER, SenderKind, Viewpoint, viewpoint_of
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
class DestinationLine:
    """One destination of an item: its name as the own side writes it, its 配属先, its last date."""

    name: str
    section: str
    last: date


@dataclass(frozen=True)
class ReportItem:
    number: int
    operation: Operation
    first: date
    last: date
    ongoing: bool
    destinations: list[DestinationLine]  # 団体コード order
    duties: list[str]
    groups: list[SenderGroup]
    achievement: str
    person_days: int
    # 実人数 where the named roster covers the item (persons.py), and whether travel days are counted.
    persons: str = ""
    travel_days: bool = False


@dataclass(frozen=True)
class StatusReport:
    disaster: Disaster
    as_of: date
    closed: bool
    items: list[ReportItem]
    # A municipality's report counts only what it sent or received, and says whose it is.
    organisation: Organisation | None = None

    @property
    def title(self) -> str:
        whose = f"（{self.organisation.name}関係分）" if self.organisation is not None else ""
        return f"{self.disaster.name}に係る応援職員の派遣状況{whose}"

    @property
    def person_days(self) -> int:
        return sum(item.person_days for item in self.items)

    def text(self) -> str:
        status = "確定値" if self.closed else "速報値"
        lines = [
            self.title,
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
    # While the operation goes on, or when it went to one destination (whose last date is the period's
    # end), a destination carries no date.
    dated = not item.ongoing and len(item.destinations) > 1
    destinations = "、".join(_destination(d, item.first if dated else None) for d in item.destinations)
    duties = "、".join(item.duties[:3]) + ("等" if len(item.duties) > 3 else "")
    groups = "、".join(f"{g.label}（{g.per_day}）" for g in item.groups)
    travel = "（移動日を含む）" if item.travel_days else ""
    return [
        f"({item.number}) {item.operation.name}",
        f"派遣期間：{period}{travel}",
        f"派遣先：{destinations}",
        f"従事業務：{duties}",
        f"派遣者：{groups}",
        f"実績：{_relative(item.last, item.first)}までに{item.persons}{item.achievement}",
    ]


def _destination(line: DestinationLine, dated_from: date | None) -> str:
    """五城目町（町災害対策本部事務局）, 秋田市（8月31日まで）, or both: （町災害対策本部事務局、8月22日まで）."""
    notes = [line.section] if line.section else []
    if dated_from is not None:
        notes.append(f"{_relative(line.last, dated_from)}まで")
    return f"{line.name}（{'、'.join(notes)}）" if notes else line.name


def _relative(day: date, start: date) -> str:
    """The year is dropped when it repeats the period's start, as documents write it."""
    return format_short(day) if era_year(day) == era_year(start) else format_long(day)


def status_report(
    disaster: Disaster,
    as_of: date,
    closed: bool,
    flt: EntryFilter | None = None,
    viewpoint: Viewpoint | None = None,
) -> StatusReport:
    """The report as of the date, from the own organisation's side (``viewpoint``: OWN_ORGANISATION's)."""
    flt = (flt or EntryFilter()).narrowed(date_to=as_of)
    viewpoint = viewpoint or viewpoint_of(disaster)
    rows = db.session.execute(
        apply_filter(joined(select(Entry, Operation)), disaster, flt).order_by(Entry.date)
    ).all()
    per_operation: dict[int, list[Entry]] = defaultdict(list)
    for entry, _ in rows:
        per_operation[entry.operation_id].append(entry)
    sections = _sections(disaster)
    items: list[ReportItem] = []
    # Numbered as printed: an operation without entries by the date takes no number.
    for operation in disaster.operations:
        entries = per_operation.get(operation.id)
        if entries:
            # Ongoing as of the date until the operation has ended on or before it.
            ongoing = not operation.ended_by(as_of)
            end = as_of if ongoing else operation.end_date
            assert end is not None
            items.append(
                _item(len(items) + 1, operation, entries, viewpoint, (end, ongoing), sections[operation.id])
            )
    if has_roster(disaster.id):
        items = [_with_persons(disaster, item, as_of, flt, viewpoint) for item in items]
    whose = db.session.get(Organisation, flt.visible_to) if flt.visible_to is not None else None
    return StatusReport(disaster, as_of, closed, items, whose)


def _with_persons(
    disaster: Disaster, item: ReportItem, as_of: date, flt: EntryFilter, viewpoint: Viewpoint
) -> ReportItem:
    """「実人数229人（県職員130人、市町職員99人）、」 before the person-days, where the roster covers them."""
    window = Window(as_of, None, flt.visible_to, item.operation.id)
    kinds = persons_by_kind(disaster, window, item.person_days)
    travel = travel_days_counted(item.operation)
    if kinds is None:
        return replace(item, travel_days=travel)
    split = "、".join(
        f"{viewpoint.short_staff_word(kind)}職員{kinds[kind]:,}人"
        for kind in SENDER_KIND_ORDER
        if kinds.get(kind)
    )
    total = sum(kinds.values())
    shown = f"実人数{total:,}人（{split}）、" if len(kinds) > 1 else f"実人数{total:,}人、"
    return replace(item, persons=shown, travel_days=travel)


def _sections(disaster: Disaster) -> dict[int, dict[int, str]]:
    """配属先 by operation and destination."""
    found: dict[int, dict[int, str]] = defaultdict(dict)
    stmt = (
        select(ReceivingSection.operation_id, ReceivingSection.destination_id, ReceivingSection.name)
        .join(Operation, ReceivingSection.operation_id == Operation.id)
        .where(Operation.disaster_id == disaster.id)
    )
    for operation_id, destination_id, name in db.session.execute(stmt):
        found[operation_id][destination_id] = name
    return found


def _item(
    number: int,
    operation: Operation,
    entries: list[Entry],
    viewpoint: Viewpoint,
    end: tuple[date, bool],
    sections: dict[int, str],
) -> ReportItem:
    last, ongoing = end
    by_destination: dict[int, list[Entry]] = defaultdict(list)
    duty_first: dict[str, date] = {}
    duty_days: Counter[str] = Counter()
    for e in entries:
        by_destination[e.destination_id].append(e)
        duty_first.setdefault(e.duty.name_ja, e.date)
        duty_days[e.duty.name_ja] += e.headcount
    destinations = sorted(by_destination.values(), key=lambda es: es[0].destination.code)
    return ReportItem(
        number=number,
        operation=operation,
        first=entries[0].date,
        last=last,
        ongoing=ongoing,
        destinations=[
            DestinationLine(
                viewpoint.place(es[0].destination),
                sections.get(es[0].destination_id, ""),
                max(e.date for e in es),
            )
            for es in destinations
        ],
        # In the order the work began: 給水業務 came before 家屋被害認定調査 after the 2023 rain.
        duties=sorted(duty_first, key=lambda name: (duty_first[name], -duty_days[name])),
        groups=_groups(entries, viewpoint),
        achievement=(_received(entries, viewpoint) if viewpoint.receiving else _sent(entries, viewpoint)),
        person_days=sum(e.headcount for e in entries),
    )


def _groups(entries: list[Entry], viewpoint: Viewpoint) -> list[SenderGroup]:
    per_day: dict[SenderKind, Counter[date]] = defaultdict(Counter)
    units: dict[SenderKind, set[str]] = defaultdict(set)
    for e in entries:
        kind = viewpoint.kind_of(e.sender)
        per_day[kind][e.date] += e.headcount
        units[kind].add(e.sender_unit)
    groups = []
    for kind in SENDER_KIND_ORDER:
        if kind not in per_day:
            continue
        days = per_day[kind].values()
        # The own staff are named by their department when they all came from one: 県総務部総合防災課職員.
        unit = next(iter(units[kind])) if len(units[kind]) == 1 and kind is SenderKind.OWN else ""
        groups.append(SenderGroup(f"{viewpoint.staff_word(kind)}{unit}職員", min(days), max(days)))
    return groups


def _received(entries: list[Entry], viewpoint: Viewpoint) -> str:
    """The affected side's 実績: 県及び県内市町村職員、延べ2101人派遣, or 秋田市ほか7市から、延べ105人派遣."""
    return f"{_received_from(entries, viewpoint)}、延べ{sum(e.headcount for e in entries)}人派遣"


def _received_from(entries: list[Entry], viewpoint: Viewpoint) -> str:
    kinds = {viewpoint.kind_of(e.sender) for e in entries}
    if kinds == {SenderKind.OWN, SenderKind.MUNICIPALITIES}:
        return f"{viewpoint.own_word}及び{viewpoint.staff_word(SenderKind.MUNICIPALITIES)}職員"
    if len(kinds) == 1 and kinds <= {SenderKind.OWN, SenderKind.OTHER_PREFECTURES, SenderKind.OTHER_BODIES}:
        units = {e.sender_unit for e in entries}
        unit = next(iter(units)) if len(units) == 1 else ""
        word = viewpoint.staff_word(kinds.pop()).replace("他都道府県", "他の都道府県")
        return f"{word}{unit}職員"
    senders = sorted({e.sender.code: e.sender for e in entries}.values(), key=lambda o: o.code)
    if len(senders) == 1:
        return f"{viewpoint.place(senders[0])}から"
    others = senders[1:]
    kinds_of_others = {o.org_kind for o in others}
    suffix = (
        others[0].org_kind.label if len(kinds_of_others) == 1 and others[0].org_kind.is_municipal else "団体"
    )
    return f"{viewpoint.place(senders[0])}ほか{len(others)}{suffix}から"


def _sent(entries: list[Entry], viewpoint: Viewpoint) -> str:
    """The sending side's 実績, split by kind in its own words: 延べ1,212人（県職員964人、市町職員248人）."""
    by_kind: Counter[SenderKind] = Counter()
    for e in entries:
        by_kind[viewpoint.kind_of(e.sender)] += e.headcount
    split = "、".join(
        f"{viewpoint.short_staff_word(kind)}職員{by_kind[kind]:,}人"
        for kind in SENDER_KIND_ORDER
        if kind in by_kind
    )
    return f"延べ{sum(by_kind.values()):,}人（{split}）"
