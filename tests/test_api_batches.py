"""/api/billing-batches: creation with its refusals (docs/rules.md rules 3-6), status, retry, lists,
receipt books and next numbers. The queue runs in immediate mode, so a created batch is invoiced
before the POST answers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.api_checks import MONEY, assert_envelope, fields_named, today
from webapp.models import BatchStatus


def batch_body(pending_ids, receipt_book="A-0001", issue_date=None):
    return {
        "issueDate": (issue_date or today()).isoformat(),
        "receiptBook": receipt_book,
        "pendingIds": list(pending_ids),
    }


def ids_of(pendings):
    return [p.id for p in pendings]


def create(client, headers, pending_ids, path="/api/billing-batches", **kwargs):
    return client.post(path, json=batch_body(pending_ids, **kwargs), headers=headers)


def batch_count(client, headers) -> int:
    return client.get("/api/billing-batches", headers=headers).get_json()["total"]


def available_ids(client, headers) -> set[int]:
    page = client.get("/api/billing-pendings/available?limit=100", headers=headers).get_json()
    return {p["id"] for p in page["data"]}


def status_of(client, headers, batch_id) -> dict:
    response = client.get(f"/api/billing-batches/{batch_id}/status", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def invoices_of(client, headers, batch_id) -> list[dict]:
    page = client.get(f"/api/invoices/by-batch/{batch_id}?limit=100", headers=headers).get_json()
    return sorted(page["data"], key=lambda i: i["sequenceNumber"])


# Creation ------------------------------------------------------------------------------------


def test_create_batch_answers_201_with_batch_summary_and_queue_info(client, token, factory):
    pendings = factory.pendings(3, amount="1210.00") + factory.pendings(1, amount="0.05")
    headers = token("clerk")

    response = create(client, headers, ids_of(pendings))

    assert response.status_code == 201
    payload = response.get_json()
    batch = payload["batch"]
    assert batch["id"] >= 1
    assert batch["receiptBook"] == "A-0001"
    assert batch["issueDate"] == today().isoformat()
    assert batch["pendingIds"] == sorted(ids_of(pendings))
    assert batch["pendingCount"] == 4
    assert batch["createdBy"] == "clerk"
    assert batch["status"] == "PENDING_PROCESSING"  # the batch as queued, whatever came next
    assert payload["summary"] == {"totalPendings": 4, "totalAmount": "3630.05"}
    queue = payload["queueInfo"]
    assert (queue["jobId"], queue["status"]) == (f"batch-{batch['id']}", "waiting")
    assert f"/api/billing-batches/{batch['id']}/status" in queue["message"]


def test_created_batch_is_invoiced_with_one_invoice_per_pending(client, token, factory):
    pendings = factory.pendings(3, amount="100.00", customer_id=9)
    headers = token()

    batch_id = create(client, headers, ids_of(pendings)).get_json()["batch"]["id"]

    status = status_of(client, headers, batch_id)
    batch = status["batch"]
    assert batch["status"] == "PROCESSED"
    assert batch["progress"] == 100
    assert batch["totalInvoices"] == 3
    assert batch["totalAmount"] == "300.00"
    assert batch["firstInvoiceNumber"] == "A-0001-00000001"
    assert batch["lastInvoiceNumber"] == "A-0001-00000003"
    assert batch["errorMessage"] is None
    job = status["jobInfo"]
    assert job["progress"] == 100
    assert job["attemptsMade"] == 1
    assert job["status"] == "completed"
    assert "failedReason" not in job
    invoices = invoices_of(client, headers, batch_id)
    assert sorted(i["pendingId"] for i in invoices) == sorted(ids_of(pendings))
    for pending_id in ids_of(pendings):
        pending = client.get(f"/api/billing-pendings/{pending_id}", headers=headers).get_json()
        assert pending["status"] == "INVOICED"
        assert pending["service"]["status"] == "INVOICED"


def test_sync_endpoint_answers_with_the_invoiced_batch(client, token, factory):
    pendings = factory.pendings(2, amount="605.00")
    headers = token()

    response = create(client, headers, ids_of(pendings), path="/api/billing-batches/sync")

    assert response.status_code == 201
    payload = response.get_json()
    batch = payload["batch"]
    assert batch["status"] == "PROCESSED"
    assert batch["totalInvoices"] == 2
    assert batch["totalAmount"] == "1210.00"
    assert (batch["firstInvoiceNumber"], batch["lastInvoiceNumber"]) == (
        "A-0001-00000001",
        "A-0001-00000002",
    )
    assert payload["queueInfo"]["status"] == "completed"
    assert payload["summary"] == {"totalPendings": 2, "totalAmount": "1210.00"}
    assert len(invoices_of(client, headers, batch["id"])) == 2


def test_invoice_numbers_continue_per_receipt_book_across_batches(client, token, factory):
    headers = token()
    first = create(client, headers, ids_of(factory.pendings(3))).get_json()["batch"]["id"]
    other_book = create(
        client, headers, ids_of(factory.pendings(2, customer_id=8001)), receipt_book="B-00002"
    )
    second = create(client, headers, ids_of(factory.pendings(2)), path="/api/billing-batches/sync")

    assert [i["invoiceNumber"] for i in invoices_of(client, headers, first)] == [
        f"A-0001-{n:08d}" for n in (1, 2, 3)
    ]
    second_id = second.get_json()["batch"]["id"]
    assert [i["invoiceNumber"] for i in invoices_of(client, headers, second_id)] == [
        "A-0001-00000004",
        "A-0001-00000005",
    ]
    other_id = other_book.get_json()["batch"]["id"]
    assert [i["invoiceNumber"] for i in invoices_of(client, headers, other_id)] == [
        "B-0002-00000001",
        "B-0002-00000002",
    ]


# Issue-date rules (docs/rules.md rule 6) --------------------------------------------------


@pytest.mark.parametrize("days", [-10, -1, 0, 1, 10])
def test_issue_date_within_the_window_is_accepted(client, token, factory, days):
    response = create(
        client, token(), ids_of(factory.pendings(1)), issue_date=today() + timedelta(days=days)
    )
    assert response.status_code == 201, response.get_json()


@pytest.mark.parametrize("days", [-11, 11, -400, 365])
def test_issue_date_outside_the_window_is_400_naming_issue_date(client, token, factory, days):
    pendings = factory.pendings(1)
    headers = token()

    response = create(client, headers, ids_of(pendings), issue_date=today() + timedelta(days=days))

    payload = assert_envelope(response, 400)
    assert fields_named(response) == {"issueDate"}
    assert "10 days" in payload["message"]
    assert batch_count(client, headers) == 0
    assert available_ids(client, headers) == set(ids_of(pendings))


def test_issue_date_window_follows_the_configuration(make_app, token, factory):
    narrow = make_app(ISSUE_DATE_WINDOW_DAYS=2).test_client()
    headers = token()

    in_3_days, in_2_days = today() + timedelta(days=3), today() + timedelta(days=2)

    refused = create(narrow, headers, ids_of(factory.pendings(1)), issue_date=in_3_days)
    accepted = create(narrow, headers, ids_of(factory.pendings(1)), issue_date=in_2_days)

    assert_envelope(refused, 400)
    assert fields_named(refused) == {"issueDate"}
    assert accepted.status_code == 201


def test_issue_date_earlier_than_the_books_last_issue_date_is_400(client, token, factory):
    headers = token()
    assert create(client, headers, ids_of(factory.pendings(1))).status_code == 201
    pendings = factory.pendings(1)
    yesterday = today() - timedelta(days=1)

    response = create(client, headers, ids_of(pendings), issue_date=yesterday)

    payload = assert_envelope(response, 400)
    assert fields_named(response) == {"issueDate"}
    assert today().isoformat() in payload["message"]
    assert batch_count(client, headers) == 1
    same_day = create(client, headers, ids_of(pendings))
    assert same_day.status_code == 201
    other_book = create(
        client, headers, ids_of(factory.pendings(1)), receipt_book="A-0002", issue_date=yesterday
    )
    assert other_book.status_code == 201


@pytest.mark.parametrize(
    "code", ["A-0", "D-0001", "A0001", "A-000001", "A-00a1", "A", "", " ", "AB-0001", 1, None]
)
def test_invalid_receipt_book_code_is_400_naming_receipt_book(client, token, factory, code):
    pendings = factory.pendings(1)
    headers = token()

    response = create(client, headers, ids_of(pendings), receipt_book=code)

    assert_envelope(response, 400)
    assert fields_named(response) == {"receiptBook"}
    assert batch_count(client, headers) == 0
    assert client.get("/api/billing-batches/receipt-books", headers=headers).get_json() == []


# Malformed bodies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"issueDate": "2026-02-30"}, "issueDate"),
        ({"issueDate": "27/11/2026"}, "issueDate"),
        ({"issueDate": 20261127}, "issueDate"),
        ({"issueDate": None}, "issueDate"),
        ({"pendingIds": []}, "pendingIds"),
        ({"pendingIds": None}, "pendingIds"),
        ({"pendingIds": "1,2"}, "pendingIds"),
        ({"pendingIds": {"1": True}}, "pendingIds"),
        ({"pendingIds": ["1"]}, "pendingIds.0"),
        ({"pendingIds": [1.5]}, "pendingIds.0"),
        ({"pendingIds": [True]}, "pendingIds.0"),
        ({"pendingIds": [0]}, "pendingIds.0"),
        ({"pendingIds": [10**30]}, "pendingIds.0"),
        ({"pendingIds": [5, 6, 0]}, "pendingIds.2"),
        ({"pendingIds": [1, 1]}, "pendingIds"),
        ({"priority": "high"}, "priority"),
    ],
)
def test_create_batch_refuses_a_malformed_field_with_400(client, token, factory, change, field):
    pending = factory.pendings(1)[0]
    headers = token()
    body = {**batch_body([pending.id]), **change}

    response = client.post("/api/billing-batches", json=body, headers=headers)

    assert_envelope(response, 400)
    assert field in fields_named(response)
    assert batch_count(client, headers) == 0
    assert available_ids(client, headers) == {pending.id}


@pytest.mark.parametrize(
    ("missing", "named"),
    [("issueDate", "issueDate"), ("receiptBook", "pointOfSale"), ("pendingIds", "pendingIds")],
)
def test_create_batch_names_a_missing_field(client, token, factory, missing, named):
    """Without its receipt book a batch names neither a book nor a point of sale: the answer
    asks for the point of sale, the field a batch of any letter needs."""
    body = batch_body(ids_of(factory.pendings(1)))
    del body[missing]
    response = client.post("/api/billing-batches", json=body, headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {named}


@pytest.mark.parametrize("path", ["/api/billing-batches", "/api/billing-batches/sync"])
def test_create_batch_refuses_a_body_that_is_not_json(client, token, factory, path):
    factory.pendings(1)
    headers = token()
    response = client.post(path, data="issueDate=today", content_type="text/plain", headers=headers)
    assert_envelope(response, 400)
    response = client.post(path, data="{oops", content_type="application/json", headers=headers)
    assert_envelope(response, 400)
    assert batch_count(client, headers) == 0


def test_more_pendings_than_max_pendings_per_batch_is_413(make_app, token, factory):
    small = make_app(MAX_PENDINGS_PER_BATCH=5).test_client()
    pendings = factory.pendings(6)
    headers = token()

    response = create(small, headers, ids_of(pendings))

    payload = assert_envelope(response, 413)
    assert "5" in payload["message"]
    assert batch_count(small, headers) == 0
    assert available_ids(small, headers) == set(ids_of(pendings))
    assert create(small, headers, ids_of(pendings)[:5]).status_code == 201


def test_sync_creation_refuses_what_queued_creation_refuses(make_app, client, token, factory):
    headers = token()
    pendings = ids_of(factory.pendings(6))
    path = "/api/billing-batches/sync"
    far = today() + timedelta(days=11)

    outside_window = create(client, headers, pendings[:1], path=path, issue_date=far)
    bad_book = create(client, headers, pendings[:1], path=path, receipt_book="A-0")
    bad_ids = create(client, headers, [pendings[0], pendings[0]], path=path)
    small = make_app(MAX_PENDINGS_PER_BATCH=5).test_client()
    too_many = create(small, headers, pendings, path=path)

    assert fields_named(outside_window) == {"issueDate"}
    assert fields_named(bad_book) == {"receiptBook"}
    assert fields_named(bad_ids) == {"pendingIds"}
    for response in (outside_window, bad_book, bad_ids):
        assert_envelope(response, 400)
    assert_envelope(too_many, 413)
    assert batch_count(client, headers) == 0
    assert available_ids(client, headers) == set(pendings)


# Conflicts (docs/rules.md rule 3) ---------------------------------------------------------


def test_batch_with_a_pending_claimed_by_another_batch_is_409_and_creates_nothing(
    client, token, factory
):
    claimed = factory.pendings(1)[0]
    holder = factory.batch([claimed], process=False)
    free = factory.pendings(2)
    headers = token()

    response = create(client, headers, [claimed.id, *ids_of(free)])

    payload = assert_envelope(response, 409)
    assert [d["id"] for d in payload["details"]] == [claimed.id]
    assert str(holder.id) in payload["details"][0]["reason"]
    assert batch_count(client, headers) == 1
    assert available_ids(client, headers) == set(ids_of(free))
    held = client.get(f"/api/billing-batches/{holder.id}", headers=headers).get_json()
    assert held["pendingIds"] == [claimed.id]


def test_batch_with_an_invoiced_pending_is_409_and_creates_nothing(client, token, factory):
    invoiced = factory.pendings(1)[0]
    factory.batch([invoiced])
    free = factory.pendings(1)
    headers = token()

    response = create(
        client, headers, [invoiced.id, *ids_of(free)], path="/api/billing-batches/sync"
    )

    payload = assert_envelope(response, 409)
    assert [d["id"] for d in payload["details"]] == [invoiced.id]
    assert "INVOICED" in payload["details"][0]["reason"]
    assert batch_count(client, headers) == 1
    assert available_ids(client, headers) == set(ids_of(free))
    assert client.get("/api/invoices", headers=headers).get_json()["total"] == 1


def test_batch_with_a_cancelled_pending_is_409(client, token, factory):
    cancelled, free = factory.pendings(2)
    headers = token()
    assert (
        client.delete(f"/api/billing-pendings/{cancelled.id}", headers=headers).status_code == 200
    )

    response = create(client, headers, [cancelled.id, free.id])

    payload = assert_envelope(response, 409)
    assert [d["id"] for d in payload["details"]] == [cancelled.id]
    assert "CANCELLED" in payload["details"][0]["reason"]
    assert batch_count(client, headers) == 0


def test_batch_with_pendings_that_do_not_exist_is_refused_listing_each(client, token, factory):
    free = factory.pendings(1)
    headers = token()

    response = create(client, headers, [*ids_of(free), 777, 778])

    payload = assert_envelope(response, 409)
    assert {d["id"] for d in payload["details"]} == {777, 778}
    assert batch_count(client, headers) == 0
    assert available_ids(client, headers) == set(ids_of(free))


def test_two_batches_cannot_claim_the_same_pending(client, token, factory):
    pendings = factory.pendings(2)
    headers = token()

    first = create(client, headers, ids_of(pendings))
    second = create(client, headers, ids_of(pendings), path="/api/billing-batches/sync")

    assert first.status_code == 201
    assert_envelope(second, 409)
    invoices = client.get("/api/invoices", headers=headers).get_json()
    assert invoices["total"] == 2
    assert {i["batchId"] for i in invoices["data"]} == {first.get_json()["batch"]["id"]}


# Read, status, retry -------------------------------------------------------------------------


def test_get_batch_returns_it_with_its_pending_ids(client, token, factory):
    pendings = factory.pendings(2)
    batch = factory.batch(pendings)

    response = client.get(f"/api/billing-batches/{batch.id}", headers=token("viewer"))

    assert response.status_code == 200
    payload = response.get_json()
    assert payload["id"] == batch.id
    assert payload["pendingIds"] == sorted(ids_of(pendings))
    assert payload["status"] == "PROCESSED"
    assert MONEY.match(payload["totalAmount"])


@pytest.mark.parametrize("suffix", ["", "/status"])
@pytest.mark.parametrize("batch_id", ["404", "99999999999", "0", "x"])
def test_get_unknown_batch_is_404(client, token, factory, suffix, batch_id):
    factory.batch()
    response = client.get(f"/api/billing-batches/{batch_id}{suffix}", headers=token())
    assert_envelope(response, 404)


@pytest.mark.parametrize("batch_id", ["404", "99999999999"])
def test_retry_of_an_unknown_batch_is_404(client, token, batch_id):
    assert_envelope(client.post(f"/api/billing-batches/{batch_id}/retry", headers=token()), 404)


def test_retry_of_a_processed_batch_is_409_and_changes_nothing(client, token, factory):
    batch = factory.batch()
    headers = token()
    before = status_of(client, headers, batch.id)

    response = client.post(f"/api/billing-batches/{batch.id}/retry", headers=headers)

    payload = assert_envelope(response, 409)
    assert "PROCESSED" in payload["message"]
    assert status_of(client, headers, batch.id) == before


def test_retry_of_a_queued_batch_is_409(client, token, factory):
    batch = factory.batch(process=False)
    headers = token()

    response = client.post(f"/api/billing-batches/{batch.id}/retry", headers=headers)

    payload = assert_envelope(response, 409)
    assert "PENDING_PROCESSING" in payload["message"]
    assert status_of(client, headers, batch.id)["batch"]["attempts"] == 0


def test_failed_batch_is_error_with_its_reason_and_consumes_no_number(make_app, token, factory):
    failing = make_app(CAE_FAILURE_RATE=1.0).test_client()
    pendings = factory.pendings(2)
    headers = token()

    response = create(failing, headers, ids_of(pendings), path="/api/billing-batches/sync")

    assert response.status_code == 201
    batch_id = response.get_json()["batch"]["id"]
    status = status_of(failing, headers, batch_id)
    assert status["batch"]["status"] == "ERROR"
    assert "CAE" in status["batch"]["errorMessage"]
    assert status["jobInfo"]["status"] == "failed"
    assert "CAE" in status["jobInfo"]["failedReason"]
    assert failing.get("/api/invoices", headers=headers).get_json()["total"] == 0
    next_number = failing.get(
        "/api/billing-batches/next-invoice-number/A-0001", headers=headers
    ).get_json()
    assert next_number["nextNumber"] == "A-0001-00000001"
    stats = failing.get("/api/billing-batches/queue/stats", headers=headers).get_json()
    assert stats["failed"] == 1


def test_retry_of_an_error_batch_invoices_it_once_the_authority_recovers(
    make_app, client, token, factory
):
    failing = make_app(CAE_FAILURE_RATE=1.0).test_client()
    pendings = factory.pendings(3)
    headers = token()
    batch_id = create(
        failing, headers, ids_of(pendings), path="/api/billing-batches/sync"
    ).get_json()["batch"]["id"]
    assert status_of(client, headers, batch_id)["batch"]["status"] == "ERROR"

    response = client.post(f"/api/billing-batches/{batch_id}/retry", headers=headers)

    assert response.status_code == 200
    assert response.get_json()["batch"]["id"] == batch_id
    status = status_of(client, headers, batch_id)
    assert status["batch"]["status"] == "PROCESSED"
    assert status["batch"]["errorMessage"] is None
    assert [i["invoiceNumber"] for i in invoices_of(client, headers, batch_id)] == [
        f"A-0001-{n:08d}" for n in (1, 2, 3)
    ]
    again = client.post(f"/api/billing-batches/{batch_id}/retry", headers=headers)
    assert_envelope(again, 409)


def test_a_failed_attempt_is_retried_3_times_after_2_4_and_8_seconds(make_app, factory, live_queue):
    """docs/rules.md rule 8 under the default BATCH_RETRY_DELAY_SECONDS (the other tests and their
    consumers retry after a tenth of a second). Each attempt runs as a consumer runs it, and the
    queue's schedule is read instead of waiting for it."""
    from webapp.config import Config
    from webapp.extensions import db
    from webapp.models import BillingBatch
    from webapp.tasks import batch_queue

    def batch_state():
        db.session.rollback()
        batch = db.session.get(BillingBatch, batch_id)
        return batch.status.value, batch.attempts

    assert live_queue.utc
    default = make_app(
        CAE_FAILURE_RATE=1.0, BATCH_RETRY_DELAY_SECONDS=Config.BATCH_RETRY_DELAY_SECONDS
    )
    with default.app_context():
        batch_id = factory.batch(process=False).id
        batch_queue.enqueue_batch(batch_id)
        task = live_queue.dequeue()
        waits = []
        for attempt in (1, 2, 3):
            started = datetime.now(UTC).replace(tzinfo=None)
            live_queue.execute(task, timestamp=task.eta or started)
            (task,) = live_queue.read_schedule(started + timedelta(days=1))
            waits.append(round((task.eta - started).total_seconds()))
            assert batch_state() == ("PENDING_PROCESSING", attempt)
        live_queue.execute(task, timestamp=task.eta)  # as the scheduler would, once it is due

        assert waits == [2, 4, 8]
        assert batch_state() == ("ERROR", 4)
        assert live_queue.pending_count() == live_queue.scheduled_count() == 0


