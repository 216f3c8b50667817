"""One table of receipt-book cases sent through the API and through the pages: every adapter
reads a book through the domain's one check (docs/rules.md), so each gives the same answer, a
book read trimmed and upper-cased, or a refusal naming the receiptBook field."""

from datetime import UTC, datetime
from urllib.parse import quote

import pytest

from tests.api_checks import fields_named, today
from webapp.api.schemas import SendToBillingIn
from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, BillingPending, PendingStatus, Service

REFUSED = "refused receiptBook"
CASES = [
    pytest.param("A-0001", "A-0001", id="canonical"),
    pytest.param("a-0001", "A-0001", id="lowercase"),
    pytest.param(" A-0001 ", "A-0001", id="padded"),
    pytest.param(" a-0001\t", "A-0001", id="lowercase-padded"),
    pytest.param("Z-1", REFUSED, id="unknown-letter"),
    pytest.param("A-", REFUSED, id="no-point-of-sale"),
    pytest.param("A-0001x", REFUSED, id="trailing-junk"),
]


def _api_refusal(response) -> str:
    assert response.status_code == 400, response.get_json()
    assert fields_named(response) == {"receiptBook"}
    return REFUSED


def _page_refusal(response) -> str:
    assert response.status_code == 400
    assert 'id="b-receiptBook-error"' in response.get_data(as_text=True)
    return REFUSED


def api_next_number(client, headers, book: str) -> str:
    response = client.get(
        f"/api/billing-batches/next-invoice-number/{quote(book)}", headers=headers
    )
    if response.status_code != 200:
        return _api_refusal(response)
    body = response.get_json()
    assert body["nextNumber"] == f"{body['receiptBook']}-00000001"
    return body["receiptBook"]


def page_next_number(client, book: str) -> str:
    """The fragment answers 200 either way (htmx swaps only a 2xx): the field error or the
    number."""
    response = client.get(
        "/pendings/next-number", query_string={"receiptBook": book}, headers={"HX-Request": "1"}
    )
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    if 'class="field-error"' in text:
        return REFUSED
    number = text.split('<strong class="next-number">', 1)[1].split("</strong>", 1)[0]
    assert number.endswith("-00000001")
    return number.removesuffix("-00000001")


def api_create(client, headers, book: str, pending_id: int, path="/api/billing-batches") -> str:
    body = {"issueDate": today().isoformat(), "receiptBook": book, "pendingIds": [pending_id]}
    response = client.post(path, json=body, headers=headers)
    if response.status_code != 201:
        return _api_refusal(response)
    return response.get_json()["batch"]["receiptBook"]


def page_create(client, book: str, pending_id: int) -> str:
    form = {
        "issueDate": today().isoformat(),
        "receiptBook": book,
        "scope": "selected",
        "ids": [pending_id],
    }
    response = client.post("/pendings/batch", data=form)
    if response.status_code != 302:
        return _page_refusal(response)
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    return db.session.get(BillingBatch, batch_id).receipt_book


@pytest.mark.parametrize(("book", "expected"), CASES)
def test_the_api_and_the_pages_give_one_answer_per_receipt_book(
    clerk, token, factory, book, expected
):
    headers = token()
    for_api, for_sync, for_page = factory.pendings(3)

    assert api_next_number(clerk, headers, book) == page_next_number(clerk, book) == expected
    assert (
        api_create(clerk, headers, book, for_api.id)
        == api_create(clerk, headers, book, for_sync.id, "/api/billing-batches/sync")
        == page_create(clerk, book, for_page.id)
        == expected
    )


@pytest.mark.parametrize(("book", "expected"), CASES)
def test_the_api_and_the_page_filter_batches_by_one_reading_of_the_book(
    clerk, token, factory, book, expected
):
    headers = token()
    batch = factory.batch(factory.pendings(1), receipt_book="A-0001")

    api = clerk.get("/api/billing-batches", query_string={"receiptBook": book}, headers=headers)
    page = clerk.get("/batches/", query_string={"receiptBook": book})

    if expected == REFUSED:
        _api_refusal(api)
        assert page.status_code == 400
        assert 'class="field-error"' in page.get_data(as_text=True)
    else:
        assert [b["id"] for b in api.get_json()["data"]] == [batch.id]
        assert page.status_code == 200
        assert f'href="/batches/{batch.id}"' in page.get_data(as_text=True)


def test_the_api_schemas_leave_the_batch_size_limit_to_the_app_config(make_app, token, factory):
    """MAX_PENDINGS_PER_BATCH alone bounds the ids of a request: the schemas hold no copy of it,
    so a raised limit is the API's limit too, and a lowered one is a 413 from the domain."""
    services = [factory.service() for _ in range(3)]
    headers = token()
    raised = make_app(MAX_PENDINGS_PER_BATCH=200_000)
    with raised.app_context():
        loaded = SendToBillingIn().load({"serviceIds": list(range(1, 100_002))})
    assert len(loaded["service_ids"]) == 100_001

    small = make_app(MAX_PENDINGS_PER_BATCH=2).test_client()
    response = small.post(
        "/api/services/send-to-billing",
        json={"serviceIds": [s.id for s in services]},
        headers=headers,
    )
    assert response.status_code == 413
    assert "2" in response.get_json()["message"]


@pytest.mark.parametrize(
    ("status", "batch_id", "available"),
    [
        (PendingStatus.PENDING, None, True),
        (PendingStatus.PENDING, 7, False),
        (PendingStatus.INVOICED, 7, False),
        (PendingStatus.CANCELLED, None, False),
    ],
)
def test_a_pending_is_available_while_pending_and_held_by_no_batch(status, batch_id, available):
    assert BillingPending(status=status, batch_id=batch_id).available is available


@pytest.mark.parametrize(
    ("status", "abandoned", "retryable"),
    [
        (BatchStatus.ERROR, False, True),
        (BatchStatus.ERROR, True, False),
        (BatchStatus.PROCESSED, False, False),
        (BatchStatus.IN_PROCESS, False, False),
    ],
)
def test_only_an_error_batch_not_abandoned_is_retryable(status, abandoned, retryable):
    batch = BillingBatch(status=status, abandoned_at=datetime.now(UTC) if abandoned else None)
    assert batch.retryable is retryable


def test_the_pages_offer_what_the_model_says(clerk, factory):
    """The pendings page offers to batch only the available pendings, the services page to send
    only the editable services, and a batch page retries only a retryable batch."""
    free, held, released = factory.pendings(3)
    failed = factory.batch(pendings=[held], receipt_book="A-0002", process=False)
    abandoned = factory.batch(pendings=[released], receipt_book="A-0002", process=False)
    failed.status = abandoned.status = BatchStatus.ERROR
    abandoned.abandoned_at = datetime.now(UTC)
    db.session.commit()
    created = factory.service()
    sent = db.session.get(Service, free.service_id)

    pendings_page = clerk.get("/pendings/").get_data(as_text=True)
    assert f'id="pick-{free.id}"' in pendings_page
    assert f'id="pick-{held.id}"' not in pendings_page
    services_page = clerk.get("/services/").get_data(as_text=True)
    assert f'id="pick-{created.id}"' in services_page
    assert f'id="pick-{sent.id}"' not in services_page
    assert "Retry batch" in clerk.get(f"/batches/{failed.id}").get_data(as_text=True)
    assert "Retry batch" not in clerk.get(f"/batches/{abandoned.id}").get_data(as_text=True)
