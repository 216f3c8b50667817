"""Operator commands: ``flask --app webapp create-user``, ``seed``, ``recount`` and ``issuer``."""

import random
import time
from contextlib import contextmanager
from datetime import date, timedelta
from decimal import Decimal

import click
from flask import Flask, current_app
from sqlalchemy import Boolean, Date, DateTime, bindparam, func, select, text

from webapp.billing import (
    batches,
    books,
    clock,
    corrections,
    documents,
    erp,
    invoices,
    invoicing,
    issuer,
    pendings,
    services,
    status_counts,
    users,
)
from webapp.billing import customers as customer_ops
from webapp.billing.errors import DomainError
from webapp.billing.messages import english
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingPending,
    DocType,
    Invoice,
    IssuerIvaCondition,
    IvaCondition,
    NoteKind,
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
DEMO_ISSUER = {
    "legal_name": "Logística del Plata SA",
    "cuit": "30-50001091-2",
    "iva_condition": IssuerIvaCondition.REGISTERED,
    "iibb_number": "901-123456-7",
    "activities_start": date(2015, 3, 1),
    "address": "Av. Paseo Colón 1000, CABA",
    "points_of_sale": [1, 2],
}
# The demo's customers: receivers of a Factura A (1, 6) and of a B (4, 5), one of them an
# unidentified consumer; DEMO_INCOMPLETE is known only by its services, until a clerk completes it.
DEMO_CUSTOMER_DATA = {
    1001: ("Transportes del Sur SA", 80, "30-71234567-1", 1, "Av. Corrientes 1234, CABA"),
    1002: ("Distribuidora Norte SRL", 80, "30-70987654-2", 1, "Ruta 9 km 45, Escobar"),
    1003: ("María Gómez", 80, "27-25123456-1", 6, "San Martín 456, Rosario"),
    1004: ("Fundación Puerto Abierto", 80, "30-54667788-1", 4, "Perú 800, CABA"),
    1005: ("Juan Pérez", 96, "30111222", 5, "Belgrano 12, Córdoba"),
    1006: ("Consumidor Final", 99, "0", 5, ""),
}
DEMO_CUSTOMERS = list(DEMO_CUSTOMER_DATA)
# Most logistics services carry 21% IVA; some are taxed at 10.5% or exempt.
DEMO_VAT_RATES = ["21", "21", "21", "10.5", "21", "exempt", "21"]
DEMO_INCOMPLETE = 1007
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
    app.cli.add_command(issuer_command)
    app.cli.add_command(authority_command)


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


@click.group("issuer")
def issuer_command() -> None:
    """Show or set the issuer the invoices name."""


@issuer_command.command("show")
def issuer_show_command() -> None:
    """Print the issuer's settings."""
    current = issuer.get_issuer()
    if current is None:
        raise click.ClickException(
            "No issuer is set yet; use: flask issuer set --name ... --cuit ..."
        )
    started = current.activities_start.isoformat() if current.activities_start else "-"
    condition = current.iva_condition
    for label, value in (
        ("Legal name", current.legal_name),
        ("CUIT", issuer.format_cuit(current.cuit)),
        ("IVA condition", f"{condition.value} ({issuer.issuer_condition_name(condition)})"),
        ("IIBB number", current.iibb_number or "-"),
        ("Start of activities", started),
        ("Address", current.address or "-"),
        ("Points of sale", ", ".join(str(p) for p in current.points_of_sale) or "-"),
    ):
        click.echo(f"{label}: {value}")


@issuer_command.command("set")
@click.option("--name", "legal_name", help="Legal name (razón social).")
@click.option("--cuit", help="CUIT, with or without dashes.")
@click.option(
    "--iva-condition",
    type=click.Choice([c.value for c in IssuerIvaCondition]),
    help="IVA condition.",
)
@click.option("--iibb", "iibb_number", help="Gross income (IIBB) number.")
@click.option(
    "--activities-start", type=click.DateTime(["%Y-%m-%d"]), help="Start of activities, YYYY-MM-DD."
)
@click.option("--address", help="Legal address.")
@click.option(
    "--point-of-sale",
    "points_of_sale",
    type=int,
    multiple=True,
    help="An enabled point of sale; repeat for several.",
)
def issuer_set_command(**options) -> None:
    """Set the issuer's fields given; the others stay as they are."""
    fields = {name: value for name, value in options.items() if value not in (None, ())}
    if "activities_start" in fields:
        fields["activities_start"] = fields["activities_start"].date()
    if "points_of_sale" in fields:
        fields["points_of_sale"] = list(fields["points_of_sale"])
    try:
        issuer.set_issuer("cli", **fields)
    except DomainError as exc:
        raise refusal(exc) from None
    click.echo("Issuer saved")


@click.group("authority")
def authority_command() -> None:
    """The simulated tax authority's books."""


