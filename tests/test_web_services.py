"""The services pages: filterable list, create and edit forms, delete, send to billing."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest

from webapp.extensions import db
from webapp.models import BillingPending, Service, ServiceStatus


def today():
    from webapp.billing import clock

    return clock.today()


def row_ids(html: str) -> list[int]:
    """The service ids of the list's rows, in order."""
    return [int(i) for i in re.findall(r'<td class="num"><a href="/services/(\d+)">', html)]


def form_data(**overrides):
    data = {
        "serviceDate": (today() - timedelta(days=2)).isoformat(),
        "customerId": "1001",
        "amount": "1500.00",
        "description": "Flete Buenos Aires - Rosario",
    }
    data.update(overrides)
    return data


# List, filters, pagination ---------------------------------------------------------------


def test_the_list_shows_each_service_with_its_amount_right_aligned(clerk, factory):
    service = factory.service(amount="1234567.80", customer_id=1042, description="Cross-docking")
    html = clerk.get("/services/").get_data(as_text=True)
    assert row_ids(html) == [service.id]
    assert '<td class="num">$ 1,234,567.80</td>' in html
    assert "Cross-docking" in html
    assert 'class="badge badge-created">Created<' in html


def test_the_list_is_newest_first_and_paginated_keeping_the_filters(clerk, factory):
    ids = [factory.service(customer_id=7).id for _ in range(23)]
    factory.service(customer_id=8)
    first = clerk.get("/services/?customerId=7").get_data(as_text=True)
    assert row_ids(first) == sorted(ids, reverse=True)[:20]
    assert "Page 1 of 2" in first
    assert "23 results" in first
    next_link = re.search(r'<a rel="next" href="([^"]+)"', first).group(1)
    assert "customerId=7" in next_link and "page=2" in next_link
    second = clerk.get(next_link.replace("&amp;", "&")).get_data(as_text=True)
    assert row_ids(second) == sorted(ids, reverse=True)[20:]
    assert "Page 2 of 2" in second


def test_filters_by_customer_status_and_date_range(clerk, factory):
    old = factory.service(customer_id=5, days_ago=9)
    recent = factory.service(customer_id=5, days_ago=1)
    other = factory.service(customer_id=6, days_ago=1)
    from webapp.billing import services

    services.send_to_billing("tests", [recent.id])

    assert row_ids(clerk.get("/services/?customerId=5").get_data(as_text=True)) == [
        recent.id,
        old.id,
    ]
    assert row_ids(clerk.get("/services/?status=SENT_TO_BILL").get_data(as_text=True)) == [
        recent.id
    ]
    since = (today() - timedelta(days=2)).isoformat()
    assert row_ids(clerk.get(f"/services/?dateFrom={since}").get_data(as_text=True)) == [
        other.id,
        recent.id,
    ]
    until = (today() - timedelta(days=5)).isoformat()
    assert row_ids(clerk.get(f"/services/?dateTo={until}").get_data(as_text=True)) == [old.id]


def test_the_filter_form_keeps_what_was_asked(clerk, factory):
    factory.service(customer_id=5)
    html = clerk.get("/services/?customerId=5&status=CREATED").get_data(as_text=True)
    assert re.search(r'name="customerId"[^>]*value="5"', html)
    assert '<option value="CREATED" selected>' in html


