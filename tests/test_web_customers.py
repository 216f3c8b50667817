"""Customers pages: the list with its incomplete flag and search, create and complete forms, a
customer's page with what it owes, and the CSV import with its preview."""

import io

import pytest

from webapp.extensions import db
from webapp.models import Customer

VALID_CUIT = "30-50001091-2"
CSV_HEADER = "customerId,legalName,docType,docNumber,ivaCondition,address\n"


def stored(customer_id: int) -> Customer | None:
    db.session.expire_all()
    return db.session.get(Customer, customer_id)


def complete_form(**overrides) -> dict:
    return {
        "legalName": "Transportes del Sur SA",
        "docType": "80",
        "docNumber": VALID_CUIT,
        "ivaCondition": "1",
        "address": "Av. Corrientes 1234, CABA",
        "email": "",
        "paymentDays": "30",
        **overrides,
    }


def test_the_list_flags_incomplete_customers_and_searches_by_name_or_cuit(clerk, factory):
    from webapp.billing import customers

    factory.service(customer_id=1004, complete=False)
    customers.create_customer(
        "tests", customer_id=1001, legal_name="Transportes del Sur SA", doc_type=80,
        doc_number=VALID_CUIT, iva_condition=1,
    )  # fmt: skip

    html = clerk.get("/customers/").get_data(as_text=True)
    assert "Customer 1004</td>" not in html
    assert 'Customer 1004 <span class="badge badge-error">Incomplete</span>' in html
    assert "30-50001091-2" in html and "VAT registered" in html

    found = clerk.get("/customers/?search=30500010912").get_data(as_text=True)
    assert "Transportes del Sur SA" in found and "Customer 1004" not in found
    incomplete = clerk.get("/customers/?incomplete=yes").get_data(as_text=True)
    assert "Customer 1004" in incomplete and "Transportes del Sur SA" not in incomplete


def test_an_unreadable_filter_is_a_400_next_to_its_field(clerk):
    response = clerk.get("/customers/?incomplete=maybe")

    assert response.status_code == 400
    assert "is not one of the offered values" in response.get_data(as_text=True)


def test_creating_a_customer_stores_the_cuit_as_digits(clerk):
    response = clerk.post("/customers/new", data={"customerId": "1001", **complete_form()})

    assert response.status_code == 302
    customer = stored(1001)
    assert (customer.doc_number, customer.iva_condition, customer.incomplete) == (
        "30500010912",
        1,
        False,
    )


def test_a_wrong_check_digit_is_shown_next_to_the_field_keeping_what_was_typed(clerk):
    response = clerk.post(
        "/customers/new", data={"customerId": "1001", **complete_form(docNumber="30-50001091-3")}
    )

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="f-docNumber-error">has a wrong check digit<' in html
    assert 'value="30-50001091-3"' in html
    assert stored(1001) is None


def test_a_taken_number_is_a_409_next_to_the_number(clerk):
    clerk.post("/customers/new", data={"customerId": "1001", **complete_form()})

    response = clerk.post("/customers/new", data={"customerId": "1001", **complete_form()})

    assert response.status_code == 409
    assert 'id="f-customerId-error">Customer 1001 already exists<' in response.get_data(
        as_text=True
    )


def test_completing_an_incomplete_customer(clerk, factory):
    factory.service(customer_id=1004, complete=False)
    form = clerk.get("/customers/1004/edit").get_data(as_text=True)
    assert "Complete customer 1004" in form

    response = clerk.post("/customers/1004/edit", data=complete_form())

    assert response.status_code == 302
    assert stored(1004).incomplete is False
    assert "Incomplete" not in clerk.get("/customers/1004").get_data(as_text=True)


def test_the_customer_page_shows_its_services_and_what_it_owes(clerk, factory):
    pendings = factory.pendings(count=2, amount="1210.00", customer_id=1004)
    factory.service(customer_id=1004, amount="50.00")

    html = clerk.get("/customers/1004").get_data(as_text=True)

    assert '$ 2,420.00 <span class="hint">(2 pendings)' in html
    assert f"/services/{pendings[0].service_id}" in html
    assert "0 invoices" in html


def test_a_viewer_sees_customers_but_no_forms(client, auth, factory):
    factory.service(customer_id=1004, complete=False)
    auth.login("viewer")

    html = client.get("/customers/").get_data(as_text=True)
    assert "Cliente 1004" in html and "/customers/new" not in html
    assert client.post("/customers/1004/edit", data=complete_form()).status_code == 403


