"""Accounting documents for the ERP, and their delivery. Every invoice's entries balance to the
cent, and an invoice is delivered once: a SENT or CONFIRMED sync holds it (docs/rules.md 10).
Only the invoices Lote issued are delivered: one issued outside Lote belongs to no batch, and
naming it is refused."""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from flask import current_app
from sqlalchemy import exists, func, select, update

from webapp.billing import audit
from webapp.billing.batches import get_batch
from webapp.billing.documents import EXEMPT
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.ids import chunked, lock_in_id_order, unique_ids
from webapp.billing.messages import Message, message_of, stored
from webapp.billing.money import as_text
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingBatch,
    ErpSync,
    Invoice,
    SyncStatus,
    erp_sync_invoices,
    utcnow,
)

RECEIVABLES = ("1.1.3.01", "Cuentas por Cobrar")
SERVICE_SALES = ("4.1.1.01", "Ventas de Servicios")
EXEMPT_SALES = ("4.1.1.02", "Ventas de Servicios Exentas")
VAT_PAYABLE = ("2.1.5.01", "IVA Débito Fiscal")
MAX_INVOICES_PER_SYNC = 10_000
INVOICES_NAMED = 5


class ErpUnavailable(Exception):
    pass


class Erp(Protocol):
    def receive(self, documents: list[dict]) -> None:
        """Delivers the documents; raises ErpUnavailable when the ERP refuses them."""


class SimulatedErp:
    """Accepts documents, failing at ``failure_rate``; deterministic when seeded."""

    def __init__(self, failure_rate: float, seed: str | None = None):
        self.failure_rate = failure_rate
        self._random = random.Random(seed)

    def receive(self, documents: list[dict]) -> None:
        if self._random.random() < self.failure_rate:
            raise ErpUnavailable(Message("erp.outage"))


def _entry(account: tuple[str, str], debit: Decimal, credit: Decimal) -> dict:
    return {
        "accountCode": account[0],
        "accountName": account[1],
        "debit": as_text(debit),
        "credit": as_text(credit),
    }


def document_for(invoice: Invoice) -> dict:
    """The accounting document of one voucher: for an invoice (or a debit note), the receivable
    debit equals the credit of its sales, taxed (net) or exempt, plus its IVA at its rate; a
    class C voucher reports no IVA (docs/rules.md 2). A credit note's entries mirror them:
    sales and IVA debited, the receivable credited (rule 13)."""
    zero = Decimal("0.00")

    def entry(account, amount: Decimal, receivable: bool = False) -> dict:
        debit_side = receivable != invoice.is_credit_note
        return _entry(account, amount if debit_side else zero, zero if debit_side else amount)

    entries = [entry(RECEIVABLES, invoice.amount, receivable=True)]
    if invoice.vat_rate == EXEMPT:
        entries.append(entry(EXEMPT_SALES, invoice.exempt_amount))
    else:
        entries.append(entry(SERVICE_SALES, invoice.net_amount))
    if invoice.vat_rate not in (None, EXEMPT):
        entries.append({**entry(VAT_PAYABLE, invoice.vat_amount), "vatRate": invoice.vat_rate})
    return {
        "invoiceId": invoice.id,
        "invoiceNumber": invoice.invoice_number,
        "cae": invoice.cae,
        "caeDueDate": invoice.cae_due_date.isoformat(),
        "issueDate": invoice.issue_date.isoformat(),
        "amount": as_text(invoice.amount),
        "netAmount": as_text(invoice.net_amount),
        "vatAmount": as_text(invoice.vat_amount),
        "exemptAmount": as_text(invoice.exempt_amount),
        "vatRate": invoice.vat_rate,
        "documentType": invoice.document_type,
        "correctsInvoiceId": invoice.corrects_invoice_id,
        "customerId": invoice.customer_id,
        "customerName": invoice.receiver_name,
        "serviceDate": invoice.service_date.isoformat(),
        "receiptBook": invoice.receipt_book,
        "batchId": invoice.batch_id,
        "accountingEntries": entries,
    }


@dataclass
class Documents:
    invoices: list[Invoice]
    documents: list[dict]
    summary: dict


def _summary(documents: list[dict]) -> dict:
    debit = sum(Decimal(e["debit"]) for d in documents for e in d["accountingEntries"])
    credit = sum(Decimal(e["credit"]) for d in documents for e in d["accountingEntries"])
    total = sum((Decimal(d["amount"]) for d in documents), Decimal("0.00"))
    return {
        "totalInvoices": len(documents),
        "totalAmount": as_text(total),
        "totalDebit": as_text(debit),
        "totalCredit": as_text(credit),
        "balanced": debit == credit,
    }


