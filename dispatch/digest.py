"""The morning digest: build the figures, then render them as short plain text (delivery.py sends).

A digest dated D goes out on the morning of D and covers the day before, Y = D − 1: figures are as of Y
(every entry dated on or before Y), and entries already logged for D are mentioned as such.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from flask import current_app
from sqlalchemy import func, literal, select

from .closing import closed_dates
from .extensions import db
from .models import (
    AuditRecord,
    Delivery,
    DeliveryStatus,
    Disaster,
    Duty,
    Entry,
    Organisation,
    Recipient,
    RecipientKind,
    utcnow,
)
from .query import Destination, EntryFilter, Sender, apply_filter, joined
from .totals import Dimension, TotalRow, headline, totals
from .wareki import format_long, format_short

log = logging.getLogger("dispatch.digest")

SUBJECT_PREFIX = "【応援職員派遣 日報】"
DIVISION_NAME = "全体"
# Without a previous digest, closed-day changes of the last day are reported.
DEFAULT_CHANGES_WINDOW = timedelta(hours=24)
MAX_LIST_LINES = 10


# --- figures ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Flow:
    """Staff on one day between the organisation and one counterpart (sender or destination), one duty."""

    counterpart: str
    duty: str
    headcount: int


@dataclass(frozen=True)
class ClosedDayChange:
    at: datetime
    actor: str
    summary: str
    reason: str


@dataclass(frozen=True)
class OrganisationSection:
    """One open disaster as it concerns one organisation, as of Y."""

    disaster: str
    link: str
    closed: bool
    received: list[Flow]
    received_total: int
    sent: list[Flow]
    sent_total: int
    today_received: int
    today_sent: int
    today_entries: int
    changes: list[ClosedDayChange]

    @property
    def received_on_day(self) -> int:
        return sum(f.headcount for f in self.received)

    @property
    def sent_on_day(self) -> int:
        return sum(f.headcount for f in self.sent)

    @property
    def has_news(self) -> bool:
        return bool(self.received or self.sent or self.today_entries or self.changes)


@dataclass(frozen=True)
class OrganisationDigest:
    organisation: str
    code: str
    digest_date: date
    as_of: date
    sections: list[OrganisationSection]
    home: str


@dataclass(frozen=True)
class DivisionSection:
    """One open disaster as a whole, as of Y."""

    disaster: str
    link: str
    closed: bool
    person_days: int
    active: int
    by_operation: list[TotalRow]
    by_destination: list[TotalRow]
    today_headcount: int
    today_entries: int
    changes: list[ClosedDayChange]

    @property
    def has_news(self) -> bool:
        return bool(self.active or self.today_entries or self.changes)


@dataclass(frozen=True)
class FailedDigest:
    email: str
    addressee: str
    error: str


@dataclass(frozen=True)
class DivisionDigest:
    digest_date: date
    as_of: date
    sections: list[DivisionSection]
    failures: list[FailedDigest]
    home: str


def organisation_digest(
    organisation: Organisation, digest_date: date, *, since: datetime, include_empty: bool = False
) -> OrganisationDigest | None:
    """The organisation's figures for the digest dated `digest_date`, or None with nothing to report.

    Nothing to report: no entry involving it dated Y or D and no change to a closed day since `since`.
    With `include_empty` the digest is built anyway, from the disasters it ever took part in.
    """
    as_of = digest_date - timedelta(days=1)
    sections = [
        _organisation_section(disaster, organisation, digest_date, since)
        for disaster in _open_disasters()
        if _count(disaster, EntryFilter(date_to=digest_date, visible_to=organisation.id))[0]
    ]
    shown = [s for s in sections if s.has_news]
    if not shown and not include_empty:
        return None
    return OrganisationDigest(
        organisation=organisation.name,
        code=organisation.code,
        digest_date=digest_date,
        as_of=as_of,
        sections=shown or sections,
        home=_base_url() + "/",
    )


def division_digest(
    digest_date: date, *, since: datetime, include_empty: bool = False
) -> DivisionDigest | None:
    """The whole picture for the division, or None with nothing to report (no entry dated Y or D, no
    closed-day change and no failed digest the day before)."""
    as_of = digest_date - timedelta(days=1)
    sections = [
        _division_section(disaster, digest_date, since)
        for disaster in _open_disasters()
        if _count(disaster, EntryFilter(date_to=digest_date))[0]
    ]
    failures = failed_digests(digest_date - timedelta(days=1))
    if not failures and not any(s.has_news for s in sections) and not include_empty:
        return None
    return DivisionDigest(
        digest_date=digest_date, as_of=as_of, sections=sections, failures=failures, home=_base_url() + "/"
    )


def failed_digests(digest_date: date) -> list[FailedDigest]:
    """Digests dated `digest_date` that have not gone out, with the error each one keeps."""
    stmt = (
        select(Recipient.email, Organisation.name, Delivery.last_error)
        .join(Delivery.recipient)
        .outerjoin(Organisation, Recipient.organisation_id == Organisation.id)
        .where(Delivery.digest_date == digest_date, Delivery.status == DeliveryStatus.FAILED)
        .order_by(Organisation.code, Recipient.email)
    )
    return [
        FailedDigest(email=email, addressee=name or "総合防災課", error=error)
        for email, name, error in db.session.execute(stmt)
    ]


def _open_disasters() -> list[Disaster]:
    return list(
        db.session.scalars(
            select(Disaster).where(Disaster.closed.is_(False)).order_by(Disaster.start_date, Disaster.id)
        )
    )


def _organisation_section(
    disaster: Disaster, organisation: Organisation, digest_date: date, since: datetime
) -> OrganisationSection:
    as_of = digest_date - timedelta(days=1)
    code = organisation.code
    day = EntryFilter(date_from=as_of, date_to=as_of)
    today = EntryFilter(date_from=digest_date, date_to=digest_date)
    today_entries, _ = _count(disaster, today.narrowed(visible_to=organisation.id))
    return OrganisationSection(
        disaster=disaster.name,
        link=_dashboard_link(disaster, as_of),
        closed=as_of in closed_dates(disaster, [as_of]),
        received=_flows(disaster, day.narrowed(destination=code), counterpart="sender"),
        received_total=headline(disaster, as_of, EntryFilter(destination=code))[0],
        sent=_flows(disaster, day.narrowed(sender=code), counterpart="destination"),
        sent_total=headline(disaster, as_of, EntryFilter(sender=code))[0],
        today_received=_count(disaster, today.narrowed(destination=code))[1],
        today_sent=_count(disaster, today.narrowed(sender=code))[1],
        today_entries=today_entries,
        changes=closed_day_changes(disaster, since, organisation),
    )


def _division_section(disaster: Disaster, digest_date: date, since: datetime) -> DivisionSection:
    as_of = digest_date - timedelta(days=1)
    person_days, active = headline(disaster, as_of)
    today_entries, today_headcount = _count(disaster, EntryFilter(date_from=digest_date, date_to=digest_date))
    return DivisionSection(
        disaster=disaster.name,
        link=_dashboard_link(disaster, as_of),
        closed=as_of in closed_dates(disaster, [as_of]),
        person_days=person_days,
        active=active,
        by_operation=_in_report_order(disaster, totals(disaster, as_of, Dimension.OPERATION).rows),
        by_destination=totals(disaster, as_of, Dimension.DESTINATION).rows,
        today_headcount=today_headcount,
        today_entries=today_entries,
        changes=closed_day_changes(disaster, since),
    )


def _in_report_order(disaster: Disaster, rows: list[TotalRow]) -> list[TotalRow]:
    order = {op.code: n for n, op in enumerate(disaster.operations)}
    return sorted(rows, key=lambda r: order.get(r.key, len(order)))


def _flows(disaster: Disaster, flt: EntryFilter, *, counterpart: str) -> list[Flow]:
    """Headcount by counterpart and duty, biggest first; a sender is named with its unit (秋田県（建設部）)."""
    if counterpart == "sender":
        keys: tuple[Any, ...] = (Sender.code, Sender.name, Entry.sender_unit)
        grouped = keys
    else:
        keys = (Destination.code, Destination.name, literal(""))
        grouped = keys[:2]
    stmt = apply_filter(
        joined(select(*keys, Duty.code, Duty.name_ja, func.sum(Entry.headcount))), disaster, flt
    ).group_by(*grouped, Duty.code, Duty.name_ja)
    rows = sorted(db.session.execute(stmt).all(), key=lambda r: (-r[5], r[0], r[2], r[3]))
    return [
        Flow(f"{name}（{unit}）" if unit else name, duty_name, int(headcount))
        for _, name, unit, _, duty_name, headcount in rows
    ]


def _count(disaster: Disaster, flt: EntryFilter) -> tuple[int, int]:
    """(entries, headcount) matching the filter."""
    stmt = apply_filter(
        joined(select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0))), disaster, flt
    )
    entries, headcount = db.session.execute(stmt).one()
    return int(entries), int(headcount)


def closed_day_changes(
    disaster: Disaster, since: datetime, organisation: Organisation | None = None
) -> list[ClosedDayChange]:
    """Changes to closed (確定) days recorded after `since`, oldest first.

    For an organisation: changes to entries it sent or received, and changes to whole days (a day
    reopened), which touch every figure.
    """
    stmt = (
        select(AuditRecord)
        .where(
            AuditRecord.disaster_id == disaster.id,
            AuditRecord.closed_day_change.is_(True),
            AuditRecord.at > since,
        )
        .order_by(AuditRecord.at, AuditRecord.id)
    )
    records = list(db.session.scalars(stmt))
    if organisation is not None:
        records = [r for r in records if _concerns(r, organisation.code)]
    return [ClosedDayChange(at=r.at, actor=r.actor, summary=r.summary, reason=r.reason) for r in records]


def _concerns(record: AuditRecord, code: str) -> bool:
    if record.object_type != "entry":
        return True
    snapshots = [s for s in (record.before, record.after) if s]
    return any(code in (s.get("sender"), s.get("destination")) for s in snapshots)


def _base_url() -> str:
    return str(current_app.config.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")


def _dashboard_link(disaster: Disaster, as_of: date) -> str:
    path = current_app.url_map.bind("localhost").build("dashboard.overview", {"slug": disaster.slug})
    return f"{_base_url()}{path}?{urlencode({'as_of': as_of.isoformat()})}"


# --- text -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedDigest:
    subject: str
    body: str


def _people(n: int) -> str:
    return f"{n:,}人"


def _subject(sections: Sequence[OrganisationSection | DivisionSection], addressee: str, as_of: date) -> str:
    parts = []
    if sections:
        parts.append(sections[0].disaster + ("ほか" if len(sections) > 1 else ""))
    parts.append(addressee)
    parts.append(f"{format_long(as_of)}時点")
    return SUBJECT_PREFIX + " ".join(parts)


def _section_title(disaster: str, as_of: date, closed: bool) -> str:
    return f"■{disaster}（{format_short(as_of)}分は{'確定' if closed else '速報'}）"


def _flow_lines(flows: list[Flow]) -> list[str]:
    lines = [f"・{f.counterpart} {f.duty} {_people(f.headcount)}" for f in flows[:MAX_LIST_LINES]]
    if len(flows) > MAX_LIST_LINES:
        rest = sum(f.headcount for f in flows[MAX_LIST_LINES:])
        lines.append(f"・ほか{len(flows) - MAX_LIST_LINES}件 {_people(rest)}")
    return lines


def _change_lines(changes: list[ClosedDayChange]) -> list[str]:
    if not changes:
        return []
    lines = [f"確定済みの日の変更 {len(changes)}件（前回の日報以降）"]
    for change in changes[:MAX_LIST_LINES]:
        reason = f"（理由: {change.reason}）" if change.reason else ""
        lines.append(f"・{change.summary}{reason}")
    if len(changes) > MAX_LIST_LINES:
        lines.append(f"・ほか{len(changes) - MAX_LIST_LINES}件（監査ログで確認できます）")
    return lines


def _links(sections: Sequence[OrganisationSection | DivisionSection], home: str) -> list[str]:
    if not sections:
        return ["詳細:", home]
    if len(sections) == 1:
        return ["詳細:", sections[0].link]
    lines = ["詳細:"]
    for section in sections:
        lines += [section.disaster, section.link]
    return lines


_FOOTER = "（応援職員派遣トラッカーから自動送信しています。このメールには返信できません）"


def render_organisation(digest: OrganisationDigest) -> RenderedDigest:
    y, d = format_short(digest.as_of), format_short(digest.digest_date)
    lines = [f"{format_long(digest.as_of)}時点", f"{digest.organisation}の応援職員の受入・派遣状況です。"]
    for s in digest.sections:
        lines += ["", _section_title(s.disaster, digest.as_of, s.closed)]
        if s.received_total or s.received:
            lines.append(f"受入 {y} {_people(s.received_on_day)}／延べ{_people(s.received_total)}")
            lines += _flow_lines(s.received)
        if s.sent_total or s.sent:
            lines.append(f"派遣 {y} {_people(s.sent_on_day)}／延べ{_people(s.sent_total)}")
            lines += _flow_lines(s.sent)
        if not (s.received or s.sent):
            lines.append(f"{y}の受入・派遣はありません。")
        if s.today_entries:
            today = []
            if s.today_received:
                today.append(f"受入 {_people(s.today_received)}")
            if s.today_sent:
                today.append(f"派遣 {_people(s.today_sent)}")
            lines.append(f"本日{d}分 登録済み: {'、'.join(today)}（{s.today_entries:,}件）")
        lines += _change_lines(s.changes)
    if not digest.sections:
        lines += ["", "派遣中の災害で、この団体の受入・派遣の登録はありません。"]
    lines += ["", *_links(digest.sections, digest.home), "", _FOOTER]
    return RenderedDigest(
        _subject(digest.sections, digest.organisation, digest.as_of), "\n".join(lines) + "\n"
    )


def render_division(digest: DivisionDigest) -> RenderedDigest:
    y, d = format_short(digest.as_of), format_short(digest.digest_date)
    lines = [f"{format_long(digest.as_of)}時点", "応援職員派遣の全体状況です。"]
    for s in digest.sections:
        lines += ["", _section_title(s.disaster, digest.as_of, s.closed)]
        lines.append(f"延べ{_people(s.person_days)}（{y} {_people(s.active)}）")
        lines.append(f"派遣区分別 延べ（{y}）")
        lines += [f"・{r.name} {_people(r.person_days)}（{_people(r.active)}）" for r in s.by_operation]
        lines.append(f"派遣先別 延べ（{y}）")
        lines += [
            f"・{r.name} {_people(r.person_days)}（{_people(r.active)}）"
            for r in s.by_destination[:MAX_LIST_LINES]
        ]
        if len(s.by_destination) > MAX_LIST_LINES:
            lines.append(f"・ほか{len(s.by_destination) - MAX_LIST_LINES}団体")
        if s.today_entries:
            lines.append(f"本日{d}分 登録済み: {_people(s.today_headcount)}（{s.today_entries:,}件）")
        lines += _change_lines(s.changes)
    if not digest.sections:
        lines += ["", "派遣中の災害はありません。"]
    previous = format_short(digest.digest_date - timedelta(days=1))
    lines.append("")
    if digest.failures:
        lines.append(f"{previous}付の日報で送信できなかったもの {len(digest.failures)}件")
        for failure in digest.failures:
            lines.append(f"・{failure.addressee} {failure.email}: {_one_line(failure.error)}")
    else:
        lines.append(f"{previous}付の日報: 送信失敗なし")
    lines += ["", *_links(digest.sections, digest.home), "", _FOOTER]
    return RenderedDigest(_subject(digest.sections, DIVISION_NAME, digest.as_of), "\n".join(lines) + "\n")


def _one_line(text: str, limit: int = 120) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- who gets what --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Addressee:
    """A recipient's fields, read once: the ORM object expires at every commit of a run."""

    id: int
    kind: RecipientKind
    email: str
    organisation_id: int | None
    send_empty: bool


