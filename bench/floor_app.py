"""The floor for entry throughput: a bare Flask endpoint doing one INSERT, served by the same gunicorn setup.

POST /entries takes the ids of one entry and inserts it in its own write transaction (BEGIN IMMEDIATE, as
the tracker's writers do) on a per-thread sqlite3 connection with the tracker's pragmas; no login, no CSRF,
no form, no checks beyond the database's own. BENCH_DB names the SQLite file.

    gunicorn -c gunicorn.conf.py bench.floor_app:app
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

from flask import Flask, jsonify, redirect, request
from werkzeug.wrappers import Response

from bench.child import INSERT_ENTRY, connect

app = Flask(__name__)
_local = threading.local()


def _connection() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = connect(Path(os.environ["BENCH_DB"]))
    return conn


@app.post("/entries")
def insert_entry() -> Response:
    form = request.form
    conn = _connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            INSERT_ENTRY,
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
    except sqlite3.Error:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return redirect("/entries", 302)


@app.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})
