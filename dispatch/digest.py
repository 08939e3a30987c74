"""The morning digest: the figures (read by digest_figures.py), rendered as short plain text, for each
addressee of a run (delivery.py claims and sends).

A digest dated D goes out on the morning of D and covers the day before, Y = D − 1: figures are as of Y
(every entry dated on or before Y), and entries already logged for D are mentioned as such.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from .digest_figures import (
    ClosedDayChange,
    DigestFigures,
    DivisionDigest,
    DivisionSection,
    Flow,
    Gap,
    OrganisationDigest,
    OrganisationSection,
)
from .extensions import db
from .models import Delivery, DeliveryStatus, Organisation, Recipient, RecipientKind, utcnow
from .wareki import format_long, format_short

log = logging.getLogger("dispatch.digest")

SUBJECT_PREFIX = "【応援職員派遣 日報】"
DIVISION_NAME = "全体"
# Without a previous digest, closed-day changes of the last day are reported.
DEFAULT_CHANGES_WINDOW = timedelta(hours=24)
MAX_LIST_LINES = 10


# --- figures ------------------------------------------------------------------------------------------


def organisation_digest(
    organisation: Organisation, digest_date: date, *, since: datetime, include_empty: bool = False
) -> OrganisationDigest | None:
    """The organisation's figures for the digest dated `digest_date`, or None with nothing to report.

    Nothing to report: no entry involving it dated Y or D and no change to a closed day since `since`.
    With `include_empty` the digest is built anyway, from the disasters it ever took part in.
    """
    return DigestFigures(digest_date).organisation_digest(
        organisation.code, organisation.name, since=since, include_empty=include_empty
    )


def division_digest(
    digest_date: date, *, since: datetime, include_empty: bool = False
) -> DivisionDigest | None:
    """The whole picture for the division, or None with nothing to report (no entry dated Y or D, no
    closed-day change and no failed digest the day before)."""
    return DigestFigures(digest_date).division_digest(since=since, include_empty=include_empty)


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


def _gap_lines(gaps: Sequence[Gap]) -> list[str]:
    """「未充足: 輪島市 避難所運営 30人/日のうち18人」: each destination × duty short on the day, every one (the
    division reads its digest for exactly this list). Where requests sharing the row are short although
    enough are on duty in all (one over-filled, another short), the requests' own gap is named."""
    return [
        f"未充足: {g.destination} {g.duty} {g.requested:,}人/日のうち{g.on_duty:,}人"
        + (f"（要請ごとの不足 {g.unfilled:,}人）" if g.unfilled != g.requested - g.on_duty else "")
        for g in gaps
    ]


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
        lines += _gap_lines(s.gaps)
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
        persons = "" if s.persons is None else f"実人数{_people(s.persons)}、"
        lines.append(f"{persons}延べ{_people(s.person_days)}（{y} {_people(s.active)}）")
        if s.ending:
            lines.append("交代の班が登録されていない班（3日以内に終了）:")
            lines += [f"・{line}" for line in s.ending]
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
        lines += _gap_lines(s.gaps)
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


class DigestRun:
    """The digests of one date for a run's addressees, all built from the same figures read once.

    Each addressee's closed-day changes are those since its own last digest sent (or the last day).
    """

    def __init__(self, digest_date: date, now: datetime, addressees: Sequence[Addressee]) -> None:
        last_sent = _last_sent_by_recipient(digest_date)
        self._since = {a.id: last_sent.get(a.id) or now - DEFAULT_CHANGES_WINDOW for a in addressees}
        self._organisations = _organisation_names(
            {a.organisation_id for a in addressees if a.organisation_id is not None}
        )
        self.figures = DigestFigures(digest_date, earliest_since=min(self._since.values(), default=None))

    def render(self, addressee: Addressee, *, force: bool = False) -> RenderedDigest | None:
        """The digest of one of the run's addressees; None with nothing to report, unless forced or the
        addressee asks for a digest every day."""
        organisation = (
            self._organisations[addressee.organisation_id]
            if addressee.kind is RecipientKind.ORGANISATION and addressee.organisation_id is not None
            else None
        )
        return _render(self.figures, organisation, self._since[addressee.id], force or addressee.send_empty)


def _last_sent_by_recipient(digest_date: date) -> dict[int, datetime]:
    """When each recipient's last digest before the date went out, in one pass over the deliveries."""
    stmt = (
        select(Delivery.recipient_id, func.max(Delivery.sent_at))
        .where(Delivery.status == DeliveryStatus.SENT, Delivery.digest_date < digest_date)
        .group_by(Delivery.recipient_id)
    )
    return {recipient_id: sent_at for recipient_id, sent_at in db.session.execute(stmt) if sent_at}


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


def _organisation_names(ids: set[int]) -> dict[int, tuple[str, str]]:
    """(code, name) of each organisation."""
    if not ids:
        return {}
    stmt = select(Organisation.id, Organisation.code, Organisation.name).where(Organisation.id.in_(ids))
    return {org_id: (code, name) for org_id, code, name in db.session.execute(stmt)}


def _render(
    figures: DigestFigures, organisation: tuple[str, str] | None, since: datetime, include_empty: bool
) -> RenderedDigest | None:
    """The digest of an organisation, (code, name), or of the division (None)."""
    if organisation is None:
        division = figures.division_digest(since=since, include_empty=include_empty)
        return render_division(division) if division else None
    code, name = organisation
    digest = figures.organisation_digest(code, name, since=since, include_empty=include_empty)
    return render_organisation(digest) if digest else None


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
    named = (organisation.code, organisation.name) if organisation else None
    rendered = _render(DigestFigures(digest_date), named, since, include_empty)
    return (rendered.subject, rendered.body) if rendered else None
