"""Invoice look-ups and statistics, aggregated in SQL."""

import re
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import Select, and_, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite

from webapp.billing import customers
from webapp.billing.documents import check_receipt_book, invoice_number
from webapp.billing.errors import InvalidInput, NotFound
from webapp.billing.messages import Message
from webapp.billing.money import CENT
from webapp.billing.pagination import Page, in_id_order, paginate_newest_first
from webapp.billing.pendings import CustomerTotal, OtherCustomers, largest_customers
from webapp.billing.services import check_date_range
from webapp.extensions import db
from webapp.models import (
    CREDIT_NOTE_TYPES,
    DEBIT_NOTE_TYPES,
    INVOICE_TYPES,
    NO_CUSTOMER,
    DocumentType,
    Invoice,
    InvoiceDailyTotal,
    ReceiptBook,
)

# Every voucher type Lote issues: invoices and their notes.
ALL_TYPES = frozenset(DocumentType)

# What a clerk types to find an invoice: its sequence number, with or without the leading zeros,
# optionally after its receipt book (19, 00000019, A-0001-19, A-0001-00000019).
INVOICE_NUMBER_SEARCH = re.compile(r"(?:(?P<book>(?:N[CD]-)?[ABC]-\d{4,5})-)?(?P<sequence>\d{1,8})")


def invoice_number_condition(text: str):
    """The invoices a typed number names: with a receipt book, the one with that sequence number
    in that book; a bare sequence number, the one with it in each book; anything else is taken
    as a whole invoice number. Each is an equality on a unique index."""
    text = text.strip().upper()
    match = INVOICE_NUMBER_SEARCH.fullmatch(text)
    if match is None:
        return Invoice.invoice_number == text
    sequence = int(match["sequence"])
    if match["book"]:
        return (Invoice.receipt_book == match["book"]) & (Invoice.sequence_number == sequence)
    books = db.session.scalars(select(ReceiptBook.code)).all()
    return Invoice.invoice_number.in_([invoice_number(book, sequence) for book in books])


def check_document_type(value) -> frozenset[int]:
    """A ``documentType`` filter: one of ARCA's voucher codes (CbteTipo) Lote issues."""
    if value in set(DocumentType):
        return frozenset({int(value)})
    raise InvalidInput(
        Message("filter.invalid"),
        [
            {
                "field": "documentType",
                "message": Message(
                    "document_type.known", codes=", ".join(str(t.value) for t in DocumentType)
                ),
            }
        ],
    )


