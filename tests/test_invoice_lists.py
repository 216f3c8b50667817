"""Finding invoices and taking them away: search by sequence number, a page size to choose, a
select-all that says it covers one page, statistics that stay short, and exports a spreadsheet
opens as it should (an Excel workbook with typed cells, a CSV in the reader's locale)."""

import csv
import io
import re
from datetime import date, datetime

import pytest
from openpyxl import load_workbook

from tests.test_web_i18n import signed_in, spanish_app  # noqa: F401 (a fixture)
from tests.test_web_invoices import invoices_of, numbers
from tests.test_web_services import row_ids

# Invoice-number search ---------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["2", "00000002", "a-0001-2", "A-0001-00000002", " 2 "])
def test_the_invoice_number_filter_finds_an_invoice_by_its_sequence_number(clerk, factory, typed):
    factory.batch(factory.pendings(3))
    html = clerk.get("/invoices/", query_string={"invoiceNumber": typed}).get_data(as_text=True)
    assert numbers(html) == ["A-0001-00000002"]


def test_a_bare_sequence_number_finds_it_in_every_receipt_book(clerk, factory, client, token):
    factory.batch(factory.pendings(2))
    factory.batch(factory.pendings(1, customer_id=8001), receipt_book="B-0001")
    html = clerk.get("/invoices/?invoiceNumber=1").get_data(as_text=True)
    assert numbers(html) == ["B-0001-00000001", "A-0001-00000001"]
    assert numbers(clerk.get("/invoices/?invoiceNumber=B-0001-2").get_data(as_text=True)) == []
    api = client.get("/api/invoices?invoiceNumber=00000002", headers=token()).get_json()
    assert [i["invoiceNumber"] for i in api["data"]] == ["A-0001-00000002"]


def test_a_bare_sequence_search_is_an_equality_on_the_invoice_number_index(app, factory):
    from webapp.billing.invoices import invoice_number_condition
    from webapp.extensions import db

    factory.batch(factory.pendings(1))
    factory.batch(factory.pendings(1, customer_id=8001), receipt_book="B-00007")
    condition = invoice_number_condition("19")
    sql = str(condition.compile(db.engine, compile_kwargs={"literal_binds": True}))
    assert sql == "invoices.invoice_number IN ('A-0001-00000019', 'B-0007-00000019')"


# Page size and select all --------------------------------------------------------------------


def test_the_lists_offer_a_page_size_kept_in_their_links(clerk, factory):
    ids = [factory.service(customer_id=7).id for _ in range(55)]
    first = clerk.get("/services/?customerId=7").get_data(as_text=True)
    assert len(row_ids(first)) == 20
    assert '<a href="/services/?customerId=7&amp;limit=50">50</a>' in first
    fifty = clerk.get("/services/?customerId=7&limit=50").get_data(as_text=True)
    assert row_ids(fifty) == sorted(ids, reverse=True)[:50]
    assert '<strong aria-current="true">50</strong>' in fifty
    assert "Page 1 of 2" in fifty
    next_link = re.search(r'<a rel="next" href="([^"]+)"', fifty).group(1)
    assert "limit=50" in next_link and "page=2" in next_link
    assert '<input type="hidden" name="limit" value="50">' in fifty
    assert len(row_ids(clerk.get("/services/?limit=100").get_data(as_text=True))) == 55


def test_a_page_size_over_the_largest_is_refused_with_the_reason(clerk):
    response = clerk.get("/invoices/?limit=500")
    assert response.status_code == 400
    assert "Rows per page: must be between 1 and 100" in response.get_data(as_text=True)


def test_select_all_says_it_covers_this_page_and_how_many_rows(clerk, factory):
    for _ in range(25):
        factory.service()
    html = clerk.get("/services/").get_data(as_text=True)
    assert "Select all on this page (20)" in html
    factory.pendings(3)
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert "Select all on this page (3)" in html


# Statistics ----------------------------------------------------------------------------------


def test_statistics_show_the_ten_largest_customers_and_the_rest_added_up(clerk, factory):
    from webapp.billing import services

    ids = [factory.service(amount=f"{100 + n}.00", customer_id=500 + n).id for n in range(14)]
    factory.batch(services.send_to_billing("tests", ids))
    html = clerk.get("/invoices/statistics").get_data(as_text=True)
    customers = re.findall(r'<th scope="row"><span class="num">(5\d\d)</span>', html)
    assert customers == [str(500 + n) for n in range(13, 3, -1)]
    others = html[html.index('<tr class="others">') :]
    assert "4 more customers" in others
    assert '<td class="num">4</td>' in others
    assert '<td class="num">$ 406.00</td>' in others  # 100 + 101 + 102 + 103
    assert '<p class="figure num">$ 1,491.00</p>' in html


