"""Faults between Lote and the tax authority, with real consumer processes on PostgreSQL and
Redis: an answer lost after the authority authorized, a consumer killed between a call and its
commit, the authority down for a while, its counter moved ahead by another system, a voucher
rejected in the middle of a call. After each, ``assert_in_step_with_the_authority`` holds: every
voucher the simulated authority authorized is an invoice in Lote exactly once, with the same CAE
and amount; both sides number every book gaplessly to the same last number; no pending is lost
or invoiced twice (docs/rules.md rule 5, DESIGN section 11)."""

import os
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from tests.conftest import wait_for
from webapp.authority import runs
from webapp.billing import batches, clock
from webapp.billing.messages import english, read_stored
from webapp.extensions import db
from webapp.models import (
    AuthorityCall,
    BatchBook,
    BatchStatus,
    BillingBatch,
    BillingPending,
    Invoice,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
)

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
LEASE = 2
# A killed consumer's batch is taken over once this lease has run out (the retry delays are the
# short FAST_DELAYS every consumer gets).
SHORT_LEASE = {"BATCH_LEASE_SECONDS": LEASE}
# A customer stored before Lote checked CUITs: a valid body with a wrong check digit.
INVALID_CUIT = "30000001023"


def fresh_batch(batch_id: int) -> BillingBatch:
    db.session.rollback()  # a fresh read each time: the consumers commit elsewhere
    return db.session.get(BillingBatch, batch_id)


def submit(pending_ids: list[int]) -> int:
    """Creates the batch and queues it, as the API does."""
    return batches.submit_batch("tests", clock.today(), "A-0001", pending_ids).batch.id


def calls_in_flight(batch_id: int) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count()).select_from(AuthorityCall).where(AuthorityCall.batch_id == batch_id)
    )


def authority_last(point_of_sale: int = 1, document_type: int = 1) -> int:
    db.session.rollback()
    return db.session.scalar(
        text(
            "SELECT coalesce(max(cbte_hasta), 0) FROM authority_runs "
            "WHERE pto_vta = :pto_vta AND cbte_tipo = :cbte_tipo"
        ),
        {"pto_vta": point_of_sale, "cbte_tipo": document_type},
    )


def wait_until_finished(batch_id: int, timeout: float, statuses=(BatchStatus.PROCESSED,)):
    batch = wait_for(
        lambda: (
            (b := fresh_batch(batch_id)).status in (BatchStatus.PROCESSED, BatchStatus.ERROR) and b
        ),
        timeout=timeout,
        message=f"batch {batch_id} to finish",
    )
    assert batch.status in statuses, (batch.status, batch.error_message)
    return batch


def process_to_the_end(batch_id: int, timeout: float) -> BillingBatch:
    """Waits for the batch to be PROCESSED; one that ends ERROR (three failed attempts in a row)
    is retried through the domain, at most three times."""
    for retries in range(4):
        batch = wait_until_finished(batch_id, timeout, (BatchStatus.PROCESSED, BatchStatus.ERROR))
        if batch.status == BatchStatus.PROCESSED:
            return batch
        if retries < 3:
            batches.retry_batch("tests", batch_id)
    pytest.fail(f"batch {batch_id} still ends ERROR after three retries: {batch.error_message}")


