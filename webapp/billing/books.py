"""Receipt books: how a book's code is read, its invoice numbers, the counter row that makes
them gapless, and the issue dates a book accepts (docs/rules.md, rules 4 and 6)."""

import re
from datetime import date

from flask import current_app
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from webapp.billing import clock
from webapp.billing.errors import InvalidInput
from webapp.extensions import db
from webapp.models import ReceiptBook, utcnow

RECEIPT_BOOK_PATTERN = re.compile(r"^[ABC]-[0-9]{4,5}$")
RECEIPT_BOOK_HINT = "must look like A-0001: letter A, B or C, a dash, a 4- or 5-digit point of sale"


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


def book_for_update(code: str) -> ReceiptBook:
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
