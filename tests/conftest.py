"""Test fixtures. The suite runs on PostgreSQL and Redis when TEST_DATABASE_URL and REDIS_URL are
set (CI sets both), and on SQLite with an in-memory queue otherwise."""

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))
ON_REDIS = bool(os.environ.get("REDIS_URL"))
# Each pytest-xdist worker (gw0, gw1, ...) works on a PostgreSQL database of its own, named after
# the one given and dropped when the worker ends, on a Redis database of its own, and on SQLite
# in a folder of its own.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
WORKER_NUMBER = int(WORKER.removeprefix("gw")) if WORKER else 0
if ON_POSTGRES and WORKER:
    TEST_DATABASE_URL = (
        make_url(TEST_DATABASE_URL)
        .set(database=f"{make_url(TEST_DATABASE_URL).database}_{WORKER}")
        .render_as_string(hide_password=False)
    )
    os.environ["TEST_DATABASE_URL"] = TEST_DATABASE_URL
if ON_REDIS and WORKER_NUMBER:
    _redis = urlsplit(os.environ["REDIS_URL"])
    _given = int(_redis.path.strip("/") or 0)
    _own = _given - WORKER_NUMBER if _given >= WORKER_NUMBER else _given + WORKER_NUMBER
    os.environ["REDIS_URL"] = urlunsplit(_redis._replace(path=f"/{_own}"))
if not TEST_DATABASE_URL:
    _tmp = Path(tempfile.mkdtemp(prefix="lote-tests-"))
    atexit.register(shutil.rmtree, _tmp, ignore_errors=True)
    TEST_DATABASE_URL = f"sqlite:///{_tmp / 'lote.sqlite3'}"
    os.environ.setdefault("LOTE_INSTANCE_DIR", str(_tmp))
# The consumer processes that end-to-end tests start read the same database.
os.environ["DATABASE_URL"] = TEST_DATABASE_URL