@dataclass
class InvoiceFilters:
    """What a list of vouchers shows. ``document_types``: invoices unless other types are asked
    for (credit notes, debit notes, or all)."""

    document_types: frozenset[int] = INVOICE_TYPES
    batch_id: int | None = None
    customer_id: int | None = None
    customer_name: str | None = None
    invoice_number: str | None = None
    receipt_book: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None

    def check(self) -> None:
        check_date_range(self.date_from, self.date_to)
        if self.receipt_book:
            check_receipt_book(self.receipt_book)
        if (
            self.min_amount is not None
            and self.max_amount is not None
            and self.min_amount > self.max_amount
        ):
            raise InvalidInput(
                Message("filter.invalid_amount_range"),
                [{"field": "maxAmount", "message": Message("filter.max_below_min")}],
            )

    def answered_by_daily_totals(self) -> bool:
        """Whether the filters are all dimensions of ``InvoiceDailyTotal``."""
        return (
            self.batch_id is None
            and not self.invoice_number
            and self.min_amount is None
            and self.max_amount is None
        )

    def apply(self, query: Select, source=Invoice) -> Select:
        """Filters ``query`` on the invoices, or on ``InvoiceDailyTotal`` for the filters it
        answers."""
        if self.document_types != ALL_TYPES:
            if source is Invoice:
                query = query.where(Invoice.document_type.in_(sorted(self.document_types)))
            else:
                books = select(ReceiptBook.code).where(
                    ReceiptBook.document_type.in_(sorted(self.document_types))
                )
                query = query.where(source.receipt_book.in_(books.scalar_subquery()))
        if self.batch_id is not None:
            query = query.where(Invoice.batch_id == self.batch_id)
        if self.customer_id is not None:
            query = query.where(source.customer_id == self.customer_id)
        if self.customer_name:
            query = query.where(source.customer_id.in_(customers.named_like(self.customer_name)))
        if self.invoice_number:
            query = query.where(invoice_number_condition(self.invoice_number))
        if self.receipt_book:
            query = query.where(source.receipt_book == check_receipt_book(self.receipt_book))
        if self.date_from is not None:
            query = query.where(source.issue_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(source.issue_date <= self.date_to)
        if self.min_amount is not None:
            query = query.where(Invoice.amount >= self.min_amount)
        if self.max_amount is not None:
            query = query.where(Invoice.amount <= self.max_amount)
        return query


def list_invoices(
    filters: InvoiceFilters, page: int = 1, limit: int = 20, after: int | None = None
) -> Page:
    """Invoices newest first; ``after`` (an id) pages by keyset, see ``pagination``."""
    filters.check()
    total = None
    if filters.answered_by_daily_totals():
        invoice_count = func.coalesce(func.sum(InvoiceDailyTotal.invoice_count), 0)
        total = db.session.scalar(filters.apply(select(invoice_count), InvoiceDailyTotal))
    return paginate_newest_first(
        filters.apply(select(Invoice)), Invoice.id, page, limit, after, total
    )


def iter_invoices(filters: InvoiceFilters, chunk: int = 1000):
    """Every invoice matching the filters, oldest first, read in chunks (for exports)."""
    filters.check()
    for rows in in_id_order(filters.apply(select(Invoice)), Invoice.id, chunk, scalars=True):
        yield from rows
        db.session.expunge_all()


def get_invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound(Message("invoice.not_found", id=str(invoice_id)))
    return invoice


def get_invoice_by_number(number: str) -> Invoice:
    invoice = db.session.scalar(
        select(Invoice).where(Invoice.invoice_number == number.strip().upper())
    )
    if invoice is None:
        raise NotFound(Message("invoice.not_found", id=number))
    return invoice


@dataclass
class Bucket:
    key: str | int
    count: int
    total_amount: Decimal


@dataclass
class InvoiceStatistics:
    """The invoices' figures; ``credited_amount`` and ``debited_amount`` add up the notes of the
    same filters, and ``net_amount`` is what was invoiced once they are counted."""

    total_invoices: int
    total_amount: Decimal
    average_amount: Decimal
    by_month: list[Bucket] = field(default_factory=list)
    by_customer: list[CustomerTotal] = field(default_factory=list)
    credited_amount: Decimal = Decimal("0.00")
    debited_amount: Decimal = Decimal("0.00")

    @property
    def net_amount(self) -> Decimal:
        return self.total_amount - self.credited_amount + self.debited_amount

    def largest(self, n: int) -> tuple[list[CustomerTotal], OtherCustomers | None]:
        """The ``n`` customers invoiced the most, largest first, and the others added up."""
        return largest_customers(self.by_customer, n)


def invoice_statistics(filters: InvoiceFilters | None = None) -> InvoiceStatistics:
    """Totals, the average, and totals by month and by customer, aggregated in SQL: one pass
    groups by issue date (months and the grand total are folded from those few rows), one by
    customer. Filtered by date, customer and receipt book only (as the API allows), they add up
    the daily totals the invoicing transaction keeps; any other filter reads the invoices."""
    filters = filters or InvoiceFilters()
    filters.check()
    if filters.answered_by_daily_totals():
        source = InvoiceDailyTotal
        count, amount = func.sum(source.invoice_count), func.sum(source.total_amount)
    else:
        source = Invoice
        count, amount = func.count(), func.sum(source.amount)
    months: dict[str, Bucket] = {}
    for day, n, total in db.session.execute(
        filters.apply(select(source.issue_date, count, amount), source)
        .group_by(source.issue_date)
        .order_by(source.issue_date)
    ):
        key = f"{day.year:04d}-{day.month:02d}"
        bucket = months.setdefault(key, Bucket(key, 0, Decimal("0.00")))
        bucket.count += int(n)
        bucket.total_amount += Decimal(total).quantize(CENT)
    by_month = list(months.values())
    invoice_count = sum(b.count for b in by_month)
    total_amount = sum((b.total_amount for b in by_month), Decimal("0.00"))
    # An invoice issued outside Lote may have no customer: its row's customer is None.
    by_customer = [
        CustomerTotal(None if c == NO_CUSTOMER else c, int(n), Decimal(t).quantize(CENT))
        for c, n, t in db.session.execute(
            filters.apply(select(source.customer_id, count, amount), source)
            .group_by(source.customer_id)
            .order_by(amount.desc(), source.customer_id)
        )
    ]
    average = (
        (total_amount / invoice_count).quantize(CENT, rounding=ROUND_HALF_UP)
        if invoice_count
        else Decimal("0.00")
    )
    return InvoiceStatistics(
        invoice_count,
        total_amount,
        average,
        by_month,
        by_customer,
        credited_amount=_notes_total(filters, CREDIT_NOTE_TYPES),
        debited_amount=_notes_total(filters, DEBIT_NOTE_TYPES),
    )


def _notes_total(filters: InvoiceFilters, note_types: frozenset[int]) -> Decimal:
    """The amount of the notes of these types that the statistics' filters select; a filter
    on an invoice book selects the notes of that book's letter and point of sale."""
    notes = replace(filters, document_types=note_types)
    if filters.receipt_book:
        book = check_receipt_book(filters.receipt_book)
        notes.receipt_book = None
        kind_prefix = "NC-" if note_types == CREDIT_NOTE_TYPES else "ND-"
        books = [book if book.startswith(kind_prefix) else kind_prefix + book]
    else:
        books = None
    source = InvoiceDailyTotal if notes.answered_by_daily_totals() else Invoice
    amount = InvoiceDailyTotal.total_amount if source is InvoiceDailyTotal else Invoice.amount
    query = notes.apply(select(func.coalesce(func.sum(amount), 0)), source)
    if books is not None:
        query = query.where(source.receipt_book.in_(books))
    return Decimal(db.session.scalar(query)).quantize(CENT)


def overall_totals() -> tuple[int, Decimal]:
    """How many invoices there are and their amount, from the daily totals."""
    count, amount = db.session.execute(
        InvoiceFilters().apply(
            select(
                func.coalesce(func.sum(InvoiceDailyTotal.invoice_count), 0),
                func.coalesce(func.sum(InvoiceDailyTotal.total_amount), 0),
            ),
            InvoiceDailyTotal,
        )
    ).one()
    return int(count), Decimal(amount)


DAILY_TOTAL_COLUMNS = ["issue_date", "receipt_book", "customer_id", "invoice_count", "total_amount"]


def _daily_totals_of(query: Select) -> Select:
    """The daily totals of the invoices ``query`` selects from: count and amount per issue date,
    receipt book and customer (NO_CUSTOMER for an invoice without one)."""
    keys = (
        Invoice.issue_date,
        Invoice.receipt_book,
        func.coalesce(Invoice.customer_id, NO_CUSTOMER),
    )
    return query.add_columns(*keys, func.count(), func.sum(Invoice.amount)).group_by(*keys)


def add_to_daily_totals(code: str, first: int, last: int) -> None:
    """Adds the invoices numbered ``first`` to ``last`` on book ``code`` to the daily totals, in
    the transaction that stores them; the upsert keeps writers of the same rows in line (the
    second waits for the first to commit, then adds to what it wrote)."""
    insert_ = postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
    totals = _daily_totals_of(
        select().where(
            Invoice.receipt_book == code,
            and_(Invoice.sequence_number >= first, Invoice.sequence_number <= last),
        )
    )
    upsert = insert_(InvoiceDailyTotal).from_select(DAILY_TOTAL_COLUMNS, totals)
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=DAILY_TOTAL_COLUMNS[:3],
            set_={
                "invoice_count": InvoiceDailyTotal.invoice_count + upsert.excluded.invoice_count,
                "total_amount": InvoiceDailyTotal.total_amount + upsert.excluded.total_amount,
            },
        )
    )


def rebuild_daily_totals() -> None:
    """Adds up the invoices per issue date, receipt book and customer again and replaces the
    daily totals, for after a restore that bypassed the invoicing transaction. Writes to the
    invoices wait meanwhile; readers do not."""
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("LOCK TABLE invoices IN SHARE MODE"))
    db.session.execute(delete(InvoiceDailyTotal))
    db.session.execute(
        insert(InvoiceDailyTotal).from_select(DAILY_TOTAL_COLUMNS, _daily_totals_of(select()))
    )
    db.session.commit()
