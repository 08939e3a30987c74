"""A synthetic national-scale data set, generated fast into a fresh SQLite file or PostgreSQL database.

About 1,800 organisations: master data's, when it holds every local government of Japan (the 47
prefectures, their 1,741 municipalities and Tokyo's 23 special wards; the wards of designated cities neither
send nor receive and are left out); otherwise the 47 prefectures and 37 municipalities under each, made up
where master data lacks them (every code a valid 全国地方公共団体コード); one disaster over 365 days with 6 operations, the 20 standard duties, and ROWS
entries skewed like a real disaster: destinations follow a Zipf law (a handful of municipalities receive
most of the staff), senders a milder one, and the headcount decays after the first weeks. Keys are unique.

Entries are written sorted by date, as they would have been entered: on SQLite with executemany through the
SQLAlchemy core insert, in batches; on PostgreSQL with COPY through psycopg, after which the database is
vacuumed and analysed (what autovacuum would soon do by itself). They carry no audit records: only the
measured paths (import, entry form) write those.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import Insert, func, insert, literal_column, select, text

from bench.db import Target
from dispatch import create_app, tally_check
from dispatch.extensions import db
from dispatch.masterdata import load_master_data
from dispatch.models import (
    ClosedDay,
    Disaster,
    Duty,
    Entry,
    Operation,
    Organisation,
    OrgKind,
    Recipient,
    lg_check_digit,
)

SEED = 20240101
START = date(2024, 1, 1)
DAYS = 365
END = START + timedelta(days=DAYS - 1)
MID = START + timedelta(days=DAYS // 2)
SLUG = "bench-national"
IMPORT_SLUG = "bench-import"
DISASTER_NAME = "令和6年全国規模災害（ベンチマーク）"
# (code, name, weight): most staff go under the mutual-aid agreement, as in the founding case.
OPERATIONS = (
    ("mutual-aid", "全国知事会・相互応援協定による派遣", 40),
    ("counterpart", "対口支援（総務省スキーム）", 25),
    ("relief-act", "災害救助法に基づく派遣", 15),
    ("water-supply", "日本水道協会による応急給水", 10),
    ("public-health", "保健師等チーム", 6),
    ("other", "その他の派遣", 4),
)
MUNICIPALITIES_PER_PREFECTURE = 37
# Municipal codes in master data from which on it holds the whole country (1,741 municipalities and the 23
# special wards of Tokyo), and nothing is made up.
WHOLE_COUNTRY = 1_000
# Kinds of organisation that neither send nor receive: the wards (区) of a designated city.
UNDRAWN_KINDS = {"ward"}
# Local parts of the code by kind: cities 2xx, towns and villages 3xx and up (grouped by district).
CITIES, TOWNS = 14, 17
UNITS = ("総務部", "建設部", "健康福祉部", "農林水産部", "危機管理部")
# The division has closed (締め) every day but the last five weeks.
CLOSED_DAYS = DAYS - 35
DESTINATION_ZIPF = 1.2
SENDER_ZIPF = 0.7
DUTY_ZIPF = 1.0
HEADCOUNT_WEIGHTS = (30, 25, 15, 10, 6, 5, 3, 3, 2, 1)
BATCH = 50_000
STAMP = datetime(2024, 1, 1, tzinfo=UTC)
BENCH_SECRET = "bench-secret-not-for-production"


def target_of(where: Target | Path | str) -> Target:
    return where if isinstance(where, Target) else Target.parse(where)


def make_app(where: Target | Path | str, **overrides: Any) -> Flask:
    config: dict[str, Any] = {
        "TESTING": True,
        "ENV_NAME": "bench",
        "SECRET_KEY": BENCH_SECRET,
        "SQLALCHEMY_DATABASE_URI": target_of(where).url,
        "WTF_CSRF_ENABLED": False,
    }
    config.update(overrides)
    return create_app(config)


@dataclass(frozen=True)
class Municipality:
    code: str
    kind: OrgKind
    name: str
    prefecture_code: str


def municipal_codes(existing: set[str], prefectures: Sequence[tuple[str, str]]) -> list[Municipality]:
    """MUNICIPALITIES_PER_PREFECTURE per prefecture, counting those master data already has, with codes
    that carry their check digit and collide with none that exist."""
    made: list[Municipality] = []
    for pref_code, pref_name in prefectures:
        prefix = pref_code[:2]
        have = sum(1 for code in existing if code.startswith(prefix) and code[2] != "0")
        stem = pref_name if pref_name == "北海道" else pref_name[:-1]
        counters = {OrgKind.CITY: 0, OrgKind.TOWN: 0, OrgKind.VILLAGE: 0}
        local = {OrgKind.CITY: 201, OrgKind.TOWN: 301, OrgKind.VILLAGE: 501}
        n = 0
        while have < MUNICIPALITIES_PER_PREFECTURE:
            kind = OrgKind.CITY if n < CITIES else OrgKind.TOWN if n < CITIES + TOWNS else OrgKind.VILLAGE
            n += 1
            code5 = f"{prefix}{local[kind]:03d}"
            local[kind] += 1 if kind is OrgKind.CITY else 2
            code = code5 + lg_check_digit(code5)
            if code in existing:
                continue
            counters[kind] += 1
            made.append(Municipality(code, kind, f"{stem}第{counters[kind]}{kind.label}", pref_code))
            existing.add(code)
            have += 1
    return made


def _zipf(n: int, s: float) -> list[float]:
    return list(itertools.accumulate(1.0 / (k**s) for k in range(1, n + 1)))


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


@dataclass(frozen=True)
class Universe:
    """The ids the entries are drawn from, in the database's terms."""

    organisations: list[tuple[int, str, str]]  # (id, code, kind)
    operations: list[tuple[int, str]]  # (id, code)
    duties: list[tuple[int, str]]  # (id, code)


