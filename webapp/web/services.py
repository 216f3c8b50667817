"""Services: the filterable list, create and edit forms, delete, and send to billing."""

from decimal import Decimal

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import format_decimal, ngettext
from flask_babel import gettext as _

from webapp.auth import actor
from webapp.billing import audit, clock, customers, services
from webapp.billing.documents import EXEMPT, check_vat_rate
from webapp.billing.errors import Conflict, InvalidInput
from webapp.models import DEFAULT_VAT_RATE, VAT_RATES, ServiceStatus
from webapp.web import local_number
from webapp.web.forms import (
    FormState,
    date_or_raw,
    int_or_raw,
    local_amount,
    refusal_banner,
    refuse_viewers,
    run_listing,
    selected_ids,
)
from webapp.web.i18n import amount_text
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs, page_url_args

bp = Blueprint("services", __name__)
FIELDS = ("serviceDate", "customerId", "amount", "vatRate", "description")


def _filters(args: QueryArgs) -> services.ServiceFilters:
    return services.ServiceFilters(
        customer_id=args.int("customerId"),
        customer_name=args.text("customerName"),
        status=args.choice("status", ServiceStatus),
        date_from=args.date("dateFrom"),
        date_to=args.date("dateTo"),
    )


@bp.get("/")
def index():
    args = QueryArgs()
    filters = _filters(args)
    page, limit = args.page()
    result, filter_form, listing_status = run_listing(
        args, services.list_services, filters, page, limit
    )
    page_html = render_template(
        "services/index.html",
        result=result,
        filters=filter_form,
        statuses=list(ServiceStatus),
        customer_names=customers.names_of(s.customer_id for s in result.items) if result else {},
    )
    return page_html, listing_status


def _back_to_the_list():
    """Back to the list the clerk was looking at: its filters and page, read as the list reads
    them (Post/Redirect/Get)."""
    args = QueryArgs()
    _filters(args)
    args.page()
    return redirect(url_for("services.index", **page_url_args(exclude=None)))


@bp.post("/send-to-billing")
def send_to_billing():
    ids = selected_ids()
    try:
        pendings = services.send_to_billing(actor(), ids)
    except (InvalidInput, Conflict) as exc:
        flash(refusal_banner(exc), "error")
        return _back_to_the_list()
    flash(
        ngettext(
            "%(count)s service sent to billing. Group it into a batch on the Pendings page.",
            "%(count)s services sent to billing. Group them into a batch on the Pendings page.",
            len(pendings),
            count=local_number(len(pendings)),
        ),
        "success",
    )
    return _back_to_the_list()


def vat_rate_options() -> list[tuple[str, str]]:
    """The IVA rates a service may carry, as the clerk reads them: ``10,5 %`` in Spanish."""
    return [
        (
            rate,
            _("Exempt") if rate == EXEMPT else _("%(rate)s%%", rate=format_decimal(Decimal(rate))),
        )
        for rate in VAT_RATES
    ]


def _form_page(form: FormState, service):
    return render_template(
        "services/form.html", form=form, service=service, vat_rates=vat_rate_options()
    )


def _values_of(service) -> dict[str, str]:
    return {
        "serviceDate": service.service_date.isoformat(),
        "customerId": str(service.customer_id),
        "amount": amount_text(service.amount),
        "vatRate": service.vat_rate,
        "description": service.description,
    }


def _typed_fields(form: FormState) -> dict:
    """The form's fields for the domain. An amount the reader's locale cannot read is refused
    here, with its own message, and reaches the domain as None so nothing is saved."""
    return {
        "service_date": date_or_raw(form.values["serviceDate"]),
        "customer_id": int_or_raw(form.values["customerId"]),
        "amount": local_amount(form.values["amount"], form.errors, "amount"),
        "vat_rate": _chosen_rate(form.values.get("vatRate") or None, form.errors),
        "description": form.values["description"],
    }


def _chosen_rate(raw: str | None, errors: dict) -> str | None:
    """The IVA rate chosen; one the list does not offer (a crafted form) is refused with the
    rates as the list names them, and reaches the domain, which refuses it too."""
    try:
        check_vat_rate(raw)
    except ValueError:
        errors["vatRate"] = _(
            "Choose one of the listed rates: %(rates)s",
            rates=", ".join(label for _rate, label in vat_rate_options()),
        )
    return raw


@bp.route("/new", methods=["GET", "POST"])
def create():
    refuse_viewers()
    if request.method == "POST":
        return _register()
    form = FormState(values={"serviceDate": clock.today().isoformat(), "vatRate": DEFAULT_VAT_RATE})
    return _form_page(form, None)


def _register():
    form = FormState.from_request(*FIELDS)
    try:
        service = services.create_service(actor(), **_typed_fields(form))
    except InvalidInput as exc:
        return _form_page(form.fail(exc), None), 400
    flash(_("Service %(id)s registered.", id=service.id), "success")
    if request.form.get("then") == "another":
        return redirect(url_for("services.create"))
    return redirect(url_for("services.index"))


@bp.get("/<int:service_id>")
def show(service_id: int):
    service = services.get_service(service_id)
    try:
        services.refuse_unless_deletable(service)
        deletable = True
    except Conflict:
        deletable = False
    return render_template(
        "services/show.html",
        service=service,
        deletable=deletable,
        events=audit.events_for("service", service_id),
    )


@bp.route("/<int:service_id>/edit", methods=["GET", "POST"])
def edit(service_id: int):
    refuse_viewers()
    service = services.get_service(service_id)
    try:
        services.refuse_unless_editable(service, "edited")
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("services.show", service_id=service_id))
    if request.method == "POST":
        return _save(service)
    return _form_page(FormState(_values_of(service)), service)


def _save(service):
    service_id = service.id
    form = FormState.from_request(*FIELDS)
    try:
        services.update_service(actor(), service_id, **_typed_fields(form))
    except InvalidInput as exc:
        return _form_page(form.fail(exc), service), 400
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("services.show", service_id=service_id))
    flash(_("Service %(id)s saved.", id=service_id), "success")
    return redirect(url_for("services.show", service_id=service_id))


@bp.route("/<int:service_id>/delete", methods=["GET", "POST"])
def delete(service_id: int):
    refuse_viewers()
    if request.method == "POST":
        return _delete(service_id)
    service = services.get_service(service_id)
    try:
        services.refuse_unless_deletable(service)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("services.show", service_id=service_id))
    return render_template("services/delete.html", service=service)


def _delete(service_id: int):
    try:
        services.delete_service(actor(), service_id)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("services.show", service_id=service_id))
    flash(_("Service %(id)s deleted.", id=service_id), "success")
    return redirect(url_for("services.index"))
