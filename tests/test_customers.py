"""Customers: CUIT check digits, the document an IVA condition needs, incomplete customers made
by services, and /api/customers."""

from datetime import timedelta

import pytest

from tests.api_checks import assert_envelope

VALID_CUIT = "30500010912"
VALID_CUIT_DASHED = "30-50001091-2"
# More valid CUITs, for tests that register several customers (a CUIT names one customer).
OTHER_CUITS = ("30712345671", "30700000008", "30700000016", "30711111111", "30710000006")


def service_body(customer_id=1004):
    from webapp.billing import clock

    return {
        "serviceDate": (clock.today() - timedelta(days=1)).isoformat(),
        "customerId": customer_id,
        "amount": "100.00",
    }


def registered_customer(**overrides):
    return {
        "legalName": "Transportes del Sur SA",
        "docType": 80,
        "docNumber": VALID_CUIT_DASHED,
        "ivaCondition": 1,
        **overrides,
    }


def field_errors(response) -> dict:
    return {d["field"]: d["message"] for d in response.get_json().get("details") or []}


# CUIT ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "typed", [VALID_CUIT, VALID_CUIT_DASHED, " 30-50001091-2 ", "30.50001091.2"]
)
def test_a_valid_cuit_is_stored_as_its_eleven_digits(app, typed):
    from webapp.billing.customers import check_cuit

    assert check_cuit(typed) == VALID_CUIT


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("30-50001091-3", "has a wrong check digit"),
        ("20-12345678-0", "has a wrong check digit"),
        ("3050001091", "must have 11 digits"),
        ("305000109123", "must have 11 digits"),
        ("30-5000109A-2", "must have 11 digits, dashes optional"),
    ],
)
def test_a_cuit_with_a_wrong_check_digit_or_length_is_refused_with_the_reason(app, typed, message):
    from webapp.billing.customers import check_cuit

    with pytest.raises(ValueError, match=f"^{message}$"):
        check_cuit(typed)


# Domain rules --------------------------------------------------------------------------------


def test_a_customer_of_a_factura_a_condition_needs_a_cuit(app):
    from webapp.billing import customers
    from webapp.billing.errors import InvalidInput

    for condition in (1, 6, 13, 16):
        with pytest.raises(InvalidInput) as refused:
            customers.create_customer(
                "tests", legal_name="X", doc_type=96, doc_number="12345678", iva_condition=condition
            )
        assert refused.value.english_details() == [
            {"field": "docType", "message": "must be 80 (CUIT) for this IVA condition"}
        ]


def test_only_a_consumidor_final_may_be_unidentified(app):
    from webapp.billing import customers
    from webapp.billing.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        customers.create_customer("tests", legal_name="X", doc_type=99, iva_condition=4)
    assert refused.value.details[0]["field"] == "docType"

    consumer = customers.create_customer(
        "tests", customer_id=77, legal_name="Juan Pérez", doc_type=99, iva_condition=5
    )
    assert (consumer.doc_number, consumer.incomplete) == ("0", False)


def test_a_dni_has_seven_or_eight_digits(app):
    from webapp.billing import customers
    from webapp.billing.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        customers.create_customer(
            "tests", legal_name="X", doc_type=96, doc_number="123456", iva_condition=5
        )
    assert refused.value.english_details() == [
        {"field": "docNumber", "message": "must have 7 or 8 digits"}
    ]
    stored = customers.create_customer(
        "tests", legal_name="X", doc_type=96, doc_number="20.123.456", iva_condition=5
    )
    assert stored.doc_number == "20123456"


# Services create incomplete customers --------------------------------------------------------


def test_a_service_naming_an_unknown_customer_creates_it_incomplete(client, token):
    created = client.post("/api/services", json=service_body(1004), headers=token())
    assert created.status_code == 201
    client.post("/api/services", json=service_body(1004), headers=token())

    customer = client.get("/api/customers/1004", headers=token())

    assert customer.status_code == 200
    body = customer.get_json()
    assert body["legalName"] == "Customer 1004"
    assert body["incomplete"] is True
    assert (body["docType"], body["docNumber"], body["ivaCondition"]) == (99, "0", None)
    assert client.get("/api/customers", headers=token()).get_json()["total"] == 1


def test_a_service_naming_a_known_customer_leaves_it_as_it_is(client, token):
    client.post("/api/customers", json=registered_customer(customerId=1004), headers=token())

    client.post("/api/services", json=service_body(1004), headers=token())

    body = client.get("/api/customers/1004", headers=token()).get_json()
    assert (body["legalName"], body["incomplete"]) == ("Transportes del Sur SA", False)


