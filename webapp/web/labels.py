"""What the pages call things, in the reader's language: status, role, queue and audit labels,
and the domain's messages (webapp/billing/messages.py) with their parameters formatted the
reader's way."""

import enum
from datetime import date
from decimal import Decimal

from flask import Flask, current_app, request, session
from flask_babel import gettext, ngettext
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from webapp.billing.messages import Message, read_stored
from webapp.models import Role
from webapp.web import local_number
from webapp.web.i18n import local_date, money

STATUS_LABELS = {
    "CREATED": _l("Created"),
    "SENT_TO_BILL": _l("Sent to billing"),
    "INVOICED": _l("Invoiced"),
    "PENDING": _l("Pending"),
    "CANCELLED": _l("Cancelled"),
    "PENDING_PROCESSING": _l("Queued"),
    "IN_PROCESS": _l("Processing"),
    "PROCESSED": _l("Processed"),
    "ERROR": _l("Error"),
    "SENT": _l("Sent"),
    "CONFIRMED": _l("Confirmed"),
    # A correction's statuses: what became of the note it asked for.
    "ISSUED": _l("Note issued"),
    "REJECTED": _l("Note rejected"),
    "RELEASED": _l("Note released"),
}

ROLE_LABELS = {
    "admin": _l("Supervisor (admin)"),
    "clerk": _l("Billing clerk"),
    "viewer": _l("Viewer (read only)"),
}

QUEUE_LABELS = {
    "waiting": _l("Waiting"),
    "active": _l("Running"),
    "completed": _l("Completed"),
    "failed": _l("Failed"),
    "delayed": _l("Retries scheduled"),
}

AUDIT_ACTIONS = {
    "created": _l("Created"),
    "edited": _l("Edited"),
    "deleted": _l("Deleted"),
    "sent_to_billing": _l("Sent to billing"),
    "cancelled": _l("Cancelled"),
    "retried": _l("Retry requested"),
    "abandoned": _l("Abandoned"),
    "invoiced": _l("Invoiced"),
    "failed": _l("Attempt failed"),
    "rejected": _l("Rejected by the tax authority"),
    "reconciled": _l("Brought in from the tax authority"),
    "adopted": _l("Numbering taken from the tax authority"),
    "erp_sent": _l("Sent to the ERP"),
    "erp_error": _l("ERP delivery failed"),
    "erp_confirmed": _l("Confirmed by the ERP"),
    "role_changed": _l("Role changed"),
    "activated": _l("Activated"),
    "deactivated": _l("Deactivated"),
    "password_changed": _l("Password changed"),
}

HTTP_REASONS = {
    "Bad Request": _l("The request could not be understood"),
    "Unauthorized": _l("Sign-in needed"),
    "Forbidden": _l("Not allowed"),
    "Not Found": _l("Not found"),
    "Method Not Allowed": _l("Not allowed"),
    "Conflict": _l("Not possible right now"),
    "Request Entity Too Large": _l("Too large"),
    "Content Too Large": _l("Too large"),
    "Too Many Requests": _l("Too many attempts"),
    "Internal Server Error": _l("Something went wrong"),
}


# What an error page says, by status: the libraries' own descriptions are not the reader's words.
PAGE_MESSAGES = {
    400: _l("The request could not be understood"),
    404: _l("There is no page at this address"),
    405: _l("This address does not accept that kind of request"),
    413: _l("What was sent is larger than Lote reads; send a smaller file"),
    429: _l("Too many attempts; wait a minute and try again"),
}
CSRF_MISSING = _l("The form's security token is missing; reload the page and try again")
CSRF_INVALID = _l("The form's security token is not valid; reload the page and try again")
SESSION_EXPIRED = _l("Your session expired; reload the page and try again")
SOMETHING_WENT_WRONG = _l("Something went wrong on our side; the error was logged")


def page_message(exc: HTTPException):
    """What the error page says for an HTTP error."""
    if isinstance(exc, CSRFError):
        return _csrf_refusal()
    return PAGE_MESSAGES.get(exc.code, SOMETHING_WENT_WRONG)


def _csrf_refusal():
    """Why the form's token was refused, read from the request in the order Flask-WTF checks."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    sent = request.form.get(field) or any(
        request.headers.get(header) for header in current_app.config["WTF_CSRF_HEADERS"]
    )
    if not sent:
        return CSRF_MISSING
    if field not in session:
        return SESSION_EXPIRED
    return CSRF_INVALID


def _local(value) -> str:
    """A message's parameter, shown the reader's way."""
    if isinstance(value, Message):
        return local_message(value)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return local_number(value)
    if isinstance(value, Decimal):
        return money(value)
    if isinstance(value, date):
        return local_date(value)
    if isinstance(value, Role):
        return role_label(value)
    if isinstance(value, enum.Enum):
        return status_label(value)
    if isinstance(value, list | tuple):
        return ", ".join(_local(item) for item in value)
    return str(value)


def local_message(message) -> str:
    """A domain message (or one a column stored) in the reader's language; plain text, such as a
    message stored before messages had codes, is shown as it is."""
    if isinstance(message, str):
        message = read_stored(message)
    if not message:
        return ""
    if not isinstance(message, Message):
        return str(message)
    text = message.text
    params = {name: _local(value) for name, value in message.params.items()}
    if text.plural is not None:
        return ngettext(text.singular, text.plural, message.params[text.count], **params)
    return gettext(text.singular, **params)


def _label(labels: dict):
    def label(value) -> str:
        if value is None:
            return ""
        key = getattr(value, "value", value)
        return str(labels.get(key, key))

    return label


status_label = _label(STATUS_LABELS)
role_label = _label(ROLE_LABELS)


def status_option(status) -> tuple[str, str]:
    """A status as a (value, label) pair for a <select>."""
    return status.value, status_label(status)


def role_option(role) -> tuple[str, str]:
    return role.value, role_label(role)


def register_labels(app: Flask) -> None:
    app.jinja_env.filters["status_label"] = status_label
    app.jinja_env.filters["status_option"] = status_option
    app.jinja_env.filters["role_label"] = role_label
    app.jinja_env.filters["role_option"] = role_option
    app.jinja_env.filters["queue_label"] = _label(QUEUE_LABELS)
    app.jinja_env.filters["audit_action"] = _label(AUDIT_ACTIONS)
    app.jinja_env.filters["http_reason"] = _label(HTTP_REASONS)
    app.jinja_env.filters["message"] = local_message