PASSWORD = "correct-horse-9"
ROLES = ("admin", "clerk", "viewer")
# Short waits for the tests and for the consumer processes they start: retries after 0.1 s,
# 0.2 s, 0.4 s instead of 2 s, 4 s, 8 s; a one-second claim grace instead of five.
FAST_DELAYS = {"BATCH_RETRY_DELAY_SECONDS": 0.1, "BATCH_CLAIM_GRACE_SECONDS": 1}


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres (or redis) need those services; CI sets LOTE_REQUIRE_SERVICES=1 so a
    missing service fails the run instead of skipping the tests silently."""
    required = os.environ.get("LOTE_REQUIRE_SERVICES") == "1"
    for item in items:
        for marker, available, name in (
            ("postgres", ON_POSTGRES, "TEST_DATABASE_URL (PostgreSQL)"),
            ("redis", ON_REDIS, "REDIS_URL"),
        ):
            if item.get_closest_marker(marker) and not available:
                if required:
                    raise pytest.UsageError(f"{item.nodeid} needs {name}, which is not set")
                item.add_marker(pytest.mark.skip(reason=f"needs {name}"))


def base_config(**overrides) -> dict:
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": TEST_DATABASE_URL,
        "SECRET_KEY": "test-secret",
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "ERP_FAILURE_RATE": 0.0,
        # One round instead of scrypt's cost: hashing is most of what a fixture spends otherwise.
        # test_passwords_are_stored_as_salted_hashes_of_a_current_algorithm guards the default.
        "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1",
        **FAST_DELAYS,
    }
    config.update(overrides)
    return config


def _server_admin():
    """The PostgreSQL server of the test database, outside any transaction."""
    server = make_url(TEST_DATABASE_URL).set(database="postgres")
    return create_engine(server, isolation_level="AUTOCOMMIT")


def pytest_sessionstart(session):
    if ON_POSTGRES and WORKER:
        name = make_url(TEST_DATABASE_URL).database
        admin = _server_admin()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            conn.execute(text(f"CREATE DATABASE {name}"))
        admin.dispose()


def pytest_sessionfinish(session):
    if ON_POSTGRES and WORKER:
        admin = _server_admin()
        with admin.connect() as conn:
            name = make_url(TEST_DATABASE_URL).database
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(autouse=True)
def _alone_if_marked(request, tmp_path_factory):
    """A test marked ``alone`` (it restarts a service every worker shares) holds the workers'
    lock exclusively; every other test holds it shared, so none runs beside one marked alone."""
    import fcntl

    shared_folder = tmp_path_factory.getbasetemp().parent
    with open(shared_folder / "lote-workers.lock", "a") as lock:
        alone = request.node.get_closest_marker("alone") is not None
        fcntl.flock(lock, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def _schema():
    """Builds the schema once per run with the real migration."""
    from flask_migrate import upgrade

    from webapp import create_app
    from webapp.extensions import db

    app = create_app(base_config())
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade()
    return True


def _empty_tables(db) -> None:
    """Deletes every row and starts the ids again (deleting is much faster than TRUNCATE on the
    small tables a test leaves)."""
    # The simulated authority's books, kept in a table of its own (webapp/authority.py).
    db.session.execute(text("DELETE FROM authority_runs"))
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    # The status counts go last: deleting the rows they count runs the triggers.
    tables.remove("status_counts")
    for name in [*tables, "status_counts"]:
        db.session.execute(text(f"DELETE FROM {name}"))
    if db.engine.dialect.name == "postgresql":
        db.session.execute(
            text(
                "SELECT setval(c.oid, 1, false) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = current_schema()"
            )
        )
    else:
        db.session.execute(text("DELETE FROM sqlite_sequence"))
    db.session.commit()


def assert_kept_totals_match_the_rows() -> None:
    """What Lote keeps instead of counting rows, the status counts and the invoice daily totals,
    equals what the rows add up to. Checked after every test, whatever it wrote."""
    from webapp.billing import status_counts
    from webapp.extensions import db
    from webapp.models import NO_CUSTOMER, Invoice, InvoiceDailyTotal, StatusCount

    db.session.rollback()
    for model in status_counts.COUNTED:
        kept = db.session.execute(
            select(StatusCount.status, func.sum(StatusCount.delta))
            .where(StatusCount.table_name == model.__tablename__)
            .group_by(StatusCount.status)
        ).all()
        counted = db.session.execute(select(model.status, func.count()).group_by(model.status))
        assert {status: n for status, n in kept if n} == {
            status.value: n for status, n in counted
        }, f"status counts of {model.__tablename__}"
    kept_keys = (
        InvoiceDailyTotal.issue_date,
        InvoiceDailyTotal.receipt_book,
        InvoiceDailyTotal.customer_id,
    )
    kept = db.session.execute(
        select(*kept_keys, InvoiceDailyTotal.invoice_count, InvoiceDailyTotal.total_amount)
        .where(InvoiceDailyTotal.invoice_count != 0)
        .order_by(*kept_keys)
    ).all()
    keys = (
        Invoice.issue_date,
        Invoice.receipt_book,
        func.coalesce(Invoice.customer_id, NO_CUSTOMER),
    )
    counted = db.session.execute(
        select(*keys, func.count(), func.sum(Invoice.amount)).group_by(*keys).order_by(*keys)
    ).all()
    assert [tuple(row) for row in kept] == [tuple(row) for row in counted], "daily totals"


class SharedTemplateCache(BytecodeCache):
    """Compiled templates kept for the whole run: every test builds apps of its own, and each
    app's Jinja environment would otherwise compile every template it renders again."""

    def __init__(self):
        self.compiled = {}

    def load_bytecode(self, bucket):
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket):
        self.compiled[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CACHE = SharedTemplateCache()


class IsolatedClient(FlaskClient):
    """A test client whose requests do not inherit what earlier requests cached. The app fixture
    keeps one app context open for the whole test, and requests reuse it, so the signed-in user
    and the chosen language cached in ``g`` would otherwise leak from one request to the next."""

    def open(self, *args, **kwargs):
        if has_app_context():
            for name in ("_login_user", "user", "_flask_babel"):
                g.pop(name, None)
        return super().open(*args, **kwargs)


# The app without overrides, built once per test process and handed to every test: building an
# app is much of what a short test costs. Each test gets it back with its configuration, its
# extensions and the systems it reaches (the simulated authority and ERP) as built.
_SHARED_APP = []


@pytest.fixture
def make_app(_schema):
    """Builds an app on the test database; every test starts from empty tables and an
    in-process queue (immediate mode), unless it runs a real consumer. The first app a test asks
    for without overrides is the shared one; any other is built for the test."""
    from webapp import connect_services, create_app
    from webapp.extensions import db, huey

    apps = []

    def build(**overrides):
        app = create_app(base_config(**overrides))
        app.test_client_class = IsolatedClient
        app.jinja_env.bytecode_cache = TEMPLATE_CACHE
        return app

    def factory(**overrides):
        if not overrides and unused:
            return unused.pop()
        apps.append(build(**overrides))
        return apps[-1]

    huey.immediate = True
    if not _SHARED_APP:
        _SHARED_APP.append(build())
    shared = _SHARED_APP[0]
    config, extensions = dict(shared.config), dict(shared.extensions)
    unused = [shared]
    with shared.app_context():
        _empty_tables(db)
    yield factory
    huey.immediate = False
    try:
        with shared.app_context():
            # The pool checks a connection before handing it out (pool_pre_ping), so one that
            # a restart of PostgreSQL closed is replaced.
            assert_kept_totals_match_the_rows()
    finally:
        shared.config.clear()
        shared.config.update(config)
        shared.extensions.clear()
        shared.extensions.update(extensions)
        connect_services(shared)
        with shared.app_context():
            db.session.remove()
        for app in apps:
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


@pytest.fixture
def app(make_app):
    application = make_app()
    with application.app_context():
        yield application


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def users(app):
    """An admin, a clerk and a viewer, all with PASSWORD."""
    from webapp.billing import users as user_ops

    return {role: user_ops.create_user("tests", role, PASSWORD, role) for role in ROLES}


def csrf_token(client) -> str:
    """The CSRF token the sign-in page hands out to this client."""
    page = client.get("/login").get_data(as_text=True)
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def sign_in(client, username="clerk", password=PASSWORD, **kwargs):
    """Posts the sign-in form, with the CSRF token the sign-in page hands out when the app
    checks them."""
    data = {"username": username, "password": password}
    if client.application.config["WTF_CSRF_ENABLED"]:
        data["csrf_token"] = csrf_token(client)
    return client.post("/login", data=data, **kwargs)


def api_login(client, username="clerk", password=PASSWORD):
    return client.post("/api/auth/login", json={"username": username, "password": password})


def bearer_of(response) -> dict:
    """Bearer headers for the token a sign-in answer carries."""
    return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}


