"""The floor for entry throughput: a bare Flask endpoint doing one INSERT, served by the same gunicorn setup.

POST /entries takes the ids of one entry and inserts it in its own write transaction (BEGIN IMMEDIATE on
SQLite, as the tracker's writers do; BEGIN on PostgreSQL) on a per-thread connection (sqlite3 with the
tracker's pragmas, or psycopg); no login, no CSRF, no form, no checks beyond the database's own. BENCH_DB
names the database: a SQLite file or a database URL.

    gunicorn -c gunicorn.conf.py bench.floor_app:app
"""

from __future__ import annotations

import os
import threading

from flask import Flask, jsonify, redirect, request
from werkzeug.wrappers import Response

from bench.child import insert_entry_sql
from bench.db import Conn, Target

app = Flask(__name__)
_local = threading.local()
_target = Target.parse(os.environ.get("BENCH_DB", "bench.sqlite"))
_insert = insert_entry_sql(_target.kind)


def _connection() -> Conn:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = _target.connect()
    return conn


@app.post("/entries")
def insert_entry() -> Response:
    form = request.form
    conn = _connection()
    conn.begin_write()
    try:
        conn.execute(
            _insert,
            (
                form["date"],
                int(form["operation_id"]),
                int(form["sender_id"]),
                form["sender_unit"],
                int(form["destination_id"]),
                int(form["duty_id"]),
                int(form["headcount"]),
                "",
            ),
        )
    except Exception:
        conn.rollback()
        raise
    conn.commit()
    return redirect("/entries", 302)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})
