"""/api/erp-sync: documents that balance to the cent, preview without side effects, syncs stored
with their exact payload, sent once (docs/rules.md rule 10), confirmed only from SENT."""

import re
from decimal import Decimal

import pytest

from tests.api_checks import MONEY, assert_envelope, fields_named

SYNC_ID = re.compile(r"^SYNC-\d{4}-\d{6}$")
ACCOUNTS = {"1.1.3.01", "4.1.1.01", "2.1.5.01"}


def history(client, headers, query="") -> dict:
    response = client.get(f"/api/erp-sync/history?{query}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def invoice_ids(client, headers, batch_id) -> list[int]:
    page = client.get(f"/api/invoices/by-batch/{batch_id}?limit=100", headers=headers).get_json()
    return sorted(i["id"] for i in page["data"])


def erp_sync_ids(client, headers) -> set:
    page = client.get("/api/invoices?limit=100", headers=headers).get_json()
    return {i["erpSyncId"] for i in page["data"]}


def assert_documents_balance(documents: list[dict], summary: dict) -> None:
    """Each document: receivable debit = sales credit + IVA credit = the invoice amount; the
    summary's totals are the sums of the documents, debits equal to credits."""
    total_debit = total_credit = total_amount = Decimal("0.00")
    for document in documents:
        entries = document["accountingEntries"]
        assert {e["accountCode"] for e in entries} == ACCOUNTS
        for entry in entries:
            assert MONEY.match(entry["debit"]) and MONEY.match(entry["credit"])
        by_account = {e["accountCode"]: e for e in entries}
        debit = sum(Decimal(e["debit"]) for e in entries)
        credit = sum(Decimal(e["credit"]) for e in entries)
        amount = Decimal(document["amount"])
        assert debit == credit == amount
        assert Decimal(by_account["1.1.3.01"]["debit"]) == amount
        assert Decimal(by_account["4.1.1.01"]["credit"]) == Decimal(document["netAmount"])
        assert Decimal(by_account["2.1.5.01"]["credit"]) == Decimal(document["vatAmount"])
        total_debit += debit
        total_credit += credit
        total_amount += amount
    assert summary["totalInvoices"] == len(documents)
    assert summary["totalDebit"] == f"{total_debit:.2f}"
    assert summary["totalCredit"] == f"{total_credit:.2f}"
    assert summary["totalAmount"] == f"{total_amount:.2f}"
    assert summary["balanced"] is True


@pytest.fixture
def batch_id(factory):
    """A PROCESSED batch whose amounts split into awkward cents."""
    pendings = (
        factory.pendings(2, amount="100.00", customer_id=1)
        + factory.pendings(1, amount="0.01", customer_id=2)
        + factory.pendings(1, amount="333.33", customer_id=3)
        + factory.pendings(1, amount="1234567.89", customer_id=3)
    )
    return factory.batch(pendings).id


# Preview -------------------------------------------------------------------------------------


def test_preview_of_a_batch_shows_balanced_documents_and_stores_nothing(client, token, batch_id):
    headers = token()

    response = client.post("/api/erp-sync/preview", json={"batchId": batch_id}, headers=headers)

    assert response.status_code == 200
    payload = response.get_json()
    assert len(payload["data"]) == 5
    assert sorted(d["invoiceId"] for d in payload["data"]) == invoice_ids(client, headers, batch_id)
    assert_documents_balance(payload["data"], payload["summary"])
    assert payload["summary"]["totalAmount"] == "1235101.23"
    assert history(client, headers)["total"] == 0
    assert erp_sync_ids(client, headers) == {None}


def test_preview_of_chosen_invoices_shows_only_those(client, token, batch_id):
    headers = token()
    chosen = invoice_ids(client, headers, batch_id)[1:3]

    response = client.post("/api/erp-sync/preview", json={"invoiceIds": chosen}, headers=headers)

    assert response.status_code == 200
    payload = response.get_json()
    assert [d["invoiceId"] for d in payload["data"]] == chosen
    assert_documents_balance(payload["data"], payload["summary"])
    assert history(client, headers)["total"] == 0


def test_preview_twice_gives_the_same_documents(client, token, batch_id):
    headers = token()
    first = client.post("/api/erp-sync/preview", json={"batchId": batch_id}, headers=headers)
    second = client.post("/api/erp-sync/preview", json={"batchId": batch_id}, headers=headers)
    assert first.get_json() == second.get_json()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"invoiceIds": [1], "batchId": 1},
        {"invoiceIds": []},
        {"invoiceIds": ["1"]},
        {"invoiceIds": [1, 1]},
        {"invoiceIds": [10**30]},
        {"batchId": "1"},
        {"batchId": 0},
        {"batchId": 10**30},
        {"batchId": 1, "dryRun": True},
    ],
)
def test_preview_refuses_a_malformed_selection_with_400(client, token, batch_id, body):
    response = client.post("/api/erp-sync/preview", json=body, headers=token())
    assert_envelope(response, 400)
    assert fields_named(response)


