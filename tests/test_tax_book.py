"""The monthly sales book of the Libro IVA Digital: ARCA's fixed-width vouchers and rates files,
their ZIP, and the download from the API and the statistics page.

The golden month, March 2026, is built through the real flow on a clock fixed at 2026-03-16:
a Factura A at 21% to a Responsable Inscripto, a Factura B at 10.5% to an unidentified consumer,
a Factura A for an exempt service, and a Nota de Crédito B for part of the Factura B."""

import io
import zipfile
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import customer_cuit

GOLDEN = Path(__file__).parent / "golden" / "LID-ventas-2026-03"
VOUCHERS_NAME = "LIBRO_IVA_DIGITAL_VENTAS_CBTE-2026-03.txt"
RATES_NAME = "LIBRO_IVA_DIGITAL_VENTAS_ALICUOTAS-2026-03.txt"
# 12:00 in Buenos Aires on 2026-03-16, a Monday.
FIXED_NOW = datetime(2026, 3, 16, 15, 0, tzinfo=UTC)
LONG_NAME = "Transportes Patagónicos del Sur Sociedad Anónima"

# ARCA's layouts, field by field: (name, first position, last position), 1-based as the
# specification writes them.
VOUCHER_LAYOUT = [
    ("date", 1, 8),
    ("type", 9, 11),
    ("point_of_sale", 12, 16),
    ("number", 17, 36),
    ("number_to", 37, 56),
    ("doc_type", 57, 58),
    ("doc_number", 59, 78),
    ("name", 79, 108),
    ("total", 109, 123),
    ("not_taxed", 124, 138),
    ("uncategorized_perception", 139, 153),
    ("exempt", 154, 168),
    ("national_perceptions", 169, 183),
    ("iibb_perceptions", 184, 198),
    ("municipal_perceptions", 199, 213),
    ("internal_taxes", 214, 228),
    ("currency", 229, 231),
    ("exchange_rate", 232, 241),
    ("rate_count", 242, 242),
    ("operation_code", 243, 243),
    ("other_taxes", 244, 258),
    ("payment_due", 259, 266),
]
RATE_LAYOUT = [
    ("type", 1, 3),
    ("point_of_sale", 4, 8),
    ("number", 9, 28),
    ("net", 29, 43),
    ("rate_id", 44, 47),
    ("vat", 48, 62),
]
ZERO_AMOUNT = "0" * 15


class FixedClock:
    """The app's clock stopped at one instant, so dates in the book are the golden ones."""

    def __init__(self, instant: datetime):
        self.instant = instant

    def now(self) -> datetime:
        return self.instant


def fields_of(record: str, layout) -> dict[str, str]:
    return {name: record[first - 1 : last] for name, first, last in layout}


def records(data: bytes, length: int) -> list[str]:
    """The records of a file: ISO-8859-1, each of ``length`` characters ended by CR LF."""
    text = data.decode("iso-8859-1")
    assert text == "" or text.endswith("\r\n")
    lines = text.split("\r\n")[:-1] if text else []
    assert all("\n" not in line and "\r" not in line for line in lines)
    assert all(len(line) == length for line in lines), [len(line) for line in lines]
    return lines


def cents(text: str) -> Decimal:
    assert text.isdigit() and len(text) == 15, text
    return Decimal(int(text)) / 100


@pytest.fixture
def fixed_clock(app):
    app.extensions["lote.clock"] = FixedClock(FIXED_NOW)


@pytest.fixture
def golden_month(fixed_clock, factory):
    """March 2026's invoices, through services, pendings and processed batches."""
    from webapp.billing import customers, services

    factory.issuer()
    customers.create_customer(
        "tests",
        customer_id=1001,
        legal_name=LONG_NAME,
        doc_type=80,
        doc_number=customer_cuit(1001),
        iva_condition=1,
    )
    taxed_a = factory.service(amount="1210.00", customer_id=1001)
    exempt_a = factory.service(amount="500.00", customer_id=1002, vat_rate="exempt")
    consumer_b = factory.service(amount="1105.00", customer_id=8001, vat_rate="10.5")
    pendings = services.send_to_billing("tests", [taxed_a.id, exempt_a.id, consumer_b.id])
    factory.batch(pendings[:2], receipt_book="A-0001")
    factory.batch(pendings[2:], receipt_book="B-0001")
    from webapp.billing import corrections
    from webapp.extensions import db
    from webapp.models import Invoice, NoteKind

    factura_b = db.session.scalar(select(Invoice).where(Invoice.receipt_book == "B-0001"))
    corrections.request_note("tests", factura_b.id, NoteKind.CREDIT, Decimal("110.50"), "Demora")


