"""How pages word things: counts in the singular and the plural, limits formatted for the
reader's locale, the signed-in user's role said once."""

import re

from webapp.billing import clock


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash flash-\w+">(.*?)</p>', html)


def test_a_batch_of_one_pending_is_worded_in_the_singular(clerk, factory):
    pending = factory.pendings(1)[0]
    response = clerk.post(
        "/pendings/batch",
        data={
            "issueDate": clock.today().isoformat(),
            "receiptBook": "A-0001",
            "scope": "selected",
            "ids": [pending.id],
        },
        follow_redirects=True,
    )
    [message] = flashes(response.get_data(as_text=True))
    assert re.fullmatch(r"Batch \d+ created with 1 pending\.", message)


def test_one_refused_service_is_worded_in_the_singular(clerk, factory):
    sent = factory.pendings(1)[0].service_id
    response = clerk.post("/services/send-to-billing", data={"ids": [sent]}, follow_redirects=True)
    [message] = flashes(response.get_data(as_text=True))
    assert message.startswith("1 of 1 service cannot be sent to billing; nothing was sent")


def test_the_amount_limit_is_formatted_for_the_locale(clerk):
    form = {"serviceDate": clock.today().isoformat(), "customerId": "7", "description": ""}
    english = clerk.post("/services/new", data={**form, "amount": "99999999999"})
    assert 'id="f-amount-error">must be at most $ 9,999,999,999.99</p>' in english.get_data(
        as_text=True
    )
    clerk.post("/language", data={"lang": "es"})
    spanish = clerk.post("/services/new", data={**form, "amount": "99999999999"})
    assert "$ 9.999.999.999,99</p>" in spanish.get_data(as_text=True)


def test_the_header_names_the_signed_in_user_and_role_once(client, auth):
    auth.login("admin")
    client.post("/language", data={"lang": "en"})
    html = client.get("/users/").get_data(as_text=True)
    assert '<span class="user">admin <span class="role">· Supervisor (admin)</span></span>' in html
    assert "(Supervisor (admin))" not in html


def test_the_erp_refusals_are_worded_in_spanish_naming_invoice_numbers(app, factory):
    from webapp.billing import erp
    from webapp.billing.errors import Conflict
    from webapp.web.labels import local_message

    batch = factory.batch()
    erp.sync("tests", batch_id=batch.id)
    ids = [i.id for i in erp.preview(batch_id=batch.id).invoices]
    refusals = []
    for attempt in (
        lambda: erp.sync("t", batch_id=batch.id, unsent_only=True),
        lambda: erp.sync("t", invoice_ids=ids[:1]),
        lambda: erp.sync("t", invoice_ids=ids),
    ):
        try:
            attempt()
        except Conflict as exc:
            refusals.append(exc.message)
    with app.test_request_context(headers={"Accept-Language": "es-AR"}):
        spanish = [local_message(message) for message in refusals]
    assert spanish == [
        f"Al lote {batch.id} no le queda ninguna factura por enviar al ERP",
        "La factura A-0001-00000001 ya se envió al ERP; no se envió nada",
        "3 facturas ya se enviaron al ERP (A-0001-00000001, A-0001-00000002, A-0001-00000003); "
        "no se envió nada",
    ]


def test_a_long_list_of_invoice_numbers_is_cut_and_counted_in_the_readers_language(app):
    from webapp.billing.erp import invoice_list
    from webapp.billing.messages import Message
    from webapp.web.labels import local_message

    numbers = [f"A-0001-{n:08d}" for n in range(1, 1201)]
    message = Message("erp.invoices_sent", count=1200, numbers=invoice_list(numbers))
    assert str(message) == (
        "1200 invoices were already sent to the ERP (A-0001-00000001, A-0001-00000002, "
        "A-0001-00000003, A-0001-00000004, A-0001-00000005 and 1195 more); nothing was sent"
    )
    with app.test_request_context(headers={"Accept-Language": "es-AR"}):
        assert local_message(message) == (
            "1.200 facturas ya se enviaron al ERP (A-0001-00000001, A-0001-00000002, "
            "A-0001-00000003, A-0001-00000004, A-0001-00000005 y 1.195 más); no se envió nada"
        )
