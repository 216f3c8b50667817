"""The simulated tax authority is another system, stateful and strict like WSFEv1, and Lote stays
in step with it: rejections are answers, a book out of step stops the batch naming both
numbers (docs/rules.md rule 5)."""

import re
import threading
from datetime import date, timedelta
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, func, select, text

from tests.conftest import customer_cuit
from webapp.authority import SimulatedAuthority
from webapp.billing import batches, clock, invoicing
from webapp.billing.cae import MAX_INVOICES_PER_CALL, AuthorizationRequest, VatLine, VoucherDetail
from webapp.billing.messages import english
from webapp.extensions import db
from webapp.models import (
    AuthorityCall,
    BatchStatus,
    BillingBatch,
    BillingPending,
    Invoice,
    PendingStatus,
    ReceiptBook,
)

DAY = date(2026, 11, 30)


def detail(number: int, **changes) -> VoucherDetail:
    fields = {
        "doc_tipo": 80,
        "doc_nro": int(customer_cuit(101)),
        "cbte_desde": number,
        "cbte_hasta": number,
        "cbte_fch": DAY,
        "imp_total": Decimal("121.00"),
        "imp_neto": Decimal("100.00"),
        "imp_iva": Decimal("21.00"),
        "imp_op_ex": Decimal("0.00"),
        "fch_serv_desde": DAY,
        "fch_serv_hasta": DAY,
        "fch_vto_pago": DAY + timedelta(30),
        "condicion_iva_receptor_id": 1,
        "iva": (VatLine(5, Decimal("100.00"), Decimal("21.00")),),
    }
    return VoucherDetail(**{**fields, **changes})


@pytest.fixture
def authority(app):
    return app.extensions["lote.cae"]


def call(authority, cbte_tipo, *details, pto_vta=7):
    return authority.authorize(AuthorizationRequest(pto_vta, cbte_tipo, tuple(details)))


def test_the_authority_keeps_its_vouchers_where_another_connection_sees_them(app, authority):
    answer = call(authority, 1, detail(1), detail(2))
    assert answer.resultado == "A"
    assert [d.cae for d in answer.details] == ["10000700000001", "10000700000002"]
    # Another process's view: a new simulator on the same storage.
    other = SimulatedAuthority(authority.url)
    assert other.last_authorized(7, 1) == 2
    assert other.lookup(7, 1, 2).cae == "10000700000002"
    assert other.lookup(7, 1, 3) is None
    # One call, kept as one run of its two vouchers.
    assert db.session.execute(text("SELECT count(*) FROM authority_runs")).scalar() == 1


@pytest.mark.parametrize(
    ("cbte_tipo", "changes", "code"),
    [
        (1, {"cbte_desde": 2, "cbte_hasta": 2}, 10016),
        (1, {"doc_tipo": 96, "doc_nro": 30111222}, 10013),
        (6, {"doc_tipo": 80, "doc_nro": 30500010913}, 10015),
        (6, {"doc_tipo": 99, "doc_nro": 5}, 10015),
        (6, {"condicion_iva_receptor_id": None}, 10246),
        (11, {}, 10071),
        (1, {"imp_total": Decimal("120.00")}, 10048),
    ],
)
def test_a_voucher_the_manual_refuses_is_rejected_with_its_code(
    authority, cbte_tipo, changes, code
):
    answer = call(authority, cbte_tipo, detail(1, **changes))
    assert answer.resultado == "R"
    assert [e.code for e in answer.details[0].observaciones] == [code]
    assert authority.last_authorized(7, cbte_tipo) == 0


def test_a_date_before_the_books_last_is_not_the_next_voucher(authority):
    call(authority, 6, detail(1, doc_tipo=99, doc_nro=0, condicion_iva_receptor_id=5))
    earlier = detail(2, cbte_fch=DAY - timedelta(1), doc_tipo=99, doc_nro=0)
    assert call(authority, 6, earlier).details[0].observaciones[0].code == 10016


def test_within_a_call_every_voucher_after_a_rejected_one_is_rejected_as_not_the_next(
    authority,
):
    answer = call(authority, 1, detail(1), detail(2, doc_tipo=96), detail(3), detail(4))
    assert answer.resultado == "P"
    assert [d.resultado for d in answer.details] == ["A", "R", "R", "R"]
    assert [d.observaciones[0].code for d in answer.details[1:]] == [10013, 10016, 10016]
    assert authority.last_authorized(7, 1) == 1


