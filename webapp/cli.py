"""Operator commands: ``flask --app webapp create-user`` and ``flask --app webapp seed``."""

import random
from datetime import timedelta
from decimal import Decimal

import click
from flask import Flask
from sqlalchemy import func, select

from webapp.billing import batches, clock, erp, services, users
from webapp.billing.errors import DomainError
from webapp.extensions import db
from webapp.models import BillingPending, PendingStatus, Role, Service, User

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


def register_commands(app: Flask) -> None:
    app.cli.add_command(create_user_command)
    app.cli.add_command(seed_command)


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.CLERK.value)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_user_command(username: str, role: str, password: str) -> None:
    """Create a user; the password is prompted unless given with --password."""
    try:
        user = users.create_user("cli", username, password, role)
    except DomainError as exc:
        details = "; ".join(f"{d['field']} {d['message']}" for d in exc.details or [])
        raise click.ClickException(f"{exc.message}{': ' + details if details else ''}") from None
    click.echo(f"Created {user.role.value} {user.username}")


@click.command("seed")
def seed_command() -> None:
    """Load demo users and realistic demo data; running it again changes nothing."""
    for username, role in DEMO_USERS:
        if not db.session.scalar(select(User.id).where(User.username == username)):
            users.create_user("seed", username, DEMO_PASSWORD, role.value)
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
                service_date=today - timedelta(days=rng.randint(1, 25)),
                customer_id=DEMO_CUSTOMERS[n % len(DEMO_CUSTOMERS)],
                amount=Decimal(rng.randint(35_000, 2_500_000)) / 100,
                description=rng.choice(DEMO_DESCRIPTIONS),
            ).id
        )
    to_bill = created[:36]
    services.send_to_billing("seed", to_bill, limit=len(to_bill))
    pending_ids = list(
        db.session.scalars(
            select(BillingPending.id)
            .where(BillingPending.service_id.in_(to_bill))
            .order_by(BillingPending.id)
        )
    )
    for book, issue_date, chunk in (
        ("A-0001", today - timedelta(days=4), pending_ids[:10]),
        ("B-0001", today - timedelta(days=2), pending_ids[10:16]),
        ("A-0001", today - timedelta(days=1), pending_ids[16:24]),
    ):
        batch = batches.create_batch("seed", issue_date, book, chunk)
        batches.process_batch(batch.id, final_attempt=True)
    cancelled = db.session.scalar(
        select(BillingPending.id).where(
            BillingPending.id == pending_ids[-1], BillingPending.status == PendingStatus.PENDING
        )
    )
    if cancelled:
        from webapp.billing import pendings

        pendings.cancel_pending("seed", cancelled)
    first_batch = batches.list_batches(batches.BatchFilters(), 1, 100).items[-1]
    record = erp.sync("seed", erp.SimulatedErp(failure_rate=0), batch_id=first_batch.id)
    erp.confirm("seed", record.sync_id)
