"""Samples, table rows, verdicts against the issue's targets, the machine description and the markdown.

One Report per database (SQLite, PostgreSQL); `document()` puts them side by side. A report can be saved as
JSON and read back, so that the databases may be measured in separate runs and still share one document.
"""

from __future__ import annotations

import json
import os
import platform
import sqlite3
import statistics
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

MB = 1_000_000
FULL_SCALE = 1_000_000


@dataclass(frozen=True)
class Sample:
    """Several runs of one figure. kind: "time" (seconds), "rate" (per second) or "bytes"."""

    values: tuple[float, ...]
    kind: str
    unit: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def show(self, value: float, scale: float | None = None, unit: bool = True) -> str:
        """The value in the unit that suits `scale` (the value itself unless given)."""
        scale = value if scale is None else scale
        if self.kind == "time":
            ms = value * 1000
            text, suffix = (
                (f"{ms:,.0f}" if ms >= 100 else f"{ms:.3g}", "ms") if scale < 1 else (f"{value:,.1f}", "s")
            )
        elif self.kind == "bytes":
            text, suffix = f"{value / MB:,.0f}", "MB"
        elif self.kind == "factor":
            return f"{value:,.1f}×"
        else:
            text, suffix = (f"{value:,.0f}" if scale >= 100 else f"{value:,.1f}"), self.unit
        return f"{text} {suffix}" if unit and suffix else text

    def cell(self) -> str:
        median = self.median
        if len(self.values) == 1:
            return f"{self.show(median)}, n=1"
        low, high = (self.show(v, median, unit=False) for v in (self.low, self.high))
        return f"{self.show(median)} ({low}–{high}), n={len(self.values)}"


def ratio(figure: Sample | None, floor: Sample | None) -> float | None:
    """How many times the floor's cost the figure is: time or memory over the floor's, or, for a rate,
    the floor's rate over the figure's."""
    if figure is None or floor is None or not floor.median or not figure.median:
        return None
    if figure.kind == "rate":
        return floor.median / figure.median
    return figure.median / floor.median


@dataclass
class Row:
    key: str
    label: str
    figure: Sample | None = None
    floor: Sample | None = None
    floor_code: str = ""
    target: str = "—"
    verdict: str = "no target"
    why: str = ""
    # Shown instead of the samples where a figure is derived from others (growth between scales).
    figure_text: str | None = None
    floor_text: str | None = None

    def ratio_cell(self) -> str:
        if self.figure_text is not None:
            return "—"
        value = ratio(self.figure, self.floor)
        return "—" if value is None else f"{value:,.2f}×" if value < 10 else f"{value:,.0f}×"


def verdict(ok: bool, rows: int) -> str:
    """met or missed; below full scale the targets (stated for 1,000,000 entries) are not judged."""
    if rows < FULL_SCALE:
        return f"n/a ({rows:,} entries; targets are for {FULL_SCALE:,})"
    return "met" if ok else "**missed**"


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    machine: dict[str, str] = field(default_factory=dict)
    dataset: dict[str, str] = field(default_factory=dict)
    sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown)
    # "SQLite" or "PostgreSQL"; the run's own facts (command, duration, load); the floors' legend.
    database: str = "SQLite"
    run: dict[str, str] = field(default_factory=dict)
    floors: str = ""
    # Why the run stopped early, if it did (the rows measured before are kept).
    failure: str = ""

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        return row

    def row(self, key: str) -> Row | None:
        return next((r for r in self.rows if r.key == key), None)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        def sample(value: dict[str, Any] | None) -> Sample | None:
            return None if value is None else Sample(tuple(value["values"]), value["kind"], value["unit"])

        rows = [
            Row(**{**r, "figure": sample(r["figure"]), "floor": sample(r["floor"])}) for r in data["rows"]
        ]
        return cls(
            rows=rows,
            machine=dict(data["machine"]),
            dataset=dict(data["dataset"]),
            sections=[(title, body) for title, body in data["sections"]],
            database=data.get("database", "SQLite"),
            run=dict(data.get("run", {})),
            floors=data.get("floors", ""),
            failure=data.get("failure", ""),
        )

    def table(self) -> str:
        lines = [
            "| Figure | Median (min–max), runs | Floor (same run, same data) | × floor | Target | Met? | Why, where missed |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            figure = row.figure_text or (row.figure.cell() if row.figure else "—")
            floor = row.floor_text or (f"{row.floor.cell()} [{row.floor_code}]" if row.floor else "—")
            why = row.why.replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {row.label} | {figure} | {floor} | {row.ratio_cell()} | {row.target} | {row.verdict} | {why} |"
            )
        return "\n".join(lines)

    def markdown(self, title: str, intro: str, floors: str) -> str:
        """This database alone, as one document."""
        return document([self], title, intro, "", floors_by_database={self.database: floors})


