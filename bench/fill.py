"""Issue 16's figure: fill.json (requested, assigned, on duty and unfilled per destination × duty on one date)
at national scale, beside a plain-SQL floor.

    .venv/bin/python -m bench.fill --rows 1000000 --requests 10000 [--db sqlite|PATH|URL] [--runs 7]

Generates the data set of bench/dataset.py (or reuses `--db PATH` when `--reuse`), adds `--requests` short-term
requests to it, each with one or two revisions and up to two assignments, drawn where the entries go (a
request's destination × duty is one the entries have, its period one to four months of the year), and times
`/disasters/<slug>/fill.json?date=<mid-period>` through the test client against the floor: the same three
sums (requested as of the date, assigned, on duty) as bare SQL through sqlite3 or psycopg. bench/run.py
runs `section()` on its own data set as row a.fill.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from bench import dataset
from bench.dataset import MID, SLUG, START
from bench.db import Target
from bench.report import Report, Row, Sample, ratio, verdict
from dispatch.extensions import db
from dispatch.models import Assignment, Dim, Disaster, RequestRevision, StaffRequest, Tally

REQUESTS = 10_000
SEED = 20240116
STAMP = dataset.STAMP
URL = f"/disasters/{SLUG}/fill.json?date={MID.isoformat()}"

# The floor [FILL]: the three sums fill.json adds up, as bare SQL through the driver: the revisions in force on
# the date, the assignments counting on it, the entries of the date.
FLOOR_SQL = (
    """SELECT requester_id, duty_id, SUM(persons) FROM request_revision
WHERE disaster_id = ? AND in_force_to >= ? AND date_from <= ? GROUP BY requester_id, duty_id""",
    """SELECT requester_id, duty_id, SUM(persons) FROM assignment
WHERE disaster_id = ? AND counts_to >= ? AND date_from <= ? GROUP BY requester_id, duty_id""",
    """SELECT e.destination_id, e.duty_id, SUM(e.headcount) FROM entry e
WHERE e.operation_id IN (SELECT id FROM operation WHERE disaster_id = ?) AND e.date = ?
GROUP BY e.destination_id, e.duty_id""",
)


LEGEND_TITLE = "Fill (issue 16)"
LEGEND = f"""Row a.fill times `{URL}` through the test client, {REQUESTS:,} short-term requests added to the
data set by bench/fill.py (one or two revisions each, up to two assignments, one in 50 withdrawn), where the
entries go. **[FILL]** is the same three sums as bare SQL through the driver: the revisions in force on the
date and the assignments counting on it (each one range of its covering index), and the entries of the date
(ix_entry_operation_date). The harness checks first that fill.json's requested, assigned and on-duty totals
equal the floor's."""


