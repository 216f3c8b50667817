"""/api/billing-pendings: list, summary, available, detail and cancel."""

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.api_checks import MONEY, assert_envelope, fields_named, today


def listed_ids(client, headers, path) -> set[int]:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.get_json()
    return {p["id"] for p in response.get_json()["data"]}


# List ----------------------------------------------------------------------------------------


def test_list_pendings_shows_each_with_its_service(client, token, factory):
    pending = factory.pendings(1, amount="1210.00", customer_id=55)[0]

    response = client.get("/api/billing-pendings", headers=token("viewer"))

    assert response.status_code == 200
    page = response.get_json()
    assert (page["total"], page["page"], page["limit"], page["totalPages"]) == (1, 1, 20, 1)
    item = page["data"][0]
    assert item["id"] == pending.id
    assert item["serviceId"] == pending.service_id
    assert item["status"] == "PENDING"
    assert item["batchId"] is None
    assert item["customerId"] == 55
    assert item["amount"] == "1210.00"
    assert item["serviceDate"] == (today() - timedelta(days=12)).isoformat()
    assert item["service"]["id"] == pending.service_id
    assert item["service"]["status"] == "SENT_TO_BILL"


def test_list_pendings_pages_in_a_stable_order(client, token, factory):
    ids = [p.id for p in factory.pendings(7)]
    headers = token()

    pages = [
        client.get(f"/api/billing-pendings?limit=3&page={n}", headers=headers).get_json()
        for n in (1, 2, 3)
    ]

    assert [p["totalPages"] for p in pages] == [3, 3, 3]
    assert [item["id"] for p in pages for item in p["data"]] == sorted(ids, reverse=True)


def test_list_pendings_filters_by_status_customer_and_service_date(client, token, factory):
    from webapp.billing import services

    day = today()
    old = factory.service(customer_id=1, days_ago=8)
    recent = factory.service(customer_id=2, days_ago=2)
    cancelled_service = factory.service(customer_id=1, days_ago=2)
    sent = services.send_to_billing("tests", [old.id, recent.id, cancelled_service.id])
    by_service = {p.service_id: p.id for p in sent}
    headers = token()
    cancelled = by_service[cancelled_service.id]
    assert client.delete(f"/api/billing-pendings/{cancelled}", headers=headers).status_code == 200
    batch = factory.batch(factory.pendings(2, customer_id=3))
    invoiced = set(
        client.get(f"/api/billing-batches/{batch.id}", headers=headers).get_json()["pendingIds"]
    )

    def ids(query):
        return listed_ids(client, headers, f"/api/billing-pendings?{query}")

    assert ids("status=PENDING") == {by_service[old.id], by_service[recent.id]}
    assert ids("status=CANCELLED") == {cancelled}
    assert ids("status=INVOICED") == invoiced
    assert ids("customerId=1") == {by_service[old.id], cancelled}
    assert ids("customerId=1&status=PENDING") == {by_service[old.id]}
    two_days_ago = (day - timedelta(days=2)).isoformat()
    assert ids(f"dateFrom={two_days_ago}") == {by_service[recent.id], cancelled}
    assert ids(f"dateTo={(day - timedelta(days=3)).isoformat()}") == {by_service[old.id]} | invoiced


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=OPEN", "status"),
        ("customerId=x", "customerId"),
        ("customerId=0", "customerId"),
        ("dateFrom=2026-02-30", "dateFrom"),
        ("dateTo=2026-13-01", "dateTo"),
        ("dateFrom=2026-05-02&dateTo=2026-05-01", "dateTo"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
    ],
)
def test_list_pendings_refuses_bad_filters_naming_them(client, token, query, field):
    for path in ("/api/billing-pendings", "/api/billing-pendings/available"):
        response = client.get(f"{path}?{query}", headers=token())
        assert_envelope(response, 400)
        assert field in fields_named(response)


# Summary -------------------------------------------------------------------------------------


def test_summary_totals_pending_amounts_overall_and_by_customer(client, token, factory):
    factory.pendings(2, amount="100.10", customer_id=20)
    factory.pendings(3, amount="0.05", customer_id=10)
    factory.pendings(1, amount="9999.99", customer_id=30)
    cancelled = factory.pendings(1, amount="500.00", customer_id=10)[0]
    factory.batch(factory.pendings(2, amount="77.00", customer_id=20))
    headers = token("viewer")
    assert (
        client.delete(f"/api/billing-pendings/{cancelled.id}", headers=token()).status_code == 200
    )

    response = client.get("/api/billing-pendings/summary", headers=headers)

    assert response.status_code == 200
    summary = response.get_json()
    expected = {
        10: (3, Decimal("0.05") * 3),
        20: (2, Decimal("100.10") * 2),
        30: (1, Decimal("9999.99")),
    }
    assert summary["totalPending"] == 6
    assert summary["totalAmount"] == str(sum(total for _, total in expected.values()))
    assert summary["totalAmount"] == "10200.34"
    assert [c["customerId"] for c in summary["byCustomer"]] == [10, 20, 30]
    for row in summary["byCustomer"]:
        count, total = expected[row["customerId"]]
        assert row["count"] == count
        assert row["totalAmount"] == f"{total:.2f}"
        assert MONEY.match(row["totalAmount"])


def test_summary_with_nothing_pending_is_zero(client, token):
    summary = client.get("/api/billing-pendings/summary", headers=token()).get_json()
    assert summary == {
        "totalPending": 0,
        "totalAmount": "0.00",
        "byCustomer": [],
        "heldByFailedBatches": {"count": 0, "totalAmount": "0.00", "batchIds": []},
    }


