"""Lote: batch invoicing for logistics billing teams."""

from pathlib import Path

from flask import Flask, current_app, request
from sqlalchemy import Select, event
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

    from webapp.routing import register_converters

    register_converters(app)
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
    from webapp.extensions import babel, csrf, db, htmx, limiter, login_manager, migrate

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")).parent.mkdir(
            parents=True, exist_ok=True
        )
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)

    from webapp.web.i18n import missing_catalogs, select_locale

    babel.init_app(app, locale_selector=select_locale)
    app.extensions["lote.missing_catalogs"] = missing_catalogs(app)
    if app.extensions["lote.missing_catalogs"]:
        app.logger.warning(
            "Translation catalogs not compiled for %s: those pages show English words. "
            "Run: pybabel compile -d webapp/translations",
            ", ".join(app.extensions["lote.missing_catalogs"]),
        )
    connect_services(app)


def connect_services(app: Flask) -> None:
    """The systems the domain reaches through ports, as the app's configuration names them: the
    tax authority, the ERP and the queue."""
    from webapp.authority import SimulatedAuthority
    from webapp.billing.erp import SimulatedErp
    from webapp.tasks import batch_queue

    app.extensions["lote.cae"] = SimulatedAuthority(
        app.config["AUTHORITY_DATABASE_URL"] or app.config["SQLALCHEMY_DATABASE_URI"],
        latency_ms=app.config["CAE_LATENCY_MS"],
        failure_rate=app.config["CAE_FAILURE_RATE"],
        lost_answer_rate=app.config["CAE_LOST_ANSWER_RATE"],
    )
    app.extensions["lote.erp"] = SimulatedErp(
        failure_rate=app.config["ERP_FAILURE_RATE"], seed=app.config["ERP_RANDOM_SEED"]
    )
    app.extensions["lote.queue"] = batch_queue


# How long a SQLite writer waits for the write lock before giving up: long enough that writers
# queue behind one another instead of failing with "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
_SQLITE_TRANSACTION = "lote.sqlite_transaction"


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        # pysqlite's own BEGIN comes only before the first write, after the reads that checked
        # the rows; the events below open every transaction instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()


def _on_pysqlite(conn) -> bool:
    return conn.dialect.name == "sqlite" and conn.dialect.driver == "pysqlite"


@event.listens_for(Engine, "begin")
def _sqlite_begin(conn):
    # An AUTOCOMMIT connection never commits, so it must never open a transaction.
    autocommit = conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT"
    if _on_pysqlite(conn) and not autocommit:
        conn.info[_SQLITE_TRANSACTION] = "unopened"


@event.listens_for(Engine, "before_cursor_execute")
def _sqlite_write_lock(conn, cursor, statement, parameters, context, executemany):
    """On SQLite a transaction takes the write lock (BEGIN IMMEDIATE) before its first statement
    that writes or locks rows (``with_for_update``, which SQLite itself ignores), so the check
    that statement makes and the writes that follow hold together, as row locks make them on
    PostgreSQL. Reads before it run each on its own, seeing the last commit, as every statement
    does under PostgreSQL's READ COMMITTED: a transaction that only reads never takes the lock
    nor waits for a writer."""
    if conn.info.get(_SQLITE_TRANSACTION) == "unopened" and _takes_write_lock(statement, context):
        conn.connection.driver_connection.execute("BEGIN IMMEDIATE")
        conn.info[_SQLITE_TRANSACTION] = "immediate"


def _takes_write_lock(statement: str, context) -> bool:
    compiled = getattr(context, "compiled", None)
    if isinstance(getattr(compiled, "statement", None), Select):
        # SQLite renders no FOR UPDATE, so the intent is read from the statement itself.
        return compiled.statement._for_update_arg is not None
    return statement.lstrip()[:6].upper() not in ("SELECT", "PRAGMA")


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _sqlite_end(conn):
    conn.info.pop(_SQLITE_TRANSACTION, None)


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
