"""Lists of services, pendings and invoices show the customer's name, flag an incomplete one, and
search by name (DESIGN: customers)."""

import re
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from tests.conftest import customer_cuit
from tests.test_web_i18n import signed_in, spanish_app  # noqa: F401 (a fixture)
from webapp.billing import customers
from webapp.extensions import db

BADGE = '<span class="badge badge-error">Incomplete</span>'


def linked_name(customer_id: int, name: str) -> str:
    return f'<a href="/customers/{customer_id}">{name}</a>'


@contextmanager
def counted_customer_queries():
    """Counts the statements that read the customers table while the block runs."""
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if re.search(r"\bFROM customers\b", statement):
            statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def two_customers(factory):
    """Customer 1001 complete ("Transportes del Sur SA") and 1004 incomplete, named only by its
    service ("Customer 1004")."""
    customers.create_customer(
        "tests", customer_id=1001, legal_name="Transportes del Sur SA", doc_type=80,
        doc_number=customer_cuit(1001), iva_condition=1,
    )  # fmt: skip
    factory.service(customer_id=1001)
    factory.service(customer_id=1004, complete=False)


def test_the_services_list_names_each_customer_and_flags_the_incomplete_one(clerk, two_customers):
    with counted_customer_queries() as reads:
        html = clerk.get("/services/").get_data(as_text=True)
    assert linked_name(1001, "Transportes del Sur SA") + "</td>" in html
    assert linked_name(1004, "Customer 1004") + " " + BADGE in html
    assert len(reads) == 1


def test_a_customer_known_only_by_its_id_is_named_in_the_reader_s_language(
    spanish_app,  # noqa: F811
    two_customers,
):
    """Stored under an English placeholder, it reads "Cliente 1004" on Spanish pages: in the
    lists, the customers' list and its own page."""
    clerk = signed_in(spanish_app)
    services = clerk.get("/services/").get_data(as_text=True)
    assert linked_name(1004, "Cliente 1004") in services
    assert "Customer 1004" not in services
    assert "<td>Cliente 1004 <span" in clerk.get("/customers/").get_data(as_text=True)
    page = clerk.get("/customers/1004").get_data(as_text=True)
    assert "<h1>Cliente 1004 <span" in page and "Customer 1004" not in page


def test_the_pendings_list_and_summary_name_each_customer(clerk, factory, two_customers):
    factory.pendings(count=2, customer_id=1001)
    with counted_customer_queries() as reads:
        html = clerk.get("/pendings/").get_data(as_text=True)
    summary = html.split('id="summary-title"')[1].split("</section>")[0]
    assert linked_name(1001, "Transportes del Sur SA") in summary
    assert linked_name(1001, "Transportes del Sur SA") in html.split("</section>", 1)[1]
    assert len(reads) == 1


def send_the_incomplete_customers_service_to_billing():
    from webapp.billing import services
    from webapp.models import Service

    service = db.session.scalar(db.select(Service).where(Service.customer_id == 1004))
    services.send_to_billing("tests", [service.id])


def test_the_pendings_list_flags_an_incomplete_customer(clerk, factory, two_customers):
    send_the_incomplete_customers_service_to_billing()
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert linked_name(1004, "Customer 1004") + " " + BADGE in html


def test_the_invoices_list_and_statistics_name_each_customer(clerk, factory, two_customers):
    factory.batch(factory.pendings(count=2, customer_id=1001))
    with counted_customer_queries() as reads:
        listing = clerk.get("/invoices/").get_data(as_text=True)
    assert linked_name(1001, "Transportes del Sur SA") in listing
    assert len(reads) == 1
    statistics = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert linked_name(1001, "Transportes del Sur SA") in statistics


def test_a_number_lote_has_no_customer_for_shows_alone(clerk, factory):
    factory.service(customer_id=1009)
    db.session.execute(db.delete(customers.Customer).where(customers.Customer.id == 1009))
    db.session.commit()
    html = clerk.get("/services/").get_data(as_text=True)
    assert '<span class="num">1009</span></td>' in html


def test_the_lists_search_customers_by_part_of_the_name_ignoring_case(
    clerk, factory, two_customers
):
    factory.pendings(count=1, customer_id=1001)
    send_the_incomplete_customers_service_to_billing()
    for path in ("/services/", "/pendings/"):
        html = clerk.get(f"{path}?customerName=del+SUR").get_data(as_text=True)
        assert "Transportes del Sur SA" in html and "Customer 1004" not in html
        html = clerk.get(f"{path}?customerName=customer").get_data(as_text=True)
        assert "Customer 1004" in html and "Transportes del Sur SA</a></td>" not in html


def test_the_invoice_search_by_name(clerk, factory, two_customers):
    factory.batch(factory.pendings(count=1, customer_id=1001))
    found = clerk.get("/invoices/?customerName=sur").get_data(as_text=True)
    assert "Transportes del Sur SA" in found
    missing = clerk.get("/invoices/?customerName=nadie").get_data(as_text=True)
    assert "Transportes del Sur SA" not in missing


def test_a_like_wildcard_in_the_name_search_is_matched_as_itself(clerk, two_customers):
    html = clerk.get("/services/?customerName=%25").get_data(as_text=True)
    assert "Transportes del Sur SA" not in html and "Customer 1004" not in html


@pytest.mark.parametrize("path", ["/api/services", "/api/billing-pendings", "/api/invoices"])
def test_the_api_lists_search_by_customer_name(client, token, factory, two_customers, path):
    headers = token("clerk")
    factory.batch(factory.pendings(count=1, customer_id=1001))
    send_the_incomplete_customers_service_to_billing()
    everyone = client.get(path, headers=headers).get_json()["data"]
    found = client.get(f"{path}?customerName=DEL%20sur", headers=headers)
    assert found.status_code == 200, found.get_json()
    rows = found.get_json()["data"]
    assert rows and {row["customerId"] for row in rows} == {1001}
    assert found.get_json()["total"] == len(rows)
    assert len(rows) == len([row for row in everyone if row["customerId"] == 1001])
    assert client.get(f"{path}?customerName=nadie", headers=headers).get_json()["data"] == []


def test_the_api_refuses_a_name_search_longer_than_a_legal_name(client, token):
    headers = token("clerk")
    answer = client.get("/api/services?customerName=" + "x" * 201, headers=headers)
    assert answer.status_code == 400


def test_the_openapi_document_offers_the_name_search_on_each_list(client, token):
    document = client.get("/api/openapi.json", headers=token("viewer")).get_json()
    for path in ("/api/services", "/api/billing-pendings", "/api/invoices"):
        parameters = document["paths"][path]["get"]["parameters"]
        assert "customerName" in {parameter["name"] for parameter in parameters}, path
