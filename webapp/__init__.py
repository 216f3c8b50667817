"""Lote: batch invoicing for logistics billing teams."""

from pathlib import Path

from flask import Flask, current_app, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from webapp.config import Config, secret_key_problem

ROOT = Path(__file__).resolve().parent.parent
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'self'; frame-ancestors 'none'"
)


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
    )
    app.config.from_object(Config)
    if test_config:
        app.config.update(test_config)
    app.config["SESSION_COOKIE_SECURE"] = app.config["ENV_NAME"] == "production"
    _refuse_unsafe_production(app)

    _init_extensions(app)
    _register_blueprints(app)

    from webapp.errors import register_error_handlers

    register_error_handlers(app)

    from webapp.cli import register_commands

    register_commands(app)

    from webapp.auth import check_access

    app.before_request(check_access)
    app.after_request(_security_headers)
    return app


def _refuse_unsafe_production(app: Flask) -> None:
    if app.config["ENV_NAME"] == "production":
        problem = secret_key_problem(app.config["SECRET_KEY"])
        if problem:
            raise RuntimeError(problem)


def _init_extensions(app: Flask) -> None:
    from webapp.billing.cae import SimulatedCaeAuthority
    from webapp.billing.erp import SimulatedErp
    from webapp.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **app.config["SQLALCHEMY_ENGINE_OPTIONS"],
            "connect_args": {"timeout": 30},
        }
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from webapp.web.i18n import select_locale

    babel.init_app(app, locale_selector=select_locale)
    app.extensions["lote.cae"] = SimulatedCaeAuthority(
        latency_ms=app.config["CAE_LATENCY_MS"], failure_rate=app.config["CAE_FAILURE_RATE"]
    )
    app.extensions["lote.erp"] = SimulatedErp(
        failure_rate=app.config["ERP_FAILURE_RATE"], seed=app.config["ERP_RANDOM_SEED"]
    )


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def _register_blueprints(app: Flask) -> None:
    from webapp.api import register_api
    from webapp.web import register_web

    register_web(app)
    register_api(app)


def _security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.endpoint != "static":
        # Signed-in pages, API answers, exports and tokens must not stay in a shared cache or
        # in the browser's history after sign-out.
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["ENV_NAME"] == "production":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
