"""The faults an operator meets, with real processes on PostgreSQL and Redis: a consumer killed
mid-batch, a queue that lost its tasks, the database restarting, duplicated tasks. Each batch
still ends PROCESSED, every pending invoiced exactly once, numbers gapless."""

import os
import shutil
import subprocess
from datetime import date, timedelta
from math import ceil

import pytest
from sqlalchemy import func, select, update

from tests.conftest import wait_for
from webapp.billing import batches, clock, recovery
from webapp.billing.invoicing import INVOICES_PER_CHUNK, LOOKUPS_AT_ONCE, STORES_AT_ONCE
from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, Invoice, utcnow

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LEASE = 2
# Seconds a consumer process takes to start on a machine running the suite in parallel.
CONSUMER_START = 10


def batch_of(pending_ids: list[int], issue_date: date | None = None) -> int:
    batch = batches.create_batch("tests", issue_date or clock.today(), "A-0001", pending_ids)
    return batch.id


def fresh_batch(batch_id: int) -> BillingBatch:
    db.session.rollback()
    return db.session.get(BillingBatch, batch_id)


def assert_invoiced_once(batch_id: int, pending_ids: list[int]) -> None:
    db.session.rollback()
    rows = db.session.execute(
        select(Invoice.pending_id, Invoice.sequence_number)
        .where(Invoice.batch_id == batch_id)
        .order_by(Invoice.sequence_number)
    ).all()
    assert sorted(r.pending_id for r in rows) == sorted(pending_ids)
    assert [r.sequence_number for r in rows] == list(range(1, len(pending_ids) + 1))
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == len(pending_ids)


def invoices_of(batch_id: int) -> int:
    return db.session.scalar(select(func.count()).where(Invoice.batch_id == batch_id))


def test_a_consumer_killed_mid_batch_is_replaced_within_the_lease(factory, start_consumer):
    slow = {"CAE_LATENCY_MS": 150, "BATCH_LEASE_SECONDS": LEASE}
    first = start_consumer(**slow)  # starting takes seconds: meanwhile the pendings are made
    pending_ids = factory.bulk_pendings(3000)  # 12 calls to the authority
    batch_id = batch_of(pending_ids)
    from webapp.tasks import batch_queue

    batch_queue.enqueue_batch(batch_id)

    def running_with_progress():
        batch = fresh_batch(batch_id)
        return batch.status == BatchStatus.IN_PROCESS and batch.progress > 0

    wait_for(running_with_progress, timeout=30, message="visible progress")
    first.kill()
    killed_at = utcnow()
    # Each answered call committed its invoices; the one in flight is resolved by asking.
    kept = invoices_of(batch_id)
    assert 0 < kept < len(pending_ids)

    start_consumer(**slow)

    def processed():
        return fresh_batch(batch_id).status == BatchStatus.PROCESSED

    # The new consumer starts (seconds on a loaded machine), notices the dead worker after a
    # lease, resolves the calls left in flight (the one in the air and up to STORES_AT_ONCE
    # answered but not stored, each asked about LOOKUPS_AT_ONCE vouchers at a time), then makes
    # the rest of the 12 calls.
    call = slow["CAE_LATENCY_MS"] / 1000
    resolving = (1 + STORES_AT_ONCE) * ceil(INVOICES_PER_CHUNK / LOOKUPS_AT_ONCE) * call
    budget = CONSUMER_START + LEASE + resolving + 12 * call
    wait_for(processed, timeout=budget, message="the batch to be taken over")
    batch = fresh_batch(batch_id)
    assert batch.attempts == 2
    assert (batch.processing_completed_at - killed_at).total_seconds() < budget
    assert_invoiced_once(batch_id, pending_ids)


def test_a_batch_whose_task_redis_lost_is_recovered_when_a_consumer_starts(
    client, token, factory, start_consumer, live_queue
):
    pending_ids = factory.bulk_pendings(20)
    response = client.post(
        "/api/billing-batches",
        headers=token("clerk"),
        json={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "A-0001",
            "pendingIds": pending_ids,
        },
    )
    batch_id = response.get_json()["batch"]["id"]
    assert live_queue.pending_count() == 1
    live_queue.storage.conn.flushdb()
    assert live_queue.pending_count() == 0

    start_consumer()
    wait_for(
        lambda: fresh_batch(batch_id).status == BatchStatus.PROCESSED,
        timeout=20,
        message="the lost batch to be processed",
    )
    assert_invoiced_once(batch_id, pending_ids)


def test_a_batch_queued_just_now_is_not_taken_for_lost_until_its_claim_grace_passes(app, factory):
    """A worker that has just taken a task from the queue has not claimed its batch yet, so the
    queue shows no task for it: the reaper leaves it alone for the claim grace and asks to look
    again once the grace has passed."""
    batch_id = batch_of(factory.bulk_pendings(2))
    assert recovery.lost_batches(queued_batch_ids=set()) == []
    assert recovery.follow_up_delay() == app.config["BATCH_CLAIM_GRACE_SECONDS"] + 1
    db.session.execute(
        update(BillingBatch)
        .where(BillingBatch.id == batch_id)
        .values(enqueued_at=utcnow() - recovery.claim_grace() - timedelta(seconds=1))
    )
    db.session.commit()
    assert recovery.lost_batches(queued_batch_ids=set()) == [batch_id]
    assert recovery.follow_up_delay() is None


def test_a_duplicated_task_on_two_consumers_invoices_the_batch_once(factory, start_consumer):
    from webapp.tasks import batch_queue

    start_consumer(CAE_LATENCY_MS=100)
    start_consumer(CAE_LATENCY_MS=100)
    pending_ids = factory.bulk_pendings(1000)
    batch_id = batch_of(pending_ids)
    for _ in range(4):
        batch_queue.enqueue_batch(batch_id)

    wait_for(
        lambda: fresh_batch(batch_id).status == BatchStatus.PROCESSED,
        timeout=30,
        message="the batch to be processed",
    )
    assert fresh_batch(batch_id).attempts == 1
    assert_invoiced_once(batch_id, pending_ids)


@pytest.mark.skipif(not shutil.which("pg_ctlcluster"), reason="needs pg_ctlcluster")
@pytest.mark.alone
def test_postgresql_restarting_mid_batch_fails_the_attempt_cleanly_and_it_is_retried(
    make_app, factory, start_consumer
):
    pending_ids = factory.bulk_pendings(2000)
    # The default retry delays (2 s, 4 s, 8 s), in the task the test queues (the queuer sets
    # them) and in any the consumer's reaper queues: the tests' short ones would all be spent
    # while the server restarts, leaving the batch to the reaper's next minute.
    default_retries = {"BATCH_RETRY_DELAY_SECONDS": 2}
    start_consumer(CAE_LATENCY_MS=250, BATCH_LEASE_SECONDS=LEASE, **default_retries)
    batch_id = batch_of(pending_ids)
    from webapp.tasks import batch_queue

    with make_app(**default_retries).app_context():
        batch_queue.enqueue_batch(batch_id)
    wait_for(lambda: fresh_batch(batch_id).progress > 0, timeout=30, message="visible progress")
    db.session.rollback()
    db.engine.dispose()
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True
    )

    wait_for(
        lambda: fresh_batch(batch_id).status == BatchStatus.PROCESSED,
        timeout=LEASE + 40,
        message="the batch to be processed after the restart",
    )
    assert fresh_batch(batch_id).attempts >= 2
    assert_invoiced_once(batch_id, pending_ids)