@authority_command.command("advance")
@click.argument("book")
@click.argument("count", type=click.IntRange(1, 10_000))
def authority_advance_command(book: str, count: int) -> None:
    """Moves the authority's counter of BOOK (such as A-0001) COUNT numbers ahead, as another
    system issuing vouchers on it would; Lote then finds the book out of step."""
    try:
        code = documents.check_receipt_book(book)
    except DomainError as exc:
        raise refusal(exc) from None
    document_type, point_of_sale = books.type_and_point_of_sale(code)
    last = current_app.extensions["lote.cae"].advance(
        point_of_sale, document_type, count, clock.today()
    )
    click.echo(f"The authority's last number of {code} is now {last}.")


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
        if issuer.get_issuer() is None:
            issuer.set_issuer("seed", **DEMO_ISSUER)
        _seed_volume(service_count, pending_count, invoice_count, customers)
        return
    if db.session.scalar(select(func.count()).select_from(Service)):
        click.echo("Demo data already present; nothing changed.")
        return
    _seed_billing_flow()
    click.echo(f"Seeded demo data. Sign in as admin / {DEMO_PASSWORD} or clerk / {DEMO_PASSWORD}.")


def _seed_billing_flow() -> None:
    issuer.set_issuer("seed", **DEMO_ISSUER)
    for customer_id, (name, doc_type, number, condition, address) in DEMO_CUSTOMER_DATA.items():
        customer_ops.create_customer(
            "seed",
            customer_id=customer_id,
            legal_name=name,
            doc_type=doc_type,
            doc_number=number,
            iva_condition=condition,
            address=address,
        )
    rng = random.Random(2026)
    today = clock.today()
    for _ in range(2):
        services.create_service(
            "seed",
            service_date=today - timedelta(days=rng.randint(1, 25)),
            customer_id=DEMO_INCOMPLETE,
            amount=Decimal(rng.randint(35_000, 2_500_000)) / 100,
            description=rng.choice(DEMO_DESCRIPTIONS),
        )
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
                vat_rate=DEMO_VAT_RATES[n % len(DEMO_VAT_RATES)],
            ).id
        )
    to_bill = created[:36]
    pending_ids = sorted(p.id for p in services.send_to_billing("seed", to_bill))
    processed = []
    # Batches name their point of sale: each pending goes to the A or B book its customer takes.
    for point_of_sale, issue_date, chunk in (
        (1, today - timedelta(days=4), pending_ids[:10]),
        (2, today - timedelta(days=2), pending_ids[10:16]),
        (1, today - timedelta(days=1), pending_ids[16:24]),
    ):
        batch = batches.create_batch("seed", issue_date, None, chunk, point_of_sale=point_of_sale)
        if invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED:
            processed.append(batch.id)
        else:
            db.session.refresh(batch)
            click.echo(
                f"Not seeded: batch {batch.id} could not be invoiced "
                f"({english(batch.error_message)}); "
                "it is left in ERROR, to be retried or abandoned from its page."
            )
    pendings.cancel_pending("seed", pending_ids[-1])
    if not processed:
        click.echo("Not seeded: an ERP delivery (no batch was invoiced).")
        return
    # The demo's one delivery is meant to succeed, whatever the ERP's failure rate.
    with reliable_erp():
        record = erp.sync("seed", batch_id=processed[0])
    erp.confirm("seed", record.sync_id)
    # A discount granted after the fact: a credit note for a tenth of the last batch's first
    # invoice, in a batch of notes of its own.
    credited = db.session.scalar(
        select(Invoice).where(Invoice.batch_id == processed[-1]).order_by(Invoice.id)
    )
    asked = corrections.request_note(
        "seed",
        credited.id,
        NoteKind.CREDIT,
        (credited.amount / 10).quantize(Decimal("0.01")),
        "Bonificación por demora en la entrega",
    )
    invoicing.process_batch(asked.submission.batch.id, final_attempt=True)


@contextmanager
def reliable_erp():
    """The app's ERP accepts every delivery meanwhile."""
    extensions = current_app.extensions
    usual = extensions["lote.erp"]
    extensions["lote.erp"] = erp.SimulatedErp(failure_rate=0)
    try:
        yield
    finally:
        extensions["lote.erp"] = usual


# Volume data --------------------------------------------------------------------------------

# Volume customers are unidentified consumers: a Responsable Inscripto bills them a Factura B.
VOLUME_BOOKS = ("B-0001", "B-0002")
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
# Volume customers are unidentified consumers, complete so that their pendings can be invoiced.
_INSERT_CUSTOMERS = """
INSERT INTO customers (id, legal_name, doc_type, doc_number, iva_condition, address, email,
                       payment_days, incomplete, created_at, updated_at)
SELECT DISTINCT customer_id, 'Cliente ' || customer_id, :doc_type, '0', :iva_condition, '', '',
       :payment_days, :incomplete, :now, :now
FROM services WHERE id > :after
ON CONFLICT DO NOTHING
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
        db.session.execute(
            text(_INSERT_CUSTOMERS).bindparams(
                bindparam("now", type_=DateTime(timezone=True)),
                bindparam("incomplete", type_=Boolean()),
            ),
            {
                "after": last_service_id,
                "doc_type": DocType.UNIDENTIFIED.value,
                "iva_condition": IvaCondition.FINAL_CONSUMER.value,
                "payment_days": customer_ops.DEFAULT_PAYMENT_DAYS,
                "incomplete": False,
                "now": now,
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
            db.session.execute(text("ANALYZE customers, services, billing_pendings, invoices"))
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
        if invoicing.process_batch(batch.id, final_attempt=True) != BatchStatus.PROCESSED:
            db.session.refresh(batch)
            raise click.ClickException(f"Batch {batch.id} failed: {english(batch.error_message)}")
