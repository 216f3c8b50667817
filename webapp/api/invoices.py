"""/api/invoices: look-ups and statistics."""

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