# Lists, queue, receipt books ----------------------------------------------------------------


def test_list_batches_filters_by_status_receipt_book_and_issue_date(
    make_app, client, token, factory
):
    headers = token("viewer")
    day = today()
    a_old = factory.batch(factory.pendings(1), issue_date=day - timedelta(days=5))
    a_new = factory.batch(factory.pendings(1), issue_date=day)
    b_mid = factory.batch(
        factory.pendings(1, customer_id=8001), receipt_book="B-0001", issue_date=day - timedelta(2)
    )
    queued = factory.batch(factory.pendings(1), receipt_book="A-0003", process=False)
    failing = make_app(CAE_FAILURE_RATE=1.0).test_client()
    error_id = create(
        failing,
        token(),
        ids_of(factory.pendings(1, customer_id=8001)),
        path="/api/billing-batches/sync",
        receipt_book="B-0001",
    ).get_json()["batch"]["id"]

    def ids(query=""):
        response = client.get(f"/api/billing-batches?{query}", headers=headers)
        assert response.status_code == 200, response.get_json()
        return [b["id"] for b in response.get_json()["data"]]

    assert ids() == sorted([a_old.id, a_new.id, b_mid.id, queued.id, error_id], reverse=True)
    assert ids("status=PROCESSED") == [b_mid.id, a_new.id, a_old.id]
    assert ids("status=ERROR") == [error_id]
    assert ids("status=PENDING_PROCESSING") == [queued.id]
    assert ids("receiptBook=B-0001") == [error_id, b_mid.id]
    assert ids("receiptBook=A-0001&status=PROCESSED") == [a_new.id, a_old.id]
    assert ids(f"dateTo={(day - timedelta(days=1)).isoformat()}") == [b_mid.id, a_old.id]
    assert ids(f"dateFrom={(day - timedelta(days=2)).isoformat()}&receiptBook=B-0001") == [
        error_id,
        b_mid.id,
    ]
    page = client.get("/api/billing-batches?limit=2&page=3", headers=headers).get_json()
    assert (page["total"], page["totalPages"], len(page["data"])) == (5, 3, 1)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=DONE", "status"),
        ("dateFrom=2026-02-30", "dateFrom"),
        ("dateFrom=2026-05-02&dateTo=2026-05-01", "dateTo"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("page=0", "page"),
    ],
)
def test_list_batches_refuses_bad_filters_naming_them(client, token, query, field):
    response = client.get(f"/api/billing-batches?{query}", headers=token())
    assert_envelope(response, 400)
    assert field in fields_named(response)


