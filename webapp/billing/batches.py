"""Billing batches: creation claims pendings atomically; processing turns them into invoices in
one transaction, with gapless numbers per receipt book (docs/rules.md, rules 3-8)."""

import logging
import math
import re
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from webapp.billing import audit, clock, customers
from webapp.billing.cae import (
    MAX_INVOICES_PER_CALL,
    Authorization,
    CaeAuthority,
    CaeRequest,
    CaeUnavailable,
)
from webapp.billing.errors import Conflict, InvalidInput, NotFound, TooLarge
from webapp.billing.ids import chunked, unique_ids
from webapp.billing.money import split_vat
from webapp.billing.pagination import Page, paginate
from webapp.billing.services import check_date_range
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingBatch,
    BillingPending,
    Invoice,
    InvoiceDailyTotal,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
    utcnow,
)

log = logging.getLogger(__name__)

RECEIPT_BOOK_PATTERN = re.compile(r"^[ABC]-[0-9]{4,5}$")
RECEIPT_BOOK_HINT = "must look like A-0001: letter A, B or C, a dash, a 4- or 5-digit point of sale"
QUEUED_OR_RUNNING = (BatchStatus.PENDING_PROCESSING, BatchStatus.IN_PROCESS)
# Pendings invoiced per round: a few CAE calls, one INSERT and two UPDATEs, then progress and
# heartbeat; a round slower than the interval also reports between its CAE calls.
INVOICES_PER_CHUNK = 2_000
PROGRESS_INTERVAL_SECONDS = 0.5


class BatchRejected(Exception):
    """The batch can never be invoiced as it stands; retrying would not help."""


def check_receipt_book(code: str) -> str:
    """Rule: a receipt book is read trimmed and upper-cased ("a-0001" is A-0001) and must then be
    a letter A, B or C, a dash and a 4- or 5-digit point of sale. Every adapter (API, pages,
    filters) reads a book through this one check; returns the normalised code."""
    code = (code or "").strip().upper()
    if not RECEIPT_BOOK_PATTERN.match(code):
        raise InvalidInput(
            "Invalid receipt book", [{"field": "receiptBook", "message": RECEIPT_BOOK_HINT}]
        )
    return code


def invoice_number(receipt_book: str, sequence: int) -> str:
    return f"{receipt_book}-{sequence:08d}"


def _issue_date_problem(issue_date: date, book: ReceiptBook | None) -> str | None:
    """Rule 6: within the fiscal window around today, never before the book's last date."""
    window = current_app.config["ISSUE_DATE_WINDOW_DAYS"]
    today = clock.today()
    if abs((issue_date - today).days) > window:
        return (
            f"must be within {window} days of today ({today.isoformat()}); "
            f"{issue_date.isoformat()} is outside the fiscal window"
        )
    if book is not None and book.last_issue_date and issue_date < book.last_issue_date:
        return (
            f"must not be earlier than {book.last_issue_date.isoformat()}, the last issue date "
            f"of receipt book {book.code}"
        )
    return None


def check_issue_date(issue_date: date, code: str) -> ReceiptBook | None:
    """A batch's issue date for a receipt book (rule 6); returns the book if it exists."""
    if not isinstance(issue_date, date):
        raise InvalidInput(
            "Invalid issue date", [{"field": "issueDate", "message": "must be a date"}]
        )
    book = db.session.get(ReceiptBook, code)
    problem = _issue_date_problem(issue_date, book)
    if problem:
        raise InvalidInput(f"Issue date {problem}", [{"field": "issueDate", "message": problem}])
    return book


def check_batch_terms(issue_date: date, receipt_book: str, count: int) -> None:
    """What a batch of ``count`` pendings for this book and date would be refused for, checked
    before the clerk is asked to confirm it: its size, its receipt book and its issue date."""
    _check_size(count)
    check_issue_date(issue_date, check_receipt_book(receipt_book))


def _check_size(count: int) -> None:
    limit = current_app.config["MAX_PENDINGS_PER_BATCH"]
    if count > limit:
        raise TooLarge(f"A batch holds at most {limit} pendings; {count} were given")


def _book_for_update(code: str) -> ReceiptBook:
    """The receipt book's counter row, created on first use, locked for this transaction."""
    query = select(ReceiptBook).where(ReceiptBook.code == code).with_for_update()
    book = db.session.scalar(query)
    if book is None:
        dialect_insert = (
            postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        )
        db.session.execute(
            dialect_insert(ReceiptBook)
            .values(code=code, last_number=0, created_at=utcnow())
            .on_conflict_do_nothing()
        )
        book = db.session.scalar(query)
    return book