def test_the_nav_links_to_the_customers(clerk):
    assert 'href="/customers/"' in clerk.get("/").get_data(as_text=True)


def test_the_spanish_pages_name_the_iva_condition_as_rg_5616_does(client, auth, factory):
    from webapp.billing import customers

    customers.create_customer(
        "tests", customer_id=7, legal_name="Kiosco", doc_type=99, iva_condition=5
    )
    auth.login("clerk")
    client.post("/language", data={"lang": "es"})

    html = client.get("/customers/7").get_data(as_text=True)

    assert "Consumidor Final" in html and "Sin identificar" in html


# CSV import ----------------------------------------------------------------------------------


def upload(client, text: str):
    return client.post(
        "/customers/import",
        data={"file": (io.BytesIO(text.encode()), "customers.csv")},
        content_type="multipart/form-data",
    )


def test_the_import_preview_lists_each_rows_problems_and_stores_nothing(clerk, factory):
    from webapp.billing import customers

    customers.create_customer(
        "tests", customer_id=1001, legal_name="Ya está", doc_type=99, iva_condition=5
    )
    text = CSV_HEADER + (
        f"2001,Transportes del Sur SA,80,{VALID_CUIT},1,CABA\n"
        "2002,Mal CUIT SA,80,30-50001091-3,1,\n"
        "2003,Condición rara,96,20123456,2,\n"
        "1001,Duplicado,99,0,5,\n"
        "2001,Repetido,99,0,5,\n"
    )

    response = upload(clerk, text)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 of 5 rows can be imported" in html
    assert "has a wrong check digit" in html
    assert "is not an IVA condition code of RG 5616" in html
    assert "Customer 1001 already exists" in html
    assert "repeats line 2" in html
    assert stored(2001) is None


@pytest.mark.parametrize(
    ("row", "field"),
    [
        (f"٢٠٠٣,Arabe SA,80,{VALID_CUIT},1,", "customerId"),
        (f"２００４,Ancho SA,80,{VALID_CUIT},1,", "customerId"),
        (f"2005,Arabe SA,٨٠,{VALID_CUIT},1,", "docType"),
        (f"2006,Arabe SA,80,{VALID_CUIT},١,", "ivaCondition"),
        ("2007,Arabe SA,96,٢٠١٢٣٤٥٦,5,", "docNumber"),
    ],
)
def test_the_import_reads_numbers_in_ascii_digits_only(app, row, field):
    from webapp.billing import customers

    [read] = customers.read_import(CSV_HEADER + row + "\n")

    assert not read.valid
    assert field in {problem["field"] for problem in read.problems}


def test_confirming_the_import_stores_the_valid_rows_and_completes_incomplete_ones(clerk, factory):
    factory.service(customer_id=1004, complete=False)
    text = "customerId;legalName;docType;docNumber;ivaCondition;address;email\n" + (
        f"2001;Transportes del Sur SA;80;{VALID_CUIT};1;CABA;pagos@sur.com.ar\n"
        "1004;Almacén Norte;99;0;5;;\n"
        "2002;Mal CUIT SA;80;30-50001091-3;1;;\n"
    )
    preview = upload(clerk, text).get_data(as_text=True)
    assert 'name="text"' in preview and "Import 2 customers" in preview

    response = clerk.post("/customers/import/confirm", data={"text": text})

    assert response.status_code == 302
    assert stored(2001).email == "pagos@sur.com.ar"
    assert (stored(1004).legal_name, stored(1004).incomplete) == ("Almacén Norte", False)
    assert stored(2002) is None
    page = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 customers imported; 1 row skipped." in page


def test_the_import_counts_each_in_its_own_number_in_spanish(clerk, factory):
    text = CSV_HEADER + f"2001,Transportes del Sur SA,80,{VALID_CUIT},1,\n"
    clerk.post("/language", data={"lang": "es"})

    response = clerk.post("/customers/import/confirm", data={"text": text})

    page = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 cliente importado; 0 filas omitidas." in page


def test_a_file_without_the_expected_header_is_refused_before_the_preview(clerk):
    response = upload(clerk, "name,cuit\nX,1\n")

    assert response.status_code == 400
    assert "the header must name the columns" in response.get_data(as_text=True)