def _load_invoices(
    invoice_ids: Sequence[int] | None, batch_id: int | None, unsent_only: bool = False
) -> list[Invoice]:
    if (invoice_ids is None) == (batch_id is None):
        both = invoice_ids is not None
        raise InvalidInput(
            Message("erp.either"),
            [
                {
                    "field": "invoiceIds",
                    "message": Message("erp.not_both" if both else "erp.one_of"),
                }
            ],
        )
    if batch_id is not None:
        _processed_batch(batch_id)
        query = select(Invoice).where(Invoice.batch_id == batch_id)
        if unsent_only:
            query = query.where(Invoice.erp_sync_id.is_(None))
        return list(db.session.scalars(query.order_by(Invoice.id)))
    ids = unique_ids(invoice_ids, "invoiceIds", MAX_INVOICES_PER_SYNC)
    invoices = []
    for chunk in chunked(ids):
        invoices.extend(
            db.session.scalars(select(Invoice).where(Invoice.id.in_(chunk)).order_by(Invoice.id))
        )
    missing = sorted(set(ids) - {i.id for i in invoices})
    if missing:
        raise NotFound(
            Message("erp.invoices_missing", count=len(missing)),
            [{"id": i, "reason": Message("row.missing")} for i in missing],
        )
    _refuse_issued_outside(invoices)
    return invoices


def _refuse_issued_outside(invoices: list[Invoice]) -> None:
    """The ERP receives the invoices Lote issued; one issued outside Lote (brought in by
    reconciling its book) belongs to the system that issued it, and its accounts are unknown."""
    outside = [i for i in invoices if i.issued_outside]
    if not outside:
        return
    numbers = [i.invoice_number for i in outside]
    if len(outside) == 1:
        message = Message("erp.issued_outside", number=numbers[0])
    else:
        message = Message(
            "erp.issued_outside_many", count=len(outside), numbers=invoice_list(numbers)
        )
    reason = Message("erp.reason_issued_outside")
    raise Conflict(
        message,
        [{"id": i.id, "invoiceNumber": i.invoice_number, "reason": reason} for i in outside],
    )


def _processed_batch(batch_id: int) -> BillingBatch:
    """The batch, which must have ended with invoices: PROCESSED, or ERROR after the tax
    authority authorized some of its vouchers (those are invoices like any other)."""
    batch = get_batch(batch_id)
    if not (
        batch.status == BatchStatus.PROCESSED
        or (batch.status == BatchStatus.ERROR and batch.total_invoices)
    ):
        raise Conflict(Message("erp.batch_not_processed", id=str(batch_id), status=batch.status))
    return batch


def invoice_list(numbers: Sequence[str]) -> Message | str:
    """Invoice numbers as a message names them: the first few, then how many more."""
    named = ", ".join(numbers[:INVOICES_NAMED])
    hidden = len(numbers) - INVOICES_NAMED
    return Message("erp.numbers_and_more", numbers=named, count=hidden) if hidden > 0 else named


@dataclass
class BatchDelivery:
    """Where a processed batch's invoices stand with the ERP: how many no sync holds yet (the
    only ones that can be sent), and how many each SENT or CONFIRMED sync holds."""

    batch: BillingBatch
    unsent: int
    held: list[tuple[str, SyncStatus, int]]

    @property
    def delivered(self) -> int:
        return sum(count for _, _, count in self.held)

    @property
    def invoice_count(self) -> int:
        return self.unsent + self.delivered


def batch_delivery(batch_id: int) -> BatchDelivery:
    """What of a PROCESSED batch was already delivered to the ERP, and what is left to send."""
    batch = _processed_batch(batch_id)
    rows = db.session.execute(
        select(ErpSync.sync_id, ErpSync.status, func.count(Invoice.id))
        .select_from(Invoice)
        .outerjoin(ErpSync, Invoice.erp_sync_id == ErpSync.id)
        .where(Invoice.batch_id == batch_id)
        .group_by(ErpSync.sync_id, ErpSync.status)
        .order_by(ErpSync.sync_id)
    ).all()
    unsent = sum(count for sync_id, _, count in rows if sync_id is None)
    held = [(sync_id, status, count) for sync_id, status, count in rows if sync_id is not None]
    return BatchDelivery(batch, unsent, held)


def batches_to_send(limit: int) -> list[BatchDelivery]:
    """The latest ended batches (PROCESSED, or ERROR with invoices) that still hold an invoice
    no sync holds, newest first."""
    unsent = exists().where(Invoice.batch_id == BillingBatch.id, Invoice.erp_sync_id.is_(None))
    ids = db.session.scalars(
        select(BillingBatch.id)
        .where(BillingBatch.status.in_((BatchStatus.PROCESSED, BatchStatus.ERROR)), unsent)
        .order_by(BillingBatch.id.desc())
        .limit(limit)
    ).all()
    return [batch_delivery(batch_id) for batch_id in ids]


def preview(
    invoice_ids: Sequence[int] | None = None,
    batch_id: int | None = None,
    unsent_only: bool = False,
) -> Documents:
    """The documents a sync would send; nothing is stored or sent. ``unsent_only`` leaves out the
    batch's invoices that a SENT or CONFIRMED sync already holds."""
    invoices = _load_invoices(invoice_ids, batch_id, unsent_only)
    documents = [document_for(i) for i in invoices]
    return Documents(invoices, documents, _summary(documents))


