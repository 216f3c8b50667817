"""Amounts on pages are typed the reader's way: ``1500,50`` or ``1.500,50`` in Spanish,
``1500.50`` or ``1,500.50`` in English. Anything that could be read two ways is refused with what
it could mean, and no amount ever changes magnitude. The JSON API keeps ``"1500.50"``."""

from decimal import Decimal

import pytest

from tests.test_web_i18n import signed_in, spanish_app  # noqa: F401 (a fixture)
from tests.test_web_services import form_data
from webapp.extensions import db
from webapp.models import Service


def saved_amounts() -> list[Decimal]:
    return list(db.session.scalars(db.select(Service.amount).order_by(Service.id)))


@pytest.mark.parametrize("typed", ["1500,50", "1.500,50"])
def test_a_spanish_clerk_types_an_amount_with_a_decimal_comma(spanish_app, typed):  # noqa: F811
    response = signed_in(spanish_app).post("/services/new", data=form_data(amount=typed))
    assert response.status_code == 302
    assert saved_amounts() == [Decimal("1500.50")]


@pytest.mark.parametrize("typed", ["1500.50", "1,500.50"])
def test_an_english_clerk_types_an_amount_with_a_decimal_point(clerk, typed):
    assert clerk.post("/services/new", data=form_data(amount=typed)).status_code == 302
    assert saved_amounts() == [Decimal("1500.50")]


def test_an_amount_in_the_english_form_on_a_spanish_page_is_refused_naming_its_reading(
    spanish_app,  # noqa: F811
):
    response = signed_in(spanish_app).post("/services/new", data=form_data(amount="1500.50"))
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (
        'id="f-amount-error">“1500.50” no es como se escriben los importes aquí: '
        "¿quisiste decir 1.500,50?</p>"
    ) in html
    assert 'value="1500.50"' in html
    assert saved_amounts() == []


def test_a_comma_amount_on_an_english_page_is_refused_instead_of_growing_a_hundredfold(clerk):
    response = clerk.post("/services/new", data=form_data(amount="1500,50"))
    assert response.status_code == 400
    assert (
        'id="f-amount-error">“1500,50” is not how amounts are written here: '
        "did you mean 1,500.50?</p>"
    ) in response.get_data(as_text=True)
    assert saved_amounts() == []


@pytest.mark.parametrize(
    "typed, message",
    [
        ("1,500", "“1,500” could mean 1,500.00 or 1.50: type 1500 or 1.50"),
        ("1.500", "“1.500” could mean 1,500.00 or 1.50: type 1500 or 1.50"),
    ],
)
def test_an_ambiguous_amount_is_refused_with_both_readings(clerk, typed, message):
    response = clerk.post("/services/new", data=form_data(amount=typed))
    assert response.status_code == 400
    assert f'id="f-amount-error">{message}</p>' in response.get_data(as_text=True)
    assert saved_amounts() == []


def test_an_ambiguous_amount_in_spanish_is_worded_the_spanish_way(spanish_app):  # noqa: F811
    html = signed_in(spanish_app).post("/services/new", data=form_data(amount="1.500"))
    assert (
        'id="f-amount-error">“1.500” puede ser 1.500,00 o 1,50: escribí 1500 o 1,50</p>'
    ) in html.get_data(as_text=True)
    assert saved_amounts() == []


def test_the_amount_field_is_text_with_a_decimal_keypad_and_an_example(spanish_app):  # noqa: F811
    html = signed_in(spanish_app).get("/services/new").get_data(as_text=True)
    field = html[html.index('id="f-amount"') : html.index(">", html.index('id="f-amount"'))]
    assert 'type="text"' in field and 'inputmode="decimal"' in field
    assert "como 1.500,50" in html


def test_the_amount_example_is_in_each_reader_s_language_whoever_loaded_the_form_first(
    spanish_app,  # noqa: F811
):
    """The example is a filter of a constant: worked out when the template compiled, it would
    stay in the language of the first reader."""
    assert "such as 1,500.50" in signed_in(spanish_app, "en").get("/services/new").get_data(
        as_text=True
    )
    assert "como 1.500,50" in signed_in(spanish_app).get("/services/new").get_data(as_text=True)


def test_the_edit_form_prefills_the_amount_in_the_readers_form(spanish_app, factory):  # noqa: F811
    service = factory.service(amount="1500.50")
    client = signed_in(spanish_app)
    html = client.get(f"/services/{service.id}/edit").get_data(as_text=True)
    assert 'name="amount" type="text" value="1.500,50"' in html
    resubmitted = form_data(amount="1.500,50")
    assert client.post(f"/services/{service.id}/edit", data=resubmitted).status_code == 302
    assert saved_amounts() == [Decimal("1500.50")]


def test_invoice_amount_filters_read_the_readers_form(spanish_app, factory):  # noqa: F811
    factory.batch(factory.pendings(1, amount="1500.50"))
    factory.batch(factory.pendings(1, amount="99.00"))
    client = signed_in(spanish_app)
    html = client.get("/invoices/?minAmount=1.000,50").get_data(as_text=True)
    assert html.count("$ 1.500,50</td>") == 1 and "$ 99,00" not in html
    refused = client.get("/invoices/?maxAmount=1.000")
    assert refused.status_code == 400
    assert "“1.000” puede ser 1.000,00 o 1,00" in refused.get_data(as_text=True)


def test_the_api_keeps_amounts_with_a_decimal_point(client, token):
    body = {"serviceDate": "2026-01-10", "customerId": 1, "amount": "1500.50"}
    response = client.post("/api/services", json=body, headers=token())
    assert response.status_code == 201
    assert response.get_json()["amount"] == "1500.50"
    body["amount"] = "1500,50"
    assert client.post("/api/services", json=body, headers=token()).status_code == 400
