"""/api/erp-sync: accounting documents for the ERP, their delivery and history."""

from webapp.api import blp, idempotent, route
from webapp.api.schemas import (
    ErpBatchIn,
    ErpHistoryQuery,
    ErpInvoicesIn,
    ErpPreviewIn,
    ErpPreviewOut,
    ErpSyncDetailOut,
    ErpSyncOut,
    page_of,
)
from webapp.auth import actor
from webapp.billing import erp

TAG = "ERP sync"


@route("/erp-sync/preview", TAG, methods=["POST"])
@blp.arguments(ErpPreviewIn)
@blp.response(200, ErpPreviewOut)
def preview(data):
    """The documents a sync would send, with their totals; nothing is stored or sent."""
    return erp.preview(data.get("invoice_ids"), data.get("batch_id"))


@route("/erp-sync/invoices", TAG, methods=["POST"])
@idempotent
@blp.arguments(ErpInvoicesIn)
@blp.response(201, ErpSyncDetailOut)
def sync_invoices(data):
    """Send invoices to the ERP; 409 if any is already in a SENT or CONFIRMED sync."""
    return erp.sync(actor(), invoice_ids=data["invoice_ids"])


@route("/erp-sync/batch", TAG, methods=["POST"])
@idempotent
@blp.arguments(ErpBatchIn)
@blp.response(201, ErpSyncDetailOut)
def sync_batch(data):
    """Send every invoice of a PROCESSED batch to the ERP."""
    return erp.sync(actor(), batch_id=data["batch_id"])


@route("/erp-sync/history", TAG, methods=["GET"])
@blp.arguments(ErpHistoryQuery, location="query")
@blp.response(200, page_of(ErpSyncOut, "ErpSyncPage"))
def history(query):
    return erp.history(query["page"], query["limit"], query.get("status"))


@route("/erp-sync/history/<sync_id>", TAG, methods=["GET"])
@blp.response(200, ErpSyncDetailOut)
def history_detail(sync_id):
    return erp.get_sync(sync_id)


@route("/erp-sync/confirm/<sync_id>", TAG, methods=["POST"])
@idempotent
@blp.response(200, ErpSyncOut)
def confirm(sync_id):
    """Mark a SENT sync as CONFIRMED by the ERP; any other status is a 409."""
    return erp.confirm(actor(), sync_id)