def test_a_call_takes_at_most_250_vouchers(authority):
    with pytest.raises(ValueError):
        call(authority, 1, *[detail(n) for n in range(1, MAX_INVOICES_PER_CALL + 2)])


def test_a_voucher_rejected_mid_call_returns_its_pending_with_the_code_and_the_rest_are_invoiced(
    app, factory
):
    pendings = factory.pendings(2, customer_id=101)
    factory.customer(102)
    # A customer stored before Lote checked CUITs: its check digit is wrong.
    db.session.execute(text("UPDATE customers SET doc_number = '30000001023' WHERE id = 102"))
    db.session.commit()
    pendings += factory.pendings(1, customer_id=102) + factory.pendings(2, customer_id=101)
    rejected = pendings[2].id

    batch = factory.batch(pendings)

    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
    assert (batch.total_invoices, batch.rejected_count) == (4, 1)
    issued = db.session.execute(
        select(Invoice.pending_id, Invoice.sequence_number).order_by(Invoice.sequence_number)
    ).all()
    assert [number for _, number in issued] == [1, 2, 3, 4]
    assert rejected not in {pending_id for pending_id, _ in issued}
    pending = db.session.get(BillingPending, rejected)
    assert (pending.status, pending.batch_id) == (PendingStatus.PENDING, None)
    assert (pending.rejection_code, pending.rejected_by_batch_id) == (10015, batch.id)
    assert pending.rejection_message == "El campo DocNro es invalido"
    (book,) = batches.batch_books(batch.id)
    assert (book["authorized"], book["rejected"]) == (4, 1)
    assert app.extensions["lote.cae"].last_authorized(1, 1) == 4


def test_a_book_the_authority_moved_ahead_stops_the_batch_naming_both_numbers(app, factory):
    factory.batch(factory.pendings(2))
    app.extensions["lote.cae"].advance(1, 1, 3, clock.today())
    batch = factory.batch(factory.pendings(1))
    db.session.refresh(batch)
    assert batch.status == BatchStatus.ERROR
    assert english(batch.error_message) == (
        "Receipt book A-0001 is out of step with the tax authority: Lote's last number is 2, "
        "the authority's is 5; reconcile the book"
    )
    book = db.session.get(ReceiptBook, "A-0001")
    assert (book.last_number, book.held_by_batch_id) == (2, None)
    # The call reserved while the authority was asked its last number was withdrawn, not sent.
    assert db.session.scalars(select(AuthorityCall)).all() == []
    assert app.extensions["lote.cae"].last_authorized(1, 1) == 5


def test_a_point_of_sale_used_before_lote_starts_after_the_authoritys_last_number(app, factory):
    app.extensions["lote.cae"].advance(4, 6, 41, clock.today())
    batch = factory.batch(factory.pendings(2, customer_id=8001), receipt_book="B-0004")
    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
    book = db.session.get(ReceiptBook, "B-0004")
    assert (book.adopted_number, book.last_number) == (41, 43)
    assert batch.first_invoice_number == "B-0004-00000042"


def test_abandoning_resolves_the_vouchers_in_flight_first(app, factory):
    authority = app.extensions["lote.cae"]
    pendings = factory.pendings(3)
    authority.lost_answer_rate = 1.0
    batch = factory.batch(pendings)
    authority.lost_answer_rate = 0.0
    db.session.refresh(batch)
    assert batch.status == BatchStatus.ERROR

    batches.abandon_batch("tests", batch.id)

    invoices = db.session.scalars(select(Invoice).order_by(Invoice.sequence_number)).all()
    assert [i.sequence_number for i in invoices] == [1, 2, 3]
    assert [i.cae for i in invoices] == [authority.lookup(1, 1, n).cae for n in (1, 2, 3)]
    book = db.session.get(ReceiptBook, "A-0001")
    assert (book.last_number, book.held_by_batch_id) == (3, None)
    assert invoicing.process_batch(batch.id, final_attempt=True) is None


def test_a_task_for_a_batch_this_database_lacks_does_nothing_and_says_why(app, caplog):
    """A consumer sharing its queue with another Lote takes that Lote's tasks: it writes
    nothing, and its log names the likely cause instead of staying silent."""
    with caplog.at_level("WARNING", logger="webapp.billing.invoicing"):
        assert invoicing.process_batch(987654, final_attempt=True) is None
    assert "batch 987654 is not in this database" in caplog.text
    assert "same queue" in caplog.text
    assert db.session.scalar(select(func.count()).select_from(BillingBatch)) == 0


