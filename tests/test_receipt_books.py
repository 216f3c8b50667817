"""Receipt books beside the tax authority's: each book's figures on the API and its page, and
reconciling a book the authority is ahead on, which brings the vouchers another system issued
on it in as invoices issued outside Lote (DESIGN section 11, "Check before calling")."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import customer_cuit, sign_in
from webapp.billing import clock, erp, invoices, tax_book
from webapp.billing.cae import AuthorizationRequest, VoucherDetail
from webapp.billing.errors import Conflict
from webapp.billing.messages import english, read_stored
from webapp.extensions import db
from webapp.models import AuditEvent, BatchStatus, Invoice, ReceiptBook

BOOKS = "/api/billing-batches/receipt-books"
RECONCILE = "/api/billing-batches/receipt-books/A-0001/reconcile"


@pytest.fixture
def authority(app):
    return app.extensions["lote.cae"]


@pytest.fixture
def ahead(app, factory, users, authority):
    """A-0001 after Lote issued invoices 1 and 2 and another system vouchers 3 to 5."""
    factory.batch(factory.pendings(2))
    authority.advance(1, 1, 3, clock.today())
    return authority


def book_a(client, headers) -> dict:
    response = client.get(BOOKS, headers=headers)
    assert response.status_code == 200
    return next(book for book in response.get_json() if book["receiptBook"] == "A-0001")


def english_page(client, username: str, url: str = "/receipt-books/") -> str:
    sign_in(client, username)
    client.post("/language", data={"lang": "en"})
    response = client.get(url)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html)


def test_a_book_in_step_shows_the_same_last_number_in_lote_and_at_the_authority(
    client, factory, token
):
    factory.batch(factory.pendings(2))

    assert book_a(client, token("viewer")) == {
        "receiptBook": "A-0001",
        "pointOfSale": 1,
        "documentType": 1,
        "lastNumber": 2,
        "lastIssueDate": clock.today().isoformat(),
        "nextInvoiceNumber": "A-0001-00000003",
        "authorityLastNumber": 2,
        "inStep": True,
        "heldByBatchId": None,
        "inFlight": False,
        "adoptedNumber": None,
    }


def test_a_book_the_authority_moved_ahead_shows_out_of_step_with_both_numbers(client, ahead, token):
    book = book_a(client, token("viewer"))
    assert (book["lastNumber"], book["authorityLastNumber"], book["inStep"]) == (2, 5, False)

    html = english_page(client, "viewer")
    row = re.search(r"<tr>\s*<th scope=\"row\">A-0001</th>(.*?)</tr>", html, re.S).group(1)
    assert "Out of step" in row
    assert re.search(r'<td class="num">2</td>\s*<td class="num">5</td>', row)
    assert "/receipt-books/A-0001/reconcile" not in html  # a viewer gets no reconcile action


def test_the_page_is_in_the_navigation_of_every_role_and_offers_reconcile_to_an_admin(
    client, ahead
):
    for username in ("viewer", "clerk"):
        html = english_page(client, username, "/")
        assert 'href="/receipt-books/"' in html
        assert "/receipt-books/A-0001/reconcile" not in english_page(client, username)
        client.post("/logout")
    assert 'href="/receipt-books/A-0001/reconcile"' in english_page(client, "admin")


def test_reconciling_brings_the_authoritys_vouchers_in_as_invoices_issued_outside_lote(
    app, client, factory, ahead, token
):
    response = client.post(RECONCILE, headers=token("admin"))

    assert response.status_code == 200
    body = response.get_json()
    assert (body["firstNumber"], body["lastNumber"], body["count"], body["remaining"]) == (
        3,
        5,
        3,
        0,
    )
    assert (body["receiptBook"]["lastNumber"], body["receiptBook"]["inStep"]) == (5, True)
    outside = db.session.scalars(
        select(Invoice).where(Invoice.issued_outside).order_by(Invoice.sequence_number)
    ).all()
    assert [i.invoice_number for i in outside] == [f"A-0001-0000000{n}" for n in (3, 4, 5)]
    assert [i.cae for i in outside] == [ahead.lookup(1, 1, n).cae for n in (3, 4, 5)]
    first = outside[0]
    assert (first.amount, first.net_amount, first.vat_amount, first.vat_rate) == (
        Decimal("100.00"),
        Decimal("100.00"),
        Decimal("0.00"),
        None,
    )
    assert (first.pending_id, first.service_id, first.batch_id, first.customer_id) == (None,) * 4
    assert (first.receiver_name, first.receiver_doc_type) == ("Issued outside Lote", 99)
    assert book_a(client, token("viewer"))["inStep"] is True
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "reconciled"))
    detail = english(read_stored(event.detail))
    assert (event.actor, detail) == ("admin", "A-0001: vouchers 3 to 5 issued outside Lote")

    batch = factory.batch(factory.pendings(1))
    db.session.refresh(batch)
    assert batch.status == BatchStatus.PROCESSED
    assert batch.first_invoice_number == "A-0001-00000006"


def test_an_admin_reconciles_on_the_page_after_a_confirmation_with_the_csrf_token(
    make_app, users, factory
):
    app = make_app(WTF_CSRF_ENABLED=True)
    with app.app_context():
        factory.batch(factory.pendings(2))
        app.extensions["lote.cae"].advance(1, 1, 3, clock.today())
        client = app.test_client()
        sign_in(client, "admin")
        english = {"Accept-Language": "en"}
        confirmation = client.get("/receipt-books/A-0001/reconcile", headers=english)
        confirmation = confirmation.get_data(as_text=True)
        assert "Reconcile receipt book A-0001?" in confirmation
        assert re.search(r"<dd class=\"num\">2</dd>.*<dd class=\"num\">5</dd>", confirmation, re.S)
        token = re.search(r'name="csrf_token" value="([^"]+)"', confirmation).group(1)

        refused = client.post("/receipt-books/A-0001/reconcile")
        assert refused.status_code == 400
        done = client.post(
            "/receipt-books/A-0001/reconcile",
            data={"csrf_token": token},
            headers=english,
            follow_redirects=True,
        )

        html = done.get_data(as_text=True)
        assert flashes(html) == ["Receipt book A-0001: 3 vouchers issued outside Lote brought in."]
        assert "In step" in html
        assert db.session.get(ReceiptBook, "A-0001").last_number == 5


@pytest.mark.parametrize("role", ["clerk", "viewer"])
def test_only_an_admin_reconciles_a_book(client, ahead, token, role):
    response = client.post(RECONCILE, headers=token(role))
    assert response.status_code == 403
    assert response.get_json()["statusCode"] == 403
    sign_in(client, role)
    assert client.get("/receipt-books/A-0001/reconcile").status_code == 403
    assert client.post("/receipt-books/A-0001/reconcile").status_code == 403
    assert db.session.get(ReceiptBook, "A-0001").last_number == 2
    assert not db.session.scalar(select(Invoice).where(Invoice.issued_outside))


def test_an_authority_that_does_not_answer_shows_the_figures_unknown_and_refuses_reconciling(
    client, ahead, token
):
    ahead.failure_rate = 1.0

    book = book_a(client, token("viewer"))
    assert (book["lastNumber"], book["authorityLastNumber"], book["inStep"]) == (2, None, None)
    assert "unknown" in english_page(client, "viewer")
    refused = client.post(RECONCILE, headers=token("admin"))
    assert refused.status_code == 503
    assert refused.get_json()["message"] == "The tax authority did not answer; try again later"
    assert db.session.get(ReceiptBook, "A-0001").last_number == 2


def test_a_book_the_authority_is_behind_on_cannot_be_reconciled_by_lote(
    client, factory, users, authority, token
):
    factory.batch(factory.pendings(2))
    authority.forget_everything()

    refused = client.post(RECONCILE, headers=token("admin"))

    assert refused.status_code == 409
    assert refused.get_json()["message"] == (
        "Receipt book A-0001 is ahead of the tax authority: Lote's last number is 2, the "
        "authority's is 0; Lote cannot reconcile a book the authority is behind on, check it "
        "with the authority"
    )
    assert db.session.get(ReceiptBook, "A-0001").last_number == 2


def test_a_book_in_step_or_with_a_call_in_flight_is_not_reconciled(
    client, factory, users, authority, token
):
    factory.batch(factory.pendings(2))
    in_step = client.post(RECONCILE, headers=token("admin"))
    assert in_step.status_code == 409
    assert "is in step with the tax authority (last number 2)" in in_step.get_json()["message"]

    authority.lost_answer_rate = 1.0
    factory.batch(factory.pendings(1))
    authority.lost_answer_rate = 0.0
    assert book_a(client, token("viewer"))["inFlight"] is True
    in_flight = client.post(RECONCILE, headers=token("admin"))
    assert in_flight.status_code == 409
    assert "has a call to the tax authority in flight" in in_flight.get_json()["message"]


def test_a_reconciliation_brings_in_at_most_the_configured_vouchers_at_a_time(
    make_app, users, factory
):
    app = make_app(RECONCILE_MAX_VOUCHERS=2)
    with app.app_context():
        factory.batch(factory.pendings(2))
        app.extensions["lote.cae"].advance(1, 1, 3, clock.today())
        client = app.test_client()
        headers = {"Authorization": client.post(
            "/api/auth/login", json={"username": "admin", "password": "correct-horse-9"}
        ).get_json()["accessToken"]}  # fmt: skip
        headers["Authorization"] = f"Bearer {headers['Authorization']}"

        first = client.post(RECONCILE, headers=headers).get_json()
        second = client.post(RECONCILE, headers=headers).get_json()

    assert (first["firstNumber"], first["lastNumber"], first["remaining"]) == (3, 4, 1)
    assert (second["firstNumber"], second["lastNumber"], second["remaining"]) == (5, 5, 0)


def test_a_voucher_issued_outside_lote_to_a_customers_document_is_that_customers(
    app, factory, users, authority
):
    from webapp.billing.books import reconcile_book

    factory.batch(factory.pendings(1))
    day = clock.today()
    authority.authorize(
        AuthorizationRequest(
            1,
            1,
            (
                VoucherDetail(
                    doc_tipo=80,
                    doc_nro=int(customer_cuit(1001)),
                    cbte_desde=2,
                    cbte_hasta=2,
                    cbte_fch=day,
                    imp_total=Decimal("50.00"),
                    imp_neto=Decimal("50.00"),
                    imp_iva=Decimal("0.00"),
                    imp_op_ex=Decimal("0.00"),
                    fch_serv_desde=day,
                    fch_serv_hasta=day,
                    fch_vto_pago=day + timedelta(30),
                    condicion_iva_receptor_id=1,
                ),
            ),
        )
    )

    reconcile_book("admin", "A-0001")

    invoice = db.session.scalar(select(Invoice).where(Invoice.issued_outside))
    assert (invoice.customer_id, invoice.receiver_doc_number) == (1001, customer_cuit(1001))
    totals = {c.customer_id: c.count for c in invoices.invoice_statistics().by_customer}
    assert totals == {1001: 2}


def test_invoices_issued_outside_lote_are_listed_and_counted_but_not_synced_nor_booked(
    client, ahead, token
):
    from webapp.billing.books import reconcile_book

    reconcile_book("admin", "A-0001")
    outside = db.session.scalar(select(Invoice).where(Invoice.sequence_number == 3))

    listed = client.get("/api/invoices?limit=10", headers=token("viewer")).get_json()
    assert listed["total"] == 5
    stats = client.get("/api/invoices/statistics", headers=token("viewer")).get_json()
    assert (stats["totalInvoices"], stats["totalAmount"]) == (5, "2720.00")
    assert {"customerId": None, "count": 3, "totalAmount": "300.00"} in stats["byCustomer"]
    html = english_page(client, "viewer", "/invoices/")
    assert html.count("Issued outside Lote") == 3
    assert "No customer" in english_page(client, "viewer", "/invoices/statistics")
    csv_lines = client.get("/invoices/export.csv").get_data(as_text=True).splitlines()
    assert csv_lines[3].startswith("A-0001-00000003,A-0001,")
    assert client.get("/invoices/export.xlsx").status_code == 200
    page = english_page(client, "viewer", f"/invoices/{outside.id}")
    assert "Issued outside Lote, on this book, by another system" in page
    assert "/pdf" not in page
    assert client.get(f"/invoices/{outside.id}/pdf").status_code == 409

    with pytest.raises(Conflict, match="Invoice A-0001-00000003 was issued outside Lote"):
        erp.preview(invoice_ids=[outside.id])
    records = list(tax_book.tax_book(clock.today().strftime("%Y-%m")).records("vouchers"))
    assert len(records) == 2

    invoices.rebuild_daily_totals()  # the kept totals, checked after the test, still add up


def test_the_page_speaks_spanish_to_a_spanish_reader(client, ahead):
    sign_in(client, "admin")
    html = client.get("/receipt-books/", headers={"Accept-Language": "es-AR"}).get_data(
        as_text=True
    )
    assert "<h1>Talonarios</h1>" in html
    assert "Desfasado" in html and "Conciliar" in html


def test_a_reconciliation_is_in_the_books_history_and_on_each_invoice_it_brought_in(
    client, ahead, token
):
    client.post(RECONCILE, headers=token("admin"))
    [outside] = db.session.scalars(
        select(Invoice).where(Invoice.issued_outside, Invoice.sequence_number == 4)
    ).all()
    sign_in(client, "admin")
    spanish = {"Accept-Language": "es-AR"}

    pages = [
        client.get(url, headers=spanish).get_data(as_text=True)
        for url in ("/receipt-books/", f"/invoices/{outside.id}")
    ]

    for html in pages:
        history = re.search(r'<section class="audit".*?</section>', html, re.S).group(0)
        text = " ".join(re.sub(r"<[^>]+>", " ", history).split())
        assert "admin Incorporado desde ARCA A-0001: comprobantes 3 a 5 emitidos fuera de Lote" in (
            text
        )
    assert "Emitida fuera de Lote" in pages[1]
    assert "Issued outside Lote" not in pages[1]
