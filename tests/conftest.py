"""Test fixtures. The suite runs on PostgreSQL and Redis when TEST_DATABASE_URL and REDIS_URL are
set (CI sets both), and on SQLite with an in-memory queue otherwise."""

import os
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from sqlalchemy import func, select, text

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
ON_POSTGRES = bool(TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"))
ON_REDIS = bool(os.environ.get("REDIS_URL"))
if not TEST_DATABASE_URL:
    _tmp = Path(tempfile.mkdtemp(prefix="lote-tests-"))
    TEST_DATABASE_URL = f"sqlite:///{_tmp / 'lote.sqlite3'}"
    os.environ.setdefault("LOTE_INSTANCE_DIR", str(_tmp))
# The consumer processes that end-to-end tests start read the same database.
os.environ["DATABASE_URL"] = TEST_DATABASE_URL

PASSWORD = "correct-horse-9"
ROLES = ("admin", "clerk", "viewer")


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
    }
    config.update(overrides)
    return config


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
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        # The status counts go last: deleting the rows they count runs the triggers.
        tables.remove("status_counts")
        for name in [*tables, "status_counts"]:
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()


def assert_kept_totals_match_the_rows() -> None:
    """What Lote keeps instead of counting rows, the status counts and the invoice daily totals,
    equals what the rows add up to. Checked after every test, whatever it wrote."""
    from webapp.billing import status_counts
    from webapp.extensions import db
    from webapp.models import Invoice, InvoiceDailyTotal, StatusCount

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
    keys = (Invoice.issue_date, Invoice.receipt_book, Invoice.customer_id)
    counted = db.session.execute(
        select(*keys, func.count(), func.sum(Invoice.amount)).group_by(*keys).order_by(*keys)
    ).all()
    assert [tuple(row) for row in kept] == [tuple(row) for row in counted], "daily totals"


class IsolatedClient(FlaskClient):
    """A test client whose requests do not inherit what earlier requests cached. The app fixture
    keeps one app context open for the whole test, and requests reuse it, so the signed-in user
    and the chosen language cached in ``g`` would otherwise leak from one request to the next."""

    def open(self, *args, **kwargs):
        if has_app_context():
            for name in ("_login_user", "user", "_flask_babel"):
                g.pop(name, None)
        return super().open(*args, **kwargs)


@pytest.fixture
def make_app(_schema):
    """Builds an app on the test database; every test starts from empty tables and an
    in-process queue (immediate mode), unless it runs a real consumer."""
    from webapp import create_app
    from webapp.extensions import db, huey

    apps = []

    def factory(**overrides):
        app = create_app(base_config(**overrides))
        app.test_client_class = IsolatedClient
        apps.append(app)
        return app

    huey.immediate = True
    first = factory()
    with first.app_context():
        _empty_tables(db)
    yield factory
    huey.immediate = False
    try:
        with first.app_context():
            # Fresh connections: a test may have restarted PostgreSQL under the pooled ones.
            db.engine.dispose()
            assert_kept_totals_match_the_rows()
    finally:
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


class AuthActions:
    def __init__(self, client):
        self.client = client

    def login(self, username="clerk", password=PASSWORD):
        return self.client.post("/login", data={"username": username, "password": password})

    def logout(self):
        return self.client.post("/logout")


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
def token(client, users):
    """Bearer headers for a role: ``token("clerk")``."""

    def headers(role="clerk"):
        response = client.post("/api/auth/login", json={"username": role, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return {"Authorization": f"Bearer {response.get_json()['accessToken']}"}

    return headers


@dataclass
class Factory:
    """Builds billing records through the domain, so they obey every rule."""

    def service(
        self, amount="1500.00", customer_id=1001, days_ago=3, description="Flete", complete=True
    ):
        """A service; its customer, when new, is complete (an unidentified Consumidor Final) so
        that it can be invoiced, unless ``complete=False`` leaves it as a service names it."""
        from webapp.billing import clock, customers, services
        from webapp.extensions import db
        from webapp.models import Customer

        if complete and db.session.get(Customer, customer_id) is None:
            customers.create_customer(
                "tests", customer_id=customer_id, legal_name=f"Cliente {customer_id}",
                doc_type=99, iva_condition=5,
            )  # fmt: skip
        return services.create_service(
            "tests",
            service_date=clock.today() - timedelta(days=days_ago),
            customer_id=customer_id,
            amount=Decimal(amount),
            description=description,
        )

    def pendings(self, count=3, amount="1210.00", customer_id=1001):
        from webapp.billing import services

        ids = [self.service(amount=amount, customer_id=customer_id).id for _ in range(count)]
        return services.send_to_billing("tests", ids)

    def bulk_pendings(self, count: int) -> list[int]:
        """``count`` pendings made set-based: services inserted at once, then sent to billing."""
        from sqlalchemy import insert, select

        from webapp.billing import clock, services
        from webapp.extensions import db
        from webapp.models import Service, ServiceStatus, utcnow

        now, service_date = utcnow(), clock.today()
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
        ids = db.session.scalars(select(Service.id).where(Service.id >= first_new)).all()
        return [p.id for p in services.send_to_billing("tests", ids)]

    def batch(self, pendings=None, receipt_book="A-0001", issue_date=None, process=True):
        from webapp.billing import batches, clock

        pendings = pendings or self.pendings()
        batch = batches.create_batch(
            "tests", issue_date or clock.today(), receipt_book, [p.id for p in pendings]
        )
        if process:
            batches.process_batch(batch.id, final_attempt=True)
        return batch


@pytest.fixture
def factory(app):
    return Factory()


class Consumer:
    """A real ``huey_consumer`` process on the test database and queue."""

    def __init__(self, **env):
        import subprocess
        import sys

        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - open while the process runs
            prefix="lote-consumer-", suffix=".log", delete=False
        )
        environment = {**os.environ, **{k: str(v) for k, v in env.items()}}
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.kill()

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")


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
    for consumer in started:
        consumer.stop()
        print(f"--- consumer log ---\n{consumer.output()}")  # shown when the test fails


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
