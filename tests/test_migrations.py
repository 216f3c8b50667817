"""The migrations build the schema from empty, start what they add from the rows already stored,
and remove it all again, on PostgreSQL."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

pytestmark = pytest.mark.postgres


def flask_db(database_url: str, *args: str) -> None:
    flask = Path(sys.executable).parent / "flask"
    subprocess.run(
        [str(flask), "--app", "webapp", "db", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        check=True,
        capture_output=True,
    )


def counting_triggers(engine) -> set[str]:
    """The user triggers in the database, and the function they run if it is still there."""
    with engine.connect() as conn:
        names = conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        function = conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname='count_statuses'"))
        return set(names) | ({"count_statuses()"} if function else set())


@pytest.fixture
def empty_database():
    """A database of its own, created empty and dropped afterwards: its URL and an engine."""
    server = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"lote_migration_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name)
    engine = create_engine(url)
    try:
        yield url.render_as_string(hide_password=False), engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()


def test_upgrade_builds_the_schema_and_downgrade_removes_it(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade")
    tables = set(inspect(engine).get_table_names())
    assert {
        "services",
        "billing_pendings",
        "billing_batches",
        "invoices",
        "receipt_books",
    } <= tables
    indexes = {i["name"]: i for i in inspect(engine).get_indexes("billing_pendings")}
    assert indexes["uq_billing_pendings_one_pending_per_service"]["unique"]
    assert {
        f"{table}_count_{event}"
        for table in ("services", "billing_pendings")
        for event in ("insert", "update", "delete", "truncate")
    } | {"count_statuses()"} == counting_triggers(engine)
    flask_db(url, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    assert counting_triggers(engine) == set()


def test_the_status_counts_start_from_the_rows_already_stored(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0002")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO services (service_date, customer_id, amount, description, "
                "status, created_at, updated_at) SELECT current_date, 1001, 10, '', "
                "CASE WHEN n <= 4 THEN 'SENT_TO_BILL' ELSE 'CREATED' END, now(), now() "
                "FROM generate_series(1, 7) AS n"
            )
        )
        conn.execute(
            text(
                "INSERT INTO billing_pendings (service_id, customer_id, service_date, "
                "amount, status, created_at, updated_at) SELECT id, customer_id, "
                "service_date, amount, 'PENDING', now(), now() FROM services "
                "WHERE status = 'SENT_TO_BILL'"
            )
        )
    flask_db(url, "upgrade")
    with engine.connect() as conn:
        counts = conn.execute(
            text(
                "SELECT table_name, status, sum(delta) FROM status_counts "
                "GROUP BY table_name, status ORDER BY table_name, status"
            )
        ).all()
    assert [tuple(row) for row in counts] == [
        ("billing_pendings", "PENDING", 4),
        ("services", "CREATED", 3),
        ("services", "SENT_TO_BILL", 4),
    ]


def test_customers_start_incomplete_from_the_ids_services_already_name(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO services (service_date, customer_id, amount, description, "
                "status, created_at, updated_at) SELECT current_date, 1000 + n % 3, 10, '', "
                "'CREATED', now(), now() FROM generate_series(1, 7) AS n"
            )
        )
    flask_db(url, "upgrade", "0009")
    with engine.connect() as conn:
        customers = conn.execute(
            text(
                "SELECT id, legal_name, doc_type, doc_number, iva_condition, incomplete "
                "FROM customers ORDER BY id"
            )
        ).all()
    assert [tuple(row) for row in customers] == [
        (1000, "Customer 1000", 99, "0", None, True),
        (1001, "Customer 1001", 99, "0", None, True),
        (1002, "Customer 1002", 99, "0", None, True),
    ]
