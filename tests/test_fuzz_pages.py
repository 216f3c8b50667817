"""Bad input to pages and forms, and raw requests the API schema cannot describe, never get a 5xx
(docs/rules.md, rule 9); a request answered 4xx changes nothing.

The seeds are inputs that once answered 500: digits ``int()`` refuses though ``str.isdigit()``
accepts them (``²``), other scripts' digits ``int()`` reads (``１``, ``١``), integers beyond the
database's, query keys ``url_for`` takes for its own, a lone surrogate and deeply nested JSON.
Hypothesis then mixes such values into every page route's query string and form."""

import os
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import PASSWORD
from tests.web_checks import changed_tables, concrete_routes, database_fingerprint
from webapp.extensions import db

EXAMPLES = int(os.environ.get("LOTE_FUZZ_EXAMPLES", "25")) * 8
FIELD_NAMES = [
    "customerId",
    "status",
    "dateFrom",
    "dateTo",
    "page",
    "batchId",
    "receiptBook",
    "invoiceNumber",
    "minAmount",
    "maxAmount",
    "available",
    "ids",
    "scope",
    "serviceDate",
    "amount",
    "description",
    "issueDate",
    "username",
    "password",
    "role",
    "then",
    "lang",
    "next",
]
URL_FOR_KEYS = ["endpoint", "_method", "_external", "_anchor", "_scheme", "values"]
TRICKY_VALUES = [
    "²",
    "①",
    "１",
    "١.00",
    "٠٠٠١",
    "A-٠٠٠١",
    "99999999999999999999",
    "9" * 5000,
    "0" * 5000 + "1",
    "2147483648",
    "0",
    "-1",
    "1e3",
    "1_000",
    "NaN",
    "2026-02-30",
    "x",
    "",
]


class PageRequest(NamedTuple):
    method: str
    url: str
    query: dict
    form: dict


SEEDS = [
    PageRequest("GET", "/services/", {"customerId": "²"}, {}),
    PageRequest("GET", "/batches/", {"page": "①"}, {}),
    PageRequest("GET", "/services/", {"page": "１"}, {}),
    PageRequest("GET", "/invoices/", {"minAmount": "١.00"}, {}),
    PageRequest("GET", "/services/", {"endpoint": "x"}, {}),
    PageRequest("GET", "/pendings/", {"_method": "x"}, {}),
    PageRequest("POST", "/services/send-to-billing", {}, {"ids": "²"}),
    PageRequest("POST", "/services/send-to-billing", {}, {"ids": "99999999999999999999"}),
    PageRequest("POST", "/services/send-to-billing", {"endpoint": "x"}, {"ids": "x"}),
    PageRequest("POST", "/erp/send", {}, {"batchId": "99999999999999999999"}),
    PageRequest("POST", "/services/new", {}, {"customerId": "²", "amount": "١.00"}),
]


@pytest.fixture
def site(app, users, factory):
    """An admin's client and the routes of every page, their ids those of real records."""
    from webapp.billing import erp

    factory.service()
    pendings = factory.pendings(count=2)
    batch = factory.batch(factory.pendings(count=2))
    invoice = erp.preview(batch_id=batch.id).invoices[0]
    sync = erp.sync("tests", invoice_ids=[invoice.id])
    known = {
        "service_id": pendings[0].service_id,
        "pending_id": pendings[0].id,
        "batch_id": batch.id,
        "invoice_id": invoice.id,
        "user_id": users["viewer"].id,
        "sync_id": sync.sync_id,
    }
    routes = [
        (method, url)
        for rule, url in concrete_routes(app, values=known, api=False)
        if rule.endpoint not in ("static", "web.logout", "web.login")
        for method in sorted(rule.methods & {"GET", "POST"})
    ]
    client = app.test_client()
    client.post("/login", data={"username": "admin", "password": PASSWORD})
    db.session.remove()
    return client, routes


