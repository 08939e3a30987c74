"""Checking the tally against the entries and rebuilding it from them (`flask check-totals`).

tally.py keeps the tally in step with every write; this module is how anyone can tell that it did: a
recomputation from the entries in plain SQL, compared row by row (EXCEPT both ways), and the same SQL to
fill the tally again when it does not agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, text

from .extensions import db
from .models import Dim
from .tally import COLUMNS, DIMENSIONS, T


def recomputed(dim: Dim, disaster_id: int | None = None) -> str:
    """SQL for the dimension's rows recomputed from the entries, in the tally's columns."""
    columns = COLUMNS[dim]
    keys = (*columns, "0", "0")[:2]
    group = ", ".join(("o.disaster_id", *columns))
    where = "" if disaster_id is None else f"WHERE o.disaster_id = {int(disaster_id)} "
    return (
        f"SELECT o.disaster_id AS disaster_id, {int(dim)} AS dim, {keys[0]} AS key1, {keys[1]} AS key2, "
        f"e.date AS date, SUM(e.headcount) AS headcount, "
        f"SUM(SUM(e.headcount)) OVER (PARTITION BY {group} ORDER BY e.date) AS person_days "
        f"FROM entry e JOIN operation o ON o.id = e.operation_id {where}GROUP BY {group}, e.date"
    )


def fill_statements(disaster_id: int | None = None) -> list[str]:
    return [
        f"INSERT INTO tally (disaster_id, dim, key1, key2, date, headcount, person_days) "
        f"{recomputed(dim, disaster_id)}"
        for dim in DIMENSIONS
    ]


def rebuild(disaster_id: int) -> int:
    """Recompute the disaster's tally from its entries; the rows written."""
    db.session.execute(delete(T).where(T.c.disaster_id == disaster_id))
    for statement in fill_statements(disaster_id):
        db.session.execute(text(statement))
    return int(
        db.session.scalar(select(func.count()).select_from(T).where(T.c.disaster_id == disaster_id)) or 0
    )


@dataclass(frozen=True)
class Difference:
    dim: Dim
    missing: int  # rows the entries call for that the tally lacks or holds otherwise
    extra: int  # rows the tally holds that the entries do not call for
    sample: Sequence[tuple[Any, ...]]


def check(disaster_id: int) -> list[Difference]:
    """Where the disaster's tally differs from a recomputation from its entries (empty: it agrees)."""
    differences = []
    for dim in DIMENSIONS:
        stored = (
            f"SELECT disaster_id, dim, key1, key2, date, headcount, person_days FROM tally "
            f"WHERE disaster_id = {int(disaster_id)} AND dim = {int(dim)}"
        )
        wanted = f"SELECT * FROM ({recomputed(dim, disaster_id)}) r"
        missing = db.session.execute(text(f"{wanted} EXCEPT {stored}")).all()
        extra = db.session.execute(text(f"{stored} EXCEPT {wanted}")).all()
        if missing or extra:
            differences.append(Difference(dim, len(missing), len(extra), [*missing[:3], *extra[:3]]))
    return differences