def test_receipt_book_filter_with_a_nul_character_never_causes_a_500(client, token, factory):
    factory.batch()
    response = client.get("/api/billing-batches?receiptBook=A-0001%00", headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {"receiptBook"}


def test_queue_stats_count_batches_by_state(make_app, client, token, factory):
    factory.batch()
    factory.batch(factory.pendings(1))
    failing = make_app(CAE_FAILURE_RATE=1.0).test_client()
    create(failing, token(), ids_of(factory.pendings(1)), path="/api/billing-batches/sync")

    response = client.get("/api/billing-batches/queue/stats", headers=token("viewer"))

    assert response.status_code == 200
    stats = response.get_json()
    assert set(stats) == {"waiting", "active", "completed", "failed", "delayed"}
    assert all(isinstance(value, int) and value >= 0 for value in stats.values())
    assert (stats["completed"], stats["failed"], stats["active"]) == (2, 1, 0)


def test_receipt_books_show_last_number_and_last_issue_date(client, token, factory):
    day = today()
    factory.batch(factory.pendings(3), issue_date=day - timedelta(days=1))
    factory.batch(factory.pendings(2), issue_date=day)
    factory.batch(
        factory.pendings(1, customer_id=8001),
        receipt_book="B-00007",
        issue_date=day - timedelta(days=4),
    )

    response = client.get("/api/billing-batches/receipt-books", headers=token("viewer"))

    assert response.status_code == 200
    books = {b["receiptBook"]: b for b in response.get_json()}
    assert set(books) == {"A-0001", "B-0007"}
    assert books["A-0001"]["lastNumber"] == 5
    assert books["A-0001"]["lastIssueDate"] == day.isoformat()
    assert books["B-0007"]["lastNumber"] == 1
    assert books["B-0007"]["lastIssueDate"] == (day - timedelta(days=4)).isoformat()


def test_next_invoice_number_follows_the_books_counter(client, token, factory):
    headers = token("viewer")
    unused = client.get("/api/billing-batches/next-invoice-number/C-0003", headers=headers)
    assert unused.status_code == 200
    assert unused.get_json() == {"receiptBook": "C-0003", "nextNumber": "C-0003-00000001"}

    factory.batch(factory.pendings(4))

    used = client.get("/api/billing-batches/next-invoice-number/A-0001", headers=headers)
    assert used.get_json() == {"receiptBook": "A-0001", "nextNumber": "A-0001-00000005"}


@pytest.mark.parametrize("code", ["A", "A-0", "D-0001", "A0001", "A-123456", "%20"])
def test_next_invoice_number_of_an_invalid_book_is_400(client, token, factory, code):
    factory.batch()
    response = client.get(f"/api/billing-batches/next-invoice-number/{code}", headers=token())
    assert_envelope(response, 400)
    assert fields_named(response) == {"receiptBook"}


# Access --------------------------------------------------------------------------------------


def test_viewer_cannot_create_or_retry_batches(client, token, factory):
    pendings = factory.pendings(2)
    batch = factory.batch(factory.pendings(1))
    viewer = token("viewer")

    for path in ("/api/billing-batches", "/api/billing-batches/sync"):
        assert_envelope(create(client, viewer, ids_of(pendings), path=path), 403)
    assert_envelope(client.post(f"/api/billing-batches/{batch.id}/retry", headers=viewer), 403)
    assert batch_count(client, viewer) == 1
    assert available_ids(client, viewer) == set(ids_of(pendings))


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/billing-batches"),
        ("post", "/api/billing-batches/sync"),
        ("get", "/api/billing-batches"),
        ("get", "/api/billing-batches/queue/stats"),
        ("get", "/api/billing-batches/receipt-books"),
        ("get", "/api/billing-batches/next-invoice-number/A-0001"),
        ("get", "/api/billing-batches/1"),
        ("get", "/api/billing-batches/1/status"),
        ("post", "/api/billing-batches/1/retry"),
        ("post", "/api/billing-batches/1/abandon"),
    ],
)
def test_batches_without_a_token_are_401(client, token, factory, method, path):
    pendings = factory.pendings(1)
    response = getattr(client, method)(path, json=batch_body(ids_of(pendings)))
    assert_envelope(response, 401)
    assert batch_count(client, token()) == 0