def bearer(client, username="clerk") -> dict:
    """Bearer headers for a fresh token of ``username``."""
    response = api_login(client, username)
    assert response.status_code == 200, response.get_json()
    return bearer_of(response)


class AuthActions:
    """The sign-in helpers above, bound to the test's client (flaskr's ``auth`` fixture)."""

    def __init__(self, client):
        self.client = client

    def login(self, username="clerk", password=PASSWORD, **kwargs):
        return sign_in(self.client, username, password, **kwargs)

    def logout(self):
        return self.client.post("/logout")

    def bearer(self, username="clerk") -> dict:
        return bearer(self.client, username)


@pytest.fixture
def auth(client, users):
    return AuthActions(client)


@pytest.fixture
def clerk(client, auth):
    """The test client, signed in as the clerk, with pages in English."""
    auth.login("clerk")
    client.post("/language", data={"lang": "en"})
    return client


@pytest.fixture
def token(auth):
    """Bearer headers for a role: ``token("clerk")``."""
    return auth.bearer


class MovableClock:
    """The app's clock in tests: the real time plus however far the test has moved it."""

    def __init__(self):
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@pytest.fixture
def move_clock():
    """Gives an app a clock the test moves forward: ``move_clock(app).advance(9)``."""

    def install(app) -> MovableClock:
        moved = MovableClock()
        app.extensions["lote.clock"] = moved
        return moved

    return install


ISSUER_CUIT = "30500010912"
# The factory's customers: numbers from 8000 to 8999 are unidentified consumers (Factura B from
# a Responsable Inscripto), every other number a Responsable Inscripto (Factura A).
CONSUMERS = range(8000, 9000)


def customer_cuit(customer_id: int) -> str:
    """A valid CUIT of its own for each factory customer."""
    from stdnum.ar import cuit

    body = f"30{customer_id:08d}"
    return body + cuit.calc_check_digit(body)


class RecordingAuthority:
    """The app's simulated authority, keeping every authorization request it is sent; fails
    unanswered the calls numbered in ``fail_on`` (1 is the first)."""

    def __init__(self, app, fail_on=()):
        self.inner = app.extensions["lote.cae"]
        self.requests = []
        self.fail_on = set(fail_on)
        app.extensions["lote.cae"] = self

    def authorize(self, request):
        from webapp.billing.cae import CaeUnavailable

        self.requests.append(request)
        if len(self.requests) in self.fail_on:
            raise CaeUnavailable("The tax authority (CAE) did not answer")
        return self.inner.authorize(request)

    @property
    def calls(self) -> list[int]:
        return [request.cant_reg for request in self.requests]

    def __getattr__(self, name):
        return getattr(self.inner, name)


