"""The migrations build the schema from empty, start what they add from the rows already stored,
rebuild tables on SQLite without losing a row, a count or a trigger, and remove it all again,
on SQLite and on PostgreSQL."""

import os
import subprocess
import sys
import tempfile
import traceback
import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from webapp.billing.status_counts import count_trigger_names

NOW = datetime(2026, 11, 30, 12, 0)


def flask_db(database_url: str, *args: str) -> None:
    """Runs ``flask db ...`` on ``database_url`` in a process of its own, as a deployment does;
    a failure raises CalledProcessError with the command's output as its stderr. The process is
    forked from this one, which has imported Lote and its libraries already: importing them is
    most of what starting an interpreter for each step would cost."""
    factory = f"webapp:create_app({{'SQLALCHEMY_DATABASE_URI': {database_url!r}}})"
    command = ["flask", "--app", factory, "db", *args]
    with tempfile.TemporaryFile() as output:
        child = os.fork()
        if child == 0:
            os._exit(run_in_this_process(command, output.fileno()))
        _, status = os.waitpid(child, 0)
        output.seek(0)
        returncode = os.waitstatus_to_exitcode(status)
        if returncode != 0:
            raise subprocess.CalledProcessError(returncode, command, stderr=output.read())


def run_in_this_process(command: list[str], output: int) -> int:
    """The forked child: runs the flask command writing to ``output``; its exit status."""
    from flask.cli import main

    sys.stdout = sys.stderr = open(output, "w", closefd=False)  # noqa: SIM115 - until exit
    sys.argv = command
    try:
        main()
        return 0
    except SystemExit as exit:
        return exit.code if isinstance(exit.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.stdout.flush()


def counting_triggers(engine) -> set[str]:
    """The status-count triggers in the database, and on PostgreSQL the function they run if it
    is still there."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.scalars(text("SELECT name FROM sqlite_master WHERE type='trigger'"))
            return {name for name in names if "_count_" in name}
        names = conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
        function = conn.scalar(text("SELECT count(*) FROM pg_proc WHERE proname='count_statuses'"))
        counting = {name for name in names if "_count_" in name}
        return counting | ({"count_statuses()"} if function else set())


def expected_triggers(engine) -> set[str]:
    names = count_trigger_names(engine.dialect.name)
    return names | {"count_statuses()"} if engine.dialect.name == "postgresql" else names


def postgresql_database():
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


def sqlite_database():
    with tempfile.TemporaryDirectory(prefix="lote-migration-") as folder:
        url = f"sqlite:///{Path(folder) / 'lote.sqlite3'}"
        engine = create_engine(url)
        try:
            yield url, engine
        finally:
            engine.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite"),
        pytest.param("postgresql", marks=pytest.mark.postgres),
    ]
)
def empty_database(request):
    """A database of its own, created empty and dropped afterwards: its URL and an engine."""
    yield from (postgresql_database if request.param == "postgresql" else sqlite_database)()


def store_services_and_pendings(engine, created: int, sent: int) -> None:
    """Services in CREATED and in SENT_TO_BILL, each of the latter with a PENDING pending, as
    rows written before the migration under test."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO services (service_date, customer_id, amount, description, "
                "status, created_at, updated_at) VALUES (:day, 1001, 10, '', :status, :now, :now)"
            ),
            [
                {"day": date(2026, 11, 27), "status": status, "now": NOW}
                for status in ["SENT_TO_BILL"] * sent + ["CREATED"] * created
            ],
        )
        conn.execute(
            text(
                "INSERT INTO billing_pendings (service_id, customer_id, service_date, "
                "amount, status, created_at, updated_at) SELECT id, customer_id, "
                "service_date, amount, 'PENDING', created_at, updated_at FROM services "
                "WHERE status = 'SENT_TO_BILL'"
            )
        )


def kept_counts(engine) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT table_name, status, sum(delta) FROM status_counts "
                "GROUP BY table_name, status HAVING sum(delta) <> 0 ORDER BY table_name, status"
            )
        )
        return [tuple(row) for row in rows]


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
    assert counting_triggers(engine) == expected_triggers(engine)
    flask_db(url, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) - {"sqlite_sequence"} == {"alembic_version"}
    assert counting_triggers(engine) == set()


