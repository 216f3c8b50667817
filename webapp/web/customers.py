"""Customers: the searchable list, create and complete forms, a customer's page with what it
owes, and the CSV import with its preview."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.auth import actor
from webapp.billing import customers, invoices, pendings, services
from webapp.billing.errors import Conflict, InvalidInput
from webapp.billing.messages import Message
from webapp.models import DocType, IvaCondition
from webapp.web import local_number
from webapp.web.forms import FormState, int_or_raw, refuse_viewers, run_listing
from webapp.web.rendering import QueryArgs

bp = Blueprint("customers", __name__)
FIELDS = (
    "legalName",
    "docType",
    "docNumber",
    "ivaCondition",
    "address",
    "email",
    "paymentDays",
)
RECENT = 10


def doc_type_label(code: int | None) -> str:
    if code is None:
        return ""
    return _(customers.DOC_TYPE_NAMES[DocType(code)])


def customer_name(legal_name: str, customer_id: int) -> str:
    """A customer's name as pages show it: one Lote only knows by the id a service gave is
    stored under an English placeholder, shown in the reader's language."""
    if legal_name == customers.placeholder_name(customer_id):
        return _("Customer %(id)s", id=customer_id)
    return legal_name


def doc_number(customer) -> str:
    """A customer's document number as lists show it: a CUIT or CUIL as ``30-50001091-2``."""
    return customers.format_doc_number(customer.doc_type, customer.doc_number)


def iva_condition_label(code: int | None) -> str:
    """The IVA condition as the clerk reads it: the catalog words the domain's English name.
    A value that is no code (a row of an import being previewed) is shown as it came."""
    if code not in set(IvaCondition):
        return "" if code is None else str(code)
    return _(customers.iva_condition_name(code))


def _options() -> dict:
    return {
        "doc_types": [(str(d.value), f"{d.value} · {doc_type_label(d)}") for d in DocType],
        "iva_conditions": [
            (str(c.value), f"{c.value} · {iva_condition_label(c)}") for c in IvaCondition
        ],
    }


@bp.get("/")
def index():
    args = QueryArgs()
    incomplete = {"yes": True, "no": False}.get(args.text("incomplete") or "")
    if args.text("incomplete") and incomplete is None:
        args.errors["incomplete"] = Message("field.not_a_known_value")
    filters = customers.CustomerFilters(
        search=args.text("search"),
        iva_condition=args.int("ivaCondition"),
        incomplete=incomplete,
    )
    page, limit = args.page()
    result, filter_form, status = run_listing(args, customers.list_customers, filters, page, limit)
    page_html = render_template(
        "customers/index.html", result=result, filters=filter_form, **_options()
    )
    return page_html, status


def _optional(raw: str):
    """A number left blank is not given; anything else goes to the domain to check."""
    return int_or_raw(raw) if raw else None


def _typed_fields(form: FormState) -> dict:
    fields = {
        "legal_name": form.values["legalName"],
        "doc_type": int_or_raw(form.values["docType"]),
        "doc_number": form.values["docNumber"],
        "iva_condition": _optional(form.values["ivaCondition"]),
        "address": form.values["address"],
        "email": form.values["email"],
    }
    if form.values["paymentDays"]:
        fields["payment_days"] = int_or_raw(form.values["paymentDays"])
    return fields


def _values_of(customer) -> dict[str, str]:
    return {
        "legalName": customer.legal_name,
        "docType": str(customer.doc_type),
        "docNumber": customers.format_doc_number(customer.doc_type, customer.doc_number),
        "ivaCondition": "" if customer.iva_condition is None else str(customer.iva_condition),
        "address": customer.address,
        "email": customer.email,
        "paymentDays": str(customer.payment_days),
    }


