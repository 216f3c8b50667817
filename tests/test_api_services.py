"""/api/services: create, read, list, edit, delete and send to billing."""

import re
from datetime import timedelta

import pytest

from tests.api_checks import MONEY, assert_envelope, fields_named, today
from webapp.billing import services

UTC_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


def body(**overrides):
    data = {
        "serviceDate": (today() - timedelta(days=3)).isoformat(),
        "customerId": 1001,
        "amount": "1500.00",
        "description": "Flete Buenos Aires - Rosario",
    }
    data.update(overrides)
    return data


def total_services(client, headers) -> int:
    return client.get("/api/services", headers=headers).get_json()["total"]


# Create ----------------------------------------------------------------------------------


def test_create_service_returns_201_with_camel_case_fields(client, token):
    headers = token("clerk")
    sent = body(amount="1500")

    response = client.post("/api/services", json=sent, headers=headers)

    assert response.status_code == 201
    service = response.get_json()
    assert service["id"] >= 1
    assert service["serviceDate"] == sent["serviceDate"]
    assert service["customerId"] == 1001
    assert service["amount"] == "1500.00"
    assert service["description"] == sent["description"]
    assert service["status"] == "CREATED"
    assert UTC_TIMESTAMP.match(service["createdAt"])
    assert UTC_TIMESTAMP.match(service["updatedAt"])
    assert client.get(f"/api/services/{service['id']}", headers=headers).get_json() == service


@pytest.mark.parametrize(
    ("amount", "stored"),
    [("1500", "1500.00"), ("0.01", "0.01"), (19.99, "19.99"), (250, "250.00"), ("12.5", "12.50")],
)
def test_service_amount_is_stored_exactly_and_returned_as_two_decimal_text(
    client, token, amount, stored
):
    response = client.post("/api/services", json=body(amount=amount), headers=token())
    assert response.status_code == 201
    assert response.get_json()["amount"] == stored


def test_create_service_without_a_description_stores_an_empty_one(client, token):
    sent = body()
    del sent["description"]
    response = client.post("/api/services", json=sent, headers=token())
    assert response.status_code == 201
    assert response.get_json()["description"] == ""


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("customerId", "1001"),
        ("customerId", 10**30),
        ("customerId", 0),
        ("customerId", -7),
        ("customerId", 12.5),
        ("customerId", True),
        ("customerId", None),
        ("customerId", [1001]),
        ("amount", True),
        ("amount", 10**20),
        ("amount", 10**30),
        ("amount", "1e30"),
        ("amount", "-5.00"),
        ("amount", -5),
        ("amount", 0),
        ("amount", "0.00"),
        ("amount", "1.005"),
        ("amount", 0.001),
        ("amount", "abc"),
        ("amount", "NaN"),
        ("amount", "Infinity"),
        ("amount", ""),
        ("amount", None),
        ("amount", {"value": 10}),
        ("serviceDate", "2026-02-30"),
        ("serviceDate", "31/01/2026"),
        ("serviceDate", "yesterday"),
        ("serviceDate", 20260101),
        ("serviceDate", ""),
        ("serviceDate", None),
        ("description", "x" * 501),
        ("description", 42),
    ],
)
def test_create_service_refuses_a_bad_field_with_400_naming_it(client, token, field, value):
    headers = token("clerk")

    response = client.post("/api/services", json=body(**{field: value}), headers=headers)

    payload = assert_envelope(response, 400)
    assert payload["error"] == "Bad Request"
    assert fields_named(response) == {field}
    assert all(detail["message"] for detail in payload["details"])
    assert total_services(client, headers) == 0


def test_create_service_names_every_missing_field(client, token):
    response = client.post("/api/services", json={}, headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {"serviceDate", "customerId", "amount"}


def test_create_service_refuses_unknown_fields(client, token):
    headers = token()
    response = client.post("/api/services", json=body(status="INVOICED", id=7), headers=headers)
    assert_envelope(response, 400)
    assert fields_named(response) == {"status", "id"}
    assert total_services(client, headers) == 0


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ("{not json", "application/json"),
        ('{"amount": "1.00",', "application/json"),
        ("[1, 2, 3]", "application/json"),
        ('"a string"', "application/json"),
        ("null", "application/json"),
        ("serviceDate=2026-01-01&customerId=1&amount=10", "application/x-www-form-urlencoded"),
        ("", "application/json"),
    ],
)
def test_create_service_refuses_a_body_that_is_not_a_json_object(client, token, data, content_type):
    headers = token()
    response = client.post("/api/services", data=data, content_type=content_type, headers=headers)
    assert_envelope(response, 400)
    assert total_services(client, headers) == 0


def test_description_with_a_nul_character_never_causes_a_500(client, token):
    response = client.post(
        "/api/services", json=body(description="Flete\x00Rosario"), headers=token()
    )
    assert_envelope(response, 400)
    assert fields_named(response) == {"description"}