def save(reports: list[Report], path: Path) -> None:
    path.write_text(
        json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=1), encoding="utf-8"
    )


def load(path: Path) -> list[Report]:
    return [Report.from_dict(r) for r in json.loads(path.read_text(encoding="utf-8"))]


def _short(row: Row) -> str:
    """A cell of the side-by-side table: the median, its cost over the floor, the verdict."""
    if row.figure is None and row.figure_text is None:
        return row.verdict
    figure = row.figure_text.split(" (")[0] if row.figure_text else row.figure.show(row.figure.median)  # type: ignore[union-attr]
    ratio_text = row.ratio_cell()
    parts = [figure]
    if ratio_text != "—":
        parts.append(f"{ratio_text} floor")
    if row.verdict.startswith(("met", "**missed**")):
        parts.append(row.verdict)
    return ", ".join(parts)


def side_by_side(reports: list[Report]) -> str:
    """Every figure once, with each database's median, × floor and verdict in a column of its own."""
    keys: list[str] = []
    labels: dict[str, str] = {}
    targets: dict[str, str] = {}
    for report in reports:
        for row in report.rows:
            if row.key not in labels:
                keys.append(row.key)
                labels[row.key] = row.label
                targets[row.key] = row.target
    names = [r.database for r in reports]
    lines = [
        "| Figure | Target | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for key in keys:
        cells = []
        for report in reports:
            row = report.row(key)
            cells.append("not measured" if row is None else _short(row).replace("|", "\\|"))
        lines.append(f"| {labels[key]} | {targets[key]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def document(
    reports: list[Report],
    title: str,
    intro: str,
    method: str,
    floors_by_database: dict[str, str] | None = None,
) -> str:
    """The markdown for docs/benchmarks.md: the machine, the side-by-side summary when there are several
    databases, then each database's data set, full table, floors and sections."""
    parts = [f"# {title}", "", intro, ""]
    machine = reports[0].machine if reports else {}
    parts += ["## Machine", "", *(f"- {k}: {v}" for k, v in machine.items()), ""]
    several = len(reports) > 1
    if several:
        parts += ["## Side by side", "", side_by_side(reports), ""]
        parts += [
            "Each cell: the median, its cost over the floor measured on that database, and the verdict at "
            "1,000,000 entries. The full tables, with the spread, the runs and the floors, follow.",
            "",
        ]
    for report in reports:
        where = f" on {report.database}" if several else ""
        level = "###" if several else "##"
        if several:
            parts += [f"## {report.database}", ""]
        if report.failure:
            first, _, rest = report.failure.strip().partition("\n")
            parts += [f"**Not everything was measured:** {first}", ""]
            if rest.strip():
                parts += ["```", rest.rstrip(), "```", ""]
        if report.run:
            parts += [f"{level} Run{where}", "", *(f"- {k}: {v}" for k, v in report.run.items()), ""]
        parts += [f"{level} Data set{where}", "", *(f"- {k}: {v}" for k, v in report.dataset.items()), ""]
        floors = (floors_by_database or {}).get(report.database, report.floors)
        parts += [f"{level} Results{where}", "", report.table(), "", floors, ""]
        for heading, body in report.sections:
            parts += [f"{level} {heading}{where}", "", body.rstrip(), ""]
    if method:
        parts += ["## How each figure is measured", "", method.rstrip(), ""]
    return "\n".join(parts).rstrip() + "\n"


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, str]:
    cpuinfo = _read("/proc/cpuinfo")
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), ""
    )
    meminfo = _read("/proc/meminfo")
    total_kb = next(
        (int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal:")), 0
    )
    versions = ", ".join(
        f"{name} {_version(name)}"
        for name in ("Flask", "SQLAlchemy", "Flask-SQLAlchemy", "gunicorn", "openpyxl", "aiosmtpd", "psycopg")
    )
    commit = _git("rev-parse", "--short", "HEAD")
    dirty = bool(_git("status", "--porcelain", "--untracked-files=no"))
    load = ", ".join(f"{n:.2f}" for n in os.getloadavg())
    return {
        "load average at start (1, 5, 15 min)": load,
        "date": datetime.now(ZoneInfo("Asia/Tokyo")).strftime("%Y-%m-%d %H:%M %Z"),
        "cores (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU": model or platform.processor() or "unknown",
        "memory": f"{total_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "SQLite": sqlite3.sqlite_version,
        "packages": versions,
        "commit": f"{commit}{' with uncommitted changes' if dirty else ''}" if commit else "unknown",
    }