def sync(
    actor: str,
    invoice_ids: Sequence[int] | None = None,
    batch_id: int | None = None,
    unsent_only: bool = False,
) -> ErpSync:
    """Sends invoices to the ERP once. The invoices are claimed by the new sync with a conditional
    update, so two syncs of the same invoice cannot both succeed; an ERP failure is stored as an
    ERROR sync and releases them for another try. A batch is sent whole unless ``unsent_only``,
    which sends what of it no sync holds yet. The ERP is the app's, ``lote.erp``."""
    erp: Erp = current_app.extensions["lote.erp"]
    docs = preview(invoice_ids, batch_id, unsent_only)
    ids = [i.id for i in docs.invoices]
    if not ids and batch_id is not None and unsent_only:
        raise Conflict(Message("erp.batch_all_sent", id=str(batch_id)))
    if not ids:
        raise Conflict(Message("erp.nothing_to_send"))
    record = ErpSync(
        status=SyncStatus.SENT,
        payload={"documents": docs.documents, "summary": docs.summary},
        created_by=actor,
        batch_id=batch_id,
        invoice_count=len(ids),
        total_amount=Decimal(docs.summary["totalAmount"]),
    )
    db.session.add(record)
    db.session.flush()
    record.sync_id = f"SYNC-{utcnow().year}-{record.id:06d}"
    lock_in_id_order(Invoice, ids)
    claimed = 0
    for chunk in chunked(ids):
        claimed += db.session.execute(
            update(Invoice)
            .where(Invoice.id.in_(chunk), Invoice.erp_sync_id.is_(None))
            .values(erp_sync_id=record.id)
            .execution_options(synchronize_session=False)
        ).rowcount
    if claimed != len(ids):
        db.session.rollback()
        taken = _already_synced(ids)
        numbers = [number for _, number, _ in taken]
        if len(taken) == 1:
            message = Message("erp.invoice_sent", number=numbers[0])
        else:
            message = Message("erp.invoices_sent", count=len(taken), numbers=invoice_list(numbers))
        raise Conflict(
            message,
            [
                {
                    "id": i,
                    "invoiceNumber": number,
                    "reason": Message("erp.already_in", sync=sync_id),
                }
                for i, number, sync_id in taken
            ],
        )
    db.session.execute(
        erp_sync_invoices.insert(), [{"erp_sync_id": record.id, "invoice_id": i} for i in ids]
    )
    try:
        erp.receive(docs.documents)
    except ErpUnavailable as exc:
        record.status = SyncStatus.ERROR
        record.error_message = stored(message_of(exc))
        for chunk in chunked(ids):
            db.session.execute(
                update(Invoice)
                .where(Invoice.id.in_(chunk))
                .values(erp_sync_id=None)
                .execution_options(synchronize_session=False)
            )
    audit.record(actor, f"erp_{record.status.value.lower()}", "erp_sync", record.id, record.sync_id)
    if batch_id is not None:
        audit.record(actor, f"erp_{record.status.value.lower()}", "batch", batch_id, record.sync_id)
    db.session.commit()
    return record


def _already_synced(ids: list[int]) -> list[tuple[int, str, str]]:
    """(id, invoice number, sync id) of each of these invoices a sync already holds."""
    taken = []
    for chunk in chunked(ids):
        taken.extend(
            db.session.execute(
                select(Invoice.id, Invoice.invoice_number, ErpSync.sync_id)
                .join(ErpSync, Invoice.erp_sync_id == ErpSync.id)
                .where(Invoice.id.in_(chunk))
                .order_by(Invoice.id)
            ).all()
        )
    return taken


def get_sync(sync_id: str) -> ErpSync:
    record = db.session.scalar(select(ErpSync).where(ErpSync.sync_id == sync_id))
    if record is None:
        raise NotFound(Message("erp.sync_not_found", id=sync_id))
    return record


def history(page: int = 1, limit: int = 20, status: SyncStatus | None = None) -> Page:
    query = select(ErpSync)
    if status is not None:
        query = query.where(ErpSync.status == status)
    return paginate(query.order_by(ErpSync.id.desc()), page, limit)


def confirm(actor: str, sync_id: str) -> ErpSync:
    """The ERP acknowledged a SENT sync; anything else is a conflict."""
    record = get_sync(sync_id)
    changed = db.session.execute(
        update(ErpSync)
        .where(ErpSync.id == record.id, ErpSync.status == SyncStatus.SENT)
        .values(status=SyncStatus.CONFIRMED, confirmed_at=utcnow(), updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not changed:
        raise Conflict(Message("erp.not_confirmable", id=sync_id, status=record.status))
    audit.record(actor, "erp_confirmed", "erp_sync", record.id, sync_id)
    db.session.commit()
    db.session.refresh(record)
    return record


def sync_counts() -> dict[SyncStatus, int]:
    counts = dict.fromkeys(SyncStatus, 0)
    counts.update(
        dict(
            db.session.execute(select(ErpSync.status, func.count()).group_by(ErpSync.status)).all()
        )
    )
    return counts