@pytest.mark.parametrize(
    "query, field, message",
    [
        ("customerId=abc", "customerId", "must be a positive whole number"),
        ("status=DONE", "status", "is not one of the offered values"),
        ("dateFrom=2026-02-30", "dateFrom", "must be a date"),
        ("dateFrom=2026-03-10&dateTo=2026-03-01", "dateTo", "must be on or after the start date"),
    ],
)
def test_an_unreadable_filter_is_a_400_with_the_error_next_to_its_field(
    clerk, factory, query, field, message
):
    factory.service()
    response = clerk.get(f"/services/?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'id="q-{field}-error">{message}</p>' in html
    assert re.search(rf'id="q-{field}"[^>]*aria-invalid="true"', html)
    assert row_ids(html) == []


def test_a_page_past_the_end_says_so_and_links_back(clerk, factory):
    factory.service()
    html = clerk.get("/services/?page=5").get_data(as_text=True)
    assert "There is nothing on page 5." in html
    assert 'href="/services/">Go to the first page' in html


def test_an_empty_list_says_what_to_do_next(clerk):
    html = clerk.get("/services/").get_data(as_text=True)
    assert "No services yet" in html
    assert 'href="/services/new"' in html
    filtered = clerk.get("/services/?customerId=9").get_data(as_text=True)
    assert "No services match these filters." in filtered


# Create and edit ----------------------------------------------------------------------------


def test_the_create_form_labels_every_field_and_defaults_the_date_to_today(clerk):
    html = clerk.get("/services/new").get_data(as_text=True)
    for name in ("serviceDate", "customerId", "amount", "description"):
        assert f'<label for="f-{name}">' in html
        assert f'id="f-{name}" name="{name}"' in html
    assert f'value="{today().isoformat()}"' in html


def test_creating_a_service_stores_the_exact_amount(clerk):
    response = clerk.post("/services/new", data=form_data(amount="1500.10"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/services/")
    service = db.session.scalars(db.select(Service)).one()
    assert service.amount == Decimal("1500.10")
    assert service.customer_id == 1001
    assert service.status == ServiceStatus.CREATED
    assert f"Service {service.id} registered." in clerk.get("/services/").get_data(as_text=True)


def test_register_and_add_another_returns_to_an_empty_form(clerk):
    response = clerk.post("/services/new", data=form_data(then="another"))
    assert response.headers["Location"].endswith("/services/new")


def test_invalid_fields_are_shown_next_to_each_field_keeping_what_was_typed(clerk):
    response = clerk.post(
        "/services/new",
        data=form_data(serviceDate="someday", customerId="x12", amount="12.3456", description="Ok"),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'id="f-serviceDate-error">must be a date</p>' in html
    assert 'id="f-customerId-error">must be a positive whole number</p>' in html
    assert 'id="f-amount-error">must have at most two decimals</p>' in html
    assert "f-description-error" not in html
    assert 'value="someday"' in html and 'value="x12"' in html and 'value="12.3456"' in html
    assert ">Ok</textarea>" in html
    assert db.session.scalar(db.select(db.func.count()).select_from(Service)) == 0


def test_a_zero_amount_is_refused_by_the_domain_rule(clerk):
    html = clerk.post("/services/new", data=form_data(amount="0")).get_data(as_text=True)
    assert 'id="f-amount-error">must be greater than 0</p>' in html


def test_editing_shows_the_current_values_and_saves_changes(clerk, factory):
    service = factory.service(amount="100.00", description="Before")
    form = clerk.get(f"/services/{service.id}/edit").get_data(as_text=True)
    assert 'value="100.00"' in form and ">Before</textarea>" in form
    response = clerk.post(
        f"/services/{service.id}/edit", data=form_data(amount="250.50", description="After")
    )
    assert response.status_code == 302
    db.session.refresh(service)
    assert service.amount == Decimal("250.50")
    assert service.description == "After"


def test_an_invalid_edit_keeps_the_typed_values_and_changes_nothing(clerk, factory):
    service = factory.service(amount="100.00")
    response = clerk.post(f"/services/{service.id}/edit", data=form_data(amount="-5"))
    assert response.status_code == 400
    assert 'value="-5"' in response.get_data(as_text=True)
    db.session.refresh(service)
    assert service.amount == Decimal("100.00")


def test_a_service_sent_to_billing_cannot_be_edited(clerk, factory):
    pending = factory.pendings(1)[0]
    response = clerk.post(f"/services/{pending.service_id}/edit", data=form_data(amount="9.99"))
    assert response.status_code == 302
    page = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert "only a service still Created can be edited" in page
    assert db.session.get(Service, pending.service_id).amount == Decimal("1210.00")


def test_an_unknown_service_is_a_404_page(clerk):
    response = clerk.get("/services/999999/edit")
    assert response.status_code == 404
    assert "Service 999999 does not exist" in response.get_data(as_text=True)


# Delete --------------------------------------------------------------------------------------


def test_delete_asks_for_confirmation_on_its_own_page(clerk, factory):
    service = factory.service()
    html = clerk.get(f"/services/{service.id}/delete").get_data(as_text=True)
    assert f"Delete service {service.id}?" in html
    assert re.search(r'<form method="post"[^>]*>\s*<input type="hidden" name="csrf_token"', html)
    assert db.session.get(Service, service.id) is not None


def test_the_list_marks_delete_links_for_a_javascript_confirmation(clerk, factory):
    service = factory.service()
    html = clerk.get("/services/").get_data(as_text=True)
    assert re.search(
        rf'href="/services/{service.id}/delete" class="danger" data-post data-confirm="[^"]+"',
        html,
    )


def test_deleting_removes_the_service(clerk, factory):
    service = factory.service()
    response = clerk.post(f"/services/{service.id}/delete")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Service, service.id) is None
    assert clerk.get(f"/services/{service.id}").status_code == 404


def test_a_service_in_billing_is_not_deleted(clerk, factory):
    pending = factory.pendings(1)[0]
    response = clerk.post(f"/services/{pending.service_id}/delete", follow_redirects=True)
    assert "only a service still Created can be deleted" in response.get_data(as_text=True)
    assert db.session.get(Service, pending.service_id) is not None


# Send to billing -----------------------------------------------------------------------------


def test_sending_the_selected_services_to_billing(clerk, factory):
    first, second, untouched = factory.service(), factory.service(), factory.service()
    response = clerk.post(
        "/services/send-to-billing?customerId=1001", data={"ids": [first.id, second.id]}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/services/?customerId=1001")
    db.session.expire_all()
    assert db.session.get(Service, first.id).status == ServiceStatus.SENT_TO_BILL
    assert db.session.get(Service, second.id).status == ServiceStatus.SENT_TO_BILL
    assert db.session.get(Service, untouched.id).status == ServiceStatus.CREATED
    flash = clerk.get("/services/").get_data(as_text=True)
    assert "2 services sent to billing." in flash


def test_sending_refuses_all_when_one_cannot_go_and_lists_why_on_the_list(clerk, factory):
    sent = factory.pendings(1)[0].service_id
    fresh = factory.service()
    response = clerk.post(
        "/services/send-to-billing?status=CREATED", data={"ids": [fresh.id, sent]}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/services/?status=CREATED")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    [banner] = re.findall(r'<p class="flash flash-error">(.*?)</p>', html)
    assert banner == (
        f"1 of 2 services cannot be sent to billing; nothing was sent: "
        f"#{sent} is Sent to billing, not Created."
    )
    db.session.expire_all()
    assert db.session.get(Service, fresh.id).status == ServiceStatus.CREATED
    assert db.session.scalar(db.select(db.func.count()).select_from(BillingPending)) == 1


def test_sending_nothing_redirects_to_the_list_saying_to_select_rows(clerk, factory):
    factory.service()
    response = clerk.post("/services/send-to-billing?customerId=1001", data={})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/services/?customerId=1001")
    html = clerk.get(response.headers["Location"]).get_data(as_text=True)
    assert '<p class="flash flash-error">Nothing was selected</p>' in html


def test_only_created_services_offer_a_checkbox(clerk, factory):
    created = factory.service()
    sent = factory.pendings(1)[0].service_id
    html = clerk.get("/services/").get_data(as_text=True)
    assert f'name="ids" value="{created.id}"' in html
    assert f'name="ids" value="{sent}"' not in html


# Roles ----------------------------------------------------------------------------------------


def test_a_viewer_sees_the_list_without_any_control_that_changes_data(client, auth, factory):
    service = factory.service()
    auth.login("viewer")
    html = client.get("/services/").get_data(as_text=True)
    assert row_ids(html) == [service.id]
    assert 'name="ids"' not in html
    assert "Send selected to billing" not in html
    assert "/services/new" not in html
    assert f"/services/{service.id}/edit" not in html
    assert f"/services/{service.id}/delete" not in html
    detail = client.get(f"/services/{service.id}").get_data(as_text=True)
    assert "/edit" not in detail and "/delete" not in detail


def test_a_viewer_is_not_offered_the_forms_it_cannot_submit(client, auth, factory):
    service = factory.service()
    auth.login("viewer")
    for path in ("/services/new", f"/services/{service.id}/edit", f"/services/{service.id}/delete"):
        response = client.get(path)
        assert response.status_code == 403, path
        assert '<form method="post" class="card form"' not in response.get_data(as_text=True)


def test_a_service_already_sent_to_billing_offers_no_edit_or_delete_form(clerk, factory):
    service_id = factory.pendings(1)[0].service_id
    for path, verb in (("edit", "edited"), ("delete", "deleted")):
        response = clerk.get(f"/services/{service_id}/{path}")
        assert response.status_code == 302
        assert response.headers["Location"].endswith(f"/services/{service_id}")
        html = clerk.get(response.headers["Location"]).get_data(as_text=True)
        assert f"only a service still Created can be {verb}" in html
        assert f"/services/{service_id}/edit" not in html
        assert f"/services/{service_id}/delete" not in html


def test_a_service_with_billing_history_offers_edit_but_no_delete(clerk, factory):
    from webapp.billing import pendings

    pending = factory.pendings(1)[0]
    pendings.cancel_pending("tests", pending.id)
    html = clerk.get(f"/services/{pending.service_id}").get_data(as_text=True)
    assert f"/services/{pending.service_id}/edit" in html
    assert f"/services/{pending.service_id}/delete" not in html
    response = clerk.get(f"/services/{pending.service_id}/delete")
    assert response.status_code == 302
    assert "kept for the audit trail" in clerk.get(response.headers["Location"]).get_data(
        as_text=True
    )


def test_a_viewer_cannot_create_edit_delete_or_send(client, auth, factory):
    service = factory.service()
    auth.login("viewer")
    assert client.post("/services/new", data=form_data()).status_code == 403
    assert client.post(f"/services/{service.id}/edit", data=form_data()).status_code == 403
    assert client.post(f"/services/{service.id}/delete").status_code == 403
    assert client.post("/services/send-to-billing", data={"ids": [service.id]}).status_code == 403
    assert db.session.scalar(db.select(db.func.count()).select_from(Service)) == 1
