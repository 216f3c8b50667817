"""Receipt books: each book beside the tax authority's, in step or not, and for a supervisor the
reconcile action (a confirmation page, then the POST) for a book the authority is ahead on."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.auth import actor, requires
from webapp.billing import audit, books
from webapp.billing.errors import Conflict, NotFound, Unavailable
from webapp.models import Role
from webapp.web import local_number
from webapp.web.forms import run_listing
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs

bp = Blueprint("receipt_books", __name__)
# The books' last events (reconciliations, numbering taken from the authority) the page shows.
BOOK_HISTORY = 20


@bp.get("/")
def index():
    args = QueryArgs()
    page, limit = args.page()
    result, filter_form, status = run_listing(args, books.book_figures_page, page, limit)
    html = render_template(
        "receipt_books/index.html",
        result=result,
        filters=filter_form,
        events=audit.latest_events("receipt_book", BOOK_HISTORY),
    )
    return html, status


@bp.route("/<book>/reconcile", methods=["GET", "POST"])
@requires(Role.ADMIN)
def reconcile(book: str):
    """A confirmation page naming both numbers, then (POST) brings the authority's missing
    vouchers in; a book that cannot be reconciled goes back to the list with the reason."""
    if request.method == "POST":
        return _reconcile(book)
    figures = books.figures_of_book(book)
    refusal = figures.why_not_reconcilable()
    if refusal:
        flash(local_message(refusal), "error")
        return redirect(url_for("receipt_books.index"))
    return render_template("receipt_books/reconcile.html", figures=figures)


def _reconcile(book: str):
    try:
        done = books.reconcile_book(actor(), book)
    except (Conflict, NotFound, Unavailable) as exc:
        flash(local_message(exc.message), "error")
        return redirect(url_for("receipt_books.index"))
    flash(
        ngettext(
            "Receipt book %(book)s: %(count)s voucher issued outside Lote brought in.",
            "Receipt book %(book)s: %(count)s vouchers issued outside Lote brought in.",
            done.count,
            book=done.figures.code,
            count=local_number(done.count),
        ),
        "success",
    )
    if done.remaining:
        flash(
            _(
                "%(count)s more remain to bring in: reconcile the book again.",
                count=local_number(done.remaining),
            ),
            "warning",
        )
    return redirect(url_for("receipt_books.index"))
