"""/api/invoices: numbering, amounts and CAE of invoices, their filters, look-ups and statistics."""

import re
from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from tests.api_checks import MONEY, assert_envelope, fields_named, today

MONEY_FIELDS = ("amount", "netAmount", "vatAmount")
CENT = Decimal("0.01")


def all_invoices(client, headers, query="") -> list[dict]:
    """Every invoice the query matches, read page by page."""
    invoices, page = [], 1
    while True:
        response = client.get(f"/api/invoices?limit=100&page={page}&{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        payload = response.get_json()
        invoices.extend(payload["data"])
        if page >= payload["totalPages"]:
            return invoices
        page += 1


@pytest.fixture
def invoiced(factory):
    """Four batches on two receipt books, three customers, issue dates over five days."""
    day = today()
    batches = {
        "a1": factory.batch(
            factory.pendings(3, amount="1210.00", customer_id=1001),
            issue_date=day - timedelta(days=4),
        ),
        "a2": factory.batch(
            factory.pendings(2, amount="100.00", customer_id=2002)
            + factory.pendings(1, amount="0.01", customer_id=1001),
            issue_date=day,
        ),
        "b1": factory.batch(
            factory.pendings(2, amount="333.33", customer_id=3003),
            receipt_book="A-0002",
            issue_date=day - timedelta(days=2),
        ),
        "b2": factory.batch(
            factory.pendings(1, amount="9999.99", customer_id=2002),
            receipt_book="A-0002",
            issue_date=day - timedelta(days=1),
        ),
    }
    return {name: batch.id for name, batch in batches.items()}


# Invoices as issued --------------------------------------------------------------------------


def test_invoice_numbers_are_consecutive_per_receipt_book_across_batches(client, token, invoiced):
    invoices = all_invoices(client, token("viewer"))

    by_book = defaultdict(list)
    for invoice in sorted(invoices, key=lambda i: (i["receiptBook"], i["sequenceNumber"])):
        by_book[invoice["receiptBook"]].append(invoice)
    assert {book: len(items) for book, items in by_book.items()} == {"A-0001": 6, "A-0002": 3}
    for book, items in by_book.items():
        assert [i["sequenceNumber"] for i in items] == list(range(1, len(items) + 1))
        for invoice in items:
            assert invoice["invoiceNumber"] == f"{book}-{invoice['sequenceNumber']:08d}"
    a_batches = [i["batchId"] for i in by_book["A-0001"]]
    assert a_batches == [invoiced["a1"]] * 3 + [invoiced["a2"]] * 3


def test_every_invoice_amount_is_net_plus_vat_with_net_rounded_half_up(client, token, invoiced):
    invoices = all_invoices(client, token())

    assert len(invoices) == 9
    for invoice in invoices:
        for field in MONEY_FIELDS:
            assert MONEY.match(invoice[field]), (field, invoice[field])
        amount, net, vat = (Decimal(invoice[f]) for f in MONEY_FIELDS)
        assert net + vat == amount
        assert net == (amount / Decimal("1.21")).quantize(CENT, rounding=ROUND_HALF_UP)
    by_amount = {i["amount"]: (i["netAmount"], i["vatAmount"]) for i in invoices}
    assert by_amount["1210.00"] == ("1000.00", "210.00")
    assert by_amount["100.00"] == ("82.64", "17.36")
    assert by_amount["0.01"] == ("0.01", "0.00")
    assert by_amount["333.33"] == ("275.48", "57.85")
    assert by_amount["9999.99"] == ("8264.45", "1735.54")


def test_every_invoice_has_a_unique_14_digit_cae_due_10_days_after_issue(client, token, invoiced):
    invoices = all_invoices(client, token())

    assert len(invoices) == 9
    caes = [i["cae"] for i in invoices]
    assert all(re.fullmatch(r"\d{14}", cae) for cae in caes)
    assert len(set(caes)) == len(caes)
    for invoice in invoices:
        issued = date.fromisoformat(invoice["issueDate"])
        assert date.fromisoformat(invoice["caeDueDate"]) == issued + timedelta(days=10)


def test_invoice_carries_its_pending_service_and_batch(client, token, factory):
    pending = factory.pendings(1, amount="50.00", customer_id=4)[0]
    batch = factory.batch([pending])
    headers = token()

    invoice = client.get("/api/invoices", headers=headers).get_json()["data"][0]

    assert invoice["pendingId"] == pending.id
    assert invoice["serviceId"] == pending.service_id
    assert invoice["batchId"] == batch.id
    assert invoice["customerId"] == 4
    assert invoice["serviceDate"] == (today() - timedelta(days=12)).isoformat()
    assert invoice["issueDate"] == today().isoformat()
    assert invoice["erpSyncId"] is None
    assert invoice["createdAt"].endswith("Z")


# Filters and pagination ----------------------------------------------------------------------


def test_list_invoices_pages_in_a_stable_order(client, token, invoiced):
    headers = token()
    pages = [
        client.get(f"/api/invoices?limit=4&page={n}", headers=headers).get_json() for n in (1, 2, 3)
    ]
    assert [(p["total"], p["totalPages"], p["page"], p["limit"]) for p in pages] == [
        (9, 3, n, 4) for n in (1, 2, 3)
    ]
    ids = [i["id"] for p in pages for i in p["data"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 9


def test_list_invoices_filters_by_each_field(client, token, invoiced):
    headers = token("viewer")
    everything = all_invoices(client, headers)
    day = today()

    def ids(query):
        return sorted(i["id"] for i in all_invoices(client, headers, query))

    def expected(keep):
        return sorted(i["id"] for i in everything if keep(i))

    assert ids(f"batchId={invoiced['b1']}") == expected(lambda i: i["batchId"] == invoiced["b1"])
    assert ids("customerId=2002") == expected(lambda i: i["customerId"] == 2002)
    assert ids("receiptBook=A-0002") == expected(lambda i: i["receiptBook"] == "A-0002")
    for spelling in ("a-2", "A-00002", " A-0002 "):
        assert ids(f"receiptBook={spelling}") == ids("receiptBook=A-0002")
    assert ids("invoiceNumber=A-0001-00000004") == expected(
        lambda i: i["invoiceNumber"] == "A-0001-00000004"
    )
    assert len(ids("invoiceNumber=A-0001-00000004")) == 1
    two_days_ago = (day - timedelta(days=2)).isoformat()
    assert ids(f"dateFrom={two_days_ago}") == expected(lambda i: i["issueDate"] >= two_days_ago)
    assert ids(f"dateTo={two_days_ago}") == expected(lambda i: i["issueDate"] <= two_days_ago)
    assert ids(f"dateFrom={two_days_ago}&dateTo={two_days_ago}") == expected(
        lambda i: i["issueDate"] == two_days_ago
    )
    assert ids("minAmount=333.33") == expected(lambda i: Decimal(i["amount"]) >= Decimal("333.33"))
    assert ids("maxAmount=100") == expected(lambda i: Decimal(i["amount"]) <= 100)
    assert ids("minAmount=100.00&maxAmount=1210.00") == expected(
        lambda i: 100 <= Decimal(i["amount"]) <= 1210
    )
    assert ids("customerId=1001&receiptBook=A-0001&maxAmount=1") == expected(
        lambda i: i["customerId"] == 1001 and i["amount"] == "0.01"
    )
    assert ids("customerId=999") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("batchId=abc", "batchId"),
        ("batchId=0", "batchId"),
        (f"customerId={10**30}", "customerId"),
        ("minAmount=abc", "minAmount"),
        ("minAmount=-1", "minAmount"),
        ("maxAmount=1.001", "maxAmount"),
        ("minAmount=1e30", "minAmount"),
        ("maxAmount=" + "9" * 30, "maxAmount"),
        ("minAmount=500&maxAmount=100", "maxAmount"),
        ("dateFrom=2026-02-30", "dateFrom"),
        ("dateTo=tomorrow", "dateTo"),
        ("dateFrom=2026-05-02&dateTo=2026-05-01", "dateTo"),
        ("invoiceNumber=" + "9" * 33, "invoiceNumber"),
        ("receiptBook=Z-1", "receiptBook"),
        ("receiptBook=A-100000", "receiptBook"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
    ],
)
def test_list_invoices_refuses_bad_filters_naming_them(client, token, query, field):
    response = client.get(f"/api/invoices?{query}", headers=token())
    assert_envelope(response, 400)
    assert field in fields_named(response)


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/invoices?invoiceNumber=A-0001%00", "invoiceNumber"),
        ("/api/invoices?receiptBook=A%00", "receiptBook"),
        ("/api/invoices/statistics?receiptBook=A%00", "receiptBook"),
        ("/api/invoices/number/A-0001%00", "path"),
    ],
)
def test_text_with_a_nul_character_never_causes_a_500(client, token, invoiced, path, field):
    response = client.get(path, headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {field}


# Statistics ----------------------------------------------------------------------------------


def expected_statistics(invoices: list[dict]) -> dict:
    total = sum((Decimal(i["amount"]) for i in invoices), Decimal("0.00"))
    months, customers = defaultdict(list), defaultdict(list)
    for invoice in invoices:
        months[invoice["issueDate"][:7]].append(Decimal(invoice["amount"]))
        customers[invoice["customerId"]].append(Decimal(invoice["amount"]))
    return {
        "totalInvoices": len(invoices),
        "totalAmount": f"{total:.2f}",
        "averageAmount": f"{(total / len(invoices)).quantize(CENT, ROUND_HALF_UP):.2f}"
        if invoices
        else "0.00",
        "byMonth": [
            {"month": month, "count": len(amounts), "totalAmount": f"{sum(amounts):.2f}"}
            for month, amounts in sorted(months.items())
        ],
        "byCustomer": sorted(
            (
                {"customerId": c, "count": len(amounts), "totalAmount": f"{sum(amounts):.2f}"}
                for c, amounts in customers.items()
            ),
            key=lambda row: (-Decimal(row["totalAmount"]), row["customerId"]),
        ),
        # No notes were issued: nothing credited or debited, the net is the total.
        "creditedAmount": "0.00",
        "debitedAmount": "0.00",
        "netAmount": f"{total:.2f}",
    }


def test_statistics_match_the_sums_of_the_invoices(client, token, invoiced):
    headers = token("viewer")
    invoices = all_invoices(client, headers)

    response = client.get("/api/invoices/statistics", headers=headers)

    assert response.status_code == 200
    statistics = response.get_json()
    assert statistics == expected_statistics(invoices)
    assert statistics["totalInvoices"] == 9
    assert statistics["totalAmount"] == "14496.66"
    assert statistics["averageAmount"] == "1610.74"
    assert [row["customerId"] for row in statistics["byCustomer"]] == [2002, 1001, 3003]


@pytest.mark.parametrize(
    "query",
    ["customerId=1001", "receiptBook=A-0002", "dateFrom={d2}", "dateTo={d2}", "customerId=5"],
)
def test_statistics_apply_the_filters(client, token, invoiced, query):
    headers = token()
    query = query.format(d2=(today() - timedelta(days=2)).isoformat())

    statistics = client.get(f"/api/invoices/statistics?{query}", headers=headers).get_json()

    assert statistics == expected_statistics(all_invoices(client, headers, query))


def test_statistics_without_invoices_are_zero(client, token):
    statistics = client.get("/api/invoices/statistics", headers=token()).get_json()
    assert statistics == {
        "totalInvoices": 0,
        "totalAmount": "0.00",
        "averageAmount": "0.00",
        "byMonth": [],
        "byCustomer": [],
        "creditedAmount": "0.00",
        "debitedAmount": "0.00",
        "netAmount": "0.00",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("dateFrom=2026-02-30", "dateFrom"),
        ("customerId=abc", "customerId"),
        ("dateFrom=2026-05-02&dateTo=2026-05-01", "dateTo"),
    ],
)
def test_statistics_refuse_bad_filters(client, token, query, field):
    response = client.get(f"/api/invoices/statistics?{query}", headers=token())
    assert_envelope(response, 400)
    assert field in fields_named(response)


