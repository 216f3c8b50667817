"""The printed invoice (RG 1415), its QR code (RG 4892) and its PDF: the page and the PDF show
the same legal document, the receiver as it was when the invoice was issued."""

import base64
import io
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from html import unescape
from urllib.parse import unquote

import pytest
from sqlalchemy import select

from webapp.billing import customers, documents, printed, services
from webapp.billing import issuer as issuer_ops
from webapp.extensions import db
from webapp.models import Customer, Invoice, IssuerIvaCondition

ISSUER_CUIT = "30500010912"
QR_KEYS = {
    "ver",
    "fecha",
    "cuit",
    "ptoVta",
    "tipoCmp",
    "nroCmp",
    "importe",
    "moneda",
    "ctz",
    "tipoDocRec",
    "nroDocRec",
    "tipoCodAut",
    "codAut",
}


@dataclass(frozen=True)
class Receiver:
    customer_id: int
    name: str
    doc_type: int
    doc_number: str
    iva_condition: int
    address: str


REGISTERED = Receiver(2001, "Transportes del Sur SA", 80, "30712345671", 1, "Av. Corrientes 1234")
MONOTRIBUTISTA = Receiver(2002, "Juana Fletes", 80, "27123456780", 6, "Calle 7 N° 321, La Plata")
CONSUMER = Receiver(2003, "Pedro Gómez", 96, "20123456", 5, "Mitre 55, Rosario")


def set_issuer(condition=IssuerIvaCondition.REGISTERED):
    from datetime import date

    issuer_ops.set_issuer(
        "tests",
        legal_name="Logística del Plata SA",
        cuit="30-50001091-2",
        iva_condition=condition,
        iibb_number="901-123456-7",
        activities_start=date(2015, 3, 1),
        address="Av. Paseo Colón 1000, CABA",
        points_of_sale=[3],
    )


def issue(factory, receiver: Receiver, amount="1210.00", vat_rate="21") -> Invoice:
    """An invoice issued to ``receiver`` through a batch on point of sale 3, in the book of the
    letter the receiver takes."""
    if db.session.get(Customer, receiver.customer_id) is None:
        customers.create_customer(
            "tests",
            customer_id=receiver.customer_id,
            legal_name=receiver.name,
            doc_type=receiver.doc_type,
            doc_number=receiver.doc_number,
            iva_condition=receiver.iva_condition,
            address=receiver.address,
        )
    service = factory.service(
        amount=amount,
        customer_id=receiver.customer_id,
        description="Flete Rosario - Córdoba",
        vat_rate=vat_rate,
    )
    pendings = services.send_to_billing("tests", [service.id])
    letter = documents.letter_for(issuer_ops.get_issuer().iva_condition, receiver.iva_condition)
    factory.batch(pendings=pendings, receipt_book=documents.book_code(letter, 3))
    return db.session.scalars(select(Invoice).where(Invoice.pending_id == pendings[0].id)).one()


def page_text(html: str) -> str:
    """The words of the printed invoice on the page, without tags or repeated whitespace."""
    article = html[html.index('<article class="invoice') : html.index("</article>")]
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", article)).split())


def pdf_text(data: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def decoded_qr(url: str) -> dict:
    assert url.startswith("https://www.afip.gob.ar/fe/qr/?p=")
    payload = base64.b64decode(url.removeprefix("https://www.afip.gob.ar/fe/qr/?p="), validate=True)
    return json.loads(payload, parse_float=Decimal)


@pytest.fixture
def spanish(client, auth):
    """The test client, signed in as the clerk, with pages in Spanish."""
    auth.login("clerk")
    client.post("/language", data={"lang": "es"})
    return client


# The QR code -----------------------------------------------------------------------------------


def test_the_qr_code_holds_exactly_the_13_keys_of_rg_4892_with_the_invoices_values(app, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED, amount="1210.00")
    payload = decoded_qr(printed.printed_invoice(invoice.id).qr_url)
    assert set(payload) == QR_KEYS
    assert payload == {
        "ver": 1,
        "fecha": invoice.issue_date.isoformat(),
        "cuit": 30500010912,
        "ptoVta": 3,
        "tipoCmp": 1,
        "nroCmp": invoice.sequence_number,
        "importe": Decimal("1210.00"),
        "moneda": "PES",
        "ctz": 1,
        "tipoDocRec": 80,
        "nroDocRec": 30712345671,
        "tipoCodAut": "E",
        "codAut": int(invoice.cae),
    }
    text = printed.qr_json(invoice, ISSUER_CUIT)
    assert '"importe":1210.00,' in text  # a number with its two decimals, not a string


def test_an_unidentified_consumer_is_document_99_number_0_in_the_qr_code(app, factory):
    set_issuer()
    anonymous = Receiver(2004, "Consumidor Final", 99, "0", 5, "")
    invoice = issue(factory, anonymous, amount="500.50")
    payload = decoded_qr(printed.printed_invoice(invoice.id).qr_url)
    assert (payload["tipoCmp"], payload["tipoDocRec"], payload["nroDocRec"]) == (6, 99, 0)
    assert payload["importe"] == Decimal("500.50")


def test_the_qr_image_on_the_page_decodes_to_the_invoices_qr_url(spanish, factory):
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    set_issuer()
    invoice = issue(factory, REGISTERED)
    html = spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    image = re.search(r'<img src="data:image/png;base64,([^"]+)"', html).group(1)
    (barcode,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(unquote(image)))))
    assert barcode.text == printed.printed_invoice(invoice.id).qr_url
    assert f'href="{barcode.text}"' in html


