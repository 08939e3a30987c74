"""Master data shipped with the package: every local government of Japan, and the standard duties.

`data/local_governments.csv` is the whole 全国地方公共団体コード list (its source and checks in
local_governments.SOURCE.md): the 1,788 bodies (47 prefectures, 792 cities, 743 towns, 183 villages, the 23
special wards of Tokyo) and the wards of the 20 designated cities, each under its city. Akita's municipalities
also carry their district and regional area (data/akita_municipalities.csv).

Loading is an upsert by code, so `init-db` can run again after the lists change without duplicating anything
or touching entries: a body keeps its id, a new one is added, and a local government that has left the list
(a merger) is deactivated, never deleted, since entries may name it. Other bodies (kind `other`, codes X…) are
the users' own (organisations.py) and are left as they are.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from sqlalchemy import select

from .extensions import db
from .models import Duty, Organisation, OrgKind, is_valid_lg_code


@dataclass(frozen=True)
class MasterDataCounts:
    organisations: int  # local governments in the list (1,788), wards not counted
    wards: int
    duties: int
    added: int  # organisations that were not in the database before
    deactivated: int  # local governments no longer in the list


def _rows(name: str) -> list[dict[str, str]]:
    text = resources.files("dispatch").joinpath("data", name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


def load_master_data() -> MasterDataCounts:
    existing = {o.code: o for o in db.session.scalars(select(Organisation))}
    before = set(existing)
    rows = _rows("local_governments.csv")
    listed = {row["code"] for row in rows}
    extras = {row["code6"]: row for row in _rows("akita_municipalities.csv")}
    for row in rows:
        _upsert(existing, row, extras.get(row["code"]))
    # Relations in a second pass, so that they never depend on the file's order.
    for row in rows:
        org = existing[row["code"]]
        org.prefecture = existing[row["prefecture"]] if row["prefecture"] else None
        org.parent = existing[row["parent"]] if row["parent"] else None
    deactivated = 0
    for code, org in existing.items():
        if code not in listed and org.kind != OrgKind.OTHER.value and org.active:
            org.active = False
            deactivated += 1
    duties = _load_duties()
    db.session.flush()
    return MasterDataCounts(
        organisations=sum(1 for row in rows if row["kind"] != OrgKind.WARD.value),
        wards=sum(1 for row in rows if row["kind"] == OrgKind.WARD.value),
        duties=duties,
        added=len(set(existing) - before),
        deactivated=deactivated,
    )


def _upsert(existing: dict[str, Organisation], row: dict[str, str], extra: dict[str, str] | None) -> None:
    code = row["code"]
    if not is_valid_lg_code(code):
        raise ValueError(f"master data: bad check digit in {code}")
    org = existing.get(code)
    if org is None:
        org = Organisation(code=code)
        db.session.add(org)
        existing[code] = org
    org.kind = OrgKind(row["kind"]).value
    org.name = row["name"]
    org.kana = row["kana"]
    org.district = extra["gun"] if extra else ""
    org.area = extra["area"] if extra else ""
    org.active = True


def _load_duties() -> int:
    duties = {d.code: d for d in db.session.scalars(select(Duty))}
    rows = _rows("duties.csv")
    for row in rows:
        duty = duties.get(row["code"])
        if duty is None:
            duty = Duty(code=row["code"])
            db.session.add(duty)
        duty.name_ja = row["name_ja"]
        duty.name_en = row["name_en"]
    return len(rows)
