"""The monthly sales book of ARCA's Libro IVA Digital (RG 4597, "Ventas"): the vouchers file
(REGINFO_CV_VENTAS_CBTE) and the rates file (REGINFO_CV_VENTAS_ALICUOTAS), fixed-width records
as ARCA's "Libro IVA Digital - Diseño de registros" lays them out, and a ZIP of both.

General rules of the format: one record per line, each ended by CR LF; text in ISO-8859-1;
numeric fields right-aligned with leading zeros, text fields left-aligned padded with spaces;
dates AAAAMMDD; amounts in pesos as integer cents, 15 digits (13 integer and 2 decimal digits,
no decimal point). Amounts are positive: a credit note's type tells its sign.

Vouchers file, REGINFO_CV_VENTAS_CBTE, 266 characters per record, one per voucher::

    #   positions  len  field                                              Lote writes
    1     1-8       8   Fecha de comprobante (AAAAMMDD)                    issue date
    2     9-11      3   Tipo de comprobante (CbteTipo)                     document type
    3    12-16      5   Punto de venta                                     point of sale
    4    17-36     20   Número de comprobante                              sequence number
    5    37-56     20   Número de comprobante hasta                        sequence number
    6    57-58      2   Código de documento del comprador (DocTipo)        80, 86, 96 or 99
    7    59-78     20   Número de identificación del comprador             zeros for 99
    8    79-108    30   Apellido y nombre o denominación del comprador     receiver's name
    9   109-123    15   Importe total de la operación                      total
    10  124-138    15   Conceptos que no integran el precio neto gravado   0 (ImpTotConc)
    11  139-153    15   Percepción a no categorizados                      0
    12  154-168    15   Importe de operaciones exentas                     exempt (ImpOpEx)
    13  169-183    15   Percepciones o pagos a cuenta de imp. nacionales   0
    14  184-198    15   Percepciones de Ingresos Brutos                    0
    15  199-213    15   Percepciones de impuestos municipales              0
    16  214-228    15   Impuestos internos                                 0
    17  229-231     3   Código de moneda                                   PES
    18  232-241    10   Tipo de cambio (4 integer, 6 decimal digits)       0001000000
    19  242         1   Cantidad de alícuotas de IVA                       its rates records
    20  243         1   Código de operación                                E exempt, else blank
    21  244-258    15   Otros tributos                                     0 (ImpTrib)
    22  259-266     8   Fecha de vencimiento de pago (AAAAMMDD)            payment due date

Rates file, REGINFO_CV_VENTAS_ALICUOTAS, 62 characters per record, one per IVA rate of a
voucher, in the vouchers' order::

    #   positions  len  field                                              Lote writes
    1     1-3       3   Tipo de comprobante                                document type
    2     4-8       5   Punto de venta                                     point of sale
    3     9-28     20   Número de comprobante                              sequence number
    4    29-43     15   Importe neto gravado                               net
    5    44-47      4   Alícuota de IVA (AlicIva id)                       3, 4, 5, 6, 8 or 9
    6    48-62     15   Impuesto liquidado                                 IVA

A Factura A or B reports at least one rates record: an exempt one reports the 0% rate (id 3)
with zero amounts. A Factura C reports no IVA, so no rates record.
"""

import enum
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from webapp.billing import clock
from webapp.billing.documents import EXEMPT, VAT_RATE_IDS
from webapp.billing.errors import InvalidInput
from webapp.billing.messages import Message
from webapp.billing.pagination import in_id_order
from webapp.extensions import db
from webapp.models import Invoice

