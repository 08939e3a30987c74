"""Whether the database schema is the one this code expects (for /healthz after an upgrade)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text

from .extensions import db

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@cache
def expected_revision() -> str:
    """The newest migration shipped with this code; read once, the files do not change while running."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    return head or ""


def schema_state() -> dict[str, object]:
    current = db.session.execute(text("SELECT version_num FROM alembic_version")).scalar()
    expected = expected_revision()
    return {"revision": current, "expected_revision": expected, "at_head": current == expected}


def database_answers() -> None:
    """A trivial query: raises when the database cannot be reached."""
    db.session.execute(text("SELECT 1"))
