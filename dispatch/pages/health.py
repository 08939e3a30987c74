"""/healthz: for monitoring, without login or secrets."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy.exc import SQLAlchemyError

from .. import scheduler
from ..health import database_answers, schema_state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """503 only when the database is unreachable; a stale scheduler heartbeat, a failed digest run or a
    schema behind the code (an upgrade without `flask db upgrade`) is "degraded" with 200, since the pages
    still work."""
    try:
        database_answers()
        schema = schema_state()
        degraded, fields = scheduler.health()
    except SQLAlchemyError:
        return jsonify({"status": "error", "database": "unreachable"}), 503
    status = "degraded" if degraded or not schema["at_head"] else "ok"
    return jsonify({"status": status, "database": "ok", "schema": schema, **fields}), 200