def open_book(month="2026-03"):
    from webapp.billing import tax_book

    return tax_book.tax_book(month)


def book_bytes(month="2026-03") -> dict[str, bytes]:
    from webapp.billing.tax_book import TaxBookFile

    book = open_book(month)
    return {file: b"".join(book.encoded(file)) for file in TaxBookFile}


def test_the_golden_month_gives_the_golden_files(golden_month):
    files = book_bytes()
    assert files["vouchers"] == (GOLDEN / VOUCHERS_NAME).read_bytes()
    assert files["rates"] == (GOLDEN / RATES_NAME).read_bytes()


def test_every_field_of_the_vouchers_file_is_where_arca_reads_it(golden_month):
    taxed_a, exempt_a, consumer_b, credit_b = (
        fields_of(record, VOUCHER_LAYOUT) for record in records(book_bytes()["vouchers"], 266)
    )
    common = {
        "date": "20260316",
        "not_taxed": ZERO_AMOUNT,
        "uncategorized_perception": ZERO_AMOUNT,
        "national_perceptions": ZERO_AMOUNT,
        "iibb_perceptions": ZERO_AMOUNT,
        "municipal_perceptions": ZERO_AMOUNT,
        "internal_taxes": ZERO_AMOUNT,
        "currency": "PES",
        "exchange_rate": "0001000000",
        "other_taxes": ZERO_AMOUNT,
        "payment_due": "20260415",
    }
    assert taxed_a == common | {
        "type": "001",
        "point_of_sale": "00001",
        "number": "00000000000000000001",
        "number_to": "00000000000000000001",
        "doc_type": "80",
        "doc_number": customer_cuit(1001).rjust(20, "0"),
        "name": LONG_NAME[:30],
        "total": "000000000121000",
        "exempt": ZERO_AMOUNT,
        "rate_count": "1",
        "operation_code": " ",
    }
    assert exempt_a == common | {
        "type": "001",
        "point_of_sale": "00001",
        "number": "00000000000000000002",
        "number_to": "00000000000000000002",
        "doc_type": "80",
        "doc_number": customer_cuit(1002).rjust(20, "0"),
        "name": "Cliente 1002".ljust(30),
        "total": "000000000050000",
        "exempt": "000000000050000",
        "rate_count": "1",
        "operation_code": "E",
    }
    assert consumer_b == common | {
        "type": "006",
        "point_of_sale": "00001",
        "number": "00000000000000000001",
        "number_to": "00000000000000000001",
        "doc_type": "99",
        "doc_number": "0" * 20,
        "name": "Cliente 8001".ljust(30),
        "total": "000000000110500",
        "exempt": ZERO_AMOUNT,
        "rate_count": "1",
        "operation_code": " ",
    }
    # A credit note is written positive: its type, 008, tells its sign.
    assert credit_b == consumer_b | {"type": "008", "total": "000000000011050"}


def test_every_field_of_the_rates_file_is_where_arca_reads_it(golden_month):
    taxed_a, exempt_a, consumer_b, credit_b = (
        fields_of(record, RATE_LAYOUT) for record in records(book_bytes()["rates"], 62)
    )
    assert taxed_a == {
        "type": "001",
        "point_of_sale": "00001",
        "number": "00000000000000000001",
        "net": "000000000100000",
        "rate_id": "0005",
        "vat": "000000000021000",
    }
    # An exempt voucher reports the 0% rate with zero amounts: every A or B reports one rate.
    assert exempt_a == {
        "type": "001",
        "point_of_sale": "00001",
        "number": "00000000000000000002",
        "net": ZERO_AMOUNT,
        "rate_id": "0003",
        "vat": ZERO_AMOUNT,
    }
    assert consumer_b == {
        "type": "006",
        "point_of_sale": "00001",
        "number": "00000000000000000001",
        "net": "000000000100000",
        "rate_id": "0004",
        "vat": "000000000010500",
    }
    assert credit_b == {
        "type": "008",
        "point_of_sale": "00001",
        "number": "00000000000000000001",
        "net": "000000000010000",
        "rate_id": "0004",
        "vat": "000000000001050",
    }


def test_a_name_is_written_in_iso_8859_1(golden_month):
    vouchers = book_bytes()["vouchers"]
    assert "Patagónicos".encode("iso-8859-1") in vouchers
    assert "Patagónicos".encode() not in vouchers


