"""Fiscal documents: which letter and document type an invoice takes, and how its amount splits
into net, IVA and exempt parts (docs/rules.md rules 2 and 12)."""

import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from webapp.billing.errors import InvalidInput
from webapp.billing.messages import Message
from webapp.billing.money import CENT
from webapp.models import (
    CREDIT_NOTE_OF_LETTER,
    CREDIT_NOTE_TYPES,
    DEBIT_NOTE_OF_LETTER,
    DEBIT_NOTE_TYPES,
    DEFAULT_VAT_RATE,
    LETTER_OF_TYPE,
    VAT_RATES,
    DocumentType,
    IssuerIvaCondition,
    IvaCondition,
    NoteKind,
)

ZERO = Decimal("0.00")
EXEMPT = "exempt"
VAT_RATE_HINT = Message("vat.rate", rates=", ".join(VAT_RATES))


DOCUMENT_TYPE_NAMES = {
    DocumentType.INVOICE_A: "Factura A",
    DocumentType.DEBIT_NOTE_A: "Nota de Débito A",
    DocumentType.CREDIT_NOTE_A: "Nota de Crédito A",
    DocumentType.INVOICE_B: "Factura B",
    DocumentType.DEBIT_NOTE_B: "Nota de Débito B",
    DocumentType.CREDIT_NOTE_B: "Nota de Crédito B",
    DocumentType.INVOICE_C: "Factura C",
    DocumentType.DEBIT_NOTE_C: "Nota de Débito C",
    DocumentType.CREDIT_NOTE_C: "Nota de Crédito C",
}
# Receivers an issuer that is Responsable Inscripto bills with a Factura A (RG 5003 adds the
# Monotributistas); every other receiver it bills gets a B.
A_RECEIVERS = frozenset(
    {
        IvaCondition.REGISTERED,
        IvaCondition.MONOTRIBUTO,
        IvaCondition.SOCIAL_MONOTRIBUTO,
        IvaCondition.PROMOTED_INDEPENDENT_MONOTRIBUTO,
    }
)
MONOTRIBUTO_RECEIVERS = A_RECEIVERS - {IvaCondition.REGISTERED}
# Receivers some letter Lote issues serves: all but a customer abroad (Factura E).
INVOICEABLE = frozenset(IvaCondition) - {IvaCondition.FOREIGN_CUSTOMER}
# The IVA ids of ARCA's rate table (AlicIva).
VAT_RATE_IDS = {"0": 3, "10.5": 4, "21": 5, "27": 6, "5": 8, "2.5": 9}
# The legend RG 5003 asks on a Factura A to a Monotributista.
RG_5003_LEGEND = (
    "El crédito fiscal discriminado en el presente comprobante, sólo podrá ser computado a "
    "efectos del Régimen de Sostenimiento e Inclusión Fiscal para Pequeños Contribuyentes de la "
    "Ley Nº 27.618"
)


class LetterRefused(ValueError):
    """A receiver Lote cannot invoice with any letter it issues; the argument is the code of the
    message that says why, naming the customer."""


def letter_for(issuer: IssuerIvaCondition, receiver: int | None) -> str:
    """The letter of an invoice from issuer to receiver (docs/rules.md rule 12): an issuer that is
    Responsable Inscripto issues A to a Responsable Inscripto or any Monotributo and B to the
    others; a Monotributo or Exento issuer issues C. A receiver abroad needs a Factura E, which
    goes through another web service: refused."""
    if receiver is None:
        raise LetterRefused("customer.no_iva_condition")
    if receiver == IvaCondition.FOREIGN_CUSTOMER:
        raise LetterRefused("customer.abroad")
    if issuer != IssuerIvaCondition.REGISTERED:
        return "C"
    return "A" if receiver in A_RECEIVERS else "B"


def letters_issued_by(issuer: IssuerIvaCondition) -> tuple[str, ...]:
    """The invoice letters an issuer issues: A and B for a Responsable Inscripto, else C."""
    return ("A", "B") if issuer == IssuerIvaCondition.REGISTERED else ("C",)


