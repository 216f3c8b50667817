"""Credit and debit notes (docs/rules.md rule 13). A mistake on an authorized voucher is never
edited away: a credit note takes back all or part of what is left of it, a debit note adds a
charge that was missing. Each note is asked for as a correction, waits in a batch of notes of
its own, and is issued like an invoice, through the tax authority: the same books per point of
sale and type (``NC-A-0001``), the same reserve, call and commit, the same live batch page.

What is left of a voucher (its balance) is its amount less the credits asked for it that were
not rejected or released, so two clerks crediting one invoice at once can never take back more
than it holds: the voucher's row is locked while a credit is asked for."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import DateTime, func, insert, literal, select

from webapp.billing import audit, clock
from webapp.billing.batches import Submission, get_batch
from webapp.billing.books import check_issue_date
from webapp.billing.documents import NOTE_OF_LETTER
from webapp.billing.errors import Conflict, InvalidInput, TooLarge
from webapp.billing.invoices import get_invoice
from webapp.billing.messages import Message
from webapp.billing.queue import queue
from webapp.extensions import db
from webapp.models import (
    CREDIT_NOTE_TYPES,
    INVOICE_TYPES,
    LETTER_OF_TYPE,
    BatchKind,
    BatchStatus,
    BillingBatch,
    Correction,
    CorrectionStatus,
    Invoice,
    NoteKind,
    utcnow,
)

REASON_MAX = 500
ZERO = Decimal("0.00")
# The corrections that take from a voucher's balance: asked for and not rejected or released.
STANDING = (CorrectionStatus.PENDING, CorrectionStatus.ISSUED)


def _standing_credits():
    """The credits that take from a voucher's balance, added up per voucher."""
    return (
        select(Correction.invoice_id, func.sum(Correction.amount).label("credited"))
        .where(Correction.kind == NoteKind.CREDIT, Correction.status.in_(STANDING))
        .group_by(Correction.invoice_id)
    )


def credited_amount(invoice_id: int) -> Decimal:
    """What the credits asked for a voucher add up to (issued, or waiting in their batch)."""
    credited = _standing_credits().where(Correction.invoice_id == invoice_id).subquery()
    total = db.session.scalar(select(func.coalesce(func.sum(credited.c.credited), 0)))
    return Decimal(total).quantize(Decimal("0.01"))


def balance_of(invoice: Invoice) -> Decimal:
    """What is left of a voucher to credit: its amount less the standing credits asked for it;
    a credit note has nothing left (it cannot be credited)."""
    if invoice.document_type in CREDIT_NOTE_TYPES:
        return ZERO
    return invoice.amount - credited_amount(invoice.id)


@dataclass(frozen=True)
class CorrectionView:
    """A correction of a voucher and the note issued for it, if the authority authorized it."""

    correction: Correction
    note: Invoice | None


def _views(condition, limit: int | None = None) -> list[CorrectionView]:
    rows = db.session.execute(
        select(Correction, Invoice)
        .outerjoin(Invoice, Invoice.correction_id == Correction.id)
        .where(condition)
        .order_by(Correction.id)
        .limit(limit)
    ).all()
    return [CorrectionView(correction, note) for correction, note in rows]


def corrections_of(invoice_id: int) -> list[CorrectionView]:
    """The notes asked for a voucher, oldest first, each with its issued note."""
    return _views(Correction.invoice_id == invoice_id)


def corrections_in(batch_id: int, limit: int = 50) -> list[CorrectionView]:
    """The first corrections of a batch of notes, with their notes."""
    return _views(Correction.batch_id == batch_id, limit)


def check_reason(reason) -> str:
    """A note's reason: required text, at most REASON_MAX characters once trimmed."""
    text = reason.strip() if isinstance(reason, str) else ""
    problem = None
    if not text:
        problem = Message("field.required")
    elif len(text) > REASON_MAX:
        problem = Message("field.too_long", count=REASON_MAX)
    if problem:
        raise InvalidInput(Message("note.invalid"), [{"field": "reason", "message": problem}])
    return text


def _note_date(issue_date: date | None, corrected_date: date, point_of_sale, note_types) -> date:
    """A note's date: today unless given; never before the voucher it corrects, and within the
    window and after the last date of its book, like any voucher (rule 6)."""
    issue_date = clock.today() if issue_date is None else issue_date
    if isinstance(issue_date, date) and issue_date < corrected_date:
        raise InvalidInput(
            Message("note.invalid"),
            [
                {
                    "field": "issueDate",
                    "message": Message("note.before_voucher", issue_date=corrected_date),
                }
            ],
        )
    check_issue_date(issue_date, point_of_sale, note_types)
    return issue_date


def _refusal(invoice: Invoice, kind: NoteKind, customer_id: int | None) -> Message | None:
    """Why this voucher cannot take a note of this kind, if it cannot."""
    if invoice.issued_outside:
        return Message("note.issued_outside", number=invoice.invoice_number)
    if customer_id is not None and customer_id != invoice.customer_id:
        return Message(
            "note.other_customer",
            number=invoice.invoice_number,
            customer=str(invoice.customer_id),
        )
    if kind == NoteKind.CREDIT and invoice.document_type in CREDIT_NOTE_TYPES:
        return Message("note.credit_of_credit", number=invoice.invoice_number)
    if kind == NoteKind.DEBIT and invoice.document_type not in INVOICE_TYPES:
        return Message("note.debit_of_note", number=invoice.invoice_number)
    return None


def _notes_batch(actor: str, issue_date: date, point_of_sale: int, count: int) -> BillingBatch:
    batch = BillingBatch(
        kind=BatchKind.NOTES,
        issue_date=issue_date,
        point_of_sale=point_of_sale,
        status=BatchStatus.PENDING_PROCESSING,
        pending_count=count,
        created_by=actor,
        enqueued_at=utcnow(),
    )
    db.session.add(batch)
    db.session.flush()
    return batch