def test_preview_of_unknown_invoices_is_404_listing_each(client, token, batch_id):
    headers = token()
    known = invoice_ids(client, headers, batch_id)[0]

    response = client.post(
        "/api/erp-sync/preview", json={"invoiceIds": [known, 9001, 9002]}, headers=headers
    )

    payload = assert_envelope(response, 404)
    assert sorted(d["id"] for d in payload["details"]) == [9001, 9002]


def test_preview_of_an_unknown_batch_is_404(client, token, batch_id):
    response = client.post("/api/erp-sync/preview", json={"batchId": 9999}, headers=token())
    assert_envelope(response, 404)


def test_preview_of_a_batch_not_processed_is_409(client, token, factory):
    queued = factory.batch(process=False)
    response = client.post("/api/erp-sync/preview", json={"batchId": queued.id}, headers=token())
    payload = assert_envelope(response, 409)
    assert "PENDING_PROCESSING" in payload["message"]


# Sync ----------------------------------------------------------------------------------------


def test_sync_of_a_batch_stores_the_exact_payload_it_sent(client, token, batch_id):
    headers = token("clerk")
    preview = client.post("/api/erp-sync/preview", json={"batchId": batch_id}, headers=headers)

    response = client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers)

    assert response.status_code == 201
    sync = response.get_json()
    assert SYNC_ID.match(sync["syncId"])
    assert sync["status"] == "SENT"
    assert sync["timestamp"].endswith("Z")
    assert sync["batchId"] == batch_id
    assert sync["invoiceCount"] == 5
    assert sync["totalAmount"] == "1235101.23"
    assert sync["createdBy"] == "clerk"
    assert sync["data"] == preview.get_json()["data"]
    assert sync["summary"] == preview.get_json()["summary"]
    assert_documents_balance(sync["data"], sync["summary"])
    stored = client.get(f"/api/erp-sync/history/{sync['syncId']}", headers=headers)
    assert stored.status_code == 200
    assert stored.get_json() == sync
    listed = history(client, headers)
    assert listed["total"] == 1
    assert listed["data"][0]["syncId"] == sync["syncId"]


def test_sync_of_chosen_invoices_sends_only_those(client, token, batch_id):
    headers = token()
    chosen = invoice_ids(client, headers, batch_id)[:2]

    response = client.post("/api/erp-sync/invoices", json={"invoiceIds": chosen}, headers=headers)

    assert response.status_code == 201
    sync = response.get_json()
    assert sync["status"] == "SENT"
    assert sync["invoiceCount"] == 2
    assert sync["batchId"] is None
    assert [d["invoiceId"] for d in sync["data"]] == chosen
    assert_documents_balance(sync["data"], sync["summary"])
    remaining = invoice_ids(client, headers, batch_id)[2:]
    preview = client.post("/api/erp-sync/preview", json={"invoiceIds": remaining}, headers=headers)
    assert preview.status_code == 200
    listed = client.get(f"/api/invoices?batchId={batch_id}&limit=100", headers=headers).get_json()
    held = {i["id"]: i["erpSyncId"] for i in listed["data"]}
    assert len({held[i] for i in chosen}) == 1 and held[chosen[0]] is not None
    assert all(held[i] is None for i in remaining)
    assert history(client, headers)["total"] == 1


def test_an_invoice_is_sent_to_the_erp_once(client, token, batch_id):
    headers = token()
    ids = invoice_ids(client, headers, batch_id)
    first = client.post("/api/erp-sync/invoices", json={"invoiceIds": ids[:2]}, headers=headers)
    assert first.status_code == 201
    sync_id = first.get_json()["syncId"]

    by_batch = client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers)
    overlapping = client.post("/api/erp-sync/invoices", json={"invoiceIds": ids}, headers=headers)

    assert_envelope(by_batch, 409)
    payload = assert_envelope(overlapping, 409)
    assert sorted(d["id"] for d in payload["details"]) == ids[:2]
    assert all(sync_id in d["reason"] for d in payload["details"])
    numbers = [d["invoiceNumber"] for d in sorted(payload["details"], key=lambda d: d["id"])]
    assert payload["message"] == (
        f"2 invoices were already sent to the ERP ({', '.join(numbers)}); nothing was sent"
    )
    assert history(client, headers)["total"] == 1
    rest = client.post("/api/erp-sync/invoices", json={"invoiceIds": ids[2:]}, headers=headers)
    assert rest.status_code == 201
    assert_envelope(
        client.post("/api/erp-sync/invoices", json={"invoiceIds": ids[2:]}, headers=headers), 409
    )


