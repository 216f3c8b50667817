"""The batches pages: the list with status badges, and the batch page whose status fragment htmx
polls while the batch is queued or running, then shows the invoices; retry on ERROR."""

import re

import pytest

from webapp.extensions import db
from webapp.models import BatchStatus, BillingBatch, BillingPending

POLLING = 'hx-trigger="every 1s"'


@pytest.fixture
def failing_cae(app):
    """The tax authority stops answering until the test sets it back."""
    authority = app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    yield authority
    authority.failure_rate = 0.0


def batch_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<a href="/batches/(\d+)">Batch \d+</a>', html)]


def status_of(batch_id: int) -> BatchStatus:
    db.session.expire_all()
    return db.session.get(BillingBatch, batch_id).status


# List --------------------------------------------------------------------------------------


def test_the_list_shows_each_batch_with_a_status_badge(clerk, factory):
    done = factory.batch(receipt_book="A-0001")
    queued = factory.batch(
        pendings=factory.pendings(2, customer_id=8001), receipt_book="B-0001", process=False
    )
    html = clerk.get("/batches/").get_data(as_text=True)
    assert batch_ids(html) == [queued.id, done.id]
    assert 'class="badge badge-processed">Processed<' in html
    assert 'class="badge badge-pending_processing">Queued<' in html
    assert "A-0001-00000001 – A-0001-00000003" in re.sub(r"<[^>]+>", "", html)
    assert '<td class="num">$ 3,630.00</td>' in html


def test_filters_by_status_and_receipt_book(clerk, factory):
    done = factory.batch(receipt_book="A-0001")
    queued = factory.batch(
        pendings=factory.pendings(1, customer_id=8001), receipt_book="B-0001", process=False
    )
    assert batch_ids(clerk.get("/batches/?status=PROCESSED").get_data(as_text=True)) == [done.id]
    assert batch_ids(clerk.get("/batches/?receiptBook=b-0001").get_data(as_text=True)) == [
        queued.id
    ]
    assert clerk.get("/batches/?status=DONE").status_code == 400


def test_a_batch_named_by_its_point_of_sale_is_listed_by_it(clerk, factory):
    from webapp.billing import batches, clock, invoicing

    pendings = factory.pendings(2)
    batch = batches.create_batch("tests", clock.today(), None, [p.id for p in pendings], 1)
    invoicing.process_batch(batch.id, final_attempt=True)

    for path in ("/batches/", "/", "/erp/"):
        text = re.sub(r"<[^>]+>", " ", clerk.get(path).get_data(as_text=True))
        assert "Point of sale 1" in text, path
        assert "None" not in text, path


def test_the_list_is_paginated(clerk, factory):
    for _ in range(21):
        factory.batch(pendings=factory.pendings(1), process=False)
    html = clerk.get("/batches/").get_data(as_text=True)
    assert len(batch_ids(html)) == 20
    assert "Page 1 of 2" in html
    assert len(batch_ids(clerk.get("/batches/?page=2").get_data(as_text=True))) == 1


def test_an_empty_list_points_to_the_pendings(clerk):
    html = clerk.get("/batches/").get_data(as_text=True)
    assert "No batches yet." in html
    assert 'href="/pendings/?available=1"' in html


# The batch page and its status fragment ----------------------------------------------------


def test_a_queued_batch_polls_every_second_and_refreshes_itself_without_javascript(clerk, factory):
    batch = factory.batch(process=False)
    response = clerk.get(f"/batches/{batch.id}")
    html = response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]
    section = re.search(r'<section id="batch-status"[^>]*>', html).group(0)
    assert f'hx-get="/batches/{batch.id}"' in section
    assert POLLING in section
    assert 'hx-swap="outerHTML"' in section
    head = html[: html.index("</head>")]
    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in head
    assert '<progress id="batch-progress" max="100" value="0">' in html


def test_htmx_gets_the_status_fragment_alone(clerk, factory):
    batch = factory.batch(process=False)
    response = clerk.get(f"/batches/{batch.id}", headers={"HX-Request": "true"})
    text = response.get_data(as_text=True).strip()
    assert text.startswith('<section id="batch-status"')
    assert text.endswith("</section>")
    assert "<html" not in text
    assert POLLING in text
    assert "HX-Request" in response.headers["Vary"]


