"""Credit and debit notes: of the corrected voucher's letter, on books of their own, through the
tax authority with the voucher they correct (CbtesAsoc), never more than the voucher's balance,
in the lists, statistics, ERP and tax book beside the invoices (docs/rules.md rule 13)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import RecordingAuthority
from webapp.billing import batches, clock, corrections, erp, invoicing
from webapp.billing.errors import Conflict, InvalidInput
from webapp.billing.messages import english
from webapp.extensions import db
from webapp.models import (
    BatchStatus,
    Correction,
    CorrectionStatus,
    Invoice,
    NoteKind,
    ReceiptBook,
)


@pytest.fixture
def invoice_a(factory):
    """A Factura A of 1210.00 at 21% to customer 1001 (A-0001-00000001)."""
    factory.batch(factory.pendings(1, amount="1210.00"))
    return db.session.scalar(select(Invoice).where(Invoice.receipt_book == "A-0001"))


def note_of(correction_id: int) -> Invoice | None:
    return db.session.scalar(select(Invoice).where(Invoice.correction_id == correction_id))


def ask(invoice, kind=NoteKind.CREDIT, amount=None, reason="Importe mal facturado", **kwargs):
    return corrections.request_note("tests", invoice.id, kind, amount, reason, **kwargs)


def test_a_whole_credit_note_cancels_the_invoice_on_its_own_book_naming_it(app, invoice_a):
    recorder = RecordingAuthority(app)
    asked = ask(invoice_a)

    db.session.refresh(asked.correction)
    assert asked.correction.status == CorrectionStatus.ISSUED
    note = note_of(asked.correction.id)
    assert note.invoice_number == "NC-A-0001-00000001"
    assert (note.document_type, note.receipt_book, note.point_of_sale) == (3, "NC-A-0001", 1)
    assert (note.amount, note.net_amount, note.vat_amount, note.vat_rate) == (
        invoice_a.amount,
        invoice_a.net_amount,
        invoice_a.vat_amount,
        "21",
    )
    assert note.corrects_invoice_id == invoice_a.id
    assert (note.receiver_name, note.receiver_doc_number) == (
        invoice_a.receiver_name,
        invoice_a.receiver_doc_number,
    )
    (request,) = recorder.requests
    assert (request.pto_vta, request.cbte_tipo) == (1, 3)
    (associated,) = request.details[0].cbtes_asoc
    assert (associated.tipo, associated.pto_vta, associated.nro) == (1, 1, 1)
    assert associated.cbte_fch == invoice_a.issue_date
    assert app.extensions["lote.cae"].last_authorized(1, 3) == 1
    assert db.session.get(ReceiptBook, "NC-A-0001").last_number == 1
    assert corrections.balance_of(invoice_a) == Decimal("0.00")
    db.session.refresh(asked.submission.batch)
    assert asked.submission.batch.status == BatchStatus.PROCESSED


def test_part_of_the_balance_is_credited_and_more_than_the_rest_is_a_conflict_naming_it(
    invoice_a,
):
    first = ask(invoice_a, amount=Decimal("121.00"))
    note = note_of(first.correction.id)
    assert (note.amount, note.net_amount, note.vat_amount) == (
        Decimal("121.00"),
        Decimal("100.00"),
        Decimal("21.00"),
    )
    assert corrections.balance_of(invoice_a) == Decimal("1089.00")

    with pytest.raises(Conflict) as refused:
        ask(invoice_a, amount=Decimal("1089.01"))
    assert english(refused.value.message) == (
        "The balance of A-0001-00000001 is 1089.00; credit at most that"
    )
    second = ask(invoice_a)
    assert note_of(second.correction.id).amount == Decimal("1089.00")
    assert note_of(second.correction.id).invoice_number == "NC-A-0001-00000002"
    with pytest.raises(Conflict, match="Nothing is left of A-0001-00000001"):
        ask(invoice_a, amount=Decimal("1.00"))


def test_a_credit_note_cannot_be_credited_and_a_note_takes_no_debit_note(invoice_a):
    credit = note_of(ask(invoice_a, amount=Decimal("10.00")).correction.id)
    with pytest.raises(Conflict, match="is a credit note; a credit note cannot be credited"):
        ask(credit)
    with pytest.raises(Conflict, match="a debit note is issued for an invoice"):
        ask(credit, kind=NoteKind.DEBIT, amount=Decimal("5.00"))


def test_a_debit_note_adds_a_charge_and_can_itself_be_credited(app, invoice_a):
    debit = ask(invoice_a, kind=NoteKind.DEBIT, amount=Decimal("242.00"), reason="Peaje")
    note = note_of(debit.correction.id)
    assert (note.invoice_number, note.document_type) == ("ND-A-0001-00000001", 2)
    assert (note.net_amount, note.vat_amount) == (Decimal("200.00"), Decimal("42.00"))
    # A debit note leaves the invoice's balance as it was.
    assert corrections.balance_of(invoice_a) == invoice_a.amount

    credit = ask(note, amount=Decimal("242.00"))
    credit_note = note_of(credit.correction.id)
    assert credit_note.invoice_number == "NC-A-0001-00000001"
    assert credit_note.corrects_invoice_id == note.id
    with pytest.raises(InvalidInput) as missing:
        ask(invoice_a, kind=NoteKind.DEBIT, amount=None)
    assert missing.value.details[0]["field"] == "amount"


def test_a_factura_b_and_a_factura_c_take_notes_of_their_letter(app, factory):
    factory.batch(factory.pendings(1, amount="1105.00", customer_id=8001), receipt_book="B-0001")
    invoice_b = db.session.scalar(select(Invoice))
    note_b = note_of(ask(invoice_b).correction.id)
    assert (note_b.invoice_number, note_b.document_type) == ("NC-B-0001-00000001", 8)

    factory.issuer(iva_condition="monotributo")
    factory.batch(factory.pendings(1, amount="500.00", customer_id=1002), receipt_book="C-0001")
    invoice_c = db.session.scalar(select(Invoice).where(Invoice.document_type == 11))
    note_c = note_of(ask(invoice_c, amount=Decimal("200.00")).correction.id)
    assert (note_c.invoice_number, note_c.document_type) == ("NC-C-0001-00000001", 13)
    assert (note_c.vat_amount, note_c.vat_rate, note_c.net_amount) == (
        Decimal("0.00"),
        None,
        Decimal("200.00"),
    )


def test_another_customers_voucher_a_blank_reason_and_a_date_before_the_voucher_are_refused(
    invoice_a,
):
    with pytest.raises(Conflict, match="A-0001-00000001 is billed to customer 1001"):
        ask(invoice_a, customer_id=1002)
    with pytest.raises(InvalidInput) as blank:
        ask(invoice_a, reason="   ")
    assert blank.value.english_details() == [{"field": "reason", "message": "is required"}]
    with pytest.raises(InvalidInput) as early:
        ask(invoice_a, issue_date=invoice_a.issue_date - timedelta(days=1))
    assert early.value.details[0]["field"] == "issueDate"
    assert db.session.scalar(select(Correction.id)) is None


def test_a_note_whose_answer_was_lost_is_found_by_asking_and_stored_once(app, invoice_a):
    authority = app.extensions["lote.cae"]
    authority.lost_answer_rate = 1.0
    asked = ask(invoice_a, amount=Decimal("100.00"))
    authority.lost_answer_rate = 0.0
    batch = asked.submission.batch
    db.session.refresh(batch)
    # The attempt failed unanswered: the batch waits for its retry, the voucher in flight.
    assert (batch.status, batch.attempts) == (BatchStatus.PENDING_PROCESSING, 1)
    assert note_of(asked.correction.id) is None
    assert authority.last_authorized(1, 3) == 1

    invoicing.process_batch(batch.id, final_attempt=True)  # as a retry would

    notes = db.session.scalars(select(Invoice).where(Invoice.document_type == 3)).all()
    assert [(n.sequence_number, n.cae) for n in notes] == [(1, authority.lookup(1, 3, 1).cae)]
    assert db.session.get(ReceiptBook, "NC-A-0001").last_number == 1
    db.session.refresh(asked.correction)
    assert asked.correction.status == CorrectionStatus.ISSUED


def test_the_authority_rejects_a_note_that_names_no_voucher(app):
    from tests.test_authority import call, detail

    answer = call(app.extensions["lote.cae"], 3, detail(1))
    assert [e.code for e in answer.details[0].observaciones] == [10197]


def test_a_whole_batch_is_credited_in_one_batch_of_notes(app, factory):
    pendings = factory.pendings(2, amount="1210.00")
    pendings += factory.pendings(1, amount="605.00", customer_id=8002)
    source = batches.create_batch("tests", clock.today(), None, [p.id for p in pendings], 1)
    invoicing.process_batch(source.id, final_attempt=True)
    first = db.session.scalar(select(Invoice).where(Invoice.batch_id == source.id))
    ask(first, amount=Decimal("10.00"))

    submission = corrections.credit_batch("tests", source.id, "Fecha de emisión errónea")

    batch = submission.batch
    db.session.refresh(batch)
    assert (batch.status, batch.kind, batch.pending_count) == (BatchStatus.PROCESSED, "notes", 3)
    notes = db.session.scalars(
        select(Invoice).where(Invoice.batch_id == batch.id).order_by(Invoice.invoice_number)
    ).all()
    assert [(n.invoice_number, n.amount) for n in notes] == [
        ("NC-A-0001-00000002", Decimal("1200.00")),
        ("NC-A-0001-00000003", Decimal("1210.00")),
        ("NC-B-0001-00000001", Decimal("605.00")),
    ]
    for invoice in db.session.scalars(select(Invoice).where(Invoice.batch_id == source.id)):
        assert corrections.balance_of(invoice) == Decimal("0.00")
    with pytest.raises(Conflict, match="Nothing is left of the invoices of batch"):
        corrections.credit_batch("tests", source.id, "Otra vez")
    with pytest.raises(Conflict, match="is a batch of notes"):
        corrections.credit_batch("tests", batch.id, "Notas")


def test_the_erp_entries_of_a_credit_note_mirror_its_invoice(invoice_a):
    note = note_of(ask(invoice_a).correction.id)
    invoice_entries = erp.document_for(invoice_a)["accountingEntries"]
    note_entries = erp.document_for(note)["accountingEntries"]
    assert [(e["accountCode"], e["debit"], e["credit"]) for e in note_entries] == [
        (e["accountCode"], e["credit"], e["debit"]) for e in invoice_entries
    ]


def test_lists_keep_invoices_and_statistics_add_the_credits_and_the_net(client, token, invoice_a):
    token = token()
    ask(invoice_a, amount=Decimal("210.00"))
    invoices_only = client.get("/api/invoices", headers=token).get_json()
    assert [i["invoiceNumber"] for i in invoices_only["data"]] == ["A-0001-00000001"]
    assert invoices_only["total"] == 1
    notes = client.get("/api/invoices?documentType=3", headers=token).get_json()
    assert [(i["invoiceNumber"], i["correctsInvoiceId"]) for i in notes["data"]] == [
        ("NC-A-0001-00000001", invoice_a.id)
    ]
    stats = client.get("/api/invoices/statistics", headers=token).get_json()
    assert (stats["totalInvoices"], stats["totalAmount"]) == (1, "1210.00")
    assert (stats["creditedAmount"], stats["debitedAmount"], stats["netAmount"]) == (
        "210.00",
        "0.00",
        "1000.00",
    )
    by_book = client.get("/api/invoices/statistics?receiptBook=A-0001", headers=token).get_json()
    assert by_book["creditedAmount"] == "210.00"
    bad = client.get("/api/invoices?documentType=4", headers=token)
    assert bad.status_code == 400
    assert bad.get_json()["details"][0]["field"] == "documentType"


def test_the_api_asks_for_a_credit_note_and_answers_409_over_the_balance(client, token, invoice_a):
    token = token()
    url = f"/api/invoices/{invoice_a.id}/credit-notes"
    created = client.post(url, json={"amount": "121.00", "reason": "Descuento"}, headers=token)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert (body["kind"], body["invoiceId"], body["amount"]) == ("credit", invoice_a.id, "121.00")
    assert body["batch"]["kind"] == "notes"

    over = client.post(url, json={"amount": "1089.01", "reason": "Descuento"}, headers=token)
    assert over.status_code == 409
    assert "1089.00" in over.get_json()["message"]
    no_reason = client.post(url, json={"amount": "1.00"}, headers=token)
    assert no_reason.status_code == 400
    unknown = client.post("/api/invoices/999999/credit-notes", json={"reason": "x"}, headers=token)
    assert unknown.status_code == 404

    listed = client.get(f"/api/invoices/{invoice_a.id}/notes", headers=token).get_json()
    assert listed["balance"] == "1089.00"
    assert [n["note"]["invoiceNumber"] for n in listed["notes"]] == ["NC-A-0001-00000001"]

    note_id = listed["notes"][0]["note"]["id"]
    of_note = client.post(
        f"/api/invoices/{note_id}/credit-notes", json={"reason": "x"}, headers=token
    )
    assert of_note.status_code == 409


def test_a_viewer_cannot_ask_for_a_note(client, users, invoice_a):
    from tests.conftest import bearer

    answer = client.post(
        f"/api/invoices/{invoice_a.id}/credit-notes",
        json={"reason": "x"},
        headers=bearer(client, "viewer"),
    )
    assert answer.status_code == 403
    assert db.session.scalar(select(Correction.id)) is None


def test_a_clerk_credits_from_the_invoice_page_and_sees_the_note_and_the_balance(clerk, invoice_a):
    client = clerk
    page = client.get(f"/invoices/{invoice_a.id}").get_data(as_text=True)
    assert "Credit note" in page and "data-balance>$ 1,210.00" in page

    refused = client.post(
        f"/invoices/{invoice_a.id}/credit-notes",
        data={"amount": "2000", "reason": "Descuento"},
    )
    assert refused.status_code == 409
    assert "credit at most that" in refused.get_data(as_text=True)

    done = client.post(
        f"/invoices/{invoice_a.id}/credit-notes",
        data={"amount": "121", "reason": "Descuento"},
    )
    assert done.status_code == 303
    batch_page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "NC-A-0001-00000001" in batch_page
    page = client.get(f"/invoices/{invoice_a.id}").get_data(as_text=True)
    assert "NC-A-0001-00000001" in page and "Descuento" in page
    assert "data-balance>$ 1,089.00" in page
    note = db.session.scalar(select(Invoice).where(Invoice.document_type == 3))
    printed = client.get(f"/invoices/{note.id}").get_data(as_text=True)
    assert "Nota de Crédito A" in printed and "Factura A 00001-00000001" in printed


def test_the_customers_page_lists_its_notes_and_its_total_is_net_of_credits(clerk, invoice_a):
    from webapp.billing import customers

    ask(invoice_a, amount=Decimal("210.00"))
    ask(invoice_a, kind=NoteKind.DEBIT, amount=Decimal("10.00"))
    balance = customers.balance_of(1001)
    assert (balance.invoice_count, balance.invoiced_amount) == (1, Decimal("1010.00"))
    page = clerk.get("/customers/1001").get_data(as_text=True)
    assert "NC-A-0001-00000001" in page and "ND-A-0001-00000001" in page


def test_a_clerk_credits_a_whole_batch_from_its_page_and_lists_the_notes(clerk, invoice_a):
    blank = clerk.post(f"/batches/{invoice_a.batch_id}/credit", data={"reason": " "})
    assert blank.status_code == 400
    assert "is required" in blank.get_data(as_text=True)
    done = clerk.post(f"/batches/{invoice_a.batch_id}/credit", data={"reason": "Mal fechado"})
    assert done.status_code == 303
    notes_page = clerk.get(done.headers["Location"]).get_data(as_text=True)
    assert "NC-A-0001-00000001" in notes_page and "Mal fechado" in notes_page

    invoices_only = clerk.get("/invoices/").get_data(as_text=True)
    assert "A-0001-00000001" in invoices_only and "NC-A-0001" not in invoices_only
    credit_notes = clerk.get("/invoices/?documents=credit-notes").get_data(as_text=True)
    assert "NC-A-0001-00000001" in credit_notes and ">A-0001-00000001<" not in credit_notes
    assert clerk.get("/invoices/?documents=refunds").status_code == 400


def test_the_statistics_page_shows_what_was_credited_and_the_net(clerk, invoice_a):
    ask(invoice_a, amount=Decimal("210.00"))
    page = clerk.get("/invoices/statistics").get_data(as_text=True)
    assert "data-credited>$ 210.00<" in page and "data-net>$ 1,000.00<" in page


def test_a_viewer_cannot_ask_for_a_note_from_the_pages(client, users, invoice_a):
    from tests.conftest import sign_in

    sign_in(client, "viewer")
    page = client.get(f"/invoices/{invoice_a.id}").get_data(as_text=True)
    assert "credit-notes" not in page
    for url in (f"/invoices/{invoice_a.id}/credit-notes", f"/batches/{invoice_a.batch_id}/credit"):
        assert client.post(url, data={"reason": "x", "amount": "1"}).status_code == 403
    assert db.session.scalar(select(Correction.id)) is None
