"""The pendings page: filterable list, summary by customer, creating a batch from the selection or
from every available pending matching the filters, the next invoice number, and cancelling."""

import re
from datetime import timedelta

from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    BillingBatch,
    BillingPending,
    PendingStatus,
    Service,
    ServiceStatus,
)


def today():
    from webapp.billing import clock

    return clock.today()


def row_ids(html: str) -> list[int]:
    return [
        int(i)
        for i in re.findall(
            r'<tr>\s*(?:<td class="check">.*?</td>\s*)?<td class="num">(\d+)</td>', html, re.S
        )
    ]


def batch_form(**overrides):
    data = {"issueDate": today().isoformat(), "receiptBook": "A-0001", "scope": "selected"}
    data.update(overrides)
    return data


def batches_count() -> int:
    return db.session.scalar(db.select(db.func.count()).select_from(BillingBatch))


# List, summary, filters --------------------------------------------------------------------


def test_the_list_and_the_summary_by_customer(clerk, factory):
    factory.pendings(2, amount="1000.00", customer_id=1001)
    factory.pendings(1, amount="2500.50", customer_id=1002)
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert len(row_ids(html)) == 3
    summary = html[html.index('id="summary-title"') : html.index("</table>")]
    cells = r'</a></td>\s*<td class="num">{}</td>\s*<td class="num">\$ {}</td>'
    assert re.search("1001" + cells.format(2, "2,000.00"), summary)
    assert re.search("1002" + cells.format(1, "2,500.50"), summary)
    assert 'Total</th><td class="num">3</td><td class="num">$ 4,500.50</td>' in html


def test_the_summary_names_the_customers_owed_most_and_adds_up_the_rest(clerk, factory):
    for n in range(12):  # customer 1000 + n is owed 100 * (n + 1)
        factory.pendings(1, amount=f"{100 * (n + 1)}.00", customer_id=1000 + n)
    html = clerk.get("/pendings/").get_data(as_text=True)
    summary = html[html.index('id="summary-title"') : html.index("</table>")]
    named = re.findall(r"customerId=(\d+)", summary)
    assert named == [str(1000 + n) for n in range(11, 1, -1)]
    assert re.search(
        r'2 more customers</td>\s*<td class="num">2</td>\s*<td class="num">\$ 300.00</td>',
        summary,
    )
    assert 'Total</th><td class="num">12</td><td class="num">$ 7,800.00</td>' in html


def test_filters_by_status_customer_and_availability(clerk, factory):
    mine = factory.pendings(2, customer_id=1001)
    others = factory.pendings(1, customer_id=1002)
    claimed = factory.pendings(1, customer_id=1001)
    factory.batch(pendings=claimed, process=False)
    from webapp.billing import pendings

    pendings.cancel_pending("tests", mine[0].id)

    by_customer = row_ids(clerk.get("/pendings/?customerId=1002").get_data(as_text=True))
    assert by_customer == [others[0].id]
    cancelled = row_ids(clerk.get("/pendings/?status=CANCELLED").get_data(as_text=True))
    assert cancelled == [mine[0].id]
    available = row_ids(clerk.get("/pendings/?available=1").get_data(as_text=True))
    assert available == [others[0].id, mine[1].id]


