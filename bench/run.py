"""The benchmark of issues 7 and 11: generate a national-scale data set, measure, print the tables, write the doc.

    .venv/bin/python -m bench.run --rows 1000000 [--runs 5] [--out docs/benchmarks.md] [--db PATH|URL ...]

`--db` names a SQLite file or a PostgreSQL URL (postgresql+psycopg://postgres@127.0.0.1:5432/bench_pg); given
twice (`--db sqlite --db URL`), both databases are measured one after the other and the document puts them
side by side. Every figure is measured beside its floor, alternately, in the same run on the same data; the
table gives the median and the min–max of the runs. A warm-up call precedes each in-process measurement; a
call of 10 s or more counts as a run instead. Measures that take minutes stop after `--min-runs` runs once
their time budget is spent, and the table says how many runs each figure had. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import Flask
from flask_login import FlaskLoginClient
from sqlalchemy import delete, func, select

from bench import dataset, export_job, fill, load, roster
from bench.child import sql_time, turn_time
from bench.compat import first_module
from bench.dataset import END, MID, SLUG, START, make_app
from bench.db import Target
from bench.report import MB, Report, Row, Sample, document, machine, ratio, verdict
from bench.report import load as load_reports
from bench.report import save as save_reports
from dispatch.accounts import create_user, find_user
from dispatch.actors import Actor
from dispatch.extensions import db
from dispatch.models import Delivery, Role, User
from dispatch.totals import Dimension

ROOT = Path(__file__).resolve().parents[1]
SLOW_CALL = 10.0
PASSWORD = "bench password for load clients"
WRONG_PASSWORD = "not the password of this account"
MAIL_FROM = "dispatch@example.lg.jp"
DIGEST_DATE = MID + timedelta(days=1)
DIGEST_NOW = datetime.combine(DIGEST_DATE, datetime.min.time(), ZoneInfo("Asia/Tokyo")).replace(hour=8)
GROUP_COLUMNS = {
    Dimension.OPERATION: "operation_id",
    Dimension.DESTINATION: "destination_id",
    Dimension.SENDER: "sender_id",
    Dimension.DUTY: "duty_id",
    Dimension.DATE: "date",
}
# The dimensions of issue 7's totals, each with its floor's GROUP BY column (others the application may add,
# such as the sender's kind as seen from one organisation, have no plain-column floor and are not measured).
DIMENSIONS = tuple(dim for dim in Dimension if dim in GROUP_COLUMNS)
AS_OF = (("mid-period", MID), ("period end", END))
DIGEST_MODULE = ROOT / "dispatch" / "digest.py"
ORDER = "abcdefghr"
# Figure h: login throttling would refuse the wrong passwords unchecked after a few (per account and per
# address, and every client is 127.0.0.1), so the server of figure h raises its limits out of reach.
NO_THROTTLE = {
    "DISPATCH_LOGIN_SLOW_AFTER": "1000000000",
    "DISPATCH_LOGIN_LOCK_AFTER": "1000000000",
    "DISPATCH_LOGIN_ADDRESS_LOCK_AFTER": "1000000000",
}
# The throttle's refusals begin so ("the failures continue"); a login answered so was not checked.
THROTTLED = "ログインの失敗が続"
LIST_ROWS = 50
# The floor [LIST]: what the entries list must read, as plain SQL: its first page in list order and the
# count and sum of everything the filter matches (the destination by id, resolved once).
LIST_SQL = """
SELECT e.id, e.date, op.name, s.code, s.name, e.sender_unit, d.code, d.name, duty.name_ja, e.headcount, e.note
FROM entry e
JOIN operation op ON op.id = e.operation_id
JOIN organisation s ON s.id = e.sender_id
JOIN organisation d ON d.id = e.destination_id
JOIN duty ON duty.id = e.duty_id
WHERE op.disaster_id = ? AND e.destination_id = ?
ORDER BY e.date DESC, op.display_order, s.code, e.id
LIMIT 50
"""
LIST_COUNT_SQL = """
SELECT COUNT(*), COALESCE(SUM(e.headcount), 0)
FROM entry e JOIN operation op ON op.id = e.operation_id
WHERE op.disaster_id = ? AND e.destination_id = ?
"""

FLOORS_SQLITE = """Floors: **[GB]** the plain `SELECT key, SUM(headcount), SUM(CASE WHEN date = :as_of …) FROM entry WHERE
date <= :as_of GROUP BY key` through sqlite3 directly, for the same dimension (the dashboard: by
destination, as of the period end), timed as SQLite plans it (an index walk that fetches every row from the
table) and as a straight table scan (`FROM entry NOT INDEXED`), the faster of the two in each run; **[LIST]** the
entries list's reads as plain SQL through sqlite3: the first 50 rows in list order, joined to their names, for
the destination's id, and one `COUNT(*), SUM(headcount)` of all its entries; **[EM]** a bare sqlite3
`executemany` of the same 100,000 rows as ids, then COMMIT; **[SMTP]** one smtplib connection sending the very
messages the digest run produced; **[INS]** a bare Flask endpoint doing one INSERT per POST
(bench/floor_app.py) in the same gunicorn setup, posted the same entries by the same clients; **[CSV]** a child
process that imports the same modules, reads the same joined rows with sqlite3 and writes them with
csv.writer; **[IDLE]** the same writer posting the same entry form to the same server without the login
traffic, alternately with the loaded runs. "× floor" is the figure's cost over the floor's: time or memory
divided by the floor's, or for a rate the floor's rate divided by the figure's."""

FLOORS_POSTGRESQL = """Floors, measured on PostgreSQL: **[GB]** the plain `SELECT key, SUM(headcount), SUM(CASE WHEN date =
:as_of …) FROM entry WHERE date <= :as_of GROUP BY key` through psycopg directly, for the same dimension (the
dashboard: by destination, as of the period end), as PostgreSQL plans it; **[LIST]** the entries list's reads
as plain SQL through psycopg: the first 50 rows in list order, joined to their names, for the destination's
id, and one `COUNT(*), SUM(headcount)` of all its entries; **[EM]** a bare psycopg `executemany` of the same
100,000 rows as ids in one transaction; **[SMTP]** one smtplib connection sending the very messages the digest
run produced; **[INS]** a bare Flask endpoint doing one INSERT per POST through psycopg (bench/floor_app.py) in
the same gunicorn setup, posted the same entries by the same clients; **[CSV]** a child process that imports
the same modules, reads the same joined rows through a psycopg server-side cursor and writes them with
csv.writer; **[IDLE]** the same writer posting the same entry form to the same server without the login
traffic, alternately with the loaded runs. "× floor" is the figure's cost over the floor's: time or memory
divided by the floor's, or for a rate the floor's rate divided by the figure's."""


def floors_of(target: Target) -> str:
    return FLOORS_SQLITE if target.is_sqlite else FLOORS_POSTGRESQL


# What test_bench and older callers import: the SQLite legend.
FLOORS = FLOORS_SQLITE


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass
class Settings:
    rows: int
    runs: int
    min_runs: int
    budget: float
    db: Target | Path
    out: Path | None
    scales: list[int]
    import_rows: int
    digests: int
    clients: int
    posts: int
    browser_posts: int
    workers: int
    threads: int
    skip: set[str] = field(default_factory=set)
    # The database was made for this run and goes with it (a SQLite file in a temporary directory).
    temporary: bool = False
    # Figure h: the clients posting wrong passwords, and the entries the writer posts per phase.
    login_clients: int = 2
    login_posts: int = 30
    # Scratch files (CSV, logs): beside the SQLite file, or a temporary directory for PostgreSQL.
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.db, Target):
            self.db = Target.parse(self.db)
        if self.work_dir is None:
            self.work_dir = (
                self.target.path.parent
                if self.target.is_sqlite
                else Path(tempfile.mkdtemp(prefix="dispatch-bench-"))
            )

    @property
    def target(self) -> Target:
        assert isinstance(self.db, Target)
        return self.db

    @property
    def work(self) -> Path:
        assert self.work_dir is not None
        return self.work_dir

    def scratch(self, name: str) -> Path:
        """A scratch file."""
        return self.work / f"{self.target.name}-{name}"

    def scratch_db(self, suffix: str) -> Target:
        """A scratch database beside the data set's."""
        return self.target.sibling(suffix)


