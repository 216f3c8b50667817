"""The letter of each invoice is derived from issuer and receiver, each letter numbered on its own
book of the batch's point of sale, IVA at each service's rate, and the receiver kept as it was
(docs/rules.md rules 2, 4, 11 and 12)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.conftest import RecordingAuthority, customer_cuit
from tests.test_customers import field_errors
from webapp.billing import batches, clock, customers, invoicing
from webapp.billing.documents import letter_for
from webapp.billing.errors import Conflict, InvalidInput
from webapp.extensions import db
from webapp.models import BatchStatus, Invoice, IssuerIvaCondition, IvaCondition

# One customer of each IVA condition a receiver may have, with the document it needs.
RECEIVERS = {
    101: (IvaCondition.REGISTERED, 80),
    102: (IvaCondition.MONOTRIBUTO, 80),
    103: (IvaCondition.SOCIAL_MONOTRIBUTO, 80),
    104: (IvaCondition.PROMOTED_INDEPENDENT_MONOTRIBUTO, 80),
    105: (IvaCondition.EXEMPT, 80),
    106: (IvaCondition.FINAL_CONSUMER, 99),
    107: (IvaCondition.UNCATEGORIZED, 96),
    108: (IvaCondition.FOREIGN_SUPPLIER, 80),
    110: (IvaCondition.LIBERATED_LAW_19640, 80),
    115: (IvaCondition.NOT_REACHED, 80),
}
A_RECEIVERS = {101, 102, 103, 104}


def receiver(customer_id: int, condition: IvaCondition, doc_type: int):
    number = {80: customer_cuit(customer_id), 96: "30111222", 99: "0"}[doc_type]
    return customers.create_customer(
        "tests",
        customer_id=customer_id,
        legal_name=f"Receptor {customer_id}",
        doc_type=doc_type,
        doc_number=number,
        iva_condition=condition.value,
        address=f"Calle {customer_id}",
    )


@pytest.fixture
def every_receiver(app, factory):
    factory.issuer()
    for customer_id, (condition, doc_type) in RECEIVERS.items():
        receiver(customer_id, condition, doc_type)
    return {customer_id: factory.pendings(2, customer_id=customer_id) for customer_id in RECEIVERS}


def invoices_of(batch_id: int) -> list[Invoice]:
    return list(
        db.session.scalars(select(Invoice).where(Invoice.batch_id == batch_id).order_by(Invoice.id))
    )


@pytest.mark.parametrize(
    ("issuer", "condition", "letter"),
    [
        (IssuerIvaCondition.REGISTERED, IvaCondition.REGISTERED, "A"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.MONOTRIBUTO, "A"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.SOCIAL_MONOTRIBUTO, "A"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.PROMOTED_INDEPENDENT_MONOTRIBUTO, "A"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.EXEMPT, "B"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.FINAL_CONSUMER, "B"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.UNCATEGORIZED, "B"),
        (IssuerIvaCondition.REGISTERED, IvaCondition.NOT_REACHED, "B"),
        (IssuerIvaCondition.MONOTRIBUTO, IvaCondition.REGISTERED, "C"),
        (IssuerIvaCondition.EXEMPT, IvaCondition.FINAL_CONSUMER, "C"),
    ],
)
def test_the_letter_follows_issuer_and_receiver(issuer, condition, letter):
    assert letter_for(issuer, condition) == letter


def test_a_batch_for_a_point_of_sale_puts_each_letter_on_its_own_gapless_book(
    app, factory, every_receiver
):
    authority = RecordingAuthority(app)
    factory.batch(factory.pendings(3, customer_id=101), receipt_book="A-0003")
    ids = [p.id for pendings in every_receiver.values() for p in pendings]

    batch = batches.create_batch("tests", clock.today(), None, ids, point_of_sale=3)
    assert invoicing.process_batch(batch.id, final_attempt=True) == BatchStatus.PROCESSED

    issued = invoices_of(batch.id)
    by_book = {}
    for invoice in issued:
        by_book.setdefault(invoice.receipt_book, []).append(invoice)
        expected = "A" if invoice.customer_id in A_RECEIVERS else "B"
        assert invoice.letter == expected
        assert invoice.document_type == {"A": 1, "B": 6}[expected]
    assert [i.sequence_number for i in by_book["A-0003"]] == list(range(4, 12))
    assert [i.sequence_number for i in by_book["B-0003"]] == list(range(1, 13))
    assert {(r.pto_vta, r.cbte_tipo) for r in authority.requests[1:]} == {(3, 1), (3, 6)}
    answer = batches.batch_books(batch.id)
    assert [(b["receipt_book"], b["first_number"], b["last_number"]) for b in answer] == [
        ("A-0003", "A-0003-00000004", "A-0003-00000011"),
        ("B-0003", "B-0003-00000001", "B-0003-00000012"),
    ]


def test_a_named_book_refuses_with_the_reason_the_pendings_of_another_letter(
    app, factory, every_receiver
):
    ids = [every_receiver[101][0].id, every_receiver[106][0].id, every_receiver[102][0].id]
    with pytest.raises(Conflict) as refused:
        batches.create_batch("tests", clock.today(), "A-0001", ids)
    assert refused.value.english_details() == [
        {"id": every_receiver[106][0].id, "reason": "customer 106 takes a Factura B"}
    ]


def test_a_customer_abroad_is_refused_for_a_factura_e(app, factory):
    factory.issuer()
    customers.create_customer(
        "tests",
        customer_id=9,
        legal_name="Shipping Ltd",
        doc_type=80,
        doc_number=customer_cuit(9),
        iva_condition=9,
    )
    pending = factory.pendings(1, customer_id=9)[0]
    with pytest.raises(Conflict) as refused:
        batches.create_batch("tests", clock.today(), None, [pending.id], point_of_sale=1)
    assert "Factura E" in refused.value.english_details()[0]["reason"]


def test_an_incomplete_customer_is_refused_until_completed_as_an_unidentified_consumer(
    app, factory, client, token
):
    factory.issuer()
    service = factory.service(customer_id=1004, complete=False)
    from webapp.billing import services

    (pending,) = services.send_to_billing("tests", [service.id])
    body = {"issueDate": clock.today().isoformat(), "pointOfSale": 1, "pendingIds": [pending.id]}
    refused = client.post("/api/billing-batches/sync", json=body, headers=token())
    assert refused.status_code == 409
    assert refused.get_json()["details"] == [
        {"id": pending.id, "reason": "complete customer 1004 first"}
    ]

    completed = client.patch(
        "/api/customers/1004", json={"docType": 99, "ivaCondition": 5}, headers=token()
    )
    assert completed.status_code == 200
    created = client.post("/api/billing-batches/sync", json=body, headers=token())
    assert created.status_code == 201
    (book,) = created.get_json()["batch"]["books"]
    assert (book["receiptBook"], book["documentType"], book["authorized"]) == ("B-0001", 6, 1)
    invoice = client.get(
        f"/api/invoices/by-batch/{created.get_json()['batch']['id']}", headers=token()
    )
    (row,) = invoice.get_json()["data"]
    assert (row["letter"], row["documentType"], row["receiver"]["docType"]) == ("B", 6, 99)
    assert row["receiver"]["ivaCondition"] == 5


def test_iva_follows_each_services_rate_and_the_request_carries_it(app, factory):
    authority = RecordingAuthority(app)
    pendings = [
        factory.pendings(1, amount="1105.00", customer_id=101)[0],
        *[
            p
            for rate in ("exempt", "0", "27")
            for p in _pendings_at(factory, rate, customer_id=101, amount="127.00")
        ],
    ]
    batch = factory.batch(pendings, receipt_book="A-0001")
    rates = {i.vat_rate: i for i in invoices_of(batch.id)}
    assert set(rates) == {"21", "exempt", "0", "27"}
    assert (rates["exempt"].net_amount, rates["exempt"].exempt_amount) == (0, Decimal("127.00"))
    assert (rates["0"].net_amount, rates["0"].vat_amount) == (Decimal("127.00"), 0)
    assert (rates["27"].net_amount, rates["27"].vat_amount) == (Decimal("100.00"), Decimal("27.00"))
    details = {d.cbte_desde: d for d in authority.requests[0].details}
    exempt = details[rates["exempt"].sequence_number]
    assert (exempt.imp_op_ex, exempt.imp_iva, exempt.iva) == (Decimal("127.00"), 0, ())
    at_27 = details[rates["27"].sequence_number]
    assert [(v.id, v.base_imp, v.importe) for v in at_27.iva] == [
        (6, Decimal("100.00"), Decimal("27.00"))
    ]
    first = details[rates["21"].sequence_number]
    assert (first.concepto, first.doc_tipo, first.condicion_iva_receptor_id) == (2, 80, 1)
    assert first.doc_nro == int(customer_cuit(101))
    assert first.fch_serv_desde == first.fch_serv_hasta == rates["21"].service_date
    assert first.fch_vto_pago == batch.issue_date + timedelta(days=30)
    assert (first.mon_id, first.mon_cotiz) == ("PES", 1)


def _pendings_at(factory, rate, customer_id, amount):
    from webapp.billing import services

    service = factory.service(amount=amount, customer_id=customer_id, vat_rate=rate)
    return services.send_to_billing("tests", [service.id])


def test_a_monotributo_issuer_issues_c_invoices_without_iva(app, factory):
    factory.issuer(iva_condition="monotributo")
    authority = RecordingAuthority(app)
    pendings = factory.pendings(1, amount="1210.00", customer_id=101) + factory.pendings(
        1, amount="500.00", customer_id=8001
    )
    batch = batches.create_batch(
        "tests", clock.today(), None, [p.id for p in pendings], point_of_sale=2
    )
    invoicing.process_batch(batch.id, final_attempt=True)
    issued = invoices_of(batch.id)
    assert {(i.receipt_book, i.document_type, i.vat_rate) for i in issued} == {("C-0002", 11, None)}
    assert [(i.net_amount, i.vat_amount) for i in issued] == [
        (Decimal("1210.00"), 0),
        (Decimal("500.00"), 0),
    ]
    assert all(d.iva == () and d.imp_iva == 0 for d in authority.requests[0].details)
    with pytest.raises(InvalidInput) as refused:
        batches.create_batch("tests", clock.today(), "A-0002", [pendings[0].id])
    assert refused.value.english_details()[0]["message"] == "the issuer issues Factura C, not A"


def test_an_issued_invoice_keeps_its_receiver_when_the_customer_changes(app, factory):
    batch = factory.batch(factory.pendings(1, customer_id=101))
    customers.update_customer("tests", 101, legal_name="Otro nombre SA", address="Otra 1")
    (invoice,) = invoices_of(batch.id)
    db.session.refresh(invoice)
    assert (invoice.receiver_name, invoice.receiver_address) == ("Cliente 101", "")
    assert (invoice.receiver_doc_type, invoice.receiver_iva_condition) == (80, 1)


@pytest.mark.parametrize("rate", ["22", 21, "21%", "exento"])
def test_a_rate_not_in_the_list_is_a_400_naming_vat_rate(client, token, rate):
    body = {"serviceDate": clock.today().isoformat(), "customerId": 5, "amount": "10.00"}
    response = client.post("/api/services", json={**body, "vatRate": rate}, headers=token())
    assert response.status_code == 400
    assert set(field_errors(response)) == {"vatRate"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"pointOfSale": 0}, "pointOfSale"),
        ({"pointOfSale": 100}, "pointOfSale"),
        ({"pointOfSale": "1"}, "pointOfSale"),
        ({"receiptBook": "A-0001", "pointOfSale": 2}, "pointOfSale"),
        ({"receiptBook": "B-0150"}, "receiptBook"),
    ],
)
def test_a_point_of_sale_the_issuer_does_not_have_is_a_400_naming_it(
    client, token, factory, body, field
):
    pending = factory.pendings(1)[0]
    request = {"issueDate": clock.today().isoformat(), "pendingIds": [pending.id], **body}
    response = client.post("/api/billing-batches", json=request, headers=token())
    assert response.status_code == 400
    assert set(field_errors(response)) == {field}


def test_an_issued_invoice_keeps_its_issuer_when_the_issuers_settings_change(app, factory, clerk):
    from webapp.billing import issuer, printed

    batch = factory.batch(factory.pendings(1, customer_id=101))
    (invoice,) = invoices_of(batch.id)
    issuer.set_issuer("tests", legal_name="Otra Razón SA", address="Otra calle 9")

    kept = printed.printed_invoice(invoice.id).issuer
    assert (kept.legal_name, kept.address) == ("Lote Logística SA", "Av. Corrientes 1234, CABA")
    page = clerk.get(f"/invoices/{invoice.id}").get_data(as_text=True)
    assert "Lote Logística SA" in page and "Otra Razón SA" not in page
