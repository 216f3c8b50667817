"""Accounting documents for the ERP, and their delivery. Every invoice's entries balance to the
cent, and an invoice is delivered once: a SENT or CONFIRMED sync holds it (DESIGN rule 10)."""

import random
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from sqlalchemy import func, select, update

from webapp.billing import audit
from webapp.billing.batches import get_batch
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.ids import chunked, lock_in_id_order, unique_ids
from webapp.billing.money import as_text
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    ErpSync,
    Invoice,
    SyncStatus,
    erp_sync_invoices,
    utcnow,
)

RECEIVABLES = ("1.1.3.01", "Cuentas por Cobrar")
SERVICE_SALES = ("4.1.1.01", "Ventas de Servicios")
VAT_PAYABLE = ("2.1.5.01", "IVA Débito Fiscal")
MAX_INVOICES_PER_SYNC = 10_000


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
            raise ErpUnavailable("The ERP rejected the delivery (simulated outage); try again")


def _entry(account: tuple[str, str], debit: Decimal, credit: Decimal) -> dict:
    return {
        "accountCode": account[0],
        "accountName": account[1],
        "debit": as_text(debit),
        "credit": as_text(credit),
    }


def document_for(invoice: Invoice) -> dict:
    """The accounting document of one invoice: receivable debit = net sales + IVA credits."""
    zero = Decimal("0.00")
    return {
        "invoiceId": invoice.id,
        "invoiceNumber": invoice.invoice_number,
        "cae": invoice.cae,
        "caeDueDate": invoice.cae_due_date.isoformat(),
        "issueDate": invoice.issue_date.isoformat(),
        "amount": as_text(invoice.amount),
        "netAmount": as_text(invoice.net_amount),
        "vatAmount": as_text(invoice.vat_amount),
        "customerId": invoice.customer_id,
        "serviceDate": invoice.service_date.isoformat(),
        "receiptBook": invoice.receipt_book,
        "batchId": invoice.batch_id,
        "accountingEntries": [
            _entry(RECEIVABLES, invoice.amount, zero),
            _entry(SERVICE_SALES, zero, invoice.net_amount),
            _entry(VAT_PAYABLE, zero, invoice.vat_amount),
        ],
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


def _load_invoices(invoice_ids: Sequence[int] | None, batch_id: int | None) -> list[Invoice]:
    if (invoice_ids is None) == (batch_id is None):
        both = invoice_ids is not None
        raise InvalidInput(
            "Give either invoiceIds or batchId",
            [
                {
                    "field": "invoiceIds",
                    "message": "give invoiceIds or batchId, not both"
                    if both
                    else "give invoiceIds or batchId",
                }
            ],
        )
    if batch_id is not None:
        batch = get_batch(batch_id)
        if batch.status != BatchStatus.PROCESSED:
            raise Conflict(f"Batch {batch_id} is {batch.status.value}; only PROCESSED batches sync")
        return list(
            db.session.scalars(
                select(Invoice).where(Invoice.batch_id == batch_id).order_by(Invoice.id)
            )
        )
    ids = unique_ids(invoice_ids, "invoiceIds", MAX_INVOICES_PER_SYNC)
    invoices = []
    for chunk in chunked(ids):
        invoices.extend(
            db.session.scalars(select(Invoice).where(Invoice.id.in_(chunk)).order_by(Invoice.id))
        )
    missing = sorted(set(ids) - {i.id for i in invoices})
    if missing:
        raise NotFound(
            f"{len(missing)} invoices not found",
            [{"id": i, "reason": "does not exist"} for i in missing],
        )
    return invoices


def preview(invoice_ids: Sequence[int] | None = None, batch_id: int | None = None) -> Documents:
    """The documents a sync would send; nothing is stored or sent."""
    invoices = _load_invoices(invoice_ids, batch_id)
    documents = [document_for(i) for i in invoices]
    return Documents(invoices, documents, _summary(documents))


def sync(
    actor: str, erp: Erp, invoice_ids: Sequence[int] | None = None, batch_id: int | None = None
) -> ErpSync:
    """Sends invoices to the ERP once. The invoices are claimed by the new sync with a conditional
    update, so two syncs of the same invoice cannot both succeed; an ERP failure is stored as an
    ERROR sync and releases them for another try."""
    docs = preview(invoice_ids, batch_id)
    ids = [i.id for i in docs.invoices]
    if not ids:
        raise Conflict("There are no invoices to send")
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
        raise Conflict(
            f"{len(taken)} invoices were already sent to the ERP; nothing was sent",
            [{"id": i, "reason": f"already in {s}"} for i, s in taken],
        )
    db.session.execute(
        erp_sync_invoices.insert(), [{"erp_sync_id": record.id, "invoice_id": i} for i in ids]
    )
    try:
        erp.receive(docs.documents)
    except ErpUnavailable as exc:
        record.status = SyncStatus.ERROR
        record.error_message = str(exc)
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


def _already_synced(ids: list[int]) -> list[tuple[int, str]]:
    taken = []
    for chunk in chunked(ids):
        taken.extend(
            db.session.execute(
                select(Invoice.id, ErpSync.sync_id)
                .join(ErpSync, Invoice.erp_sync_id == ErpSync.id)
                .where(Invoice.id.in_(chunk))
                .order_by(Invoice.id)
            ).all()
        )
    return taken


def get_sync(sync_id: str) -> ErpSync:
    record = db.session.scalar(select(ErpSync).where(ErpSync.sync_id == sync_id))
    if record is None:
        raise NotFound(f"ERP sync {sync_id} not found")
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
        db.session.rollback()
        raise Conflict(
            f"ERP sync {sync_id} is {record.status.value}; only a SENT sync is confirmed"
        )
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