# Look-ups ------------------------------------------------------------------------------------


def test_invoices_by_customer_lists_only_that_customers(client, token, invoiced):
    headers = token("viewer")
    everything = all_invoices(client, headers)

    response = client.get("/api/invoices/by-customer/2002?limit=2", headers=headers)

    assert response.status_code == 200
    page = response.get_json()
    mine = [i for i in everything if i["customerId"] == 2002]
    assert (page["total"], page["limit"], page["totalPages"]) == (len(mine), 2, 2)
    second = client.get("/api/invoices/by-customer/2002?limit=2&page=2", headers=headers)
    listed = page["data"] + second.get_json()["data"]
    assert sorted(i["id"] for i in listed) == sorted(i["id"] for i in mine)


def test_invoices_of_a_customer_without_invoices_is_an_empty_page(client, token, invoiced):
    page = client.get("/api/invoices/by-customer/424242", headers=token()).get_json()
    assert (page["total"], page["data"], page["totalPages"]) == (0, [], 0)


def test_invoices_by_batch_lists_the_batchs_invoices(client, token, invoiced):
    headers = token()

    page = client.get(f"/api/invoices/by-batch/{invoiced['a2']}", headers=headers).get_json()

    assert page["total"] == 3
    assert {i["batchId"] for i in page["data"]} == {invoiced["a2"]}
    assert sorted(i["invoiceNumber"] for i in page["data"]) == [
        "A-0001-00000004",
        "A-0001-00000005",
        "A-0001-00000006",
    ]