Row = tuple[int, int, int, int, int, int, int]  # day, operation, sender, unit, destination, duty, headcount


def draw_entries(universe: Universe, rows: int, seed: int) -> list[Row]:
    """ROWS unique keys, skewed as described above, sorted by date (the order they would be entered).

    Indices, not ids: day offset, operation, sender, unit (0 is none), destination, duty, headcount.
    """
    rng = random.Random(seed)
    orgs = universe.organisations
    municipal = [i for i, (_, _, kind) in enumerate(orgs) if kind != OrgKind.PREFECTURE.value]
    destinations = rng.sample(municipal, len(municipal))
    senders = rng.sample(range(len(orgs)), len(orgs))
    is_prefecture = [kind == OrgKind.PREFECTURE.value for _, _, kind in orgs]
    dest_cw = _zipf(len(destinations), DESTINATION_ZIPF)
    send_cw = _zipf(len(senders), SENDER_ZIPF)
    duty_order = rng.sample(range(len(universe.duties)), len(universe.duties))
    duty_cw = _zipf(len(duty_order), DUTY_ZIPF)
    op_cw = _cumulative([w for _, _, w in OPERATIONS][: len(universe.operations)])
    day_cw = _cumulative([math.exp(-d / 90) + 0.15 for d in range(DAYS)])
    head_cw = _cumulative(HEADCOUNT_WEIGHTS)

    seen: set[int] = set()
    out: list[Row] = []
    while len(out) < rows:
        k = min(BATCH, int((rows - len(out)) * 1.05) + 16)
        days = rng.choices(range(DAYS), cum_weights=day_cw, k=k)
        ops = rng.choices(range(len(op_cw)), cum_weights=op_cw, k=k)
        snd = rng.choices(senders, cum_weights=send_cw, k=k)
        dst = rng.choices(destinations, cum_weights=dest_cw, k=k)
        dut = rng.choices(duty_order, cum_weights=duty_cw, k=k)
        heads = rng.choices(range(1, len(HEADCOUNT_WEIGHTS) + 1), cum_weights=head_cw, k=k)
        units = [rng.randrange(len(UNITS) + 1) if is_prefecture[s] else 0 for s in snd]
        for row in zip(days, ops, snd, units, dst, dut, heads, strict=True):
            day, op, sender, unit, dest, duty, _ = row
            if sender == dest:
                continue
            key = (((((day * 8 + op) * 4096 + sender) * 8 + unit) * 4096 + dest) * 32) + duty
            if key in seen:
                continue
            seen.add(key)
            out.append(row)
            if len(out) == rows:
                break
    out.sort()
    return out


def _unit(index: int) -> str:
    return "" if index == 0 else UNITS[index - 1]


def entry_insert() -> Insert:
    """The core insert for entry_params: the columns every row shares are SQL literals, which spares
    SQLAlchemy converting the same timestamp a million times."""
    stamp = literal_column(f"'{STAMP.strftime('%Y-%m-%d %H:%M:%S.%f')}'")
    by = literal_column("'bench'")
    return insert(Entry.__table__).values(
        note=literal_column("''"), created_by=by, created_at=stamp, updated_by=by, updated_at=stamp
    )


