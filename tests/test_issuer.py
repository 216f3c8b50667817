"""The issuer: set by an admin on the settings page or with ``flask issuer``, checked like a
customer's CUIT; and the demo seed's issuer and customers."""

from datetime import date

import pytest
from sqlalchemy import select

from webapp.billing import issuer
from webapp.billing.errors import InvalidInput
from webapp.extensions import db
from webapp.models import Customer, Issuer, IssuerIvaCondition

VALID_CUIT = "30-50001091-2"


def stored_issuer() -> Issuer | None:
    db.session.expire_all()
    return db.session.get(Issuer, 1)


def settings_form(**overrides) -> dict:
    return {
        "legalName": "Logística del Plata SA",
        "cuit": VALID_CUIT,
        "ivaCondition": "responsable-inscripto",
        "iibbNumber": "901-123456-7",
        "activitiesStart": "2015-03-01",
        "address": "Av. Paseo Colón 1000, CABA",
        "pointsOfSale": "2, 1",
        **overrides,
    }


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    client.post("/language", data={"lang": "en"})
    return client


def test_the_first_issuer_needs_a_name_a_cuit_and_an_iva_condition(app):
    with pytest.raises(InvalidInput) as refused:
        issuer.set_issuer("tests", address="Perú 800")

    assert {d["field"] for d in refused.value.details} == {"legalName", "cuit", "ivaCondition"}
    assert stored_issuer() is None


def test_setting_the_issuer_keeps_the_fields_not_given(app):
    issuer.set_issuer(
        "tests", legal_name="Lote SA", cuit=VALID_CUIT, iva_condition="responsable-inscripto"
    )

    issuer.set_issuer("tests", address="Perú 800", points_of_sale=[3, 1, 3])

    current = stored_issuer()
    assert (current.legal_name, current.cuit, current.iva_condition) == (
        "Lote SA",
        "30500010912",
        IssuerIvaCondition.REGISTERED,
    )
    assert (current.address, current.points_of_sale) == ("Perú 800", [1, 3])


def test_the_issuer_cuit_and_condition_are_checked(app):
    with pytest.raises(InvalidInput) as refused:
        issuer.set_issuer(
            "tests", legal_name="Lote SA", cuit="30-50001091-3", iva_condition="consumidor"
        )

    assert {d["field"]: d["message"] for d in refused.value.english_details()} == {
        "cuit": "has a wrong check digit",
        "ivaCondition": "must be responsable-inscripto, monotributo or exento",
    }


def test_the_settings_page_saves_the_issuer(admin, users):
    assert admin.get("/settings/issuer").status_code == 200

    response = admin.post("/settings/issuer", data=settings_form())

    assert response.status_code == 302
    current = stored_issuer()
    assert (current.cuit, current.points_of_sale, current.activities_start) == (
        "30500010912",
        [1, 2],
        date(2015, 3, 1),
    )
    assert 'value="30-50001091-2"' in admin.get("/settings/issuer").get_data(as_text=True)


def test_the_settings_page_shows_errors_next_to_the_fields(admin, users):
    response = admin.post(
        "/settings/issuer", data=settings_form(cuit="3050001091", pointsOfSale="1, x")
    )

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="f-cuit-error">must have 11 digits<' in html
    assert 'id="f-pointsOfSale-error">must be whole numbers from 1 to 99,999<' in html
    assert stored_issuer() is None


@pytest.mark.parametrize("role", ["clerk", "viewer"])
def test_only_supervisors_open_the_issuer_settings(client, auth, role):
    auth.login(role)

    assert client.get("/settings/issuer").status_code == 403
    assert client.post("/settings/issuer", data=settings_form()).status_code == 403
    assert 'href="/settings/issuer"' not in client.get("/").get_data(as_text=True)


# CLI -----------------------------------------------------------------------------------------


def test_the_cli_sets_and_shows_the_issuer(app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "issuer", "set", "--name", "Lote SA", "--cuit", VALID_CUIT,
            "--iva-condition", "responsable-inscripto", "--activities-start", "2015-03-01",
            "--point-of-sale", "1", "--point-of-sale", "4",
        ]
    )  # fmt: skip
    assert result.exit_code == 0, result.output

    shown = runner.invoke(args=["issuer", "show"])

    assert shown.exit_code == 0, shown.output
    assert "CUIT: 30-50001091-2" in shown.output
    assert "IVA condition: responsable-inscripto (VAT registered)" in shown.output
    assert "Points of sale: 1, 4" in shown.output


def test_the_cli_refuses_a_wrong_cuit_with_the_reason(app):
    result = app.test_cli_runner().invoke(
        args=[
            "issuer",
            "set",
            "--name",
            "X",
            "--cuit",
            "30-50001091-3",
            "--iva-condition",
            "exento",
        ]
    )

    assert result.exit_code != 0
    assert "cuit has a wrong check digit" in result.output
    assert stored_issuer() is None


def test_issuer_show_without_an_issuer_says_how_to_set_one(app):
    result = app.test_cli_runner().invoke(args=["issuer", "show"])

    assert result.exit_code != 0
    assert "flask issuer set" in result.output


def test_the_demo_seed_sets_a_registered_issuer_and_customers_of_several_conditions(app):
    result = app.test_cli_runner().invoke(args=["seed"])
    assert result.exit_code == 0, result.output

    assert stored_issuer().iva_condition == IssuerIvaCondition.REGISTERED
    customers = db.session.scalars(select(Customer).order_by(Customer.id)).all()
    complete = {c.iva_condition for c in customers if not c.incomplete}
    assert complete == {1, 4, 5, 6}
    assert [c.id for c in customers if c.incomplete] == [1007]
