"""Invoices: the filterable list, the printable invoice and its PDF, statistics with the monthly
sales book (Libro IVA Digital), and the exports of the filtered list (CSV in the reader's locale,
and an Excel workbook with typed cells)."""

import csv
import enum
import io

from babel.numbers import get_decimal_symbol
from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from webapp.auth import actor
from webapp.billing import audit, clock, corrections, customers, invoices, printed, tax_book
from webapp.billing.errors import DomainError
from webapp.billing.messages import Message, message_of
from webapp.billing.money import parse_amount
from webapp.billing.tax_book import TaxBookFile
from webapp.downloads import attachment, invoice_pdf, tax_book_download
from webapp.models import CREDIT_NOTE_TYPES, DEBIT_NOTE_TYPES, INVOICE_TYPES, NoteKind
from webapp.web.batches import flash_queue_down
from webapp.web.forms import FormState, date_or_raw, local_amount, run_listing
from webapp.web.i18n import amount_text, current_language, local_date
from webapp.web.labels import local_message
from webapp.web.pendings import SUMMARY_CUSTOMERS
from webapp.web.rendering import QueryArgs

bp = Blueprint("invoices", __name__)
CSV_ROWS_PER_WRITE = 500
# The language of the invoice as a legal document (its PDF).


def _money(raw: str | None, errors: dict, name: str):
    """An amount typed the reader's way (``1.500,50`` in Spanish) and checked as money, or None
    with the reason in ``errors[name]``."""
    if raw is None:
        return None
    amount = local_amount(raw, errors, name)
    if amount is None:
        return None
    try:
        return parse_amount(amount)
    except ValueError as exc:
        errors[name] = local_message(message_of(exc))
        return None


def _amount(args: QueryArgs, name: str):
    """An amount filter."""
    return _money(args.text(name), args.errors, name)


class Vouchers(enum.StrEnum):
    """The list's ``documents`` filter: which voucher types it shows (invoices by default)."""

    INVOICES = "invoices"
    CREDIT_NOTES = "credit-notes"
    DEBIT_NOTES = "debit-notes"
    ALL = "all"


VOUCHER_TYPES = {
    Vouchers.INVOICES: INVOICE_TYPES,
    Vouchers.CREDIT_NOTES: CREDIT_NOTE_TYPES,
    Vouchers.DEBIT_NOTES: DEBIT_NOTE_TYPES,
    Vouchers.ALL: invoices.ALL_TYPES,
}
VOUCHER_LABELS = {
    Vouchers.INVOICES: _l("Invoices"),
    Vouchers.CREDIT_NOTES: _l("Credit notes"),
    Vouchers.DEBIT_NOTES: _l("Debit notes"),
    Vouchers.ALL: _l("All vouchers"),
}


def _filters(args: QueryArgs) -> invoices.InvoiceFilters:
    vouchers = args.choice("documents", Vouchers) or Vouchers.INVOICES
    return invoices.InvoiceFilters(
        document_types=VOUCHER_TYPES[vouchers],
        batch_id=args.int("batchId"),
        customer_id=args.int("customerId"),
        customer_name=args.text("customerName"),
        invoice_number=args.text("invoiceNumber"),
        receipt_book=args.text("receiptBook"),
        date_from=args.date("dateFrom"),
        date_to=args.date("dateTo"),
        min_amount=_amount(args, "minAmount"),
        max_amount=_amount(args, "maxAmount"),
    )


def _render_index(result, filter_form: FormState, status: int):
    names = customers.names_of(i.customer_id for i in result.items) if result else {}
    page_html = render_template(
        "invoices/index.html",
        result=result,
        filters=filter_form,
        customer_names=names,
        vouchers=VOUCHER_LABELS.items(),
    )
    return page_html, status


@bp.get("/")
def index():
    args = QueryArgs()
    filters = _filters(args)
    page, limit = args.page()
    return _render_index(*run_listing(args, invoices.list_invoices, filters, page, limit))


@bp.get("/<int:invoice_id>")
def show(invoice_id: int):
    return _show(invoice_id)


