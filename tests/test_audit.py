"""The audit trail: who created, sent, batched, cancelled, retried and synced what, and when,
stored in the database and shown on the batch and invoice pages."""

import re

from sqlalchemy import select

from webapp.billing import clock
from webapp.extensions import db
from webapp.models import AuditEvent, Invoice, utcnow


def actions_on(entity_type, entity_id):
    db.session.rollback()
    return [
        (e.actor, e.action)
        for e in db.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id)
            .order_by(AuditEvent.id)
        )
    ]


def trail_of(html: str) -> list[tuple[str, str]]:
    """(actor, action) of each event in a page's History section."""
    return re.findall(
        r'<span class="actor">([^<]+)</span>\s*<span class="action">([^<]+)</span>', html
    )


def test_each_step_of_the_flow_is_recorded_with_who_did_it_and_shown_on_the_pages(
    client, token, auth, factory
):
    clerk = token("clerk")
    started = utcnow()
    complete_customer = {"customerId": 7, "legalName": "Kiosco", "docType": 99, "ivaCondition": 5}
    client.post("/api/customers", headers=clerk, json=complete_customer)
    service_id = client.post(
        "/api/services",
        headers=clerk,
        json={"serviceDate": clock.today().isoformat(), "customerId": 7, "amount": "121.00"},
    ).get_json()["id"]
    pending_id = client.post(
        "/api/services/send-to-billing", headers=clerk, json={"serviceIds": [service_id]}
    ).get_json()["pendings"][0]["id"]
    cancelled = factory.pendings(1)[0]
    assert client.delete(f"/api/billing-pendings/{cancelled.id}", headers=clerk).status_code == 200
    admin = token("admin")
    batch_id = client.post(
        "/api/billing-batches",
        headers=admin,
        json={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "B-0001",
            "pendingIds": [pending_id],
        },
    ).get_json()["batch"]["id"]
    sync = client.post("/api/erp-sync/batch", headers=clerk, json={"batchId": batch_id})
    assert sync.status_code == 201

    assert actions_on("service", service_id) == [
        ("clerk", "created"),
        ("clerk", "sent_to_billing"),
    ]
    assert actions_on("pending", cancelled.id) == [("clerk", "cancelled")]
    assert actions_on("batch", batch_id) == [
        ("admin", "created"),
        ("worker", "invoiced"),
        ("clerk", "erp_sent"),
    ]
    flow_events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.entity_type.in_(["service", "pending", "batch"]))
    ).all()
    assert len(flow_events) == 8
    finished = utcnow()
    # SQLite hands back UTC times without their zone; compare both as UTC wall times.
    assert all(
        started.replace(tzinfo=None) <= e.occurred_at.replace(tzinfo=None)
        and e.occurred_at.replace(tzinfo=None) <= finished.replace(tzinfo=None)
        for e in flow_events
    )

    auth.login("viewer")
    batch_page = client.get(f"/batches/{batch_id}", headers={"Accept-Language": "en"})
    expected = [("admin", "Created"), ("worker", "Invoiced"), ("clerk", "Sent to the ERP")]
    assert trail_of(batch_page.get_data(as_text=True)) == expected
    invoice_id = db.session.scalar(select(Invoice.id).where(Invoice.batch_id == batch_id))
    invoice_page = client.get(f"/invoices/{invoice_id}", headers={"Accept-Language": "en"})
    assert trail_of(invoice_page.get_data(as_text=True)) == expected


def test_a_retry_is_recorded_with_who_asked_for_it(client, token, make_app, factory):
    failing = make_app(CAE_FAILURE_RATE=1.0)
    with failing.app_context():
        pendings = factory.pendings(1)
        from webapp.billing import batches, invoicing

        batch = batches.create_batch("clerk", clock.today(), "A-0001", [p.id for p in pendings])
        invoicing.process_batch(batch.id, final_attempt=True)
        batch_id = batch.id
    response = client.post(f"/api/billing-batches/{batch_id}/retry", headers=token("admin"))
    assert response.status_code == 200
    assert actions_on("batch", batch_id)[-3:] == [
        ("worker", "failed"),
        ("admin", "retried"),
        ("worker", "invoiced"),
    ]