def test_money_in_batch_responses_is_two_decimal_text(client, token, factory):
    pendings = factory.pendings(2, amount="10.1")
    headers = token()
    created = create(client, headers, ids_of(pendings), path="/api/billing-batches/sync").get_json()
    assert created["summary"]["totalAmount"] == "20.20"
    assert created["batch"]["totalAmount"] == "20.20"
    listed = client.get("/api/billing-batches", headers=headers).get_json()["data"][0]
    assert MONEY.match(listed["totalAmount"])
    assert Decimal(listed["totalAmount"]) == Decimal("20.20")


# Abandoning a failed batch ---------------------------------------------------------------------


@pytest.fixture
def failed_batch(app, factory):
    """A batch the tax authority failed, holding two pendings."""
    authority = app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    batch = factory.batch(factory.pendings(2))
    authority.failure_rate = 0.0
    return batch


def test_abandoning_an_error_batch_releases_its_pendings_and_forbids_a_retry(
    client, token, failed_batch
):
    headers = token("clerk")
    held = [p.id for p in factory_pendings_of(failed_batch.id)]
    cancel = client.delete(f"/api/billing-pendings/{held[0]}", headers=headers)
    assert_envelope(cancel, 409)
    assert "which failed; abandon the batch" in cancel.get_json()["message"]

    response = client.post(f"/api/billing-batches/{failed_batch.id}/abandon", headers=headers)

    assert response.status_code == 200, response.get_json()
    batch = response.get_json()["batch"]
    assert batch["status"] == "ERROR"
    assert batch["abandonedBy"] == "clerk"
    assert batch["abandonedAt"]
    assert available_ids(client, headers) == set(held)
    detail = client.get(f"/api/billing-batches/{failed_batch.id}", headers=headers).get_json()
    assert detail["pendingIds"] == []
    assert detail["abandonedBy"] == "clerk"
    assert_envelope(
        client.post(f"/api/billing-batches/{failed_batch.id}/retry", headers=headers), 409
    )
    assert client.delete(f"/api/billing-pendings/{held[0]}", headers=headers).status_code == 200
    from webapp.billing import audit

    assert [e.action for e in audit.events_for("batch", failed_batch.id)] == [
        "created",
        "failed",
        "abandoned",
    ]


