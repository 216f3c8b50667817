"""Invoices: the filterable list, the printable invoice, statistics, and the CSV export of the
filtered list."""

import csv
import io
from datetime import date

from babel.dates import format_date
from flask import Blueprint, Response, render_template, stream_with_context
from flask_babel import get_locale
from flask_babel import gettext as _

from webapp.billing import audit, clock, invoices, services
from webapp.billing.money import as_text, parse_amount
from webapp.web.forms import FormState, local_amount, run_listing
from webapp.web.messages import domain_message
from webapp.web.rendering import QueryArgs

bp = Blueprint("invoices", __name__)
CSV_ROWS_PER_WRITE = 500


def _amount(args: QueryArgs, name: str):
    """An amount filter, typed the reader's way (``1.500,50`` in Spanish) and checked as money."""
    raw = args.text(name)
    if raw is None:
        return None
    amount = local_amount(raw, args.errors, name)
    if amount is None:
        return None
    try:
        return parse_amount(amount)
    except ValueError as exc:
        args.errors[name] = domain_message(str(exc))
        return None


def _filters(args: QueryArgs) -> invoices.InvoiceFilters:
    return invoices.InvoiceFilters(
        batch_id=args.int("batchId"),
        customer_id=args.int("customerId"),
        invoice_number=args.text("invoiceNumber"),
        receipt_book=args.text("receiptBook"),
        date_from=args.date("dateFrom"),
        date_to=args.date("dateTo"),
        min_amount=_amount(args, "minAmount"),
        max_amount=_amount(args, "maxAmount"),
    )


def _render_index(result, filter_form: FormState, status: int):
    return render_template("invoices/index.html", result=result, filters=filter_form), status


@bp.get("/")
def index():
    args = QueryArgs()
    filters = _filters(args)
    page, limit = args.page()
    return _render_index(*run_listing(args, invoices.list_invoices, filters, page, limit))


@bp.get("/<int:invoice_id>")
def show(invoice_id: int):
    invoice = invoices.get_invoice(invoice_id)
    return render_template(
        "invoices/show.html",
        invoice=invoice,
        service=services.get_service(invoice.service_id),
        events=audit.events_for("batch", invoice.batch_id),
    )


@bp.get("/statistics")
def statistics():
    args = QueryArgs()
    filters = _filters(args)
    stats, filter_form, status = run_listing(args, invoices.invoice_statistics, filters)
    return render_template("invoices/statistics.html", stats=stats, filters=filter_form), status


@bp.get("/export.csv")
def export():
    """The filtered list as CSV for spreadsheets: UTF-8 with a byte-order mark, amounts as plain
    decimals (1500.00) and ISO dates, streamed so a long list never sits in memory."""
    args = QueryArgs()
    filters = _filters(args)
    checked, filter_form, status = run_listing(args, filters.check)
    if status != 200:
        return _render_index(checked, filter_form, status)
    rows = invoices.iter_invoices(filters)
    filename = f"{_('invoices')}-{clock.today().isoformat()}.csv"
    return Response(
        stream_with_context(_csv_lines(rows)),
        content_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_lines(rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(
        [
            _("Invoice number"),
            _("Receipt book"),
            _("Issue date"),
            _("CAE"),
            _("CAE due date"),
            _("Customer"),
            _("Service"),
            _("Service date"),
            _("Net"),
            _("IVA"),
            _("Total"),
            _("Batch"),
        ]
    )
    for count, invoice in enumerate(rows, start=1):
        writer.writerow(
            [
                invoice.invoice_number,
                invoice.receipt_book,
                invoice.issue_date.isoformat(),
                invoice.cae,
                invoice.cae_due_date.isoformat(),
                invoice.customer_id,
                invoice.service_id,
                invoice.service_date.isoformat(),
                as_text(invoice.net_amount),
                as_text(invoice.vat_amount),
                as_text(invoice.amount),
                invoice.batch_id,
            ]
        )
        if count % CSV_ROWS_PER_WRITE == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@bp.app_template_filter("local_month")
def local_month(key: str) -> str:
    """A statistics month (``2026-01``) as the clerk reads it: ``Enero 2026``, ``January 2026``."""
    try:
        year, month = (int(part) for part in key.split("-"))
    except ValueError:
        return key
    label = format_date(date(year, month, 1), "LLLL yyyy", locale=str(get_locale()))
    return label[:1].upper() + label[1:]
