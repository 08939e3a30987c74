"""The benchmark harness (bench/) at a few hundred entries, every part included, so that it keeps working.

Timings are never asserted: only that the data set is what the harness says it is and that the table has
every figure of issue 7.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench import dataset
from bench.run import AS_OF, FLOORS, INTRO, Settings, run
from dispatch.models import OrgKind, is_valid_lg_code
from dispatch.totals import Dimension

pytestmark = pytest.mark.sqlite_only

ROWS = 400
SCALE = 150


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


def test_small_run_of_the_whole_harness(tmp_path: Path) -> None:
    db_path = tmp_path / "bench.sqlite"
    settings = Settings(
        rows=ROWS,
        runs=1,
        min_runs=1,
        budget=60,
        db=db_path,
        out=tmp_path / "benchmarks.md",
        scales=[SCALE],
        import_rows=100,
        digests=5,
        clients=2,
        posts=2,
        browser_posts=1,
        workers=2,
        threads=1,
    )

    report = run(settings, "python -m bench.run (test)")

    with sqlite3.connect(db_path) as conn:
        entries, keys = conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT operation_id || '|' || date || '|' || sender_id || '|' || "
            "sender_unit || '|' || destination_id || '|' || duty_id) FROM entry "
            "WHERE operation_id IN (SELECT id FROM operation WHERE disaster_id = "
            "(SELECT id FROM disaster WHERE slug = ?)) AND created_by = 'bench' AND sender_unit NOT LIKE 'floor-%'",
            (dataset.SLUG,),
        ).fetchone()
        codes = [code for (code,) in conn.execute("SELECT code FROM organisation WHERE kind <> 'other'")]
    conn.close()
    assert entries == keys == ROWS
    assert 1_780 <= len(codes) <= 1_800
    assert all(is_valid_lg_code(code) for code in codes)

    expected = {f"a.{dim.value}.{name}" for dim in Dimension for name, _ in AS_OF}
    expected |= {"b.dashboard", "b.list", "c.import", "d.digests"}
    expected |= {f"e.{mode}.{figure}" for mode in ("post", "browser") for figure in ("rate", "p95")}
    expected |= {"f.csv.memory", "f.xlsx.memory", "f.import.memory", "f.csv.time", "f.xlsx.time"}
    expected |= {f"g.{dim.value}.{n}" for dim in Dimension for n in (SCALE, "growth")}
    assert {row.key for row in report.rows} == expected

    table = report.table()
    for row in report.rows:
        assert f"| {row.label} |" in table
        # Every measured figure stands beside its floor.
        assert row.figure is not None and row.floor is not None, row.key
        assert row.verdict.startswith(("n/a", "no target")), row.key

    # What `python -m bench.run --out` writes to docs/benchmarks.md carries the same table.
    written = report.markdown("Benchmarks (issue 7)", INTRO, FLOORS)
    assert table in written
    for heading in ("## Machine", "## Data set", "## Results", "## Where the dashboard's time goes"):
        assert heading in written
    assert "cores (nproc): " in written and "SQLite: " in written