def test_summary_says_which_waiting_pendings_failed_batches_hold(client, token, app, factory):
    factory.pendings(1, amount="5.00")
    factory.batch(factory.pendings(1, amount="7.00"), process=False)  # queued, not failed
    authority = app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    failed = factory.batch(factory.pendings(2, amount="100.00"))
    authority.failure_rate = 0.0
    summary = client.get("/api/billing-pendings/summary", headers=token()).get_json()
    assert summary["totalPending"] == 4
    assert summary["heldByFailedBatches"] == {
        "count": 2,
        "totalAmount": "200.00",
        "batchIds": [failed.id],
    }

    client.post(f"/api/billing-batches/{failed.id}/abandon", headers=token())
    summary = client.get("/api/billing-pendings/summary", headers=token()).get_json()
    assert summary["totalPending"] == 4
    assert summary["heldByFailedBatches"]["count"] == 0


# Available -----------------------------------------------------------------------------------


def test_available_lists_only_pending_ones_no_batch_has_claimed(client, token, factory):
    free = factory.pendings(2, customer_id=1)
    claimed = factory.pendings(2, customer_id=1)
    factory.batch(claimed, process=False)
    factory.batch(factory.pendings(1, customer_id=1))
    cancelled = factory.pendings(1, customer_id=2)[0]
    headers = token("viewer")
    assert (
        client.delete(f"/api/billing-pendings/{cancelled.id}", headers=token()).status_code == 200
    )

    available = listed_ids(client, headers, "/api/billing-pendings/available")
    status_filter = listed_ids(client, headers, "/api/billing-pendings/available?status=CANCELLED")
    customer_2 = listed_ids(client, headers, "/api/billing-pendings/available?customerId=2")

    assert available == {p.id for p in free}
    assert status_filter == available
    assert customer_2 == set()


# Detail --------------------------------------------------------------------------------------


def test_get_pending_returns_it(client, token, factory):
    pending = factory.pendings(1, amount="42.42")[0]
    response = client.get(f"/api/billing-pendings/{pending.id}", headers=token("viewer"))
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["id"] == pending.id
    assert payload["amount"] == "42.42"
    assert payload["service"]["amount"] == "42.42"


@pytest.mark.parametrize("pending_id", ["999", "99999999999", "0", "abc"])
def test_get_unknown_pending_is_404(client, token, factory, pending_id):
    factory.pendings(1)
    assert_envelope(client.get(f"/api/billing-pendings/{pending_id}", headers=token()), 404)


# Cancel --------------------------------------------------------------------------------------


def test_cancel_pending_brings_its_service_back_to_created_and_keeps_the_pending(
    client, token, factory
):
    pending = factory.pendings(1)[0]
    headers = token("clerk")

    response = client.delete(f"/api/billing-pendings/{pending.id}", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["status"] == "CANCELLED"
    service = client.get(f"/api/services/{pending.service_id}", headers=headers).get_json()
    assert service["status"] == "CREATED"
    kept = client.get(f"/api/billing-pendings/{pending.id}", headers=headers).get_json()
    assert kept["status"] == "CANCELLED"
    summary = client.get("/api/billing-pendings/summary", headers=headers).get_json()
    assert summary["totalPending"] == 0


def test_cancel_a_pending_claimed_by_a_batch_is_409_and_changes_nothing(client, token, factory):
    pending = factory.pendings(1)[0]
    batch = factory.batch([pending], process=False)
    headers = token()

    response = client.delete(f"/api/billing-pendings/{pending.id}", headers=headers)

    payload = assert_envelope(response, 409)
    assert str(batch.id) in payload["message"]
    kept = client.get(f"/api/billing-pendings/{pending.id}", headers=headers).get_json()
    assert (kept["status"], kept["batchId"]) == ("PENDING", batch.id)
    service = client.get(f"/api/services/{pending.service_id}", headers=headers).get_json()
    assert service["status"] == "SENT_TO_BILL"


def test_cancel_an_invoiced_pending_is_409(client, token, factory):
    pending = factory.pendings(1)[0]
    factory.batch([pending])
    headers = token()

    payload = assert_envelope(
        client.delete(f"/api/billing-pendings/{pending.id}", headers=headers), 409
    )

    assert "INVOICED" in payload["message"]
    service = client.get(f"/api/services/{pending.service_id}", headers=headers).get_json()
    assert service["status"] == "INVOICED"


def test_cancel_a_cancelled_pending_is_409(client, token, factory):
    pending = factory.pendings(1)[0]
    headers = token()
    assert client.delete(f"/api/billing-pendings/{pending.id}", headers=headers).status_code == 200

    payload = assert_envelope(
        client.delete(f"/api/billing-pendings/{pending.id}", headers=headers), 409
    )

    assert "CANCELLED" in payload["message"]


def test_cancel_unknown_pending_is_404(client, token):
    assert_envelope(client.delete("/api/billing-pendings/5555", headers=token()), 404)


def test_cancel_a_pending_id_beyond_the_integer_range_is_404(client, token):
    assert_envelope(client.delete("/api/billing-pendings/99999999999", headers=token()), 404)


def test_viewer_cannot_cancel_a_pending(client, token, factory):
    pending = factory.pendings(1)[0]

    response = client.delete(f"/api/billing-pendings/{pending.id}", headers=token("viewer"))

    assert_envelope(response, 403)
    kept = client.get(f"/api/billing-pendings/{pending.id}", headers=token()).get_json()
    assert kept["status"] == "PENDING"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/billing-pendings"),
        ("get", "/api/billing-pendings/summary"),
        ("get", "/api/billing-pendings/available"),
        ("get", "/api/billing-pendings/1"),
        ("delete", "/api/billing-pendings/1"),
    ],
)
def test_pendings_without_a_token_are_401(client, factory, method, path):
    factory.pendings(1)
    assert_envelope(getattr(client, method)(path), 401)
