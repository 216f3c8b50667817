"""/api/billing-pendings: what waits to be invoiced."""

from webapp.api import blp, route
from webapp.api.schemas import PendingOut, PendingQuery, PendingSummaryOut, page_of
from webapp.auth import actor
from webapp.billing import pendings

TAG = "Billing pendings"
PendingPage = page_of(PendingOut, "PendingPage")


@route("/billing-pendings", TAG, methods=["GET"])
@blp.arguments(PendingQuery, location="query")
@blp.response(200, PendingPage)
def list_pendings(query):
    page, limit, after = query.pop("page"), query.pop("limit"), query.pop("after", None)
    return pendings.list_pendings(pendings.PendingFilters(**query), page, limit, after)


@route("/billing-pendings/summary", TAG, methods=["GET"])
@blp.response(200, PendingSummaryOut)
def summary():
    """Count and amount of PENDING pendings, overall and by customer."""
    return pendings.summarize_pendings()


@route("/billing-pendings/available", TAG, methods=["GET"])
@blp.arguments(PendingQuery, location="query")
@blp.response(200, PendingPage)
def available(query):
    """PENDING pendings no open batch has claimed: what a new batch can take."""
    page, limit, after = query.pop("page"), query.pop("limit"), query.pop("after", None)
    query.pop("status", None)
    filters = pendings.PendingFilters(available_only=True, **query)
    return pendings.list_pendings(filters, page, limit, after)


@route("/billing-pendings/<int:pending_id>", TAG, methods=["GET"])
@blp.response(200, PendingOut)
def get_pending(pending_id):
    return pendings.get_pending(pending_id)


@route("/billing-pendings/<int:pending_id>", TAG, methods=["DELETE"])
@blp.response(200, PendingOut)
def cancel_pending(pending_id):
    """Cancel a pending; its service returns to CREATED. 409 if a batch holds it."""
    return pendings.cancel_pending(actor(), pending_id)