def fields(names: list[str]):
    values = st.one_of(st.sampled_from(TRICKY_VALUES), st.text(max_size=8), st.integers().map(str))
    return st.dictionaries(st.sampled_from(names), values, max_size=4)


def page_requests(routes):
    return st.builds(
        lambda route, query, form: PageRequest(*route, query, form if route[0] == "POST" else {}),
        st.sampled_from(routes),
        fields(FIELD_NAMES + URL_FOR_KEYS),
        fields(FIELD_NAMES),
    )


def send_and_check(client, request: PageRequest) -> None:
    before = database_fingerprint(db.engine)
    response = client.open(
        request.url, method=request.method, query_string=request.query, data=request.form
    )
    assert response.status_code < 500, request
    if 400 <= response.status_code < 500:
        changed = changed_tables(before, database_fingerprint(db.engine))
        assert not changed, (request, response.status_code, changed)


def test_fuzzed_page_queries_and_forms_get_no_5xx_and_4xx_change_nothing(site):
    client, routes = site

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=page_requests(routes))
    def fuzz(request):
        send_and_check(client, request)

    for seed in SEEDS:
        fuzz = example(request=seed)(fuzz)
    fuzz()


@pytest.mark.parametrize(
    "url",
    [
        "/services/?customerId=%C2%B2",
        "/batches/?page=%E2%91%A0",
        "/services/?page=%EF%BC%92",
        "/pendings/?customerId=99999999999999999999",
        "/invoices/?minAmount=%D9%A1.00",
        "/invoices/?batchId=" + "9" * 5000,
    ],
)
def test_a_number_not_written_in_ascii_digits_or_beyond_the_database_is_a_400(clerk, url):
    response = clerk.get(url)
    assert response.status_code == 400, url
    assert "Correct the marked filters" in response.get_data(as_text=True)


def test_a_number_with_thousands_of_leading_zeros_is_read_as_the_number(clerk, factory):
    factory.service(customer_id=7)
    response = clerk.get("/services/?customerId=" + "0" * 5000 + "7")
    assert response.status_code == 200
    assert ">7<" in response.get_data(as_text=True)


@pytest.mark.parametrize("ids", ["²", "99999999999999999999", "١"])
def test_selected_ids_that_are_not_ascii_numbers_in_range_are_refused(clerk, factory, ids):
    service = factory.service()
    response = clerk.post("/services/send-to-billing", data={"ids": [str(service.id), ids]})
    assert response.status_code == 302
    assert "flash-error" in clerk.get(response.headers["Location"]).get_data(as_text=True)
    db.session.expire_all()
    assert service.status.value == "CREATED"