def march_statistics():
    from webapp.billing import invoices

    return invoices.invoice_statistics(
        invoices.InvoiceFilters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
    )


def test_the_book_adds_up_to_the_months_statistics(golden_month, app, factory):
    factory.batch(factory.pendings(1, amount="999.00"), issue_date=date(2026, 3, 20))
    # An invoice of April stays out of March's book, as it stays out of March's statistics.
    app.extensions["lote.clock"] = FixedClock(datetime(2026, 4, 2, 15, 0, tzinfo=UTC))
    factory.batch(factory.pendings(1, amount="999.00"), issue_date=date(2026, 4, 1))
    stats = march_statistics()
    files = book_bytes()
    vouchers = [fields_of(r, VOUCHER_LAYOUT) for r in records(files["vouchers"], 266)]
    rates = [fields_of(r, RATE_LAYOUT) for r in records(files["rates"], 62)]
    # Each record's sign is its type's: a credit note (003, 008, 013) takes back.
    sign = {"001": 1, "006": 1, "008": -1}
    assert len(vouchers) == stats.total_invoices + 1 == 5
    assert sum(cents(v["total"]) for v in vouchers if sign[v["type"]] > 0) == stats.total_amount
    assert stats.total_amount == Decimal("3814.00")
    assert stats.credited_amount == Decimal("110.50")
    signed_totals = sum(sign[v["type"]] * cents(v["total"]) for v in vouchers)
    assert signed_totals == stats.net_amount == Decimal("3703.50")
    taxed = sum(sign[r["type"]] * (cents(r["net"]) + cents(r["vat"])) for r in rates)
    exempt = sum(sign[v["type"]] * cents(v["exempt"]) for v in vouchers)
    assert taxed + exempt == stats.net_amount
    assert sum(int(v["rate_count"]) for v in vouchers) == len(rates)


def test_the_book_adds_up_to_the_statistics_over_many_chunks(fixed_clock, factory, monkeypatch):
    from webapp.billing import tax_book

    monkeypatch.setattr(tax_book, "CHUNK", 3)
    factory.batch(factory.pendings(4, amount="1210.00", customer_id=1001), "A-0001")
    factory.batch(factory.pendings(3, amount="1105.50", customer_id=8002), "B-0002")
    stats = march_statistics()
    files = book_bytes()
    vouchers = [fields_of(r, VOUCHER_LAYOUT) for r in records(files["vouchers"], 266)]
    rates = [fields_of(r, RATE_LAYOUT) for r in records(files["rates"], 62)]
    assert len(vouchers) == len(rates) == stats.total_invoices == 7
    assert sum(cents(v["total"]) for v in vouchers) == stats.total_amount
    assert sum(cents(r["net"]) + cents(r["vat"]) for r in rates) == stats.total_amount
    # In id order: the A book's four, then the B book's three.
    assert [(v["type"], v["point_of_sale"], int(v["number"])) for v in vouchers] == [
        *(("001", "00001", n) for n in range(1, 5)),
        *(("006", "00002", n) for n in range(1, 4)),
    ]


def test_a_factura_c_reports_no_iva_rate(fixed_clock, factory):
    factory.issuer(iva_condition="monotributo")
    factory.batch(factory.pendings(1, amount="800.00", customer_id=1001), "C-0001")
    files = book_bytes()
    (voucher,) = (fields_of(r, VOUCHER_LAYOUT) for r in records(files["vouchers"], 266))
    assert (voucher["type"], voucher["total"], voucher["rate_count"]) == (
        "011",
        "000000000080000",
        "0",
    )
    assert files["rates"] == b""


def test_a_month_without_invoices_gives_empty_files_in_a_valid_zip(fixed_clock, factory):
    factory.batch(factory.pendings(1))
    archive = zipfile.ZipFile(io.BytesIO(open_book("2026-02").zip()))
    assert archive.testzip() is None
    assert archive.namelist() == [
        "LIBRO_IVA_DIGITAL_VENTAS_CBTE-2026-02.txt",
        "LIBRO_IVA_DIGITAL_VENTAS_ALICUOTAS-2026-02.txt",
    ]
    assert [archive.read(name) for name in archive.namelist()] == [b"", b""]


