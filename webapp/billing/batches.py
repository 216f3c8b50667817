"""Billing batches: creation claims pendings atomically, then the batch is queued (or invoiced at
once); the batches' queries, retry and abandon (docs/rules.md, rules 3, 7 and 8)."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import func, select, update

from webapp.billing import audit, customers
from webapp.billing.books import (
    book_for_update,
    check_issue_date,
    check_point_of_sale,
    invoice_number,
    type_and_point_of_sale,
)
from webapp.billing.cae import CaeUnavailable
from webapp.billing.documents import check_receipt_book, letters_issued_by
from webapp.billing.errors import Conflict, InvalidInput, NotFound, TooLarge
from webapp.billing.ids import among, chunked, statement_chunks, unique_ids
from webapp.billing.invoicing import StartAgain, process_batch, release_books, resolve_calls
from webapp.billing.issuer import get_issuer
from webapp.billing.messages import Message, letters_named
from webapp.billing.pagination import Page, paginate
from webapp.billing.queue import queue
from webapp.billing.services import check_date_range
from webapp.extensions import db
from webapp.models import (
    INVOICE_OF_LETTER,
    INVOICE_TYPES,
    LETTER_OF_TYPE,
    BatchBook,
    BatchKind,
    BatchStatus,
    BillingBatch,
    BillingPending,
    Correction,
    CorrectionStatus,
    IssuerIvaCondition,
    PendingStatus,
    utcnow,
)


@dataclass(frozen=True)
class BatchTerms:
    """What a batch invoices: a point of sale and the letters it issues there (one when the
    batch names a book), for this issuer."""

    point_of_sale: int
    letters: tuple[str, ...]
    receipt_book: str | None
    issuer: IssuerIvaCondition


def batch_terms(receipt_book: str | None, point_of_sale: int | None) -> BatchTerms:
    """Reads what a batch names: a book (``A-0001``, which restricts it to its letter) or a point
    of sale (every letter the issuer issues there), or both if they agree (docs/rules.md rules 4
    and 12). The issuer must be set: it decides the letters."""
    current = get_issuer()
    if current is None:
        raise Conflict(Message("batch.issuer_first"))
    issued = letters_issued_by(current.iva_condition)
    if receipt_book is None and point_of_sale is None:
        raise InvalidInput(
            Message("batch.names_a_book"),
            [{"field": "pointOfSale", "message": Message("batch.book_or_point_hint")}],
        )
    if receipt_book is None:
        return BatchTerms(
            check_point_of_sale(point_of_sale, current), issued, None, current.iva_condition
        )
    code = check_receipt_book(receipt_book)
    document_type, book_point_of_sale = type_and_point_of_sale(code)
    if document_type not in INVOICE_TYPES:
        raise InvalidInput(
            Message("book.invalid"),
            [{"field": "receiptBook", "message": Message("batch.notes_from_invoices")}],
        )
    letter = LETTER_OF_TYPE[document_type]
    if point_of_sale is not None and point_of_sale != book_point_of_sale:
        raise InvalidInput(
            Message("batch.book_and_point_disagree"),
            [
                {
                    "field": "pointOfSale",
                    "message": Message(
                        "batch.point_of_book", point=str(book_point_of_sale), book=code
                    ),
                }
            ],
        )
    check_point_of_sale(book_point_of_sale, current, field="receiptBook")
    if letter not in issued:
        raise InvalidInput(
            Message("book.invalid"),
            [
                {
                    "field": "receiptBook",
                    "message": Message(
                        "batch.letters_issued", issued=letters_named(issued), letter=letter
                    ),
                }
            ],
        )
    return BatchTerms(book_point_of_sale, (letter,), code, current.iva_condition)


def check_batch_terms(
    issue_date: date, receipt_book: str | None, count: int, point_of_sale: int | None = None
) -> BatchTerms:
    """What a batch of ``count`` pendings for this book (or point of sale) and date would be
    refused for, checked before the clerk is asked to confirm it: its size, its book or point of
    sale and its issue date."""
    _check_size(count)
    terms = batch_terms(receipt_book, point_of_sale)
    check_issue_date(
        issue_date, terms.point_of_sale, [INVOICE_OF_LETTER[letter] for letter in terms.letters]
    )
    return terms


def _check_size(count: int) -> None:
    limit = current_app.config["MAX_PENDINGS_PER_BATCH"]
    if count > limit:
        raise TooLarge(Message("batch.too_large", limit=limit, count=count))


def create_batch(
    actor: str,
    issue_date: date,
    receipt_book: str | None,
    pending_ids: list[int],
    point_of_sale: int | None = None,
) -> BillingBatch:
    """Creates a batch in PENDING_PROCESSING and claims its pendings in the same transaction: a
    pending that is not PENDING, already claimed by an open batch, owed by an incomplete
    customer, or owed by a customer that takes another letter than the batch's book, refuses
    the whole batch."""
    terms = check_batch_terms(issue_date, receipt_book, len(pending_ids), point_of_sale)
    ids = unique_ids(pending_ids, "pendingIds", current_app.config["MAX_PENDINGS_PER_BATCH"])
    batch = BillingBatch(
        issue_date=issue_date,
        point_of_sale=terms.point_of_sale,
        receipt_book=terms.receipt_book,
        status=BatchStatus.PENDING_PROCESSING,
        pending_count=len(ids),
        created_by=actor,
        enqueued_at=utcnow(),
    )
    if terms.receipt_book is not None:
        # The batch's book row must exist for its foreign key.
        book_for_update(INVOICE_OF_LETTER[terms.letters[0]], terms.point_of_sale)
    db.session.add(batch)
    db.session.flush()
    claimed = 0
    for chunk in statement_chunks(ids):
        # Rows are locked in id order, so batches claiming overlapping pendings wait for each
        # other instead of deadlocking; a row another batch took meanwhile no longer matches.
        claimable = (
            select(BillingPending.id)
            .where(
                among(BillingPending.id, chunk),
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
        letter = terms.letters[0] if terms.receipt_book else None
        refused = customers.receiver_refusals(ids, terms.issuer, letter)
    if refused:
        db.session.rollback()
        raise Conflict(
            Message("batch.refused_pendings", refused=len(refused), count=len(ids)),
            refused,
        )
    named = terms.receipt_book or Message("book.point_of_sale", point=str(terms.point_of_sale))
    audit.record(
        actor,
        "created",
        "batch",
        batch.id,
        Message("audit.batch_created", count=len(ids), book=named),
    )
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
                refused.append({"id": pending_id, "reason": Message("row.missing")})
            elif row.status != PendingStatus.PENDING:
                refused.append(
                    {
                        "id": pending_id,
                        "reason": Message("pending.is_not_pending", status=row.status),
                    }
                )
            elif row.service_date > issue_date:
                refused.append(
                    {
                        "id": pending_id,
                        "reason": Message(
                            "pending.after_issue_date",
                            service_date=row.service_date,
                            issue_date=issue_date,
                        ),
                    }
                )
            elif row.batch_id != own_batch_id:
                refused.append(
                    {
                        "id": pending_id,
                        "reason": Message("pending.belongs_to_batch", batch=str(row.batch_id)),
                    }
                )
    return refused


@dataclass
class Submission:
    """A stored batch and whether its task reached the queue. A batch stored while the queue is
    down is not lost: the reaper queues it once the queue is back (docs/rules.md rule 7)."""

    batch: BillingBatch
    queued: bool


def submit_batch(
    actor: str,
    issue_date: date,
    receipt_book: str | None,
    pending_ids: list[int],
    wait: bool = False,
    point_of_sale: int | None = None,
) -> Submission:
    """Creates a batch, then (after its commit) queues it, or invoices it at once when ``wait``
    (a batch too large to invoice within the web server's timeout is refused first)."""
    limit = current_app.config["SYNC_MAX_PENDINGS"]
    if wait and len(pending_ids) > limit:
        raise TooLarge(Message("batch.too_large_to_wait", count=len(pending_ids), limit=limit))
    batch = create_batch(actor, issue_date, receipt_book, pending_ids, point_of_sale)
    if wait:
        try:
            process_batch(batch.id, final_attempt=True)
        except StartAgain:
            # Another batch holds its book, or the attempt failed after some vouchers were
            # authorized: the queue takes it from here.
            db.session.refresh(batch)
            return Submission(batch, queued=queue().enqueue_batch(batch.id) is not None)
        db.session.refresh(batch)
        return Submission(batch, queued=False)
    return Submission(batch, queued=queue().enqueue_batch(batch.id) is not None)


def retry_batch(actor: str, batch_id: int) -> Submission:
    """Sends an ERROR batch back to the queue; any other status, or an abandoned batch, is a
    conflict."""
    batch = get_batch(batch_id)
    changed = db.session.execute(
        update(BillingBatch)
        .where(BillingBatch.id == batch_id, BillingBatch.retryable)
        .values(
            status=BatchStatus.PENDING_PROCESSING,
            error_message=None,
            progress=0,
            enqueued_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        if batch.abandoned_at is not None:
            raise Conflict(Message("batch.abandoned_no_retry", id=str(batch_id)))
        raise Conflict(Message("batch.not_retryable", id=str(batch_id), status=batch.status))
    audit.record(actor, "retried", "batch", batch_id)
    db.session.commit()
    db.session.refresh(batch)
    return Submission(batch, queued=queue().enqueue_batch(batch_id) is not None)


def why_not_abandonable(batch: BillingBatch) -> Message | None:
    """Why a batch cannot be abandoned, if it cannot: only an ERROR batch, and only once."""
    if batch.abandoned_at is not None:
        return Message("batch.already_abandoned", id=str(batch.id))
    if batch.status != BatchStatus.ERROR:
        return Message("batch.not_abandonable", id=str(batch.id), status=batch.status)
    return None


def abandon_batch(actor: str, batch_id: int) -> BillingBatch:
    """Gives up an ERROR batch: first its calls left in flight are resolved by asking the tax
    authority (what it authorized stays invoiced), then its PENDING pendings are released
    (available to a new batch or to cancelling again) and its books let go; the batch stays
    ERROR, marked abandoned, never to be retried. Only an ERROR batch not yet abandoned can be;
    anything else is a conflict, and so is an authority that does not answer meanwhile."""
    batch = get_batch(batch_id)
    if batch.retryable:
        try:
            resolve_calls(batch, attempt=None)
        except CaeUnavailable:
            db.session.rollback()
            raise Conflict(Message("batch.unanswered_vouchers", id=str(batch_id))) from None
    now = utcnow()
    changed = db.session.execute(
        update(BillingBatch)
        .where(BillingBatch.id == batch_id, BillingBatch.retryable)
        .values(abandoned_at=now, abandoned_by=actor, updated_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict(why_not_abandonable(batch))
    if batch.kind == BatchKind.NOTES:
        # What its corrections asked for is free to ask again.
        release = (
            update(Correction)
            .where(Correction.batch_id == batch_id, Correction.status == CorrectionStatus.PENDING)
            .values(status=CorrectionStatus.RELEASED, updated_at=now)
        )
    else:
        release = (
            update(BillingPending)
            .where(
                BillingPending.batch_id == batch_id, BillingPending.status == PendingStatus.PENDING
            )
            .values(batch_id=None, updated_at=now)
        )
    released = db.session.execute(release.execution_options(synchronize_session=False)).rowcount
    release_books(batch_id)
    audit.record(
        actor, "abandoned", "batch", batch_id, Message("audit.pendings_released", count=released)
    )
    db.session.commit()
    db.session.refresh(batch)
    return batch


def waiting_to_retry(batch: BillingBatch) -> bool:
    """A queued batch whose last attempt failed waits for its automatic retry, and keeps the
    reason of the failure meanwhile."""
    return batch.status == BatchStatus.PENDING_PROCESSING and batch.error_message is not None


def seconds_until_retry(batch: BillingBatch) -> int | None:
    """Seconds until the automatic retry of a batch waiting for one runs, if the queue holds it."""
    return queue().seconds_until_retry(batch.id) if waiting_to_retry(batch) else None


def get_batch(batch_id: int) -> BillingBatch:
    batch = db.session.get(BillingBatch, batch_id)
    if batch is None:
        raise NotFound(Message("batch.not_found", id=str(batch_id)))
    return batch


def held_pending_count(batch: BillingBatch) -> int:
    """How many pendings (or corrections) the batch still holds: those abandoning it would
    release."""
    held = _held_by(batch)
    waiting = (
        held.status == CorrectionStatus.PENDING
        if held is Correction
        else held.status == PendingStatus.PENDING
    )
    return db.session.scalar(
        select(func.count()).select_from(held).where(held.batch_id == batch.id, waiting)
    )


def batch_books(batch_id: int) -> list[dict]:
    """The books a batch invoiced on, each with its first and last number and how many
    vouchers the authority authorized and rejected there (a rejection consumes no number)."""
    rows = db.session.scalars(
        select(BatchBook).where(BatchBook.batch_id == batch_id).order_by(BatchBook.receipt_book)
    )
    return [
        {
            "receipt_book": book.receipt_book,
            "document_type": book.document_type,
            "first_number": invoice_number(book.receipt_book, book.first_number)
            if book.first_number
            else None,
            "last_number": invoice_number(book.receipt_book, book.last_number)
            if book.last_number
            else None,
            "authorized": book.authorized,
            "rejected": book.rejected,
        }
        for book in rows
    ]


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


def count_by_status() -> dict[BatchStatus, int]:
    rows = db.session.execute(
        select(BillingBatch.status, func.count()).group_by(BillingBatch.status)
    ).all()
    counts = dict.fromkeys(BatchStatus, 0)
    counts.update({status: n for status, n in rows})
    return counts


def queue_stats(counts: dict | None = None) -> dict:
    """Queue figures in the shape of the system Lote replaces: waiting and delayed come from the
    queue, active, completed and failed from the batches (the database is the source of truth);
    ``counts`` are the batches by status when the caller has them already."""
    counts = counts or count_by_status()
    return {
        "waiting": queue().waiting_count(),
        "active": counts[BatchStatus.IN_PROCESS],
        "completed": counts[BatchStatus.PROCESSED],
        "failed": counts[BatchStatus.ERROR],
        "delayed": queue().delayed_count(),
    }


def _held_by(batch: BillingBatch):
    """What a batch holds: its pendings, or (a batch of notes) its corrections."""
    return Correction if batch.kind == BatchKind.NOTES else BillingPending


def claimed_amount(batch: BillingBatch) -> Decimal:
    """The total of the pendings (or corrections) a batch holds, summed in SQL."""
    held = _held_by(batch)
    total = db.session.scalar(
        select(func.coalesce(func.sum(held.amount), 0)).where(held.batch_id == batch.id)
    )
    return Decimal(total).quantize(Decimal("0.01"))