def assert_in_step_with_the_authority(batch_id: int, pending_ids: list[int], elsewhere=None):
    """The invariant every fault must leave standing, once the batch has ended (PROCESSED, or
    ERROR with nothing in flight):

    - every voucher the authority authorized is an invoice in Lote exactly once, with the same
      CAE and amount, and Lote holds no invoice the authority did not authorize; ``elsewhere``
      (book code -> count) names the last vouchers of a book another system issued, which Lote
      must not have;
    - per book, both sides number gaplessly, and Lote's counter is the authority's last number
      (less the ones issued elsewhere);
    - every pending of the batch is INVOICED with exactly one invoice of the batch (and its
      service INVOICED), or PENDING with no invoice: returned to the available ones with the
      authority's rejection code, or still held by a batch that ended ERROR;
    - no call to the authority is left in flight;
    - the batch's figures (overall and per book) are what its invoices and rejections add up to.
    """
    elsewhere = elsewhere or {}
    db.session.rollback()
    theirs = {
        (run.pto_vta, run.cbte_tipo, number): (kept["cae"], Decimal(kept["imp_total"]))
        for run in db.session.execute(select(runs))
        for number, kept in enumerate(run.vouchers, start=run.cbte_desde)
    }
    invoices = db.session.execute(
        select(
            Invoice.point_of_sale,
            Invoice.document_type,
            Invoice.sequence_number,
            Invoice.cae,
            Invoice.amount,
        )
    ).all()
    twice = [key for key, n in Counter(tuple(i[:3]) for i in invoices).items() if n > 1]
    assert twice == [], "numbers Lote invoiced twice"
    ours = {tuple(i[:3]): (i.cae, i.amount) for i in invoices}

    outside = set()
    for book in db.session.scalars(select(ReceiptBook)):
        on_book = (book.point_of_sale, book.document_type)
        their_numbers = sorted(n for (*key, n) in theirs if tuple(key) == on_book)
        our_numbers = sorted(n for (*key, n) in ours if tuple(key) == on_book)
        last = their_numbers[-1] if their_numbers else 0
        issued_elsewhere = elsewhere.get(book.code, 0)
        assert their_numbers == list(range(1, last + 1)), f"{book.code}: the authority skips"
        assert book.last_number == last - issued_elsewhere, f"{book.code}: counters differ"
        first = (book.adopted_number or 0) + 1
        assert our_numbers == list(range(first, book.last_number + 1)), f"{book.code}: Lote skips"
        outside |= {(*on_book, n) for n in range(book.last_number + 1, last + 1)}
    assert {key for key in theirs if key[:2] not in _books()} == set(), "vouchers on no book"
    assert {k: v for k, v in theirs.items() if k not in outside} == ours, "vouchers differ"

    batch = fresh_batch(batch_id)
    held = batch.status == BatchStatus.ERROR
    invoiced = Counter(
        db.session.scalars(select(Invoice.pending_id).where(Invoice.pending_id.in_(pending_ids)))
    )
    of_batch = set(
        db.session.scalars(select(Invoice.pending_id).where(Invoice.batch_id == batch_id))
    )
    services = dict(
        db.session.execute(
            select(BillingPending.id, Service.status)
            .join(Service, Service.id == BillingPending.service_id)
            .where(BillingPending.id.in_(pending_ids))
        ).all()
    )
    lost, rejected = [], 0
    for pending in db.session.scalars(
        select(BillingPending).where(BillingPending.id.in_(pending_ids))
    ):
        if pending.status == PendingStatus.INVOICED:
            ok = (
                invoiced[pending.id] == 1
                and pending.id in of_batch
                and services[pending.id] == ServiceStatus.INVOICED
            )
        elif pending.batch_id is None:
            ok = (
                not invoiced[pending.id]
                and pending.status == PendingStatus.PENDING
                and pending.rejection_code is not None
                and pending.rejected_by_batch_id == batch_id
            )
            rejected += 1
        else:
            ok = held and pending.batch_id == batch_id and not invoiced[pending.id]
        if not ok:
            lost.append((pending.id, pending.status, pending.batch_id, invoiced[pending.id]))
    assert lost == [], "pendings lost, invoiced twice or left behind"
    assert len(services) == len(pending_ids)

    assert db.session.scalar(select(func.count()).select_from(AuthorityCall)) == 0, "in flight"
    count, amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(Invoice.amount), 0)).where(
            Invoice.batch_id == batch_id
        )
    ).one()
    assert (batch.total_invoices, batch.total_amount, batch.rejected_count) == (
        count,
        amount,
        rejected,
    ), "batch figures"
    per_book = db.session.execute(
        select(
            Invoice.receipt_book,
            func.count(),
            func.min(Invoice.sequence_number),
            func.max(Invoice.sequence_number),
        )
        .where(Invoice.batch_id == batch_id)
        .group_by(Invoice.receipt_book)
    ).all()
    counted = db.session.execute(
        select(
            BatchBook.receipt_book,
            BatchBook.authorized,
            BatchBook.first_number,
            BatchBook.last_number,
        ).where(BatchBook.batch_id == batch_id, BatchBook.authorized > 0)
    ).all()
    assert sorted(map(tuple, counted)) == sorted(map(tuple, per_book)), "figures per book"
    assert (
        sum(db.session.scalars(select(BatchBook.rejected).where(BatchBook.batch_id == batch_id)))
        == rejected
    ), "rejections per book"


