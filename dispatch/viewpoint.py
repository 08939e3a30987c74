"""Whose side the figures speak from: the own organisation (自団体) and each sender's kind relative to it.

The tracker belongs to one body, set as OWN_ORGANISATION (a code: `DISPATCH_OWN_ORGANISATION=050008` for
秋田県). A disaster that struck the own side (one of its affected prefectures, 被災都道府県, is the own
prefecture) is reported as help received; any other as help sent. Either way every sender falls into one of
five kinds, relative to the own organisation:

- 自団体: the own organisation itself (県職員 in a prefecture's words);
- 県内市町村: municipalities of the own prefecture (県内市町村職員, 県内市町職員 where it has no village);
- 他都道府県: every other prefecture;
- 他都道府県の市区町村: municipalities elsewhere;
- その他の団体: bodies that are not local governments (一部事務組合, 消防本部, national agencies).

Without OWN_ORGANISATION the tracker speaks as the disaster's (first) affected prefecture, or, when none is
recorded, the prefecture where most of the staff went: the point of view reports had before it was set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from flask import current_app
from sqlalchemy import func, select

from .extensions import db
from .models import Dim, Disaster, Organisation, OrgKind, Tally


class SenderKind(StrEnum):
    OWN = "own"
    MUNICIPALITIES = "municipalities"
    OTHER_PREFECTURES = "other_prefectures"
    OTHER_MUNICIPALITIES = "other_municipalities"
    OTHER_BODIES = "other_bodies"

    @property
    def label(self) -> str:
        return SENDER_KIND_LABELS[self]


SENDER_KIND_LABELS = {
    SenderKind.OWN: "自団体",
    SenderKind.MUNICIPALITIES: "県内市町村",
    SenderKind.OTHER_PREFECTURES: "他都道府県",
    SenderKind.OTHER_MUNICIPALITIES: "他都道府県の市区町村",
    SenderKind.OTHER_BODIES: "その他の団体",
}
# The order kinds are listed in everywhere: own side first.
SENDER_KIND_ORDER = list(SenderKind)

# The character a municipality's kind is written with, in the order Tokyo writes 区市町村.
_MUNICIPAL_CHARACTERS = (
    (OrgKind.SPECIAL_WARD, "区"),
    (OrgKind.CITY, "市"),
    (OrgKind.TOWN, "町"),
    (OrgKind.VILLAGE, "村"),
)


@dataclass(frozen=True)
class Viewpoint:
    """The own organisation as one disaster's figures see it."""

    own: Organisation | None
    # The own organisation's prefecture (itself when it is one): whose municipalities are 県内.
    prefecture: Organisation | None
    # The disaster struck the own side: its report tells the help received, otherwise the help sent.
    receiving: bool
    # How the own prefecture names its municipalities: 市町村, 市町 (三重県: no village), 区市町村 (東京都).
    municipalities_word: str = "市町村"

    def kind_of(self, org: Organisation) -> SenderKind:
        return self.kind_by(org.id, org.org_kind, org.prefecture_id)

    def kind_by(self, org_id: int, kind: OrgKind, prefecture_id: int | None) -> SenderKind:
        """kind_of from an organisation's id, kind and prefecture, without loading the organisation."""
        if self.own is not None and org_id == self.own.id:
            return SenderKind.OWN
        if kind is OrgKind.OTHER:
            return SenderKind.OTHER_BODIES
        if kind is OrgKind.PREFECTURE:
            return SenderKind.OTHER_PREFECTURES
        if self.prefecture is not None and prefecture_id == self.prefecture.id:
            return SenderKind.MUNICIPALITIES
        return SenderKind.OTHER_MUNICIPALITIES

    @property
    def own_word(self) -> str:
        """The own organisation in its own staff's name: 県 (県職員), 都, 府, 道; 市 or 町 for a municipality."""
        if self.own is None:
            return "県"
        return self.own.name[-1] if self.own.org_kind.is_local_government else self.own.name

    @property
    def prefecture_word(self) -> str:
        return self.prefecture.name[-1] if self.prefecture is not None else "県"

    def staff_word(self, kind: SenderKind) -> str:
        """Whose staff, as the own side writes it before 職員: 県, 県内市町村, 他都道府県 …"""
        match kind:
            case SenderKind.OWN:
                return self.own_word
            case SenderKind.MUNICIPALITIES:
                return f"{self.prefecture_word}内{self.municipalities_word}"
            case _:
                return kind.label

    def short_staff_word(self, kind: SenderKind) -> str:
        """The same inside a bracketed split, where 県内 goes without saying: 県職員964人、市町職員248人."""
        if kind is SenderKind.MUNICIPALITIES:
            return self.municipalities_word
        return self.staff_word(kind)

    def kind_name(self, kind: SenderKind) -> str:
        """A row's name in a table of totals: 自団体（秋田県）, 県内市町村 …"""
        if kind is SenderKind.OWN and self.own is not None:
            return f"{kind.label}（{self.own.name}）"
        return kind.label

    def place(self, org: Organisation) -> str:
        """A body as the own side writes it: a municipality outside the own prefecture with its
        prefecture's name (石川県輪島市), any other as it is."""
        pref = org.prefecture
        if (
            org.org_kind.is_municipal
            and pref is not None
            and (self.prefecture is None or pref.id != self.prefecture.id)
        ):
            return f"{pref.name}{org.name}"
        return org.name

    @property
    def side(self) -> str:
        """The point of view in words, for the pages."""
        whose = self.own.name if self.own is not None else "被災県"
        return f"{whose}から見た応援（{'受け入れた応援' if self.receiving else '派遣した応援'}）"