# Read and list -------------------------------------------------------------------------------


def test_get_service_returns_it(client, token, factory):
    service = factory.service(amount="99.90", customer_id=77)
    response = client.get(f"/api/services/{service.id}", headers=token("viewer"))
    assert response.status_code == 200
    payload = response.get_json()
    assert payload["id"] == service.id
    assert payload["amount"] == "99.90"
    assert payload["customerId"] == 77


@pytest.mark.parametrize(
    "path",
    ["/api/services/999", "/api/services/99999999999", "/api/services/0", "/api/services/-1"],
)
def test_get_unknown_service_is_404(client, token, factory, path):
    factory.service()
    response = client.get(path, headers=token())
    assert_envelope(response, 404)


def test_list_services_pages_in_a_stable_order_covering_every_service_once(client, token, factory):
    created = [factory.service(customer_id=1000 + i).id for i in range(25)]
    headers = token("viewer")

    pages = [
        client.get(f"/api/services?page={n}&limit=10", headers=headers).get_json()
        for n in (1, 2, 3, 4)
    ]

    for n, page in enumerate(pages, start=1):
        assert page["total"] == 25
        assert page["page"] == n
        assert page["limit"] == 10
        assert page["totalPages"] == 3
    assert [len(p["data"]) for p in pages] == [10, 10, 5, 0]
    listed = [s["id"] for p in pages for s in p["data"]]
    assert listed == sorted(created, reverse=True)
    again = client.get("/api/services?page=2&limit=10", headers=headers).get_json()
    assert [s["id"] for s in again["data"]] == [s["id"] for s in pages[1]["data"]]


def test_list_services_defaults_to_page_1_with_20_per_page(client, token, factory):
    for _ in range(21):
        factory.service()
    page = client.get("/api/services", headers=token()).get_json()
    assert (page["page"], page["limit"], page["total"], page["totalPages"]) == (1, 20, 21, 2)
    assert len(page["data"]) == 20
    assert all(MONEY.match(s["amount"]) for s in page["data"])


@pytest.mark.parametrize("limit", [1, 100])
def test_list_accepts_the_limit_bounds(client, token, factory, limit):
    factory.service()
    response = client.get(f"/api/services?limit={limit}", headers=token())
    assert response.status_code == 200
    assert response.get_json()["limit"] == limit


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("page=0", "page"),
        ("page=-3", "page"),
        ("page=1.5", "page"),
        (f"page={10**30}", "page"),
        ("customerId=abc", "customerId"),
        (f"customerId={10**30}", "customerId"),
        ("status=DONE", "status"),
        ("dateFrom=2026-02-30", "dateFrom"),
        ("dateTo=30-01-2026", "dateTo"),
        ("dateFrom=2026-03-10&dateTo=2026-03-01", "dateTo"),
    ],
)
def test_list_services_refuses_bad_query_parameters_naming_them(client, token, query, field):
    response = client.get(f"/api/services?{query}", headers=token())
    assert_envelope(response, 400)
    assert field in fields_named(response)