def test_the_statistics_api_still_lists_every_customer(client, token, factory):
    from webapp.billing import services

    ids = [factory.service(customer_id=500 + n).id for n in range(12)]
    factory.batch(services.send_to_billing("tests", ids))
    body = client.get("/api/invoices/statistics", headers=token()).get_json()
    assert len(body["byCustomer"]) == 12
    assert body["byCustomer"][0] == {"customerId": 500, "count": 1, "totalAmount": "1500.00"}


# Exports -------------------------------------------------------------------------------------


def test_the_excel_export_has_typed_cells_and_follows_the_filters(clerk, factory):
    batch = factory.batch(factory.pendings(2, amount="20592.38", customer_id=31))
    factory.batch(factory.pendings(1, customer_id=32), receipt_book="A-0002")
    expected = [(i.invoice_number, i.cae, i.issue_date) for i in invoices_of(batch)]
    batch_id = batch.id
    response = clerk.get("/invoices/export.xlsx?customerId=31")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response.headers["Content-Disposition"].endswith('.xlsx"')
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]][:4] == ["Invoice number", "Receipt book", "Issue date", "CAE"]
    assert len(rows) == 3
    for row, (invoice_number, invoice_cae, issue_date) in zip(rows[1:], expected, strict=True):
        (
            number,
            book,
            issued,
            cae,
            cae_due,
            customer,
            _service,
            served,
            net,
            iva,
            exempt,
            total,
            in_batch,
        ) = row
        assert number.value == invoice_number and number.data_type == "s"
        assert cae.value == invoice_cae and cae.data_type == "s" and len(cae.value) == 14
        assert isinstance(issued.value, datetime) and issued.is_date
        assert issued.value.date() == issue_date
        assert served.is_date and cae_due.is_date and issued.number_format == "mm/dd/yyyy"
        assert customer.value == 31 and customer.data_type == "n"
        assert total.data_type == "n" and total.value == pytest.approx(20592.38)
        assert total.number_format == "#,##0.00"
        assert exempt.value == 0 and exempt.data_type == "n"
        assert net.value + iva.value + exempt.value == pytest.approx(20592.38)
        assert in_batch.value == batch_id and book.value == "A-0001"


def test_the_excel_export_refuses_an_unreadable_filter_with_the_page(clerk):
    response = clerk.get("/invoices/export.xlsx?dateFrom=yesterday")
    assert response.status_code == 400
    assert 'id="q-dateFrom-error">must be a date</p>' in response.get_data(as_text=True)


def test_the_spanish_csv_uses_semicolons_decimal_commas_and_local_dates(
    spanish_app,  # noqa: F811
    factory,
):
    batch = factory.batch(factory.pendings(1, amount="20592.38", customer_id=31))
    factory.batch(factory.pendings(1, customer_id=32), receipt_book="A-0002")
    (invoice,) = invoices_of(batch)
    raw = signed_in(spanish_app).get("/invoices/export.csv?customerId=31").get_data()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][0] == "Número de factura"
    assert rows[1][0] == invoice.invoice_number
    assert rows[1][2] == invoice.issue_date.strftime("%d/%m/%Y")
    assert rows[1][3] == invoice.cae
    assert rows[1][10:12] == ["0,00", "20592,38"]
    assert len(rows) == 2


def test_the_list_offers_both_exports_with_its_filters(clerk, factory):
    factory.batch()
    html = clerk.get("/invoices/?customerId=1001").get_data(as_text=True)
    assert 'href="/invoices/export.xlsx?customerId=1001"' in html
    assert 'href="/invoices/export.csv?customerId=1001"' in html


def test_dates_in_the_workbook_are_real_dates_in_spanish_too(spanish_app, factory):  # noqa: F811
    factory.batch(factory.pendings(1))
    data = signed_in(spanish_app).get("/invoices/export.xlsx").get_data()
    sheet = load_workbook(io.BytesIO(data)).active
    issued = sheet.cell(row=2, column=3)
    assert issued.is_date and issued.number_format == "dd/mm/yyyy"
    assert isinstance(issued.value, (date, datetime))