def add_requests(count: int, seed: int = SEED) -> int:
    """`count` requests on the benchmark disaster, in the app context; the revisions written."""
    rng = random.Random(seed)
    disaster_id = db.session.scalar(select(Disaster.id).where(Disaster.slug == SLUG))
    t = Tally.__table__
    # Destination × duty pairs the entries have, weighted by their person-days: where requests are made.
    pairs = db.session.execute(
        select(t.c.key1, t.c.key2, func.max(t.c.person_days))
        .where(t.c.disaster_id == disaster_id, t.c.dim == Dim.DU)
        .group_by(t.c.key1, t.c.key2)
    ).all()
    senders = [row[0] for row in pairs[:200]] or [0]
    weights = [float(p) for _, _, p in pairs]
    requests, revisions, assignments = [], [], []
    first_id = (db.session.scalar(select(func.max(StaffRequest.id))) or 0) + 1
    for n in range(count):
        destination, duty, _ = rng.choices(pairs, weights)[0]
        start = START + timedelta(days=rng.randrange(300))
        end = start + timedelta(days=rng.randrange(30, 120))
        request_id = first_id + n
        requests.append(
            {
                "id": request_id,
                "disaster_id": disaster_id,
                "number": f"B{n + 1:06d}",
                "requester_id": destination,
                "received_on": start - timedelta(days=1),
                "route": "agreement",
                "duty_id": duty,
                "job_type": "",
                "place": "",
                "reason": "",
                "conditions": "",
                "lodging": "",
                "note": "",
                "state": "withdrawn" if n % 50 == 0 else "open",
                "withdrawn_on": start + timedelta(days=10) if n % 50 == 0 else None,
                "created_by": "bench",
                "created_at": STAMP,
            }
        )
        persons = rng.randrange(1, 40)
        # As requests.refresh_spans keeps them: the copies of the request, the last day each counts.
        withdrawn = requests[-1]["withdrawn_on"]
        stop = end if withdrawn is None else min(end, withdrawn - timedelta(days=1))
        same = {"disaster_id": disaster_id, "requester_id": destination, "duty_id": duty}
        revised = start + timedelta(days=14) if n % 3 == 0 else None
        first_end = stop if revised is None else min(stop, revised - timedelta(days=1))
        revisions.append(_revision(request_id, start, end, persons, first_end, same))
        if revised is not None:
            revisions.append(_revision(request_id, revised, end, persons + rng.randrange(1, 10), stop, same))
        for _ in range(rng.randrange(3)):
            sender = rng.choice(senders)
            if sender != destination:
                assignments.append(
                    _assignment(request_id, sender, start, end, max(persons // 2, 1), stop, same)
                )
    db.session.execute(insert(StaffRequest), requests)
    if db.engine.dialect.name == "postgresql":
        # The ids were given: the sequence must not hand them out again.
        db.session.execute(
            text("SELECT setval(pg_get_serial_sequence('staff_request', 'id'), MAX(id)) FROM staff_request")
        )
    db.session.execute(insert(RequestRevision), revisions)
    if assignments:
        db.session.execute(insert(Assignment), assignments)
    db.session.commit()
    return len(revisions)


def _revision(
    request_id: int, start: Any, end: Any, persons: int, counts_to: Any, same: dict[str, Any]
) -> dict[str, Any]:
    return {
        **same,
        "in_force_to": counts_to if counts_to >= start else None,
        "request_id": request_id,
        "date_from": start,
        "date_to": end,
        "persons": persons,
        "fiscal_year": None,
        "note": "",
        "created_by": "bench",
        "created_at": STAMP,
    }


def _assignment(
    request_id: int, sender: int, start: Any, end: Any, persons: int, counts_to: Any, same: dict[str, Any]
) -> dict[str, Any]:
    return {
        **same,
        "counts_to": counts_to if counts_to >= start else None,
        "request_id": request_id,
        "sender_id": sender,
        "persons": persons,
        "date_from": start,
        "date_to": end,
        "decided_on": start,
        "note": "",
        "created_by": "bench",
        "created_at": STAMP,
    }


def floor(conn: Any, disaster_id: int) -> tuple[int, int, int]:
    day = MID
    requested = conn.execute(FLOOR_SQL[0], (disaster_id, day, day)).fetchall()
    assigned = conn.execute(FLOOR_SQL[1], (disaster_id, day, day)).fetchall()
    on_duty = conn.execute(FLOOR_SQL[2], (disaster_id, day)).fetchall()
    return tuple(sum(int(r[2]) for r in rows) for rows in (requested, assigned, on_duty))  # type: ignore[return-value]


def section(report: Report, site: Any, s: Any, requests: int = REQUESTS) -> Row:
    """Row a.fill on bench/run.py's Site and Settings (or this module's own): requests added if missing."""
    from bench.run import log, paired, timed

    with site.app.app_context():
        disaster_id = db.session.scalar(select(Disaster.id).where(Disaster.slug == SLUG))
        have = db.session.scalar(select(func.count()).select_from(StaffRequest)) or 0
        if have < requests:
            log(f"fill: adding {requests - have:,} requests")
            add_requests(requests - have)
            if not site.target.is_sqlite:
                # As autovacuum soon would after a bulk load (the data set's own VACUUM ran before these rows).
                site.conn.execute("VACUUM (ANALYZE) staff_request, request_revision, assignment")
        have = db.session.scalar(select(func.count()).select_from(StaffRequest)) or 0
    answer = json.loads(site.get(URL))
    floor_sums = floor(site.conn, disaster_id)
    if (answer["requested"], answer["assigned"], answer["on_duty"]) != floor_sums:
        raise RuntimeError(
            f"fill.json {answer['requested'], answer['assigned'], answer['on_duty']} ≠ floor {floor_sums}"
        )
    log(f"fill: fill.json as of {MID} with {have:,} requests")
    figure, bare = paired(lambda: site.get(URL), lambda: timed(lambda: floor(site.conn, disaster_id)), s)
    ok = figure.median <= 0.050
    if not any(title == LEGEND_TITLE for title, _ in report.sections):
        report.sections.append((LEGEND_TITLE, LEGEND))
    return report.add(
        Row(
            "a.fill",
            f"a. fill.json as of mid-period ({MID.isoformat()}), {have:,} requests (issue 16)",
            figure,
            bare,
            "FILL",
            "≤ 50 ms",
            verdict(ok, s.rows),
            "" if ok else f"{figure.median * 1000:.0f} ms, {ratio(figure, bare) or 0:.1f}× the floor",
        )
    )


def main(argv: list[str] | None = None) -> None:
    from bench.run import Settings, Site

    parser = argparse.ArgumentParser(prog="python -m bench.fill")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument(
        "--db", default=None, help="a SQLite file, or a PostgreSQL URL (emptied); default: temporary"
    )
    parser.add_argument("--reuse", action="store_true", help="measure the data set already in --db")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    where = args.db or str(Path(tempfile.mkdtemp(prefix="dispatch-fill-")) / "bench.sqlite")
    target = Target.parse(where)
    if not args.reuse:
        data = dataset.generate(target, args.rows)
        print(f"generated {args.rows:,} entries in {data.seconds:,.0f} s", file=sys.stderr)
    s = Settings(
        rows=args.rows,
        runs=args.runs,
        min_runs=3,
        budget=120,
        db=target,
        out=None,
        scales=[],
        import_rows=0,
        digests=0,
        clients=0,
        posts=0,
        browser_posts=0,
        workers=0,
        threads=0,
    )
    site = Site(target)
    report = Report(database=target.label)
    try:
        row = section(report, site, s, args.requests)
    finally:
        site.close()
    assert row.figure is not None and row.floor is not None
    print(f"{target.label}: {row.label}")
    print(
        f"  fill.json median {_ms(row.figure)} (min {row.figure.low * 1000:.1f}, max {row.figure.high * 1000:.1f})"
    )
    print(
        f"  floor [FILL] median {_ms(row.floor)}; {ratio(row.figure, row.floor) or 0:.2f}× the floor; {row.verdict}"
    )


def _ms(sample: Sample) -> str:
    return f"{sample.median * 1000:.1f} ms"


if __name__ == "__main__":
    main()
