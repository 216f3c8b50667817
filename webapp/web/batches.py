"""Billing batches: the list, and the batch page whose status fragment htmx polls while the batch
is queued or running, then shows its invoices; retry or abandon on ERROR."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.auth import actor
from webapp.billing import audit, batches, books, clock, corrections, invoices, pendings
from webapp.billing.errors import Conflict, DomainError
from webapp.models import QUEUED_OR_RUNNING, BatchKind, BatchStatus
from webapp.web.forms import FormState, date_or_raw, run_listing
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs, render_page_or_fragment

bp = Blueprint("batches", __name__)


@bp.get("/")
def index():
    args = QueryArgs()
    filters = batches.BatchFilters(
        status=args.choice("status", BatchStatus),
        receipt_book=args.text("receiptBook"),
        date_from=args.date("dateFrom"),
        date_to=args.date("dateTo"),
    )
    page, limit = args.page()
    result, filter_form, status = run_listing(args, batches.list_batches, filters, page, limit)
    page_html = render_template(
        "batches/index.html",
        result=result,
        filters=filter_form,
        statuses=list(BatchStatus),
        books=books.receipt_books(),
    )
    return page_html, status


@bp.get("/<int:batch_id>")
def show(batch_id: int):
    """The whole batch page, or (for htmx polling) its status fragment alone: the fragment holds
    everything that follows the status (badge, notices, actions, invoices and the history)."""
    batch = batches.get_batch(batch_id)
    return _show(batch)


def _show(batch, credit_form: FormState | None = None, status: int = 200):
    args = QueryArgs()
    batch_invoices = None
    if batch.total_invoices:
        page, limit = args.page()
        every_voucher = invoices.InvoiceFilters(
            batch_id=batch.id, document_types=invoices.ALL_TYPES
        )
        batch_invoices, _page_form, _status = run_listing(
            args, invoices.list_invoices, every_voucher, page, limit
        )
    notes = batch.kind == BatchKind.NOTES
    batch_id = batch.id
    page_html = render_page_or_fragment(
        "batches/show.html",
        "batches/_status.html",
        batch=batch,
        running=batch.status in QUEUED_OR_RUNNING,
        waiting_to_retry=batches.waiting_to_retry(batch),
        retry_in=batches.seconds_until_retry(batch),
        batch_invoices=batch_invoices,
        books=batches.batch_books(batch_id),
        rejected=[] if notes else pendings.rejected_pendings(batch_id=batch_id),
        corrections=corrections.corrections_in(batch_id) if notes else [],
        credit_form=credit_form or FormState(values={"issueDate": clock.today().isoformat()}),
        events=audit.events_for("batch", batch_id),
    )
    return page_html, status


@bp.post("/<int:batch_id>/credit")
def credit(batch_id: int):
    """Credits every invoice of the batch for what is left of it, in a batch of notes."""
    batch = batches.get_batch(batch_id)
    form = FormState.from_request("reason", "issueDate")
    issue_date = date_or_raw(form.values["issueDate"]) if form.values["issueDate"] else None
    try:
        submission = corrections.credit_batch(actor(), batch_id, form.values["reason"], issue_date)
    except DomainError as exc:
        return _show(batch, form.fail(exc), exc.status_code)
    flash(
        _(
            "Batch %(id)s issues a credit note for every invoice of batch %(source)s.",
            id=submission.batch.id,
            source=batch_id,
        ),
        "success",
    )
    if not submission.queued:
        flash_queue_down(submission.batch.id)
    return redirect(url_for("batches.show", batch_id=submission.batch.id), 303)


@bp.post("/<int:batch_id>/retry")
def retry(batch_id: int):
    try:
        submission = batches.retry_batch(actor(), batch_id)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
    else:
        flash(_("Batch %(id)s is queued again.", id=batch_id), "success")
        if not submission.queued:
            flash_queue_down(batch_id)
    return redirect(url_for("batches.show", batch_id=batch_id))


def flash_queue_down(batch_id: int) -> None:
    flash(
        _(
            "The queue was unavailable when batch %(id)s was stored; it will be queued and "
            "invoiced as soon as the queue is back.",
            id=batch_id,
        ),
        "warning",
    )


@bp.route("/<int:batch_id>/abandon", methods=["GET", "POST"])
def abandon(batch_id: int):
    """A confirmation page, then (POST) gives the failed batch up and releases its pendings."""
    if request.method == "POST":
        return _abandon(batch_id)
    batch = batches.get_batch(batch_id)
    refusal = batches.why_not_abandonable(batch)
    if refusal:
        flash(local_message(refusal), "error")
        return redirect(url_for("batches.show", batch_id=batch_id))
    return render_template(
        "batches/abandon.html", batch=batch, held=batches.held_pending_count(batch)
    )


def _abandon(batch_id: int):
    try:
        batches.abandon_batch(actor(), batch_id)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
    else:
        flash(
            _(
                "Batch %(id)s abandoned; its pendings are available for a new batch.",
                id=batch_id,
            ),
            "success",
        )
    return redirect(url_for("batches.show", batch_id=batch_id))