def test_a_worker_asking_about_a_long_call_renews_its_claim_between_rounds(app, factory):
    """Resolving a lost call of three rounds asks LOOKUPS_AT_ONCE vouchers at a time; after
    each round the claim is renewed where the reaper sees it, so a slow authority does not make
    the batch look lost."""
    from webapp.billing.invoicing import LOOKUPS_AT_ONCE

    size = 2 * LOOKUPS_AT_ONCE + 1
    authority = app.extensions["lote.cae"]
    authority.lost_answer_rate = 1.0
    batch = factory.batch(factory.pendings(size))
    authority.lost_answer_rate = 0.0
    db.session.refresh(batch)
    assert batch.status == BatchStatus.ERROR
    reaper_view = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])
    seen = []
    lookup = authority.lookup

    def watched_lookup(*args):
        with reaper_view.connect() as conn:
            seen.append(
                conn.scalar(
                    text("SELECT heartbeat_at FROM billing_batches WHERE id = :id"),
                    {"id": batch.id},
                )
            )
        return lookup(*args)

    authority.lookup = watched_lookup
    batches.retry_batch("tests", batch.id)  # the queue runs in the test's process
    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
    reaper_view.dispose()

    assert len(seen) == size
    # The claim's heartbeat, then one renewal after the first round and one after the second.
    assert len(set(seen)) == 3
    rounds = [seen[i : i + LOOKUPS_AT_ONCE] for i in range(0, size, LOOKUPS_AT_ONCE)]
    assert [len(set(round_)) for round_ in rounds] == [1, 1, 1]


def test_a_book_held_by_a_running_batch_makes_the_next_batch_wait_without_failing(factory):
    from webapp.billing import recovery

    first = factory.batch(factory.pendings(1), process=False)
    recovery.claim_batch(first.id)
    db.session.execute(text("UPDATE receipt_books SET held_by_batch_id = :b"), {"b": first.id})
    db.session.commit()
    second = factory.batch(factory.pendings(1), process=False)

    with pytest.raises(invoicing.StartAgain, match=f"in use by batch {first.id}"):
        invoicing.process_batch(second.id, final_attempt=True)
    db.session.refresh(second)
    assert second.status == BatchStatus.PENDING_PROCESSING


def test_a_book_with_another_batchs_call_in_flight_is_refused_until_that_batch_is_resolved(
    app, factory
):
    authority = app.extensions["lote.cae"]
    authority.lost_answer_rate = 1.0
    stuck = factory.batch(factory.pendings(2))
    authority.lost_answer_rate = 0.0
    later = factory.batch(factory.pendings(1))
    db.session.refresh(later)
    assert later.status == BatchStatus.ERROR
    assert english(later.error_message) == (
        f"Receipt book A-0001 has vouchers of batch {stuck.id} waiting for the tax authority's "
        f"answer; retry or abandon batch {stuck.id} first"
    )
    batches.retry_batch("tests", stuck.id)
    batches.retry_batch("tests", later.id)
    db.session.refresh(later)
    assert later.status == BatchStatus.PROCESSED
    assert later.first_invoice_number == "A-0001-00000003"


def test_a_rejection_is_shown_on_the_batch_the_pendings_list_and_the_customer(factory, clerk):
    factory.customer(102)
    db.session.execute(text("UPDATE customers SET doc_number = '30000001023' WHERE id = 102"))
    db.session.commit()
    (pending,) = factory.pendings(1, customer_id=102)
    batch = factory.batch([pending])

    for path in (f"/batches/{batch.id}", "/pendings/", "/customers/102"):
        html = clerk.get(path).get_data(as_text=True)
        assert "10015" in html, path
    page = re.sub(r"<[^>]+>", "", clerk.get(f"/batches/{batch.id}").get_data(as_text=True))
    assert f"Pending {pending.id}: 10015 El campo DocNro es invalido" in page


def _hold_the_first_store(monkeypatch, first: int, then=lambda held: None) -> SimpleNamespace:
    """Calls of 2 vouchers; the store of the call numbered from ``first``, once it has written
    its invoices, waits until the next call's store has written its own, then runs ``then``.
    Returns what happened: whether the first store was held so (``held``), the next call's id,
    and the first number of each call in the order their stores wrote what calls share (the
    daily totals)."""
    monkeypatch.setattr(invoicing, "INVOICES_PER_CHUNK", 2)
    second_wrote = threading.Event()
    record = SimpleNamespace(held=False, second_call_id=None, shared_written=[])
    store_invoices, add_to_daily_totals = invoicing._store_invoices, invoicing.add_to_daily_totals

    def held(call_id, authorized, *args):
        store_invoices(call_id, authorized, *args)
        if authorized[0].number == first:
            assert second_wrote.wait(timeout=30), "the next call was not stored beside it"
            record.held = True
            then(record)
        elif authorized[0].number == first + 2:
            record.second_call_id = call_id
            second_wrote.set()

    def recorded(code, first_number, last_number):
        record.shared_written.append(first_number)
        add_to_daily_totals(code, first_number, last_number)

    monkeypatch.setattr(invoicing, "_store_invoices", held)
    monkeypatch.setattr(invoicing, "add_to_daily_totals", recorded)
    return record


