"""Receipt books: a point of sale and a document type. How a book's code is read, the counter row
that makes its invoice numbers gapless, the issue dates a book accepts (docs/rules.md, rules 4
and 6), and the book beside the tax authority's: its figures, and reconciling a book the
authority is ahead on (DESIGN section 11, "Check before calling")."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask import current_app
from sqlalchemy import exists, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.billing import audit, clock, customers, invoices
from webapp.billing.cae import CaeAuthority, CaeUnavailable, VoucherRecord
from webapp.billing.documents import (
    DOCUMENT_TYPE_NAMES,
    MAX_POINT_OF_SALE,
    NOTE_BOOK_PREFIX,
    NOTE_OF_LETTER,
    book_code_of,
    check_receipt_book,
    invoice_number,
)
from webapp.billing.errors import Conflict, InvalidInput, NotFound, Unavailable
from webapp.billing.issuer import get_issuer, snapshot
from webapp.billing.messages import Message
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import (
    INVOICE_OF_LETTER,
    AuthorityCall,
    Invoice,
    Issuer,
    ReceiptBook,
    utcnow,
)

LETTERS = ("A", "B", "C")
BOOK_ORDER = select(ReceiptBook).order_by(ReceiptBook.code)
# The receiver an invoice issued outside Lote names: the authority keeps only its document.
ISSUED_OUTSIDE_RECEIVER = "Issued outside Lote"
AUTHORITY_SILENT = Message("authority.silent")


def type_and_point_of_sale(code: str) -> tuple[int, int]:
    """The voucher type and point of sale of a canonical book code."""
    *prefix, letter, point_of_sale = code.split("-")
    kind = next((k for k, p in NOTE_BOOK_PREFIX.items() if [p] == prefix), None)
    types = NOTE_OF_LETTER[kind] if kind else INVOICE_OF_LETTER
    return types[letter], int(point_of_sale)


def check_point_of_sale(value, issuer: Issuer | None, field: str = "pointOfSale") -> int:
    """A point of sale is a whole number from 1 to 99999 and, when the issuer lists its points of
    sale, one of them: the authority refuses vouchers of a point of sale it does not know."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_POINT_OF_SALE:
        problem = Message("point_of_sale.range", limit=MAX_POINT_OF_SALE)
    elif issuer is not None and issuer.points_of_sale and value not in issuer.points_of_sale:
        listed = ", ".join(str(p) for p in issuer.points_of_sale)
        problem = Message("point_of_sale.not_issuers", point=str(value), listed=listed)
    else:
        return value
    raise InvalidInput(Message("point_of_sale.invalid"), [{"field": field, "message": problem}])


def _issue_date_problem(issue_date: date, book: ReceiptBook | None) -> Message | None:
    """Rule 6: within the fiscal window around today, never before the book's last date."""
    window = current_app.config["ISSUE_DATE_WINDOW_DAYS"]
    today = clock.today()
    if abs((issue_date - today).days) > window:
        return Message("issue_date.window", window=window, today_date=today, issue_date=issue_date)
    if book is not None and book.last_issue_date and issue_date < book.last_issue_date:
        return Message("issue_date.before_book", last_date=book.last_issue_date, book=book.code)
    return None


def check_issue_date(issue_date: date, point_of_sale: int, document_types: Iterable[int]) -> None:
    """A batch's issue date for the books of these voucher types at a point of sale (rule 6)."""
    if not isinstance(issue_date, date):
        raise InvalidInput(
            Message("issue_date.invalid"),
            [{"field": "issueDate", "message": Message("field.must_be_date")}],
        )
    books = db.session.scalars(
        select(ReceiptBook)
        .where(ReceiptBook.code.in_([book_code_of(t, point_of_sale) for t in document_types]))
        .order_by(ReceiptBook.last_issue_date.desc())
    ).all()
    problem = _issue_date_problem(issue_date, books[0] if books else None)
    if problem:
        raise InvalidInput(
            Message("issue_date.refused", problem=problem),
            [{"field": "issueDate", "message": problem}],
        )


