"""The ERP pages: preview a batch's documents, send them once, history, detail, confirm."""

import re

import pytest

from webapp.extensions import db
from webapp.models import ErpSync, SyncStatus


@pytest.fixture
def failing_erp(app):
    erp = app.extensions["lote.erp"]
    erp.failure_rate = 1.0
    yield erp
    erp.failure_rate = 0.0


def syncs() -> list[ErpSync]:
    db.session.expire_all()
    return list(db.session.scalars(db.select(ErpSync).order_by(ErpSync.id)))


def sync_ids(html: str) -> list[str]:
    return re.findall(r'<a href="/erp/(SYNC-\d{4}-\d{6})">', html)


# Preview ---------------------------------------------------------------------------------------


def test_the_preview_shows_each_documents_entries_and_that_they_balance(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(2, amount="1210.00"))
    response = clerk.get(f"/erp/preview?batchId={batch.id}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.count("1.1.3.01</span> Cuentas por Cobrar") == 2
    assert html.count("4.1.1.01</span> Ventas de Servicios") == 2
    assert html.count("2.1.5.01</span> IVA Débito Fiscal") == 2
    assert '<td class="num">$ 1,000.00</td>' in html and '<td class="num">$ 210.00</td>' in html
    assert "Yes, to the cent" in html
    assert "Send 2 invoices to the ERP" in html
    assert syncs() == []


def test_the_preview_of_a_batch_not_processed_says_why(clerk, factory):
    batch = factory.batch(process=False)
    response = clerk.get(f"/erp/preview?batchId={batch.id}")
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert f"Batch {batch.id} is Queued; only Processed batches can go to the ERP" in html
    assert "/erp/send" not in html


def test_the_preview_asks_for_a_batch(clerk):
    for query in ("", "?batchId=abc"):
        response = clerk.get(f"/erp/preview{query}")
        assert response.status_code == 400
        assert 'id="p-batchId-error">Choose a processed batch</p>' in response.get_data(
            as_text=True
        )
    assert clerk.get("/erp/preview?batchId=999").status_code == 404


# Send, detail, confirm ---------------------------------------------------------------------------


def test_sending_stores_the_delivery_and_opens_its_detail(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(2))
    response = clerk.post("/erp/send", data={"batchId": batch.id})
    [record] = syncs()
    assert record.status == SyncStatus.SENT
    assert record.created_by == "clerk"
    assert response.headers["Location"].endswith(f"/erp/{record.sync_id}")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Sent 2 invoices to the ERP as {record.sync_id}." in html
    assert 'class="badge badge-sent">Sent<' in html
    assert "Confirm delivery" in html
    assert "&#34;accountingEntries&#34;" in html  # the payload, escaped inside <pre>


def test_the_exact_payload_can_be_downloaded(clerk, factory):
    import json

    batch = factory.batch(pendings=factory.pendings(2))
    clerk.post("/erp/send", data={"batchId": batch.id})
    [record] = syncs()
    response = clerk.get(f"/erp/{record.sync_id}/payload.json")
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert f'filename="{record.sync_id}.json"' in response.headers["Content-Disposition"]
    assert json.loads(response.get_data(as_text=True)) == record.payload


def test_a_long_delivery_shows_its_first_documents_and_offers_the_payload_as_a_file(
    clerk, factory, monkeypatch
):
    from webapp.web import erp as erp_pages

    monkeypatch.setattr(erp_pages, "DOCUMENTS_SHOWN", 2)
    batch = factory.batch(pendings=factory.pendings(3))
    clerk.post("/erp/send", data={"batchId": batch.id})
    [record] = syncs()
    html = clerk.get(f"/erp/{record.sync_id}").get_data(as_text=True)
    assert "Showing the first 2 of 3 documents." in html
    assert len(re.findall(r'<th scope="rowgroup"', html)) == 2
    assert "<pre>" not in html
    assert f'href="/erp/{record.sync_id}/payload.json"' in html


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html)