def _books() -> set[tuple[int, int]]:
    return set(db.session.execute(select(ReceiptBook.point_of_sale, ReceiptBook.document_type)))


def pendings_with_rejected(factory, before: int, after: int) -> tuple[list[int], int]:
    """``before`` pendings, then one of a customer whose CUIT has a wrong check digit (stored
    directly, as before Lote checked them), then ``after`` more; returns the ids and the
    rejected one's."""
    ids = factory.bulk_pendings(before)
    factory.customer(1100)
    db.session.execute(
        text("UPDATE customers SET doc_number = :cuit WHERE id = 1100"), {"cuit": INVALID_CUIT}
    )
    db.session.commit()
    (rejected,) = factory.pendings(1, customer_id=1100)
    return ids + [rejected.id] + factory.bulk_pendings(after), rejected.id


def test_answers_lost_after_the_authority_authorized_are_found_by_asking(factory, start_consumer):
    start_consumer(CAE_LOST_ANSWER_RATE=0.4)  # starting takes seconds: meanwhile the pendings
    pending_ids = factory.bulk_pendings(4000)  # 16 calls; all answered is 0.6**16, 0.03 %
    batch_id = submit(pending_ids)

    batch = process_to_the_end(batch_id, timeout=60)

    assert batch.attempts > 1, "no answer was lost: the fault did not happen"
    assert batch.total_invoices == len(pending_ids)
    assert_in_step_with_the_authority(batch_id, pending_ids)


def test_a_consumer_killed_while_its_call_is_unanswered_is_replaced_and_the_call_resolved(
    factory, start_consumer
):
    first = start_consumer(CAE_LATENCY_MS=300, **SHORT_LEASE)
    pending_ids = factory.bulk_pendings(3000)
    batch_id = submit(pending_ids)

    wait_for(
        lambda: fresh_batch(batch_id).total_invoices and calls_in_flight(batch_id),
        timeout=30,
        message="a call in flight after some were stored",
    )
    first.kill()
    # The call in flight, and perhaps the next one, reserved behind it and never sent.
    assert calls_in_flight(batch_id) in (1, 2)
    start_consumer(**SHORT_LEASE)

    batch = wait_until_finished(batch_id, timeout=LEASE + 30)

    assert batch.attempts == 2
    assert_in_step_with_the_authority(batch_id, pending_ids)


def test_a_consumer_killed_after_the_authority_authorized_and_before_its_commit(
    factory, start_consumer
):
    """The window that matters most: the authority holds the call's vouchers, Lote has not
    stored them. The test holds the book's row locked, so the consumer, answered, waits to store
    the answer; it is killed there."""
    first = start_consumer(CAE_LATENCY_MS=300, **SHORT_LEASE)
    pending_ids = factory.bulk_pendings(3000)
    batch_id = submit(pending_ids)
    wait_for(lambda: fresh_batch(batch_id).total_invoices, timeout=30, message="progress")

    with db.engine.connect() as lock:

        def book_locked_with_a_call_in_flight():
            """Locks the book's row while a call is in flight; between calls, lets go so that
            the consumer reserves the next one."""
            lock.rollback()
            lock.execute(text("SELECT 1 FROM receipt_books WHERE code = 'A-0001' FOR UPDATE"))
            reserved = lock.execute(text("SELECT max(last_number) FROM authority_calls")).scalar()
            if reserved is None:
                lock.rollback()
            return reserved

        reserved = wait_for(book_locked_with_a_call_in_flight, timeout=30, message="a call")
        wait_for(lambda: authority_last() == reserved, timeout=10, message="its authorization")
        first.kill()
        lock.rollback()
    db.session.rollback()
    assert authority_last() > db.session.get(ReceiptBook, "A-0001").last_number
    start_consumer(**SHORT_LEASE)

    batch = wait_until_finished(batch_id, timeout=LEASE + 30)

    assert batch.attempts == 2
    assert_in_step_with_the_authority(batch_id, pending_ids)