def book_for_update(document_type: int, point_of_sale: int) -> ReceiptBook:
    """The counter row of the book of this voucher type at this point of sale, created on first
    use, locked for this transaction."""
    code = book_code_of(document_type, point_of_sale)
    query = select(ReceiptBook).where(ReceiptBook.code == code).with_for_update()
    book = db.session.scalar(query)
    if book is None:
        dialect_insert = (
            postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert
        )
        db.session.execute(
            dialect_insert(ReceiptBook)
            .values(
                code=code,
                point_of_sale=point_of_sale,
                document_type=document_type,
                last_number=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        book = db.session.scalar(query)
    return book


def receipt_books() -> list[ReceiptBook]:
    return list(db.session.scalars(BOOK_ORDER))


def next_invoice_number(receipt_book: str) -> tuple[str, str]:
    """The number the next invoice of this book will get (a preview: allocation happens when a
    batch is invoiced)."""
    code = check_receipt_book(receipt_book)
    book = db.session.get(ReceiptBook, code)
    return code, invoice_number(code, (book.last_number if book else 0) + 1)


def next_number_of(book: ReceiptBook) -> str:
    """The number the next invoice of a known book will get."""
    return invoice_number(book.code, book.last_number + 1)


def authority() -> CaeAuthority:
    """The tax authority's port, the app's ``lote.cae``."""
    return current_app.extensions["lote.cae"]


@dataclass(frozen=True)
class BookFigures:
    """A book beside the tax authority's: Lote's last number and the authority's (None when
    the authority did not answer), who holds the book, and whether a call is in flight on it
    (its vouchers AUTHORIZING)."""

    code: str
    point_of_sale: int
    document_type: int
    last_number: int
    authority_last_number: int | None
    last_issue_date: date | None
    held_by_batch_id: int | None
    in_flight: bool
    adopted_number: int | None

    @property
    def in_step(self) -> bool | None:
        """Whether Lote's counter equals the authority's; None while the authority is silent."""
        if self.authority_last_number is None:
            return None
        return self.authority_last_number == self.last_number

    @property
    def authority_ahead(self) -> bool:
        return self.authority_last_number is not None and (
            self.authority_last_number > self.last_number
        )

    @property
    def next_invoice_number(self) -> str:
        return invoice_number(self.code, self.last_number + 1)

    @property
    def document_name(self) -> str:
        """The voucher type's legal name, ``Factura A``."""
        return DOCUMENT_TYPE_NAMES[self.document_type]

    def why_not_reconcilable(self) -> str | None:
        """Why Lote cannot reconcile the book now, if it cannot: only a book the authority is
        ahead on, with no call in flight (resuming its batch resolves that call first), can
        be; Lote can never move the authority's counter, so a book the authority is behind
        on is for the authority's side to settle."""
        if self.authority_last_number is None:
            return AUTHORITY_SILENT
        if self.in_flight:
            return Message("book.call_in_flight", book=self.code)
        if self.in_step:
            return Message(
                "book.in_step_nothing_to_reconcile", book=self.code, last=str(self.last_number)
            )
        if not self.authority_ahead:
            return Message(
                "book.authority_behind",
                book=self.code,
                last=str(self.last_number),
                authority_last=str(self.authority_last_number),
            )
        return None


def _authority_last(book: ReceiptBook) -> int | None:
    try:
        return authority().last_authorized(book.point_of_sale, book.document_type)
    except CaeUnavailable:
        return None


def _figures_of(books: list[ReceiptBook]) -> list[BookFigures]:
    """Each book's figures, asking the authority for its last number book by book: a book it
    does not answer for shows it unknown."""
    in_flight = set(
        db.session.scalars(
            select(AuthorityCall.receipt_book).where(
                AuthorityCall.receipt_book.in_([book.code for book in books])
            )
        )
    )
    return [
        BookFigures(
            code=book.code,
            point_of_sale=book.point_of_sale,
            document_type=book.document_type,
            last_number=book.last_number,
            authority_last_number=_authority_last(book),
            last_issue_date=book.last_issue_date,
            held_by_batch_id=book.held_by_batch_id,
            in_flight=book.code in in_flight,
            adopted_number=book.adopted_number,
        )
        for book in books
    ]


def book_figures() -> list[BookFigures]:
    """Every receipt book beside the tax authority's, by code."""
    return _figures_of(receipt_books())


def book_figures_page(page: int, limit: int) -> Page:
    """One page of the books beside the authority's: only its books are asked about."""
    result = paginate(BOOK_ORDER, page, limit)
    result.items = _figures_of(result.items)
    return result


def figures_of_book(code: str) -> BookFigures:
    """One book beside the authority's; an unknown book is a 404."""
    code = check_receipt_book(code)
    book = db.session.get(ReceiptBook, code)
    if book is None:
        raise NotFound(Message("book.not_found", book=code))
    return _figures_of([book])[0]


@dataclass(frozen=True)
class Reconciliation:
    """What reconciling brought in: the book's figures after it, and the numbers of the
    vouchers issued outside Lote that are now its invoices."""

    figures: BookFigures
    first_number: int
    last_number: int

    @property
    def count(self) -> int:
        return self.last_number - self.first_number + 1

    @property
    def remaining(self) -> int:
        """Vouchers still to bring in, when the authority is further ahead than one
        reconciliation brings in (``RECONCILE_MAX_VOUCHERS``)."""
        figures = self.figures
        return max((figures.authority_last_number or 0) - figures.last_number, 0)


def _outside_invoice(book: ReceiptBook, record: VoucherRecord, now) -> dict:
    """The invoice of a voucher the authority authorized on the book for another system. The
    authority's record keeps its total, receiver's document, date and CAE only, so the
    invoice's net is its total with no IVA and nothing exempt, its service and payment dates
    are its issue date, its receiver is "Issued outside Lote" with the voucher's document, and
    its customer is the one holding that document (``customers.holder_of_document``)."""
    doc_number = str(record.doc_nro)
    return {
        "invoice_number": invoice_number(book.code, record.cbte_nro),
        "receipt_book": book.code,
        "sequence_number": record.cbte_nro,
        "point_of_sale": book.point_of_sale,
        "document_type": book.document_type,
        "cae": record.cae,
        "cae_due_date": record.cae_fch_vto,
        "issue_date": record.cbte_fch,
        "payment_due_date": record.cbte_fch,
        "service_date": record.cbte_fch,
        "amount": record.imp_total,
        "net_amount": record.imp_total,
        "vat_amount": Decimal("0.00"),
        "exempt_amount": Decimal("0.00"),
        "vat_rate": None,
        "customer_id": customers.holder_of_document(record.doc_tipo, doc_number),
        "receiver_name": ISSUED_OUTSIDE_RECEIVER,
        "receiver_doc_type": record.doc_tipo,
        "receiver_doc_number": doc_number,
        "receiver_iva_condition": None,
        "receiver_address": "",
        "issued_outside": True,
        **snapshot(get_issuer()),
        "created_at": now,
    }


def _records_after(figures: BookFigures, last: int) -> list[VoucherRecord]:
    """The authority's vouchers numbered after Lote's last number up to ``last``, asked one by
    one; each must exist, since the authority numbers in order."""
    records = []
    for number in range(figures.last_number + 1, last + 1):
        try:
            record = authority().lookup(figures.point_of_sale, figures.document_type, number)
        except CaeUnavailable:
            raise Unavailable(AUTHORITY_SILENT) from None
        if record is None:
            raise Conflict(Message("book.authority_hides", book=figures.code, number=str(number)))
        records.append(record)
    return records


def reconcile_book(actor: str, code: str) -> Reconciliation:
    """Brings a book the tax authority is ahead on back in step: the vouchers another system
    issued on it (Lote's last number + 1 to the authority's) are asked for with ``lookup``
    and stored as invoices issued outside Lote, counted in the daily totals, and the book's
    counter moves to the last of them; audited. At most ``RECONCILE_MAX_VOUCHERS`` are brought
    in at once, so one request stays short; reconciling again brings in the rest. The
    authority is asked outside any transaction; the book is then locked and must be as it was
    (a batch may have invoiced on it meanwhile), or nothing is stored. See
    ``BookFigures.why_not_reconcilable`` for what is refused; an authority that does not
    answer is a 503."""
    figures = figures_of_book(code)
    refusal = figures.why_not_reconcilable()
    if refusal == AUTHORITY_SILENT:
        raise Unavailable(refusal)
    if refusal:
        raise Conflict(refusal)
    last = min(
        figures.authority_last_number,
        figures.last_number + current_app.config["RECONCILE_MAX_VOUCHERS"],
    )
    db.session.rollback()  # the authority is asked outside any transaction
    records = _records_after(figures, last)
    book = db.session.get(ReceiptBook, figures.code, with_for_update=True)
    busy = db.session.scalar(select(exists().where(AuthorityCall.receipt_book == book.code)))
    if busy or book.last_number != figures.last_number:
        raise Conflict(Message("book.changed_meanwhile", book=book.code))
    now = utcnow()
    brought_in = db.session.scalars(
        insert(Invoice).returning(Invoice.id, sort_by_parameter_order=True),
        [_outside_invoice(book, r, now) for r in records],
    ).all()
    invoices.add_to_daily_totals(book.code, figures.last_number + 1, last)
    book.last_number = last
    latest = records[-1].cbte_fch
    if book.last_issue_date is None or latest > book.last_issue_date:
        book.last_issue_date = latest
    reconciled = Message(
        "audit.reconciled", book=book.code, first=str(figures.last_number + 1), last=str(last)
    )
    audit.record(actor, "reconciled", "receipt_book", 0, reconciled)
    audit.record_many(actor, "reconciled", "invoice", brought_in, reconciled)
    db.session.commit()
    return Reconciliation(figures_of_book(book.code), figures.last_number + 1, last)
