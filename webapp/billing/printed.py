"""The printed invoice: what RG 1415 asks a paper or PDF invoice to show beyond the invoice's own
fields, the RG 4892 QR code, and the PDF made from the printed page.

The receiver is always the invoice's own copy, as it was when the invoice was issued; editing
the customer later changes no printed invoice."""

import base64
import contextlib
import io
import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

import segno

from webapp.billing import invoices, services
from webapp.billing.customers import DOC_TYPE_NAMES, format_doc_number, iva_condition_name
from webapp.billing.documents import (
    DOCUMENT_TYPE_NAMES,
    EXEMPT,
    MONOTRIBUTO_RECEIVERS,
    RG_5003_LEGEND,
)
from webapp.billing.errors import Conflict, DomainError
from webapp.billing.issuer import format_cuit, issuer_condition_name, issuer_of
from webapp.billing.messages import Message
from webapp.extensions import db
from webapp.models import Correction, DocType, Invoice, Issuer, IvaCondition

QR_URL = "https://www.afip.gob.ar/fe/qr/?p="
# RG 4892's fixed values for an invoice in pesos authorized with a CAE.
QR_VERSION = 1
CURRENCY = "PES"
EXCHANGE_RATE = 1
AUTHORIZED_BY_CAE = "E"
# What the Régimen de Transparencia Fiscal al Consumidor (Ley 27.743, RG 5614) asks on an
# invoice to a consumer: this legend, the IVA the price contains, and the other indirect national
# taxes in it (Lote's services bear none).
TRANSPARENCY_LEGEND = "Régimen de Transparencia Fiscal al Consumidor (Ley 27.743)"
OTHER_INDIRECT_TAXES = Decimal("0.00")
PDF_MISSING_LIBRARIES = (
    "PDFs cannot be made on this server: WeasyPrint cannot load the Pango libraries it needs "
    "(on Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0). "
    "The printable page still works."
)


class PdfUnavailable(DomainError):
    """The PDF library is installed but the system libraries it loads are not."""

    status_code = 503


def qr_json(invoice: Invoice, issuer_cuit: str) -> str:
    """The JSON RG 4892 puts in the QR code: exactly its 13 keys, numbers as numbers, and the
    total with its two decimals (written from the Decimal, never through a float)."""
    values = {
        "ver": QR_VERSION,
        "fecha": invoice.issue_date.isoformat(),
        "cuit": int(issuer_cuit),
        "ptoVta": invoice.point_of_sale,
        "tipoCmp": invoice.document_type,
        "nroCmp": invoice.sequence_number,
        "importe": invoice.amount,
        "moneda": CURRENCY,
        "ctz": EXCHANGE_RATE,
        "tipoDocRec": invoice.receiver_doc_type,
        "nroDocRec": int(invoice.receiver_doc_number),
        "tipoCodAut": AUTHORIZED_BY_CAE,
        "codAut": int(invoice.cae),
    }
    members = (
        f"{json.dumps(key)}:"
        + (f"{value:.2f}" if isinstance(value, Decimal) else json.dumps(value))
        for key, value in values.items()
    )
    return "{" + ",".join(members) + "}"


def qr_url(invoice: Invoice, issuer_cuit: str) -> str:
    """What the QR code encodes: ARCA's verification address with the JSON in base64."""
    encoded = base64.b64encode(qr_json(invoice, issuer_cuit).encode()).decode("ascii")
    return QR_URL + encoded


def qr_image(url: str) -> str:
    """The QR code as a PNG data URI, for the page and the PDF alike (the stylesheet sizes it;
    four pixels a module keep it sharp at print size)."""
    return segno.make(url, error="m").png_data_uri(scale=4, border=4)


