"""Operator commands: ``flask --app webapp create-user``, ``seed`` and ``recount``."""

import random
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import click
from flask import Flask, current_app
from sqlalchemy import Date, DateTime, bindparam, func, select, text

from webapp.billing import (
    batches,
    clock,
    erp,
    invoices,
    pendings,
    services,
    status_counts,
    users,
)
from webapp.billing.errors import DomainError
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingPending,
    PendingStatus,
    ReceiptBook,
    Role,
    Service,
    ServiceStatus,
    User,
    utcnow,
)

DEMO_PASSWORD = "lote-demo"
DEMO_USERS = [("admin", Role.ADMIN), ("clerk", Role.CLERK), ("auditor", Role.VIEWER)]
DEMO_CUSTOMERS = [1001, 1002, 1003, 1004, 1005, 1006]
DEMO_DESCRIPTIONS = [
    "Flete Buenos Aires - Rosario",
    "Distribución última milla CABA",
    "Almacenaje pallets (semana)",
    "Flete refrigerado Mendoza",
    "Cross-docking Zona Norte",
    "Retiro en depósito fiscal",
    "Envío express Córdoba",
    "Logística inversa devoluciones",
]
VOLUME_CUSTOMERS = 1000


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_command)
    app.cli.add_command(recount_command)
    app.cli.add_command(set_password_command)