def test_moving_a_service_to_an_unknown_customer_creates_it_incomplete(client, token, factory):
    service = factory.service(customer_id=1001)

    client.patch(f"/api/services/{service.id}", json={"customerId": 2002}, headers=token())

    assert client.get("/api/customers/2002", headers=token()).get_json()["incomplete"] is True


# API -----------------------------------------------------------------------------------------


def test_create_stores_the_cuit_as_digits_and_names_the_iva_condition(client, token):
    response = client.post(
        "/api/customers", json=registered_customer(customerId=1005), headers=token()
    )

    assert response.status_code == 201
    body = response.get_json()
    assert body["customerId"] == 1005
    assert body["docNumber"] == VALID_CUIT
    assert (body["ivaCondition"], body["ivaConditionName"]) == (1, "VAT registered")
    assert body["incomplete"] is False
    assert body["paymentDays"] == 30
    assert set(body) >= {"address", "email", "createdAt", "updatedAt"}


def test_create_without_an_id_takes_the_next_free_one(client, token):
    client.post("/api/customers", json=registered_customer(customerId=1010), headers=token())

    response = client.post(
        "/api/customers", json=registered_customer(docNumber=OTHER_CUITS[0]), headers=token()
    )

    assert response.get_json()["customerId"] == 1011


def test_after_the_largest_id_new_customers_take_free_ids_they_can_be_read_and_billed_by(
    client, token
):
    from webapp.models import MAX_ID

    headers = token()
    client.post("/api/customers", json=registered_customer(customerId=1), headers=headers)
    client.post(
        "/api/customers",
        json=registered_customer(customerId=MAX_ID, docNumber=OTHER_CUITS[0]),
        headers=headers,
    )

    ids = [
        client.post(
            "/api/customers", json=registered_customer(docNumber=cuit), headers=headers
        ).get_json()["customerId"]
        for cuit in OTHER_CUITS[1:3]
    ]

    assert ids == [2, 3]
    for customer_id in ids:
        assert client.get(f"/api/customers/{customer_id}", headers=headers).status_code == 200
        service = client.post("/api/services", json=service_body(customer_id), headers=headers)
        assert service.status_code == 201


def test_a_cuit_another_customer_has_is_refused_naming_its_holder(client, token):
    headers = token()
    client.post("/api/customers", json=registered_customer(customerId=1010), headers=headers)
    client.post(
        "/api/customers",
        json=registered_customer(customerId=1011, docNumber=OTHER_CUITS[0]),
        headers=headers,
    )

    created = client.post("/api/customers", json=registered_customer(), headers=headers)
    moved = client.patch(
        "/api/customers/1011", json={"docNumber": VALID_CUIT_DASHED}, headers=headers
    )
    kept = client.patch("/api/customers/1010", json={"legalName": "Renamed SA"}, headers=headers)

    for response in (created, moved):
        assert_envelope(response, 400)
        assert field_errors(response) == {"docNumber": "belongs to customer 1010"}
    assert kept.status_code == 200
    kept_cuit = client.get("/api/customers/1011", headers=headers).get_json()["docNumber"]
    assert kept_cuit == OTHER_CUITS[0]


def test_create_with_a_taken_id_is_409(client, token):
    client.post("/api/customers", json=registered_customer(customerId=1005), headers=token())

    response = client.post(
        "/api/customers", json=registered_customer(customerId=1005), headers=token()
    )

    payload = assert_envelope(response, 409)
    assert payload["message"] == "Customer 1005 already exists"


def test_a_wrong_check_digit_is_a_400_naming_the_document_number(client, token):
    response = client.post(
        "/api/customers", json=registered_customer(docNumber="30-50001091-3"), headers=token()
    )

    assert_envelope(response, 400)
    assert field_errors(response) == {"docNumber": "has a wrong check digit"}


def test_an_unknown_iva_condition_is_a_400_naming_it(client, token):
    response = client.post(
        "/api/customers", json=registered_customer(ivaCondition=2), headers=token()
    )

    assert_envelope(response, 400)
    assert field_errors(response) == {"ivaCondition": "is not an IVA condition code of RG 5616"}


def test_an_unknown_document_type_is_a_400_naming_it(client, token):
    response = client.post("/api/customers", json=registered_customer(docType=81), headers=token())

    assert field_errors(response) == {
        "docType": "must be 80 (CUIT), 86 (CUIL), 96 (DNI) or 99 (unidentified)"
    }


def test_patch_completes_an_incomplete_customer(client, token):
    client.post("/api/services", json=service_body(1004), headers=token())

    response = client.patch(
        "/api/customers/1004", json=registered_customer(docNumber=VALID_CUIT), headers=token()
    )

    assert response.status_code == 200
    body = response.get_json()
    assert (body["incomplete"], body["legalName"], body["docNumber"]) == (
        False,
        "Transportes del Sur SA",
        VALID_CUIT,
    )


