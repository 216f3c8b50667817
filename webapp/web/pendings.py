"""Billing pendings: the filterable list, the summary by customer, creating a batch from the
selected pendings (or, after a confirmation page, every available one matching the filters), and
cancelling."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.auth import actor
from webapp.billing import batches, books, clock, customers, pendings
from webapp.billing.errors import Conflict, InvalidInput, TooLarge
from webapp.billing.issuer import get_issuer
from webapp.models import PendingStatus
from webapp.web import local_number
from webapp.web.batches import flash_queue_down
from webapp.web.forms import (
    FormState,
    chosen_ids,
    date_or_raw,
    int_or_raw,
    refuse_viewers,
    run_listing,
    selected_ids,
)
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs, render_page_or_fragment

bp = Blueprint("pendings", __name__)
BATCH_FIELDS = ("issueDate", "pointOfSale", "receiptBook")
# The summary names the customers owed the most; the others share one row.
SUMMARY_CUSTOMERS = 10


def _filters(args: QueryArgs) -> pendings.PendingFilters:
    return pendings.PendingFilters(
        status=args.choice("status", PendingStatus),
        customer_id=args.int("customerId"),
        customer_name=args.text("customerName"),
        date_from=args.date("dateFrom"),
        date_to=args.date("dateTo"),
        available_only=args.text("available") == "1",
    )


def _next_number(code: str) -> dict:
    """The next invoice number of a receipt book, or why the code is not one."""
    if not code:
        return {"number": None, "error": None}
    try:
        _book, number = books.next_invoice_number(code)
    except InvalidInput as exc:
        return {"number": None, "error": local_message(exc.details[0]["message"])}
    return {"number": number, "error": None}


def _render_index(batch_form: FormState | None = None, status: int = 200):
    args = QueryArgs()
    filters = _filters(args)
    page, limit = args.page()
    result, filter_form, listing_status = run_listing(
        args, pendings.list_pendings, filters, page, limit
    )
    known_books = books.receipt_books()
    if batch_form is None:
        # The receipt book is the clerk's choice every time: a pre-filled one goes unnoticed.
        batch_form = FormState(
            values={"issueDate": clock.today().isoformat(), "pointOfSale": "", "receiptBook": ""}
        )
    summary = available = None
    largest, others = [], None
    shown = []
    if result is not None:
        summary = pendings.summarize_pendings(filters)
        largest, others = summary.largest(SUMMARY_CUSTOMERS)
        available = pendings.count_available(filters)
        shown = [pending.customer_id for pending in result.items] + [c.customer_id for c in largest]
    page_html = render_template(
        "pendings/index.html",
        result=result,
        filters=filter_form,
        statuses=list(PendingStatus),
        summary=summary,
        largest_customers=largest,
        other_customers=others,
        customer_names=customers.names_of(shown),
        available=available,
        books=[(book, books.next_number_of(book)) for book in known_books],
        batch_form=batch_form,
        points_of_sale=_points_of_sale(),
        next_number=_next_number(batch_form.values.get("receiptBook", "")),
        chosen=chosen_ids(),
    )
    return page_html, status if status != 200 else listing_status


@bp.get("/")
def index():
    return _render_index()


@bp.post("/batch")
def create_batch():
    """Creates a batch from the selected pendings, or from every available pending that matches
    the filters in the query string (the list the clerk is looking at). Every matching pending
    is a batch of unknown size, so it first shows a confirmation page with the count and the
    total; the confirmed batch takes none newer than those shown, and if some were taken
    meanwhile the page is shown again with the new figures."""
    form = FormState.from_request(*BATCH_FIELDS)
    matching = request.form.get("scope") == "matching"
    ids = []
    try:
        if matching:
            args = QueryArgs()
            filters = _filters(args)
            if args.errors:
                return _render_index(form, 400)
            available = pendings.total_available(filters)
            confirmed = request.form.get("confirmedCount", "")
            if not available.count:
                form.message = _("No pending that matches the filters is free for a new batch.")
                return _render_index(form, 400)
            if confirmed != str(available.count) or request.form.get("lastId") != str(
                available.last_id
            ):
                receipt_book, point_of_sale = _book_or_point_of_sale(form)
                batches.check_batch_terms(
                    date_or_raw(form.values["issueDate"]),
                    receipt_book,
                    available.count,
                    point_of_sale,
                )
                return _confirm_matching(form, available, changed=bool(confirmed))
            ids = [i for i in pendings.available_pending_ids(filters) if i <= available.last_id]
        else:
            ids = selected_ids()
        receipt_book, point_of_sale = _book_or_point_of_sale(form)
        submission = batches.submit_batch(
            actor(),
            date_or_raw(form.values["issueDate"]),
            receipt_book,
            ids,
            point_of_sale=point_of_sale,
        )
    except (InvalidInput, Conflict, TooLarge) as exc:
        return _render_index(form.fail(exc), exc.status_code)
    batch = submission.batch
    flash(
        ngettext(
            "Batch %(id)s created with %(count)s pending.",
            "Batch %(id)s created with %(count)s pendings.",
            batch.pending_count,
            id=batch.id,
            count=local_number(batch.pending_count),
        ),
        "success",
    )
    if not submission.queued:
        flash_queue_down(batch.id)
    return redirect(url_for("batches.show", batch_id=batch.id))


def _points_of_sale() -> list[tuple[str, str]]:
    current = get_issuer()
    return [(str(p), str(p)) for p in (current.points_of_sale if current else [])]


def _book_or_point_of_sale(form: FormState) -> tuple[str | None, int | None]:
    """What the batch form names: a receipt book, a point of sale, or both."""
    point_of_sale = (form.values.get("pointOfSale") or "").strip()
    return (
        (form.values.get("receiptBook") or "").strip() or None,
        int_or_raw(point_of_sale) if point_of_sale else None,
    )


def _confirm_matching(form: FormState, available: pendings.AvailableTotal, changed: bool):
    """The page that asks before batching every matching pending: how many, and how much."""
    return render_template(
        "pendings/confirm_batch.html",
        batch_form=form,
        available=available,
        changed=changed,
        query=request.args.to_dict(),
    )


@bp.get("/next-number")
def next_number():
    """The next invoice number of the receipt book being typed: a fragment for htmx, a small
    page otherwise."""
    code = request.args.get("receiptBook", "").strip()
    return render_page_or_fragment(
        "pendings/next_number.html",
        "pendings/_next_number.html",
        next_number=_next_number(code),
        code=code,
        form=FormState(values={"receiptBook": code}),
    )


@bp.route("/<int:pending_id>/cancel", methods=["GET", "POST"])
def cancel(pending_id: int):
    refuse_viewers()
    if request.method == "POST":
        return _cancel(pending_id)
    pending = pendings.get_pending(pending_id)
    try:
        pendings.refuse_unless_cancellable(pending)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("pendings.index"))
    return render_template("pendings/cancel.html", pending=pending)


def _cancel(pending_id: int):
    try:
        pending = pendings.cancel_pending(actor(), pending_id)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("pendings.index"))
    flash(
        _(
            "Pending %(id)s cancelled; service %(service)s is Created again and can be edited.",
            id=pending_id,
            service=pending.service_id,
        ),
        "success",
    )
    return redirect(url_for("pendings.index"))
