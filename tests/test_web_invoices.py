"""The invoices pages: filterable list, printable invoice, statistics and the CSV export."""

import csv
import io
import re
from datetime import timedelta

import pytest

from webapp.billing import services
from webapp.extensions import db
from webapp.models import Invoice


def today():
    from webapp.billing import clock

    return clock.today()


def numbers(html: str) -> list[str]:
    return re.findall(r'<a href="/invoices/\d+">([A-C]-\d+-\d{8})</a>', html)


def invoices_of(batch) -> list[Invoice]:
    return list(
        db.session.scalars(
            db.select(Invoice).where(Invoice.batch_id == batch.id).order_by(Invoice.id)
        )
    )


# List ------------------------------------------------------------------------------------------


def test_the_list_shows_net_iva_and_total_right_aligned(clerk, factory):
    factory.batch(pendings=factory.pendings(1, amount="1210.00"))
    html = clerk.get("/invoices/").get_data(as_text=True)
    assert numbers(html) == ["A-0001-00000001"]
    assert '<td class="num">$ 1,000.00</td>' in html
    assert '<td class="num">$ 210.00</td>' in html
    assert '<td class="num">$ 1,210.00</td>' in html


def test_filters_by_customer_number_book_and_amount(clerk, factory):
    factory.batch(
        pendings=factory.pendings(2, amount="100.00", customer_id=11), receipt_book="A-0001"
    )
    factory.batch(
        pendings=factory.pendings(1, amount="900.00", customer_id=8012), receipt_book="B-0001"
    )
    assert numbers(clerk.get("/invoices/?customerId=8012").get_data(as_text=True)) == [
        "B-0001-00000001"
    ]
    assert numbers(
        clerk.get("/invoices/?invoiceNumber=a-0001-00000002").get_data(as_text=True)
    ) == ["A-0001-00000002"]
    assert numbers(clerk.get("/invoices/?receiptBook=A-0001").get_data(as_text=True)) == [
        "A-0001-00000002",
        "A-0001-00000001",
    ]
    assert numbers(clerk.get("/invoices/?minAmount=500").get_data(as_text=True)) == [
        "B-0001-00000001"
    ]
    assert numbers(clerk.get("/invoices/?maxAmount=100.00").get_data(as_text=True)) == [
        "A-0001-00000002",
        "A-0001-00000001",
    ]


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("minAmount=abc", "minAmount", "must be an amount such as 1,500.50 or 1500.50"),
        ("minAmount=50&maxAmount=10", "maxAmount", "must be at least the minimum amount"),
        ("batchId=-3", "batchId", "must be a positive whole number"),
        ("dateTo=31/01/2026", "dateTo", "must be a date"),
    ],
)
def test_an_unreadable_filter_is_a_400_next_to_its_field(clerk, query, field, message):
    response = clerk.get(f"/invoices/?{query}")
    assert response.status_code == 400
    assert f'id="q-{field}-error">{message}</p>' in response.get_data(as_text=True)


def test_the_list_is_paginated(clerk, factory):
    factory.batch(pendings=factory.pendings(21))
    first = clerk.get("/invoices/").get_data(as_text=True)
    assert len(numbers(first)) == 20
    assert "Page 1 of 2" in first
    assert numbers(clerk.get("/invoices/?page=2").get_data(as_text=True)) == ["A-0001-00000001"]


def test_an_empty_list_says_how_invoices_come_to_be(clerk):
    html = clerk.get("/invoices/").get_data(as_text=True)
    assert "No invoices yet." in html
    assert "export.csv" not in html


# The printable invoice -------------------------------------------------------------------------


def test_the_invoice_page_has_everything_printed_on_an_invoice(clerk, factory):
    factory.batch(pendings=factory.pendings(1, amount="1500.00", customer_id=3003))
    invoice = db.session.scalars(db.select(Invoice)).one()
    html = clerk.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert '<h1 id="invoice-title">A-0001-00000001</h1>' in html
    assert f'<dd class="mono">{invoice.cae}</dd>' in html
    assert invoice.cae_due_date.strftime("%m/%d/%Y") in html
    assert invoice.service_date.strftime("%m/%d/%Y") in html
    assert "<dd>3003</dd>" in html
    assert '<td class="num">$ 1,239.67</td>' in html  # net
    assert '<td class="num">$ 260.33</td>' in html  # IVA
    assert '<td class="num">$ 1,500.00</td>' in html  # total
    assert "Flete" in html  # the service's description
    assert "data-print hidden" in html  # a print button that JavaScript reveals


def test_the_stylesheet_prints_the_invoice_without_the_page_chrome():
    from pathlib import Path

    css = (Path(__file__).parent.parent / "static" / "css" / "lote.css").read_text()
    print_rules = css[css.index("@media print") :]
    assert ".topbar" in print_rules and ".no-print" in print_rules