def create_batch(
    actor: str, issue_date: date, receipt_book: str, pending_ids: list[int]
) -> BillingBatch:
    """Creates a batch in PENDING_PROCESSING and claims its pendings in the same transaction: a
    pending that is not PENDING, already claimed by an open batch, or owed by an incomplete
    customer, refuses the whole batch."""
    _check_size(len(pending_ids))
    code = check_receipt_book(receipt_book)
    ids = unique_ids(pending_ids, "pendingIds", current_app.config["MAX_PENDINGS_PER_BATCH"])
    book = check_issue_date(issue_date, code)
    if book is None:
        _book_for_update(code)

    batch = BillingBatch(
        issue_date=issue_date,
        receipt_book=code,
        status=BatchStatus.PENDING_PROCESSING,
        pending_count=len(ids),
        created_by=actor,
        enqueued_at=utcnow(),
    )
    db.session.add(batch)
    db.session.flush()
    claimed = 0
    for chunk in chunked(ids):
        # Rows are locked in id order, so batches claiming overlapping pendings wait for each
        # other instead of deadlocking; a row another batch took meanwhile no longer matches.
        claimable = (
            select(BillingPending.id)
            .where(
                BillingPending.id.in_(chunk),
                BillingPending.status == PendingStatus.PENDING,
                BillingPending.batch_id.is_(None),
                BillingPending.service_date <= issue_date,
            )
            .order_by(BillingPending.id)
            .with_for_update()
        )
        claimed += db.session.execute(
            update(BillingPending)
            .where(BillingPending.id.in_(claimable.scalar_subquery()))
            .values(batch_id=batch.id, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    if claimed != len(ids):
        refused = _refused_pendings(ids, batch.id, issue_date)
    else:
        refused = customers.incomplete_customer_refusals(ids)
    if refused:
        db.session.rollback()
        raise Conflict(
            f"{len(refused)} of {len(ids)} pendings cannot be batched; no batch was created",
            refused,
        )
    audit.record(actor, "created", "batch", batch.id, f"{len(ids)} pendings, book {code}")
    db.session.commit()
    return batch


def _refused_pendings(ids: list[int], own_batch_id: int, issue_date: date) -> list[dict]:
    """Why each pending the batch could not claim was refused; a service cannot be invoiced
    before it was rendered, so one dated after the issue date is refused too."""
    refused = []
    for chunk in chunked(ids):
        rows = {
            p.id: p
            for p in db.session.execute(
                select(
                    BillingPending.id,
                    BillingPending.status,
                    BillingPending.batch_id,
                    BillingPending.service_date,
                ).where(BillingPending.id.in_(chunk))
            )
        }
        for pending_id in chunk:
            row = rows.get(pending_id)
            if row is None:
                refused.append({"id": pending_id, "reason": "does not exist"})
            elif row.status != PendingStatus.PENDING:
                refused.append({"id": pending_id, "reason": f"is {row.status.value}, not PENDING"})
            elif row.service_date > issue_date:
                refused.append(
                    {
                        "id": pending_id,
                        "reason": f"service date {row.service_date.isoformat()} is after the "
                        f"issue date {issue_date.isoformat()}",
                    }
                )
            elif row.batch_id != own_batch_id:
                refused.append({"id": pending_id, "reason": f"belongs to batch {row.batch_id}"})
    return refused


@dataclass
class Submission:
    """A stored batch and whether its task reached the queue. A batch stored while the queue is
    down is not lost: the reaper queues it once the queue is back (docs/rules.md rule 7)."""

    batch: BillingBatch
    queued: bool


def submit_batch(
    actor: str, issue_date: date, receipt_book: str, pending_ids: list[int], wait: bool = False
) -> Submission:
    """Creates a batch, then (after its commit) queues it, or invoices it at once when ``wait``."""
    from webapp import tasks

    batch = create_batch(actor, issue_date, receipt_book, pending_ids)
    if wait:
        process_batch(batch.id, final_attempt=True)
        db.session.refresh(batch)
        return Submission(batch, queued=False)
    return Submission(batch, queued=tasks.enqueue_batch(batch.id) is not None)


def retry_batch(actor: str, batch_id: int) -> Submission:
    """Sends an ERROR batch back to the queue; any other status, or an abandoned batch, is a
    conflict."""
    from webapp import tasks

    batch = get_batch(batch_id)
    changed = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            BillingBatch.status == BatchStatus.ERROR,
            BillingBatch.abandoned_at.is_(None),
        )
        .values(
            status=BatchStatus.PENDING_PROCESSING,
            error_message=None,
            progress=0,
            enqueued_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.rollback()
        if batch.abandoned_at is not None:
            raise Conflict(f"Batch {batch_id} was abandoned; it cannot be retried")
        raise Conflict(f"Batch {batch_id} is {batch.status.value}; only an ERROR batch is retried")
    audit.record(actor, "retried", "batch", batch_id)
    db.session.commit()
    db.session.refresh(batch)
    return Submission(batch, queued=tasks.enqueue_batch(batch_id) is not None)


def why_not_abandonable(batch: BillingBatch) -> str | None:
    """Why a batch cannot be abandoned, if it cannot: only an ERROR batch, and only once."""
    if batch.abandoned_at is not None:
        return f"Batch {batch.id} was already abandoned"
    if batch.status != BatchStatus.ERROR:
        return f"Batch {batch.id} is {batch.status.value}; only an ERROR batch can be abandoned"
    return None


def abandon_batch(actor: str, batch_id: int) -> BillingBatch:
    """Gives up an ERROR batch: its PENDING pendings are released (available to a new batch or
    to cancelling again), and the batch stays ERROR, marked abandoned, never to be retried. Only
    an ERROR batch not yet abandoned can be; anything else is a conflict."""
    batch = get_batch(batch_id)
    now = utcnow()
    changed = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            BillingBatch.status == BatchStatus.ERROR,
            BillingBatch.abandoned_at.is_(None),
        )
        .values(abandoned_at=now, abandoned_by=actor, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        db.session.rollback()
        raise Conflict(why_not_abandonable(batch))
    released = db.session.execute(
        update(BillingPending)
        .where(BillingPending.batch_id == batch_id, BillingPending.status == PendingStatus.PENDING)
        .values(batch_id=None, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    audit.record(actor, "abandoned", "batch", batch_id, f"{released} pendings released")
    db.session.commit()
    db.session.refresh(batch)
    return batch


def waiting_to_retry(batch: BillingBatch) -> bool:
    """A queued batch whose last attempt failed waits for its automatic retry, and keeps the
    reason of the failure meanwhile."""
    return batch.status == BatchStatus.PENDING_PROCESSING and batch.error_message is not None


def get_batch(batch_id: int) -> BillingBatch:
    batch = db.session.get(BillingBatch, batch_id)
    if batch is None:
        raise NotFound(f"Billing batch {batch_id} not found")
    return batch


def held_pending_count(batch_id: int) -> int:
    """How many pendings the batch still holds (those abandoning it would release)."""
    return db.session.scalar(
        select(func.count()).select_from(BillingPending).where(BillingPending.batch_id == batch_id)
    )


def batch_pending_ids(batch_id: int) -> list[int]:
    return list(
        db.session.scalars(
            select(BillingPending.id)
            .where(BillingPending.batch_id == batch_id)
            .order_by(BillingPending.id)
        )
    )


@dataclass
class BatchFilters:
    status: BatchStatus | None = None
    receipt_book: str | None = None
    date_from: date | None = None
    date_to: date | None = None

    def apply(self, query):
        if self.status is not None:
            query = query.where(BillingBatch.status == self.status)
        if self.receipt_book:
            code = check_receipt_book(self.receipt_book)
            query = query.where(BillingBatch.receipt_book == code)
        if self.date_from is not None:
            query = query.where(BillingBatch.issue_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(BillingBatch.issue_date <= self.date_to)
        return query


def list_batches(filters: BatchFilters, page: int = 1, limit: int = 20) -> Page:
    check_date_range(filters.date_from, filters.date_to)
    query = filters.apply(select(BillingBatch)).order_by(BillingBatch.id.desc())
    return paginate(query, page, limit)


def receipt_books() -> list[ReceiptBook]:
    return list(db.session.scalars(select(ReceiptBook).order_by(ReceiptBook.code)))


def next_invoice_number(receipt_book: str) -> tuple[str, str]:
    """The number the next invoice of this book will get (a preview: allocation happens when a
    batch is invoiced)."""
    code = check_receipt_book(receipt_book)
    book = db.session.get(ReceiptBook, code)
    return code, invoice_number(code, (book.last_number if book else 0) + 1)


def next_number_of(book: ReceiptBook) -> str:
    """The number the next invoice of a known book will get."""
    return invoice_number(book.code, book.last_number + 1)


def count_by_status() -> dict[BatchStatus, int]:
    rows = db.session.execute(
        select(BillingBatch.status, func.count()).group_by(BillingBatch.status)
    ).all()
    counts = dict.fromkeys(BatchStatus, 0)
    counts.update({status: n for status, n in rows})
    return counts


# Processing -------------------------------------------------------------------------------


def _lease_cutoff() -> datetime:
    return utcnow() - timedelta(seconds=current_app.config["BATCH_LEASE_SECONDS"])


def claim_grace() -> timedelta:
    """A worker that has just taken a batch's task from the queue has not claimed the batch yet:
    for this long after a batch was queued, the reaper does not take it for lost when the queue
    no longer shows its task."""
    return timedelta(seconds=current_app.config["BATCH_CLAIM_GRACE_SECONDS"])


def claim_batch(batch_id: int) -> int | None:
    """Takes a queued batch (or a running one whose worker stopped beating) with one conditional
    update. Returns the attempt number that fences this worker's writes, or None when another
    worker holds it or it is finished: a duplicated task then does nothing."""
    now = utcnow()
    attempt = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            or_(
                BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                and_(
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                    BillingBatch.heartbeat_at < _lease_cutoff(),
                ),
            ),
        )
        .values(
            status=BatchStatus.IN_PROCESS,
            attempts=BillingBatch.attempts + 1,
            progress=0,
            heartbeat_at=now,
            processing_started_at=now,
            processing_completed_at=None,
        )
        .returning(BillingBatch.attempts)
        .execution_options(synchronize_session=False)
    ).scalar()
    db.session.commit()
    return attempt


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
        from webapp import tasks

        self.last_report = time.monotonic()
        progress = min(99, done * 100 // self.total)
        if not self.in_batch_row:
            tasks.publish_progress(self.batch_id, self.attempt, progress)
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
        from webapp import tasks

        if not self.in_batch_row:
            tasks.forget_progress(self.batch_id)


def live_progress(batch: BillingBatch) -> int:
    """The progress of a batch as readers should see it: the batch row's, except while a batch
    runs on SQLite, where its worker publishes it on the queue's storage (see
    ``ProgressReporter``) for the attempt that is running."""
    if batch.status == BatchStatus.IN_PROCESS and db.engine.dialect.name == "sqlite":
        from webapp import tasks

        published = tasks.published_progress(batch.id)
        if published is not None and published[0] == batch.attempts:
            return published[1]
    return batch.progress


def _authorize(
    authority: CaeAuthority, requests: list[CaeRequest], reporter: ProgressReporter, done: int
) -> list[Authorization]:
    """The tax authority takes at most MAX_INVOICES_PER_CALL invoices per call."""
    authorizations: list[Authorization] = []
    for start in range(0, len(requests), MAX_INVOICES_PER_CALL):
        authorizations.extend(authority.authorize(requests[start : start + MAX_INVOICES_PER_CALL]))
        reporter.report_if_due(done + len(authorizations))
    return authorizations


def invoice_batch(batch_id: int, attempt: int, reporter: ProgressReporter) -> None:
    """Invoices a claimed batch all or nothing: invoices, pendings and services INVOICED, the
    receipt-book counter and the batch PROCESSED commit together. Numbers come from the counter
    row, locked for the transaction, so they are gapless per book under any concurrency.

    The pendings are taken INVOICES_PER_CHUNK at a time in id order, each chunk written with
    one statement per table, so memory stays flat whatever the batch size and a heartbeat is
    written after every chunk."""
    authority = current_app.extensions["lote.cae"]
    batch = db.session.get(BillingBatch, batch_id)
    book = _book_for_update(batch.receipt_book)
    if book.last_issue_date and batch.issue_date < book.last_issue_date:
        raise BatchRejected(
            f"Issue date {batch.issue_date.isoformat()} is earlier than "
            f"{book.last_issue_date.isoformat()}, already used by receipt book {book.code}"
        )
    issue_date, code = batch.issue_date, book.code
    first_sequence = book.last_number + 1
    sequence = book.last_number
    total_amount = Decimal("0.00")
    done, after_id = 0, 0
    while True:
        rows = db.session.execute(
            select(
                BillingPending.id,
                BillingPending.service_id,
                BillingPending.customer_id,
                BillingPending.service_date,
                BillingPending.amount,
            )
            .where(
                BillingPending.batch_id == batch_id,
                BillingPending.status == PendingStatus.PENDING,
                BillingPending.id > after_id,
            )
            .order_by(BillingPending.id)
            .limit(INVOICES_PER_CHUNK)
        ).all()
        if not rows:
            break
        requests = [
            CaeRequest(code, sequence + n, issue_date, row.amount)
            for n, row in enumerate(rows, start=1)
        ]
        authorizations = _authorize(authority, requests, reporter, done)
        now = utcnow()
        invoices = []
        for request, row, authorization in zip(requests, rows, authorizations, strict=True):
            net, vat = split_vat(row.amount)
            invoices.append(
                {
                    "invoice_number": invoice_number(code, request.sequence_number),
                    "receipt_book": code,
                    "sequence_number": request.sequence_number,
                    "cae": authorization.cae,
                    "cae_due_date": authorization.due_date,
                    "issue_date": issue_date,
                    "amount": row.amount,
                    "net_amount": net,
                    "vat_amount": vat,
                    "customer_id": row.customer_id,
                    "service_id": row.service_id,
                    "service_date": row.service_date,
                    "pending_id": row.id,
                    "batch_id": batch_id,
                    "created_at": now,
                }
            )
            total_amount += row.amount
        db.session.execute(insert(Invoice), invoices)
        _mark_invoiced([row.id for row in rows], [row.service_id for row in rows], now)
        sequence += len(rows)
        done += len(rows)
        after_id = rows[-1].id
        reporter.report(done)

    if done != batch.pending_count:
        raise BatchRejected(
            f"The batch claimed {batch.pending_count} pendings but {done} are still PENDING"
        )
    _add_to_daily_totals(batch_id)
    now = utcnow()
    book.last_number = sequence
    book.last_issue_date = issue_date
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
            first_invoice_number=invoice_number(code, first_sequence) if done else None,
            last_invoice_number=invoice_number(code, sequence) if done else None,
            processing_completed_at=now,
            heartbeat_at=now,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not finished:
        raise LostClaim(f"Batch {batch_id} attempt {attempt} was taken over by another worker")
    audit.record("worker", "invoiced", "batch", batch_id, f"{done} invoices")
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


def _failure_message(exc: Exception) -> str:
    if isinstance(exc, CaeUnavailable | BatchRejected):
        return str(exc)
    if isinstance(exc, OperationalError):
        return "The database was unavailable during invoicing"
    return f"Unexpected error during invoicing ({type(exc).__name__})"


def record_failure(batch_id: int, attempt: int, message: str, final: bool) -> None:
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
            error_message=message if final else f"Attempt {attempt} failed: {message}; retrying",
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


def follow_up_delay() -> int | None:
    """Seconds until the reaper should look again, if it should: once the claim grace of a batch
    queued just now has passed, else once the lease of a running batch could have run out."""
    statuses = set(
        db.session.scalars(
            select(BillingBatch.status)
            .where(
                or_(
                    and_(
                        BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                        BillingBatch.enqueued_at >= utcnow() - claim_grace(),
                    ),
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                )
            )
            .distinct()
        )
    )
    db.session.commit()
    if BatchStatus.PENDING_PROCESSING in statuses:
        return current_app.config["BATCH_CLAIM_GRACE_SECONDS"] + 1
    if BatchStatus.IN_PROCESS in statuses:
        return current_app.config["BATCH_LEASE_SECONDS"] + 1
    return None


def lost_batches(queued_batch_ids: set[int]) -> list[int]:
    """Batches that should be running but have no live task: queued ones the queue does not hold
    (once the claim grace has passed), and running ones whose heartbeat is older than the lease
    (docs/rules.md rule 7)."""
    rows = db.session.scalars(
        select(BillingBatch.id).where(
            or_(
                and_(
                    BillingBatch.status == BatchStatus.PENDING_PROCESSING,
                    or_(
                        BillingBatch.enqueued_at.is_(None),
                        BillingBatch.enqueued_at < utcnow() - claim_grace(),
                    ),
                ),
                and_(
                    BillingBatch.status == BatchStatus.IN_PROCESS,
                    or_(
                        BillingBatch.heartbeat_at.is_(None),
                        BillingBatch.heartbeat_at < _lease_cutoff(),
                    ),
                ),
            )
        )
    ).all()
    db.session.commit()
    return [batch_id for batch_id in rows if batch_id not in queued_batch_ids]


def claimed_amount(batch_id: int) -> Decimal:
    """The total of the pendings a batch holds, summed in SQL."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(BillingPending.amount), 0)).where(
            BillingPending.batch_id == batch_id
        )
    )
    return Decimal(total).quantize(Decimal("0.01"))