def paired(
    figure: Callable[[], object],
    floor: Callable[[], float],
    s: Settings,
    *,
    budget: float | None = None,
    first: float | None = None,
) -> tuple[Sample, Sample]:
    """Figure and floor, alternately; up to s.runs runs, fewer (not below s.min_runs) once over budget.

    `floor` times itself and returns its seconds. `first` is the time of a call the caller has made already,
    which stands for the warm-up call."""
    budget = s.budget if budget is None else budget
    started = time.perf_counter()
    first = timed(figure) if first is None else first
    first_floor = floor()
    figures, floors = ([first], [first_floor]) if first >= SLOW_CALL else ([], [])
    while len(figures) < s.runs:
        if len(figures) >= s.min_runs and time.perf_counter() - started > budget:
            break
        figures.append(timed(figure))
        floors.append(floor())
    return Sample(tuple(figures), "time"), Sample(tuple(floors), "time")


def repeat(
    s: Settings,
    work: Callable[[], dict[str, float]],
    *,
    budget: float | None = None,
    min_runs: int | None = None,
) -> list[dict[str, float]]:
    """Runs of a measure whose every call is a run of its own (child processes, digests, load)."""
    budget = s.budget if budget is None else budget
    least = s.min_runs if min_runs is None else min_runs
    started = time.perf_counter()
    results: list[dict[str, float]] = []
    while len(results) < s.runs:
        if len(results) >= least and time.perf_counter() - started > budget:
            break
        results.append(work())
    return results


def sample(results: list[dict[str, float]], key: str, kind: str, unit: str = "") -> Sample:
    return Sample(tuple(r[key] for r in results), kind, unit)


def ensure_user(app: Flask, username: str, role: Role = Role.HQ) -> User:
    with app.app_context():
        user = find_user(username)
        if user is None:
            user, _ = create_user(username, role, actor=Actor("bench", Role.ADMIN), password=PASSWORD)
            db.session.commit()
        db.session.refresh(user)
        db.session.expunge(user)
        return user


class Site:
    """The application in this process on one database, with a logged-in test client and a plain DB-API
    connection (sqlite3 or psycopg) for the floors."""

    def __init__(self, target: Target, **config: Any) -> None:
        self.target = target
        self.app = make_app(target, **config)
        self.app.test_client_class = FlaskLoginClient
        self.client = self.app.test_client(user=ensure_user(self.app, "bench-reader"))
        self.conn = target.connect()

    def get(self, url: str) -> bytes:
        response = self.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: {response.status_code}")
        return response.data

    def group_by(self, column: str, as_of: date, hint: str = "") -> list[tuple[Any, ...]]:
        return self.conn.execute(
            f"SELECT {column}, SUM(headcount), SUM(CASE WHEN date = ? THEN headcount ELSE 0 END) "
            f"FROM entry{hint} WHERE date <= ? GROUP BY {column}",
            (as_of, as_of),
        ).fetchall()

    def group_by_seconds(self, column: str, as_of: date) -> float:
        """The floor [GB]. On SQLite the faster of its own plan (which walks an index to avoid sorting,
        fetching each row from the table) and a straight scan of the table (NOT INDEXED); on PostgreSQL the
        statement as it plans it."""
        hints = ("", " NOT INDEXED") if self.target.is_sqlite else ("",)
        return min(timed(lambda hint=hint: self.group_by(column, as_of, hint)) for hint in hints)

    def list_floor(self, disaster_id: int, destination_id: int) -> tuple[list[tuple[Any, ...]], int, int]:
        """The floor [LIST]: the first page of the entries list in list order and the count and sum."""
        rows = self.conn.execute(LIST_SQL, (disaster_id, destination_id)).fetchall()
        count, person_days = self.conn.execute(LIST_COUNT_SQL, (disaster_id, destination_id)).fetchone()
        return rows, int(count), int(person_days)

    def close(self) -> None:
        self.conn.close()
        with self.app.app_context():
            db.engine.dispose()


# --- a, g: totals ------------------------------------------------------------------------------------------


def totals_url(dim: Dimension, as_of: date) -> str:
    return f"/disasters/{SLUG}/totals.json?as_of={as_of.isoformat()}&by={dim.value}"


def check_totals(site: Site, dim: Dimension, as_of: date) -> None:
    """The figure measured is the right one: the JSON's person-days equal the bare GROUP BY's."""
    figure = json.loads(site.get(totals_url(dim, as_of)))["person_days"]
    floor = sum(row[1] for row in site.group_by(GROUP_COLUMNS[dim], as_of))
    if figure != floor:
        raise RuntimeError(
            f"totals by {dim.value} as of {as_of}: {figure} person-days, the entries hold {floor}"
        )


def measure_totals(site: Site, s: Settings, as_of: date) -> dict[Dimension, tuple[Sample, Sample]]:
    out = {}
    for dim in DIMENSIONS:
        check_totals(site, dim, as_of)
        out[dim] = paired(
            lambda dim=dim: site.get(totals_url(dim, as_of)),
            lambda dim=dim: site.group_by_seconds(GROUP_COLUMNS[dim], as_of),
            s,
        )
    return out


def totals_why(fig: Sample, floor: Sample, site: Site) -> str:
    organisations = site.conn.execute("SELECT COUNT(*) FROM organisation").fetchone()[0]
    return (
        f"totals() answers from the tally, one index seek per candidate key (every organisation for sender and "
        f"destination, {organisations:,} here), then names, sorts and serialises the rows: "
        f"{ratio(fig, floor):.2f}× the GROUP BY, which reads the whole entries table. What remains is per-key "
        f"work in Python and {site.target.label}, not per entry."
    )


def section_a(report: Report, site: Site, s: Settings) -> dict[Dimension, tuple[Sample, Sample]]:
    at_end: dict[Dimension, tuple[Sample, Sample]] = {}
    for name, as_of in AS_OF:
        log(f"a. totals JSON as of {name}")
        for dim, (fig, floor) in measure_totals(site, s, as_of).items():
            ok = fig.median <= 0.050 and (ratio(fig, floor) or 99) <= 0.25
            report.add(
                Row(
                    f"a.{dim.value}.{name}",
                    f"a. totals JSON by {dim.value}, as of {name} ({as_of.isoformat()})",
                    fig,
                    floor,
                    "GB",
                    "≤ 50 ms and ≤ 0.25× floor",
                    verdict(ok, s.rows),
                    "" if ok else totals_why(fig, floor, site),
                )
            )
            if as_of == END:
                at_end[dim] = (fig, floor)
    return at_end


def section_g(report: Report, s: Settings, at_full: dict[Dimension, tuple[Sample, Sample]]) -> None:
    scales = sorted(n for n in s.scales if n < s.rows)
    by_scale: dict[int, dict[Dimension, tuple[Sample, Sample]]] = {}
    for n in scales:
        scratch = s.scratch_db(f"g{n}")
        log(f"g. generating {n:,} entries into {scratch}")
        try:
            dataset.generate(scratch, n)
            site = Site(scratch)
            log(f"g. totals JSON at {n:,} entries")
            try:
                by_scale[n] = measure_totals(site, s, END)
            finally:
                site.close()
        finally:
            scratch.remove()
    by_scale[s.rows] = at_full
    for dim in DIMENSIONS:
        for n in scales:
            fig, floor = by_scale[n][dim]
            report.add(
                Row(
                    f"g.{dim.value}.{n}",
                    f"g. totals JSON by {dim.value}, period end, at {n:,} entries",
                    fig,
                    floor,
                    "GB",
                )
            )
        if not scales:
            continue
        before = scales[-1]
        fig0, floor0 = by_scale[before][dim]
        fig1, floor1 = at_full[dim]
        growth, floor_growth = fig1.median / fig0.median, floor1.median / floor0.median
        ok = growth <= 1.5
        row = report.add(
            Row(
                f"g.{dim.value}.growth",
                f"g. growth of totals JSON by {dim.value} from {before:,} to {s.rows:,} entries",
                Sample((growth,), "factor"),
                Sample((floor_growth,), "factor"),
                "GB",
                "≤ 1.5×",
                verdict(ok, s.rows),
                ""
                if ok
                else f"The tally is read one seek per key, so the cost follows the number of keys, which "
                f"barely changes, and the depth of the index ({growth:.1f}× for {s.rows / before:.0f}× the "
                f"entries; the GROUP BY floor grows {floor_growth:.1f}×).",
            )
        )
        row.figure_text = f"{growth:.1f}× ({fig0.show(fig0.median)} → {fig1.show(fig1.median)})"
        row.floor_text = (
            f"{floor_growth:.1f}× ({floor0.show(floor0.median)} → {floor1.show(floor1.median)}) [GB]"
        )


# --- b: pages ---------------------------------------------------------------------------------------------


