"""Work measured in a child process of its own, so that its peak memory is its alone.

`python -m bench.child TASK --db PATH|URL [...]` does the task once and prints one line, `RESULT {json}`, with
the seconds the task took (setup excluded), its size (rows, bytes) and the process's peak resident memory.

Tasks: import (dispatch.importing.import_dispatches of a CSV into a fresh disaster, then commit),
import-floor (a bare executemany of the same rows through sqlite3 or psycopg, then commit), export-csv (the
entries CSV as the download streams it), export-xlsx (dispatch.exports.write_workbook), export-floor (the same
rows read with sqlite3, or psycopg's server-side cursor, and written with csv.writer).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bench.compat import find
from bench.dataset import END, IMPORT_SLUG, SLUG, START, add_disaster, make_app
from bench.db import STAMP_SQL, Conn, Target
from dispatch.extensions import db
from dispatch.models import Disaster, Duty, Organisation, Role


def insert_entry_sql(kind: str) -> str:
    """One entry as ids; the audit columns every bare insert shares are literals."""
    stamp = STAMP_SQL[kind]
    return (
        "INSERT INTO entry (date, operation_id, sender_id, sender_unit, destination_id, duty_id, headcount, "
        f"note, created_by, created_at, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
        f"'bench', {stamp}, 'bench', {stamp})"
    )


def actor_class() -> type:
    return find("Actor", "dispatch.actors", "dispatch.closing")


EXPORT_SQL = """
SELECT e.date, op.name, s.code || ' ' || s.name, e.sender_unit, d.code || ' ' || d.name, duty.name_ja,
       e.headcount, e.note
