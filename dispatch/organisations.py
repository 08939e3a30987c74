"""団体マスタ: the organisations, searched and listed; other bodies added, renamed, deactivated. Flush, never
commit; every change audited.

Local governments (the 1,788 bodies and the designated cities' wards) are master data: `flask init-db` loads
them from the 全国地方公共団体コード list (masterdata.py), which decides their names and whether they are
active. Other bodies that send staff (一部事務組合, 広域連合, 企業局, 消防本部, 総務省 …) are the users' own: an
administrator adds them, and each gets the next code of the tracker's own scheme, X0001, X0002 …, which can
never be a local government's (six digits with a check digit). A body is never deleted: entries, users and
digest addresses may name it, so it is deactivated instead, which keeps all of them and takes it out of new
entries and of the entry form's list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select

from . import audit
from .actors import Actor
from .errors import Refusal
from .extensions import db
from .lookup import clean
from .models import Organisation, OrgKind
from .text import to_katakana

OTHER_CODE = re.compile(r"^X(\d{4,})$")
MAX_NAME = 100
MAX_KANA = 200
# Rows a search shows on a page.
SEARCH_LIMIT = 200
KANA = re.compile(r"^[ァ-ヶー・ 　]*$")


@dataclass(frozen=True)
class Found:
    organisations: list[Organisation]
    total: int


def search(text: str = "", *, kind: str = "", include_inactive: bool = True) -> Found:
    """Organisations whose code starts with the text, or whose name or kana contains it (かな or カナ), in
    code order; at most SEARCH_LIMIT of them, and how many there are."""
    stmt = _filtered(select(Organisation), clean(text), kind, include_inactive)
    total = db.session.scalar(
        _filtered(select(func.count(Organisation.id)), clean(text), kind, include_inactive)
    )
    found = list(db.session.scalars(stmt.order_by(Organisation.code).limit(SEARCH_LIMIT)))
    return Found(found, int(total or 0))


def _filtered(stmt: Select[Any], text: str, kind: str, inactive: bool) -> Select[Any]:
    if text:
        like = _contains(text)
        stmt = stmt.where(
            or_(
                Organisation.code.startswith(text.upper(), autoescape=True),
                Organisation.name.like(like, escape="\\"),
                Organisation.kana.like(_contains(to_katakana(text)), escape="\\"),
            )
        )
    if kind:
        stmt = stmt.where(Organisation.kind == kind)
    if not inactive:
        stmt = stmt.where(Organisation.active.is_(True))
    return stmt


def _contains(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def everything() -> list[Organisation]:
    """Every organisation in code order, wards and inactive bodies included (`flask organisations`)."""
    return list(db.session.scalars(select(Organisation).order_by(Organisation.code)))


def add_body(
    name: str, actor: Actor, *, kana: str = "", prefecture: Organisation | None = None
) -> Organisation:
    """Register another body under the next X code."""
    name, kana = _name_and_kana(name, kana)
    _refuse_taken_name(name, None)
    if prefecture is not None and prefecture.org_kind is not OrgKind.PREFECTURE:
        raise Refusal("所在の都道府県には都道府県を選んでください。")
    org = Organisation(
        code=_next_code(), kind=OrgKind.OTHER.value, name=name, kana=kana, prefecture=prefecture, active=True
    )
    db.session.add(org)
    db.session.flush()
    audit.record(
        "create",
        "organisation",
        org.id,
        actor=actor,
        after=audit.organisation_snapshot(org),
        summary=org.label,
    )
    return org


def rename_body(org: Organisation, name: str, actor: Actor, *, kana: str = "") -> Organisation:
    _refuse_master_data(org)
    name, kana = _name_and_kana(name, kana)
    _refuse_taken_name(name, org)
    before = audit.organisation_snapshot(org)
    org.name = name
    org.kana = kana
    _audit(org, "update", before, actor)
    return org


def set_active(org: Organisation, active: bool, actor: Actor) -> Organisation:
    """Deactivate a body (kept with everything that names it, offered for no new entry) or activate it."""
    _refuse_master_data(org)
    if org.active == active:
        raise Refusal(f"{org.name}はすでに{'有効' if active else '無効'}です。")
    before = audit.organisation_snapshot(org)
    org.active = active
    _audit(org, "activate" if active else "deactivate", before, actor)
    return org


def _audit(org: Organisation, action: str, before: dict[str, object], actor: Actor) -> None:
    db.session.flush()
    after = audit.organisation_snapshot(org)
    if after != before:
        audit.record(
            action, "organisation", org.id, actor=actor, before=before, after=after, summary=org.label
        )


def _refuse_master_data(org: Organisation) -> None:
    if org.kind != OrgKind.OTHER.value:
        raise Refusal(
            f"{org.name}（{org.code}）は全国地方公共団体コードの団体です。名称と有効・無効は一覧（flask init-db）が"
            "決めるため、ここでは変更できません。"
        )


def _name_and_kana(name: str, kana: str) -> tuple[str, str]:
    name = clean(name)
    kana = to_katakana(clean(kana))
    if not name:
        raise Refusal("団体名を入力してください。")
    if len(name) > MAX_NAME:
        raise Refusal(f"団体名は{MAX_NAME}文字以内で入力してください。")
    if len(kana) > MAX_KANA or not KANA.fullmatch(kana):
        raise Refusal(f"よみはかな（{MAX_KANA}文字以内）で入力してください。")
    return name, kana


def _refuse_taken_name(name: str, own: Organisation | None) -> None:
    """Two bodies of one name would make the name useless for finding either (lookup.py): refused."""
    taken = db.session.scalar(
        select(Organisation).where(Organisation.name == name, Organisation.kind != OrgKind.WARD.value)
    )
    if taken is not None and taken is not own:
        raise Refusal(f"「{name}」は登録済みです（{taken.code}）。別の名前にしてください。")


def _next_code() -> str:
    codes: Sequence[str] = db.session.scalars(
        select(Organisation.code).where(Organisation.kind == OrgKind.OTHER.value)
    ).all()
    numbers = [int(m.group(1)) for m in map(OTHER_CODE.match, codes) if m]
    return f"X{max(numbers, default=0) + 1:04d}"