def test_patch_checks_the_changed_fields_against_the_stored_ones(client, token):
    client.post("/api/services", json=service_body(1004), headers=token())

    response = client.patch("/api/customers/1004", json={"ivaCondition": 1}, headers=token())

    assert field_errors(response) == {"docType": "must be 80 (CUIT) for this IVA condition"}
    assert client.get("/api/customers/1004", headers=token()).get_json()["incomplete"] is True


def test_patch_of_an_unknown_customer_is_404(client, token):
    response = client.patch("/api/customers/999", json={"legalName": "X"}, headers=token())

    assert_envelope(response, 404)


def test_the_list_searches_by_name_or_cuit_with_or_without_dashes(client, token):
    client.post("/api/customers", json=registered_customer(customerId=1), headers=token())
    client.post(
        "/api/customers",
        json={"customerId": 2, "legalName": "Almacén Norte", "docType": 99, "ivaCondition": 5},
        headers=token(),
    )
    client.post("/api/services", json=service_body(3), headers=token())

    def ids(**query):
        response = client.get("/api/customers", query_string=query, headers=token())
        assert response.status_code == 200, response.get_json()
        return [c["customerId"] for c in response.get_json()["data"]]

    assert ids() == [1, 2, 3]
    assert ids(search="sur") == [1]
    assert ids(search="50001091") == [1]
    assert ids(search=VALID_CUIT_DASHED) == [1]
    assert ids(search="almacén") == [2]
    assert ids(ivaCondition=5) == [2]
    assert ids(incomplete="true") == [3]
    assert ids(incomplete="false") == [1, 2]
    assert ids(search="100%") == []


def test_the_list_refuses_an_unknown_iva_condition_filter(client, token):
    response = client.get("/api/customers?ivaCondition=3", headers=token())

    assert_envelope(response, 400)
    assert field_errors(response) == {"ivaCondition": "is not an IVA condition code of RG 5616"}


def test_a_viewer_reads_customers_but_cannot_change_them(client, token):
    client.post("/api/customers", json=registered_customer(customerId=1), headers=token())

    assert client.get("/api/customers/1", headers=token("viewer")).status_code == 200
    refused = client.patch("/api/customers/1", json={"email": "a@b.ar"}, headers=token("viewer"))
    assert_envelope(refused, 403)


# Batches refuse incomplete customers ---------------------------------------------------------


def batch_body(pending_ids):
    from webapp.billing import clock

    return {
        "issueDate": clock.today().isoformat(),
        "receiptBook": "A-0001",
        "pendingIds": pending_ids,
    }


def pending_of(client, token, customer_id) -> int:
    service = client.post("/api/services", json=service_body(customer_id), headers=token())
    sent = client.post(
        "/api/services/send-to-billing",
        json={"serviceIds": [service.get_json()["id"]]},
        headers=token(),
    )
    return sent.get_json()["pendings"][0]["id"]


def test_a_batch_refuses_the_pendings_of_an_incomplete_customer(client, token, factory):
    factory.issuer()
    client.post("/api/customers", json=registered_customer(customerId=1001), headers=token())
    ready = pending_of(client, token, 1001)
    waiting = pending_of(client, token, 1004)

    response = client.post(
        "/api/billing-batches", json=batch_body([ready, waiting]), headers=token()
    )

    payload = assert_envelope(response, 409)
    assert payload["message"] == "1 of 2 pendings cannot be batched; no batch was created"
    assert payload["details"] == [{"id": waiting, "reason": "complete customer 1004 first"}]
    assert client.get("/api/billing-batches", headers=token()).get_json()["total"] == 0
    available = client.get("/api/billing-pendings/available", headers=token()).get_json()
    assert {p["id"] for p in available["data"]} == {ready, waiting}


def test_once_completed_the_customer_can_be_invoiced(client, token, factory):
    factory.issuer()
    waiting = pending_of(client, token, 1004)
    client.patch(
        "/api/customers/1004",
        json={"legalName": "Kiosco", "docType": 99, "ivaCondition": 5},
        headers=token(),
    )

    body = {**batch_body([waiting]), "receiptBook": "B-0001"}
    response = client.post("/api/billing-batches/sync", json=body, headers=token())

    assert response.status_code == 201, response.get_json()


def test_the_batch_page_says_which_customer_to_complete(clerk, factory):
    from webapp.billing import clock, customers

    pending = factory.pendings(1, customer_id=1004)[0]
    customers.update_customer("tests", 1004, iva_condition=None)

    response = clerk.post(
        "/pendings/batch",
        data={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "A-0001",
            "scope": "selected",
            "ids": [str(pending.id)],
        },
    )

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert f"<strong>#{pending.id}</strong> complete customer 1004 first" in html