def configured_own() -> Organisation | None:
    """The organisation OWN_ORGANISATION names, if it is set and names one."""
    code = current_app.config.get("OWN_ORGANISATION")
    if not code:
        return None
    return db.session.scalar(select(Organisation).where(Organisation.code == code))


def viewpoint_of(disaster: Disaster, own: Organisation | None = None) -> Viewpoint:
    """The disaster's figures as the own organisation (``own``, else OWN_ORGANISATION) sees them."""
    own = own or configured_own()
    affected = list(disaster.prefectures)
    if not affected:
        home = _inferred_home(disaster)
        affected = [home] if home is not None else []
    if own is None:
        own = affected[0] if affected else None
    prefecture = _prefecture_of(own)
    # Struck when the own organisation, or its prefecture, is one the disaster struck.
    own_side = {org.id for org in (own, prefecture) if org is not None}
    receiving = any(p.id in own_side for p in affected)
    return Viewpoint(own, prefecture, receiving, _municipalities_word(prefecture))


def _prefecture_of(org: Organisation | None) -> Organisation | None:
    if org is None:
        return None
    return org if org.org_kind is OrgKind.PREFECTURE else org.prefecture


def _municipalities_word(prefecture: Organisation | None) -> str:
    """市町村, unless the prefecture lacks one of the kinds: 三重県 has no village (市町), 東京都 has special
    wards (区市町村)."""
    if prefecture is None:
        return "市町村"
    kinds = set(
        db.session.scalars(
            select(Organisation.kind)
            .where(Organisation.prefecture_id == prefecture.id, Organisation.active.is_(True))
            .distinct()
        )
    )
    word = "".join(char for kind, char in _MUNICIPAL_CHARACTERS if kind.value in kinds)
    return word or "市町村"


def _inferred_home(disaster: Disaster) -> Organisation | None:
    """The prefecture where most of the disaster's staff went (a destination's own, or itself).

    Read from the tally, not the entries: a destination's person-days are its latest row's (they only
    grow), so this is one pass over the destination rows, not a sum over a million entries; and one
    statement, which names the homes itself rather than sending the database a list of every destination
    (1,741 ids at national scale: 196 ms of binding and planning on PostgreSQL)."""
    tally = Tally.__table__
    reached = (
        select(tally.c.key1.label("org_id"), func.max(tally.c.person_days).label("person_days"))
        .where(tally.c.disaster_id == disaster.id, tally.c.dim == Dim.D)
        .group_by(tally.c.key1)
        .subquery()
    )
    home = func.coalesce(Organisation.prefecture_id, Organisation.id)
    person_days = func.sum(reached.c.person_days)
    found = db.session.scalar(
        select(home)
        .join(reached, reached.c.org_id == Organisation.id)
        .where(Organisation.kind != OrgKind.OTHER.value)
        .group_by(home)
        .order_by(person_days.desc(), home)
        .limit(1)
    )
    return None if found is None else db.session.get(Organisation, found)


def kinds_of(viewpoint: Viewpoint, codes: Iterable[str]) -> dict[str, SenderKind]:
    """Each organisation code's sender kind, read in one statement: four columns, not the organisations
    (a national dashboard regroups some 1,800 senders on every view)."""
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Organisation.code, Organisation.id, Organisation.kind, Organisation.prefecture_id).where(
            Organisation.code.in_(wanted)
        )
    )
    return {
        code: viewpoint.kind_by(org_id, OrgKind(kind), prefecture_id)
        for code, org_id, kind, prefecture_id in rows
    }
