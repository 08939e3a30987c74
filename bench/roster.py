"""Figure r (issue 17): the named roster at scale, on the generated data set.

50,000 people in teams of 16 (each team 8 days at one of 40 destinations, rotations overlapping) are
imported into the national data set (1,000,000 entries at full scale) as a roster CSV, then:

- r.import  the import of the roster rows (`check_roster`, `write_roster` with the derived entries, commit);
            target ≤ 10 s; one run (it writes); floor [RI]: the CSV parsed and bare-inserted into a scratch table;
- r.field   the field page for the busiest date; target ≤ 250 ms; floor [RF]: the page's rows as one plain
            SQL statement (stints on the date joined to their person and team);
- r.persons `totals.json` by operation with `persons`; target ≤ 50 ms median; floor [RP]: COUNT(DISTINCT
            person) per operation as one plain statement.

Runs last in bench/run.py (it adds an operation and its entries to the data set). Alone, on a data set of
its own: `.venv/bin/python -m bench.roster --rows 1000000 --people 50000`.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from bench.dataset import SLUG, START, Universe, universe_of
from bench.report import Report, Row, Sample, verdict
from dispatch.actors import CLI_ACTOR
from dispatch.catalog import create_operation
from dispatch.extensions import db
from dispatch.models import Disaster
from dispatch.roster_import import check_roster
from dispatch.roster_writing import write_roster
from dispatch.write_lock import writing

if TYPE_CHECKING:
    from bench.run import Settings, Site

TEAM = 16
DESTINATIONS = 40
OPERATION = "roster-bench"
HEADER = "班,氏名,氏名カナ,派遣元,職員区分,派遣区分,派遣先,業務,開始日,終了日,班の派遣元\n"


def roster_csv(universe: Universe, people: int, seed: int = 17) -> tuple[bytes, str]:
    """The roster as CSV, and the busiest date (most people on duty)."""
    rng = random.Random(seed)
    orgs = universe.organisations
    prefectures = [o for o in orgs if o[2] == "prefecture"]
    municipal = [o for o in orgs if o[2] != "prefecture"]
    destinations = rng.sample(municipal, DESTINATIONS)
    duty = universe.duties[0][1]
    on_duty: Counter[str] = Counter()
    lines = [HEADER]
    for team_index in range(-(-people // TEAM)):
        destination = destinations[team_index % DESTINATIONS]
        leader = rng.choice(prefectures)
        # Half the team from the prefecture, half from four of the municipalities (as 長崎県 sent 県8, 市町8).
        towns = rng.sample(municipal, 4)
        start = START + timedelta(days=(team_index // DESTINATIONS) * 6 % 300)
        end = start + timedelta(days=7)
        number = team_index // DESTINATIONS + 1
        for n in range(team_index * TEAM, min(people, (team_index + 1) * TEAM)):
            sender = leader if n % 2 else towns[n % 8 // 2]
            if sender == destination:
                sender = leader
            kind = "県職員" if sender[2] == "prefecture" else "市町村職員"
            lines.append(
                f"{number},職員{n:06d},ショクイン{n:06d},{sender[1]},{kind},{OPERATION},{destination[1]},{duty},"
                f"{start.isoformat()},{end.isoformat()},{leader[1]}\n"
            )
        for offset in range(8):
            on_duty[(start + timedelta(days=offset)).isoformat()] += min(TEAM, people - team_index * TEAM)
    return "".join(lines).encode("utf-8"), on_duty.most_common(1)[0][0]


def _import_floor(site: Site, data: bytes) -> float:
    """The floor [RI]: the CSV's rows parsed by the csv module and inserted by one bare executemany into a
    scratch table of text columns."""
    started = time.perf_counter()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))[1:]
    columns = ", ".join(f"c{n} TEXT" for n in range(len(rows[0])))
    site.conn.execute(f"CREATE TABLE roster_floor ({columns})")
    cursor = site.conn.raw.cursor()
    cursor.executemany(
        site.conn.sql(f"INSERT INTO roster_floor VALUES ({', '.join('?' * len(rows[0]))})"), rows
    )
    seconds = time.perf_counter() - started
    site.conn.execute("DROP TABLE roster_floor")
    return seconds


def _timed(fn: object) -> float:
    started = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - started


def _runs(fn: object, runs: int) -> Sample:
    return Sample(tuple(_timed(fn) for _ in range(runs)), "time")


def section_roster(report: Report, s: Settings, site: Site, people: int = 50_000) -> None:
    with site.app.app_context():
        universe = universe_of(SLUG)
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        assert disaster is not None
        with writing():
            create_operation(disaster, OPERATION, "名簿のベンチマーク", CLI_ACTOR)
        data, busiest = roster_csv(universe, people)
        started = time.perf_counter()
        checked = check_roster(disaster, data, "roster.csv")
        with writing():
            # Most of the data set's days are closed (締め): the roster changes them with a reason.
            write_roster(disaster, checked, CLI_ACTOR, "名簿の後追い入力（ベンチマーク）")
        seconds = time.perf_counter() - started
    floor = Sample((_import_floor(site, data),), "time")
    report.add(Row("r.import", f"r. import of {len(checked.rows):,} roster rows (people, teams, derived entries)",
                   Sample((seconds,), "time"), floor, "RI", "≤ 10 s", verdict(seconds <= 10, s.rows)))  # fmt: skip
    field = f"/disasters/{SLUG}/field?date={busiest}"
    site.get(field)
    stints = (
        "SELECT p.name, t.number, t.destination_id, t.receiving_section, p.contact FROM stint s "
        "JOIN team t ON t.id = s.team_id JOIN person p ON p.id = s.person_id "
        "WHERE s.start_date <= ? AND s.end_date >= ? ORDER BY t.destination_id, t.start_date"
    )
    day = busiest
    fig = _runs(lambda: site.get(field), s.runs)
    flo = _runs(lambda: site.conn.execute(stints, (day, day)).fetchall(), s.runs)
    report.add(Row("r.field", f"r. field page for the busiest date ({busiest})", fig, flo, "RF", "≤ 250 ms",
                   verdict(fig.median <= 0.250, s.rows)))  # fmt: skip
    totals = f"/disasters/{SLUG}/totals.json?by=operation&as_of={busiest}"
    assert b'"persons"' in site.get(totals)
    persons = (
        "SELECT t.operation_id, COUNT(DISTINCT s.person_id) FROM stint s JOIN team t ON t.id = s.team_id "
        "WHERE s.duty_from <= ? GROUP BY t.operation_id"
    )
    fig = _runs(lambda: site.get(totals), s.runs)
    flo = _runs(lambda: site.conn.execute(persons, (day,)).fetchall(), s.runs)
    report.add(Row("r.persons", "r. totals.json by operation with persons (実人数)", fig, flo, "RP", "≤ 50 ms",
                   verdict(fig.median <= 0.050, s.rows)))  # fmt: skip


def part(report: Report, s: Settings, site: Site, people: int) -> None:
    """bench/run.py's part r, on a site of its own, closed after (its connections with it)."""
    try:
        section_roster(report, s, site, people)
    finally:
        site.close()


def main() -> None:
    from bench import dataset
    from bench.run import Settings, Site

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--people", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--db", type=Path, default=None, help="a SQLite file, or `sqlite` for a temporary one"
    )
    args = parser.parse_args()
    # `sqlite` means a temporary file, as in bench/run.py (not a file named "sqlite" in the working tree).
    given = None if args.db == Path("sqlite") else args.db
    path = given or Path(tempfile.mkdtemp(prefix="dispatch-roster-")) / "bench.sqlite"
    s = Settings(args.rows, args.runs, 3, 240.0, path, None, [], 0, 0, 0, 0, 0, 0, 0)
    started = time.perf_counter()
    dataset.generate(s.target, args.rows)
    print(f"generated {args.rows:,} entries in {time.perf_counter() - started:,.0f} s")
    report = Report()
    part(report, s, Site(s.target), args.people)
    for row in report.rows:
        floor = f" floor median {row.floor.median * 1000:,.1f} ms" if row.floor else ""
        assert row.figure is not None
        print(f"{row.key}: median {row.figure.median * 1000:,.1f} ms (n={len(row.figure.values)}){floor} "
              f"target {row.target} — {row.label}")  # fmt: skip


if __name__ == "__main__":
    main()