def test_the_authority_down_for_a_while_fails_the_batch_and_a_retry_finishes_it(
    client, token, factory, start_consumer
):
    healthy = start_consumer(CAE_LATENCY_MS=300, **SHORT_LEASE)
    pending_ids = factory.bulk_pendings(3000)
    batch_id = submit(pending_ids)
    wait_for(
        lambda: fresh_batch(batch_id).total_invoices and calls_in_flight(batch_id),
        timeout=30,
        message="a call in flight after some were stored",
    )
    healthy.kill()  # the authority goes down with a call unanswered
    outage = start_consumer(CAE_FAILURE_RATE=1, **SHORT_LEASE)
    stored = fresh_batch(batch_id).total_invoices

    failed = wait_until_finished(batch_id, timeout=LEASE + 30, statuses=(BatchStatus.ERROR,))

    assert "tax authority" in english(read_stored(failed.error_message))
    assert failed.attempts >= 5, "the attempt the reaper took over, then 3 retries"
    assert failed.total_invoices == stored, "nothing is stored while the authority is silent"
    # The call left unanswered, and the next one reserved behind it, never sent.
    assert calls_in_flight(batch_id) in (1, 2), "reserved calls are asked about, never guessed"
    outage.stop()
    start_consumer()
    retried = client.post(f"/api/billing-batches/{batch_id}/retry", headers=token("clerk"))
    assert retried.status_code == 200, retried.get_json()

    batch = process_to_the_end(batch_id, timeout=60)

    assert batch.total_invoices == len(pending_ids)
    assert_in_step_with_the_authority(batch_id, pending_ids)