def addressee_of(recipient: Recipient) -> Addressee:
    return Addressee(
        id=recipient.id,
        kind=RecipientKind(recipient.kind),
        email=recipient.email,
        organisation_id=recipient.organisation_id,
        send_empty=recipient.send_empty,
    )


def _last_sent(recipient_ids: Sequence[int], digest_date: date) -> datetime | None:
    if not recipient_ids:
        return None
    return db.session.scalar(
        select(func.max(Delivery.sent_at)).where(
            Delivery.recipient_id.in_(recipient_ids),
            Delivery.status == DeliveryStatus.SENT,
            Delivery.digest_date < digest_date,
        )
    )


def _render(
    organisation: Organisation | None, digest_date: date, since: datetime, include_empty: bool
) -> RenderedDigest | None:
    if organisation is None:
        division = division_digest(digest_date, since=since, include_empty=include_empty)
        return render_division(division) if division else None
    digest = organisation_digest(organisation, digest_date, since=since, include_empty=include_empty)
    return render_organisation(digest) if digest else None


def digest_for(
    addressee: Addressee, digest_date: date, now: datetime, *, force: bool = False
) -> RenderedDigest | None:
    since = _last_sent([addressee.id], digest_date) or now - DEFAULT_CHANGES_WINDOW
    organisation = (
        db.session.get(Organisation, addressee.organisation_id)
        if addressee.kind is RecipientKind.ORGANISATION
        else None
    )
    return _render(organisation, digest_date, since, force or addressee.send_empty)


def preview(
    organisation: Organisation | None,
    digest_date: date,
    *,
    now: datetime | None = None,
    include_empty: bool = False,
) -> tuple[str, str] | None:
    """(subject, body) of the digest an organisation (None: the division) gets for the date, without
    sending or claiming anything; None when there is nothing to report and `include_empty` is false.

    Closed-day changes are those since the organisation's (or the division's) last digest sent.
    """
    now = now or utcnow()
    if organisation is None:
        kind_filter = Recipient.kind == RecipientKind.DIVISION
    else:
        kind_filter = Recipient.organisation_id == organisation.id
    ids = list(db.session.scalars(select(Recipient.id).where(kind_filter)))
    since = _last_sent(ids, digest_date) or now - DEFAULT_CHANGES_WINDOW
    rendered = _render(organisation, digest_date, since, include_empty)
    return (rendered.subject, rendered.body) if rendered else None
