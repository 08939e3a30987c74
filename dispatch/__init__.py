"""応援職員派遣トラッカー: the mutual-aid staff dispatch tracker."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from .config import DEV_SECRET_KEY, database_url, default_settings, own_organisation_code
from .private_files import make_private_folder


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: defaults, then instance/config.py, then DISPATCH_* variables, then the test mapping.

    No side effects beyond reading configuration: no tables are created and no scheduler is started here.
    """
    app = Flask(__name__, instance_relative_config=True)
    # Only the service account may read the instance folder: it holds the secret key and the database.
    make_private_folder(Path(app.instance_path))

    app.config.from_mapping(default_settings())
    if test_config is None:
        if app.config.from_pyfile("config.py", silent=True):
            app.config["SECRET_KEY_FILE"] = str(Path(app.instance_path) / "config.py")
        app.config.from_prefixed_env("DISPATCH")
    else:
        app.config.from_mapping(test_config)
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = database_url(
            os.environ.get("DATABASE_URL"), app.instance_path
        )
    _refuse_development_secret_in_production(app)
    app.config["OWN_ORGANISATION"] = own_organisation_code(app.config.get("OWN_ORGANISATION"))

    if app.config["TRUSTED_PROXIES"]:
        # Behind the reverse proxy: take the client's address and scheme from its headers, so that
        # login throttling sees real addresses and the session cookie is Secure over HTTPS.
        hops = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from . import (
        access,
        cli,
        json_out,
        logs,
        tally,  # noqa: F401  (its session events keep the tally in step with the entries)
        templating,
        views,
        write_lock,  # noqa: F401  (SQLite's connection settings and BEGIN IMMEDIATE)
    )
    from .extensions import csrf, db, login_manager, migrate
    from .security import SessionInterface, add_security_headers

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).resolve().parent.parent / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    app.session_interface = SessionInterface()
    access.register(app)
    logs.configure(app)
    json_out.register(app)
    app.after_request(add_security_headers)
    templating.register(app)
    views.register(app)
    cli.register(app)
    return app


def _refuse_development_secret_in_production(app: Flask) -> None:
    if app.config["ENV_NAME"] == "production" and app.config["SECRET_KEY"] == DEV_SECRET_KEY:
        raise RuntimeError(
            "Refusing to start in production with the development SECRET_KEY: "
            "set DISPATCH_SECRET_KEY or SECRET_KEY in instance/config.py."
        )
