"""Idempotency-Key on POST endpoints: the same key with the same body replays
the first response, with another body it is a 422, while the first still runs it is a 409."""

import threading
from datetime import timedelta

import pytest

from tests.api_checks import assert_envelope, today


def service_body(amount="100.00", customer_id=1001):
    return {
        "serviceDate": (today() - timedelta(days=1)).isoformat(),
        "customerId": customer_id,
        "amount": amount,
    }


def batch_body(pending_ids):
    return {"issueDate": today().isoformat(), "receiptBook": "A-0001", "pendingIds": pending_ids}


def keyed(headers, key):
    return {**headers, "Idempotency-Key": key}


def total(client, headers, path) -> int:
    return client.get(path, headers=headers).get_json()["total"]


def test_same_key_and_body_replays_the_first_response_and_creates_nothing(client, token):
    headers = keyed(token("clerk"), "create-service-1")

    first = client.post("/api/services", json=service_body(), headers=headers)
    second = client.post("/api/services", json=service_body(), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert total(client, headers, "/api/services") == 1


def test_same_key_with_another_body_is_422_and_creates_nothing(client, token):
    headers = keyed(token("clerk"), "create-service-2")
    first = client.post("/api/services", json=service_body(amount="100.00"), headers=headers)
    assert first.status_code == 201

    other = client.post("/api/services", json=service_body(amount="200.00"), headers=headers)

    payload = assert_envelope(other, 422)
    assert "Idempotency-Key" in payload["message"]
    listed = client.get("/api/services", headers=headers).get_json()
    assert [s["amount"] for s in listed["data"]] == ["100.00"]


def test_same_key_on_another_endpoint_is_422(client, token, factory):
    service = factory.service()
    headers = keyed(token(), "shared-key")
    assert client.post("/api/services", json=service_body(), headers=headers).status_code == 201

    response = client.post(
        "/api/services/send-to-billing", json={"serviceIds": [service.id]}, headers=headers
    )

    assert_envelope(response, 422)
    assert total(client, headers, "/api/billing-pendings") == 0


def test_different_users_may_use_the_same_key_independently(client, token):
    admin = keyed(token("admin"), "same-key")
    clerk = keyed(token("clerk"), "same-key")

    by_admin = client.post("/api/services", json=service_body(customer_id=1), headers=admin)
    by_clerk = client.post("/api/services", json=service_body(customer_id=2), headers=clerk)

    assert by_admin.status_code == by_clerk.status_code == 201
    assert by_admin.get_json()["id"] != by_clerk.get_json()["id"]
    assert "Idempotent-Replayed" not in by_clerk.headers
    assert total(client, admin, "/api/services") == 2


def test_requests_without_a_key_are_not_deduplicated(client, token):
    headers = token()
    for _ in range(2):
        assert client.post("/api/services", json=service_body(), headers=headers).status_code == 201
    assert total(client, headers, "/api/services") == 2


def test_a_replayed_batch_creation_returns_the_same_batch(client, token, factory):
    pendings = [p.id for p in factory.pendings(2)]
    headers = keyed(token(), "batch-1")

    first = client.post("/api/billing-batches", json=batch_body(pendings), headers=headers)
    second = client.post("/api/billing-batches", json=batch_body(pendings), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert total(client, headers, "/api/billing-batches") == 1
    assert total(client, headers, "/api/invoices") == 2


def test_a_replayed_sync_batch_creation_invoices_once(client, token, factory):
    pendings = [p.id for p in factory.pendings(3)]
    headers = keyed(token(), "sync-batch-1")

    first = client.post("/api/billing-batches/sync", json=batch_body(pendings), headers=headers)
    second = client.post("/api/billing-batches/sync", json=batch_body(pendings), headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert first.get_json()["batch"]["status"] == "PROCESSED"
    assert total(client, headers, "/api/invoices") == 3
    next_number = client.get(
        "/api/billing-batches/next-invoice-number/A-0001", headers=headers
    ).get_json()
    assert next_number["nextNumber"] == "A-0001-00000004"


def test_a_replayed_send_to_billing_sends_once(client, token, factory):
    ids = [factory.service().id, factory.service().id]
    headers = keyed(token(), "send-1")

    first = client.post("/api/services/send-to-billing", json={"serviceIds": ids}, headers=headers)
    second = client.post("/api/services/send-to-billing", json={"serviceIds": ids}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json() == first.get_json()
    assert total(client, headers, "/api/billing-pendings") == 2


def test_a_replayed_erp_sync_returns_the_first_sync_instead_of_a_conflict(client, token, factory):
    batch = factory.batch()
    headers = keyed(token(), "erp-1")

    first = client.post("/api/erp-sync/batch", json={"batchId": batch.id}, headers=headers)
    second = client.post("/api/erp-sync/batch", json={"batchId": batch.id}, headers=headers)

    assert first.status_code == second.status_code == 201
    assert second.get_json()["syncId"] == first.get_json()["syncId"]
    assert total(client, headers, "/api/erp-sync/history") == 1
    unkeyed = client.post("/api/erp-sync/batch", json={"batchId": batch.id}, headers=token())
    assert_envelope(unkeyed, 409)


def test_a_request_refused_by_validation_does_not_use_up_its_key(client, token):
    headers = keyed(token(), "fix-and-retry")

    refused = client.post("/api/services", json=service_body(amount="0.001"), headers=headers)
    accepted = client.post("/api/services", json=service_body(amount="0.01"), headers=headers)

    assert_envelope(refused, 400)
    assert accepted.status_code == 201
    assert total(client, headers, "/api/services") == 1


@pytest.mark.parametrize("key", ["", "   ", "k" * 256])
def test_an_empty_or_overlong_key_is_400(client, token, key):
    headers = keyed(token(), key)

    response = client.post("/api/services", json=service_body(), headers=headers)

    assert_envelope(response, 400)
    assert [d["field"] for d in response.get_json()["details"]] == ["Idempotency-Key"]
    assert total(client, token(), "/api/services") == 0


def test_a_key_with_a_nul_character_never_causes_a_500(client, token):
    response = client.post(
        "/api/services", json=service_body(), headers=keyed(token(), "key\x00one")
    )
    assert_envelope(response, 400)
    assert [d["field"] for d in response.get_json()["details"]] == ["Idempotency-Key"]
    assert total(client, token(), "/api/services") == 0


class HeldAuthority:
    """The app's tax authority, holding each call until the test releases it, so a request
    stays in flight exactly as long as the test needs."""

    def __init__(self, authority):
        self.authority = authority
        self.called = threading.Event()
        self.released = threading.Event()

    def authorize(self, requests):
        self.called.set()
        if not self.released.wait(timeout=30):
            raise AssertionError("the test never released the tax authority")
        return self.authority.authorize(requests)

    def __getattr__(self, name):
        return getattr(self.authority, name)


def test_a_repeat_while_the_first_request_still_runs_is_409(make_app, token, factory):
    app = make_app()
    held = app.extensions["lote.cae"] = HeldAuthority(app.extensions["lote.cae"])
    body = batch_body([p.id for p in factory.pendings(1)])
    headers = keyed(token(), "slow-batch")
    results = {}

    def first_request():
        results["first"] = app.test_client().post(
            "/api/billing-batches/sync", json=body, headers=headers
        )

    worker = threading.Thread(target=first_request)
    worker.start()
    observer = app.test_client()
    try:
        assert held.called.wait(timeout=10), "the first request never reached the authority"
        repeat = observer.post("/api/billing-batches/sync", json=body, headers=headers)
    finally:
        held.released.set()
        worker.join(timeout=30)

    assert_envelope(repeat, 409)
    assert results["first"].status_code == 201
    replay = observer.post("/api/billing-batches/sync", json=body, headers=headers)
    assert replay.status_code == 201
    assert replay.get_json() == results["first"].get_json()
    assert total(observer, headers, "/api/billing-batches") == 1
