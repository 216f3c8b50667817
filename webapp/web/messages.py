"""What the pages call things, in the clerk's language: status, role and audit labels, and the
domain's messages.

The domain speaks plain English for the JSON API and the logs. Pages show its messages through
``domain_message``, which words the ones it knows for clerks (in Spanish or English) and shows any
other unchanged, so a new domain message is never lost, only untranslated until added here.
"""

import re
from datetime import date
from decimal import Decimal

from flask import Flask
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

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
    "failed": _l("Failed"),
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

FIXED_MESSAGES = {
    # Fields and filters
    "must be a date": _l("must be a date"),
    "must be a date (YYYY-MM-DD)": _l("must be a date"),
    "must be a positive whole number": _l("must be a positive whole number"),
    "is not a known value": _l("is not one of the offered values"),
    "must be on or after dateFrom": _l("must be on or after the start date"),
    "Invalid date range": _l("The end date is before the start date"),
    "must be at least minAmount": _l("must be at least the minimum amount"),
    "Invalid amount range": _l("The maximum amount is below the minimum"),
    "must be 1 or more": _l("must be 1 or more"),
    "Invalid pagination": _l("That page does not exist"),
    # Money
    "must be a number such as 1500.00": _l("must be an amount such as 1500.00"),
    "must be greater than 0": _l("must be greater than 0"),
    "must have at most two decimals": _l("must have at most two decimals"),
    # Services and selections
    "The service has invalid fields": _l("The service was not saved: check the marked fields"),
    "No ids given": _l("Nothing was selected"),
    "must not be empty": _l("select at least one row"),
    "Invalid ids": _l("The selection is not valid"),
    "must be positive whole numbers": _l("must be row numbers"),
    "Repeated ids": _l("The selection repeats a row"),
    "must not repeat an id": _l("must not repeat a row"),
    "does not exist": _l("does not exist"),
    # Batches
    "Invalid receipt book": _l("The receipt book is not valid"),
    "must look like A-0001: letter A, B or C, a dash, and a point of sale from 1 to 99999": _l(
        "must look like A-0001: letter A, B or C, a dash, and a point of sale from 1 to 99999"
    ),
    "give a point of sale, or a receiptBook such as A-0001": _l(
        "choose a point of sale, or name a receipt book such as A-0001"
    ),
    "A batch names a receipt book or a point of sale": _l("Choose the point of sale of the batch"),
    "Invalid point of sale": _l("Invalid point of sale"),
    "The receipt book and the point of sale disagree": _l(
        "The receipt book and the point of sale disagree"
    ),
    "Invalid issue date": _l("The issue date is not valid"),
    "The tax authority (CAE) did not answer": _l("The tax authority (CAE) did not answer"),
    "The tax authority did not answer; try again later": _l(
        "The tax authority did not answer; try again later"
    ),
    "issued outside Lote": _l("issued outside Lote"),
    "The database was unavailable during invoicing": _l(
        "The database was unavailable during invoicing"
    ),
    # ERP
    "There are no invoices to send": _l("There are no invoices to send"),
    "The ERP rejected the delivery (simulated outage); try again": _l(
        "The ERP rejected the delivery (simulated outage); try again"
    ),
    # Users
    "use 1-64 letters a-z, digits, dots, dashes or underscores": _l(
        "use 1 to 64 letters a-z, digits, dots, dashes or underscores"
    ),
    "use only the letters a-z, without accents: letters of other alphabets can look like "
    "another user's name": _l(
        "use only the letters a-z, without accents: letters of other alphabets can look like "
        "another user's name"
    ),
    "must not be only spaces": _l("must not be only spaces"),
    "is too common; choose one that is harder to guess": _l(
        "is too common; choose one that is harder to guess"
    ),
    "must not contain the user name": _l("must not contain the user name"),
    "must be admin, clerk or viewer": _l("choose one of the offered roles"),
    "The user has invalid fields": _l("The user was not created: check the marked fields"),
    "is already taken": _l("is already taken"),
    "Invalid role": _l("The role is not valid"),
    "You cannot remove your own admin role": _l("You cannot remove your own supervisor role"),
    "You cannot deactivate yourself": _l("You cannot deactivate yourself"),
    # Access and requests
    "The request contains a NUL character": _l(
        "The request contains a character that is not allowed"
    ),
    "must not contain NUL": _l("must not contain invisible control characters"),
    "The request contains text that is not valid Unicode": _l(
        "The request contains a character that is not allowed"
    ),
    "must be valid Unicode": _l("must be valid text"),
    "The request body is nested too deeply": _l("The request is nested too deeply to be read"),
    "Your role (viewer) can read but not change data": _l(
        "Your role (viewer) can read but not change data"
    ),
    "This needs the admin role": _l("This page is for supervisors (admin role)"),
    "The CSRF token is missing.": _l(
        "The form's security token is missing; reload the page and try again"
    ),
    "The CSRF token is invalid.": _l(
        "The form's security token is not valid; reload the page and try again"
    ),
    "The CSRF session token is missing.": _l("Your session expired; reload the page and try again"),
    "Something went wrong on our side; the error was logged": _l(
        "Something went wrong on our side; the error was logged"
    ),
    "Too many attempts; wait a minute and try again": _l(
        "Too many attempts; wait a minute and try again"
    ),
    "Too many sign-in attempts for this user from your address; the password was not checked. "
    "Wait a minute and try again": _l(
        "Too many sign-in attempts for this user from your address; the password was not "
        "checked. Wait a minute and try again"
    ),
    "Too many sign-in attempts from your address; the password was not checked. "
    "Wait a minute and try again": _l(
        "Too many sign-in attempts from your address; the password was not checked. Wait a "
        "minute and try again"
    ),
    "The requested URL was not found on the server. If you entered the URL manually please "
    "check your spelling and try again.": _l("There is no page at this address"),
    "The method is not allowed for the requested URL.": _l(
        "This address does not accept that kind of request"
    ),
    # Customers and the issuer
    "The customer has invalid fields": _l("The customer was not saved: check the marked fields"),
    "The issuer has invalid fields": _l("The issuer was not saved: check the marked fields"),
    "is required": _l("is required"),
    "has a wrong check digit": _l("has a wrong check digit"),
    "must have 11 digits": _l("must have 11 digits"),
    "must have 11 digits, dashes optional": _l("must have 11 digits, with or without dashes"),
    "must have 7 or 8 digits": _l("must have 7 or 8 digits"),
    "must be 0 for an unidentified customer (99)": _l(
        "must be 0 for an unidentified customer (99)"
    ),
    "must be 80 (CUIT) for this IVA condition": _l("must be 80 (CUIT) for this IVA condition"),
    "only a Consumidor Final (5) may be unidentified (99)": _l(
        "only a Consumidor Final (5) may be unidentified (99)"
    ),
    "must be 80 (CUIT), 86 (CUIL), 96 (DNI) or 99 (unidentified)": _l(
        "choose one of the offered document types"
    ),
    "is not an IVA condition code of RG 5616": _l("is not an IVA condition code of RG 5616"),
    "must be responsable-inscripto, monotributo or exento": _l(
        "choose one of the offered IVA conditions"
    ),
    "must be an email address": _l("must be an email address"),
    "must be text": _l("must be text"),
    "must not be in the future": _l("must not be in the future"),
    "must be a month written yyyy-mm": _l("must be a month written yyyy-mm, such as 2026-03"),
    "Invalid filter": _l("The filter is not valid"),
    "The file cannot be imported": _l("The file cannot be imported"),
    "has no rows": _l("has no rows"),
    "has another number of cells than the header": _l(
        "has another number of cells than the header"
    ),
}