def factory_pendings_of(batch_id):
    from webapp.extensions import db
    from webapp.models import BillingPending

    return db.session.scalars(
        db.select(BillingPending).where(BillingPending.batch_id == batch_id)
    ).all()


def test_only_an_error_batch_not_yet_abandoned_can_be_abandoned(
    client, token, factory, failed_batch
):
    headers = token("admin")
    processed = factory.batch(factory.pendings(1))
    queued = factory.batch(factory.pendings(1), process=False)
    for batch in (processed, queued):
        response = client.post(f"/api/billing-batches/{batch.id}/abandon", headers=headers)
        assert_envelope(response, 409)
        assert "only an ERROR batch can be abandoned" in response.get_json()["message"]
    assert (
        client.post(f"/api/billing-batches/{failed_batch.id}/abandon", headers=headers).status_code
        == 200
    )
    again = client.post(f"/api/billing-batches/{failed_batch.id}/abandon", headers=headers)
    assert_envelope(again, 409)
    assert "already abandoned" in again.get_json()["message"]
    assert_envelope(client.post("/api/billing-batches/424242/abandon", headers=headers), 404)


def test_a_viewer_cannot_abandon_a_batch(client, token, failed_batch):
    response = client.post(
        f"/api/billing-batches/{failed_batch.id}/abandon", headers=token("viewer")
    )
    assert_envelope(response, 403)
    assert len(factory_pendings_of(failed_batch.id)) == 2