def test_sending_a_batch_already_sent_is_one_banner_without_internal_ids(clerk, factory):
    batch = factory.batch()
    clerk.post("/erp/send", data={"batchId": batch.id}, follow_redirects=True)
    response = clerk.post("/erp/send", data={"batchId": batch.id})
    assert response.headers["Location"].endswith(f"/erp/preview?batchId={batch.id}")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert flashes(html) == [f"Batch {batch.id} has no invoice left to send to the ERP"]
    assert len(syncs()) == 1


def test_the_preview_of_a_sent_batch_says_where_its_invoices_went_and_offers_no_send(
    clerk, factory
):
    batch = factory.batch()
    clerk.post("/erp/send", data={"batchId": batch.id})
    [record] = syncs()
    clerk.post(f"/erp/{record.sync_id}/confirm")
    html = clerk.get(f"/erp/preview?batchId={batch.id}").get_data(as_text=True)
    assert "Every invoice of this batch was sent to the ERP" in html
    assert re.search(
        rf'3 invoices in <a href="/erp/{record.sync_id}">{record.sync_id}</a> '
        r'<span class="badge badge-confirmed">Confirmed</span>',
        html,
    )
    assert "/erp/send" not in html and "Send 3 invoices" not in html
    assert "Cuentas por Cobrar" not in html


def test_a_partly_sent_batch_previews_and_sends_only_the_invoices_left(clerk, factory):
    from webapp.billing import erp
    from webapp.models import Invoice

    batch = factory.batch()
    first = db.session.scalar(db.select(Invoice).where(Invoice.batch_id == batch.id).limit(1))
    early = erp.sync("tests", invoice_ids=[first.id])
    html = clerk.get(f"/erp/preview?batchId={batch.id}").get_data(as_text=True)
    assert f'1 invoice in <a href="/erp/{early.sync_id}">' in html
    assert "2 invoices are left to send; only they are shown and sent below." in html
    assert "Send 2 invoices to the ERP" in html
    assert first.invoice_number not in html.split("Already sent to the ERP")[1]
    response = clerk.post("/erp/send", data={"batchId": batch.id}, follow_redirects=True)
    assert "Sent 2 invoices to the ERP as" in response.get_data(as_text=True)
    assert [s.invoice_count for s in syncs()] == [1, 2]


def test_one_invoice_sent_is_worded_in_the_singular(clerk, factory):
    batch = factory.batch(pendings=factory.pendings(1))
    response = clerk.post("/erp/send", data={"batchId": batch.id}, follow_redirects=True)
    [record] = syncs()
    assert flashes(response.get_data(as_text=True)) == [
        f"Sent 1 invoice to the ERP as {record.sync_id}. Confirm it once the ERP acknowledges it."
    ]


def test_the_batch_picker_offers_only_batches_with_invoices_left_and_says_what_was_sent(
    clerk, factory
):
    from webapp.billing import erp
    from webapp.models import Invoice

    done = factory.batch(pendings=factory.pendings(1))
    partly = factory.batch(pendings=factory.pendings(2), receipt_book="B-0001")
    untouched = factory.batch(pendings=factory.pendings(1), receipt_book="C-0001")
    clerk.post("/erp/send", data={"batchId": done.id})
    one = db.session.scalar(db.select(Invoice.id).where(Invoice.batch_id == partly.id).limit(1))
    erp.sync("tests", invoice_ids=[one])
    html = clerk.get("/erp/").get_data(as_text=True)
    offered = re.findall(r'<option value="(\d+)">([^<]*)</option>', html)
    assert [int(batch_id) for batch_id, _ in offered] == [untouched.id, partly.id]
    assert offered[0][1].endswith("nothing sent yet")
    assert offered[1][1].endswith("1 of 2 invoices already sent")
    assert f'href="/erp/preview?batchId={done.id}"' not in html


