"""Invoicing a claimed batch: one transaction turns its pendings into invoices of the letter
each customer takes, with gapless numbers per receipt book, reporting progress as it goes; a
failed attempt is recorded for the next retry or as ERROR (docs/rules.md, rules 5-8 and 12)."""

import logging
import math
import time
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from webapp.billing import audit
from webapp.billing.books import book_for_update, invoice_number, letter_and_point_of_sale
from webapp.billing.cae import (
    MAX_INVOICES_PER_CALL,
    Authorization,
    AuthorizationRequest,
    CaeAuthority,
    CaeUnavailable,
    VatLine,
    VoucherDetail,
)
from webapp.billing.documents import (
    EXEMPT,
    VAT_RATE_IDS,
    Amounts,
    letters_issued_by,
    receivers_of_letter,
    split_amount,
)
from webapp.billing.issuer import get_issuer
from webapp.billing.messages import Message, message_of, stored
from webapp.billing.queue import queue
from webapp.billing.recovery import claim_batch
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingBatch,
    BillingPending,
    Customer,
    Invoice,
    InvoiceDailyTotal,
    IssuerIvaCondition,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
    utcnow,
)

log = logging.getLogger(__name__)

# Pendings invoiced per round: a few CAE calls, one INSERT and two UPDATEs, then progress and
# heartbeat; a round slower than the interval also reports between its CAE calls.
INVOICES_PER_CHUNK = 2_000
PROGRESS_INTERVAL_SECONDS = 0.5


class BatchRejected(Exception):
    """The batch can never be invoiced as it stands; retrying would not help."""