FROM entry e
JOIN operation op ON op.id = e.operation_id
JOIN organisation s ON s.id = e.sender_id
JOIN organisation d ON d.id = e.destination_id
JOIN duty ON duty.id = e.duty_id
WHERE op.disaster_id = ?
ORDER BY e.date DESC, op.display_order, d.code, s.code, e.id
"""


@contextmanager
def listening(*hooks: tuple[Any, str, Callable[..., None]]) -> Iterator[None]:
    """SQLAlchemy event listeners (target, event name, function) attached while the block runs."""
    for target, name, function in hooks:
        event.listen(target, name, function)
    try:
        yield
    finally:
        for target, name, function in hooks:
            event.remove(target, name, function)


@contextmanager
def sql_time(engine: Engine) -> Iterator[dict[str, float]]:
    """Seconds spent in the database driver and the number of statements, while the block runs."""
    totals = {"seconds": 0.0, "statements": 0}

    def before(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        totals["seconds"] += time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())
        totals["statements"] += 1

    with listening((engine, "before_cursor_execute", before), (engine, "after_cursor_execute", after)):
        yield totals


@contextmanager
def turn_time(engine: Engine) -> Iterator[list[float]]:
    """Seconds each transaction held the writers' turn while the block runs: from the statement that takes it
    (SQLite's BEGIN IMMEDIATE, PostgreSQL's lock on the disaster's row for the tally) to the end of its
    commit. Writers of one disaster hold it one after another, so its sum over a second bounds the rate."""
    held: list[float] = []
    started: list[float] = []

    def after(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if not started and (statement.startswith("BEGIN IMMEDIATE") or "FOR NO KEY UPDATE" in statement):
            started.append(time.perf_counter())

    def committed(session: Any) -> None:
        if started:
            held.append(time.perf_counter() - started.pop())

    with listening((engine, "after_cursor_execute", after), (Session, "after_commit", committed)):
        yield held


def maxrss_bytes() -> int:
    """Peak resident memory of this process so far.

    VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across exec, so a child forked from a big parent
    would report the parent's size; VmHWM belongs to the address space exec gave the child.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def connect(target: Target) -> Conn:
    """A plain connection with the application's pragmas (on SQLite), in autocommit mode."""
    return target.connect()


def _fresh_import_disaster() -> Disaster:
    disaster = add_disaster(IMPORT_SLUG, "取込ベンチマーク", START)
    db.session.commit()
    return disaster


@contextmanager
def lookup_time() -> Iterator[dict[str, float]]:
    """Seconds spent in entry_ids(), the importer's one look-up of the file's keys (zero if the importer no
    longer calls a function of that name)."""
    from dispatch import importing

    spent = {"seconds": 0.0, "calls": 0}
    original = getattr(importing, "entry_ids", None)
    if original is None:
        yield spent
        return

    def timed(keys: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(keys)
        finally:
            spent["seconds"] += time.perf_counter() - started
            spent["calls"] += 1

    importing.entry_ids = timed
    try:
        yield spent
    finally:
        importing.entry_ids = original


def task_import(target: Target, csv_path: Path) -> dict[str, Any]:
    from dispatch.importing import import_dispatches

    Actor = actor_class()
    app = make_app(target)
    with app.app_context():
        disaster = _fresh_import_disaster()
        data = csv_path.read_bytes()
        gc.collect()
        baseline = maxrss_bytes()
        with sql_time(db.engine) as spent, lookup_time() as finding:
            started = time.perf_counter()
            result = import_dispatches(disaster, data, csv_path.name, actor=Actor("bench", Role.HQ))
            db.session.commit()
            seconds = time.perf_counter() - started
        rows = len(result.entry_ids)
        db.engine.dispose()
    return {
        "seconds": seconds,
        "rows": rows,
        "baseline": baseline,
        "sql_seconds": spent["seconds"],
        "statements": spent["statements"],
        "lookup_seconds": finding["seconds"],
    }


def task_import_floor(target: Target, csv_path: Path) -> dict[str, Any]:
    app = make_app(target)
    with app.app_context():
        disaster = _fresh_import_disaster()
        ops = {op.code: op.id for op in disaster.operations}
        orgs = {code: oid for code, oid in db.session.execute(select(Organisation.code, Organisation.id))}
        duties = {code: did for code, did in db.session.execute(select(Duty.code, Duty.id))}
        db.engine.dispose()
    with csv_path.open(encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        next(reader)
        rows = [
            (day, ops[op], orgs[sender], unit, orgs[dest], duties[duty], int(head), note)
            for day, op, sender, unit, dest, duty, head, note in reader
        ]
    conn = connect(target)
    gc.collect()
    baseline = maxrss_bytes()
    started = time.perf_counter()
    conn.begin_write()
    conn.executemany(insert_entry_sql(conn.kind), rows)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    return {"seconds": seconds, "rows": len(rows), "baseline": baseline}


def _disaster(slug: str) -> Disaster:
    disaster = db.session.scalar(select(Disaster).where(Disaster.slug == slug))
    assert disaster is not None, slug
    return disaster


def task_export_csv(target: Target) -> dict[str, Any]:
    from dispatch.exports import ENTRY_HEADER, csv_entry_rows, csv_lines
    from dispatch.query import EntryFilter

    app = make_app(target)
    with app.app_context(), tempfile.TemporaryFile() as out:
        disaster = _disaster(SLUG)
        baseline = maxrss_bytes()
        started = time.perf_counter()
        # What csv_response streams for /entries.csv: a BOM, then each line encoded as it comes.
        out.write(b"\xef\xbb\xbf")
        lines = 0
        for line in csv_lines(ENTRY_HEADER, csv_entry_rows(disaster, EntryFilter())):
            out.write(line.encode("utf-8"))
            lines += 1
        seconds = time.perf_counter() - started
        size = out.tell()
    return {"seconds": seconds, "rows": lines - 1, "bytes": size, "baseline": baseline}


def task_export_xlsx(target: Target) -> dict[str, Any]:
    from dispatch.exports import write_workbook
    from dispatch.query import EntryFilter

    app = make_app(target)
    with app.app_context(), tempfile.TemporaryFile() as out:
        disaster = _disaster(SLUG)
        baseline = maxrss_bytes()
        started = time.perf_counter()
        write_workbook(out, disaster, EntryFilter(), END)
        seconds = time.perf_counter() - started
        size = out.tell()
    return {"seconds": seconds, "bytes": size, "baseline": baseline}


def task_export_floor(target: Target) -> dict[str, Any]:
    # The same imports as the real export, so the floor's memory includes the same interpreter and app.
    import dispatch.exports  # noqa: F401

    app = make_app(target)
    with app.app_context():
        disaster_id = _disaster(SLUG).id
        db.engine.dispose()
    conn = connect(target)
    with tempfile.TemporaryFile("w", encoding="utf-8", newline="") as out:
        baseline = maxrss_bytes()
        started = time.perf_counter()
        writer = csv.writer(out, lineterminator="\r\n")
        rows = 0
        for row in conn.stream(EXPORT_SQL, (disaster_id,)):
            writer.writerow(row)
            rows += 1
        seconds = time.perf_counter() - started
        size = out.tell()
    conn.close()
    return {"seconds": seconds, "rows": rows, "bytes": size, "baseline": baseline}


TASKS = {
    "import": lambda a: task_import(a.db, a.csv),
    "import-floor": lambda a: task_import_floor(a.db, a.csv),
    "export-csv": lambda a: task_export_csv(a.db),
    "export-xlsx": lambda a: task_export_xlsx(a.db),
    "export-floor": lambda a: task_export_floor(a.db),
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.child")
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("--db", type=Target.parse, required=True, help="a SQLite file or a database URL")
    parser.add_argument("--csv", type=Path)
    args = parser.parse_args(argv)
    result = TASKS[args.task](args)
    result["maxrss"] = maxrss_bytes()
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