@bp.route("/new", methods=["GET", "POST"])
def create():
    refuse_viewers()
    if request.method != "POST":  # writes only on POST; HEAD reads like GET
        form = FormState(values={"docType": "80", "paymentDays": "30"})
        return render_template("customers/form.html", form=form, customer=None, **_options())
    form = FormState.from_request("customerId", *FIELDS)
    try:
        customer = customers.create_customer(
            actor(),
            customer_id=_optional(form.values["customerId"]),
            **_typed_fields(form),
        )
    except InvalidInput as exc:
        page = render_template(
            "customers/form.html", form=form.fail(exc), customer=None, **_options()
        )
        return page, 400
    except Conflict as exc:
        form.fail(exc)
        form.errors["customerId"] = form.message
        page = render_template("customers/form.html", form=form, customer=None, **_options())
        return page, 409
    flash(_("Customer %(id)s registered.", id=customer.id), "success")
    return redirect(url_for("customers.show", customer_id=customer.id))


@bp.get("/<int:customer_id>")
def show(customer_id: int):
    customer = customers.get_customer(customer_id)
    recent_services = services.list_services(
        services.ServiceFilters(customer_id=customer_id), 1, RECENT
    )
    recent_invoices = invoices.list_invoices(
        invoices.InvoiceFilters(customer_id=customer_id, document_types=invoices.ALL_TYPES),
        1,
        RECENT,
    )
    return render_template(
        "customers/show.html",
        customer=customer,
        balance=customers.balance_of(customer_id),
        rejected=pendings.rejected_pendings(customer_id=customer_id, limit=20),
        services=recent_services,
        invoices=recent_invoices,
    )


@bp.route("/<int:customer_id>/edit", methods=["GET", "POST"])
def edit(customer_id: int):
    refuse_viewers()
    customer = customers.get_customer(customer_id)
    if request.method != "POST":  # writes only on POST; HEAD reads like GET
        form = FormState(_values_of(customer))
        return render_template("customers/form.html", form=form, customer=customer, **_options())
    form = FormState.from_request(*FIELDS)
    try:
        customers.update_customer(actor(), customer_id, **_typed_fields(form))
    except InvalidInput as exc:
        page = render_template(
            "customers/form.html", form=form.fail(exc), customer=customer, **_options()
        )
        return page, 400
    flash(_("Customer %(id)s saved.", id=customer_id), "success")
    return redirect(url_for("customers.show", customer_id=customer_id))


@bp.route("/import", methods=["GET", "POST"])
def import_file():
    """Upload shows a preview of every row and its problems; nothing is stored until the
    preview is confirmed. The file's text travels in the preview's form, so it works without
    JavaScript and keeps nothing on the server in between."""
    refuse_viewers()
    if request.method != "POST":  # writes only on POST; HEAD reads like GET
        return render_template("customers/import.html", form=FormState(), rows=None, text="")
    upload = request.files.get("file")
    raw = upload.read(customers.IMPORT_MAX_BYTES + 1) if upload else b""
    form = FormState()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            text = ""
    try:
        rows = customers.read_import(text)
    except InvalidInput as exc:
        return render_template(
            "customers/import.html", form=form.fail(exc), rows=None, text=""
        ), 400
    return render_template(
        "customers/import.html",
        form=form,
        rows=rows,
        text=text,
        valid=sum(row.valid for row in rows),
    )


@bp.post("/import/confirm")
def confirm_import():
    text = request.form.get("text", "")
    try:
        stored, skipped = customers.import_customers(actor(), text)
    except InvalidInput as exc:
        return render_template(
            "customers/import.html", form=FormState().fail(exc), rows=None, text=""
        ), 400
    imported = ngettext(
        "%(count)s customer imported",
        "%(count)s customers imported",
        stored,
        count=local_number(stored),
    )
    omitted = ngettext(
        "%(count)s row skipped", "%(count)s rows skipped", skipped, count=local_number(skipped)
    )
    flash(_("%(imported)s; %(omitted)s.", imported=imported, omitted=omitted), "success")
    return redirect(url_for("customers.index"))
