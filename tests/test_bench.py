"""The benchmark harness (bench/) at a few hundred entries, every part included, so that it keeps working.

Timings are never asserted: only that the data set is what the harness says it is and that the tables have
every figure of issues 7 and 11. On SQLite always; on PostgreSQL too when TEST_DATABASE_URL names one (the
harness then generates into that very database and its scratch databases beside it, and the test puts the
database back as the other tests expect it: migrated, with master data only).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from flask_migrate import upgrade

from bench import dataset
from bench.db import Target
from bench.report import Report, document, load, save
from bench.run import AS_OF, DIMENSIONS, FLOORS, INTRO, METHOD, TITLE, Settings, run
from dispatch.extensions import db
from dispatch.masterdata import load_master_data
from dispatch.models import OrgKind, is_valid_lg_code

ROWS = 400
SCALE = 150
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")


def test_generated_municipal_codes_are_valid_and_new() -> None:
    prefectures = [("010006", "北海道"), ("050008", "秋田県"), ("130001", "東京都")]
    existing = {"050008", "052019", "052027", "053031"}
    made = dataset.municipal_codes(set(existing), prefectures)

    codes = [m.code for m in made]
    assert all(is_valid_lg_code(code) for code in codes)
    assert len(set(codes)) == len(codes)
    assert not set(codes) & existing
    # 37 municipalities under each prefecture, the three Akita ones master data has included.
    assert len(made) == 3 * dataset.MUNICIPALITIES_PER_PREFECTURE - 3
    assert {m.kind for m in made} == {OrgKind.CITY, OrgKind.TOWN, OrgKind.VILLAGE}
    assert next(m for m in made if m.code == "012017").name == "北海道第1市"


def test_database_targets() -> None:
    sqlite = Target.parse("/tmp/b/bench.sqlite")
    assert sqlite.is_sqlite and sqlite.label == "SQLite" and sqlite.name == "bench"
    assert sqlite.sibling("g10000").path == Path("/tmp/b/bench-g10000.sqlite")
    pg = Target.parse("postgresql://postgres@127.0.0.1:5432/bench_pg")
    assert pg.url == "postgresql+psycopg://postgres@127.0.0.1:5432/bench_pg"
    assert not pg.is_sqlite and pg.label == "PostgreSQL" and pg.name == "bench_pg"
    assert pg.sibling("g10000").name == "bench_pg_g10000"
    assert pg.libpq() == "postgresql://postgres@127.0.0.1:5432/bench_pg"


def small_settings(target: Target, work: Path) -> Settings:
    return Settings(
        rows=ROWS,
        runs=1,
        min_runs=1,
        budget=60,
        db=target,
        out=work / "benchmarks.md",
        scales=[SCALE],
        import_rows=100,
        digests=5,
        clients=2,
        posts=2,
        browser_posts=1,
        workers=2,
        threads=1,
        login_clients=2,
        login_posts=3,
        work_dir=work,
    )


def expected_keys() -> set[str]:
    expected = {f"a.{dim.value}.{name}" for dim in DIMENSIONS for name, _ in AS_OF}
    expected |= {"a.fill", "b.dashboard", "b.list", "c.import", "d.digests"}
    expected |= {f"e.{mode}.{figure}" for mode in ("post", "browser") for figure in ("rate", "p95")}
    expected |= {"f.csv.memory", "f.xlsx.memory", "f.import.memory", "f.csv.time", "f.xlsx.time"}
    expected |= {"f.xlsx.job.memory", "f.xlsx.job.time", "f.xlsx.job.latency"}
    expected |= {f"g.{dim.value}.{n}" for dim in DIMENSIONS for n in (SCALE, "growth")}
    expected |= {"h.wait", "h.wait.p95", "h.post", "h.post.p95", "h.added"}
    expected |= {"r.import", "r.field", "r.persons"}  # bench/roster.py (issue 17)
    return expected


def check_data_set(target: Target) -> None:
    conn = target.connect()
    try:
        entries, keys = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT CAST(operation_id AS VARCHAR(20)) || '|' || CAST(date AS VARCHAR(20)) "
            "|| '|' || CAST(sender_id AS VARCHAR(20)) || '|' || sender_unit || '|' || "
            "CAST(destination_id AS VARCHAR(20)) || '|' || CAST(duty_id AS VARCHAR(20))) FROM entry "
            "WHERE operation_id IN (SELECT id FROM operation WHERE disaster_id = "
            "(SELECT id FROM disaster WHERE slug = ?)) AND created_by = 'bench' AND sender_unit NOT LIKE ?",
            (dataset.SLUG, "floor-%"),
        ).fetchone()
        codes = [
            code
            for (code,) in conn.execute("SELECT code FROM organisation WHERE kind NOT IN ('other', 'ward')")
        ]
    finally:
        conn.close()
    assert entries == keys == ROWS
    assert 1_780 <= len(codes) <= 1_800
    assert all(is_valid_lg_code(code) for code in codes)


def check_report(report: Report, database: str) -> str:
    assert report.database == database
    assert not report.failure
    assert {row.key for row in report.rows} == expected_keys()
    table = report.table()
    for row in report.rows:
        assert f"| {row.label} |" in table
        # Every measured figure stands beside its floor.
        assert row.figure is not None and row.floor is not None, row.key
        assert row.verdict.startswith(("n/a", "no target")), row.key
    # What `python -m bench.run --out` writes to docs/benchmarks.md carries the same table.
    written = document([report], TITLE, INTRO, METHOD)
    assert table in written
    for heading in ("## Machine", "## Data set", "## Results", "## Where the dashboard's time goes"):
        assert heading in written
    assert "cores (nproc): " in written and "SQLite: " in written
    assert report.floors in written
    return table


@pytest.mark.sqlite_only
def test_small_run_of_the_whole_harness(tmp_path: Path) -> None:
    target = Target.parse(tmp_path / "bench.sqlite")

    report = run(small_settings(target, tmp_path), "python -m bench.run (test)")

    check_data_set(target)
    table = check_report(report, "SQLite")
    assert report.floors == FLOORS

    # Saved and read back (--save, --merge), the report makes the same table; two databases side by side.
    save([report], tmp_path / "results.json")
    [again] = load(tmp_path / "results.json")
    assert again.table() == table
    again.database = "PostgreSQL"
    both = document([report, again], TITLE, INTRO, METHOD)
    assert "## Side by side" in both
    assert "| Figure | Target | SQLite | PostgreSQL |" in both
    assert "### Results on SQLite" in both and "### Results on PostgreSQL" in both


@pytest.mark.postgresql_only
def test_small_run_on_postgresql(database_template: str, tmp_path: Path) -> None:
    target = Target.parse(POSTGRES_URL)
    try:
        report = run(small_settings(target, tmp_path), "python -m bench.run (test, PostgreSQL)")
        check_data_set(target)
    finally:
        # As tests/conftest.py left it: the schema of the migrations and the master data, nothing else.
        target.reset()
        app = dataset.make_app(target)
        with app.app_context():
            upgrade()
            load_master_data()
            db.session.commit()
            db.engine.dispose()
    check_report(report, "PostgreSQL")