# What the printed invoice shows ----------------------------------------------------------------


def test_the_page_shows_what_rg_1415_asks(spanish, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED, amount="1105.00", vat_rate="10.5")
    text = page_text(spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    for shown in (
        "A COD. 01",
        "ORIGINAL",
        "Factura A",
        "Logística del Plata SA",
        "Av. Paseo Colón 1000, CABA",
        "CUIT 30-50001091-2",
        "Condición frente al IVA IVA Responsable Inscripto",
        "901-123456-7",
        "Inicio de actividades 01/03/2015",
        "Punto de venta 00003",
        f"Número {invoice.sequence_number:08d}",
        f"Fecha de emisión {invoice.issue_date:%d/%m/%Y}",
        f"Período facturado desde {invoice.service_date:%d/%m/%Y}",
        f"Vencimiento del pago {invoice.payment_due_date:%d/%m/%Y}",
        "Transportes del Sur SA",
        "CUIT 30-71234567-1",
        "Av. Corrientes 1234",
        "Neto $ 1.000,00",
        "IVA 10,5 % $ 105,00",
        "Total $ 1.105,00",
        f"CAE {invoice.cae}",
        f"Vencimiento del CAE {invoice.cae_due_date:%d/%m/%Y}",
    ):
        assert shown in text, shown
    assert "Transparencia" not in text and "27.618" not in text
    assert "Importe exento" not in text


def test_an_exempt_service_shows_its_exempt_amount_and_no_iva_line(spanish, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED, amount="800.00", vat_rate="exempt")
    text = page_text(spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "Importe exento $ 800,00" in text
    assert "IVA 21" not in text and "IVA 0 %" not in text


def test_a_factura_a_to_a_monotributista_carries_the_rg_5003_legend(spanish, factory):
    set_issuer()
    invoice = issue(factory, MONOTRIBUTISTA)
    text = page_text(spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert documents.RG_5003_LEGEND in text
    assert "IVA 21 % $ 210,00" in text
    registered = issue(factory, REGISTERED)
    other = page_text(spanish.get(f"/invoices/{registered.id}").get_data(as_text=True))
    assert documents.RG_5003_LEGEND not in other


def test_a_factura_b_to_a_consumer_shows_the_iva_it_contains_under_the_transparency_legend(
    spanish, factory
):
    set_issuer()
    invoice = issue(factory, CONSUMER, amount="1210.00")
    text = page_text(spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "B COD. 06" in text
    assert "Régimen de Transparencia Fiscal al Consumidor (Ley 27.743)" in text
    assert "IVA Contenido $ 210,00" in text
    assert "Otros Impuestos Nacionales Indirectos $ 0,00" in text
    assert "Total $ 1.210,00" in text
    assert "Neto" not in text and "IVA 21 %" not in text
    assert "DNI 20123456" in text and "Consumidor Final" in text


def test_a_factura_c_shows_no_iva(spanish, factory):
    set_issuer(IssuerIvaCondition.MONOTRIBUTO)
    invoice = issue(factory, REGISTERED, amount="1210.00")
    assert invoice.letter == "C" and invoice.vat_rate is None
    text = page_text(spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "C COD. 11" in text
    assert "Subtotal $ 1.210,00" in text and "Total $ 1.210,00" in text
    assert "IVA 21" not in text and "Contenido" not in text and "Neto" not in text
    assert "Condición frente al IVA Responsable Monotributo" in text  # the issuer's


def test_the_invoice_shows_the_receiver_as_it_was_when_issued(spanish, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED)
    customers.update_customer(
        "tests", REGISTERED.customer_id, legal_name="Nuevo Nombre SRL", address="Otra calle 1"
    )
    html = spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Transportes del Sur SA" in page_text(html) and "Av. Corrientes 1234" in html
    assert "Nuevo Nombre SRL" not in html and "Otra calle 1" not in html
    pdf = spanish.get(f"/invoices/{invoice.id}/pdf")
    assert "Transportes del Sur SA" in pdf_text(pdf.data)
    assert "Nuevo Nombre SRL" not in pdf_text(pdf.data)


def test_the_page_words_its_labels_in_the_readers_language(clerk, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED, amount="1105.00", vat_rate="10.5")
    text = page_text(clerk.get(f"/invoices/{invoice.id}").get_data(as_text=True))
    assert "IVA 10.5 % $ 105.00" in text and "Issue date" in text
    assert "ORIGINAL" in text and "A COD. 01" in text  # the legal text stays as the law says


def test_without_an_issuer_the_page_says_so_and_there_is_no_pdf(clerk, app, factory):
    """An invoice issued before invoices kept their issuer prints the issuer as it is now; with
    none set, the page says so and there is no PDF."""
    set_issuer()
    invoice = issue(factory, REGISTERED)
    db.session.execute(db.update(Invoice).values(issuer_cuit=None, issuer_legal_name=None))
    db.session.delete(issuer_ops.get_issuer())
    db.session.commit()
    html = clerk.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "The issuer is not set yet" in html and "data:image/png" not in html
    assert "/pdf" not in html
    assert clerk.get(f"/invoices/{invoice.id}/pdf").status_code == 409


# The PDF ---------------------------------------------------------------------------------------


def test_the_pdf_shows_the_same_invoice_as_the_page(spanish, factory):
    set_issuer()
    invoice = issue(factory, MONOTRIBUTISTA, amount="1234.56")
    page = spanish.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert f'href="/invoices/{invoice.id}/pdf"' in page
    response = spanish.get(f"/invoices/{invoice.id}/pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    disposition = f'attachment; filename="{invoice.invoice_number}.pdf"'
    assert response.headers["Content-Disposition"] == disposition
    text = pdf_text(response.data)
    for shown in (
        invoice.invoice_number,
        "COD. 01",
        "ORIGINAL",
        "Logística del Plata SA",
        "30-50001091-2",
        "Juana Fletes",
        "27-12345678-0",
        "Responsable Monotributo",
        "$ 1.020,30",  # net
        "$ 214,26",  # IVA 21 %
        "$ 1.234,56",  # total
        invoice.cae,
        "Ley Nº 27.618",
    ):
        assert shown in text, shown
        assert shown in page_text(page), shown


def test_the_pdf_is_in_spanish_whatever_the_readers_language(clerk, factory):
    set_issuer()
    invoice = issue(factory, CONSUMER)
    text = pdf_text(clerk.get(f"/invoices/{invoice.id}/pdf").data)
    assert "Fecha de emisión" in text and "Issue date" not in text
    assert "IVA Contenido $ 210,00" in text


def test_the_api_serves_the_pdf_to_any_signed_in_role(client, token, app, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED)
    response = client.get(f"/api/invoices/{invoice.id}/pdf", headers=token("viewer"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert 'filename="A-0003-00000001.pdf"' in response.headers["Content-Disposition"]
    assert "A-0003-00000001" in pdf_text(response.data)


def test_the_api_pdf_needs_a_token_and_an_existing_invoice(client, token, app, factory):
    set_issuer()
    invoice = issue(factory, REGISTERED)
    unsigned = client.get(f"/api/invoices/{invoice.id}/pdf")
    assert unsigned.status_code == 401
    assert unsigned.mimetype == "application/json"
    unknown = client.get("/api/invoices/31337/pdf", headers=token("clerk"))
    assert unknown.status_code == 404
    assert unknown.get_json()["message"] == "Invoice 31337 not found"
    assert client.get("/invoices/31337/pdf").status_code == 302  # pages sign in first


def test_without_the_pdf_libraries_the_pdf_is_a_503_and_the_page_still_prints(
    spanish, token, monkeypatch, factory
):
    set_issuer()
    invoice = issue(factory, REGISTERED)
    monkeypatch.setattr(printed, "pdf_support_missing", lambda: printed.PDF_MISSING_LIBRARIES)
    api = spanish.get(f"/api/invoices/{invoice.id}/pdf", headers=token("clerk"))
    assert api.status_code == 503
    assert "libpango-1.0-0" in api.get_json()["message"]
    assert spanish.get(f"/invoices/{invoice.id}/pdf").status_code == 503
    page = spanish.get(f"/invoices/{invoice.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert invoice.cae in html and f"/invoices/{invoice.id}/pdf" not in html


def test_a_weasyprint_that_cannot_load_pango_is_reported_not_raised():
    """WeasyPrint raises OSError on import when Pango is missing; a fresh interpreter whose
    library loader fails shows that it is caught and named."""
    script = (
        "import cffi\n"
        "def missing(self, name, *args, **kwargs):\n"
        "    raise OSError(f'cannot load library {name!r}')\n"
        "cffi.FFI.dlopen = missing\n"
        "from webapp.billing.printed import pdf_support_missing\n"
        "print(pdf_support_missing())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == printed.PDF_MISSING_LIBRARIES
