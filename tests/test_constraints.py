"""The rules of docs/rules.md are database constraints, not only checks in the code: a write
that would break one is refused by the database itself."""

import pytest
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from webapp.billing import audit, services
from webapp.extensions import db
from webapp.models import BillingPending, Invoice, PendingStatus, utcnow


def copy_of(row, **changes) -> dict:
    values = {c.key: getattr(row, c.key) for c in row.__table__.columns if c.key != "id"}
    return {**values, **changes}


def refused(table, values) -> bool:
    try:
        db.session.execute(insert(table), [values])
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        return True
    return False


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
