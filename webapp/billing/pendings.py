"""Billing pendings: what waits to be invoiced, its summary by customer, and cancellation."""

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, func, select

from webapp.billing import audit, customers, status_counts
from webapp.billing.errors import Conflict, NotFound
from webapp.billing.messages import Message
from webapp.billing.pagination import Page, paginate_newest_first
from webapp.billing.services import check_date_range
from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, BillingPending, PendingStatus, ServiceStatus


@dataclass
class PendingFilters:
    status: PendingStatus | None = None
    customer_id: int | None = None
    customer_name: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    available_only: bool = False

    def apply(self, query: Select) -> Select:
        if self.available_only:
            query = query.where(
                BillingPending.status == PendingStatus.PENDING, BillingPending.batch_id.is_(None)
            )
        if self.status is not None:
            query = query.where(BillingPending.status == self.status)
        if self.customer_id is not None:
            query = query.where(BillingPending.customer_id == self.customer_id)
        if self.customer_name:
            named = customers.named_like(self.customer_name)
            query = query.where(BillingPending.customer_id.in_(named))
        if self.date_from is not None:
            query = query.where(BillingPending.service_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(BillingPending.service_date <= self.date_to)
        return query

    def status_only(self) -> bool:
        """Whether no filter but the status is set, so the status counts answer the total."""
        return (
            not self.available_only
            and self.customer_id is None
            and not self.customer_name
            and self.date_from is None
            and self.date_to is None
        )


def list_pendings(
    filters: PendingFilters, page: int = 1, limit: int = 20, after: int | None = None
) -> Page:
    """Pendings newest first; ``after`` (an id) pages by keyset, see ``pagination``."""
    check_date_range(filters.date_from, filters.date_to)
    query = filters.apply(select(BillingPending))
    total = status_counts.count(BillingPending, filters.status) if filters.status_only() else None
    return paginate_newest_first(query, BillingPending.id, page, limit, after, total)


def available_pending_ids(filters: PendingFilters) -> list[int]:
    """The ids of the pendings matching ``filters`` that a new batch may claim: PENDING and held
    by no open batch, oldest first. Creating the batch claims them again atomically, so a pending
    taken meanwhile by another batch still refuses the new one."""
    check_date_range(filters.date_from, filters.date_to)
    query = replace(filters, available_only=True, status=None).apply(select(BillingPending.id))
    return list(db.session.scalars(query.order_by(BillingPending.id)))


def count_available(filters: PendingFilters) -> int:
    """The exact number of pendings matching ``filters`` that a new batch may claim (the count
    of ``available_pending_ids``), read from the index of available pendings."""
    check_date_range(filters.date_from, filters.date_to)
    query = replace(filters, available_only=True, status=None).apply(
        select(func.count()).select_from(BillingPending)
    )
    return db.session.scalar(query)


@dataclass
class AvailableTotal:
    """What a batch of every available pending matching some filters would hold: how many,
    their amount, and the newest id among them (a batch confirmed on these figures takes none
    newer)."""

    count: int
    total_amount: Decimal
    last_id: int | None


def total_available(filters: PendingFilters) -> AvailableTotal:
    """Count, amount and newest id of the pendings matching ``filters`` that a new batch may
    claim, summed in SQL."""
    check_date_range(filters.date_from, filters.date_to)
    row = db.session.execute(
        replace(filters, available_only=True, status=None).apply(
            select(
                func.count(),
                func.coalesce(func.sum(BillingPending.amount), 0),
                func.max(BillingPending.id),
            ).select_from(BillingPending)
        )
    ).one()
    return AvailableTotal(row[0], Decimal(row[1]).quantize(Decimal("0.01")), row[2])


@dataclass
class CustomerTotal:
    # None for the invoices issued outside Lote to a receiver that is no customer.
    customer_id: int | None
    count: int
    total_amount: Decimal


@dataclass
class OtherCustomers:
    customers: int
    count: int
    total_amount: Decimal


@dataclass
class HeldPendings:
    """Waiting pendings a failed (ERROR) batch still holds, and the batches that hold them."""

    count: int
    total_amount: Decimal
    batch_ids: list[int]


@dataclass
class PendingSummary:
    total_pending: int
    total_amount: Decimal
    by_customer: list[CustomerTotal]
    held_by_failed_batches: HeldPendings

    def largest(self, n: int) -> tuple[list[CustomerTotal], OtherCustomers | None]:
        """The ``n`` customers owed the most, largest first, and the others added up."""
        return largest_customers(self.by_customer, n)


def largest_customers(
    by_customer: list[CustomerTotal], n: int
) -> tuple[list[CustomerTotal], OtherCustomers | None]:
    """The ``n`` customers with the largest amounts, largest first (ties by customer number),
    and the others added up into one row, so a summary stays short whatever the customers."""
    ranked = sorted(by_customer, key=lambda c: (-c.total_amount, c.customer_id or 0))
    rest = ranked[n:]
    others = None
    if rest:
        others = OtherCustomers(
            len(rest),
            sum(c.count for c in rest),
            sum((c.total_amount for c in rest), Decimal("0.00")),
        )
    return ranked[:n], others


def summarize_pendings(filters: PendingFilters | None = None) -> PendingSummary:
    """Count and amount of PENDING pendings, overall and per customer, aggregated in SQL; the
    status and availability filters do not apply (the summary is of what waits)."""
    filters = replace(filters or PendingFilters(), status=None, available_only=False)
    base = filters.apply(
        select(
            BillingPending.customer_id,
            func.count().label("count"),
            func.coalesce(func.sum(BillingPending.amount), 0).label("total"),
        ).where(BillingPending.status == PendingStatus.PENDING)
    )
    rows = db.session.execute(
        base.group_by(BillingPending.customer_id).order_by(BillingPending.customer_id)
    ).all()
    by_customer = [CustomerTotal(r.customer_id, r.count, Decimal(r.total)) for r in rows]
    return PendingSummary(
        total_pending=sum(c.count for c in by_customer),
        total_amount=sum((c.total_amount for c in by_customer), Decimal("0.00")),
        by_customer=by_customer,
        held_by_failed_batches=_held_by_failed_batches(filters),
    )


def _held_by_failed_batches(filters: PendingFilters) -> HeldPendings:
    """The waiting pendings that ERROR batches hold: they are counted as waiting, yet no new
    batch can take them until their batch is retried or abandoned."""
    rows = db.session.execute(
        filters.apply(
            select(
                BillingPending.batch_id,
                func.count().label("count"),
                func.coalesce(func.sum(BillingPending.amount), 0).label("total"),
            )
            .join(BillingBatch, BillingBatch.id == BillingPending.batch_id)
            .where(
                BillingPending.status == PendingStatus.PENDING,
                BillingBatch.status == BatchStatus.ERROR,
            )
        )
        .group_by(BillingPending.batch_id)
        .order_by(BillingPending.batch_id)
    ).all()
    return HeldPendings(
        count=sum(r.count for r in rows),
        total_amount=sum((Decimal(r.total) for r in rows), Decimal("0.00")),
        batch_ids=[r.batch_id for r in rows],
    )


def get_pending(pending_id: int) -> BillingPending:
    pending = db.session.get(BillingPending, pending_id)
    if pending is None:
        raise NotFound(Message("pending.not_found", id=str(pending_id)))
    return pending


def refuse_unless_cancellable(pending: BillingPending) -> None:
    """Only a PENDING pending no batch holds may be cancelled; anything else is a Conflict
    saying why."""
    if pending.status != PendingStatus.PENDING:
        raise Conflict(Message("pending.not_pending", id=str(pending.id), status=pending.status))
    if pending.batch_id is not None:
        batch_id = pending.batch_id
        failed = db.session.get(BillingBatch, batch_id).status == BatchStatus.ERROR
        if failed:
            raise Conflict(
                Message("pending.in_failed_batch", id=str(pending.id), batch=str(batch_id))
            )
        raise Conflict(Message("pending.in_batch", id=str(pending.id), batch=str(batch_id)))


def cancel_pending(actor: str, pending_id: int) -> BillingPending:
    """Cancels a PENDING pending no batch has claimed; its service returns to CREATED in the same
    transaction. The cancelled pending is kept as history."""
    pending = db.session.scalar(
        select(BillingPending).where(BillingPending.id == pending_id).with_for_update()
    )
    if pending is None:
        raise NotFound(Message("pending.not_found", id=str(pending_id)))
    refuse_unless_cancellable(pending)
    pending.status = PendingStatus.CANCELLED
    pending.service.status = ServiceStatus.CREATED
    audit.record(
        actor,
        "cancelled",
        "pending",
        pending.id,
        Message("audit.of_service", id=str(pending.service_id)),
    )
    db.session.commit()
    return pending


def rejected_pendings(
    batch_id: int | None = None, customer_id: int | None = None, limit: int = 50
) -> list[BillingPending]:
    """The waiting pendings whose last voucher the tax authority rejected (the first ``limit``,
    of one batch or of one customer), with the authority's code and message: what the clerk
    must correct before batching them again."""
    query = select(BillingPending).where(
        BillingPending.status == PendingStatus.PENDING, BillingPending.rejection_code.is_not(None)
    )
    if batch_id is not None:
        query = query.where(BillingPending.rejected_by_batch_id == batch_id)
    if customer_id is not None:
        query = query.where(BillingPending.customer_id == customer_id)
    return list(db.session.scalars(query.order_by(BillingPending.id).limit(limit)))