def refusal(exc: DomainError) -> click.ClickException:
    """A domain refusal as the command's error: the message and each field's problem."""
    details = "; ".join(f"{d['field']} {d['message']}" for d in exc.details or [])
    return click.ClickException(f"{exc.message}{': ' + details if details else ''}")


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.CLERK.value)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a user; the password is prompted unless given with --password."""
    try:
        user = users.create_user("cli", username, password, role)
    except DomainError as exc:
        raise refusal(exc) from None
    click.echo(f"Created {user.role.value} {user.username}")


@click.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def set_password_command(username: str, password: str) -> None:
    """Give a user a new password (prompted unless given with --password); it ends the user's
    sessions and API tokens."""
    try:
        user = users.change_password("cli", username, password)
    except DomainError as exc:
        raise refusal(exc) from None
    click.echo(f"New password set for {user.username}; their sessions and tokens have ended")


@click.command("recount")
def recount_command() -> None:
    """Count the kept totals again from the rows: services and pendings per status, invoices
    per day. For after a data-only restore or a load that bypassed Lote's triggers or its
    invoicing; run it with the web app and the consumers stopped."""
    status_counts.recount()
    invoices.rebuild_daily_totals()
    click.echo("Recounted the status counts and the invoice daily totals")


@click.command("seed")
@click.option(
    "--services",
    "service_count",
    type=click.IntRange(min=1),
    help="Load this many services at volume (set-based SQL) instead of the demo data.",
)
@click.option(
    "--pendings",
    "pending_count",
    type=click.IntRange(min=0),
    default=0,
    help="How many of the new services are sent to billing (one pending each).",
)
@click.option(
    "--invoices",
    "invoice_count",
    type=click.IntRange(min=0),
    default=0,
    help="How many of the new pendings are invoiced, through real batches.",
)
@click.option(
    "--customers",
    type=click.IntRange(min=1),
    default=VOLUME_CUSTOMERS,
    show_default=True,
    help="How many customers the volume services are spread over.",
)
def seed_command(
    service_count: int | None, pending_count: int, invoice_count: int, customers: int
) -> None:
    """Load demo users and realistic demo data; running it again changes nothing.

    With --services N [--pendings M [--invoices K]] it loads volume instead, added to what is
    there: N services, M of them sent to billing, K of those invoiced in real batches."""
    if service_count is None and (pending_count or invoice_count):
        raise click.UsageError("--pendings and --invoices need --services")
    if pending_count > (service_count or 0):
        raise click.UsageError("--pendings cannot exceed --services")
    if invoice_count > pending_count:
        raise click.UsageError("--invoices cannot exceed --pendings")
    for username, role in DEMO_USERS:
        if not db.session.scalar(select(User.id).where(User.username == username)):
            users.create_user("seed", username, DEMO_PASSWORD, role.value)
    if service_count is not None:
        _seed_volume(service_count, pending_count, invoice_count, customers)
        return
    if db.session.scalar(select(func.count()).select_from(Service)):
        click.echo("Demo data already present; nothing changed.")
        return
    _seed_billing_flow()
    click.echo(f"Seeded demo data. Sign in as admin / {DEMO_PASSWORD} or clerk / {DEMO_PASSWORD}.")


def _seed_billing_flow() -> None:
    rng = random.Random(2026)
    today = clock.today()
    created = []
    for n in range(48):
        created.append(
            services.create_service(
                "seed",
                # Before the earliest demo batch's issue date: a batch refuses later services.
                service_date=today - timedelta(days=rng.randint(5, 30)),
                customer_id=DEMO_CUSTOMERS[n % len(DEMO_CUSTOMERS)],
                amount=Decimal(rng.randint(35_000, 2_500_000)) / 100,
                description=rng.choice(DEMO_DESCRIPTIONS),
            ).id
        )
    to_bill = created[:36]
    pending_ids = sorted(p.id for p in services.send_to_billing("seed", to_bill))
    processed = []
    for book, issue_date, chunk in (
        ("A-0001", today - timedelta(days=4), pending_ids[:10]),
        ("B-0001", today - timedelta(days=2), pending_ids[10:16]),
        ("A-0001", today - timedelta(days=1), pending_ids[16:24]),
    ):
        batch = batches.create_batch("seed", issue_date, book, chunk)
        if batches.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED:
            processed.append(batch.id)
        else:
            db.session.refresh(batch)
            click.echo(
                f"Not seeded: batch {batch.id} could not be invoiced ({batch.error_message}); "
                "it is left in ERROR, to be retried or abandoned from its page."
            )
    pendings.cancel_pending("seed", pending_ids[-1])
    if not processed:
        click.echo("Not seeded: an ERP delivery (no batch was invoiced).")
        return
    # The demo's one delivery is meant to succeed, whatever the ERP's failure rate.
    record = erp.sync("seed", erp.SimulatedErp(failure_rate=0), batch_id=processed[0])
    erp.confirm("seed", record.sync_id)


# Volume data --------------------------------------------------------------------------------

VOLUME_BOOKS = ("A-0001", "B-0001")
VOLUME_BATCH_SIZE = 25_000
VOLUME_SERVICE_DAYS = 50

# The row number n drives every value through a multiplicative hash, so the data looks random,
# is the same on every run, and is produced by the database in one statement.
_NUMBERS = {
    "postgresql": "WITH numbers(n) AS (SELECT generate_series(1, :count))",
    "sqlite": (
        "WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers "
        "WHERE n < :count)"
    ),
}
_SERVICE_DATE = {
    "postgresql": "CAST(:newest AS DATE) - CAST((h / 13) % :days AS INTEGER)",
    "sqlite": "date(:newest, '-' || ((h / 13) % :days) || ' days')",
}
_AMOUNT = {
    "postgresql": "CAST(35000 + (h / 7) % 2465001 AS NUMERIC) / 100",
    "sqlite": "(35000 + (h / 7) % 2465001) / 100.0",
}
_INSERT_SERVICES = """
{numbers}
INSERT INTO services
    (service_date, customer_id, amount, description, status, created_at, updated_at)
SELECT {service_date}, 1001 + h % :customers, {amount}, {description},
       CASE WHEN n <= :sent THEN :sent_status ELSE :created_status END, :now, :now
FROM (SELECT n, (n * 2654435761) % 4294967296 AS h FROM numbers) AS numbered
"""
_INSERT_PENDINGS = """
INSERT INTO billing_pendings
    (service_id, customer_id, service_date, amount, status, created_at, updated_at)
