"""/healthz: for monitoring, without login or secrets."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy.exc import SQLAlchemyError

from .. import scheduler
from ..health import database_answers, schema_state
from ..private_files import too_open

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """503 only when the database is unreachable; a stale scheduler heartbeat, a failed digest run, a
    schema behind the code (an upgrade without `flask db upgrade`) or a secret key or database file that
    other local accounts may read (private_files.py; `chmod 600` it, and 700 its folder) is "degraded" with
    200, since the pages still work."""
    try:
        database_answers()
        schema = schema_state()
        degraded, fields = scheduler.health()
    except SQLAlchemyError:
        return jsonify({"status": "error", "database": "unreachable"}), 503
    files = too_open(current_app)
    status = "degraded" if degraded or not schema["at_head"] or files else "ok"
    body = {"status": status, "database": "ok", "schema": schema, "files_too_open": files, **fields}
    return jsonify(body), 200
