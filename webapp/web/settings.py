"""Settings (supervisors only): the issuer the invoices name."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.auth import actor, requires
from webapp.billing import issuer
from webapp.billing.errors import InvalidInput
from webapp.models import IssuerIvaCondition, Role
from webapp.web.customers import iva_condition_label
from webapp.web.forms import FormState, date_or_raw, int_or_raw

bp = Blueprint("settings", __name__)
FIELDS = (
    "legalName",
    "cuit",
    "ivaCondition",
    "iibbNumber",
    "activitiesStart",
    "address",
    "pointsOfSale",
)


@bp.before_request
@requires(Role.ADMIN)
def only_supervisors():
    """The issuer's settings are for supervisors, reads included."""


def _conditions() -> list[tuple[str, str]]:
    return [
        (c.value, iva_condition_label(issuer.AS_RECEIVER_CONDITION[c])) for c in IssuerIvaCondition
    ]


def _values_of(current) -> dict[str, str]:
    if current is None:
        return {"ivaCondition": IssuerIvaCondition.REGISTERED.value, "pointsOfSale": "1"}
    return {
        "legalName": current.legal_name,
        "cuit": issuer.format_cuit(current.cuit),
        "ivaCondition": current.iva_condition.value,
        "iibbNumber": current.iibb_number,
        "activitiesStart": current.activities_start.isoformat() if current.activities_start else "",
        "address": current.address,
        "pointsOfSale": ", ".join(str(p) for p in current.points_of_sale),
    }


def _typed_fields(form: FormState) -> dict:
    points = [p.strip() for p in form.values["pointsOfSale"].replace(";", ",").split(",")]
    return {
        "legal_name": form.values["legalName"],
        "cuit": form.values["cuit"],
        "iva_condition": form.values["ivaCondition"],
        "iibb_number": form.values["iibbNumber"],
        "activities_start": date_or_raw(form.values["activitiesStart"])
        if form.values["activitiesStart"]
        else None,
        "address": form.values["address"],
        "points_of_sale": [int_or_raw(p) for p in points if p],
    }


@bp.route("/issuer", methods=["GET", "POST"])
def issuer_settings():
    if request.method != "POST":  # writes only on POST; HEAD reads like GET
        form = FormState(_values_of(issuer.get_issuer()))
        return render_template("settings/issuer.html", form=form, conditions=_conditions())
    form = FormState.from_request(*FIELDS)
    try:
        issuer.set_issuer(actor(), **_typed_fields(form))
    except InvalidInput as exc:
        page = render_template(
            "settings/issuer.html", form=form.fail(exc), conditions=_conditions()
        )
        return page, 400
    flash(_("The issuer's settings were saved."), "success")
    return redirect(url_for("settings.issuer_settings"))