def test_the_status_counts_start_from_the_rows_already_stored(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0002")
    store_services_and_pendings(engine, created=3, sent=4)
    flask_db(url, "upgrade")
    assert kept_counts(engine) == [
        ("billing_pendings", "PENDING", 4),
        ("services", "CREATED", 3),
        ("services", "SENT_TO_BILL", 4),
    ]


def test_rebuilding_the_counted_tables_keeps_their_rows_counts_and_triggers(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    store_services_and_pendings(engine, created=2, sent=3)
    counts = kept_counts(engine)
    for steps in (["upgrade"], ["downgrade", "0003"], ["upgrade"]):
        flask_db(url, *steps)
        assert counting_triggers(engine) == expected_triggers(engine), steps
        assert kept_counts(engine) == counts, steps
    with engine.begin() as conn:
        conn.execute(text("UPDATE services SET status = 'CREATED' WHERE status = 'SENT_TO_BILL'"))
    assert dict(((t, s), n) for t, s, n in kept_counts(engine))[("services", "CREATED")] == 5


def test_an_id_deleted_before_the_upgrade_is_not_given_to_a_new_service(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    store_services_and_pendings(engine, created=3, sent=0)
    with engine.begin() as conn:
        last = conn.scalar(text("SELECT max(id) FROM services"))
        conn.execute(text("DELETE FROM services WHERE id = :id"), {"id": last})
        conn.execute(
            text(
                "INSERT INTO audit_events (occurred_at, actor, action, entity_type, entity_id, "
                "detail) VALUES (:now, 'tests', 'deleted', 'service', :id, '')"
            ),
            {"now": NOW, "id": last},
        )
    flask_db(url, "upgrade")
    store_services_and_pendings(engine, created=1, sent=0)
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT max(id) FROM services")) == last + 1


def insert_users(engine, *names: str) -> None:
    from werkzeug.security import generate_password_hash

    password_hash = generate_password_hash("correct-horse-9")
    with engine.begin() as conn:
        for name in names:
            conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, active, created_at) "
                    "VALUES (:name, :hash, 'clerk', true, :now)"
                ),
                {"name": name, "hash": password_hash, "now": NOW},
            )


def test_users_stored_before_the_sign_in_key_sign_in_by_any_case_of_their_name(empty_database):
    from tests.conftest import base_config
    from webapp import create_app

    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    insert_users(engine, "Ana.Perez", "José")

    flask_db(url, "upgrade")

    with engine.connect() as conn:
        keys = conn.execute(text("SELECT username, username_key FROM users ORDER BY id")).all()
    assert [tuple(row) for row in keys] == [("Ana.Perez", "ana.perez"), ("José", "josé")]
    app = create_app(base_config(SQLALCHEMY_DATABASE_URI=url))
    client = app.test_client()
    for typed in ("Ana.Perez", "ana.perez", "JOSÉ"):
        answer = client.post(
            "/api/auth/login", json={"username": typed, "password": "correct-horse-9"}
        )
        assert answer.status_code == 200, typed
    with app.app_context():
        from webapp.extensions import db

        db.engine.dispose()