def test_a_batch_id_beyond_the_database_is_refused_by_the_erp_form(clerk):
    response = clerk.post("/erp/send", data={"batchId": "99999999999999999999"})
    assert response.status_code == 302
    assert "Choose a processed batch" in clerk.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_a_service_form_refuses_other_scripts_digits_naming_the_fields(clerk):
    response = clerk.post(
        "/services/new",
        data={"serviceDate": "2026-01-10", "customerId": "²", "amount": "١.00"},
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'id="f-customerId-error"' in page and 'id="f-amount-error"' in page


def test_a_query_key_url_for_takes_for_its_own_is_ignored_by_list_pages(clerk):
    for page in ["/services/", "/pendings/", "/batches/", "/invoices/", "/erp/"]:
        for key in ["endpoint", "_method", "_external", "values"]:
            assert clerk.get(f"{page}?{key}=x").status_code == 200, (page, key)


def test_sending_to_billing_with_such_a_key_in_the_query_returns_to_the_list(clerk, factory):
    service = factory.service()
    response = clerk.post(
        "/services/send-to-billing?endpoint=x&_anchor=y&status=CREATED&page=1",
        data={"ids": [str(service.id)]},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/services/?status=CREATED&page=1"


# Raw API requests -----------------------------------------------------------------------------


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"username": "\\ud800", "password": "x"}', "username"),
        ('{"username": "clerk", "password": "x", "\\udfff": 1}', "body"),
        ('{"username": ' + nested(1000) + ', "password": "x"}', "body"),
        (nested(100_000), "body"),
    ],
    ids=["lone surrogate", "lone surrogate key", "1,000 deep", "100,000 deep"],
)
def test_unreadable_json_is_a_400_before_sign_in(client, users, body, field):
    from tests.api_checks import assert_envelope, fields_named

    response = client.post("/api/auth/login", data=body, content_type="application/json")
    assert_envelope(response, 400)
    assert field in fields_named(response)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/api/auth/login", '{"username": ' + "9" * 5000 + ', "password": "x"}', "number too long"),
        ("/api/services", '{"customerId": ' + "9" * 5000 + "}", "number too long"),
        ("/api/billing-batches", '{"pendingIds": [' + "1" * 4301 + "]}", "number too long"),
        ("/api/services", '{"amount": "1.00",', "not valid JSON"),
        ("/api/services", b'{"description": "\xff"}', "not valid JSON"),
    ],
    ids=["5,000-digit login", "5,000-digit customer", "4,301-digit id", "cut short", "not UTF-8"],
)
def test_a_body_python_cannot_read_as_json_is_a_400_naming_it(client, token, path, body, message):
    from tests.api_checks import assert_envelope, fields_named

    response = client.post(path, data=body, content_type="application/json", headers=token("clerk"))
    assert_envelope(response, 400)
    assert fields_named(response) == {"body"}
    assert message in response.get_json()["message"]


def test_json_nested_as_deep_as_the_limit_is_read(client, users):
    from webapp.errors import MAX_JSON_DEPTH

    body = '{"username": ' + nested(MAX_JSON_DEPTH) + ', "password": "x"}'
    response = client.post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "nested" not in response.get_json()["message"]


def test_a_description_with_a_lone_surrogate_stores_nothing(client, token):
    from sqlalchemy import func, select

    from webapp.models import Service

    body = (
        '{"serviceDate": "2026-01-10", "customerId": 1, "amount": "1.00", "description": "\\ud83d"}'
    )
    response = client.post(
        "/api/services", data=body, content_type="application/json", headers=token("clerk")
    )
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Service)) == 0


@pytest.mark.parametrize("path", ["/api/services/%EF%BC%91", "/services/%EF%BC%91"])
def test_an_id_in_other_scripts_digits_names_no_record(client, auth, token, factory, path):
    auth.login("clerk")
    factory.service()
    assert client.get(path, headers=token("clerk")).status_code == 404


@pytest.mark.parametrize(
    "query", ["customerId=%EF%BC%91", "page=%E2%91%A0", "limit=%D9%A1", "after=%C2%B2"]
)
def test_an_api_query_number_in_other_scripts_digits_is_a_400(client, token, query):
    from tests.api_checks import assert_envelope

    assert_envelope(client.get(f"/api/services?{query}", headers=token("clerk")), 400)


@pytest.mark.parametrize("amount", ["١.00", "１5.00", "1_000.00"])
def test_an_api_amount_in_other_scripts_digits_is_a_400_naming_it(client, token, amount):
    from tests.api_checks import assert_envelope, fields_named

    response = client.post(
        "/api/services",
        json={"serviceDate": "2026-01-10", "customerId": 1, "amount": amount},
        headers=token("clerk"),
    )
    assert_envelope(response, 400)
    assert fields_named(response) == {"amount"}


def test_a_receipt_book_in_other_scripts_digits_is_not_a_book(client, token):
    from tests.api_checks import assert_envelope

    response = client.get(
        "/api/billing-batches/next-invoice-number/A-%D9%A0%D9%A0%D9%A0%D9%A1",
        headers=token("clerk"),
    )
    assert_envelope(response, 400)
