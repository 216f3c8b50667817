"""Invoice look-ups and statistics, aggregated in SQL."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from sqlalchemy import Select, extract, func, select

from webapp.billing.errors import InvalidInput, NotFound
from webapp.billing.money import CENT
from webapp.billing.pagination import Page, paginate
from webapp.billing.services import check_date_range
from webapp.extensions import db
from webapp.models import Invoice


@dataclass
class InvoiceFilters:
    batch_id: int | None = None
    customer_id: int | None = None
    invoice_number: str | None = None
    receipt_book: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    def check(self) -> None:
        check_date_range(self.date_from, self.date_to)
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise InvalidInput(
                "Invalid amount range",
                [{"field": "maxAmount", "message": "must be at least minAmount"}],
            )

    def apply(self, query: Select) -> Select:
        if self.batch_id is not None:
            query = query.where(Invoice.batch_id == self.batch_id)
        if self.customer_id is not None:
            query = query.where(Invoice.customer_id == self.customer_id)
        if self.invoice_number:
            query = query.where(Invoice.invoice_number == self.invoice_number.strip().upper())
        if self.receipt_book:
            query = query.where(Invoice.receipt_book == self.receipt_book.strip().upper())
        if self.date_from is not None:
            query = query.where(Invoice.issue_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(Invoice.issue_date <= self.date_to)
        if self.min_amount is not None:
            query = query.where(Invoice.amount >= self.min_amount)
        if self.max_amount is not None:
            query = query.where(Invoice.amount <= self.max_amount)
        return query


def list_invoices(filters: InvoiceFilters, page: int = 1, limit: int = 20) -> Page:
    filters.check()
    return paginate(filters.apply(select(Invoice)).order_by(Invoice.id.desc()), page, limit)


def iter_invoices(filters: InvoiceFilters, chunk: int = 1000):
    """Every invoice matching the filters, oldest first, read in chunks (for exports)."""
    filters.check()
    after_id = 0
    while True:
        rows = db.session.scalars(
            filters.apply(select(Invoice))
            .where(Invoice.id > after_id)
            .order_by(Invoice.id)
            .limit(chunk)
        ).all()
        if not rows:
            return
        yield from rows
        after_id = rows[-1].id
        db.session.expunge_all()


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(f"Invoice {invoice_id} not found")
    return invoice


def get_invoice_by_number(number: str) -> Invoice:
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.invoice_number == number.strip().upper())
    )
    if invoice is None:
        raise NotFound(f"Invoice {number} not found")
    return invoice


@dataclass
class Bucket:
    key: str | int
    count: int
    total_amount: Decimal


@dataclass
class InvoiceStatistics:
    total_invoices: int
    total_amount: Decimal
    average_amount: Decimal
    by_month: list[Bucket] = field(default_factory=list)
    by_customer: list[Bucket] = field(default_factory=list)


def invoice_statistics(filters: InvoiceFilters | None = None) -> InvoiceStatistics:
    """Totals, the average, and totals by month and by customer, each one SQL aggregate."""
    filters = filters or InvoiceFilters()
    filters.check()
    count, total = db.session.execute(
        filters.apply(select(func.count(), func.coalesce(func.sum(Invoice.amount), 0)))
    ).one()
    total = Decimal(total).quantize(CENT)
    year = extract("year", Invoice.issue_date)
    month = extract("month", Invoice.issue_date)
    by_month = [
        Bucket(f"{int(y):04d}-{int(m):02d}", n, Decimal(s).quantize(CENT))
        for y, m, n, s in db.session.execute(
            filters.apply(select(year, month, func.count(), func.sum(Invoice.amount)))
            .group_by(year, month)
            .order_by(year, month)
        )
    ]
    by_customer = [
        Bucket(c, n, Decimal(s).quantize(CENT))
        for c, n, s in db.session.execute(
            filters.apply(select(Invoice.customer_id, func.count(), func.sum(Invoice.amount)))
            .group_by(Invoice.customer_id)
            .order_by(func.sum(Invoice.amount).desc(), Invoice.customer_id)
        )
    ]
    average = (total / count).quantize(CENT) if count else Decimal("0.00")
    return InvoiceStatistics(count, total, average, by_month, by_customer)
