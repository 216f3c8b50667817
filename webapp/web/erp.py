"""ERP: preview a batch's accounting documents, send them once, the delivery history, a delivery's
detail with the exact payload, and confirmation."""

import json

from flask import (
    Blueprint,
    Response,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import ngettext

from webapp.auth import actor
from webapp.billing import erp
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.models import SyncStatus
from webapp.web import local_number
from webapp.web.forms import FormState, int_or_raw, run_listing
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs

bp = Blueprint("erp", __name__)
DOCUMENTS_SHOWN = 200
RECENT_BATCHES = 20


def _batches_to_send():
    """The latest processed batches with invoices left to send, offered for a preview."""
    return erp.batches_to_send(RECENT_BATCHES)


@bp.get("/")
def index():
    args = QueryArgs()
    status = args.choice("status", SyncStatus)
    page, limit = args.page()
    result, filter_form, code = run_listing(args, erp.history, page, limit, status)
    page_html = render_template(
        "erp/index.html",
        result=result,
        filters=filter_form,
        statuses=list(SyncStatus),
        to_send=_batches_to_send(),
        form=FormState(),
    )
    return page_html, code


@bp.get("/preview")
def preview():
    """The documents a delivery of the batch would send; nothing is stored."""
    args = QueryArgs()
    batch_id = args.int("batchId")
    form = FormState(values=args.args.to_dict())
    docs, delivery, code = None, None, 200
    if "batchId" in args.errors or batch_id is None:
        form.errors["batchId"] = _("Choose a processed batch")
        code = 400
    else:
        try:
            delivery = erp.batch_delivery(batch_id)
            if delivery.unsent:
                docs = erp.preview(batch_id=batch_id, unsent_only=True)
        except (Conflict, NotFound) as exc:
            form.fail(exc)
            code = exc.status_code
    page_html = render_template(
        "erp/preview.html",
        docs=docs,
        delivery=delivery,
        form=form,
        batch_id=batch_id,
        shown=DOCUMENTS_SHOWN,
        to_send=_batches_to_send(),
    )
    return page_html, code


@bp.post("/send")
def send():
    batch_id = int_or_raw(request.form.get("batchId", ""))
    if not isinstance(batch_id, int):
        flash(_("Choose a processed batch"), "error")
        return redirect(url_for("erp.index"))
    try:
        record = erp.sync(actor(), batch_id=batch_id, unsent_only=True)
    except (Conflict, NotFound, InvalidInput) as exc:
        # One banner: the domain's message names the invoices by number.
        flash(local_message(exc.message), "error")
        return redirect(url_for("erp.preview", batchId=batch_id))
    if record.status == SyncStatus.ERROR:
        flash(
            _(
                "The ERP did not accept delivery %(sync)s: %(reason)s. Nothing is held; "
                "send again.",
                sync=record.sync_id,
                reason=local_message(record.error_message),
            ),
            "error",
        )
    else:
        flash(
            ngettext(
                "Sent %(count)s invoice to the ERP as %(sync)s. Confirm it once the ERP "
                "acknowledges it.",
                "Sent %(count)s invoices to the ERP as %(sync)s. Confirm it once the ERP "
                "acknowledges them.",
                record.invoice_count,
                count=local_number(record.invoice_count),
                sync=record.sync_id,
            ),
            "success",
        )
    return redirect(url_for("erp.show", sync_id=record.sync_id))


@bp.get("/<sync_id>")
def show(sync_id: str):
    record = erp.get_sync(sync_id)
    documents = record.payload.get("documents", [])
    inline = len(documents) <= DOCUMENTS_SHOWN
    return render_template(
        "erp/show.html",
        record=record,
        documents=documents,
        shown=DOCUMENTS_SHOWN,
        payload=json.dumps(record.payload, indent=2, ensure_ascii=False) if inline else None,
        summary=record.payload.get("summary", {}),
    )


@bp.get("/<sync_id>/payload.json")
def payload(sync_id: str):
    """The exact payload sent to the ERP, as a file (long deliveries are not shown inline)."""
    record = erp.get_sync(sync_id)
    return Response(
        json.dumps(record.payload, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{record.sync_id}.json"'},
    )


@bp.post("/<sync_id>/confirm")
def confirm(sync_id: str):
    try:
        erp.confirm(actor(), sync_id)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
    else:
        flash(_("Delivery %(sync)s confirmed.", sync=sync_id), "success")
    return redirect(url_for("erp.show", sync_id=sync_id))