def test_a_failed_erp_delivery_is_stored_as_error_and_can_be_sent_again(
    make_app, client, token, batch_id
):
    failing = make_app(ERP_FAILURE_RATE=1.0).test_client()
    headers = token()

    failed = failing.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers)

    assert failed.status_code == 201
    error_sync = failed.get_json()
    assert error_sync["status"] == "ERROR"
    assert error_sync["errorMessage"]
    stored = client.get(f"/api/erp-sync/history/{error_sync['syncId']}", headers=headers)
    assert stored.get_json()["status"] == "ERROR"
    assert stored.get_json()["data"] == error_sync["data"]
    assert erp_sync_ids(client, headers) == {None}

    again = client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers)

    assert again.status_code == 201
    assert again.get_json()["status"] == "SENT"
    assert again.get_json()["syncId"] != error_sync["syncId"]
    assert [s["status"] for s in history(client, headers)["data"]] == ["SENT", "ERROR"]
    assert_envelope(
        client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers), 409
    )


def test_sync_of_a_batch_not_processed_is_409(client, token, factory):
    queued = factory.batch(process=False)
    headers = token()
    response = client.post("/api/erp-sync/batch", json={"batchId": queued.id}, headers=headers)
    assert_envelope(response, 409)
    assert history(client, headers)["total"] == 0


def test_sync_of_an_unknown_batch_or_invoice_is_404_and_stores_nothing(client, token, batch_id):
    headers = token()
    known = invoice_ids(client, headers, batch_id)

    unknown_batch = client.post("/api/erp-sync/batch", json={"batchId": 4040}, headers=headers)
    unknown_invoice = client.post(
        "/api/erp-sync/invoices", json={"invoiceIds": [*known, 4040]}, headers=headers
    )

    assert_envelope(unknown_batch, 404)
    payload = assert_envelope(unknown_invoice, 404)
    assert [d["id"] for d in payload["details"]] == [4040]
    assert history(client, headers)["total"] == 0
    assert erp_sync_ids(client, headers) == {None}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/erp-sync/invoices", {}),
        ("/api/erp-sync/invoices", {"invoiceIds": []}),
        ("/api/erp-sync/invoices", {"invoiceIds": "1"}),
        ("/api/erp-sync/invoices", {"invoiceIds": [1.5]}),
        ("/api/erp-sync/invoices", {"invoiceIds": [1], "batchId": 1}),
        ("/api/erp-sync/batch", {}),
        ("/api/erp-sync/batch", {"batchId": "1"}),
        ("/api/erp-sync/batch", {"batchId": True}),
        ("/api/erp-sync/batch", {"batchId": -1}),
        ("/api/erp-sync/batch", {"batchId": 10**30}),
        ("/api/erp-sync/batch", {"batchId": 1, "invoiceIds": [1]}),
    ],
)
def test_sync_refuses_a_malformed_body_with_400(client, token, batch_id, path, body):
    headers = token()
    response = client.post(path, json=body, headers=headers)
    assert_envelope(response, 400)
    assert fields_named(response)
    assert history(client, headers)["total"] == 0


def test_sync_refuses_a_body_that_is_not_json(client, token, batch_id):
    headers = token()
    response = client.post(
        "/api/erp-sync/batch", data="batchId=1", content_type="text/plain", headers=headers
    )
    assert_envelope(response, 400)
    assert history(client, headers)["total"] == 0


# Confirm -------------------------------------------------------------------------------------


def test_confirm_turns_a_sent_sync_into_confirmed_once(client, token, batch_id):
    headers = token()
    sync_id = client.post(
        "/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers
    ).get_json()["syncId"]

    response = client.post(f"/api/erp-sync/confirm/{sync_id}", headers=headers)

    assert response.status_code == 200
    confirmed = response.get_json()
    assert confirmed["status"] == "CONFIRMED"
    assert confirmed["confirmedAt"].endswith("Z")
    assert client.get(f"/api/erp-sync/history/{sync_id}", headers=headers).get_json()["status"] == (
        "CONFIRMED"
    )
    again = client.post(f"/api/erp-sync/confirm/{sync_id}", headers=headers)
    assert "CONFIRMED" in assert_envelope(again, 409)["message"]
    resend = client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers)
    assert_envelope(resend, 409)