def test_invoices_by_unknown_batch_is_404(client, token, invoiced):
    response = client.get("/api/invoices/by-batch/9999", headers=token())
    assert_envelope(response, 404)


def test_invoice_by_number_returns_it(client, token, invoiced):
    headers = token()

    response = client.get("/api/invoices/number/A-0002-00000003", headers=headers)

    assert response.status_code == 200
    invoice = response.get_json()
    assert invoice["invoiceNumber"] == "A-0002-00000003"
    assert invoice["batchId"] == invoiced["b2"]
    assert invoice["amount"] == "9999.99"


@pytest.mark.parametrize("number", ["A-0001-00000099", "X", "A-0001", "99999999999"])
def test_invoice_by_unknown_number_is_404(client, token, invoiced, number):
    assert_envelope(client.get(f"/api/invoices/number/{number}", headers=token()), 404)


def test_invoice_by_id_returns_it(client, token, invoiced):
    headers = token()
    listed = client.get("/api/invoices?limit=1", headers=headers).get_json()["data"][0]

    response = client.get(f"/api/invoices/{listed['id']}", headers=headers)

    assert response.status_code == 200
    assert response.get_json() == listed


@pytest.mark.parametrize("invoice_id", ["777", "99999999999", "0", "-1"])
def test_invoice_by_unknown_id_is_404(client, token, invoiced, invoice_id):
    assert_envelope(client.get(f"/api/invoices/{invoice_id}", headers=token()), 404)


@pytest.mark.parametrize(
    "path",
    [
        "/api/invoices",
        "/api/invoices/statistics",
        "/api/invoices/by-customer/1001",
        "/api/invoices/by-batch/1",
        "/api/invoices/number/A-0001-00000001",
        "/api/invoices/1",
    ],
)
def test_invoices_without_a_token_are_401(client, invoiced, path):
    assert_envelope(client.get(path), 401)


def test_invoices_cannot_be_written(client, token, invoiced):
    headers = token("admin")
    for method in ("post", "put", "patch", "delete"):
        response = getattr(client, method)("/api/invoices/1", json={}, headers=headers)
        assert_envelope(response, 405)
    assert client.get("/api/invoices", headers=headers).get_json()["total"] == 9
