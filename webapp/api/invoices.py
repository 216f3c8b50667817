"""/api/invoices: look-ups, statistics and the printed invoice's PDF."""

from webapp.api import blp, route
from webapp.api.schemas import (
    InvoiceOut,
    InvoiceQuery,
    InvoiceStatisticsOut,
    InvoiceStatsQuery,
    PageQuery,
    page_of,
)
from webapp.billing import batches, invoices
from webapp.downloads import invoice_pdf

TAG = "Invoices"
InvoicePage = page_of(InvoiceOut, "InvoicePage")


def _listed(query, **fixed):
    page, limit, after = query.pop("page"), query.pop("limit"), query.pop("after", None)
    return invoices.list_invoices(invoices.InvoiceFilters(**query, **fixed), page, limit, after)


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
    return invoices.invoice_statistics(invoices.InvoiceFilters(**query))


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
    return _listed(query, batch_id=batch_id)


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