PATTERNED_MESSAGES = [
    (re.compile(pattern), template)
    for pattern, template in [
        (r"must be at most (?P<count>\d+) characters", _l("must be at most %(count)s characters")),
        (
            r"must have at least (?P<count>\d+) characters",
            _l("must have at least %(count)s characters"),
        ),
        (r"must be at most (?P<amount>\d+\.\d\d)", _l("must be at most %(amount)s")),
        (r"must be between 1 and (?P<count>\d+)", _l("must be between 1 and %(count)s")),
        (r"must nest at most (?P<count>\d+) levels", _l("must nest at most %(count)s levels")),
        (r"Service (?P<id>\d+) not found", _l("Service %(id)s does not exist")),
        (
            r"Service (?P<id>\d+) is (?P<status>\w+); only a CREATED service can be edited",
            _l("Service %(id)s is %(status)s; only a service still Created can be edited"),
        ),
        (
            r"Service (?P<id>\d+) is (?P<status>\w+); only a CREATED service can be deleted",
            _l("Service %(id)s is %(status)s; only a service still Created can be deleted"),
        ),
        (
            r"Service (?P<id>\d+) has billing history \(cancelled pendings\) and is kept for audit",
            _l(
                "Service %(id)s has billing history (cancelled pendings), so it is kept for the "
                "audit trail"
            ),
        ),
        (
            r"(?P<refused>\d+) of (?P<count>\d+) services cannot be sent to billing; "
            r"nothing was sent",
            lambda n, **parts: ngettext(
                "%(refused)s of %(count)s service cannot be sent to billing; nothing was sent",
                "%(refused)s of %(count)s services cannot be sent to billing; nothing was sent",
                n,
                **parts,
            ),
        ),
        (
            r"must be between (?P<from_date>\d{4}-\d\d-\d\d) and (?P<to_date>\d{4}-\d\d-\d\d)",
            _l("must be between %(from_date)s and %(to_date)s"),
        ),
        (
            r"service date (?P<service_date>[\d-]+) is after the issue date "
            r"(?P<issue_date>[\d-]+)",
            _l("its service date, %(service_date)s, is after the issue date, %(issue_date)s"),
        ),
        (r"is (?P<status>\w+), not CREATED", _l("is %(status)s, not Created")),
        (r"is (?P<status>\w+), not PENDING", _l("is %(status)s, not Pending")),
        (r"belongs to batch (?P<batch>\d+)", _l("belongs to batch %(batch)s")),
        (r"already in (?P<sync>SYNC-[\w-]+)", _l("already sent in %(sync)s")),
        (r"Billing pending (?P<id>\d+) not found", _l("Pending %(id)s does not exist")),
        (
            r"Billing pending (?P<id>\d+) is (?P<status>\w+), not PENDING",
            _l("Pending %(id)s is %(status)s, so it cannot be cancelled"),
        ),
        (
            r"Billing pending (?P<id>\d+) belongs to batch (?P<batch>\d+)",
            _l("Pending %(id)s belongs to batch %(batch)s, so it cannot be cancelled"),
        ),
        (
            r"Billing pending (?P<id>\d+) belongs to batch (?P<batch>\d+), which failed; "
            r"abandon the batch to release its pendings",
            _l(
                "Pending %(id)s belongs to batch %(batch)s, which failed; abandon that batch to "
                "release its pendings"
            ),
        ),
        (
            r"A batch holds at most (?P<limit>\d+) pendings; (?P<count>\d+) were given",
            _l("A batch holds at most %(limit)s pendings; %(count)s were selected"),
        ),
        (
            r"must be within (?P<window>\d+) days of today \((?P<today_date>[\d-]+)\); "
            r"(?P<issue_date>[\d-]+) is outside the fiscal window",
            _l(
                "must be within %(window)s days of today (%(today_date)s); %(issue_date)s is "
                "outside the fiscal window"
            ),
        ),
        (
            r"must not be earlier than (?P<last_date>[\d-]+), the last issue date of receipt "
            r"book (?P<book>[\w-]+)",
            _l(
                "must not be earlier than %(last_date)s, the last issue date of receipt book "
                "%(book)s"
            ),
        ),
        (r"Issue date (?P<problem>must .+)", _l("Issue date %(problem)s")),
        (
            r"(?P<refused>\d+) of (?P<count>\d+) pendings cannot be batched; no batch was created",
            lambda n, **parts: ngettext(
                "%(refused)s of %(count)s pending cannot be batched; no batch was created",
                "%(refused)s of %(count)s pendings cannot be batched; no batch was created",
                n,
                **parts,
            ),
        ),
        (r"Billing batch (?P<id>\d+) not found", _l("Batch %(id)s does not exist")),
        (
            r"Batch (?P<id>\d+) is (?P<status>\w+); only an ERROR batch is retried",
            _l("Batch %(id)s is %(status)s; only a batch in Error can be retried"),
        ),
        (
            r"Batch (?P<id>\d+) is (?P<status>\w+); only an ERROR batch can be abandoned",
            _l("Batch %(id)s is %(status)s; only a batch in Error can be abandoned"),
        ),
        (
            r"Batch (?P<id>\d+) was abandoned; it cannot be retried",
            _l("Batch %(id)s was abandoned; it cannot be retried"),
        ),
        (r"Batch (?P<id>\d+) was already abandoned", _l("Batch %(id)s was already abandoned")),
        (
            r"Attempt (?P<attempt>\d+) failed: (?P<reason>.+); retrying",
            _l("Attempt %(attempt)s failed: %(reason)s; retrying"),
        ),
        (
            r"Issue date (?P<issue_date>[\d-]+) is earlier than (?P<last_date>[\d-]+), already "
            r"used by receipt book (?P<book>[\w-]+)",
            _l(
                "Issue date %(issue_date)s is earlier than %(last_date)s, already used by receipt "
                "book %(book)s"
            ),
        ),
        (
            r"Unexpected error during invoicing \((?P<kind>\w+)\)",
            _l("Unexpected error during invoicing (%(kind)s)"),
        ),
        (r"Invoice (?P<id>[\w-]+) not found", _l("Invoice %(id)s does not exist")),
        (r"Receipt book (?P<book>[\w-]+) not found", _l("Receipt book %(book)s does not exist")),
        (
            r"Receipt book (?P<book>[\w-]+) is out of step with the tax authority: Lote's last "
            r"number is (?P<last>\d+), the authority's is (?P<authority>\d+); reconcile the book",
            _l(
                "Receipt book %(book)s is out of step with the tax authority: Lote's last number "
                "is %(last)s, the authority's is %(authority)s; reconcile the book on the receipt "
                "books page"
            ),
        ),
        (
            r"Receipt book (?P<book>[\w-]+) is in step with the tax authority \(last number "
            r"(?P<last>\d+)\); there is nothing to reconcile",
            _l(
                "Receipt book %(book)s is in step with the tax authority (last number %(last)s); "
                "there is nothing to reconcile"
            ),
        ),
        (
            r"Receipt book (?P<book>[\w-]+) is ahead of the tax authority: Lote's last number is "
            r"(?P<last>\d+), the authority's is (?P<authority>\d+); Lote cannot reconcile a book "
            r"the authority is behind on, check it with the authority",
            _l(
                "Receipt book %(book)s is ahead of the tax authority: Lote's last number is "
                "%(last)s, the authority's is %(authority)s; Lote cannot reconcile a book the "
                "authority is behind on, check it with the authority"
            ),
        ),
        (
            r"Receipt book (?P<book>[\w-]+) has a call to the tax authority in flight; resuming "
            r"or abandoning its batch resolves it first",
            _l(
                "Receipt book %(book)s has a call to the tax authority in flight; resuming or "
                "abandoning its batch resolves it first"
            ),
        ),
        (
            r"Receipt book (?P<book>[\w-]+): the tax authority has voucher (?P<number>\d+) as "
            r"authorized but cannot show it; check the book with the authority",
            _l(
                "Receipt book %(book)s: the tax authority has voucher %(number)s as authorized "
                "but cannot show it; check the book with the authority"
            ),
        ),
        (
            r"Receipt book (?P<book>[\w-]+) changed while the tax authority was asked; "
            r"reconcile it again",
            _l(
                "Receipt book %(book)s changed while the tax authority was asked; reconcile it "
                "again"
            ),
        ),
        (
            r"Invoice (?P<number>[\w-]+) was issued outside Lote; it is not sent to the ERP",
            _l("Invoice %(number)s was issued outside Lote; it is not sent to the ERP"),
        ),
        (
            r"(?P<count>\d+) invoices were issued outside Lote \((?P<numbers>.+)\); they are "
            r"not sent to the ERP",
            _l(
                "%(count)s invoices were issued outside Lote (%(numbers)s); they are not sent to "
                "the ERP"
            ),
        ),
        (
            r"Invoice (?P<number>[\w-]+) was issued outside Lote; the system that issued it "
            r"holds its PDF",
            _l(
                "Invoice %(number)s was issued outside Lote; the system that issued it holds its "
                "PDF"
            ),
        ),
        (
            r"Batch (?P<id>\d+) is (?P<status>\w+); only PROCESSED batches sync",
            _l("Batch %(id)s is %(status)s; only Processed batches can go to the ERP"),
        ),
        (
            r"(?P<count>\d+) invoices were already sent to the ERP \((?P<numbers>.+)\); "
            r"nothing was sent",
            _l("%(count)s invoices were already sent to the ERP (%(numbers)s); nothing was sent"),
        ),
        (
            r"Invoice (?P<number>[\w-]+) was already sent to the ERP; nothing was sent",
            _l("Invoice %(number)s was already sent to the ERP; nothing was sent"),
        ),
        (
            r"Batch (?P<id>\d+) has no invoice left to send to the ERP",
            _l("Batch %(id)s has no invoice left to send to the ERP"),
        ),
        (r"ERP sync (?P<id>[\w-]+) not found", _l("ERP delivery %(id)s does not exist")),
        (
            r"ERP sync (?P<id>[\w-]+) is (?P<status>\w+); only a SENT sync is confirmed",
            _l("ERP delivery %(id)s is %(status)s; only a Sent delivery can be confirmed"),
        ),
        (r"User (?P<name>\S+) already exists", _l("User %(name)s already exists")),
        (r"User (?P<id>\d+) not found", _l("User %(id)s does not exist")),
        (r"Customer (?P<id>\d+) already exists", _l("Customer %(id)s already exists")),
        (r"Customer (?P<id>\d+) not found", _l("Customer %(id)s does not exist")),
        (r"must be 0 to (?P<count>\d+) days", _l("must be 0 to %(count)s days")),
        (
            r"(?P<month>'.*') is not a month: write it as yyyy-mm, such as 2026-03",
            _l("%(month)s is not a month: write it as yyyy-mm, such as 2026-03"),
        ),
        (r"Month (?P<month>[\d-]+) is in the future", _l("Month %(month)s is in the future")),
        (r"repeats line (?P<line>\d+)", _l("repeats line %(line)s")),
        (r"belongs to customer (?P<id>\d+)", _l("belongs to customer %(id)s")),
        (r"must be at most (?P<count>\d+) bytes", _l("must be at most %(count)s bytes")),
        (r"must have at most (?P<count>\d+) rows", _l("must have at most %(count)s rows")),
        (
            r"the header must name the columns (?P<columns>.+)",
            _l("the header must name the columns %(columns)s"),
        ),
        (
            r"must be whole numbers from 1 to (?P<limit>\d+)",
            _l("must be whole numbers from 1 to %(limit)s"),
        ),
        (
            r"complete customer (?P<id>\d+) first",
            _l("complete customer %(id)s first"),
        ),
        (
            r"customer (?P<id>\d+) takes a Factura (?P<letter>[ABC])",
            _l("customer %(id)s takes a Factura %(letter)s"),
        ),
        (
            r"customer (?P<id>\d+) is a customer abroad: it needs a Factura E, which Lote does "
            r"not issue",
            _l("customer %(id)s is abroad: it needs a Factura E, which Lote does not issue"),
        ),
        (
            r"the issuer issues Factura (?P<issued>[ABC](?: and [ABC])?), not (?P<letter>[ABC])",
            _l("the issuer issues Factura %(issued)s, not %(letter)s"),
        ),
        (
            r"point of sale (?P<point>\d+) is not one of the issuer's \((?P<listed>[0-9, ]+)\)",
            _l("point of sale %(point)s is not one of the issuer's (%(listed)s)"),
        ),
        (
            r"must be (?P<point>\d+), the point of sale of (?P<book>[ABC]-\d+), or be left out",
            _l("must be %(point)s, the point of sale of %(book)s, or be left out"),
        ),
        (
            r"Set the issuer first \(Settings, Issuer\): its IVA condition decides the letters",
            _l("Set the issuer first (Settings, Issuer): its IVA condition decides the letters"),
        ),
    ]
]