def _show(invoice_id: int, forms: dict[NoteKind, FormState] | None = None, status: int = 200):
    """The invoice page: the printed voucher, its notes and balance, and the forms that ask for
    a credit or debit note (``forms``: what was typed and what is wrong with it)."""
    document = printed.printed_invoice(invoice_id)
    invoice = document.invoice
    forms = forms or {}
    today = clock.today().isoformat()
    page_html = render_template(
        "invoices/show.html",
        printed=document,
        pdf_missing=printed.pdf_support_missing(),
        notes=corrections.corrections_of(invoice_id),
        balance=corrections.balance_of(invoice),
        credit_form=forms.get(NoteKind.CREDIT) or FormState(values={"issueDate": today}),
        debit_form=forms.get(NoteKind.DEBIT) or FormState(values={"issueDate": today}),
        # An invoice a batch issued has its batch's history; one brought in by reconciling a
        # book has its own.
        events=(
            audit.events_for("batch", invoice.batch_id)
            if invoice.batch_id
            else audit.events_for("invoice", invoice.id)
        ),
    )
    return page_html, status


@bp.post("/<int:invoice_id>/credit-notes")
def credit_note(invoice_id: int):
    return _ask_for_note(invoice_id, NoteKind.CREDIT)


@bp.post("/<int:invoice_id>/debit-notes")
def debit_note(invoice_id: int):
    return _ask_for_note(invoice_id, NoteKind.DEBIT)


def _ask_for_note(invoice_id: int, kind: NoteKind):
    """Asks for the note the form describes; its batch's page then shows it being issued."""
    form = FormState.from_request("amount", "reason", "issueDate")
    amount = _money(form.values["amount"] or None, form.errors, "amount")
    issue_date = date_or_raw(form.values["issueDate"]) if form.values["issueDate"] else None
    if form.errors:
        return _show(invoice_id, {kind: form}, 400)
    try:
        asked = corrections.request_note(
            actor(), invoice_id, kind, amount, form.values["reason"], issue_date
        )
    except DomainError as exc:
        return _show(invoice_id, {kind: form.fail(exc)}, exc.status_code)
    batch = asked.submission.batch
    if kind == NoteKind.CREDIT:
        flash(_("Credit note asked for; batch %(id)s issues it.", id=batch.id), "success")
    else:
        flash(_("Debit note asked for; batch %(id)s issues it.", id=batch.id), "success")
    if not asked.submission.queued:
        flash_queue_down(batch.id)
    return redirect(url_for("batches.show", batch_id=batch.id), 303)


@bp.get("/<int:invoice_id>/pdf")
def pdf(invoice_id: int):
    return invoice_pdf(invoice_id)


@bp.get("/statistics")
def statistics():
    return _statistics_page(FormState(values={"month": tax_book.previous_month()}))


def _statistics_page(book_form: FormState, book_status: int = 200):
    """The statistics of the filtered invoices, with the sales book's form (``book_form``: the
    month offered, or what was asked and what is wrong with it)."""
    args = QueryArgs()
    filters = _filters(args)
    stats, filter_form, status = run_listing(args, invoices.invoice_statistics, filters)
    largest, others = stats.largest(SUMMARY_CUSTOMERS) if stats else ([], None)
    page_html = render_template(
        "invoices/statistics.html",
        stats=stats,
        filters=filter_form,
        book_form=book_form,
        book_files=BOOK_FILE_LABELS.items(),
        vouchers=VOUCHER_LABELS.items(),
        largest_customers=largest,
        other_customers=others,
        customer_names=customers.names_of(c.customer_id for c in largest),
    )
    return page_html, max(status, book_status)


BOOK_FILE_LABELS = {
    TaxBookFile.VOUCHERS.value: _l("Vouchers only (text)"),
    TaxBookFile.RATES.value: _l("IVA rates only (text)"),
}