def advance_the_authority(book: str, count: int) -> str:
    """Another system issues ``count`` vouchers on ``book``, through Lote's command line."""
    flask = Path(sys.executable).parent / "flask"
    done = subprocess.run(
        [str(flask), "--app", "webapp", "authority", "advance", book, str(count)],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_counter_another_system_moved_ahead_stops_the_next_batch_naming_both_numbers(
    factory, start_consumer
):
    start_consumer()
    first_ids = factory.bulk_pendings(600)
    first = submit(first_ids)
    wait_until_finished(first, timeout=30)
    assert_in_step_with_the_authority(first, first_ids)
    assert "is now 603" in advance_the_authority("A-0001", 3)
    second_ids = factory.bulk_pendings(600)
    second = submit(second_ids)

    failed = wait_until_finished(second, timeout=30, statuses=(BatchStatus.ERROR,))

    assert english(read_stored(failed.error_message)) == (
        "Receipt book A-0001 is out of step with the tax authority: Lote's last number is 600, "
        "the authority's is 603; reconcile the book"
    )
    assert failed.total_invoices == 0
    assert_in_step_with_the_authority(second, second_ids, elsewhere={"A-0001": 3})
    batches.retry_batch("tests", second)
    again = wait_until_finished(second, timeout=30, statuses=(BatchStatus.ERROR,))
    assert again.error_message == failed.error_message
    assert_in_step_with_the_authority(second, second_ids, elsewhere={"A-0001": 3})
    assert_in_step_with_the_authority(first, first_ids, elsewhere={"A-0001": 3})


def test_a_counter_moved_ahead_while_a_call_is_in_flight_stops_the_batch_and_lets_go(
    app, client, token, factory, start_consumer
):
    """The authority refuses the call in flight (10016: its numbers are no longer the next), the
    next attempt asks and finds another system's vouchers there: those numbers were never Lote's,
    so the call is forgotten and the batch stops naming both counters, like any batch on a book
    out of step; it can be abandoned, keeping what the authority authorized for it."""
    start_consumer(CAE_LATENCY_MS=300, **SHORT_LEASE)
    pending_ids = factory.bulk_pendings(3000)
    batch_id = submit(pending_ids)
    wait_for(
        lambda: fresh_batch(batch_id).total_invoices and calls_in_flight(batch_id),
        timeout=30,
        message="a call in flight after some were stored",
    )
    app.extensions["lote.cae"].advance(1, 1, 3, clock.today())

    failed = wait_until_finished(batch_id, timeout=30, statuses=(BatchStatus.ERROR,))

    lote, theirs = failed.total_invoices, authority_last()
    assert theirs == lote + 3
    assert_in_step_with_the_authority(batch_id, pending_ids, elsewhere={"A-0001": 3})
    assert english(read_stored(failed.error_message)) == (
        f"Receipt book A-0001 is out of step with the tax authority: Lote's last number is "
        f"{lote}, the authority's is {theirs}; reconcile the book"
    )
    abandoned = client.post(f"/api/billing-batches/{batch_id}/abandon", headers=token("admin"))
    assert abandoned.status_code == 200, abandoned.get_json()
    db.session.rollback()
    assert db.session.get(ReceiptBook, "A-0001").held_by_batch_id is None
    assert fresh_batch(batch_id).total_invoices == lote


def test_a_voucher_rejected_in_the_middle_of_a_call_returns_its_pending_and_the_rest_are_invoiced(
    factory, start_consumer
):
    start_consumer()
    pending_ids, rejected = pendings_with_rejected(factory, before=1100, after=900)
    batch_id = submit(pending_ids)

    batch = wait_until_finished(batch_id, timeout=60)

    assert (batch.total_invoices, batch.rejected_count) == (len(pending_ids) - 1, 1)
    pending = db.session.get(BillingPending, rejected)
    assert pending.available
    assert (pending.rejection_code, pending.rejected_by_batch_id) == (10015, batch_id)
    assert pending.rejection_message == "El campo DocNro es invalido"
    assert_in_step_with_the_authority(batch_id, pending_ids)


def test_credit_notes_whose_answers_were_lost_are_found_by_asking_and_issued_once(
    factory, start_consumer
):
    from webapp.billing import corrections, invoicing
    from webapp.models import Correction, CorrectionStatus

    start_consumer(CAE_LOST_ANSWER_RATE=0.4)
    pending_ids = factory.bulk_pendings(4000)  # invoiced here, where no answer is lost
    source = batches.create_batch("tests", clock.today(), "A-0001", pending_ids)
    invoicing.process_batch(source.id, final_attempt=True)
    # 4000 credit notes in 16 calls, by the consumer that loses answers.
    notes_batch = corrections.credit_batch("tests", source.id, "Fecha de emisión errónea").batch

    batch = process_to_the_end(notes_batch.id, timeout=60)

    assert batch.attempts > 1, "no answer was lost: the fault did not happen"
    assert batch.total_invoices == len(pending_ids)
    assert_in_step_with_the_authority(notes_batch.id, [])
    statuses = Counter(
        db.session.scalars(select(Correction.status).where(Correction.batch_id == batch.id))
    )
    assert statuses == {CorrectionStatus.ISSUED: len(pending_ids)}
    notes_per_invoice = Counter(
        db.session.scalars(select(Invoice.corrects_invoice_id).where(Invoice.batch_id == batch.id))
    )
    assert set(notes_per_invoice.values()) == {1}
    assert len(notes_per_invoice) == len(pending_ids)