@dataclass(frozen=True)
class PrintedInvoice:
    """An invoice as it is printed. ``issuer`` is None while no issuer is set: the page then
    says so, and there is no QR code and no PDF."""

    invoice: Invoice
    issuer: Issuer | None
    description: str
    # A note: the voucher it corrects (the description is then the note's reason).
    corrects: Invoice | None = None

    @property
    def corrects_name(self) -> str | None:
        """The voucher a note corrects as printed: ``Factura A 0001-00000019``."""
        if self.corrects is None:
            return None
        corrected = self.corrects
        return (
            f"{DOCUMENT_TYPE_NAMES[corrected.document_type]} "
            f"{corrected.point_of_sale:05d}-{corrected.sequence_number:08d}"
        )

    @property
    def document_name(self) -> str:
        return DOCUMENT_TYPE_NAMES[self.invoice.document_type]

    @property
    def document_code(self) -> str:
        """The code printed under the letter: ``01`` for a Factura A."""
        return f"{self.invoice.document_type:02d}"

    @property
    def point_of_sale(self) -> str:
        return f"{self.invoice.point_of_sale:05d}"

    @property
    def number(self) -> str:
        return f"{self.invoice.sequence_number:08d}"

    @property
    def issuer_cuit(self) -> str:
        return format_cuit(self.issuer.cuit)

    @property
    def issuer_condition(self) -> str:
        """The English name of the issuer's condition; the template words it."""
        return issuer_condition_name(self.issuer.iva_condition)

    @property
    def receiver_doc_type(self) -> str:
        return DOC_TYPE_NAMES[DocType(self.invoice.receiver_doc_type)]

    @property
    def receiver_doc_number(self) -> str:
        return format_doc_number(self.invoice.receiver_doc_type, self.invoice.receiver_doc_number)

    @property
    def receiver_condition(self) -> str | None:
        return iva_condition_name(self.invoice.receiver_iva_condition)

    @property
    def shows_vat(self) -> bool:
        """A Factura C carries no IVA, and one to a consumer shows the IVA it contains instead
        of the IVA per rate."""
        return self.invoice.letter != "C" and not self.transparency

    @property
    def vat_rate(self) -> Decimal | None:
        """The rate of the invoice's IVA line; None when it has none (exempt, or class C)."""
        rate = self.invoice.vat_rate
        return None if rate in (None, EXEMPT) else Decimal(rate)

    @property
    def rg_5003_legend(self) -> str | None:
        """RG 5003: a Factura A to a Monotributista says where its IVA may be computed."""
        if self.invoice.letter == "A" and self.invoice.receiver_iva_condition in (
            MONOTRIBUTO_RECEIVERS
        ):
            return RG_5003_LEGEND
        return None

    @property
    def transparency(self) -> bool:
        """Ley 27.743 and RG 5614: a Factura B to a Consumidor Final shows the IVA it contains
        and the other indirect national taxes, under the regime's legend."""
        return (
            self.invoice.letter == "B"
            and self.invoice.receiver_iva_condition == IvaCondition.FINAL_CONSUMER
        )

    @property
    def transparency_legend(self) -> str:
        return TRANSPARENCY_LEGEND

    @property
    def other_indirect_taxes(self) -> Decimal:
        return OTHER_INDIRECT_TAXES

    @property
    def qr_url(self) -> str | None:
        return None if self.issuer is None else qr_url(self.invoice, self.issuer.cuit)

    @property
    def qr_image(self) -> str | None:
        url = self.qr_url
        return None if url is None else qr_image(url)

    @property
    def filename(self) -> str:
        return f"{self.invoice.invoice_number}.pdf"


def printed_invoice(invoice_id: int) -> PrintedInvoice:
    """The invoice ``invoice_id`` as it is printed; an unknown id is a 404."""
    invoice = invoices.get_invoice(invoice_id)
    if invoice.correction_id:
        correction = db.session.get(Correction, invoice.correction_id)
        return PrintedInvoice(invoice, issuer_of(invoice), correction.reason, correction.invoice)
    description = services.get_service(invoice.service_id).description if invoice.service_id else ""
    return PrintedInvoice(invoice, issuer_of(invoice), description)


def printable(invoice_id: int) -> PrintedInvoice:
    """The invoice ``invoice_id`` ready for its PDF, which must name its issuer: without one
    set it is a 409. So is an invoice issued outside Lote: the system that issued it holds its
    legal copy, and Lote knows only its total, not the net and IVA the copy must show."""
    printed = printed_invoice(invoice_id)
    if printed.issuer is None:
        raise Conflict(Message("issuer.not_set"))
    if printed.invoice.issued_outside:
        raise Conflict(Message("invoice.issued_outside", number=printed.invoice.invoice_number))
    return printed


@cache
def pdf_support_missing() -> str | None:
    """Why PDFs cannot be made here, or None when they can. WeasyPrint loads Pango when it is
    imported, and raises OSError when it cannot; the libraries do not come and go while Lote
    runs, so the answer is kept. WeasyPrint's own advice, printed as it fails, is left out for
    this one message."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import weasyprint  # noqa: F401
    except OSError:
        return PDF_MISSING_LIBRARIES
    return None


def pdf_of(html: str, stylesheet: str) -> bytes:
    """The PDF of a printed page; without the system libraries it is a 503 that says what to
    install, and the printable page is unaffected."""
    missing = pdf_support_missing()
    if missing:
        raise PdfUnavailable(missing)
    from weasyprint import CSS, HTML

    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=stylesheet)])
