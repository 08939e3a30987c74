"""Files only the service account may read: the instance folder (0700), the secret key in
instance/config.py, the SQLite database with its -wal and -shm, and backups (0600).

A local account that reads the secret key signs itself an administrator's session; one that reads the
database reads every entry and every password hash. So the SQLite file is created 0600 before SQLite opens
it (SQLite gives its -wal, -shm and journal files the database's own mode), a database found wider is
narrowed when connected to, and `/healthz` reports any of these files that others may still read.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url

PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
# Permission bits that let anyone but the owner in.
_OTHERS = 0o077
SQLITE_COMPANIONS = ("", "-wal", "-shm")

log = logging.getLogger(__name__)


def make_private_folder(path: Path) -> None:
    """The folder, created for its owner alone (a folder that exists already is left as it is)."""
    path.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)


def create_private_file(path: Path) -> None:
    """An empty file only its owner may read and write, unless the file exists already."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return
    except OSError:
        # No such folder, no right to write there: whoever opens the file next says so in its own terms
        # (SQLite's "unable to open database file" is what /healthz reports as unreachable).
        return
    os.close(descriptor)


def narrow(path: Path) -> None:
    """Take away what others may do with an existing file; say so in the log."""
    try:
        mode = path.stat().st_mode & 0o777
        if mode & _OTHERS:
            path.chmod(mode & ~_OTHERS)
            log.warning("private_file_narrowed path=%s mode=%04o now=%04o", path, mode, mode & ~_OTHERS)
    except OSError:
        # Gone, or not ours to change: /healthz reports what stays too open.
        return


@event.listens_for(Engine, "do_connect")
def _private_sqlite_file(
    dialect: Any, connection_record: Any, cargs: list[Any], cparams: dict[str, Any]
) -> None:
    if dialect.name != "sqlite" or not cargs:
        return
    database = _sqlite_path(str(cargs[0]))
    if database is None:
        return
    create_private_file(database)
    for suffix in SQLITE_COMPANIONS:
        narrow(Path(f"{database}{suffix}"))


def _sqlite_path(name: str) -> Path | None:
    """The database file SQLite is about to open, or None for an in-memory database or a URI."""
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    return Path(name)


def too_open(app: Flask) -> list[dict[str, str]]:
    """Each private file or folder of this app that others may read, with its mode and the mode it needs."""
    found = []
    for path, needed in _private_paths(app):
        try:
            mode = path.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & _OTHERS:
            found.append({"file": path.name, "mode": f"{mode:04o}", "expected": f"{needed:04o}"})
    return found


def _private_paths(app: Flask) -> list[tuple[Path, int]]:
    """The secret key's file and its folder (when the app read its settings from there), and the SQLite
    database with its companions."""
    paths: list[tuple[Path, int]] = []
    secret_file = app.config.get("SECRET_KEY_FILE")
    if secret_file:
        paths += [(Path(secret_file).parent, PRIVATE_FOLDER), (Path(secret_file), PRIVATE_FILE)]
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    database = _sqlite_path(url.database or "") if url.get_backend_name() == "sqlite" else None
    if database is not None:
        paths += [(Path(f"{database}{suffix}"), PRIVATE_FILE) for suffix in SQLITE_COMPANIONS]
    return paths