def test_pagination_keeps_the_filters(clerk, factory):
    factory.pendings(22, customer_id=1003)
    html = clerk.get("/pendings/?customerId=1003").get_data(as_text=True)
    assert len(row_ids(html)) == 20
    assert "Page 1 of 2" in html
    link = re.search(r'<a rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert "customerId=1003" in link
    assert len(row_ids(clerk.get(link).get_data(as_text=True))) == 2


def test_an_unreadable_filter_is_a_400_next_to_its_field(clerk):
    response = clerk.get("/pendings/?status=LOST")
    assert response.status_code == 400
    assert 'id="q-status-error">is not one of the offered values</p>' in response.get_data(
        as_text=True
    )


def test_empty_states_say_what_to_do(clerk):
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert "No pendings yet." in html
    assert "Nothing waits to be invoiced." in html
    assert 'href="/services/?status=CREATED"' in html


def test_only_available_pendings_offer_a_checkbox_and_a_cancel_link(clerk, factory):
    free = factory.pendings(1)[0]
    claimed = factory.pendings(1)
    factory.batch(pendings=claimed, process=False)
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert f'name="ids" value="{free.id}"' in html
    assert f'name="ids" value="{claimed[0].id}"' not in html
    assert f"/pendings/{free.id}/cancel" in html
    assert f"/pendings/{claimed[0].id}/cancel" not in html


# The batch form ------------------------------------------------------------------------------


def test_the_batch_form_defaults_to_today_and_leaves_the_book_to_the_clerk(clerk, factory):
    factory.batch(receipt_book="A-0002")
    factory.batch(pendings=factory.pendings(1), receipt_book="A-0001")
    factory.pendings(1)
    html = clerk.get("/pendings/").get_data(as_text=True)
    assert re.search(rf'id="b-issueDate" name="issueDate" type="date" value="{today()}"', html)
    assert re.search(r'id="b-receiptBook" name="receiptBook" type="text" value=""', html)
    assert '<strong class="next-number">' not in html
    assert '<option value="A-0001"></option>' in html
    assert '<option value="A-0002"></option>' in html
    assert 'hx-get="/pendings/next-number"' in html


def test_the_next_number_is_a_fragment_for_htmx_and_a_page_otherwise(clerk, factory):
    factory.batch(receipt_book="A-0001")
    fragment = clerk.get("/pendings/next-number?receiptBook=a-0001", headers={"HX-Request": "true"})
    assert "HX-Request" in fragment.headers["Vary"]
    text = fragment.get_data(as_text=True)
    assert "<html" not in text
    assert "A-0001-00000004" in text
    page = clerk.get("/pendings/next-number?receiptBook=C-00042")
    assert "<html" in page.get_data(as_text=True)
    assert "C-0042-00000001" in page.get_data(as_text=True)


def test_the_next_number_explains_an_invalid_book(clerk):
    text = clerk.get(
        "/pendings/next-number?receiptBook=Z-1", headers={"HX-Request": "true"}
    ).get_data(as_text=True)
    assert "must look like A-0001" in text


def test_creating_a_batch_from_the_selection_opens_the_batch_page(clerk, factory):
    chosen = factory.pendings(3)
    left = factory.pendings(1)[0]
    response = clerk.post("/pendings/batch", data=batch_form(ids=[chosen[0].id, chosen[2].id]))
    assert response.status_code == 302
    batch = db.session.scalars(db.select(BillingBatch)).one()
    assert response.headers["Location"].endswith(f"/batches/{batch.id}")
    assert batch.pending_count == 2
    assert batch.receipt_book == "A-0001"
    assert batch.created_by == "clerk"
    db.session.expire_all()
    assert db.session.get(BillingPending, chosen[1].id).batch_id is None
    assert db.session.get(BillingPending, left.id).batch_id is None
    assert db.session.get(BillingBatch, batch.id).status == BatchStatus.PROCESSED


def test_creating_a_batch_from_every_available_pending_matching_the_filters(clerk, factory):
    wanted = factory.pendings(3, amount="1000.00", customer_id=2001)
    factory.pendings(2, customer_id=2002)
    claimed = factory.pendings(1, customer_id=2001)
    factory.batch(pendings=claimed, receipt_book="A-0002", process=False)
    html = clerk.get("/pendings/?customerId=2001").get_data(as_text=True)
    assert "all 3 available pendings matching the filters" in html

    asked = clerk.post(
        "/pendings/batch?customerId=2001", data=batch_form(scope="matching", ids=[claimed[0].id])
    )
    assert asked.status_code == 200
    page = asked.get_data(as_text=True)
    assert "Create a batch of 3 pendings?" in page
    assert '<dd class="num" id="confirm-count">3</dd>' in page
    assert '<dd class="num" id="confirm-total">$ 3,000.00</dd>' in page
    assert 'action="/pendings/batch?customerId=2001"' in page
    assert batches_count() == 1

    confirmed = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    response = clerk.post("/pendings/batch?customerId=2001", data=confirmed)
    assert response.status_code == 302
    batch_id = int(response.headers["Location"].rsplit("/", 1)[1])
    held = db.session.scalars(
        db.select(BillingPending.id).where(BillingPending.batch_id == batch_id)
    ).all()
    assert sorted(held) == sorted(p.id for p in wanted)


def test_a_confirmation_whose_figures_changed_is_asked_again(clerk, factory):
    factory.pendings(2, customer_id=2001)
    page = clerk.post(
        "/pendings/batch?customerId=2001", data=batch_form(scope="matching")
    ).get_data(as_text=True)
    confirmed = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', page))
    factory.pendings(1, customer_id=2001)  # arrived meanwhile

    response = clerk.post("/pendings/batch?customerId=2001", data=confirmed)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The matching pendings changed since you looked" in html
    assert "Create a batch of 3 pendings?" in html
    assert batches_count() == 0


def test_the_summary_names_the_failed_batches_that_hold_waiting_pendings(clerk, app, factory):
    factory.pendings(1)
    authority = app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    failed = factory.batch(pendings=factory.pendings(2, amount="50.00"))
    authority.failure_rate = 0.0
    html = clerk.get("/pendings/").get_data(as_text=True)
    notice = re.search(r'<p class="alert alert-warning held-by-failed">(.*?)</p>', html, re.S)
    text = " ".join(notice.group(1).split())
    assert "Of these, 2 pendings ($ 100.00) are held by failed batches:" in text
    assert f'<a href="/batches/{failed.id}">Batch {failed.id}</a>' in text

    held = db.session.scalars(
        db.select(BillingPending.id).where(BillingPending.batch_id == failed.id)
    ).first()
    cancel = clerk.post(f"/pendings/{held}/cancel", follow_redirects=True)
    assert "which failed; abandon that batch to release its pendings" in cancel.get_data(
        as_text=True
    )


def test_a_batch_stored_while_the_queue_is_down_lands_on_its_page_with_a_notice(
    clerk, factory, monkeypatch
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from webapp import tasks

    def queue_down(batch_id, **options):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(tasks, "process_batch_task", queue_down)
    chosen = factory.pendings(1)
    response = clerk.post("/pendings/batch", data=batch_form(ids=[chosen[0].id]))
    assert response.status_code == 302
    batch = db.session.scalars(db.select(BillingBatch)).one()
    assert response.headers["Location"].endswith(f"/batches/{batch.id}")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert f"The queue was unavailable when batch {batch.id} was stored" in html
    assert batch.status == BatchStatus.PENDING_PROCESSING


def test_batching_everything_when_nothing_matches_says_so(clerk, factory):
    factory.pendings(1, customer_id=2001)
    response = clerk.post("/pendings/batch?customerId=9999", data=batch_form(scope="matching"))
    assert response.status_code == 400
    assert "No pending that matches the filters is free for a new batch." in response.get_data(
        as_text=True
    )
    assert batches_count() == 0


def test_an_invalid_receipt_book_keeps_the_form_and_the_selection(clerk, factory):
    chosen = factory.pendings(2)
    response = clerk.post(
        "/pendings/batch",
        data=batch_form(receiptBook="X-12", issueDate="2026-01-05", ids=[chosen[1].id]),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="b-receiptBook-error">must look like A-0001' in html
    assert 'value="X-12"' in html and 'value="2026-01-05"' in html
    assert re.search(rf'name="ids" value="{chosen[1].id}"[^>]*checked', html)
    assert not re.search(rf'name="ids" value="{chosen[0].id}"[^>]*checked', html)
    assert batches_count() == 0


def test_an_issue_date_outside_the_fiscal_window_is_explained(clerk, factory):
    chosen = factory.pendings(1)
    far = (today() + timedelta(days=30)).isoformat()
    response = clerk.post("/pendings/batch", data=batch_form(issueDate=far, ids=[chosen[0].id]))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(r'id="b-issueDate-error">([^<]+)</p>', html).group(1)
    assert "must be within 10 days of today" in error
    assert "outside the fiscal window" in error
    assert batches_count() == 0


def test_an_unreadable_issue_date_is_refused(clerk, factory):
    chosen = factory.pendings(1)
    response = clerk.post("/pendings/batch", data=batch_form(issueDate="", ids=[chosen[0].id]))
    assert response.status_code == 400
    assert 'id="b-issueDate-error">must be a date</p>' in response.get_data(as_text=True)
    assert batches_count() == 0


def test_creating_a_batch_without_a_selection_asks_for_one(clerk, factory):
    factory.pendings(1)
    response = clerk.post("/pendings/batch", data=batch_form())
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was selected" in html
    assert 'id="b-pendingIds-error">select at least one row</p>' in html
    assert batches_count() == 0


def test_a_pending_claimed_meanwhile_refuses_the_batch_and_says_by_whom(clerk, factory):
    free = factory.pendings(1)[0]
    claimed = factory.pendings(1)
    other = factory.batch(pendings=claimed, process=False)
    response = clerk.post("/pendings/batch", data=batch_form(ids=[free.id, claimed[0].id]))
    html = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "1 of 2 pendings cannot be batched; no batch was created" in html
    assert f"<strong>#{claimed[0].id}</strong> belongs to batch {other.id}" in html
    assert batches_count() == 1


# Cancel ---------------------------------------------------------------------------------------


def test_cancel_asks_for_confirmation_then_returns_the_service_to_created(clerk, factory):
    pending = factory.pendings(1)[0]
    page = clerk.get(f"/pendings/{pending.id}/cancel").get_data(as_text=True)
    assert f"Cancel pending {pending.id}?" in page
    assert db.session.get(BillingPending, pending.id).status == PendingStatus.PENDING

    response = clerk.post(f"/pendings/{pending.id}/cancel", follow_redirects=True)
    assert f"Pending {pending.id} cancelled" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(BillingPending, pending.id).status == PendingStatus.CANCELLED
    assert db.session.get(Service, pending.service_id).status == ServiceStatus.CREATED


def test_a_pending_held_by_a_batch_is_not_cancelled(clerk, factory):
    claimed = factory.pendings(1)
    batch = factory.batch(pendings=claimed, process=False)
    response = clerk.post(f"/pendings/{claimed[0].id}/cancel", follow_redirects=True)
    assert f"belongs to batch {batch.id}, so it cannot be cancelled" in response.get_data(
        as_text=True
    )
    db.session.expire_all()
    assert db.session.get(BillingPending, claimed[0].id).status == PendingStatus.PENDING


def test_an_invoiced_pending_offers_no_cancel_confirmation(clerk, factory):
    invoiced = factory.pendings(1)
    factory.batch(pendings=invoiced)

    response = clerk.get(f"/pendings/{invoiced[0].id}/cancel")

    assert response.status_code == 302
    page = clerk.get(response.headers["Location"]).get_data(as_text=True)
    [refusal] = re.findall(r'<p class="flash flash-error">(.*?)</p>', page)
    assert refusal == f"Pending {invoiced[0].id} is Invoiced, so it cannot be cancelled"
    assert f"Cancel pending {invoiced[0].id}?" not in page


# Roles ----------------------------------------------------------------------------------------


def test_a_viewer_sees_pendings_and_summary_but_no_batch_form(client, auth, factory):
    pending = factory.pendings(1)[0]
    auth.login("viewer")
    html = client.get("/pendings/").get_data(as_text=True)
    assert f">{pending.id}</td>" in html
    assert 'id="summary-title"' in html
    assert 'name="issueDate"' not in html
    assert 'name="ids"' not in html
    assert "/cancel" not in html
    assert client.post("/pendings/batch", data=batch_form(ids=[pending.id])).status_code == 403
    assert client.post(f"/pendings/{pending.id}/cancel").status_code == 403
    assert batches_count() == 0


def test_batching_every_match_with_a_bad_issue_date_is_refused_before_the_confirmation(
    clerk, factory
):
    factory.pendings(2, customer_id=2001)
    far = (today() + timedelta(days=30)).isoformat()
    response = clerk.post(
        "/pendings/batch?customerId=2001", data=batch_form(scope="matching", issueDate=far)
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Create a batch of" not in html
    assert "outside the fiscal window" in html
    assert batches_count() == 0