@contextmanager
def dashboard_breakdown() -> Iterator[dict[str, list[float]]]:
    """Time each aggregate the dashboard view calls, by wrapping the names its module looks up (the module
    wherever it lives now; names it no longer has are left out)."""
    page = first_module("dispatch.pages.dashboard", "dispatch.dashboard", having="render_template")
    spent: dict[str, list[float]] = {}
    if page is None:
        yield spent
        return
    names = ("headline", "_headline", "totals", "daily_series", "cross_table", "render_template")
    originals = {name: getattr(page, name) for name in names if hasattr(page, name)}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                label = name
                if name in ("totals", "cross_table"):
                    label += "(" + ", ".join(a.value for a in args if isinstance(a, Dimension)) + ")"
                spent.setdefault(label, []).append(time.perf_counter() - started)

        return timed_call

    for name, fn in originals.items():
        setattr(page, name, wrap(name, fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(page, name, fn)


def section_b(report: Report, site: Site, s: Settings, top: str) -> None:
    floor = lambda: site.group_by_seconds("destination_id", END)  # noqa: E731
    dashboard_url = f"/disasters/{SLUG}/?as_of={END.isoformat()}"
    log("b. dashboard (the first call with a breakdown)")
    with dashboard_breakdown() as spent:
        started = time.perf_counter()
        size = len(site.get(dashboard_url))
        total = time.perf_counter() - started
    parts = "\n".join(
        f"| `{name}` | {sum(values):,.2f} s | {len(values)} |"
        for name, values in sorted(spent.items(), key=lambda kv: -sum(kv[1]))
    )
    report.sections.append(
        (
            "Where the dashboard's time goes",
            f"One call of `/disasters/{SLUG}/?as_of={END.isoformat()}` at {s.rows:,} entries took {total:,.1f} s and "
            f"returned {size / MB:,.1f} MB of HTML. Time inside each function the view calls (`render_template` "
            "includes the charts and tables the template renders):\n\n| Function | Seconds | Calls |\n|---|---|---|\n"
            + parts,
        )
    )
    fig, flo = paired(lambda: site.get(dashboard_url), floor, s, first=total)
    ok = fig.median <= 0.250
    report.add(
        Row(
            "b.dashboard",
            f"b. dashboard page `/disasters/<slug>/`, as of period end ({size / MB:,.1f} MB of HTML)",
            fig,
            flo,
            "GB",
            "≤ 250 ms",
            verdict(ok, s.rows),
            ""
            if ok
            else "The page reads the tally (the totals by destination, sender, duty and operation, the daily "
            "series, the 20 × 20 cells of two cross tables) and renders a year of daily bars and tables in "
            "Python: its cost follows the organisations and days shown, not the entries.",
        )
    )
    log("b. entries list")
    section_b_list(report, site, s, top)


def section_b_list(report: Report, site: Site, s: Settings, top: str) -> None:
    from dispatch.models import Disaster, Organisation

    with site.app.app_context():
        disaster_id = db.session.scalar(select(Disaster.id).where(Disaster.slug == SLUG))
        destination_id = db.session.scalar(select(Organisation.id).where(Organisation.code == top))
    list_url = f"/disasters/{SLUG}/entries?destination={top}"
    # The figure measured is the right one: the page shows the count the floor reads.
    rows, count, _ = site.list_floor(disaster_id, destination_id)
    page = site.get(list_url).decode("utf-8")
    if f"{count:,}" not in page or len(rows) != min(count, LIST_ROWS):
        log(f"b. warning: the entries list does not show the floor's count {count:,}")
    fig, flo = paired(
        lambda: site.get(list_url), lambda: timed(lambda: site.list_floor(disaster_id, destination_id)), s
    )
    ok = fig.median <= 0.150
    report.add(
        Row(
            "b.list",
            f"b. entries list, first page, filtered by the busiest destination ({top}, {count:,} entries)",
            fig,
            flo,
            "LIST",
            "≤ 150 ms",
            verdict(ok, s.rows),
            ""
            if ok
            else f"The page reads {LIST_ROWS} rows in list order and counts and sums all {count:,} entries of "
            f"the destination ({ratio(fig, flo):.1f}× what those reads cost as plain SQL); see the plan of the "
            "entries list below.",
        )
    )


# --- c, f: import and exports in child processes ------------------------------------------------------------


def child(task: str, target: Target, csv_path: Path | None = None) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.child", task, "--db", target.url]
    if csv_path is not None:
        command += ["--csv", str(csv_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench.child {task} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


def section_c(report: Report, s: Settings, universe: dataset.Universe) -> tuple[Sample, Sample]:
    csv_path = s.scratch(f"import-{s.import_rows}.csv")
    drawn = dataset.draw_entries(universe, s.import_rows, dataset.SEED + 7)
    with csv_path.open("w", encoding="utf-8", newline="") as file:
        file.writelines(dataset.csv_lines(universe, drawn, START))
    copy = s.scratch_db("import")

    def run() -> dict[str, float]:
        s.target.copy_to(copy)
        real = child("import", copy, csv_path)
        s.target.copy_to(copy)
        floor = child("import-floor", copy, csv_path)
        log(
            f"c. import {real['rows'] / real['seconds']:,.0f} rows/s, floor {floor['rows'] / floor['seconds']:,.0f}"
        )
        return {
            "rate": real["rows"] / real["seconds"],
            "floor_rate": floor["rows"] / floor["seconds"],
            "maxrss": real["maxrss"],
            "floor_maxrss": floor["maxrss"],
            "sql": real.get("sql_seconds", 0.0),
            "statements": real.get("statements", 0),
            "finding": real.get("lookup_seconds", 0.0),
            "seconds": real["seconds"],
        }

    log(f"c. importing {s.import_rows:,} rows")
    try:
        results = repeat(s, run, budget=max(s.budget, 600), min_runs=1)
    finally:
        copy.remove()
        csv_path.unlink(missing_ok=True)
    fig, flo = sample(results, "rate", "rate", "rows/s"), sample(results, "floor_rate", "rate", "rows/s")
    ok = fig.median >= 25_000
    last = results[-1]
    report.add(
        Row(
            "c.import",
            f"c. import of a {s.import_rows:,}-row CSV (import_dispatches + commit, fresh disaster)",
            fig,
            flo,
            "EM",
            "≥ 25,000 rows/s",
            verdict(ok, s.rows),
            ""
            if ok
            else f"Beyond the floor's insert, every row is read and checked, the import gets one audit record "
            f"and the tally its rows (some three per entry), the entries and the tally's rows through the "
            f"driver (COPY on PostgreSQL, executemany on SQLite; "
            f"{last['statements']:,.0f} statements through SQLAlchemy, "
            f"{last['sql']:,.0f} s of {last['seconds']:,.0f} s; the key look-up {last['finding']:,.1f} s). "
            f"The rest is Python: reading and checking the file and grouping the tally.",
        )
    )
    return sample(results, "maxrss", "bytes"), sample(results, "floor_maxrss", "bytes")


def section_f(report: Report, s: Settings, import_memory: tuple[Sample, Sample] | None) -> None:
    runs: dict[str, list[dict[str, float]]] = {}
    for task in ("export-floor", "export-csv", "export-xlsx"):
        log(f"f. {task}")
        runs[task] = repeat(s, lambda task=task: child(task, s.target), budget=max(s.budget, 300), min_runs=1)
        log(f"f. {task}: {[round(r['seconds'], 1) for r in runs[task]]} s")
    conn = s.target.connect()
    try:
        (pairs,) = conn.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT sender_id, destination_id FROM entry) AS pairs"
        ).fetchone()
    finally:
        conn.close()
    floor_mem = sample(runs["export-floor"], "maxrss", "bytes")
    floor_time = sample(runs["export-floor"], "seconds", "time")

    def memory_row(key: str, label: str, fig: Sample, floor: Sample, floor_code: str, why: str) -> None:
        ok = fig.median <= 250 * MB
        report.add(
            Row(key, label, fig, floor, floor_code, "≤ 250 MB", verdict(ok, s.rows), "" if ok else why)
        )

    memory_row(
        "f.csv.memory",
        "f. peak memory exporting all entries to CSV",
        sample(runs["export-csv"], "maxrss", "bytes"),
        floor_mem,
        "CSV",
        "The CSV export streams in batches of 1,000 rows; the peak is the interpreter, the application and "
        "SQLAlchemy's buffers.",
    )
    memory_row(
        "f.xlsx.memory",
        "f. peak memory exporting all entries to .xlsx (write_workbook)",
        sample(runs["export-xlsx"], "maxrss", "bytes"),
        floor_mem,
        "CSV",
        f"The entries sheet streams; the cross-table sheets hold the 200 biggest rows and columns each "
        f"(every sender × destination pair, {pairs:,} here, is in the entries sheet), read from the tally.",
    )
    if import_memory is not None:
        fig, floor = import_memory
        memory_row(
            "f.import.memory",
            f"f. peak memory of the {s.import_rows:,}-row import",
            fig,
            floor,
            "EM",
            "The importer holds the file's rows as small drafts and writes 2,000 rows a statement; the peak "
            "comes when tally.apply() plans the tally's rows for all the file's entries at once, on top of "
            "SQLite's page cache and the pages of the memory-mapped file it touched.",
        )
    report.add(
        Row(
            "f.csv.time",
            "f. time exporting all entries to CSV",
            sample(runs["export-csv"], "seconds", "time"),
            floor_time,
            "CSV",
        )
    )
    report.add(
        Row(
            "f.xlsx.time",
            "f. time exporting all entries to .xlsx (entries, 4 totals and 2 cross-table sheets)",
            sample(runs["export-xlsx"], "seconds", "time"),
            floor_time,
            "CSV",
        )
    )


# --- d: digests ----------------------------------------------------------------------------------------------


def section_d(report: Report, s: Settings) -> None:
    if not DIGEST_MODULE.exists():
        report.add(
            Row(
                "d.digests",
                "d. building and sending digests",
                verdict="not measured: digest module not present",
            )
        )
        return
    from dispatch.delivery import send_due_digests

    port = load.free_port()
    sink_file = s.scratch("smtp.jsonl")
    sink_file.unlink(missing_ok=True)
    sink = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_sink", "--port", str(port), "--out", str(sink_file)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sink.stdout is not None
        if sink.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        app = make_app(
            s.target,
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=port,
            MAIL_FROM=MAIL_FROM,
            MAIL_TIMEOUT=30,
            BASE_URL="https://dispatch.example.lg.jp",
        )
        with app.app_context():
            count = dataset.add_recipients(s.digests)
        offset = 0

        def run() -> dict[str, float]:
            nonlocal offset
            # What the floor of the previous run sent again is not this run's.
            offset = sink_file.stat().st_size if sink_file.exists() else 0
            with app.app_context():
                with sql_time(db.engine) as spent:
                    started = time.perf_counter()
                    result = send_due_digests(DIGEST_DATE, now=DIGEST_NOW, worker="bench")
                    seconds = time.perf_counter() - started
                if result.sent != count:
                    raise RuntimeError(f"digests: {result.summary()}, expected {count} sent")
                db.session.execute(delete(Delivery))
                db.session.commit()
            with sink_file.open(encoding="ascii") as file:
                file.seek(offset)
                records = [json.loads(line) for line in file]
                offset = file.tell()
            messages = [(r["from"], r["to"], base64.b64decode(r["data"])) for r in records]
            if len(messages) != count:
                raise RuntimeError(f"the SMTP sink holds {len(messages)} messages, expected {count}")
            started = time.perf_counter()
            smtp = smtplib.SMTP("127.0.0.1", port, timeout=30)
            for sender, recipients, data in messages:
                smtp.sendmail(sender, recipients, data)
            smtp.quit()
            floor = time.perf_counter() - started
            log(
                f"d. {count} digests in {seconds:,.1f} s (SQL {spent['seconds']:,.1f} s), floor {floor:,.2f} s"
            )
            return {
                "seconds": seconds,
                "floor": floor,
                "sql": spent["seconds"],
                "statements": spent["statements"],
            }

        log(f"d. {count} digests, first a dry run that only builds them")
        with app.app_context(), sql_time(db.engine) as building:
            started = time.perf_counter()
            planned = send_due_digests(DIGEST_DATE, now=DIGEST_NOW, dry_run=True, worker="bench")
            building["total"] = time.perf_counter() - started
        if len(planned.planned) != count:
            raise RuntimeError(f"dry run: {planned.summary()}, expected {count} planned")
        results = repeat(s, run, min_runs=1)
        with app.app_context():
            db.engine.dispose()
    finally:
        assert sink.stdin is not None and sink.stdout is not None
        sink.stdin.close()
        sink.wait(timeout=30)
        sink.stdout.close()
        sink_file.unlink(missing_ok=True)
    fig, flo = sample(results, "seconds", "time"), sample(results, "floor", "time")
    ok = (ratio(fig, flo) or 99) <= 2
    last = results[-1]
    report.add(
        Row(
            "d.digests",
            f"d. building and sending {count:,} digests (send_due_digests, as of {MID.isoformat()}) to aiosmtpd",
            fig,
            flo,
            "SMTP",
            "≤ 2× floor",
            verdict(ok, s.rows),
            ""
            if ok
            else f"The figures are read once a run (a dry run that only builds the {count:,} digests takes "
            f"{building['total']:,.1f} s, {building['statements']:,.0f} statements); what remains is composing "
            f"each message in Python and committing each delivery's outcome as soon as the server answers, so "
            f"that a crash never sends a digest twice ({last['statements']:,.0f} statements a run).",
        )
    )


# --- e: entry throughput through gunicorn ---------------------------------------------------------------------


class EntryForms:
    """The entries the clients of e post: client n as sender n (a municipality other than the destination),
    to the busiest destination, entry i on open day i // duties, duty i % duties."""

    def __init__(self, s: Settings, universe: dataset.Universe, top: str) -> None:
        self.s = s
        self.top = top
        self.app = make_app(s.target)
        self.users = [ensure_user(self.app, f"bench-hq{n}") for n in range(s.clients)]
        orgs = [
            (oid, code) for oid, code, kind in universe.organisations if kind != "prefecture" and code != top
        ]
        self.senders = orgs[: s.clients]
        self.dest_id = next(oid for oid, code, _ in universe.organisations if code == top)
        self.operation_id, self.operation = universe.operations[0]
        self.duties = universe.duties
        self.path = f"/disasters/{SLUG}/entries/new"
        self.log_path = s.scratch("gunicorn.log")
        self.open_days = dataset.DAYS - dataset.CLOSED_DAYS
        self.opened: list[load.Client] = []
        if max(s.posts, s.browser_posts) > self.open_days * len(self.duties):
            raise SystemExit(
                f"--posts: at most {self.open_days * len(self.duties)} entries per client and run"
            )

    def key(self, i: int) -> tuple[str, int]:
        day = START + timedelta(days=dataset.CLOSED_DAYS + (i // len(self.duties)) % self.open_days)
        return day.isoformat(), i % len(self.duties)

    def form(self, i: int, n: int, unit: str) -> dict[str, str]:
        day, duty = self.key(i)
        return {
            "date": day,
            "operation": self.operation,
            "sender": self.senders[n][1],
            "sender_unit": unit,
            "destination": self.top,
            "duty": self.duties[duty][1],
            "headcount": "2",
            "note": "",
        }

    def alone(self) -> dict[str, float]:
        """Without HTTP or contention: one client in this process posts a few entries and opens the form
        page. The POST's median seconds, its statements and seconds in the driver, the page's seconds."""
        self.app.test_client_class = FlaskLoginClient
        client = self.app.test_client(user=self.users[0])

        def post(i: int) -> None:
            if client.post(self.path, data=self.form(i, 0, "bench-alone")).status_code != 302:
                raise RuntimeError("an entry POST in this process was refused")

        post(0)
        with self.app.app_context():
            engine = db.engine
        # Outside any app context of ours: each request gets its own, and its own session, as in the server.
        with sql_time(engine) as spent, turn_time(engine) as turns:
            seconds = statistics.median(timed(lambda i=i: post(i)) for i in range(1, 13))
        page = statistics.median(
            timed(lambda: client.get(f"{self.path}?date={self.key(0)[0]}")) for _ in range(3)
        )
        with self.app.app_context():
            db.engine.dispose()
        return {
            "post": seconds,
            "statements": spent["statements"] / 12,
            "sql": spent["seconds"] / 12,
            "turn": statistics.median(turns) if turns else 0.0,
            "page": page,
        }

    def real_posts(self, port: int, mode: str, tag: str) -> list[load.Post]:
        posts = []
        for n, user in enumerate(self.users):
            client = load.Client(port)
            self.opened.append(client)
            client.log_in(user.username, PASSWORD)
            token = client.token(self.path)

            def post(
                i: int, client: load.Client = client, token: str = token, n: int = n
            ) -> tuple[int, float]:
                form = {"csrf_token": token, **self.form(i, n, f"bench-{mode}-{tag}")}
                started = time.perf_counter()
                status, location, _ = client.request("POST", self.path, form, keep_cookie=mode == "post")
                if mode == "browser" and status == 302:
                    target = urlsplit(location)
                    client.request("GET", target.path + (f"?{target.query}" if target.query else ""))
                return status, time.perf_counter() - started

            posts.append(post)
        return posts

    def floor_posts(self, port: int, tag: str) -> list[load.Post]:
        posts = []
        for n in range(len(self.users)):
            client = load.Client(port)
            self.opened.append(client)

            def post(i: int, client: load.Client = client, n: int = n) -> tuple[int, float]:
                day, duty = self.key(i)
                form = {
                    "date": day,
                    "operation_id": str(self.operation_id),
                    "sender_id": str(self.senders[n][0]),
                    "sender_unit": f"floor-{tag}",
                    "destination_id": str(self.dest_id),
                    "duty_id": str(self.duties[duty][0]),
                    "headcount": "2",
                }
                started = time.perf_counter()
                status, _, _ = client.request("POST", "/entries", form)
                return status, time.perf_counter() - started

            posts.append(post)
        return posts

    def once(self, posts: list[load.Post], count: int, what: str) -> load.LoadResult:
        try:
            result = load.run_clients(posts, count)
        finally:
            while self.opened:
                self.opened.pop().close()
        if set(result.statuses) != {302}:
            raise RuntimeError(f"{what}: responses {result.statuses} (see {self.log_path})")
        return result


def section_e(report: Report, s: Settings, universe: dataset.Universe, top: str) -> None:
    forms = EntryForms(s, universe, top)
    alone = forms.alone()
    log(
        f"e. alone in this process: POST {alone['post'] * 1000:.1f} ms ({alone['statements']:.0f} statements, "
        f"{alone['sql'] * 1000:.1f} ms in the driver), the writers' turn held {alone['turn'] * 1000:.1f} ms, "
        f"the form page {alone['page'] * 1000:.1f} ms"
    )
    log(f"e. gunicorn, {s.workers} workers × {s.threads} threads, {s.clients} clients")
    with (
        load.gunicorn("wsgi:app", s.target, s.workers, s.threads, forms.log_path) as real_port,
        load.gunicorn("bench.floor_app:app", s.target, s.workers, s.threads, forms.log_path) as floor_port,
    ):
        warm = 2
        forms.once(forms.real_posts(real_port, "post", "warm"), warm, "warm-up")
        forms.once(forms.real_posts(real_port, "browser", "warm"), warm, "warm-up")
        forms.once(forms.floor_posts(floor_port, "warm"), warm, "warm-up")
        run_number = 0

        def run() -> dict[str, float]:
            nonlocal run_number
            run_number += 1
            tag = str(run_number)
            post = forms.once(forms.real_posts(real_port, "post", tag), s.posts, "entry POST")
            browser = forms.once(
                forms.real_posts(real_port, "browser", tag), s.browser_posts, "entry POST + form page"
            )
            floor = forms.once(forms.floor_posts(floor_port, tag), s.posts, "floor")
            log(
                f"e. run {tag}: POST {post.per_second:,.1f}/s p95 {post.p95 * 1000:,.0f} ms; browser "
                f"{browser.per_second:,.1f}/s p95 {browser.p95 * 1000:,.0f} ms; floor {floor.per_second:,.0f}/s"
            )
            return {
                "post_rate": post.per_second,
                "post_p95": post.p95,
                "browser_rate": browser.per_second,
                "browser_p95": browser.p95,
                "floor_rate": floor.per_second,
                "floor_p95": floor.p95,
            }

        results = repeat(s, run, budget=max(s.budget, 600))
    e_rows(report, s, results, alone)


def e_why(s: Settings, alone: dict[str, float], mode: str) -> str:
    turns = (
        "On SQLite writers take turns: each holds the write lock from the valid form to the commit while the "
        "others queue for it on a file lock."
        if s.target.is_sqlite
        else "On PostgreSQL writers run side by side but take turns on the disaster's row for the tally."
    )
    post = alone["post"]
    lock = (
        f"An entry POST costs {post * 1000:.0f} ms even alone in this process, without HTTP "
        f"({alone['statements']:.0f} statements, {alone['sql'] * 1000:.1f} ms of it in the driver; the rest is "
        f"Python: session and user, the form and its look-ups, the checks, the entry, its audit record and the "
        f"tally, commit), and {s.clients} clients share {os.cpu_count()} cores with the server's {s.workers} "
        f"workers. {turns} At {post * 1000:.0f} ms per POST one core does {1 / post:,.0f} entries/s at most."
    )
    if alone.get("turn"):
        lock += (
            f" Each POST holds the writers' turn {alone['turn'] * 1000:.1f} ms of it, from taking it to its "
            f"commit: {1 / alone['turn']:,.0f} entries/s at most one after another, and less once the holder "
            "shares the cores."
        )
    if mode != "browser":
        return lock
    return (
        f"The page the POST redirects to takes {alone['page'] * 1000:,.0f} ms even alone (the day's figures "
        "from the tally, the form, the organisation datalist rendered once per worker). " + lock
    )


def e_rows(report: Report, s: Settings, results: list[dict[str, float]], alone: dict[str, float]) -> None:
    setup = {
        "post": f"{s.workers} workers × {s.threads} threads, {s.clients} clients × {s.posts} entries",
        "browser": f"{s.workers} workers × {s.threads} threads, {s.clients} clients × {s.browser_posts} entries",
    }
    floor_rate, floor_p95 = (
        sample(results, "floor_rate", "rate", "entries/s"),
        sample(results, "floor_p95", "time"),
    )
    for mode, label in (
        ("post", "the entry form POST (302), session cookie kept"),
        ("browser", "POST and the form page it redirects to, as a browser does"),
    ):
        rate = sample(results, f"{mode}_rate", "rate", "entries/s")
        p95 = sample(results, f"{mode}_p95", "time")
        rate_ok, p95_ok = rate.median >= 150, p95.median <= 0.150
        why = e_why(s, alone, mode)
        report.add(
            Row(
                f"e.{mode}.rate",
                f"e. entries/s through gunicorn: {label} ({setup[mode]})",
                rate,
                floor_rate,
                "INS",
                "≥ 150 entries/s",
                verdict(rate_ok, s.rows),
                "" if rate_ok else why,
            )
        )
        report.add(
            Row(
                f"e.{mode}.p95",
                f"e. p95 latency: {label}",
                p95,
                floor_p95,
                "INS",
                "≤ 150 ms",
                verdict(p95_ok, s.rows),
                "" if p95_ok else why,
            )
        )


# --- h: a writer while others post wrong passwords to /login -------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class LoginTraffic:
    """CLIENTS threads, each posting a wrong password for one existing account to /login in a loop, over its
    own keep-alive connection, until stopped. Every answer must be a 401. With the throttle's limits out of
    reach it should never answer with its own message (a refusal without checking the password); the
    refusals are counted, and if more than half of ten or more answers are such, the traffic is not what
    figure h measures and the run fails."""

    def __init__(self, port: int, username: str, clients: int) -> None:
        self.port = port
        self.username = username
        self.clients = clients
        self.stop = threading.Event()
        self.started = threading.Barrier(clients + 1)
        self.latencies: list[float] = []
        self.refused = 0
        self.failures: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.began = 0.0
        self.seconds = 0.0

    def _work(self) -> None:
        client = load.Client(self.port)
        try:
            token = client.token("/login")
            form = {"csrf_token": token, "username": self.username, "password": WRONG_PASSWORD}
            first = True
            while not self.stop.is_set():
                started = time.perf_counter()
                status, _, body = client.request("POST", "/login", form)
                self.latencies.append(time.perf_counter() - started)
                if status != 401:
                    raise RuntimeError(f"a wrong password was answered {status}")
                if THROTTLED in body:
                    self.refused += 1
                if first:
                    first = False
                    self.started.wait(timeout=load.TIMEOUT)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            self.failures.append(exc)
            self.started.abort()
        finally:
            client.close()

    def __enter__(self) -> LoginTraffic:
        self.threads = [threading.Thread(target=self._work, daemon=True) for _ in range(self.clients)]
        for thread in self.threads:
            thread.start()
        # The writer starts once every client has had an answer: the traffic is steady.
        with suppress(threading.BrokenBarrierError):
            self.started.wait(timeout=load.TIMEOUT)
        self.began = time.perf_counter()
        if self.failures:
            self.stop.set()
            for thread in self.threads:
                thread.join(timeout=load.TIMEOUT)
            raise RuntimeError(f"login traffic: {self.failures[0]!r}") from self.failures[0]
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.began
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=load.TIMEOUT)
        if self.failures and not exc[0]:
            raise RuntimeError(f"login traffic: {self.failures[0]!r}") from self.failures[0]
        if len(self.latencies) >= 10 and self.refused * 2 > len(self.latencies) and not exc[0]:
            raise RuntimeError(
                f"login traffic: {self.refused} of {len(self.latencies)} wrong passwords refused by the "
                "throttle without being checked, its limits raised out of reach"
            )

    @property
    def per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0


def section_h(report: Report, s: Settings, universe: dataset.Universe, top: str) -> None:
    """One writer posts the entry form through gunicorn, alone and while LOGIN_CLIENTS clients post wrong
    passwords; each response tells how long its request waited for the write lock (bench/lock_app.py)."""
    app = make_app(s.target)
    writer = ensure_user(app, "bench-writer")
    account = ensure_user(app, "bench-login-target")
    with app.app_context():
        db.engine.dispose()
    orgs = [(oid, code) for oid, code, kind in universe.organisations if kind != "prefecture" and code != top]
    sender = orgs[s.clients][1]
    operation = universe.operations[0][1]
    duties = universe.duties
    path = f"/disasters/{SLUG}/entries/new"
    log_path = s.scratch("gunicorn-h.log")
    open_days = dataset.DAYS - dataset.CLOSED_DAYS
    if s.login_posts > open_days * len(duties):
        raise SystemExit(f"--login-posts: at most {open_days * len(duties)} entries per phase")

    def posts(client: load.Client, token: str, tag: str, count: int) -> dict[str, list[float]]:
        latencies, waits = [], []
        for i in range(count):
            day = START + timedelta(days=dataset.CLOSED_DAYS + (i // len(duties)) % open_days)
            form = {
                "csrf_token": token,
                "date": day.isoformat(),
                "operation": operation,
                "sender": sender,
                "sender_unit": f"bench-h-{tag}",
                "destination": top,
                "duty": duties[i % len(duties)][1],
                "headcount": "2",
                "note": "",
            }
            started = time.perf_counter()
            status, _, _ = client.request("POST", path, form, keep_cookie=True)
            latencies.append(time.perf_counter() - started)
            if status != 302:
                raise RuntimeError(f"h. the writer's entry POST was answered {status} (see {log_path})")
            header = client.headers.get(load.LOCK_WAIT_HEADER) if client.headers is not None else None
            if header is not None:
                waits.append(float(header))
        return {"latency": latencies, "wait": waits}

    log(
        f"h. gunicorn, {s.workers} workers × {s.threads} threads; 1 writer, {s.login_clients} clients posting "
        "wrong passwords (throttle limits raised)"
    )
    with load.gunicorn("bench.lock_app:app", s.target, s.workers, s.threads, log_path, NO_THROTTLE) as port:
        client = load.Client(port)
        try:
            client.log_in(writer.username, PASSWORD)
            token = client.token(path)
            posts(client, token, "warm", 3)
            with LoginTraffic(port, account.username, s.login_clients):
                pass
            run_number = 0

            def run() -> dict[str, float]:
                nonlocal run_number
                run_number += 1
                idle = posts(client, token, f"idle-{run_number}", s.login_posts)
                with LoginTraffic(port, account.username, s.login_clients) as traffic:
                    busy = posts(client, token, f"busy-{run_number}", s.login_posts)
                result = {
                    "idle_median": statistics.median(idle["latency"]),
                    "idle_p95": percentile(idle["latency"], 0.95),
                    "busy_median": statistics.median(busy["latency"]),
                    "busy_p95": percentile(busy["latency"], 0.95),
                    "logins": traffic.per_second,
                    "login_median": statistics.median(traffic.latencies),
                    "attempts": len(traffic.latencies),
                    "refused": traffic.refused,
                }
                if idle["wait"] and busy["wait"]:
                    result |= {
                        "idle_wait": statistics.median(idle["wait"]),
                        "idle_wait_p95": percentile(idle["wait"], 0.95),
                        "busy_wait": statistics.median(busy["wait"]),
                        "busy_wait_p95": percentile(busy["wait"], 0.95),
                    }
                log(
                    f"h. run {run_number}: POST median {result['idle_median'] * 1000:,.1f} ms alone, "
                    f"{result['busy_median'] * 1000:,.1f} ms with {traffic.per_second:,.1f} logins/s; lock wait "
                    + (
                        f"{result['idle_wait'] * 1000:,.2f} → {result['busy_wait'] * 1000:,.2f} ms"
                        if "busy_wait" in result
                        else "not reported"
                    )
                )
                return result

            results = repeat(s, run, budget=max(s.budget, 300))
        finally:
            client.close()
    h_rows(report, s, results)


def h_rows(report: Report, s: Settings, results: list[dict[str, float]]) -> None:
    logins = statistics.median(r["logins"] for r in results)
    login_ms = statistics.median(r["login_median"] for r in results) * 1000
    refused, attempts = sum(r["refused"] for r in results), sum(r["attempts"] for r in results)
    unchecked = f", {refused:,.0f} of {attempts:,.0f} refused unchecked by the throttle" if refused else ""
    traffic = (
        f"{s.login_clients} clients post wrong passwords for one account to /login in a loop "
        f"({logins:,.1f} attempts/s, {login_ms:,.0f} ms each{unchecked}; {s.workers} workers × "
        f"{s.threads} threads)"
    )
    measured = all("busy_wait" in r for r in results)
    if measured:
        wait = sample(results, "busy_wait", "time")
        ok = wait.median <= 0.005
        report.add(
            Row(
                "h.wait",
                f"h. a writer's wait for the write lock per entry POST, median, while {traffic}",
                wait,
                sample(results, "idle_wait", "time"),
                "IDLE",
                "≤ 5 ms",
                verdict(ok, s.rows),
                ""
                if ok
                else f"Each failed login takes {login_ms:,.0f} ms (mostly the password hash), and the writer "
                f"waited a median {wait.show(wait.median)} for the write lock while {s.login_clients} of them "
                "ran: a login that holds the write lock (every POST but the entry form takes it before its view "
                "runs) holds it through the password check.",
            )
        )
        report.add(
            Row(
                "h.wait.p95",
                "h. a writer's wait for the write lock, p95, with the same login traffic",
                sample(results, "busy_wait_p95", "time"),
                sample(results, "idle_wait_p95", "time"),
                "IDLE",
            )
        )
    else:
        report.add(
            Row(
                "h.wait",
                f"h. a writer's wait for the write lock while {traffic}",
                target="≤ 5 ms",
                verdict="not measured: no lock entry point found (bench/lock_app.py WAITS)",
            )
        )
    busy, idle = sample(results, "busy_median", "time"), sample(results, "idle_median", "time")
    report.add(
        Row(
            "h.post",
            "h. the writer's entry POST, median latency, with the same login traffic",
            busy,
            idle,
            "IDLE",
        )
    )
    report.add(
        Row(
            "h.post.p95",
            "h. the writer's entry POST, p95 latency, with the same login traffic",
            sample(results, "busy_p95", "time"),
            sample(results, "idle_p95", "time"),
            "IDLE",
        )
    )
    added = Sample(tuple(r["busy_median"] - r["idle_median"] for r in results), "time")
    row = report.add(
        Row(
            "h.added",
            "h. latency the login traffic adds to the writer's entry POST (median with − median without, each run)",
            added,
            idle,
            "IDLE",
        )
    )
    row.figure_text = added.cell()
    row.floor_text = f"0 ms by definition (the POST alone: {idle.show(idle.median)}) [IDLE]"


# --- the run ----------------------------------------------------------------------------------------------------


def summary_of(site: Site) -> tuple[int, int, str]:
    entries, person_days = site.conn.execute("SELECT COUNT(*), SUM(headcount) FROM entry").fetchone()
    size = site.target.size_bytes()
    return int(entries), int(person_days), f"{size / MB:,.0f} MB"


def plan(site: Site, sql: str) -> list[str]:
    explain = "EXPLAIN QUERY PLAN" if site.target.is_sqlite else "EXPLAIN"
    return [str(row[-1]) for row in site.conn.execute(f"{explain} {sql}")]


def literal(sql: str, *values: object) -> str:
    """`?` placeholders filled with literals (ints and dates only)."""
    for value in values:
        text = f"'{value.isoformat()}'" if isinstance(value, date) else str(int(value))  # type: ignore[call-overload]
        sql = sql.replace("?", text, 1)
    return sql


def query_plans(site: Site, top: str) -> dict[str, list[str]]:
    """The database's plans for the statements that dominate: totals() by destination and the entries list
    (its page and its count) as the application compiles them, entry_ids() for two keys (the importer looks
    up all its keys once), and the floors' statements. A statement the application no longer builds the
    same way is left out."""
    from dispatch.models import Disaster, Entry, Organisation
    from dispatch.query import Destination, EntryFilter, apply_filter, entries_select, joined
    from dispatch.totals import _sums

    compiled: dict[str, Any] = {}
    with site.app.app_context():
        disaster = db.session.scalar(select(Disaster).where(Disaster.slug == SLUG))
        disaster_id = disaster.id
        destination_id = db.session.scalar(select(Organisation.id).where(Organisation.code == top))
        try:
            person_days, active = _sums(END)
            compiled["totals(by=destination)"] = apply_filter(
                joined(select(Destination.code, Destination.name, person_days, active)),
                disaster,
                EntryFilter(date_to=END),
            ).group_by(Destination.code, Destination.name)
        except Exception as exc:  # noqa: BLE001 - a plan is a help, not a figure
            log(f"plans: totals left out ({exc!r})")
        flt = EntryFilter(destination=top)
        compiled["entries list, first page (busiest destination)"] = entries_select(disaster, flt).limit(
            LIST_ROWS
        )
        compiled["entries list, its count and sum"] = apply_filter(
            joined(select(func.count(Entry.id), func.coalesce(func.sum(Entry.headcount), 0))), disaster, flt
        )
        lookups = first_module("dispatch.lookup", "dispatch.entries", "dispatch.services", having="_lookups")
        if lookups is not None:
            # The statement entry_ids() builds for two keys: operation 1, one date, senders 1 and 3.
            lookup = next(iter(lookups._lookups(1, [START], [1, 3])))
            # Since its statement is built once, _lookups gives it with its parameters.
            if isinstance(lookup, tuple):
                stmt, params = lookup
                lookup = stmt.params(**params)
            compiled["entry_ids() with two keys"] = lookup
        sql = {
            name: str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
            for name, stmt in compiled.items()
        }
    plans = {name: plan(site, text) for name, text in sql.items()}
    plans["the floor's GROUP BY"] = plan(
        site,
        f"SELECT destination_id, SUM(headcount) FROM entry WHERE date <= '{END}' GROUP BY destination_id",
    )
    plans["the list floor's page"] = plan(site, literal(LIST_SQL, disaster_id, destination_id))
    plans["the list floor's count"] = plan(site, literal(LIST_COUNT_SQL, disaster_id, destination_id))
    return plans


def plans_markdown(plans: dict[str, list[str]]) -> str:
    return "\n".join(
        f"{name}:\n\n" + "\n".join(f"    {line}" for line in lines) + "\n" for name, lines in plans.items()
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, required=True, help="entries in the data set (issues 7, 11: 1000000)"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of each figure (default 5)")
    parser.add_argument(
        "--min-runs", type=int, default=3, help="runs kept even past the time budget (default 3)"
    )
    parser.add_argument("--budget", type=float, default=240, help="seconds per figure before stopping early")
    parser.add_argument("--out", type=Path, help="write the results here (e.g. docs/benchmarks.md)")
    parser.add_argument(
        "--db",
        action="append",
        default=[],
        help="a SQLite file to generate, `sqlite` for one in a temporary directory, or a PostgreSQL URL "
        "(postgresql+psycopg://postgres@127.0.0.1:5432/bench_pg); give it twice for both databases "
        "(default: a temporary SQLite file)",
    )
    parser.add_argument("--save", type=Path, help="also write the results as JSON, for --merge")
    parser.add_argument(
        "--merge",
        type=Path,
        action="append",
        default=[],
        help="results (JSON from --save) of an earlier run to put beside this run's in --out",
    )
    parser.add_argument("--scales", default="10000,100000", help="smaller data sets for g (comma-separated)")
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--digests", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--posts", type=int, default=25, help="entries each client posts per run")
    parser.add_argument(
        "--browser-posts",
        type=int,
        default=5,
        help="entries each client posts per run, following the redirect",
    )
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--login-clients", type=int, default=2, help="h: clients posting wrong passwords (default 2)"
    )
    parser.add_argument(
        "--login-posts",
        type=int,
        default=30,
        help="h: entries the writer posts per phase and run (default 30)",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: totals,pages,fill,import,exports,digests,growth,load,login,roster",
    )
    return parser.parse_args(argv)


def settings_for(args: argparse.Namespace, db_arg: str | None) -> Settings:
    temporary = db_arg is None or db_arg == "sqlite"
    where: str | Path = (
        Path(tempfile.mkdtemp(prefix="dispatch-bench-")) / "bench.sqlite" if temporary else str(db_arg)
    )
    return Settings(
        rows=args.rows,
        runs=args.runs,
        min_runs=min(args.min_runs, args.runs),
        budget=args.budget,
        db=Target.parse(where),
        out=args.out,
        scales=[int(n) for n in args.scales.split(",") if n.strip()],
        import_rows=args.import_rows,
        digests=args.digests,
        clients=args.clients,
        posts=args.posts,
        browser_posts=args.browser_posts,
        workers=args.workers,
        threads=args.threads,
        skip={p.strip() for p in args.skip.split(",") if p.strip()},
        temporary=temporary,
        login_clients=args.login_clients,
        login_posts=args.login_posts,
    )


def describe(s: Settings, data: dataset.DataSet, site: Site, universe: dataset.Universe) -> dict[str, str]:
    entries, person_days, size = summary_of(site)
    if s.target.is_sqlite:
        database = (
            f"SQLite file of {size} after generation; generated in {data.seconds:,.1f} s (entries "
            f"{data.insert_seconds:,.1f} s by executemany, tally {data.tally_seconds:,.1f} s; no ANALYZE, as "
            "the application never runs it)"
        )
    else:
        database = (
            f"PostgreSQL {s.target.server_version()} database `{s.target.name}` of {size} after generation; "
            f"generated in {data.seconds:,.1f} s (entries {data.insert_seconds:,.1f} s by COPY with the foreign "
            f"keys' per-row triggers off, tally {data.tally_seconds:,.1f} s, then VACUUM (ANALYZE) "
            f"{data.vacuum_seconds:,.1f} s, what autovacuum would do by itself soon after a bulk load)"
        )
    return {
        "entries": f"{entries:,} (延べ{person_days:,}人), disaster `{SLUG}`, {START} to {END} "
        f"({dataset.DAYS} days, {dataset.CLOSED_DAYS} closed), {len(universe.operations)} operations, "
        f"{len(universe.duties)} duties",
        "organisations": f"{len(universe.organisations):,} that send and receive, of {data.organisations:,} "
        + (
            f"(47 prefectures and 37 municipalities under each, {data.made_up:,} of them made up, every code "
            "with a valid check digit)"
            if data.made_up
            else "(master data: every local government of Japan; the wards of designated cities neither send "
            "nor receive)"
        ),
        "skew": f"destinations Zipf s={dataset.DESTINATION_ZIPF} (busiest: {data.top_destination}), senders Zipf "
        f"s={dataset.SENDER_ZIPF}, headcount decaying from the first weeks",
        "database": database,
    }


def measure(
    report: Report,
    s: Settings,
    site: Site,
    data: dataset.DataSet,
    universe: dataset.Universe,
    keep_going: bool = False,
) -> None:
    """Every figure not skipped, in an order that leaves the data set as generated until the last two. With
    `keep_going`, a part that fails is recorded in report.failure and the next part runs."""
    at_full: dict[Dimension, tuple[Sample, Sample]] = {}
    import_memory: tuple[Sample, Sample] | None = None
    top = data.top_destination

    def totals() -> None:
        nonlocal at_full
        at_full = section_a(report, site, s)

    def imports() -> None:
        nonlocal import_memory
        import_memory = section_c(report, s, universe)

    parts: list[tuple[str, Callable[[], object]]] = [
        ("totals", totals),
        ("pages", lambda: section_b(report, site, s, top)),
        # Issue 16 (bench/fill.py): adds its requests to the data set.
        ("fill", lambda: fill.section(report, site, s)),
        # On PostgreSQL a database with sessions open cannot be copied (c).
        ("", site.close),
        ("import", imports),
        ("exports", lambda: section_f(report, s, import_memory)),
        # Issue 15: the same .xlsx export built as a job, and the progress page meanwhile (export_job.py).
        ("exports", lambda: export_job.section(report, s.rows, s.target)),
        ("digests", lambda: section_d(report, s)),
        ("growth", lambda: section_g(report, s, at_full) if at_full else None),
        # Last: they add entries to the data set.
        ("load", lambda: section_e(report, s, universe, top)),
        ("login", lambda: section_h(report, s, universe, top)),
        # Issue 17 (bench/roster.py): people and teams, imported into the data set last of all.
        (
            "roster",
            lambda: roster.part(report, s, Site(s.target), min(50_000, max(1_000, s.rows // 20))),
        ),
    ]
    for name, part in parts:
        if name in s.skip:
            continue
        try:
            part()
        except Exception as exc:
            if not keep_going or not name:
                raise
            traceback.print_exc()
            log(f"{name}: failed, going on with the next part")
            failed = f"{name}: {type(exc).__name__}: {exc}"
            report.failure = f"{report.failure}\n{failed}" if report.failure else failed


def run(s: Settings, command: str, *, keep_going: bool = False) -> Report:
    """Generate the data set into s.db and measure it. With `keep_going`, a part that fails is recorded in the
    report (report.failure; the other parts are measured all the same) instead of raised."""
    started = time.perf_counter()
    report = Report(machine=machine(), database=s.target.label, floors=floors_of(s.target))
    report.run["load average at start (1, 5, 15 min)"] = report.machine.pop(
        "load average at start (1, 5, 15 min)"
    )
    report.run["database"] = f"{s.target.label} {s.target.server_version()}"
    s.work.mkdir(parents=True, exist_ok=True)
    log(f"{s.target.label}: generating {s.rows:,} entries into {s.target}")
    data = dataset.generate(s.target, s.rows)
    log(f"{s.target.label}: generated in {data.seconds:,.1f} s (entries {data.insert_seconds:,.1f} s)")
    if data.invalid_codes:
        raise RuntimeError(f"invalid organisation codes generated: {data.invalid_codes[:5]}")
    site = Site(s.target)
    with site.app.app_context():
        universe = dataset.universe_of(SLUG)
    report.dataset = describe(s, data, site, universe)
    plans = query_plans(site, data.top_destination)
    try:
        measure(report, s, site, data, universe, keep_going)
    except Exception as exc:
        if not keep_going:
            raise
        traceback.print_exc()
        report.failure = f"{report.failure}\n{type(exc).__name__}: {exc}".strip()
    finally:
        report.rows.sort(key=lambda row: ORDER.index(row.key[0]))
        for row in report.rows:
            if "missed" not in row.verdict:
                row.why = ""
        report.sections.append(("Query plans", plans_markdown(plans)))
        minutes = (time.perf_counter() - started) / 60
        report.run["load average at end"] = ", ".join(f"{n:.2f}" for n in os.getloadavg())
        report.run["command"] = f"`{command}`"
        report.run["duration of this run"] = f"{minutes:,.1f} min (generation included)"
    return report


INTRO = """Issues 7 and 11's figures for the tracker as it is now, on SQLite and on PostgreSQL, each beside its floor
measured in the same run on the same data and the same database. Reproduce with
`.venv/bin/python -m bench.run --rows 1000000 --db sqlite --db postgresql+psycopg://postgres@127.0.0.1:5432/bench_pg
--out docs/benchmarks.md` (bench/README.md); this file is written by that command. Targets are the issues',
for 1,000,000 entries on this 2-core machine, and hold on both databases."""


METHOD = """- **a, b, g** run in this process through Flask's test client, logged in as an HQ user with
  FlaskLoginClient (as tests/conftest.py does): the application's own time for routing, the access check, the
  queries and the JSON or HTML, without an HTTP server. Each figure and its floor run alternately after one
  untimed warm-up of each; the floor is sqlite3 or psycopg on the same database in the same process. Before
  timing, the harness checks that each totals JSON adds up to the floor's sum.
- **c** runs in a child process on a copy of the data set (SQLite's backup API; on PostgreSQL a database made
  with the data set's as its template): a fresh disaster with the same six operations, the CSV (UTF-8, the
  importer's English headers, organisations and duties by code, unique keys) read into memory first, then
  `import_dispatches()` and the commit timed together: every check of the importer applies and every row
  gets its audit record. The floor runs in the same way on another copy.
- **d** calls `send_due_digests()` for the digest dated the day after mid-period, for 999 organisations and
  the division, each recipient asking for a digest even on a quiet day so that every digest is built. The SMTP
  server is aiosmtpd in a process of its own (bench/smtp_sink.py); deliveries are deleted between runs.
- **e** starts gunicorn twice with the project's gunicorn.conf.py (access log on, as in production): the
  application (`wsgi:app`) and the floor (bench/floor_app.py), both on the data set. Each client logs in
  through the login page with its CSRF token and posts over one keep-alive connection; throughput is accepted
  entries (302) over the wall time from the start signal to the last response; p95 is over every request of
  the run. Every response must be a 302 or the run fails.
- **f** is the peak resident memory of a child process that does one export (or the import) and nothing else:
  VmHWM from /proc/self/status, which is getrusage's maxrss for the child's own address space (ru_maxrss
  itself survives exec and would report the parent's size). The interpreter and the application account for
  about 110 MB of it. On PostgreSQL it is the application's process alone; the server's memory is the
  server's own.
- **g** generates 10,000 and 100,000 entries with the same generator into fresh databases (SQLite files
  beside the data set's; PostgreSQL databases named after it) and measures the same totals as of the period
  end; the full-scale figures are those of a.
- **h** starts gunicorn as for e, serving `bench.lock_app:app`: the same application, whose functions that
  take the write lock (`begin_write()`, and on PostgreSQL the tally's turn on the disaster's row) are wrapped
  to add their time to an `X-Bench-Lock-Wait` response header; nothing in dispatch/ changes. Its login
  throttle limits are raised out of reach (DISPATCH_LOGIN_SLOW_AFTER, DISPATCH_LOGIN_LOCK_AFTER and
  DISPATCH_LOGIN_ADDRESS_LOCK_AFTER set to 10⁹), since every client is 127.0.0.1 and the throttle would
  otherwise refuse the wrong passwords unchecked after three. One writer, logged in, posts the entry form
  over one keep-alive connection, one POST after another: first alone (the floor [IDLE]), then while the
  login clients each post a wrong password for one existing account in a loop, from the moment each has had
  its first answer until the writer is done. Every login answer must be a 401 and every entry POST a 302;
  login answers with the throttle's own message (refused without checking the password) are counted in the
  label, and the run fails if they are more than half. The wait is the header's value on the writer's responses; "added latency" is the
  POST's median with the traffic minus its median without, run by run.
- The bulk-loaded entries carry no audit records (only the measured paths write them). On SQLite the
  application never runs ANALYZE, so neither does the harness; on PostgreSQL the harness runs VACUUM (ANALYZE)
  once after the bulk load, as autovacuum would. The machine is shared: other sessions may be running tests,
  which the load averages show; the spread columns show how much that moved the figures.
"""

TITLE = "Benchmarks (issues 7 and 11)"


def write_document(reports: list[Report], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(document(reports, TITLE, INTRO, METHOD), encoding="utf-8")
    log(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = "python -m bench.run " + " ".join(sys.argv[1:] if argv is None else argv)
    reports = [r for path in args.merge for r in load_reports(path)]
    failed = False
    for db_arg in args.db or [None]:
        s = settings_for(args, db_arg)
        try:
            report = run(s, command, keep_going=True)
        except Exception as exc:  # noqa: BLE001 - the other database still runs; the exit status says it
            traceback.print_exc()
            report = Report(machine=machine(), database=s.target.label, floors=floors_of(s.target))
            report.failure = f"{type(exc).__name__}: {exc}"
        finally:
            # The temporary SQLite file's directory, or PostgreSQL's directory of scratch files.
            if s.temporary or not s.target.is_sqlite:
                shutil.rmtree(s.work, ignore_errors=True)
        failed = failed or bool(report.failure)
        # A database measured again replaces its earlier results.
        reports = [r for r in reports if r.database != report.database] + [report]
        sys.stdout.write(f"\n{report.database}\n\n{report.table()}\n")
        if args.save is not None:
            save_reports(reports, args.save)
        if args.out is not None:
            write_document(reports, args.out)
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