def test_list_services_filters_by_customer_status_and_date_range(client, token, factory):
    day = today()
    a_old = factory.service(customer_id=1, days_ago=9)
    a_mid = factory.service(customer_id=1, days_ago=5)
    a_new = factory.service(customer_id=1, days_ago=1)
    b_mid = factory.service(customer_id=2, days_ago=5)
    sent_service = factory.service(customer_id=1, days_ago=3)
    sent = services.send_to_billing("tests", [sent_service.id])[0].service_id
    headers = token("viewer")

    def ids(query):
        response = client.get(f"/api/services?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return {s["id"] for s in response.get_json()["data"]}

    def days_ago(n):
        return (day - timedelta(days=n)).isoformat()

    assert ids("customerId=1") == {a_old.id, a_mid.id, a_new.id, sent}
    assert ids("customerId=2") == {b_mid.id}
    assert ids("customerId=3") == set()
    assert ids("status=SENT_TO_BILL") == {sent}
    assert ids("status=CREATED&customerId=1") == {a_old.id, a_mid.id, a_new.id}
    assert ids(f"dateFrom={days_ago(5)}&dateTo={days_ago(5)}") == {a_mid.id, b_mid.id}
    assert ids(f"dateFrom={days_ago(4)}") == {a_new.id, sent}
    assert ids(f"dateTo={days_ago(6)}") == {a_old.id}
    assert ids(f"customerId=1&dateFrom={days_ago(5)}&dateTo={days_ago(2)}") == {a_mid.id, sent}


# Edit and delete -----------------------------------------------------------------------------


def test_patch_changes_only_the_given_fields_of_a_created_service(client, token, factory):
    service = factory.service(amount="100.00", customer_id=5, description="Flete")
    headers = token("clerk")
    before = client.get(f"/api/services/{service.id}", headers=headers).get_json()

    response = client.patch(
        f"/api/services/{service.id}", json={"amount": "250.5"}, headers=headers
    )

    assert response.status_code == 200
    after = response.get_json()
    assert after["amount"] == "250.50"
    for unchanged in ("customerId", "serviceDate", "description", "status", "createdAt"):
        assert after[unchanged] == before[unchanged]
    assert client.get(f"/api/services/{service.id}", headers=headers).get_json()["amount"] == (
        "250.50"
    )


def test_patch_can_change_every_editable_field(client, token, factory):
    service = factory.service()
    new_date = (today() - timedelta(days=1)).isoformat()
    changes = {"serviceDate": new_date, "customerId": 42, "amount": "10.00", "description": "x"}

    response = client.patch(f"/api/services/{service.id}", json=changes, headers=token())

    assert response.status_code == 200
    payload = response.get_json()
    assert {key: payload[key] for key in changes} == changes


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount", "0.001"),
        ("amount", "-1"),
        ("amount", False),
        ("customerId", "42"),
        ("customerId", 10**30),
        ("serviceDate", "2026-02-30"),
        ("description", "y" * 501),
        ("status", "INVOICED"),
    ],
)
def test_patch_refuses_a_bad_field_and_changes_nothing(client, token, factory, field, value):
    service = factory.service(amount="100.00")
    headers = token()
    before = client.get(f"/api/services/{service.id}", headers=headers).get_json()

    response = client.patch(f"/api/services/{service.id}", json={field: value}, headers=headers)

    assert_envelope(response, 400)
    assert fields_named(response) == {field}
    assert client.get(f"/api/services/{service.id}", headers=headers).get_json() == before


def test_patch_unknown_service_is_404(client, token):
    response = client.patch("/api/services/4242", json={"amount": "1.00"}, headers=token())
    assert_envelope(response, 404)


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_edit_or_delete_of_a_service_id_beyond_the_integer_range_is_404(client, token, method):
    response = getattr(client, method)(
        "/api/services/99999999999", json={"amount": "1.00"}, headers=token()
    )
    assert_envelope(response, 404)


def test_edit_and_delete_of_a_service_sent_to_billing_are_409(client, token, factory):
    pending = factory.pendings(1)[0]
    headers = token()
    path = f"/api/services/{pending.service_id}"
    before = client.get(path, headers=headers).get_json()

    edited = client.patch(path, json={"amount": "1.00"}, headers=headers)
    deleted = client.delete(path, headers=headers)

    for response in (edited, deleted):
        payload = assert_envelope(response, 409)
        assert "SENT_TO_BILL" in payload["message"]
    assert client.get(path, headers=headers).get_json() == before


def test_edit_and_delete_of_an_invoiced_service_are_409(client, token, factory):
    batch = factory.batch(factory.pendings(1))
    headers = token()
    invoice = client.get(f"/api/invoices/by-batch/{batch.id}", headers=headers).get_json()
    path = f"/api/services/{invoice['data'][0]['serviceId']}"

    assert_envelope(client.patch(path, json={"description": "z"}, headers=headers), 409)
    assert_envelope(client.delete(path, headers=headers), 409)
    assert client.get(path, headers=headers).get_json()["status"] == "INVOICED"


def test_delete_created_service_returns_204_and_it_is_gone(client, token, factory):
    keep = factory.service()
    service = factory.service()
    headers = token()

    response = client.delete(f"/api/services/{service.id}", headers=headers)

    assert response.status_code == 204
    assert response.data == b""
    assert_envelope(client.get(f"/api/services/{service.id}", headers=headers), 404)
    assert client.get(f"/api/services/{keep.id}", headers=headers).status_code == 200


def test_delete_unknown_service_is_404(client, token):
    assert_envelope(client.delete("/api/services/31337", headers=token()), 404)


# Send to billing -----------------------------------------------------------------------------


def test_send_to_billing_creates_one_pending_per_service(client, token, factory):
    services = [factory.service(amount=a, customer_id=7) for a in ("10.00", "20.50", "30.25")]
    headers = token("clerk")
    ids = [s.id for s in services]

    response = client.post(
        "/api/services/send-to-billing", json={"serviceIds": ids}, headers=headers
    )

    assert response.status_code == 201
    payload = response.get_json()
    assert payload["sent"] == 3
    assert sorted(p["serviceId"] for p in payload["pendings"]) == sorted(ids)
    for pending in payload["pendings"]:
        assert pending["status"] == "PENDING"
        assert pending["batchId"] is None
        assert pending["customerId"] == 7
        assert MONEY.match(pending["amount"])
    assert {p["amount"] for p in payload["pendings"]} == {"10.00", "20.50", "30.25"}
    for service_id in ids:
        status = client.get(f"/api/services/{service_id}", headers=headers).get_json()["status"]
        assert status == "SENT_TO_BILL"
    listed = client.get("/api/billing-pendings?status=PENDING", headers=headers).get_json()
    assert listed["total"] == 3


