"""/api/billing-batches: batches, their processing status, and receipt books."""

from webapp.api import blp, idempotent, route
from webapp.api.schemas import (
    BatchCreatedOut,
    BatchCreditIn,
    BatchDetailOut,
    BatchIn,
    BatchOut,
    BatchQuery,
    BatchStatusOut,
    NextNumberOut,
    QueueStatsOut,
    ReceiptBookOut,
    ReconciliationOut,
    page_of,
)
from webapp.auth import actor, requires
from webapp.billing import batches, books, corrections
from webapp.billing.messages import english
from webapp.models import BatchStatus, Role

TAG = "Billing batches"
JOB_STATUS = {
    BatchStatus.PENDING_PROCESSING: "waiting",
    BatchStatus.IN_PROCESS: "active",
    BatchStatus.PROCESSED: "completed",
    BatchStatus.ERROR: "failed",
}


def job_id(batch) -> str:
    return f"batch-{batch.id}"


def fields_of(batch) -> dict:
    """The batch's columns, with the progress its running attempt has reached."""
    return {c.key: getattr(batch, c.key) for c in batch.__table__.columns}


def detail(batch) -> dict:
    """The batch with the ids of the pendings it holds."""
    return {
        **fields_of(batch),
        "pending_ids": batches.batch_pending_ids(batch.id),
        "books": batches.batch_books(batch.id),
    }


def queue_info(submission) -> dict:
    """Where a new batch's task is: queued, or deferred while the queue is down."""
    batch = submission.batch
    follow = f"follow it at /api/billing-batches/{batch.id}/status"
    if not submission.queued:
        return {
            "job_id": job_id(batch),
            "status": "deferred",
            "message": f"Batch {batch.id} was created but the queue is unavailable; it will be "
            f"queued when the queue is back; {follow}",
        }
    return {
        "job_id": job_id(batch),
        "status": JOB_STATUS[batch.status],
        "message": f"Batch {batch.id} has been queued; {follow}",
    }


def _created(batch, info: dict) -> dict:
    return {
        "batch": detail(batch),
        "summary": {
            "total_pendings": batch.pending_count,
            "total_amount": batches.claimed_amount(batch),
        },
        "queue_info": info,
    }


@route("/billing-batches", TAG, methods=["POST"])
@idempotent
@blp.arguments(BatchIn)
@blp.response(201, BatchCreatedOut)
def create_batch(data):
    """Create a batch and queue it; poll GET /billing-batches/{id}/status until it ends. When
    the queue is down the batch is still created: queueInfo.status is "deferred" and it is
    queued as soon as the queue is back."""
    submission = batches.submit_batch(
        actor(),
        data["issue_date"],
        data.get("receipt_book"),
        data["pending_ids"],
        point_of_sale=data.get("point_of_sale"),
    )
    return _created(submission.batch, queue_info(submission))


@route("/billing-batches/sync", TAG, methods=["POST"])
@idempotent
@blp.arguments(BatchIn)
@blp.response(201, BatchCreatedOut)
def create_batch_and_wait(data):
    """Create a batch and invoice it before answering (one attempt; ERROR can be retried)."""
    batch = batches.submit_batch(
        actor(),
        data["issue_date"],
        data.get("receipt_book"),
        data["pending_ids"],
        wait=True,
        point_of_sale=data.get("point_of_sale"),
    ).batch
    message = (
        f"Batch {batch.id} was invoiced"
        if batch.status == BatchStatus.PROCESSED
        else f"Batch {batch.id} failed: {english(batch.error_message)}"
    )
    return _created(
        batch, {"job_id": job_id(batch), "status": JOB_STATUS[batch.status], "message": message}
    )