class ProgressReporter:
    """Publishes progress where readers see it while the invoicing transaction is still open. On
    PostgreSQL it goes to the batch row with the heartbeat, on a connection of its own committed
    at once. SQLite has one writer at a time and the invoicing transaction holds it, so there the
    progress goes to the queue's storage instead, read back by ``live_progress``."""

    def __init__(self, batch_id: int, attempt: int, total: int):
        self.batch_id = batch_id
        self.attempt = attempt
        self.total = max(total, 1)
        self.in_batch_row = db.engine.dialect.name != "sqlite"
        self.last_report = -math.inf

    def report(self, done: int) -> None:
        """Progress stays below 100 until the invoicing transaction commits PROCESSED."""
        self.last_report = time.monotonic()
        progress = min(99, done * 100 // self.total)
        if not self.in_batch_row:
            queue().publish_progress(self.batch_id, self.attempt, progress)
            return
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(
                update(BillingBatch)
                .where(
                    BillingBatch.id == self.batch_id,
                    BillingBatch.attempts == self.attempt,
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                )
                .values(progress=progress, heartbeat_at=utcnow())
            )

    def report_if_due(self, done: int) -> None:
        """Reports within a chunk too when the chunk is slow (a slow tax authority)."""
        if time.monotonic() - self.last_report >= PROGRESS_INTERVAL_SECONDS:
            self.report(done)

    def close(self) -> None:
        """The attempt is over: the batch row tells the rest."""
        if not self.in_batch_row:
            queue().forget_progress(self.batch_id)


def live_progress(batch: BillingBatch) -> int:
    """The progress of a batch as readers should see it: the batch row's, except while a batch
    runs on SQLite, where its worker publishes it on the queue's storage (see
    ``ProgressReporter``) for the attempt that is running."""
    if batch.status == BatchStatus.IN_PROCESS and db.engine.dialect.name == "sqlite":
        published = queue().published_progress(batch.id)
        if published is not None and published[0] == batch.attempts:
            return published[1]
    return batch.progress


def _authorize(
    authority: CaeAuthority,
    book: ReceiptBook,
    details: list[VoucherDetail],
    reporter: ProgressReporter,
    done: int,
) -> list[Authorization]:
    """The tax authority takes at most MAX_INVOICES_PER_CALL vouchers of one book per call."""
    authorizations: list[Authorization] = []
    for start in range(0, len(details), MAX_INVOICES_PER_CALL):
        request = AuthorizationRequest(
            pto_vta=book.point_of_sale,
            cbte_tipo=book.document_type,
            details=tuple(details[start : start + MAX_INVOICES_PER_CALL]),
        )
        authorizations.extend(authority.authorize(request))
        reporter.report_if_due(done + len(authorizations))
    return authorizations


def _pending_rows(batch_id: int, allowed: frozenset[int], after_id: int):
    """The next chunk of the batch's PENDING pendings whose customer takes the book's letter,
    with the receiver as the invoice keeps it."""
    return db.session.execute(
        select(
            BillingPending.id,
            BillingPending.service_id,
            BillingPending.customer_id,
            BillingPending.service_date,
            BillingPending.amount,
            BillingPending.vat_rate,
            Customer.legal_name,
            Customer.doc_type,
            Customer.doc_number,
            Customer.iva_condition,
            Customer.address,
            Customer.payment_days,
        )
        .join(Customer, Customer.id == BillingPending.customer_id)
        .where(
            BillingPending.batch_id == batch_id,
            BillingPending.status == PendingStatus.PENDING,
            BillingPending.id > after_id,
            Customer.incomplete.is_(False),
            Customer.iva_condition.in_(sorted(allowed)),
        )
        .order_by(BillingPending.id)
        .limit(INVOICES_PER_CHUNK)
    ).all()


def _voucher(
    row, sequence: int, issue_date: date, vat_rate: str | None
) -> tuple[VoucherDetail, Amounts, date]:
    """The WSFEv1 detail of one invoice, with its amounts and payment due date."""
    amounts = split_amount(row.amount, vat_rate)
    due = issue_date + timedelta(days=row.payment_days)
    iva = ()
    if vat_rate is not None and vat_rate != EXEMPT:
        iva = (VatLine(VAT_RATE_IDS[vat_rate], amounts.net, amounts.vat),)
    detail = VoucherDetail(
        doc_tipo=row.doc_type,
        doc_nro=int(row.doc_number),
        cbte_desde=sequence,
        cbte_hasta=sequence,
        cbte_fch=issue_date,
        imp_total=row.amount,
        imp_neto=amounts.net,
        imp_iva=amounts.vat,
        imp_op_ex=amounts.exempt,
        fch_serv_desde=row.service_date,
        fch_serv_hasta=row.service_date,
        fch_vto_pago=due,
        condicion_iva_receptor_id=row.iva_condition,
        iva=iva,
    )
    return detail, amounts, due


def _invoice_book(
    batch: BillingBatch,
    book: ReceiptBook,
    allowed: frozenset[int],
    reports_vat: bool,
    reporter: ProgressReporter,
    done: int,
) -> tuple[int, Decimal]:
    """Invoices the batch's pendings whose customers take this book's letter, numbered on from
    the book's counter; returns how many and their total, and advances the counter."""
    authority = current_app.extensions["lote.cae"]
    code, issue_date = book.code, batch.issue_date
    sequence, count, total = book.last_number, 0, Decimal("0.00")
    after_id = 0
    while rows := _pending_rows(batch.id, allowed, after_id):
        vouchers = [
            _voucher(row, sequence + n, issue_date, row.vat_rate if reports_vat else None)
            for n, row in enumerate(rows, start=1)
        ]
        authorizations = _authorize(
            authority, book, [detail for detail, _, _ in vouchers], reporter, done + count
        )
        now = utcnow()
        invoices = []
        for row, (detail, amounts, due), authorization in zip(
            rows, vouchers, authorizations, strict=True
        ):
            invoices.append(
                {
                    "invoice_number": invoice_number(code, detail.cbte_desde),
                    "receipt_book": code,
                    "sequence_number": detail.cbte_desde,
                    "point_of_sale": book.point_of_sale,
                    "document_type": book.document_type,
                    "cae": authorization.cae,
                    "cae_due_date": authorization.cae_fch_vto,
                    "issue_date": issue_date,
                    "payment_due_date": due,
                    "amount": row.amount,
                    "net_amount": amounts.net,
                    "vat_amount": amounts.vat,
                    "exempt_amount": amounts.exempt,
                    "vat_rate": row.vat_rate if reports_vat else None,
                    "customer_id": row.customer_id,
                    "receiver_name": row.legal_name,
                    "receiver_doc_type": row.doc_type,
                    "receiver_doc_number": row.doc_number,
                    "receiver_iva_condition": row.iva_condition,
                    "receiver_address": row.address,
                    "service_id": row.service_id,
                    "service_date": row.service_date,
                    "pending_id": row.id,
                    "batch_id": batch.id,
                    "created_at": now,
                }
            )
            total += row.amount
        db.session.execute(insert(Invoice), invoices)
        _mark_invoiced([row.id for row in rows], [row.service_id for row in rows], now)
        sequence += len(rows)
        count += len(rows)
        after_id = rows[-1].id
        reporter.report(done + count)
    if count:
        book.last_number = sequence
        book.last_issue_date = issue_date
    return count, total


def invoice_batch(batch_id: int, attempt: int, reporter: ProgressReporter) -> None:
    """Invoices a claimed batch all or nothing: invoices, pendings and services INVOICED, the
    books' counters and the batch PROCESSED commit together. Each pending goes to the book of
    the letter its customer takes from the issuer (docs/rules.md rule 12), at the batch's point
    of sale; numbers come from each book's counter row, locked for the transaction (in letter
    order, so batches never deadlock), so they are gapless per book under any concurrency.

    The pendings are taken INVOICES_PER_CHUNK at a time in id order, each chunk written with
    one statement per table, so memory stays flat whatever the batch size and a heartbeat is
    written after every chunk."""
    batch = db.session.get(BillingBatch, batch_id)
    current = get_issuer()
    if current is None:
        raise BatchRejected(Message("invoicing.issuer_not_set"))
    letters = (
        [letter_and_point_of_sale(batch.receipt_book)[0]]
        if batch.receipt_book
        else list(letters_issued_by(current.iva_condition))
    )
    books = [book_for_update(letter, batch.point_of_sale) for letter in letters]
    for book in books:
        if book.last_issue_date and batch.issue_date < book.last_issue_date:
            raise BatchRejected(
                Message(
                    "invoicing.issue_date_used",
                    issue_date=batch.issue_date,
                    last_date=book.last_issue_date,
                    book=book.code,
                )
            )
    reports_vat = current.iva_condition == IssuerIvaCondition.REGISTERED
    done, total_amount, used = 0, Decimal("0.00"), []
    for letter, book in zip(letters, books, strict=True):
        first = book.last_number + 1
        allowed = receivers_of_letter(current.iva_condition, letter)
        count, total = _invoice_book(batch, book, allowed, reports_vat, reporter, done)
        if count:
            used.append((book.code, first, book.last_number))
        done += count
        total_amount += total

    if done != batch.pending_count:
        raise BatchRejected(
            Message("invoicing.customer_changed", claimed=batch.pending_count, count=done)
        )
    _add_to_daily_totals(batch_id)
    now = utcnow()
    finished = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            BillingBatch.attempts == attempt,
            BillingBatch.status == BatchStatus.IN_PROCESS,
        )
        .values(
            status=BatchStatus.PROCESSED,
            progress=100,
            error_message=None,
            total_invoices=done,
            total_amount=total_amount,
            first_invoice_number=invoice_number(used[0][0], used[0][1]) if used else None,
            last_invoice_number=invoice_number(used[-1][0], used[-1][2]) if used else None,
            processing_completed_at=now,
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not finished:
        raise LostClaim(f"Batch {batch_id} attempt {attempt} was taken over by another worker")
    audit.record("worker", "invoiced", "batch", batch_id, Message("audit.invoices", count=done))
    db.session.commit()


def _add_to_daily_totals(batch_id: int) -> None:
    """Adds the batch's invoices to the statistics' daily totals, in the invoicing transaction.
    Only batches of the same receipt book write the same rows, and they wait for each other on
    the book's counter row anyway."""
    dialect_insert = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    columns = ["issue_date", "receipt_book", "customer_id", "invoice_count", "total_amount"]
    totals = (
        select(
            Invoice.issue_date,
            Invoice.receipt_book,
            Invoice.customer_id,
            func.count(),
            func.sum(Invoice.amount),
        )
        .where(Invoice.batch_id == batch_id)
        .group_by(Invoice.issue_date, Invoice.receipt_book, Invoice.customer_id)
    )
    upsert = dialect_insert(InvoiceDailyTotal).from_select(columns, totals)
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=columns[:3],
            set_={
                "invoice_count": InvoiceDailyTotal.invoice_count + upsert.excluded.invoice_count,
                "total_amount": InvoiceDailyTotal.total_amount + upsert.excluded.total_amount,
            },
        )
    )