def _present(name: str, value: str) -> str:
    """A captured part of a domain message, shown the clerk's way."""
    if name == "status":
        return str(STATUS_LABELS.get(value, value))
    if name in ("count", "refused", "limit"):
        return local_number(int(value))
    if name == "amount":
        return money(Decimal(value))
    if name.endswith("date"):
        try:
            return local_date(date.fromisoformat(value))
        except ValueError:
            return value
    if name in ("problem", "reason"):
        return domain_message(value)
    if name == "numbers":
        named, _and, more = value.rpartition(" and ")
        if _and and more.endswith(" more") and more.removesuffix(" more").isdigit():
            hidden = local_number(int(more.removesuffix(" more")))
            return _("%(numbers)s and %(count)s more", numbers=named, count=hidden)
    return value


def domain_message(message: str | None) -> str:
    """The clerk's wording of a domain (or HTTP) message; unknown ones are shown unchanged."""
    if not message:
        return ""
    fixed = FIXED_MESSAGES.get(message)
    if fixed is not None:
        return str(fixed)
    for pattern, template in PATTERNED_MESSAGES:
        match = pattern.fullmatch(message)
        if match:
            parts = {name: _present(name, value) for name, value in match.groupdict().items()}
            if callable(template):  # worded in the singular or the plural by the count
                return template(int(match["count"]), **parts)
            return str(template) % parts
    return message


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
    app.jinja_env.filters["domain_message"] = domain_message