@route("/billing-batches/<int:batch_id>/credit-notes", TAG, methods=["POST"])
@idempotent
@blp.arguments(BatchCreditIn)
@blp.response(201, BatchCreatedOut)
def credit_batch(data, batch_id):
    """Credit every invoice of a batch for all that is left of it: one batch of credit notes,
    queued like any batch (follow it at its status)."""
    submission = corrections.credit_batch(actor(), batch_id, data["reason"], data.get("issue_date"))
    return _created(submission.batch, queue_info(submission))


@route("/billing-batches", TAG, methods=["GET"])
@blp.arguments(BatchQuery, location="query")
@blp.response(200, page_of(BatchOut, "BatchPage"))
def list_batches(query):
    page, limit = query.pop("page"), query.pop("limit")
    return batches.list_batches(batches.BatchFilters(**query), page, limit)


@route("/billing-batches/queue/stats", TAG, methods=["GET"])
@blp.response(200, QueueStatsOut)
def stats():
    """Waiting and delayed tasks in the queue; active, completed and failed batches."""
    return batches.queue_stats()


@route("/billing-batches/receipt-books", TAG, methods=["GET"])
@blp.response(200, ReceiptBookOut(many=True))
def receipt_books():
    """Every receipt book beside the tax authority's: Lote's last number and the authority's
    (null, and inStep null, when the authority does not answer), the last issue date, the
    batch holding the book, whether a call is in flight on it, and the number Lote adopted for
    a point of sale used before it."""
    return books.book_figures()


@route("/billing-batches/receipt-books/<book>/reconcile", TAG, methods=["POST"])
@requires(Role.ADMIN)
@idempotent
@blp.response(200, ReconciliationOut)
@blp.doc(responses={403: "FORBIDDEN", 409: "CONFLICT", 503: "SERVICE_UNAVAILABLE"})
def reconcile(book):
    """Bring a book the tax authority is ahead on back in step (admins only): the vouchers
    another system issued on it become invoices marked issuedOutside, and Lote's last number
    becomes the authority's (at most RECONCILE_MAX_VOUCHERS at a time; remaining says how many
    are left)."""
    return books.reconcile_book(actor(), book)


@route("/billing-batches/next-invoice-number/<book>", TAG, methods=["GET"])
@blp.response(200, NextNumberOut)
def next_invoice_number(book):
    code, number = books.next_invoice_number(book)
    return {"receipt_book": code, "next_number": number}


@route("/billing-batches/<int:batch_id>", TAG, methods=["GET"])
@blp.response(200, BatchDetailOut)
def get_batch(batch_id):
    return detail(batches.get_batch(batch_id))


def status_body(batch) -> dict:
    fields = fields_of(batch)
    job = {
        "job_id": job_id(batch),
        "status": "delayed" if batches.waiting_to_retry(batch) else JOB_STATUS[batch.status],
        "progress": fields["progress"],
        "attempts_made": batch.attempts,
    }
    if batch.error_message:
        job["failed_reason"] = batch.error_message
    return {"batch": fields, "job_info": job}


@route("/billing-batches/<int:batch_id>/status", TAG, methods=["GET"])
@blp.response(200, BatchStatusOut)
def batch_status(batch_id):
    """The batch and its job: status, progress (0-100), attempts and the failure reason."""
    return status_body(batches.get_batch(batch_id))


@route("/billing-batches/<int:batch_id>/retry", TAG, methods=["POST"])
@idempotent
@blp.response(200, BatchStatusOut)
def retry(batch_id):
    """Queue an ERROR batch again; any other status, or an abandoned batch, is a 409."""
    return status_body(batches.retry_batch(actor(), batch_id).batch)


@route("/billing-batches/<int:batch_id>/abandon", TAG, methods=["POST"])
@idempotent
@blp.response(200, BatchStatusOut)
def abandon(batch_id):
    """Give up an ERROR batch: its pendings are released for new batches, it stays ERROR with
    abandonedAt and abandonedBy, and can no longer be retried. Any other status is a 409."""
    return status_body(batches.abandon_batch(actor(), batch_id))
