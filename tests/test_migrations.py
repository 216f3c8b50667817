"""The migrations build the schema from empty and remove it again, on PostgreSQL."""

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
        functions = conn.scalars(
            text("SELECT proname FROM pg_proc WHERE proname = 'count_statuses'")
        )
        return set(names) | ({"count_statuses()"} if functions.all() else set())


def test_upgrade_builds_the_schema_and_downgrade_removes_it():
    server = make_url(os.environ["TEST_DATABASE_URL"])
    name = f"lote_migration_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}"))
    url = server.set(database=name)
    engine = create_engine(url)
    try:
        flask_db(url.render_as_string(hide_password=False), "upgrade")
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
        flask_db(url.render_as_string(hide_password=False), "downgrade", "base")
        assert set(inspect(engine).get_table_names()) == {"alembic_version"}
        assert counting_triggers(engine) == set()
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
