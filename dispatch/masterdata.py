"""Master data shipped with the package: prefectures, Akita's municipalities, the standard duties.

Loading is an upsert by code, so `init-db` can run again after the lists change without duplicating
anything or touching entries.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select

from .extensions import db
from .models import Duty, Organisation, OrgKind, is_valid_lg_code
from .text import to_katakana


@dataclass(frozen=True)
class MasterDataCounts:
    organisations: int
    duties: int


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("dispatch").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_master_data() -> MasterDataCounts:
    existing = {o.code: o for o in db.session.scalars(select(Organisation))}
    pref_by_prefix: dict[str, Organisation] = {}

    def upsert(code: str, kind: OrgKind, **values: object) -> Organisation:
        if not is_valid_lg_code(code):
            raise ValueError(f"master data: bad check digit in {code}")
        org = existing.get(code)
        if org is None:
            org = Organisation(code=code, kind=kind.value)
            db.session.add(org)
            existing[code] = org
        org.kind = kind.value
        for key, value in values.items():
            setattr(org, key, value)
        return org

    for row in _rows("prefectures.csv"):
        pref = upsert(
            row["code6"],
            OrgKind.PREFECTURE,
            name=row["name_ja"],
            kana=to_katakana(row["name_kana"]),
        )
        pref_by_prefix[row["code6"][:2]] = pref
    municipalities = [r for r in _rows("akita_municipalities.csv") if r["kind"] != "prefecture"]
    for row in municipalities:
        upsert(
            row["code6"],
            OrgKind(row["kind"]),
            name=row["name_ja"],
            kana=to_katakana(row["name_kana"]),
            prefecture=pref_by_prefix[row["code6"][:2]],
            district=row["gun"],
            area=row["area"],
        )

    duties = {d.code: d for d in db.session.scalars(select(Duty))}
    duty_rows = _rows("duties.csv")
    for row in duty_rows:
        duty = duties.get(row["code"])
        if duty is None:
            duty = Duty(code=row["code"])
            db.session.add(duty)
        duty.name_ja = row["name_ja"]
        duty.name_en = row["name_en"]
    db.session.flush()
    return MasterDataCounts(
        organisations=len(_rows("prefectures.csv")) + len(municipalities), duties=len(duty_rows)
    )