@dataclass
class Factory:
    """Builds billing records through the domain, so they obey every rule. The issuer is a
    Responsable Inscripto with points of sale 1 to 9, set before the first service."""

    def issuer(self, iva_condition="responsable-inscripto"):
        from webapp.billing import issuer

        return issuer.set_issuer(
            "tests", legal_name="Lote Logística SA", cuit=ISSUER_CUIT,
            iva_condition=iva_condition, address="Av. Corrientes 1234, CABA",
            iibb_number="901-123456-7", points_of_sale=list(range(1, 10)),
        )  # fmt: skip

    def customer(self, customer_id=1001, consumer=None):
        """A complete customer: an unidentified Consumidor Final (a ``consumer``, by default the
        numbers in CONSUMERS), else a Responsable Inscripto with a CUIT of its own."""
        from webapp.billing import customers

        if customer_id in CONSUMERS if consumer is None else consumer:
            fields = {"doc_type": 99, "iva_condition": 5}
        else:
            fields = {"doc_type": 80, "doc_number": customer_cuit(customer_id), "iva_condition": 1}
        return customers.create_customer(
            "tests", customer_id=customer_id, legal_name=f"Cliente {customer_id}", **fields
        )

    # Services are dated before the issue-date window, so a batch may be issued on any day of it.
    def service(
        self,
        amount="1500.00",
        customer_id=1001,
        days_ago=12,
        description="Flete",
        complete=True,
        vat_rate=None,
    ):
        """A service; its customer, when new, is complete (see ``customer``) so that it can be
        invoiced, unless ``complete=False`` leaves it as a service names it."""
        from webapp.billing import clock, issuer, services
        from webapp.extensions import db
        from webapp.models import Customer

        if issuer.get_issuer() is None:
            self.issuer()
        if complete and db.session.get(Customer, customer_id) is None:
            self.customer(customer_id)
        return services.create_service(
            "tests",
            service_date=clock.today() - timedelta(days=days_ago),
            customer_id=customer_id,
            amount=Decimal(amount),
            description=description,
            vat_rate=vat_rate,
        )

    def pendings(self, count=3, amount="1210.00", customer_id=1001):
        from webapp.billing import services

        ids = [self.service(amount=amount, customer_id=customer_id).id for _ in range(count)]
        return services.send_to_billing("tests", ids)

    def bulk_pendings(self, count: int) -> list[int]:
        """``count`` pendings made set-based: services inserted at once, then sent to billing."""
        from sqlalchemy import insert, select

        from webapp.billing import clock, issuer, services
        from webapp.extensions import db
        from webapp.models import Customer, Service, ServiceStatus, utcnow

        if issuer.get_issuer() is None:
            self.issuer()
        for customer_id in range(1000, 1007):
            if db.session.get(Customer, customer_id) is None:
                self.customer(customer_id)
        now, service_date = utcnow(), clock.today() - timedelta(days=12)
        first_new = (db.session.scalar(select(func.max(Service.id))) or 0) + 1
        db.session.execute(
            insert(Service),
            [
                {
                    "service_date": service_date,
                    "customer_id": 1000 + n % 7,
                    "amount": Decimal("121.00") + n,
                    "description": "Flete",
                    "status": ServiceStatus.CREATED,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ],
        )
        db.session.commit()
        ids = db.session.scalars(
            select(Service.id).where(Service.id >= first_new).order_by(Service.id)
        ).all()
        return [p.id for p in services.send_to_billing("tests", ids)]

    def batch(self, pendings=None, receipt_book="A-0001", issue_date=None, process=True):
        from webapp.billing import batches, clock, invoicing

        pendings = pendings or self.pendings()
        batch = batches.create_batch(
            "tests", issue_date or clock.today(), receipt_book, [p.id for p in pendings]
        )
        if process:
            invoicing.process_batch(batch.id, final_attempt=True)
        return batch


@pytest.fixture
def factory(app):
    return Factory()


class Consumer:
    """A real ``huey_consumer`` process on the test database and queue."""

    def __init__(self, **env):
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - open while the process runs
            prefix="lote-consumer-", suffix=".log", delete=False
        )
        environment = {**os.environ, **{k: str(v) for k, v in {**FAST_DELAYS, **env}.items()}}
        consumer = Path(sys.executable).parent / "huey_consumer"
        self.process = subprocess.Popen(
            [str(consumer), "webapp.tasks.huey", "-w", "2", "-k", "thread", "-d", "0.1"],
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        """SIGKILL: the consumer dies mid-task, as in a crash."""
        self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self) -> None:
        """SIGTERM: the consumer shuts down; ``wait`` for it to be gone."""
        if self.process.poll() is None:
            self.process.terminate()

    def wait(self) -> None:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()

    def stop(self) -> None:
        self.terminate()
        self.wait()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def discard_log(self) -> None:
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture
def live_queue(app):
    """The real queue (Redis) instead of immediate mode; emptied before the test."""
    from webapp.extensions import huey

    huey.immediate = False
    huey.flush()
    yield huey
    huey.flush()


@pytest.fixture
def start_consumer(live_queue):
    """Starts consumer processes (``start_consumer(CAE_FAILURE_RATE=1)``); all stopped after."""
    started = []

    def start(**env):
        consumer = Consumer(**env)
        started.append(consumer)
        return consumer

    yield start
    # All at once: a consumer takes a second or two to exit.
    for consumer in started:
        consumer.terminate()
    for consumer in started:
        consumer.wait()
        print(f"--- consumer log ---\n{consumer.output()}")  # shown when the test fails
        consumer.discard_log()


def wait_for(predicate, timeout=30.0, interval=0.1, message="condition"):
    """Polls ``predicate`` until it returns a truthy value, or fails the test after ``timeout``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout}s waiting for {message}")
