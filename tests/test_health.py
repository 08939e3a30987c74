"""/healthz: no login, no secrets, and it notices a schema the code does not expect."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from dispatch.extensions import db


def test_healthz_reports_the_schema_at_head(anonymous: FlaskClient) -> None:
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["schema"] == {"revision": "0005", "expected_revision": "0005", "at_head": True}


def test_a_schema_behind_the_code_is_degraded(app: Flask, anonymous: FlaskClient) -> None:
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0003'"))
        db.session.commit()
    body = anonymous.get("/healthz").get_json()
    assert body["status"] == "degraded"
    assert body["schema"]["at_head"] is False
    with app.app_context():
        db.session.execute(text("UPDATE alembic_version SET version_num = '0005'"))
        db.session.commit()
