"""Receipt books: a point of sale and a document type. How a book's code is read, its invoice
numbers, the counter row that makes them gapless, and the issue dates a book accepts
(docs/rules.md, rules 4 and 6)."""

import re
from collections.abc import Iterable
from datetime import date

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.billing import clock
from webapp.billing.documents import book_code
from webapp.billing.errors import InvalidInput
from webapp.billing.messages import Message
from webapp.extensions import db
from webapp.models import INVOICE_OF_LETTER, Issuer, ReceiptBook, utcnow

RECEIPT_BOOK_PATTERN = re.compile(r"^([ABC])-([0-9]{1,5})$")
MAX_POINT_OF_SALE = 99_999
LETTERS = ("A", "B", "C")


def check_receipt_book(code: str) -> str:
    """Rule 4: a book is read trimmed and upper-cased ("a-1" is A-0001) and must then be a letter
    A, B or C, a dash and a point of sale from 1 to 99999, however many zeros lead it. Every
    adapter (API, pages, filters) reads a book through this one check; returns the canonical
    code, ``A-0001``."""
    match = RECEIPT_BOOK_PATTERN.match((code or "").strip().upper())
    if not match or not 1 <= int(match.group(2)) <= MAX_POINT_OF_SALE:
        raise InvalidInput(
            Message("book.invalid"), [{"field": "receiptBook", "message": Message("book.hint")}]
        )
    return book_code(match.group(1), int(match.group(2)))


def letter_and_point_of_sale(code: str) -> tuple[str, int]:
    """The letter and point of sale of a canonical book code."""
    letter, point_of_sale = code.split("-")
    return letter, int(point_of_sale)


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


def invoice_number(receipt_book: str, sequence: int) -> str:
    return f"{receipt_book}-{sequence:08d}"


def _issue_date_problem(issue_date: date, book: ReceiptBook | None) -> Message | None:
    """Rule 6: within the fiscal window around today, never before the book's last date."""
    window = current_app.config["ISSUE_DATE_WINDOW_DAYS"]
    today = clock.today()
    if abs((issue_date - today).days) > window:
        return Message("issue_date.window", window=window, today_date=today, issue_date=issue_date)
    if book is not None and book.last_issue_date and issue_date < book.last_issue_date:
        return Message("issue_date.before_book", last_date=book.last_issue_date, book=book.code)
    return None


def check_issue_date(issue_date: date, point_of_sale: int, letters: Iterable[str]) -> None:
    """A batch's issue date for the books of these letters at a point of sale (rule 6)."""
    if not isinstance(issue_date, date):
        raise InvalidInput(
            Message("issue_date.invalid"),
            [{"field": "issueDate", "message": Message("field.must_be_date")}],
        )
    books = db.session.scalars(
        select(ReceiptBook)
        .where(ReceiptBook.code.in_([book_code(letter, point_of_sale) for letter in letters]))
        .order_by(ReceiptBook.last_issue_date.desc())
    ).all()
    problem = _issue_date_problem(issue_date, books[0] if books else None)
    if problem:
        raise InvalidInput(
            Message("issue_date.refused", problem=problem),
            [{"field": "issueDate", "message": problem}],
        )


def book_for_update(letter: str, point_of_sale: int) -> ReceiptBook:
    """The counter row of the invoice book of this letter at this point of sale, created on first
    use, locked for this transaction."""
    code = book_code(letter, point_of_sale)
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
                document_type=INVOICE_OF_LETTER[letter],
                last_number=0,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing()
        )
        book = db.session.scalar(query)
    return book


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