def entry_params(universe: Universe, rows: Sequence[Row], start: date) -> Iterator[list[dict[str, Any]]]:
    """Parameters for entry_insert(), BATCH at a time."""
    dates = [start + timedelta(days=d) for d in range(DAYS)]
    orgs, ops, duties = universe.organisations, universe.operations, universe.duties
    for at in range(0, len(rows), BATCH):
        yield [
            {
                "date": dates[day],
                "operation_id": ops[op][0],
                "sender_id": orgs[sender][0],
                "sender_unit": _unit(unit),
                "destination_id": orgs[dest][0],
                "duty_id": duties[duty][0],
                "headcount": head,
            }
            for day, op, sender, unit, dest, duty, head in rows[at : at + BATCH]
        ]


def csv_lines(universe: Universe, rows: Sequence[Row], start: date) -> Iterator[str]:
    """The rows as an import file: the importer's English headers, organisations and duties by code."""
    yield "date,operation,sender,sender_unit,destination,duty,headcount,note\r\n"
    orgs, duties = universe.organisations, universe.duties
    codes = [code for code, _, _ in OPERATIONS]
    for day, op, sender, unit, dest, duty, head in rows:
        yield (
            f"{(start + timedelta(days=day)).isoformat()},{codes[op]},{orgs[sender][1]},{_unit(unit)},"
            f"{orgs[dest][1]},{duties[duty][1]},{head},\r\n"
        )


ENTRY_COLUMNS = (
    "date",
    "operation_id",
    "sender_id",
    "sender_unit",
    "destination_id",
    "duty_id",
    "headcount",
    "note",
    "created_by",
    "created_at",
    "updated_by",
    "updated_at",
)


def copy_entries(universe: Universe, rows: Sequence[Row], start: date) -> None:
    """PostgreSQL: the rows through COPY on the session's own psycopg connection (same transaction)."""
    dates = [start + timedelta(days=d) for d in range(DAYS)]
    orgs, ops, duties = universe.organisations, universe.operations, universe.duties
    units = [_unit(u) for u in range(len(UNITS) + 1)]
    raw = db.session.connection().connection.driver_connection
    # The rows are valid by construction: skip the foreign keys' per-row triggers for this transaction
    # (superuser only; without the right, the checks run and the load is slower).
    with raw.cursor() as cursor:
        try:
            cursor.execute("SAVEPOINT bench_replica")
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute("RELEASE SAVEPOINT bench_replica")
        except Exception:  # noqa: BLE001 - psycopg.errors.InsufficientPrivilege
            cursor.execute("ROLLBACK TO SAVEPOINT bench_replica")
    with raw.cursor() as cursor, cursor.copy(f"COPY entry ({', '.join(ENTRY_COLUMNS)}) FROM STDIN") as copy:
        for day, op, sender, unit, dest, duty, head in rows:
            copy.write_row(
                (
                    dates[day],
                    ops[op][0],
                    orgs[sender][0],
                    units[unit],
                    orgs[dest][0],
                    duties[duty][0],
                    head,
                    "",
                    "bench",
                    STAMP,
                    "bench",
                    STAMP,
                )
            )


@dataclass(frozen=True)
class DataSet:
    target: Target
    rows: int
    organisations: int
    invalid_codes: list[str]
    top_destination: str
    seconds: float
    # Of `seconds`: writing the entries (executemany or COPY), and filling the tally from them.
    insert_seconds: float = 0.0
    tally_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    # Municipalities made up because master data lacked them (none when it holds the whole country).
    made_up: int = 0


def universe_of(disaster_slug: str) -> Universe:
    """Ids of every organisation that may send or receive (not the wards of a designated city, which the
    application refuses as either, nor a body no longer active), the disaster's operations (in OPERATIONS
    order) and the duties."""
    orgs = [
        (o.id, o.code, o.kind)
        for o in db.session.scalars(select(Organisation).order_by(Organisation.code))
        if o.kind not in UNDRAWN_KINDS and getattr(o, "active", True)
    ]
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == disaster_slug))
    by_code = {op.code: op.id for op in disaster.operations} if disaster else {}
    ops = [(by_code[code], code) for code, _, _ in OPERATIONS if code in by_code]
    duties = [(d.id, d.code) for d in db.session.scalars(select(Duty).order_by(Duty.id))]
    return Universe(orgs, ops, duties)


def add_disaster(slug: str, name: str, start: date) -> Disaster:
    disaster = Disaster(slug=slug, name=name, start_date=start)
    db.session.add(disaster)
    db.session.flush()
    for order, (code, op_name, _) in enumerate(OPERATIONS, start=1):
        db.session.add(Operation(disaster=disaster, code=code, name=op_name, display_order=order))
    db.session.flush()
    return disaster