def receivers_of_letter(issuer: IssuerIvaCondition, letter: str) -> frozenset[int]:
    """The receivers' IVA conditions that take ``letter`` from this issuer."""
    if issuer != IssuerIvaCondition.REGISTERED:
        return INVOICEABLE if letter == "C" else frozenset()
    if letter == "A":
        return A_RECEIVERS
    return INVOICEABLE - A_RECEIVERS if letter == "B" else frozenset()


def check_vat_rate(value) -> str:
    """A service's IVA rate as the API writes it ("21", "10.5", ..., "exempt"); None or absent
    is the default 21. Raises ValueError with a message fit for a clerk."""
    if value is None:
        return DEFAULT_VAT_RATE
    if isinstance(value, str) and value.strip().lower() in VAT_RATES:
        return value.strip().lower()
    raise ValueError(VAT_RATE_HINT)


@dataclass(frozen=True)
class Amounts:
    """An amount split as the invoice reports it: net taxed, IVA, and exempt (ImpOpEx)."""

    net: Decimal
    vat: Decimal
    exempt: Decimal


def split_amount(amount: Decimal, vat_rate: str | None) -> Amounts:
    """An amount includes its IVA (rule 2): net = round_half_up(amount / (1 + rate)), IVA = the
    rest. An exempt amount has neither; a class C invoice (``vat_rate`` None) reports the whole
    amount as its net and no IVA."""
    if vat_rate is None:
        return Amounts(amount, ZERO, ZERO)
    if vat_rate == EXEMPT:
        return Amounts(ZERO, ZERO, amount)
    rate = Decimal(vat_rate) / 100
    net = (amount / (1 + rate)).quantize(CENT, rounding=ROUND_HALF_UP)
    return Amounts(net, amount - net, ZERO)


# What a note book's code starts with: a Nota de Crédito's NC-, a Nota de Débito's ND-.
NOTE_BOOK_PREFIX = {NoteKind.CREDIT: "NC", NoteKind.DEBIT: "ND"}
NOTE_OF_LETTER = {NoteKind.CREDIT: CREDIT_NOTE_OF_LETTER, NoteKind.DEBIT: DEBIT_NOTE_OF_LETTER}


def note_kind_of(document_type: int) -> NoteKind | None:
    if document_type in CREDIT_NOTE_TYPES:
        return NoteKind.CREDIT
    if document_type in DEBIT_NOTE_TYPES:
        return NoteKind.DEBIT
    return None


RECEIPT_BOOK_PATTERN = re.compile(r"^(?:(NC|ND)-)?([ABC])-([0-9]{1,5})$")
MAX_POINT_OF_SALE = 99_999


def book_code(letter: str, point_of_sale: int) -> str:
    """The canonical name of an invoice book: ``A-0001``."""
    return f"{letter}-{point_of_sale:04d}"


def book_code_of(document_type: int, point_of_sale: int) -> str:
    """The canonical name of the book of any voucher type: ``A-0001`` for Factura A,
    ``NC-A-0001`` for Nota de Crédito A, ``ND-B-0003`` for Nota de Débito B."""
    code = book_code(LETTER_OF_TYPE[document_type], point_of_sale)
    kind = note_kind_of(document_type)
    return f"{NOTE_BOOK_PREFIX[kind]}-{code}" if kind else code


def check_receipt_book(code: str) -> str:
    """Rule 4: a book is read trimmed and upper-cased ("a-1" is A-0001) and must then be a letter
    A, B or C, a dash and a point of sale from 1 to 99999, however many zeros lead it; a note
    book starts with NC- or ND- (``NC-A-0001``). Every adapter (API, pages, filters) reads a
    book through this one check; returns the canonical code."""
    match = RECEIPT_BOOK_PATTERN.match((code or "").strip().upper())
    if not match or not 1 <= int(match.group(3)) <= MAX_POINT_OF_SALE:
        raise InvalidInput(
            Message("book.invalid"), [{"field": "receiptBook", "message": Message("book.hint")}]
        )
    prefix, letter, point_of_sale = match.group(1), match.group(2), int(match.group(3))
    code = book_code(letter, point_of_sale)
    return f"{prefix}-{code}" if prefix else code


def invoice_number(receipt_book: str, sequence: int) -> str:
    """An invoice's number: its book and its sequence number, ``A-0001-00000019``."""
    return f"{receipt_book}-{sequence:08d}"
