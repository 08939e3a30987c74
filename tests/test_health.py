"""/healthz: no login, no secrets, and it notices a schema the code does not expect."""

from __future__ import annotations

from alembic.config import Config
from alembic.script import ScriptDirectory
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from dispatch.extensions import db
from dispatch.health import MIGRATIONS


def migrations() -> ScriptDirectory:
    """The migrations folder as alembic reads it, independently of dispatch.health."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def set_revision(app: Flask, revision: str) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision})
        db.session.commit()


def test_healthz_reports_the_schema_at_head(anonymous: FlaskClient) -> None:
    head = migrations().get_current_head()
    assert head
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema"] == {"revision": head, "expected_revision": head, "at_head": True}


def test_a_schema_behind_the_code_is_degraded(app: Flask, anonymous: FlaskClient) -> None:
    head = migrations().get_revision("head")
    assert head is not None and isinstance(head.down_revision, str)
    set_revision(app, head.down_revision)
    try:
        body = anonymous.get("/healthz").get_json()
        assert body["status"] == "degraded"
        assert body["schema"] == {
            "revision": head.down_revision,
            "expected_revision": head.revision,
            "at_head": False,
        }
    finally:
        # On PostgreSQL the database outlives the test (only the data tables are emptied).
        set_revision(app, head.revision)