def _mark_invoiced(pending_ids: list[int], service_ids: list[int], now: datetime) -> None:
    db.session.execute(
        update(BillingPending)
        .where(BillingPending.id.in_(pending_ids))
        .values(status=PendingStatus.INVOICED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Service)
        .where(Service.id.in_(service_ids))
        .values(status=ServiceStatus.INVOICED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


class LostClaim(Exception):
    """Another worker took the batch over after this one's lease expired."""


def _failure_message(exc: Exception) -> Message:
    if isinstance(exc, CaeUnavailable | BatchRejected):
        return message_of(exc)
    if isinstance(exc, OperationalError):
        return Message("invoicing.database_unavailable")
    return Message("invoicing.unexpected", kind=type(exc).__name__)


def record_failure(batch_id: int, attempt: int, message: Message | str, final: bool) -> None:
    """A failed attempt leaves the batch queued for the next retry, or ERROR with the reason."""
    db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            BillingBatch.attempts == attempt,
            BillingBatch.status == BatchStatus.IN_PROCESS,
        )
        .values(
            status=BatchStatus.ERROR if final else BatchStatus.PENDING_PROCESSING,
            error_message=stored(
                message if final else Message("invoicing.retrying", attempt=attempt, reason=message)
            ),
            progress=0,
            heartbeat_at=None,
            enqueued_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if final:
        audit.record("worker", "failed", "batch", batch_id, message)
    db.session.commit()


def process_batch(batch_id: int, final_attempt: bool) -> BatchStatus | None:
    """One attempt at a batch. A retryable failure is re-raised (after recording it) unless this
    is the final attempt, so the queue can schedule the next one."""
    attempt = claim_batch(batch_id)
    if attempt is None:
        return None
    reporter = ProgressReporter(
        batch_id, attempt, db.session.get(BillingBatch, batch_id).pending_count
    )
    try:
        invoice_batch(batch_id, attempt, reporter)
    except LostClaim:
        db.session.rollback()
        log.warning("batch %s: attempt %s lost its claim; nothing committed", batch_id, attempt)
        return None
    except Exception as exc:
        db.session.rollback()
        final = final_attempt or isinstance(exc, BatchRejected)
        if not isinstance(exc, CaeUnavailable | BatchRejected):
            log.exception("batch %s: attempt %s failed", batch_id, attempt)
        record_failure(batch_id, attempt, _failure_message(exc), final)
        if final:
            return BatchStatus.ERROR
        raise
    finally:
        reporter.close()
    return BatchStatus.PROCESSED