def test_the_invoice_is_formatted_for_argentina_in_spanish(client, auth, factory):
    factory.batch(pendings=factory.pendings(1, amount="1500.00"))
    invoice = db.session.scalars(db.select(Invoice)).one()
    auth.login("clerk")
    client.post("/language", data={"lang": "es"})
    html = client.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert '<td class="num">$ 1.500,00</td>' in html
    assert invoice.issue_date.strftime("%d/%m/%Y") in html


def test_an_unknown_invoice_is_a_404(clerk):
    assert clerk.get("/invoices/31337").status_code == 404


# Statistics ------------------------------------------------------------------------------------


def test_statistics_show_totals_and_a_bar_per_month_and_customer(clerk, factory):
    factory.batch(pendings=factory.pendings(2, amount="100.00", customer_id=21))
    factory.batch(
        pendings=factory.pendings(1, amount="300.00", customer_id=22), receipt_book="A-0002"
    )
    html = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert '<p class="figure num">3</p>' in html
    assert '<p class="figure num">$ 500.00</p>' in html
    assert '<p class="figure num">$ 166.67</p>' in html
    bars = re.findall(
        r'<th scope="row"><span class="num">(\d+)</span>.*?</th>.*?<rect [^>]*width="([\d.]+)"',
        html,
        re.S,
    )
    assert ("22", "100.00") in bars
    assert ("21", "66.67") in bars
    month = today().strftime("%B %Y")
    assert f'<th scope="row">{month}</th>' in html


def test_statistics_follow_the_filters(clerk, factory):
    factory.batch(pendings=factory.pendings(2, amount="100.00", customer_id=21))
    factory.batch(
        pendings=factory.pendings(1, amount="300.00", customer_id=22), receipt_book="A-0002"
    )
    html = clerk.get("/invoices/statistics?customerId=21").get_data(as_text=True)
    assert '<p class="figure num">$ 200.00</p>' in html
    assert '<th scope="row"><span class="num">21</span>' in html
    assert '<th scope="row"><span class="num">22</span>' not in html


def test_statistics_without_invoices_say_so(clerk):
    html = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert "No invoices yet, so there is nothing to add up." in html


def test_statistics_refuse_an_unreadable_filter(clerk):
    assert clerk.get("/invoices/statistics?dateFrom=yesterday").status_code == 400


# CSV export ------------------------------------------------------------------------------------


def test_the_csv_export_opens_in_a_spreadsheet(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(2, amount="1500.00", customer_id=31))
    factory.batch(pendings=factory.pendings(1, customer_id=32), receipt_book="A-0002")
    expected = [
        (i.invoice_number, i.cae, i.issue_date.strftime("%m/%d/%Y")) for i in invoices_of(batch)
    ]
    response = clerk.get("/invoices/export.csv?customerId=31")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="invoices-')
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "Invoice number" and rows[0][-2] == "Total"
    assert [(row[0], row[3], row[2]) for row in rows[1:]] == expected
    first = rows[1]
    assert rows[0][8:12] == ["Net", "IVA", "Exempt amount", "Total"]
    assert first[8:12] == ["1239.67", "260.33", "0.00", "1500.00"]


def test_the_csv_export_shows_an_exempt_service_s_amount_as_exempt(clerk, factory):
    """An exempt service is invoiced with no net and no IVA: its whole amount is exempt, and
    the export's columns still add up to the total."""
    service = factory.service(amount="800.00", customer_id=31, vat_rate="exempt")
    factory.batch(pendings=services.send_to_billing("tests", [service.id]))
    rows = list(
        csv.reader(io.StringIO(clerk.get("/invoices/export.csv").get_data().decode("utf-8-sig")))
    )
    assert rows[1][8:12] == ["0.00", "0.00", "800.00", "800.00"]


def test_the_export_link_carries_the_current_filters(clerk, factory):
    factory.batch()
    html = clerk.get("/invoices/?customerId=1001&page=1").get_data(as_text=True)
    assert 'href="/invoices/export.csv?customerId=1001"' in html


def test_the_export_refuses_an_unreadable_filter_with_the_page(clerk):
    response = clerk.get("/invoices/export.csv?minAmount=-1")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="q-minAmount-error">must be greater than 0</p>' in html
    assert 'class="filters" method="get" action="/invoices/"' in html


def test_the_export_of_an_empty_selection_is_just_the_header(clerk, factory):
    factory.batch()
    since = (today() + timedelta(days=1)).isoformat()
    raw = clerk.get(f"/invoices/export.csv?dateFrom={since}").get_data()
    assert len(list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))) == 1


def test_a_viewer_reads_invoices_and_exports(client, auth, factory):
    factory.batch()
    auth.login("viewer")
    assert client.get("/invoices/").status_code == 200
    assert client.get("/invoices/statistics").status_code == 200
    assert client.get("/invoices/export.csv").status_code == 200
