"""Figure f (issue 15, item 6): every entry's .xlsx export built as a job, and the progress page meanwhile.

The export is asked for as a person asks for it (GET totals.xlsx, past EXPORT_JOB_ROWS: a job and a redirect
to its progress page); the job is then built in a child process of its own, as the scheduler process builds
it (dispatch.export_jobs.run_pending), so that its peak memory is its alone; the parent polls the progress
page every POLL_SECONDS while the child works and keeps the slowest answer. Targets: peak memory ≤ 250 MB at
1,000,000 entries, and no request over 1 s (the ask included: it counts the entries).

    python -m bench.export_job --db /tmp/bench.sqlite [--rows 100000]   # generates the data set if missing
    python -m bench.export_job child --db /tmp/bench.sqlite --folder DIR   # (the child)

bench/run.py calls ``section`` in its exports part.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from flask_login import FlaskLoginClient

from bench.dataset import END, SLUG, make_app
from bench.db import Target
from bench.report import Report, Row, Sample, verdict
from dispatch.extensions import db
from dispatch.models import ExportJob

ROOT = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
POLL_SECONDS = 0.5
IDLE_POLLS = 10
# Every export of the benchmark is a job: the figure is the job's, whatever the data set's size.
JOB_ROWS = 1


def child_main(target: Target, folder: Path) -> dict[str, Any]:
    """Build the queued jobs as the scheduler does; seconds and peak resident memory."""
    from bench.child import maxrss_bytes
    from dispatch import export_jobs

    app = make_app(target, EXPORT_JOB_FOLDER=str(folder))
    with app.app_context():
        baseline = maxrss_bytes()
        started = time.perf_counter()
        result = export_jobs.run_pending("bench-export-job")
        seconds = time.perf_counter() - started
        db.engine.dispose()
    return {"seconds": seconds, "built": result.built, "failed": result.failed, "baseline": baseline}


def measure(target: Target) -> dict[str, float]:
    """One job over every entry of the data set, with the progress page polled while it is built."""
    from bench.run import ensure_user

    folder = Path(tempfile.mkdtemp(prefix="dispatch-export-job-"))
    app = make_app(target, EXPORT_JOB_ROWS=JOB_ROWS, EXPORT_JOB_FOLDER=str(folder))
    app.test_client_class = FlaskLoginClient
    client = app.test_client(user=ensure_user(app, "bench-exporter"))
    started = time.perf_counter()
    asked = client.get(f"/disasters/{SLUG}/totals.xlsx?as_of={END.isoformat()}")
    ask_seconds = time.perf_counter() - started
    if asked.status_code != 302:
        raise RuntimeError(f"asking for the export: {asked.status_code}")
    progress = asked.headers["Location"]
    command = [sys.executable, "-m", "bench.export_job", "child", "--db", target.url, "--folder", str(folder)]
    built = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    polls: list[float] = []
    seen: list[int] = []
    try:
        while built.poll() is None:
            time.sleep(POLL_SECONDS)
            started = time.perf_counter()
            page = client.get(progress)
            polls.append(time.perf_counter() - started)
            if page.status_code != 200:
                raise RuntimeError(f"the progress page answered {page.status_code}")
            with app.app_context():
                seen.append(db.session.scalars(db.select(ExportJob.rows_written)).one())
        out, err = built.communicate()
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        if built.returncode != 0 or not lines:
            raise RuntimeError(f"the export job failed:\n{err[-4000:]}")
        result = json.loads(lines[-1].removeprefix("RESULT "))
        if result["built"] != 1:
            raise RuntimeError(f"the export job was not built: {result}")
        done = client.get(progress)
        size = sum(path.stat().st_size for path in folder.iterdir())
        # The floor of the slowest request: the same page polled with nothing being built.
        idle = []
        for _ in range(IDLE_POLLS):
            started = time.perf_counter()
            client.get(progress)
            idle.append(time.perf_counter() - started)
    finally:
        with app.app_context():
            rows = db.session.scalars(db.select(ExportJob.rows_total)).one()
            db.session.execute(db.delete(ExportJob))
            db.session.commit()
            db.engine.dispose()
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    assert "完成" in done.text
    return {
        "seconds": result["seconds"],
        "maxrss": result["maxrss"],
        "rows": rows,
        "bytes": size,
        "ask_seconds": ask_seconds,
        "slowest_poll": max(polls, default=0.0),
        "slowest_idle_poll": max(idle),
        "polls": len(polls),
        "progress_reports": len(set(seen)),
    }


def section(report: Report, rows: int, target: Target) -> dict[str, float]:
    """The figure's rows in the exports part of bench/run.py, beside the floors of figure f: a child that
    streams the same rows to CSV with the driver (bench.child export-floor), and the progress page polled
    while nothing is built [IDLE]."""
    from bench.run import child

    got = measure(target)
    floor = child("export-floor", target)
    memory_ok = got["maxrss"] <= 250 * MB
    slowest = max(got["slowest_poll"], got["ask_seconds"])
    report.add(
        Row(
            "f.xlsx.job.memory",
            "f. peak memory of the .xlsx export of every entry built as a job (scheduler process)",
            Sample((got["maxrss"],), "bytes"),
            Sample((floor["maxrss"],), "bytes"),
            "CSV",
            target="≤ 250 MB",
            verdict=verdict(memory_ok, rows),
        )
    )
    report.add(
        Row(
            "f.xlsx.job.time",
            f"f. time building it ({got['rows']:,.0f} entries; {got['bytes'] / MB:,.1f} MB)",
            Sample((got["seconds"],), "time"),
            Sample((floor["seconds"],), "time"),
            "CSV",
        )
    )
    report.add(
        Row(
            "f.xlsx.job.latency",
            f"f. slowest request while it is built: the ask and {got['polls']:,.0f} polls of the progress page",
            Sample((slowest,), "time"),
            Sample((got["slowest_idle_poll"],), "time"),
            "IDLE",
            target="< 1 s",
            verdict=verdict(slowest < 1.0, rows),
        )
    )
    return got


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.export_job")
    parser.add_argument("role", nargs="?", choices=["measure", "child"], default="measure")
    parser.add_argument("--db", type=Target.parse, required=True, help="a SQLite file or a database URL")
    parser.add_argument("--rows", type=int, default=100_000, help="entries to generate if --db has none")
    parser.add_argument("--folder", type=Path)
    args = parser.parse_args(argv)
    if args.role == "child":
        from bench.child import maxrss_bytes

        result = child_main(args.db, args.folder)
        result["maxrss"] = maxrss_bytes()
        sys.stdout.write("RESULT " + json.dumps(result) + "\n")
        return
    if not args.db.exists():
        from bench.dataset import generate

        generate(args.db, args.rows)
    got = measure(args.db)
    sys.stdout.write(
        f"entries {got['rows']:,.0f}: built in {got['seconds']:,.1f} s, peak memory {got['maxrss'] / MB:,.0f} MB, "
        f"file {got['bytes'] / MB:,.1f} MB; ask {got['ask_seconds'] * 1000:,.0f} ms; slowest of {got['polls']:,.0f} "
        f"progress polls {got['slowest_poll'] * 1000:,.0f} ms; {got['progress_reports']:,.0f} progress values seen\n"
    )


if __name__ == "__main__":
    main()
