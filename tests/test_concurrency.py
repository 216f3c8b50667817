"""Batches created at once on overlapping pendings and one receipt book, on PostgreSQL with real
threads: no pending invoiced twice, numbers gapless, every refusal a 409."""

import random
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from webapp.billing import clock
from webapp.extensions import db
from webapp.models import BillingPending, Invoice, PendingStatus, ReceiptBook

pytestmark = pytest.mark.postgres


def test_concurrent_batches_never_share_a_pending_nor_a_number(app, token, factory):
    headers = token("clerk")
    pending_ids = [p.id for p in factory.pendings(30)]
    issue_date = clock.today().isoformat()
    rng = random.Random(7)
    requests = [
        (
            "/api/billing-batches/sync" if n % 3 == 0 else "/api/billing-batches",
            rng.sample(pending_ids, 8),
        )
        for n in range(12)
    ]

    def submit(request):
        path, ids = request
        client = app.test_client()
        response = client.post(
            path,
            headers=headers,
            json={
                "issueDate": issue_date,
                "receiptBook": "A-0001",
                "pendingIds": ids,
            },
        )
        return ids, response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=12) as pool:
        results = list(pool.map(submit, requests))

    statuses = sorted({status for _, status, _ in results})
    assert set(statuses) <= {201, 409}, results
    accepted = [(ids, body) for ids, status, body in results if status == 201]
    refused = [body for _, status, body in results if status == 409]
    assert accepted and refused
    assert all("cannot be batched" in body["message"] for body in refused)

    db.session.rollback()
    invoiced = db.session.execute(
        select(Invoice.pending_id, func.count()).group_by(Invoice.pending_id)
    ).all()
    assert all(count == 1 for _, count in invoiced)
    expected = sorted(i for ids, _ in accepted for i in ids)
    assert sorted(pending for pending, _ in invoiced) == expected

    numbers = db.session.scalars(
        select(Invoice.sequence_number)
        .where(Invoice.receipt_book == "A-0001")
        .order_by(Invoice.sequence_number)
    ).all()
    assert numbers == list(range(1, len(expected) + 1))
    assert db.session.get(ReceiptBook, "A-0001").last_number == len(expected)
    unclaimed = db.session.scalar(
        select(func.count()).where(
            BillingPending.status == PendingStatus.PENDING, BillingPending.batch_id.is_(None)
        )
    )
    assert unclaimed == len(pending_ids) - len(expected)