def test_confirm_of_an_error_sync_is_409(make_app, client, token, batch_id):
    headers = token()
    failing = make_app(ERP_FAILURE_RATE=1.0).test_client()
    sync_id = failing.post(
        "/api/erp-sync/batch", json={"batchId": batch_id}, headers=headers
    ).get_json()["syncId"]

    response = client.post(f"/api/erp-sync/confirm/{sync_id}", headers=headers)

    assert "ERROR" in assert_envelope(response, 409)["message"]
    assert client.get(f"/api/erp-sync/history/{sync_id}", headers=headers).get_json()["status"] == (
        "ERROR"
    )


@pytest.mark.parametrize("sync_id", ["SYNC-2026-999999", "nope", "1"])
def test_confirm_or_read_of_an_unknown_sync_is_404(client, token, sync_id):
    headers = token()
    assert_envelope(client.post(f"/api/erp-sync/confirm/{sync_id}", headers=headers), 404)
    assert_envelope(client.get(f"/api/erp-sync/history/{sync_id}", headers=headers), 404)


def test_sync_id_with_a_nul_character_never_causes_a_500(client, token):
    response = client.get("/api/erp-sync/history/SYNC%00", headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {"path"}


# History -------------------------------------------------------------------------------------


def test_history_lists_syncs_newest_first_filtered_by_status(make_app, client, token, factory):
    headers = token()
    failing = make_app(ERP_FAILURE_RATE=1.0).test_client()
    first, second, third = (factory.batch(factory.pendings(1)).id for _ in range(3))
    sent = client.post("/api/erp-sync/batch", json={"batchId": first}, headers=headers)
    failed = failing.post("/api/erp-sync/batch", json={"batchId": second}, headers=headers)
    confirmed = client.post("/api/erp-sync/batch", json={"batchId": third}, headers=headers)
    sync_ids = [r.get_json()["syncId"] for r in (sent, failed, confirmed)]
    client.post(f"/api/erp-sync/confirm/{sync_ids[2]}", headers=headers)

    everything = history(client, token("viewer"))

    assert everything["total"] == 3
    assert [s["syncId"] for s in everything["data"]] == sync_ids[::-1]
    assert [s["status"] for s in everything["data"]] == ["CONFIRMED", "ERROR", "SENT"]
    for status, expected in (("SENT", sync_ids[0]), ("ERROR", sync_ids[1])):
        assert [s["syncId"] for s in history(client, headers, f"status={status}")["data"]] == [
            expected
        ]
    page = history(client, headers, "limit=2&page=2")
    assert (page["total"], page["totalPages"], [s["syncId"] for s in page["data"]]) == (
        3,
        2,
        [sync_ids[0]],
    )


@pytest.mark.parametrize(
    ("query", "field"),
    [("status=DONE", "status"), ("limit=0", "limit"), ("limit=101", "limit"), ("page=0", "page")],
)
def test_history_refuses_bad_filters(client, token, query, field):
    response = client.get(f"/api/erp-sync/history?{query}", headers=token())
    assert_envelope(response, 400)
    assert field in fields_named(response)


# Access --------------------------------------------------------------------------------------


def test_viewer_cannot_sync_or_confirm(client, token, batch_id):
    clerk, viewer = token("clerk"), token("viewer")
    ids = invoice_ids(client, clerk, batch_id)
    sync_id = client.post(
        "/api/erp-sync/invoices", json={"invoiceIds": ids[:1]}, headers=clerk
    ).get_json()["syncId"]

    refused = [
        client.post("/api/erp-sync/invoices", json={"invoiceIds": ids[1:]}, headers=viewer),
        client.post("/api/erp-sync/batch", json={"batchId": batch_id}, headers=viewer),
        client.post(f"/api/erp-sync/confirm/{sync_id}", headers=viewer),
    ]

    for response in refused:
        assert_envelope(response, 403)
    assert history(client, viewer)["total"] == 1
    assert history(client, viewer)["data"][0]["status"] == "SENT"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/erp-sync/preview"),
        ("post", "/api/erp-sync/invoices"),
        ("post", "/api/erp-sync/batch"),
        ("get", "/api/erp-sync/history"),
        ("get", "/api/erp-sync/history/SYNC-2026-000001"),
        ("post", "/api/erp-sync/confirm/SYNC-2026-000001"),
    ],
)
def test_erp_sync_without_a_token_is_401(client, batch_id, method, path):
    assert_envelope(getattr(client, method)(path, json={"batchId": batch_id}), 401)
