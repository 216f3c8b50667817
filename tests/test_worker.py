"""The batch worker as it runs in production: a real huey_consumer process, Redis, PostgreSQL."""

import pytest
from sqlalchemy import select

from tests.conftest import wait_for
from webapp.billing import clock
from webapp.extensions import db
from webapp.models import Invoice, ReceiptBook

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def poll_status(client, headers, batch_id, until=("PROCESSED", "ERROR"), timeout=60):
    def finished():
        db.session.rollback()  # a fresh read each time: the consumer commits elsewhere
        body = client.get(f"/api/billing-batches/{batch_id}/status", headers=headers).get_json()
        return body if body["batch"]["status"] in until else None

    return wait_for(finished, timeout=timeout, message=f"batch {batch_id} to reach {until}")


def test_consumer_invoices_a_batch_created_through_the_api(client, token, factory, start_consumer):
    start_consumer()  # starting takes seconds: meanwhile the test prepares its batch
    headers = token("clerk")
    earlier = factory.batch(factory.pendings(2))  # the book already used numbers 1 and 2
    assert db.session.get(ReceiptBook, "A-0001").last_number == 2
    pendings = factory.pendings(5)

    created = client.post(
        "/api/billing-batches",
        headers=headers,
        json={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "A-0001",
            "pendingIds": [p.id for p in pendings],
        },
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["batch"]["status"] == "PENDING_PROCESSING"
    assert body["queueInfo"]["jobId"] == f"batch-{body['batch']['id']}"

    status = poll_status(client, headers, body["batch"]["id"])
    assert status["batch"]["status"] == "PROCESSED", status
    assert status["jobInfo"]["status"] == "completed"
    assert status["jobInfo"]["progress"] == 100

    invoices = db.session.scalars(
        select(Invoice).where(Invoice.batch_id == body["batch"]["id"]).order_by(Invoice.id)
    ).all()
    assert sorted(i.pending_id for i in invoices) == sorted(p.id for p in pendings)
    assert [i.sequence_number for i in invoices] == [3, 4, 5, 6, 7]
    assert [i.invoice_number for i in invoices][0] == "A-0001-00000003"
    caes = [i.cae for i in invoices]
    assert all(len(c) == 14 and c.isdigit() for c in caes)
    assert len(set(caes)) == len(caes)
    assert all(i.net_amount + i.vat_amount == i.amount for i in invoices)
    earlier_numbers = db.session.scalars(
        select(Invoice.sequence_number).where(Invoice.batch_id == earlier.id)
    ).all()
    assert sorted(earlier_numbers) == [1, 2]


def test_failing_cae_authority_retries_then_errors_and_a_manual_retry_recovers(
    client, token, factory, start_consumer
):
    outage = start_consumer(CAE_FAILURE_RATE=1)
    headers = token("clerk")
    factory.batch(factory.pendings(1))  # number 1 is used
    pendings = factory.pendings(3)
    batch_id = client.post(
        "/api/billing-batches",
        headers=headers,
        json={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "A-0001",
            "pendingIds": [p.id for p in pendings],
        },
    ).get_json()["batch"]["id"]

    # 1 attempt + 3 retries, after the tests' short delays (the consumer's scheduler looks once
    # a second); test_a_failed_attempt_is_retried_3_times_after_2_4_and_8_seconds guards the
    # default delays.
    failed = poll_status(client, headers, batch_id, until=("ERROR",), timeout=20)
    assert failed["batch"]["attempts"] == 4
    assert "tax authority" in failed["batch"]["errorMessage"]
    assert failed["jobInfo"]["status"] == "failed"
    db.session.rollback()
    assert db.session.scalar(select(Invoice.id).where(Invoice.batch_id == batch_id)) is None
    assert db.session.get(ReceiptBook, "A-0001").last_number == 1
    outage.stop()

    start_consumer(CAE_FAILURE_RATE=0)
    retried = client.post(f"/api/billing-batches/{batch_id}/retry", headers=headers)
    assert retried.status_code == 200, retried.get_json()
    done = poll_status(client, headers, batch_id, until=("PROCESSED",))
    assert done["batch"]["firstInvoiceNumber"] == "A-0001-00000002"
    assert done["batch"]["lastInvoiceNumber"] == "A-0001-00000004"