ENCODING = "iso-8859-1"
RECORD_END = "\r\n"
PESOS = "PES"
# The exchange rate of a voucher in pesos, 1.000000, with 4 integer and 6 decimal digits.
PESO_RATE = "0001000000"
EXEMPT_OPERATION = "E"
NO_OPERATION_CODE = " "
# The rate an exempt Factura A or B reports, with zero amounts, since it must report one.
ZERO_RATE_ID = VAT_RATE_IDS["0"]
ZERO = Decimal("0.00")
# Invoices read per query: a month of 100,000 invoices never sits in memory at once.
CHUNK = 1000
MONTH_TEXT = re.compile(r"(?P<year>\d{4})-(?P<month>\d{2})", flags=re.ASCII)
MONTH_TEXT_SHOWN = 20
ZIP_EPOCH = date(1980, 1, 1)
ISSUED_BY_LOTE = Invoice.issued_outside.is_(False)

COLUMNS = (
    Invoice.id,
    Invoice.issue_date,
    Invoice.document_type,
    Invoice.point_of_sale,
    Invoice.sequence_number,
    Invoice.receiver_doc_type,
    Invoice.receiver_doc_number,
    Invoice.receiver_name,
    Invoice.amount,
    Invoice.exempt_amount,
    Invoice.net_amount,
    Invoice.vat_amount,
    Invoice.vat_rate,
    Invoice.payment_due_date,
)


class TaxBookFile(enum.StrEnum):
    """The two files of the book, as ``?file=`` names them."""

    VOUCHERS = "vouchers"
    RATES = "rates"


FILE_NAMES = {
    TaxBookFile.VOUCHERS: "LIBRO_IVA_DIGITAL_VENTAS_CBTE",
    TaxBookFile.RATES: "LIBRO_IVA_DIGITAL_VENTAS_ALICUOTAS",
}


@dataclass(frozen=True)
class BookMonth:
    year: int
    month: int

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return (self.first_day + timedelta(days=31)).replace(day=1) - timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def book_month(text: str) -> BookMonth:
    """The month a book is asked for, written ``yyyy-mm``; a malformed month, or one that has not
    begun yet in the business time zone, is refused naming it. The current month may be asked
    for: its book holds what was issued so far."""
    text = (text or "").strip()
    match = MONTH_TEXT.fullmatch(text)
    if match is None or not 1 <= int(match["month"]) <= 12 or int(match["year"]) < 1:
        shown = text[:MONTH_TEXT_SHOWN]
        raise InvalidInput(
            Message("tax_book.not_a_month", month=repr(shown)),
            [{"field": "month", "message": Message("tax_book.month_format")}],
        )
    month = BookMonth(int(match["year"]), int(match["month"]))
    if month.first_day > clock.today():
        raise InvalidInput(
            Message("tax_book.future", month=str(month)),
            [{"field": "month", "message": Message("field.not_in_future")}],
        )
    return month


def previous_month() -> str:
    """The month before today's, the one an accountant files."""
    last_month = clock.today().replace(day=1) - timedelta(days=1)
    return str(BookMonth(last_month.year, last_month.month))


def _amount(value: Decimal) -> str:
    return f"{int(value * 100):015d}"


def _number(value, length: int) -> str:
    return f"{int(value):0{length}d}"


def _text(value: str, length: int) -> str:
    """Text as ISO-8859-1 writes it, on one line: a character it lacks becomes "?"; a line
    break or another control character would break the record, so it becomes a space."""
    printable = "".join(" " if not c.isprintable() else c for c in value)
    latin = printable.encode(ENCODING, errors="replace").decode(ENCODING)
    return latin[:length].ljust(length)


def _date(value: date) -> str:
    return value.strftime("%Y%m%d")


def _rates(row) -> list[tuple[int, Decimal, Decimal]]:
    """The (AlicIva id, net, IVA) a voucher reports: none on a Factura C, the 0% rate with zero
    amounts on an exempt one, else its rate."""
    if row.vat_rate is None:
        return []
    if row.vat_rate == EXEMPT:
        return [(ZERO_RATE_ID, ZERO, ZERO)]
    return [(VAT_RATE_IDS[row.vat_rate], row.net_amount, row.vat_amount)]