@bp.get("/tax-book")
def tax_book_file():
    """The statistics page's sales book form: the ZIP of the month's two files, or one of them;
    a month or file the domain refuses shows the page again with the reason by its field."""
    month, file = request.args.get("month", ""), request.args.get("file", "")
    book_form = FormState(values={"month": month, "file": file})
    try:
        chosen = TaxBookFile(file) if file else None
    except ValueError:
        book_form.errors["file"] = local_message(Message("field.not_a_known_value"))
        return _statistics_page(book_form, 400)
    try:
        return tax_book_download(month, chosen)
    except DomainError as exc:
        return _statistics_page(book_form.fail(exc), exc.status_code)


# The exported columns, in order: header, invoice attribute, and kind (how a spreadsheet types it).
EXPORT_COLUMNS = [
    (_l("Invoice number"), "invoice_number", "text"),
    (_l("Receipt book"), "receipt_book", "text"),
    (_l("Issue date"), "issue_date", "date"),
    (_l("CAE"), "cae", "text"),
    (_l("CAE due date"), "cae_due_date", "date"),
    (_l("Customer"), "customer_id", "number"),
    (_l("Service"), "service_id", "number"),
    (_l("Service date"), "service_date", "date"),
    (_l("Net"), "net_amount", "money"),
    (_l("IVA"), "vat_amount", "money"),
    (_l("Exempt amount"), "exempt_amount", "money"),
    (_l("Total"), "amount", "money"),
    (_l("Batch"), "batch_id", "number"),
]
# Spreadsheet cell formats: Excel shows them with the reader's own separators.
XLSX_FORMATS = {"money": "#,##0.00", "number": "0", "text": "@"}
XLSX_DATE_FORMATS = {"es": "dd/mm/yyyy", "en": "mm/dd/yyyy"}


def _export_rows():
    """The invoices the filters select, or the list page with its errors (and status) when a
    filter is unreadable."""
    args = QueryArgs()
    filters = _filters(args)
    checked, filter_form, status = run_listing(args, filters.check)
    if status != 200:
        return None, _render_index(checked, filter_form, status)
    return invoices.iter_invoices(filters), None


def _attachment(extension: str) -> dict:
    return attachment(f"{_('invoices')}-{clock.today().isoformat()}.{extension}")


@bp.get("/export.csv")
def export():
    """The filtered list as CSV for the reader's spreadsheet: UTF-8 with a byte-order mark, and
    where the locale writes decimals with a comma (Spanish), fields separated by semicolons;
    amounts and dates written the reader's way. Streamed, so a long list never sits in memory."""
    rows, refused = _export_rows()
    if refused:
        return refused
    return Response(
        stream_with_context(_csv_lines(rows)),
        content_type="text/csv; charset=utf-8",
        headers=_attachment("csv"),
    )


def _csv_lines(rows):
    locale = str(get_locale())
    buffer = io.StringIO()
    delimiter = ";" if get_decimal_symbol(locale) == "," else ","
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow([str(header) for header, _name, _kind in EXPORT_COLUMNS])
    for count, invoice in enumerate(rows, start=1):
        writer.writerow(
            [_csv_value(getattr(invoice, name), kind) for _header, name, kind in EXPORT_COLUMNS]
        )
        if count % CSV_ROWS_PER_WRITE == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def _csv_value(value, kind: str):
    if kind == "date":
        return local_date(value)
    if kind == "money":
        return amount_text(value, "0.00")
    return value


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


@bp.get("/export.xlsx")
def export_xlsx():
    """The filtered list as an Excel workbook with typed cells: amounts are numbers with two
    decimals, dates are dates, and the CAE and the invoice number are text, so the spreadsheet
    never rounds a CAE into scientific notation. Rows are written as they are read."""
    rows, refused = _export_rows()
    if refused:
        return refused
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(_("Invoices")))
    sheet.append([str(header) for header, _name, _kind in EXPORT_COLUMNS])
    formats = dict(XLSX_FORMATS, date=XLSX_DATE_FORMATS[current_language()])
    for invoice in rows:
        cells = []
        for _header, name, kind in EXPORT_COLUMNS:
            cell = WriteOnlyCell(sheet, value=getattr(invoice, name))
            cell.number_format = formats[kind]
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return Response(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=_attachment("xlsx"),
    )