def test_send_to_billing_is_all_or_nothing(client, token, factory):
    created = [factory.service() for _ in range(3)]
    already_sent = factory.pendings(1)[0].service_id
    missing = 987654
    headers = token("clerk")
    ids = [s.id for s in created] + [already_sent, missing]

    response = client.post(
        "/api/services/send-to-billing", json={"serviceIds": ids}, headers=headers
    )

    payload = assert_envelope(response, 409)
    refused = {d["id"]: d["reason"] for d in payload["details"]}
    assert set(refused) == {already_sent, missing}
    assert "SENT_TO_BILL" in refused[already_sent]
    assert "not exist" in refused[missing]
    for service in created:
        status = client.get(f"/api/services/{service.id}", headers=headers).get_json()["status"]
        assert status == "CREATED"
    assert client.get("/api/billing-pendings", headers=headers).get_json()["total"] == 1


def test_send_to_billing_twice_is_409(client, token, factory):
    service = factory.service()
    headers = token()
    first = client.post(
        "/api/services/send-to-billing", json={"serviceIds": [service.id]}, headers=headers
    )
    assert first.status_code == 201

    again = client.post(
        "/api/services/send-to-billing", json={"serviceIds": [service.id]}, headers=headers
    )

    payload = assert_envelope(again, 409)
    assert [d["id"] for d in payload["details"]] == [service.id]
    assert client.get("/api/billing-pendings", headers=headers).get_json()["total"] == 1


def test_a_service_whose_pending_was_cancelled_can_be_sent_again(client, token, factory):
    pending = factory.pendings(1)[0]
    headers = token()
    assert client.delete(f"/api/billing-pendings/{pending.id}", headers=headers).status_code == 200

    response = client.post(
        "/api/services/send-to-billing", json={"serviceIds": [pending.service_id]}, headers=headers
    )

    assert response.status_code == 201
    statuses = sorted(
        p["status"] for p in client.get("/api/billing-pendings", headers=headers).get_json()["data"]
    )
    assert statuses == ["CANCELLED", "PENDING"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"serviceIds": []},
        {"serviceIds": None},
        {"serviceIds": "1,2"},
        {"serviceIds": 1},
        {"serviceIds": ["1"]},
        {"serviceIds": [1.5]},
        {"serviceIds": [True]},
        {"serviceIds": [0]},
        {"serviceIds": [-1]},
        {"serviceIds": [10**30]},
        {"serviceIds": [1, 1]},
    ],
)
def test_send_to_billing_refuses_a_bad_id_list_with_400(client, token, factory, payload):
    factory.service()
    headers = token()

    response = client.post("/api/services/send-to-billing", json=payload, headers=headers)

    assert_envelope(response, 400)
    assert fields_named(response) <= {"serviceIds", "serviceIds.0", "serviceIds.1"}
    assert any(f.startswith("serviceIds") for f in fields_named(response))
    assert client.get("/api/billing-pendings", headers=headers).get_json()["total"] == 0


def test_send_to_billing_refuses_unknown_fields(client, token, factory):
    service = factory.service()
    response = client.post(
        "/api/services/send-to-billing",
        json={"serviceIds": [service.id], "force": True},
        headers=token(),
    )
    assert_envelope(response, 400)
    assert fields_named(response) == {"force"}


# Access --------------------------------------------------------------------------------------


def test_viewer_can_read_services_but_not_change_them(client, token, factory):
    service = factory.service()
    headers = token("viewer")
    path = f"/api/services/{service.id}"

    assert client.get("/api/services", headers=headers).status_code == 200
    assert client.get(path, headers=headers).status_code == 200
    refused = [
        client.post("/api/services", json=body(), headers=headers),
        client.patch(path, json={"amount": "1.00"}, headers=headers),
        client.delete(path, headers=headers),
        client.post(
            "/api/services/send-to-billing", json={"serviceIds": [service.id]}, headers=headers
        ),
    ]

    for response in refused:
        assert_envelope(response, 403)
    clerk = token("clerk")
    assert total_services(client, clerk) == 1
    assert client.get(path, headers=clerk).get_json()["status"] == "CREATED"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/services"),
        ("post", "/api/services"),
        ("get", "/api/services/1"),
        ("patch", "/api/services/1"),
        ("delete", "/api/services/1"),
        ("post", "/api/services/send-to-billing"),
    ],
)
def test_services_without_a_token_are_401(client, users, method, path):
    response = getattr(client, method)(path, json=body())
    assert_envelope(response, 401)
