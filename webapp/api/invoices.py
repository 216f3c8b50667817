"""/api/invoices: look-ups, statistics, the printed invoice's PDF, and the credit and debit
notes of a voucher."""

from webapp.api import blp, idempotent, route
from webapp.api.batches import queue_info
from webapp.api.schemas import (
    InvoiceOut,
    InvoiceQuery,
    InvoiceStatisticsOut,
    InvoiceStatsQuery,
    NoteCreatedOut,
    NoteIn,
    PageQuery,
    VoucherNotesOut,
    page_of,
)
from webapp.auth import actor
from webapp.billing import batches, corrections, invoices
from webapp.downloads import invoice_pdf
from webapp.models import NoteKind

TAG = "Invoices"
InvoicePage = page_of(InvoiceOut, "InvoicePage")


def _filters(query, **fixed) -> invoices.InvoiceFilters:
    """The filters of a query: ``documentType`` picks the voucher type, invoices by default."""
    document_type = query.pop("document_type", None)
    if document_type is not None:
        fixed.setdefault("document_types", invoices.check_document_type(document_type))
    return invoices.InvoiceFilters(**query, **fixed)


def _listed(query, **fixed):
    page, limit, after = query.pop("page"), query.pop("limit"), query.pop("after", None)
    return invoices.list_invoices(_filters(query, **fixed), page, limit, after)


@route("/invoices", TAG, methods=["GET"])
@blp.arguments(InvoiceQuery, location="query")
@blp.response(200, InvoicePage)
def list_invoices(query):
    return _listed(query)


@route("/invoices/statistics", TAG, methods=["GET"])
@blp.arguments(InvoiceStatsQuery, location="query")
@blp.response(200, InvoiceStatisticsOut)
def statistics(query):
    """Totals, average, and totals by month and by customer."""
    return invoices.invoice_statistics(_filters(query))


@route("/invoices/by-customer/<int:customer_id>", TAG, methods=["GET"])
@blp.arguments(PageQuery, location="query")
@blp.response(200, InvoicePage)
def by_customer(query, customer_id):
    return _listed(query, customer_id=customer_id)


@route("/invoices/by-batch/<int:batch_id>", TAG, methods=["GET"])
@blp.arguments(PageQuery, location="query")
@blp.response(200, InvoicePage)
def by_batch(query, batch_id):
    batches.get_batch(batch_id)
    return _listed(query, batch_id=batch_id, document_types=invoices.ALL_TYPES)


@route("/invoices/number/<number>", TAG, methods=["GET"])
@blp.response(200, InvoiceOut)
def by_number(number):
    return invoices.get_invoice_by_number(number)


@route("/invoices/<int:invoice_id>", TAG, methods=["GET"])
@blp.response(200, InvoiceOut)
def get_invoice(invoice_id):
    return invoices.get_invoice(invoice_id)


@route("/invoices/<int:invoice_id>/pdf", TAG, methods=["GET"])
@blp.doc(
    responses={
        200: {
            "description": "The printed invoice (RG 1415, with its RG 4892 QR code) as a PDF",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        },
        404: "NOT_FOUND",
        409: "CONFLICT",
        503: "SERVICE_UNAVAILABLE",
    }
)
def invoice_pdf_file(invoice_id):
    """The invoice's PDF, in Spanish, as an attachment named after the invoice number; 503 when
    the server lacks the system libraries PDFs need."""
    return invoice_pdf(invoice_id)


def _note(invoice_id: int, data: dict, kind: NoteKind) -> dict:
    asked = corrections.request_note(
        actor(),
        invoice_id,
        kind,
        data.get("amount"),
        data["reason"],
        data.get("issue_date"),
        data.get("customer_id"),
    )
    correction, submission = asked.correction, asked.submission
    fields_of = {c.key: getattr(correction, c.key) for c in correction.__table__.columns}
    return {
        **fields_of,
        "kind": correction.kind.value,
        "status": correction.status.value,
        "batch": submission.batch,
        "queue_info": queue_info(submission),
    }


@route("/invoices/<int:invoice_id>/credit-notes", TAG, methods=["POST"])
@idempotent
@blp.arguments(NoteIn)
@blp.response(201, NoteCreatedOut)
def credit_note(data, invoice_id):
    """Ask for a credit note of the voucher's letter, for all (no amount) or part of its
    balance, with a reason; it is issued through the tax authority in a batch of notes of its
    own (follow ``batch.id`` like any batch). More than the balance is a 409 naming it."""
    return _note(invoice_id, data, NoteKind.CREDIT)


@route("/invoices/<int:invoice_id>/debit-notes", TAG, methods=["POST"])
@idempotent
@blp.arguments(NoteIn)
@blp.response(201, NoteCreatedOut)
def debit_note(data, invoice_id):
    """Ask for a debit note of the invoice's letter: a charge missing from it (``amount``
    required), with a reason; issued like a credit note."""
    return _note(invoice_id, data, NoteKind.DEBIT)


@route("/invoices/<int:invoice_id>/notes", TAG, methods=["GET"])
@blp.response(200, VoucherNotesOut)
def notes(invoice_id):
    """The notes asked for a voucher, each with its issued note, and what is left of it."""
    invoice = invoices.get_invoice(invoice_id)
    return {
        "invoice_id": invoice.id,
        "amount": invoice.amount,
        "balance": corrections.balance_of(invoice),
        "notes": [
            {"correction": view.correction, "note": view.note}
            for view in corrections.corrections_of(invoice_id)
        ],
    }