def test_an_erp_failure_is_recorded_and_the_batch_can_be_sent_again(clerk, factory, failing_erp):
    batch = factory.batch()
    response = clerk.post("/erp/send", data={"batchId": batch.id}, follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "The ERP did not accept delivery" in html
    assert "The ERP rejected the delivery (simulated outage); try again" in html
    assert f'href="/erp/preview?batchId={batch.id}">Send again' in html
    failing_erp.failure_rate = 0.0
    clerk.post("/erp/send", data={"batchId": batch.id})
    assert [s.status for s in syncs()] == [SyncStatus.ERROR, SyncStatus.SENT]


def test_confirming_a_sent_delivery(clerk, factory):
    batch = factory.batch()
    clerk.post("/erp/send", data={"batchId": batch.id})
    [record] = syncs()
    response = clerk.post(f"/erp/{record.sync_id}/confirm", follow_redirects=True)
    assert f"Delivery {record.sync_id} confirmed." in response.get_data(as_text=True)
    assert syncs()[0].status == SyncStatus.CONFIRMED
    again = clerk.post(f"/erp/{record.sync_id}/confirm", follow_redirects=True)
    assert "only a Sent delivery can be confirmed" in again.get_data(as_text=True)
    assert "Confirm delivery" not in again.get_data(as_text=True)


def test_sending_without_a_batch_is_refused(clerk):
    response = clerk.post("/erp/send", data={"batchId": "x"}, follow_redirects=True)
    assert "Choose a processed batch" in response.get_data(as_text=True)
    assert syncs() == []


def test_an_unknown_delivery_is_a_404(clerk):
    response = clerk.get("/erp/SYNC-2026-999999")
    assert response.status_code == 404
    assert "ERP delivery SYNC-2026-999999 does not exist" in response.get_data(as_text=True)


# History -----------------------------------------------------------------------------------------


def test_the_history_lists_deliveries_newest_first_with_a_status_filter(clerk, factory):
    first = factory.batch()
    second = factory.batch(pendings=factory.pendings(1), receipt_book="B-0001")
    clerk.post("/erp/send", data={"batchId": first.id})
    clerk.post("/erp/send", data={"batchId": second.id})
    older, newer = syncs()
    clerk.post(f"/erp/{older.sync_id}/confirm")
    assert sync_ids(clerk.get("/erp/").get_data(as_text=True)) == [newer.sync_id, older.sync_id]
    confirmed = clerk.get("/erp/?status=CONFIRMED").get_data(as_text=True)
    assert sync_ids(confirmed) == [older.sync_id]
    assert clerk.get("/erp/?status=LOST").status_code == 400


def test_the_history_is_paginated(clerk, factory, failing_erp):
    batch = factory.batch(pendings=factory.pendings(1))
    for _ in range(21):
        clerk.post("/erp/send", data={"batchId": batch.id})
    html = clerk.get("/erp/").get_data(as_text=True)
    assert len(sync_ids(html)) == 20
    assert "Page 1 of 2" in html
    assert len(sync_ids(clerk.get("/erp/?page=2").get_data(as_text=True))) == 1


def test_the_empty_history_says_what_to_do(clerk, factory):
    batch = factory.batch()
    html = clerk.get("/erp/").get_data(as_text=True)
    assert "Nothing was sent to the ERP yet." in html
    assert f'href="/erp/preview?batchId={batch.id}"' in html


# Roles -------------------------------------------------------------------------------------------


def test_a_viewer_previews_but_cannot_send_or_confirm(client, auth, factory):
    batch = factory.batch()
    from webapp.billing import erp

    auth.login("viewer")
    preview = client.get(f"/erp/preview?batchId={batch.id}").get_data(as_text=True)
    assert "Cuentas por Cobrar" in preview and "/erp/send" not in preview
    record = erp.sync("tests", batch_id=batch.id)
    detail = client.get(f"/erp/{record.sync_id}").get_data(as_text=True)
    assert "/confirm" not in detail
    assert client.post("/erp/send", data={"batchId": batch.id}).status_code == 403
    assert client.post(f"/erp/{record.sync_id}/confirm").status_code == 403
    assert syncs()[0].status == SyncStatus.SENT