def _voucher_record(row) -> str:
    number = _number(row.sequence_number, 20)
    return "".join(
        (
            _date(row.issue_date),
            _number(row.document_type, 3),
            _number(row.point_of_sale, 5),
            number,
            number,
            _number(row.receiver_doc_type, 2),
            _number(row.receiver_doc_number, 20),
            _text(row.receiver_name, 30),
            _amount(row.amount),
            _amount(ZERO),
            _amount(ZERO),
            _amount(row.exempt_amount),
            _amount(ZERO),
            _amount(ZERO),
            _amount(ZERO),
            _amount(ZERO),
            PESOS,
            PESO_RATE,
            _number(len(_rates(row)), 1),
            EXEMPT_OPERATION if row.exempt_amount else NO_OPERATION_CODE,
            _amount(ZERO),
            _date(row.payment_due_date),
            RECORD_END,
        )
    )


def _rate_records(row) -> Iterator[str]:
    voucher = (
        _number(row.document_type, 3)
        + _number(row.point_of_sale, 5)
        + _number(row.sequence_number, 20)
    )
    for rate_id, net, vat in _rates(row):
        yield voucher + _amount(net) + _number(rate_id, 4) + _amount(vat) + RECORD_END


class TaxBook:
    """The sales book of one month: the invoices Lote issued in it, as far as the last one there
    when the book was opened, so that its two files always describe the same vouchers. An
    invoice issued outside Lote is left out: the authority keeps only its total, so Lote does
    not know the net and IVA per rate the book must report; the system that issued it does."""

    def __init__(self, month: BookMonth):
        self.month = month
        self.last_id = db.session.scalar(
            select(func.max(Invoice.id)).where(
                Invoice.issue_date.between(month.first_day, month.last_day), ISSUED_BY_LOTE
            )
        )

    def _rows(self) -> Iterator:
        """The month's invoices in id order, their columns only, read in chunks by keyset."""
        if self.last_id is None:
            return
        month = select(*COLUMNS).where(
            Invoice.issue_date.between(self.month.first_day, self.month.last_day),
            ISSUED_BY_LOTE,
            Invoice.id <= self.last_id,
        )
        for rows in in_id_order(month, Invoice.id, CHUNK):
            yield from rows

    def records(self, file: TaxBookFile) -> Iterator[str]:
        """The records of one file, each a line ended by CR LF."""
        for row in self._rows():
            if file == TaxBookFile.VOUCHERS:
                yield _voucher_record(row)
            else:
                yield from _rate_records(row)

    def encoded(self, file: TaxBookFile) -> Iterator[bytes]:
        """One file in the format's encoding, a chunk of records at a time."""
        chunk = []
        for record in self.records(file):
            chunk.append(record)
            if len(chunk) == CHUNK:
                yield "".join(chunk).encode(ENCODING)
                chunk = []
        if chunk:
            yield "".join(chunk).encode(ENCODING)

    def filename(self, file: TaxBookFile) -> str:
        return f"{FILE_NAMES[file]}-{self.month}.txt"

    @property
    def zip_filename(self) -> str:
        return f"LID-ventas-{self.month}.zip"

    def zip(self) -> bytes:
        """Both files in a ZIP (deflated: fixed-width records shrink to a small fraction), each
        written as it is read; a month without invoices gives two empty files."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for file in TaxBookFile:
                info = zipfile.ZipInfo(self.filename(file), date_time=self._zip_time())
                info.compress_type = zipfile.ZIP_DEFLATED
                with archive.open(info, "w") as entry:
                    for chunk in self.encoded(file):
                        entry.write(chunk)
        return buffer.getvalue()

    def _zip_time(self) -> tuple:
        """The entries' time: the month's last day (not before 1980, where ZIP's clock starts),
        so the same book gives the same bytes."""
        last = max(self.month.last_day, ZIP_EPOCH)
        return (last.year, last.month, last.day, 0, 0, 0)


def tax_book(month_text: str) -> TaxBook:
    """The sales book of the month written ``yyyy-mm`` (see ``book_month``)."""
    return TaxBook(book_month(month_text))
