"""Page views write only on POST. Any other method with a form body, HEAD included (werkzeug
answers HEAD with the GET view, and neither the role guard nor the CSRF protection checks it),
is a read or a 405, and leaves every table as it was."""

import re

import pytest

from tests.conftest import PASSWORD
from tests.web_checks import changed_tables, concrete_routes, database_fingerprint
from webapp.extensions import db

CSRF_INPUT = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
NOT_POST = ("HEAD", "PUT", "PATCH", "DELETE")


@pytest.fixture
def records(app, users, factory):
    """Records in every state a page write could change, named by the route variables."""
    from webapp.billing import clock, erp

    created = factory.service(customer_id=3003)
    free = factory.pendings(count=2, customer_id=2002)
    processed = factory.batch(factory.pendings(count=2))
    app.extensions["lote.cae"].failure_rate = 1.0
    failed = factory.batch(factory.pendings(count=1), receipt_book="A-0002")
    app.extensions["lote.cae"].failure_rate = 0.0
    # Another system used A-0001 once: the book is out of step, and reconciling it writes.
    app.extensions["lote.cae"].advance(1, 1, 1, clock.today())
    invoices = erp.preview(batch_id=processed.id).invoices
    sent = erp.sync("tests", invoice_ids=[invoices[0].id])
    known = {
        "service_id": created.id,
        "pending_id": free[0].id,
        "batch_id": failed.id,
        "invoice_id": invoices[0].id,
        "user_id": users["clerk"].id,
        "sync_id": sent.sync_id,
        "book": "A-0001",
        "number": invoices[0].invoice_number,
        "free_pendings": [p.id for p in free],
        "processed_batch": processed.id,
    }
    db.session.remove()
    return known


def form_body(records: dict, endpoint: str) -> dict:
    """A body that, POSTed with a valid token, makes the route's write succeed."""
    from webapp.billing import clock

    ids = records["free_pendings"] if endpoint.startswith("pendings.") else [records["service_id"]]
    return {
        "serviceDate": clock.today().isoformat(),
        "customerId": "4242",
        "amount": "99",
        "description": "written without a POST",
        "ids": [str(i) for i in ids],
        "issueDate": clock.today().isoformat(),
        "receiptBook": "A-0001",
        "batchId": str(records["processed_batch"]),
        "username": "intruder",
        "password": "a-long-enough-password-1",
        "role": "admin",
        "lang": "en",
    }


def signed_in(app, username: str):
    client = app.test_client()
    token = CSRF_INPUT.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post(
        "/login", data={"username": username, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302
    return client


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_no_method_but_post_writes_through_a_page(make_app, records, role):
    app = make_app(WTF_CSRF_ENABLED=True)
    client = signed_in(app, role)
    engine = db.engine
    before = database_fingerprint(engine)
    sent = 0
    for rule, url in concrete_routes(app, values=records, api=False):
        body = form_body(records, rule.endpoint)
        read = client.get(url)
        for method in NOT_POST:
            response = client.open(url, method=method, data=body)
            sent += 1
            if method == "HEAD":
                # A read: what GET answers at the URL (405 where no rule reads it), never a
                # write's redirect.
                assert response.status_code == read.status_code, (method, url)
                assert response.headers.get("Location") == read.headers.get("Location"), url
            else:
                assert response.status_code == 405, (method, url, response.status_code)
            changed = changed_tables(before, database_fingerprint(engine))
            assert not changed, f"{method} {url} as {role} changed {changed}"
    assert sent >= 4 * 30


def test_the_same_bodies_posted_with_a_token_do_write(make_app, records):
    """The walk above can fail: its bodies make these writes when POSTed as the forms do."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = signed_in(app, "admin")
    engine = db.engine
    for endpoint, url in [
        ("services.edit", f"/services/{records['service_id']}/edit"),
        ("pendings.cancel", f"/pendings/{records['pending_id']}/cancel"),
        ("users.create", "/users/new"),
        ("services.delete", f"/services/{records['service_id']}/delete"),
        ("receipt_books.reconcile", f"/receipt-books/{records['book']}/reconcile"),
    ]:
        token = CSRF_INPUT.search(client.get(url).get_data(as_text=True)).group(1)
        before = database_fingerprint(engine)
        response = client.post(url, data={**form_body(records, endpoint), "csrf_token": token})
        assert response.status_code == 302, (url, response.status_code)
        assert changed_tables(before, database_fingerprint(engine)), url
