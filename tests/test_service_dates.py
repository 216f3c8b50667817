"""A service date is a real day of work: from 2000 to a year ahead when registered, and never
after the issue date of the invoice that bills it."""

from datetime import date, timedelta

from tests.test_api_batches import create
from tests.test_web_services import form_data
from webapp.billing import clock
from webapp.extensions import db
from webapp.models import BillingBatch, Service


def service_body(service_date: date) -> dict:
    return {"serviceDate": service_date.isoformat(), "customerId": 7, "amount": "100.00"}


def test_the_api_refuses_a_service_date_outside_the_range_naming_it(client, token):
    latest = clock.today() + timedelta(days=365)
    for far in (date(2099, 1, 1), latest + timedelta(days=1), date(1999, 12, 31)):
        response = client.post("/api/services", json=service_body(far), headers=token())
        assert response.status_code == 400, far
        assert {"field": "serviceDate", "message": f"must be between 2000-01-01 and {latest}"} in (
            response.get_json()["details"]
        )
    for edge in (date(2000, 1, 1), latest):
        assert (
            client.post("/api/services", json=service_body(edge), headers=token()).status_code
            == 201
        )
    assert db.session.scalar(db.select(db.func.count()).select_from(Service)) == 2


def test_the_service_form_refuses_a_2099_date_with_the_range(clerk):
    latest = (clock.today() + timedelta(days=365)).strftime("%m/%d/%Y")
    response = clerk.post("/services/new", data=form_data(serviceDate="2099-01-05"))
    assert response.status_code == 400
    assert (
        f'id="f-serviceDate-error">must be between 01/01/2000 and {latest}</p>'
        in response.get_data(as_text=True)
    )
    assert db.session.scalar(db.select(db.func.count()).select_from(Service)) == 0


def test_editing_cannot_move_a_service_date_out_of_range(clerk, factory):
    service = factory.service()
    response = clerk.post(f"/services/{service.id}/edit", data=form_data(serviceDate="1990-05-01"))
    assert response.status_code == 400
    assert db.session.get(Service, service.id).service_date == service.service_date


def test_a_batch_refuses_pendings_dated_after_its_issue_date_naming_them(client, token, factory):
    tomorrow = clock.today() + timedelta(days=1)
    dated_before = factory.pendings(1)
    later = factory.service(days_ago=-1)
    from webapp.billing import services

    dated_after = services.send_to_billing("tests", [later.id])
    ids = [dated_before[0].id, dated_after[0].id]
    response = create(client, token(), ids)
    assert response.status_code == 409
    assert response.get_json()["details"] == [
        {
            "id": dated_after[0].id,
            "reason": f"service date {tomorrow} is after the issue date {clock.today()}",
        }
    ]
    assert db.session.scalar(db.select(db.func.count()).select_from(BillingBatch)) == 0
    assert create(client, token(), ids, issue_date=tomorrow).status_code == 201


def test_the_pendings_page_names_a_pending_dated_after_the_issue_date(clerk, factory):
    later = factory.service(days_ago=-3)
    from webapp.billing import services

    pending = services.send_to_billing("tests", [later.id])[0]
    response = clerk.post(
        "/pendings/batch",
        data={"issueDate": clock.today().isoformat(), "receiptBook": "A-0001", "ids": pending.id},
    )
    assert response.status_code == 409
    assert f"is after the issue date, {clock.today().strftime('%m/%d/%Y')}" in response.get_data(
        as_text=True
    )
