"""The rules of docs/rules.md are database constraints, not only checks in the code: a write
that would break one is refused by the database itself."""

import pytest
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from webapp.billing import audit, services
from webapp.extensions import db
from webapp.models import (
    BillingBatch,
    BillingPending,
    Invoice,
    PendingStatus,
    ReceiptBook,
    Service,
    utcnow,
)


def copy_of(row, **changes) -> dict:
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "id"}
    return {**values, **changes}


def refuses(statement, *params) -> bool:
    """Whether the database refuses ``statement`` (committed if it does not)."""
    try:
        db.session.execute(statement.execution_options(synchronize_session=False), *params)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return True
    return False


def refused(table, values) -> bool:
    return refuses(insert(table), [values])


def test_a_service_cannot_have_two_pending_pendings_but_keeps_its_history(factory):
    pending = factory.pendings(1)[0]
    assert refused(BillingPending, copy_of(pending, created_at=utcnow()))
    assert not refused(BillingPending, copy_of(pending, status=PendingStatus.CANCELLED))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda i: {"pending_id": i.pending_id}, id="same pending"),
        pytest.param(lambda i: {"invoice_number": i.invoice_number}, id="same number"),
        pytest.param(lambda i: {"sequence_number": i.sequence_number}, id="same book sequence"),
        pytest.param(lambda i: {"cae": i.cae}, id="same CAE"),
    ],
)
def test_an_invoice_cannot_repeat_a_pending_a_number_or_a_cae(factory, change):
    batch = factory.batch(factory.pendings(2))
    first, second = db.session.scalars(
        select(Invoice).where(Invoice.batch_id == batch.id).order_by(Invoice.id)
    ).all()
    fresh = copy_of(
        first,
        pending_id=factory.pendings(1)[0].id,
        invoice_number="A-0001-00000099",
        sequence_number=99,
        cae="10000100000099",
    )
    assert not refused(Invoice, dict(fresh))
    db.session.execute(delete(Invoice).where(Invoice.invoice_number == "A-0001-00000099"))
    db.session.commit()
    assert refused(Invoice, {**fresh, **change(second)})


def test_a_new_service_never_takes_the_id_and_history_of_a_deleted_one(factory):
    deleted = factory.service().id
    services.delete_service("tests", deleted)
    created = factory.service().id
    assert created != deleted
    assert [e.action for e in audit.events_for("service", created)] == ["created"]


@pytest.mark.parametrize(
    "named",
    [
        pytest.param({"pending_id": 10**9}, id="pending"),
        pytest.param({"service_id": 10**9}, id="service"),
        pytest.param({"batch_id": 10**9}, id="batch"),
        pytest.param({"receipt_book": "Z-9999"}, id="book"),
    ],
)
def test_an_invoice_naming_a_row_that_is_not_stored_is_refused_with_the_rest_of_its_statement(
    factory, named
):
    """A foreign key on SQLite; on PostgreSQL a check of every row the statement writes."""
    batch = factory.batch(factory.pendings(1))
    invoice = db.session.scalars(select(Invoice).where(Invoice.batch_id == batch.id)).one()
    fresh = [
        copy_of(
            invoice,
            pending_id=pending.id,
            service_id=pending.service_id,
            invoice_number=f"A-0001-000000{90 + n}",
            sequence_number=90 + n,
            cae=f"100001000000{90 + n}",
        )
        for n, pending in enumerate(factory.pendings(2))
    ]
    assert refuses(insert(Invoice), [fresh[0], {**fresh[1], **named}])
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 1
    db.session.execute(insert(Invoice), fresh)
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 3
    db.session.rollback()


@pytest.mark.parametrize(
    "table, key",
    [
        pytest.param(Service, "service_id", id="service"),
        pytest.param(BillingPending, "pending_id", id="pending"),
        pytest.param(BillingBatch, "batch_id", id="batch"),
        pytest.param(ReceiptBook, "receipt_book", id="book"),
    ],
)
def test_a_row_an_invoice_names_can_be_neither_deleted_nor_given_another_key(factory, table, key):
    batch = factory.batch(factory.pendings(1))
    invoice = db.session.scalars(select(Invoice).where(Invoice.batch_id == batch.id)).one()
    primary_key = table.__table__.primary_key.columns.values()[0]
    named = primary_key == getattr(invoice, key)
    another_key = "Z-9999" if key == "receipt_book" else 10**9
    assert refuses(delete(table).where(named))
    assert refuses(update(table).where(named).values({primary_key: another_key}))
    assert db.session.scalar(select(func.count()).select_from(table).where(named)) == 1


def test_a_pending_cannot_be_claimed_for_a_batch_that_is_not_stored(factory):
    """A foreign key on SQLite; on PostgreSQL a check of every row the statement writes."""
    pendings = factory.pendings(2)
    batch = factory.batch(pendings[:1], process=False)
    claim = update(BillingPending).where(BillingPending.id == pendings[1].id)
    assert refuses(claim.values(batch_id=10**9))
    db.session.execute(claim.values(batch_id=batch.id))
    assert db.session.get(BillingPending, pendings[1].id).batch_id == batch.id
    db.session.rollback()