def generate(where: Target | Path | str, rows: int, *, seed: int = SEED) -> DataSet:
    """A fresh database at `where` (a SQLite file replaced if it exists, or a PostgreSQL database whose public
    schema is dropped and made again) holding the national-scale data set."""
    import time

    target = target_of(where)
    started = time.perf_counter()
    target.reset()
    app = make_app(target)
    with app.app_context():
        upgrade()
        load_master_data()
        db.session.commit()

        prefectures = [
            (o.code, o.name)
            for o in db.session.scalars(
                select(Organisation)
                .where(Organisation.kind == OrgKind.PREFECTURE.value)
                .order_by(Organisation.code)
            )
        ]
        pref_ids = {
            code: oid
            for oid, code in db.session.execute(
                select(Organisation.id, Organisation.code).where(
                    Organisation.kind == OrgKind.PREFECTURE.value
                )
            )
        }
        existing = set(db.session.scalars(select(Organisation.code)))
        # Master data with every local government of Japan (about 1,740 municipalities) is the data set's
        # organisations as it is; with only some (Akita's), the rest are made up as before.
        municipal = [code for code in existing if code[2:5] != "000" and not code.startswith("X")]
        made = [] if len(municipal) >= WHOLE_COUNTRY else municipal_codes(existing, prefectures)
        if made:
            db.session.execute(
                insert(Organisation),
                [
                    {
                        "code": m.code,
                        "kind": m.kind.value,
                        "name": m.name,
                        "kana": "",
                        "prefecture_id": pref_ids[m.prefecture_code],
                        "district": "",
                        "area": "",
                    }
                    for m in made
                ],
            )
        add_disaster(SLUG, DISASTER_NAME, START)
        db.session.execute(
            insert(ClosedDay),
            [
                {
                    "disaster_id": db.session.scalar(select(Disaster.id).where(Disaster.slug == SLUG)),
                    "date": START + timedelta(days=d),
                    "closed_by": "bench",
                    "closed_at": STAMP,
                }
                for d in range(CLOSED_DAYS)
            ],
        )
        db.session.commit()

        universe = universe_of(SLUG)
        drawn = draw_entries(universe, rows, seed)
        inserting = time.perf_counter()
        if target.is_sqlite:
            # A page cache that holds the indexes while a million keys go in (about 256 MB, this connection
            # only).
            db.session.execute(text("PRAGMA cache_size = -262144"))
            stmt = entry_insert()
            for params in entry_params(universe, drawn, START):
                db.session.execute(stmt, params)
        else:
            copy_entries(universe, drawn, START)
        del drawn
        tallying = time.perf_counter()
        # The rows went in behind the ORM, so the tally is filled the way `flask check-totals --rebuild` does.
        tally_check.rebuild(db.session.scalar(select(Disaster.id).where(Disaster.slug == SLUG)))
        db.session.commit()
        tallied = time.perf_counter()

        codes = list(db.session.scalars(select(Organisation.code).where(Organisation.kind != "other")))
        invalid = [c for c in codes if not (len(c) == 6 and c.isdigit() and lg_check_digit(c[:5]) == c[5])]
        top = db.session.execute(
            text(
                "SELECT o.code FROM entry e JOIN organisation o ON o.id = e.destination_id "
                "GROUP BY o.code ORDER BY SUM(e.headcount) DESC LIMIT 1"
            )
        ).scalar_one()
        count = db.session.scalar(select(func.count()).select_from(Organisation))
        db.session.commit()
        # The last connection to close checkpoints the WAL into the file, so the file can be copied.
        db.engine.dispose()
    vacuuming = time.perf_counter()
    target.vacuum_analyze()
    done = time.perf_counter()
    return DataSet(
        target,
        rows,
        int(count or 0),
        invalid,
        str(top),
        done - started,
        insert_seconds=tallying - inserting,
        tally_seconds=tallied - tallying,
        vacuum_seconds=done - vacuuming,
        made_up=len(made),
    )


def add_recipients(count: int, seed: int = SEED) -> int:
    """`count` digest recipients: the division and count-1 organisations, each asking for a digest even on
    a quiet day (send_empty), so every one of them is built and sent. Call inside an app context."""
    rng = random.Random(seed + 1)
    orgs = list(db.session.scalars(select(Organisation.id).order_by(Organisation.code)))
    chosen = rng.sample(orgs, min(count - 1, len(orgs)))
    db.session.execute(
        insert(Recipient).values(
            kind="division",
            email="division@example.lg.jp",
            active=True,
            note="",
            send_empty=True,
            created_at=STAMP,
        )
    )
    if chosen:
        db.session.execute(
            insert(Recipient),
            [
                {
                    "kind": "organisation",
                    "organisation_id": oid,
                    "email": f"bench{oid}@example.lg.jp",
                    "active": True,
                    "note": "",
                    "send_empty": True,
                    "created_at": STAMP,
                }
                for oid in chosen
            ],
        )
    db.session.commit()
    return len(chosen) + 1