def test_abandon_is_in_the_openapi_document(client, token):
    spec = client.get("/api/openapi.json", headers=token("viewer")).get_json()
    operation = spec["paths"]["/api/billing-batches/{batch_id}/abandon"]["post"]
    assert operation["tags"] == ["Billing batches"]
    batch_schema = spec["components"]["schemas"]["BatchOut"]["properties"]
    assert {"abandonedAt", "abandonedBy"} <= set(batch_schema)


# The queue down --------------------------------------------------------------------------------


@pytest.fixture
def queue_down(app):
    """The queue's Redis is a closed port: every enqueue raises redis' ConnectionError."""
    import socket

    from huey.storage import RedisStorage

    from webapp.extensions import huey

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    huey.immediate = False
    real_storage = huey.storage

    def back():
        huey.storage = real_storage
        huey.immediate = True

    huey.storage = RedisStorage(huey.name, url=f"redis://127.0.0.1:{closed_port}/0")
    yield back
    back()


def test_a_batch_stored_while_the_queue_is_down_answers_201_deferred(
    client, token, factory, queue_down
):
    pendings = factory.pendings(2)
    headers = token("clerk")

    response = create(client, headers, ids_of(pendings))

    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["queueInfo"]["status"] == "deferred"
    assert "will be queued when the queue is back" in body["queueInfo"]["message"]
    batch_id = body["batch"]["id"]
    assert body["batch"]["status"] == "PENDING_PROCESSING"
    assert sorted(body["batch"]["pendingIds"]) == ids_of(pendings)
    assert status_of(client, headers, batch_id)["batch"]["status"] == "PENDING_PROCESSING"

    queue_down()  # the queue is back; once the claim grace has passed the reaper queues it
    from sqlalchemy import update

    from webapp import tasks
    from webapp.billing import recovery
    from webapp.extensions import db
    from webapp.models import BillingBatch, utcnow

    db.session.execute(
        update(BillingBatch).values(enqueued_at=utcnow() - recovery.claim_grace() * 2)
    )
    db.session.commit()
    assert tasks.reap_lost_batches() == [batch_id]
    assert status_of(client, headers, batch_id)["batch"]["status"] == "PROCESSED"