def test_a_processed_batch_stops_polling_and_shows_its_invoices_and_totals(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(2, amount="1210.00"))
    html = clerk.get(f"/batches/{batch.id}").get_data(as_text=True)
    fragment = clerk.get(f"/batches/{batch.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    for text in (html, fragment):
        assert "hx-trigger" not in text
        assert "hx-get" not in text
        assert 'value="100"' in text
        assert "A-0001-00000001</a>" in text and "A-0001-00000002</a>" in text
        assert "$ 2,420.00" in text
        assert '<td class="num">$ 1,000.00</td>' in text  # net
        assert '<td class="num">$ 210.00</td>' in text  # IVA
    assert 'http-equiv="refresh"' not in html
    assert f'href="/erp/preview?batchId={batch.id}"' in html
    assert "Invoiced" in html  # the audit trail


def test_the_invoices_of_a_batch_are_paginated(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(21))
    first = clerk.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert len(re.findall(r'href="/invoices/\d+"', first)) == 20
    assert "Page 1 of 2" in first
    second = clerk.get(f"/batches/{batch.id}?page=2").get_data(as_text=True)
    assert len(re.findall(r'href="/invoices/\d+"', second)) == 1
    assert "A-0001-00000001</a>" in second


def test_a_failed_batch_shows_why_and_can_be_retried(clerk, factory, failing_cae):
    batch = factory.batch()
    assert status_of(batch.id) == BatchStatus.ERROR
    html = clerk.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert "The tax authority (CAE) did not answer" in html
    assert POLLING not in html
    assert f'action="/batches/{batch.id}/retry"' in html
    assert "Retry batch" in html

    failing_cae.failure_rate = 0.0
    response = clerk.post(f"/batches/{batch.id}/retry")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/batches/{batch.id}")
    assert status_of(batch.id) == BatchStatus.PROCESSED
    assert "is queued again" in clerk.get(f"/batches/{batch.id}").get_data(as_text=True)


def test_retrying_a_batch_that_did_not_fail_is_explained(clerk, factory):
    batch = factory.batch()
    response = clerk.post(f"/batches/{batch.id}/retry", follow_redirects=True)
    assert "only a batch in Error can be retried" in response.get_data(as_text=True)
    assert status_of(batch.id) == BatchStatus.PROCESSED


def test_an_unknown_batch_is_a_404(clerk):
    response = clerk.get("/batches/424242")
    assert response.status_code == 404
    assert "Batch 424242 does not exist" in response.get_data(as_text=True)


# Roles and the dashboard -----------------------------------------------------------------------


def test_a_viewer_sees_a_failed_batch_without_the_retry_button(client, auth, factory, failing_cae):
    batch = factory.batch()
    auth.login("viewer")
    html = client.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert "(CAE) no respondió" in html
    assert "/retry" not in html
    assert client.post(f"/batches/{batch.id}/retry").status_code == 403
    assert status_of(batch.id) == BatchStatus.ERROR


def test_the_dashboard_lists_the_last_batches_and_the_clerks_shortcuts(clerk, factory):
    batch = factory.batch()
    html = clerk.get("/").get_data(as_text=True)
    assert f'<a href="/batches/{batch.id}">Batch {batch.id}</a>' in html
    assert 'href="/services/new"' in html
    assert 'href="/pendings/?available=1"' in html


def test_the_dashboard_offers_a_viewer_no_shortcut_that_changes_data(client, auth, factory):
    factory.batch()
    auth.login("viewer")
    html = client.get("/").get_data(as_text=True)
    assert 'href="/services/new"' not in html
    assert "Create a batch" not in html


# Abandoning a failed batch -------------------------------------------------------------------


def test_a_failed_batch_is_abandoned_after_a_confirmation_page(clerk, factory, failing_cae):
    held = factory.pendings(2)
    batch = factory.batch(pendings=held)
    html = clerk.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert f'href="/batches/{batch.id}/abandon"' in html

    page = clerk.get(f"/batches/{batch.id}/abandon").get_data(as_text=True)
    assert f"Abandon batch {batch.id}?" in page
    assert '<dt>Pendings it holds</dt><dd class="num">2</dd>' in page
    assert 'method="post"' in page
    assert db.session.get(BillingBatch, batch.id).abandoned_at is None

    response = clerk.post(f"/batches/{batch.id}/abandon", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert f"Batch {batch.id} abandoned; its pendings are available for a new batch." in html
    assert "Abandoned by clerk" in html
    assert f'action="/batches/{batch.id}/retry"' not in html
    assert f'href="/batches/{batch.id}/abandon"' not in html
    assert '<span class="action">Abandoned</span>' in html  # the history
    db.session.expire_all()
    assert all(db.session.get(BillingPending, p.id).batch_id is None for p in held)
    assert status_of(batch.id) == BatchStatus.ERROR


def test_abandoning_a_batch_that_did_not_fail_is_explained(clerk, factory):
    batch = factory.batch()
    for send in (clerk.get, clerk.post):
        response = send(f"/batches/{batch.id}/abandon", follow_redirects=True)
        html = response.get_data(as_text=True)
        assert "only a batch in Error can be abandoned" in html
        assert "Abandon batch" not in html
    assert db.session.get(BillingBatch, batch.id).abandoned_at is None


def test_a_viewer_is_offered_no_abandon_and_cannot_post_one(client, auth, factory, failing_cae):
    batch = factory.batch()
    auth.login("viewer")
    assert "/abandon" not in client.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert client.post(f"/batches/{batch.id}/abandon").status_code == 403
    assert db.session.get(BillingBatch, batch.id).abandoned_at is None


# What follows the status ---------------------------------------------------------------------


def test_the_polled_fragment_carries_the_history(clerk, factory):
    batch = factory.batch()
    fragment = clerk.get(f"/batches/{batch.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert 'id="audit-title"' in fragment
    assert '<span class="action">Invoiced</span>' in fragment


def test_a_batch_waiting_for_its_automatic_retry_says_so(clerk, factory):
    from webapp.billing import invoicing, recovery

    batch = factory.batch(process=False)
    attempt = recovery.claim_batch(batch.id)
    invoicing.record_failure(batch.id, attempt, "The tax authority (CAE) did not answer", False)
    fragment = clerk.get(f"/batches/{batch.id}", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "Waiting to retry" in fragment
    assert ">Queued<" not in fragment
    assert "waits to be retried automatically" in fragment
    assert POLLING in fragment

    from webapp import tasks

    tasks.process_batch_task.schedule(args=(batch.id,), delay=30)
    try:
        fragment = clerk.get(f"/batches/{batch.id}", headers={"HX-Request": "true"}).get_data(
            as_text=True
        )
    finally:
        tasks.huey.flush()  # the in-process queue outlives the test
    assert 25 <= int(re.search(r"Retrying in (\d+) s", fragment).group(1)) <= 30


def test_a_batch_created_from_the_pendings_page_claims_no_status_in_its_notice(clerk, factory):
    chosen = factory.pendings(1)
    data = {"issueDate": today_iso(), "receiptBook": "A-0001", "scope": "selected"}
    data["ids"] = [chosen[0].id]
    html = clerk.post("/pendings/batch", data=data, follow_redirects=True).get_data(as_text=True)
    assert "created with 1 pending." in html
    assert "being invoiced now" not in html


def today_iso() -> str:
    from webapp.billing import clock

    return clock.today().isoformat()


def test_the_batch_page_and_list_show_the_progress_a_running_batch_reported(clerk, factory):
    from webapp.billing import recovery
    from webapp.models import BillingBatch

    batch = factory.batch(process=False)
    recovery.claim_batch(batch.id)
    # What the worker commits with each answer of the tax authority.
    db.session.execute(db.update(BillingBatch).values(progress=42))
    db.session.commit()
    db.session.expire_all()  # as a new request would, read what the worker wrote
    page = clerk.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert '<progress id="batch-progress" max="100" value="42">' in page
    listing = clerk.get("/batches/").get_data(as_text=True)
    assert '<span class="hint">42%</span>' in listing