@pytest.mark.parametrize("month", ["2026-13", "26-01", "2026-00", "2026-3", "marzo", "0000-01"])
def test_a_malformed_month_is_refused_naming_it(fixed_clock, month):
    from webapp.billing.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        open_book(month)
    assert repr(month) in str(refused.value)
    assert refused.value.english_details() == [
        {"field": "month", "message": "must be a month written yyyy-mm"}
    ]


def test_a_month_in_the_future_is_refused_naming_it(fixed_clock):
    from webapp.billing.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Month 2026-04 is in the future"):
        open_book("2026-04")
    assert open_book("2026-03").month.last_day == date(2026, 3, 31)


# The API ---------------------------------------------------------------------------------------


def test_the_api_answers_the_zip_of_both_files(golden_month, client, token):
    response = client.get("/api/tax-books/2026-03", headers=token("viewer"))
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="LID-ventas-2026-03.zip"'
    )
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == [VOUCHERS_NAME, RATES_NAME]
    for name in archive.namelist():
        assert archive.read(name) == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize("file, name", [("vouchers", VOUCHERS_NAME), ("rates", RATES_NAME)])
def test_the_api_answers_one_file_as_iso_8859_1_text(golden_month, client, token, file, name):
    response = client.get(f"/api/tax-books/2026-03?file={file}", headers=token("clerk"))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; charset=iso-8859-1"
    assert response.headers["Content-Disposition"] == f'attachment; filename="{name}"'
    assert response.data == (GOLDEN / name).read_bytes()


@pytest.mark.parametrize(
    "path, field, named",
    [
        ("/api/tax-books/2026-13", "month", "'2026-13' is not a month"),
        ("/api/tax-books/26-01", "month", "'26-01' is not a month"),
        ("/api/tax-books/2026-04", "month", "Month 2026-04 is in the future"),
        ("/api/tax-books/2026-03?file=pdf", "file", "Validation failed"),
    ],
)
def test_the_api_refuses_a_bad_month_or_file_with_a_400(
    fixed_clock, client, token, path, field, named
):
    response = client.get(path, headers=token("clerk"))
    assert response.status_code == 400
    body = response.get_json()
    assert named in body["message"]
    assert [detail["field"] for detail in body["details"]] == [field]


def test_the_api_asks_for_a_sign_in(fixed_clock, client):
    assert client.get("/api/tax-books/2026-03").status_code == 401


def test_the_api_documents_the_tax_book(client, token):
    spec = client.get("/api/openapi.json", headers=token("viewer")).get_json()
    path = spec["paths"]["/api/tax-books/{month}"]
    operation = path["get"]
    assert operation["tags"] == ["Tax books"]
    assert set(operation["responses"]["200"]["content"]) == {"application/zip", "text/plain"}
    parameters = path.get("parameters", []) + operation["parameters"]
    assert {(p["in"], p["name"]) for p in parameters} == {("path", "month"), ("query", "file")}


# The statistics page -----------------------------------------------------------------------------


def test_the_statistics_page_offers_the_previous_months_book(fixed_clock, clerk):
    page = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert 'action="/invoices/tax-book"' in page
    assert 'name="month" type="month" value="2026-02"' in page
    assert "Download the sales book" in page


def test_the_page_form_downloads_the_zip_or_one_file(golden_month, clerk):
    response = clerk.get("/invoices/tax-book?month=2026-03&file=")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert zipfile.ZipFile(io.BytesIO(response.data)).namelist() == [VOUCHERS_NAME, RATES_NAME]
    rates = clerk.get("/invoices/tax-book?month=2026-03&file=rates")
    assert rates.data == (GOLDEN / RATES_NAME).read_bytes()


@pytest.mark.parametrize(
    "query, error",
    [
        ("month=2026-13", "must be a month written yyyy-mm"),
        ("month=2026-04", "must not be in the future"),
        ("month=2026-03&file=pdf", "is not one of the offered values"),
    ],
)
def test_the_page_form_shows_a_refused_month_by_its_field(fixed_clock, clerk, query, error):
    response = clerk.get(f"/invoices/tax-book?{query}")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Invoice statistics" in page
    assert error in page


def test_the_page_form_speaks_spanish(fixed_clock, clerk):
    clerk.post("/language", data={"lang": "es"})
    page = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert "Libro IVA Digital" in page
    assert "Descargar el libro de ventas" in page
    refused = clerk.get("/invoices/tax-book?month=2026-04").get_data(as_text=True)
    assert "El mes 2026-04 todavía no empezó" in refused
    assert "no puede ser una fecha futura" in refused