# Progress ------------------------------------------------------------------------------------


def test_a_running_batch_shows_its_progress_rising_call_by_call(app, factory, monkeypatch):
    """Each answer of the tax authority commits with the batch's progress, so another
    connection sees it rise before the batch ends. A call is sent as soon as the previous one
    is answered, while that answer is being stored (on PostgreSQL, while the two answers before
    it may still be being stored too)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from webapp.billing import invoicing
    from webapp.extensions import db
    from webapp.models import BillingBatch

    monkeypatch.setattr(invoicing, "INVOICES_PER_CHUNK", 2)
    batch = factory.batch(factory.pendings(10), process=False)
    authority = app.extensions["lote.cae"]
    authorize = authority.authorize
    batch_id = batch.id
    # Another process's view of the database: an engine of its own, outside the app.
    engine = create_engine(db.engine.url.render_as_string(hide_password=False))
    seen = []

    def watched_from_another_connection(requests):
        with Session(engine) as other:
            seen.append(other.get(BillingBatch, batch_id).progress)
        return authorize(requests)

    monkeypatch.setattr(authority, "authorize", watched_from_another_connection)
    outcome = invoicing.process_batch(batch.id, final_attempt=True)
    db.session.refresh(batch)
    assert outcome == BatchStatus.PROCESSED, batch.error_message
    # Call i goes out once call i-1 is answered: call i-1 may be stored or not yet, and on
    # PostgreSQL, which stores two calls at a time in threads of their own, calls i-2 and i-3
    # too; every call before is.
    behind = 4 if db.engine.dialect.name == "postgresql" else 2
    assert len(seen) == 5
    for call, progress in enumerate(seen, start=1):
        assert 20 * max(call - behind, 0) <= progress <= 20 * (call - 1), seen
    engine.dispose()
    db.session.refresh(batch)
    assert batch.progress == 100


def test_a_batch_too_large_to_invoice_while_waiting_is_a_413_that_points_to_the_queue(
    make_app, token, factory
):
    client = make_app(SYNC_MAX_PENDINGS=2).test_client()
    headers = token()
    ids = ids_of(factory.pendings(3))
    response = create(client, headers, ids, path="/api/billing-batches/sync")
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "A batch of 3 pendings is too large to invoice while you wait (at most 2); use "
        "POST /api/billing-batches, which queues it"
    )
    assert batch_count(client, headers) == 0
    assert create(client, headers, ids).status_code == 201