def test_the_upgrade_stops_and_names_two_users_that_differ_only_in_case(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    insert_users(engine, "admin", "Admin")

    with pytest.raises(subprocess.CalledProcessError) as failed:
        flask_db(url, "upgrade")

    assert "Users 'admin' and 'Admin' differ only in case" in failed.value.stderr.decode()
    with engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0003"


def test_customers_start_incomplete_from_the_ids_services_already_name(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0003")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO services (service_date, customer_id, amount, description, "
                "status, created_at, updated_at) VALUES (:day, :customer, 10, '', 'CREATED', "
                ":now, :now)"
            ),
            [{"day": date(2026, 11, 27), "customer": 1000 + n % 3, "now": NOW} for n in range(7)],
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


def store_book_with_an_invoice(conn, code: str, number: int) -> None:
    """A receipt book spelled ``code`` whose batch issued one invoice, as rows of revision 0009."""
    conn.execute(
        text(
            "INSERT INTO receipt_books (code, last_number, last_issue_date, created_at) "
            "VALUES (:code, :number, :day, :now)"
        ),
        {"code": code, "number": number, "day": date(2026, 11, 28), "now": NOW},
    )
    service_id = conn.scalar(
        text(
            "INSERT INTO services (service_date, customer_id, amount, description, status, "
            "created_at, updated_at) VALUES (:day, 1001, 121, '', 'INVOICED', :now, :now) "
            "RETURNING id"
        ),
        {"day": date(2026, 11, 27), "now": NOW},
    )
    pending_id = conn.scalar(
        text(
            "INSERT INTO billing_pendings (service_id, customer_id, service_date, amount, status, "
            "created_at, updated_at) VALUES (:service, 1001, :day, 121, 'INVOICED', :now, :now) "
            "RETURNING id"
        ),
        {"service": service_id, "day": date(2026, 11, 27), "now": NOW},
    )
    batch_id = conn.scalar(
        text(
            "INSERT INTO billing_batches (issue_date, receipt_book, status, pending_count, "
            "attempts, progress, total_invoices, total_amount, created_by, created_at, "
            "updated_at) VALUES (:day, :code, 'PROCESSED', 1, 1, 100, 1, 121, 'tests', :now, "
            ":now) RETURNING id"
        ),
        {"day": date(2026, 11, 28), "code": code, "now": NOW},
    )
    conn.execute(
        text(
            "INSERT INTO invoices (invoice_number, receipt_book, sequence_number, cae, "
            "cae_due_date, issue_date, amount, net_amount, vat_amount, customer_id, service_id, "
            "service_date, pending_id, batch_id, created_at) VALUES (:number_text, :code, "
            ":number, :cae, :day, :day, 121, 100, 21, 1001, :service, :day, :pending, :batch, "
            ":now)"
        ),
        {
            "number_text": f"{code}-{number:08d}",
            "code": code,
            "number": number,
            "cae": f"1{number:013d}",
            "day": date(2026, 11, 28),
            "service": service_id,
            "pending": pending_id,
            "batch": batch_id,
            "now": NOW,
        },
    )


def test_spellings_of_one_point_of_sale_merge_into_one_book_keeping_issued_numbers(
    empty_database,
):
    url, engine = empty_database
    flask_db(url, "upgrade", "0009")
    with engine.begin() as conn:
        store_book_with_an_invoice(conn, "A-00001", 7)
        conn.execute(
            text(
                "INSERT INTO receipt_books (code, last_number, created_at) "
                "VALUES ('A-0001', 0, :now)"
            ),
            {"now": NOW},
        )
    flask_db(url, "upgrade")
    with engine.connect() as conn:
        books = conn.execute(
            text("SELECT code, point_of_sale, document_type, last_number FROM receipt_books")
        ).all()
        invoice = conn.execute(
            text(
                "SELECT invoice_number, receipt_book, point_of_sale, document_type, vat_rate, "
                "receiver_name FROM invoices"
            )
        ).one()
        batch = conn.execute(text("SELECT receipt_book, point_of_sale FROM billing_batches")).one()
    assert [tuple(book) for book in books] == [("A-0001", 1, 1, 7)]
    assert tuple(invoice) == ("A-00001-00000007", "A-0001", 1, 1, "21", "Customer 1001")
    assert tuple(batch) == ("A-0001", 1)


def test_the_upgrade_stops_and_names_two_spellings_that_both_hold_invoices(empty_database):
    url, engine = empty_database
    flask_db(url, "upgrade", "0009")
    with engine.begin() as conn:
        store_book_with_an_invoice(conn, "B-00002", 1)
        store_book_with_an_invoice(conn, "B-0002", 2)
    with pytest.raises(subprocess.CalledProcessError) as stopped:
        flask_db(url, "upgrade")
    assert b"receipt books B-00002 and B-0002 name one book (B-0002)" in stopped.value.stderr


def invoice_table_shape(engine) -> tuple:
    """The invoices table's indexes, unique and foreign keys, and checks, by name."""
    found = inspect(engine)
    indexes = found.get_indexes("invoices")
    return (
        {(i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in indexes},
        {(u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints("invoices")},
        {(f["name"], tuple(f["constrained_columns"])) for f in found.get_foreign_keys("invoices")},
        {c["name"] for c in found.get_check_constraints("invoices")},
    )


def test_invoices_issued_outside_lote_keep_the_tables_indexes_and_block_the_downgrade(
    empty_database,
):
    url, engine = empty_database
    flask_db(url, "upgrade", "0011")
    indexes, uniques, foreign_keys, checks = invoice_table_shape(engine)
    flask_db(url, "upgrade", "0012")
    assert invoice_table_shape(engine) == (
        indexes,
        uniques,
        foreign_keys,
        checks | {"ck_invoices_issued_by_lote_from_a_pending"},
    )
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO receipt_books (code, point_of_sale, document_type, last_number, "
                "created_at) VALUES ('A-0001', 1, 1, 3, :now)"
            ),
            {"now": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO invoices (invoice_number, receipt_book, sequence_number, cae, "
                "cae_due_date, issue_date, amount, net_amount, vat_amount, point_of_sale, "
                "document_type, payment_due_date, receiver_name, receiver_doc_type, "
                "receiver_doc_number, service_date, issued_outside, created_at) VALUES "
                "('A-0001-00000003', 'A-0001', 3, '10000100000003', :day, :day, 100, 100, 0, "
                "1, 1, :day, 'Issued outside Lote', 99, '0', :day, true, :now)"
            ),
            {"day": date(2026, 11, 28), "now": NOW},
        )
    with pytest.raises(subprocess.CalledProcessError) as stopped:
        flask_db(url, "downgrade", "0011")
    assert b"1 invoices were issued outside Lote" in stopped.value.stderr
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM invoices"))
    flask_db(url, "downgrade", "0011")
    assert invoice_table_shape(engine) == (indexes, uniques, foreign_keys, checks)


@pytest.fixture
def empty_postgresql_database():
    yield from postgresql_database()


@pytest.mark.postgres
def test_references_are_checked_per_statement_on_postgresql_and_by_foreign_keys_before(
    empty_postgresql_database,
):
    url, engine = empty_postgresql_database
    per_row = {
        ("invoices", "batch_id"),
        ("invoices", "receipt_book"),
        ("invoices", "pending_id"),
        ("invoices", "service_id"),
        ("billing_pendings", "batch_id"),
    }

    def foreign_keys() -> set[tuple]:
        found = inspect(engine)
        return {
            (table, key["constrained_columns"][0])
            for table in ("invoices", "billing_pendings")
            for key in found.get_foreign_keys(table)
        }

    def reference_triggers() -> set[str]:
        with engine.connect() as conn:
            names = conn.scalars(text("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"))
            return {name for name in names if "_count_" not in name}

    flask_db(url, "upgrade")
    assert not foreign_keys() & per_row
    assert reference_triggers() == {
        *(
            f"{table}_references_{event}"
            for table in ("invoices", "billing_pendings")
            for event in ("insert", "update")
        ),
        *(
            f"{named}_named_by_invoices_{event}"
            for named in ("billing_batches", "receipt_books", "billing_pendings", "services")
            for event in ("delete", "key")
        ),
        "billing_batches_named_by_billing_pendings_delete",
        "billing_batches_named_by_billing_pendings_key",
    }
    flask_db(url, "downgrade", "0014")
    assert foreign_keys() >= per_row
    assert reference_triggers() == set()


def test_the_authoritys_vouchers_move_into_runs_and_back(empty_database):
    """Migration 0017: each book's consecutive vouchers become runs of at most 250, which the
    simulator answers from as before; the downgrade gives every voucher its own row again."""
    from webapp.authority import SimulatedAuthority

    url, engine = empty_database
    flask_db(url, "upgrade", "0016")
    numbers = [*range(1, 301), 305]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO authority_vouchers (pto_vta, cbte_tipo, cbte_nro, cbte_fch, "
                "doc_tipo, doc_nro, imp_total, cae, cae_fch_vto) VALUES (3, 6, :n, :day, 99, "
                "'0', 121.50, :cae, :due)"
            ),
            [
                {
                    "n": n,
                    "day": date(2026, 11, 30),
                    "cae": f"6000030{n:07d}",
                    "due": date(2026, 12, 10),
                }
                for n in numbers
            ],
        )
    flask_db(url, "upgrade")
    with engine.connect() as conn:
        runs = conn.execute(
            text("SELECT cbte_desde, cbte_hasta FROM authority_runs ORDER BY cbte_desde")
        ).all()
    assert [tuple(run) for run in runs] == [(1, 250), (251, 300), (305, 305)]
    authority = SimulatedAuthority(url)
    assert authority.last_authorized(3, 6) == 305
    record = authority.lookup(3, 6, 251)
    assert (record.cae, record.imp_total, record.cbte_fch) == (
        "60000300000251",
        Decimal("121.50"),
        date(2026, 11, 30),
    )
    assert authority.lookup(3, 6, 302) is None
    authority.engine.dispose()
    flask_db(url, "downgrade", "0016")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT cbte_nro FROM authority_vouchers ORDER BY 1")).scalars()
        assert list(kept) == numbers