@dataclass
class NoteRequest:
    """A correction asked for, the batch of notes it waits in, and whether that reached the
    queue."""

    correction: Correction
    submission: Submission


def request_note(
    actor: str,
    invoice_id: int,
    kind: NoteKind,
    amount: Decimal | None,
    reason: str,
    issue_date: date | None = None,
    customer_id: int | None = None,
) -> NoteRequest:
    """Asks for a credit note (``amount`` None: all that is left of the voucher) or a debit note
    (``amount`` required) for a voucher, in a batch of notes of its own, queued after its
    commit. Crediting more than the balance, crediting a credit note, debiting a note, a
    voucher issued outside Lote or another customer's voucher is a conflict."""
    invoice = get_invoice(invoice_id)
    # The voucher's row is locked until the correction commits: its balance cannot change.
    db.session.refresh(invoice, with_for_update=True)
    refusal = _refusal(invoice, kind, customer_id)
    if refusal:
        raise Conflict(refusal)
    reason = check_reason(reason)
    balance = balance_of(invoice)
    if kind == NoteKind.CREDIT:
        if balance <= 0:
            raise Conflict(Message("note.nothing_left", number=invoice.invoice_number))
        amount = balance if amount is None else amount
        if amount > balance:
            raise Conflict(
                Message("note.over_balance", number=invoice.invoice_number, balance=balance),
                [{"field": "amount", "message": Message("amount.at_most", amount=balance)}],
            )
    elif amount is None:
        raise InvalidInput(
            Message("note.invalid"), [{"field": "amount", "message": Message("field.required")}]
        )
    note_type = NOTE_OF_LETTER[kind][LETTER_OF_TYPE[invoice.document_type]]
    issue_date = _note_date(issue_date, invoice.issue_date, invoice.point_of_sale, [note_type])
    batch = _notes_batch(actor, issue_date, invoice.point_of_sale, 1)
    correction = Correction(
        batch_id=batch.id,
        invoice_id=invoice.id,
        kind=kind,
        amount=amount,
        reason=reason,
        created_by=actor,
    )
    db.session.add(correction)
    db.session.flush()
    asked = Message(f"audit.{kind.value}_note", number=invoice.invoice_number, amount=amount)
    audit.record(actor, "requested", "correction", correction.id, asked)
    audit.record(actor, "created", "batch", batch.id, asked)
    db.session.commit()
    return NoteRequest(correction, _queued(batch))


def _queued(batch: BillingBatch) -> Submission:
    return Submission(batch, queued=queue().enqueue_batch(batch.id) is not None)


def credit_batch(
    actor: str, batch_id: int, reason: str, issue_date: date | None = None
) -> Submission:
    """Credits every invoice of a batch for all that is left of it, in one batch of notes (one
    credit note per invoice with a balance). Only a batch of invoices that is not running can
    be credited, and only once something is left of its invoices."""
    source = get_batch(batch_id)
    if source.kind != BatchKind.INVOICES:
        raise Conflict(Message("note.batch_of_notes", id=str(batch_id)))
    if source.status in (BatchStatus.PENDING_PROCESSING, BatchStatus.IN_PROCESS):
        raise Conflict(Message("note.batch_running", id=str(batch_id), status=source.status))
    reason = check_reason(reason)
    letters = db.session.scalars(
        select(Invoice.document_type).where(Invoice.batch_id == batch_id).distinct()
    ).all()
    note_types = [NOTE_OF_LETTER[NoteKind.CREDIT][LETTER_OF_TYPE[t]] for t in letters]
    issue_date = _note_date(issue_date, source.issue_date, source.point_of_sale, note_types)
    # The batch's invoices are locked in id order until the corrections commit.
    db.session.execute(
        select(Invoice.id)
        .where(Invoice.batch_id == batch_id)
        .order_by(Invoice.id)
        .with_for_update()
    ).all()
    batch = _notes_batch(actor, issue_date, source.point_of_sale, 0)
    credited = _standing_credits().subquery()
    balance = Invoice.amount - func.coalesce(credited.c.credited, 0)
    now = literal(utcnow(), DateTime(timezone=True))
    rows = (
        select(
            literal(batch.id),
            Invoice.id,
            literal(NoteKind.CREDIT.value),
            balance,
            literal(reason),
            literal(CorrectionStatus.PENDING.value),
            literal(actor),
            now,
            now,
        )
        .outerjoin(credited, credited.c.invoice_id == Invoice.id)
        .where(Invoice.batch_id == batch_id, balance > 0)
        .order_by(Invoice.id)
    )
    db.session.execute(
        insert(Correction).from_select(
            [
                "batch_id",
                "invoice_id",
                "kind",
                "amount",
                "reason",
                "status",
                "created_by",
                "created_at",
                "updated_at",
            ],
            rows,
        )
    )
    count = db.session.scalar(
        select(func.count()).select_from(Correction).where(Correction.batch_id == batch.id)
    )
    if not count:
        db.session.rollback()
        raise Conflict(Message("note.batch_nothing_left", id=str(batch_id)))
    batch.pending_count = count
    limit = current_app.config["MAX_PENDINGS_PER_BATCH"]
    if count > limit:
        db.session.rollback()
        raise TooLarge(Message("batch.too_large", limit=limit, count=count))
    audit.record(
        actor, "created", "batch", batch.id, Message("audit.batch_credited", id=str(batch_id))
    )
    audit.record(
        actor, "credited", "batch", batch_id, Message("audit.credited_by", id=str(batch.id))
    )
    db.session.commit()
    return _queued(batch)