def _next_number(batch: BillingBatch) -> int:
    return db.session.get(ReceiptBook, batch.receipt_book).last_number + 1


@pytest.mark.postgres
def test_two_answers_stored_at_once_commit_in_the_order_of_their_calls(factory, monkeypatch):
    """On PostgreSQL a book's answers are stored two at a time: the second writes its own rows
    while the first is still being stored, and what calls share once the first has committed.
    Held back until the second has written its invoices, the first still commits first, and
    the book's counter and the batch's last number end at the last call."""
    batch = factory.batch(factory.pendings(6), process=False)
    first = _next_number(batch)
    record = _hold_the_first_store(monkeypatch, first)
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED
    db.session.refresh(batch)
    assert record.held
    assert record.shared_written == [first, first + 2, first + 4]
    assert _next_number(batch) == first + 6
    assert batch.first_invoice_number == invoicing.invoice_number(batch.receipt_book, first)
    assert batch.last_invoice_number == invoicing.invoice_number(batch.receipt_book, first + 5)


@pytest.mark.postgres
def test_an_answer_stored_beside_one_that_fails_is_not_committed_and_a_retry_stores_both(
    factory, monkeypatch
):
    """When the store of a call fails, the store of the next call, written beside it, fails
    with it instead of committing after a call that is not stored: both calls stay reserved,
    and the retry finds both authorized by asking the authority."""

    def the_connection_is_lost(held):
        raise RuntimeError("the connection was lost")

    batch = factory.batch(factory.pendings(4), process=False)
    first = _next_number(batch)
    record = _hold_the_first_store(monkeypatch, first, then=the_connection_is_lost)
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.ERROR
    db.session.refresh(batch)
    assert record.held
    assert "RuntimeError" in english(batch.error_message)
    assert batch.total_invoices == 0
    assert db.session.scalar(select(func.count()).select_from(Invoice)) == 0
    reserved = db.session.scalars(
        select(AuthorityCall.first_number).where(AuthorityCall.batch_id == batch.id)
    ).all()
    assert sorted(reserved) == [first, first + 2]
    assert _next_number(batch) == first

    monkeypatch.undo()
    batches.retry_batch("tests", batch.id)  # the queue runs in the test's process
    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED, batch.error_message
    numbers = db.session.scalars(
        select(Invoice.sequence_number).where(Invoice.batch_id == batch.id)
    ).all()
    assert sorted(numbers) == list(range(first, first + 4))
    assert _next_number(batch) == first + 4


@pytest.mark.postgres
def test_a_store_waiting_for_the_one_before_lets_go_of_its_rows_when_that_one_needs_them(
    app, factory, monkeypatch
):
    """A store waits for the store of the call before it with its own rows locked, a wait
    PostgreSQL cannot see. Here the store before waits for one of those rows (as a third
    transaction between them would make it wait): the later store lets go of its rows after
    STORE_WAIT_SECONDS, the one before commits, and the later one is stored again after it."""
    monkeypatch.setitem(app.config, "STORE_WAIT_SECONDS", 0.2)

    def wait_for_a_row_of_the_next_call(held):
        vouchers = db.session.get(AuthorityCall, held.second_call_id).vouchers
        db.session.execute(text("SET LOCAL lock_timeout = '10s'"))
        db.session.execute(
            select(BillingPending.id)
            .where(BillingPending.id == vouchers[0]["pending_id"])
            .with_for_update()
        )

    batch = factory.batch(factory.pendings(6), process=False)
    first = _next_number(batch)
    record = _hold_the_first_store(monkeypatch, first, then=wait_for_a_row_of_the_next_call)
    outcome = invoicing.process_batch(batch.id, final_attempt=True)
    db.session.refresh(batch)
    assert outcome == BatchStatus.PROCESSED, batch.error_message
    assert record.held
    assert record.shared_written == [first, first + 2, first + 4]
    assert _next_number(batch) == first + 6