SELECT id, customer_id, service_date, amount, :pending_status, :now, :now
FROM services
WHERE id > :after AND status = :sent_status
ORDER BY id
"""


def _seed_volume(service_count: int, pending_count: int, invoice_count: int, customers: int):
    """Loads volume with set-based statements: the services and their pendings in one INSERT ...
    SELECT each, then the invoices through real batches (create_batch and process_batch), so
    receipt-book counters, numbers, CAEs and INVOICED statuses obey every rule by construction."""
    dialect = db.engine.dialect.name
    if dialect not in _NUMBERS:
        raise click.ClickException(f"Volume seeding supports PostgreSQL and SQLite, not {dialect}")
    now = utcnow()
    last_service_id = db.session.scalar(select(func.coalesce(func.max(Service.id), 0)))
    last_pending_id = db.session.scalar(select(func.coalesce(func.max(BillingPending.id), 0)))

    # Services are dated before the fiscal window, where the volume invoices are issued.
    newest = clock.today() - timedelta(days=current_app.config["ISSUE_DATE_WINDOW_DAYS"])
    with _step(f"Seeded {service_count:,} services"):
        description = "CASE (h / 17) % 8 {} END".format(
            " ".join(f"WHEN {i} THEN :d{i}" for i in range(len(DEMO_DESCRIPTIONS)))
        )
        sql = _INSERT_SERVICES.format(
            numbers=_NUMBERS[dialect],
            service_date=_SERVICE_DATE[dialect],
            amount=_AMOUNT[dialect],
            description=description,
        )
        db.session.execute(
            text(sql).bindparams(
                bindparam("newest", type_=Date), bindparam("now", type_=DateTime(timezone=True))
            ),
            {
                "count": service_count,
                "newest": newest,
                "days": VOLUME_SERVICE_DAYS,
                "customers": customers,
                "sent": pending_count,
                "sent_status": ServiceStatus.SENT_TO_BILL.value,
                "created_status": ServiceStatus.CREATED.value,
                "now": now,
                **{f"d{i}": d for i, d in enumerate(DEMO_DESCRIPTIONS)},
            },
        )
        db.session.commit()
    if pending_count:
        with _step(f"Sent {pending_count:,} of them to billing"):
            db.session.execute(
                text(_INSERT_PENDINGS).bindparams(bindparam("now", type_=DateTime(timezone=True))),
                {
                    "after": last_service_id,
                    "pending_status": PendingStatus.PENDING.value,
                    "sent_status": ServiceStatus.SENT_TO_BILL.value,
                    "now": now,
                },
            )
            db.session.commit()
    if invoice_count:
        with _step(f"Invoiced {invoice_count:,} pendings in real batches"):
            _invoice_volume(last_pending_id, invoice_count)
    if dialect == "postgresql":
        with _step("Analyzed the tables"):
            db.session.execute(text("ANALYZE services, billing_pendings, invoices"))
            db.session.commit()


@contextmanager
def _step(what: str):
    """Times one seeding step and reports it on the console."""
    started = time.perf_counter()
    yield
    click.echo(f"{what} in {time.perf_counter() - started:.1f} s")


def _invoice_volume(after_pending_id: int, count: int) -> None:
    """Invoices the oldest ``count`` new pendings in batches spread over the receipt books and
    over the fiscal window's days, each issue date on or after its book's last one."""
    pending_ids = list(
        db.session.scalars(
            select(BillingPending.id)
            .where(
                BillingPending.id > after_pending_id,
                BillingPending.status == PendingStatus.PENDING,
                BillingPending.batch_id.is_(None),
            )
            .order_by(BillingPending.id)
            .limit(count)
        )
    )
    window = current_app.config["ISSUE_DATE_WINDOW_DAYS"]
    today = clock.today()
    chunks = [
        pending_ids[start : start + VOLUME_BATCH_SIZE]
        for start in range(0, len(pending_ids), VOLUME_BATCH_SIZE)
    ]
    for n, chunk in enumerate(chunks):
        code = VOLUME_BOOKS[n % len(VOLUME_BOOKS)]
        issue_date = today - timedelta(days=window - window * n // max(len(chunks) - 1, 1))
        book = db.session.get(ReceiptBook, code)
        if book is not None and book.last_issue_date:
            issue_date = max(issue_date, book.last_issue_date)
        try:
            batch = batches.create_batch("seed", issue_date, code, chunk)
        except DomainError as exc:
            raise click.ClickException(
                f"Could not batch the volume pendings: {exc.message}"
            ) from None
        if batches.process_batch(batch.id, final_attempt=True) != BatchStatus.PROCESSED:
            db.session.refresh(batch)
            raise click.ClickException(f"Batch {batch.id} failed: {batch.error_message}")
