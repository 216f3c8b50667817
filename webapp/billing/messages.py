"""The domain's words. Every error and event it reports is a ``Message``: a code with typed
parameters, never a finished sentence. Each code has one text in the catalog, written in the
English the JSON API and the logs answer with; the pages show its translation in the reader's
language, with the parameters formatted their way (counts, amounts, dates, status names).

What the database keeps of a message (a batch's failure, an audit detail) is its code and
parameters, as JSON text, so an old entry reads right in any language. Texts stored before
messages had codes are free English text, shown as they are.

Parameters are typed: ``int`` is a count, ``str`` is shown as written (ids, codes, names),
``date`` a date, ``Decimal`` an amount of money, an enum member a status or role, a ``Message``
a nested message, a list a series of them."""

import enum
import json
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from webapp.models import BatchStatus, PendingStatus, Role, ServiceStatus, SyncStatus


class Text(NamedTuple):
    """A message's catalog entry: its text, and for a count its plural and the parameter that
    chooses between them."""

    singular: str
    plural: str | None = None
    count: str | None = None


def N_(singular: str) -> Text:
    """Marks a text for the catalog (``pybabel extract`` reads ``N_``); translated when shown."""
    return Text(singular)


def N_plural(singular: str, plural: str, count: str) -> Text:
    """Marks a text worded by a count (``pybabel extract -k N_plural:1,2``)."""
    return Text(singular, plural, count)


TEXTS: dict[str, Text] = {
    # Fields and filters
    "field.must_be_date": N_("must be a date"),
    "field.must_be_iso_date": N_("must be a date (YYYY-MM-DD)"),
    "field.must_be_positive_number": N_("must be a positive whole number"),
    "field.not_a_known_value": N_("is not a known value"),
    "field.must_be_text": N_("must be text"),
    "field.required": N_("is required"),
    "field.too_long": N_("must be at most %(count)s characters"),
    "field.not_in_future": N_("must not be in the future"),
    "field.must_be_email": N_("must be an email address"),
    "field.date_range": N_("must be between %(from_date)s and %(to_date)s"),
    "filter.invalid_date_range": N_("Invalid date range"),
    "filter.date_to_before_from": N_("must be on or after dateFrom"),
    "filter.invalid_amount_range": N_("Invalid amount range"),
    "filter.max_below_min": N_("must be at least minAmount"),
    "filter.invalid": N_("Invalid filter"),
    "page.invalid": N_("Invalid pagination"),
    "page.at_least_one": N_("must be 1 or more"),
    "page.limit_range": N_("must be between 1 and %(count)s"),
    "page.after_id": N_("must be an id"),
    # Money and IVA
    "amount.format": N_("must be a number such as 1500.00"),
    "amount.positive": N_("must be greater than 0"),
    "amount.at_most": N_("must be at most %(amount)s"),
    "amount.two_decimals": N_("must have at most two decimals"),
    "vat.rate": N_("must be one of %(rates)s"),
    # Selections of ids
    "ids.none": N_("No ids given"),
    "ids.empty": N_("must not be empty"),
    "ids.invalid": N_("Invalid ids"),
    "ids.positive": N_("must be positive whole numbers"),
    "ids.repeated": N_("Repeated ids"),
    "ids.no_repeats": N_("must not repeat an id"),
    "ids.too_many": N_("At most %(limit)s ids may be given at once; %(count)s were given"),
    "row.missing": N_("does not exist"),
    # Services
    "service.invalid": N_("The service has invalid fields"),
    "service.not_found": N_("Service %(id)s not found"),
    "service.not_editable": N_(
        "Service %(id)s is %(status)s; only a CREATED service can be edited"
    ),
    "service.not_deletable": N_(
        "Service %(id)s is %(status)s; only a CREATED service can be deleted"
    ),
    "service.kept_for_audit": N_(
        "Service %(id)s has billing history (cancelled pendings) and is kept for audit"
    ),
    "service.refused": N_plural(
        "%(refused)s of %(count)s service cannot be sent to billing; nothing was sent",
        "%(refused)s of %(count)s services cannot be sent to billing; nothing was sent",
        "count",
    ),
    "service.not_created": N_("is %(status)s, not CREATED"),
    # Pendings
    "pending.not_found": N_("Billing pending %(id)s not found"),
    "pending.not_pending": N_("Billing pending %(id)s is %(status)s, not PENDING"),
    "pending.in_batch": N_("Billing pending %(id)s belongs to batch %(batch)s"),
    "pending.in_failed_batch": N_(
        "Billing pending %(id)s belongs to batch %(batch)s, which failed; abandon the batch to "
        "release its pendings"
    ),
    "pending.is_not_pending": N_("is %(status)s, not PENDING"),
    "pending.after_issue_date": N_(
        "service date %(service_date)s is after the issue date %(issue_date)s"
    ),
    "pending.belongs_to_batch": N_("belongs to batch %(batch)s"),
    # Receipt books, points of sale and issue dates
    "book.invalid": N_("Invalid receipt book"),
    "book.hint": N_(
        "must look like A-0001: letter A, B or C, a dash, and a point of sale from 1 to 99999;"
        " a note book starts with NC- or ND- (NC-A-0001)"
    ),
    "book.point_of_sale": N_("point of sale %(point)s"),
    "point_of_sale.invalid": N_("Invalid point of sale"),
    "point_of_sale.range": N_("must be a whole number from 1 to %(limit)s"),
    "point_of_sale.not_issuers": N_(
        "point of sale %(point)s is not one of the issuer's (%(listed)s)"
    ),
    "issue_date.invalid": N_("Invalid issue date"),
    "issue_date.refused": N_("Issue date %(problem)s"),
    "issue_date.window": N_(
        "must be within %(window)s days of today (%(today_date)s); %(issue_date)s is outside the "
        "fiscal window"
    ),
    "issue_date.before_book": N_(
        "must not be earlier than %(last_date)s, the last issue date of receipt book %(book)s"
    ),
    # Batches
    "batch.issuer_first": N_(
        "Set the issuer first (Settings, Issuer): its IVA condition decides the letters"
    ),
    "batch.names_a_book": N_("A batch names a receipt book or a point of sale"),
    "batch.book_or_point_hint": N_("give a point of sale, or a receiptBook such as A-0001"),
    "batch.book_and_point_disagree": N_("The receipt book and the point of sale disagree"),
    "batch.point_of_book": N_("must be %(point)s, the point of sale of %(book)s, or be left out"),
    "batch.letters_issued": N_("the issuer issues Factura %(issued)s, not %(letter)s"),
    "batch.two_letters": N_("%(first)s and %(second)s"),
    "batch.too_large": N_("A batch holds at most %(limit)s pendings; %(count)s were given"),
    "batch.too_large_to_wait": N_(
        "A batch of %(count)s pendings is too large to invoice while you wait (at most "
        "%(limit)s); use POST /api/billing-batches, which queues it"
    ),
    "batch.refused_pendings": N_plural(
        "%(refused)s of %(count)s pending cannot be batched; no batch was created",
        "%(refused)s of %(count)s pendings cannot be batched; no batch was created",
        "count",
    ),
    "batch.not_found": N_("Billing batch %(id)s not found"),
    "batch.abandoned_no_retry": N_("Batch %(id)s was abandoned; it cannot be retried"),
    "batch.unanswered_vouchers": N_(
        "Batch %(id)s has vouchers the tax authority has not answered for, and it does not "
        "answer now; try again later"
    ),
    "batch.not_retryable": N_("Batch %(id)s is %(status)s; only an ERROR batch is retried"),
    "batch.already_abandoned": N_("Batch %(id)s was already abandoned"),
    "batch.not_abandonable": N_("Batch %(id)s is %(status)s; only an ERROR batch can be abandoned"),
    # Invoicing a batch: what a failed attempt leaves on the batch
    "invoicing.retrying": N_("Attempt %(attempt)s failed: %(reason)s; retrying"),
    "invoicing.cae_unanswered": N_("The tax authority (CAE) did not answer"),
    "invoicing.database_unavailable": N_("The database was unavailable during invoicing"),
    "invoicing.unexpected": N_("Unexpected error during invoicing (%(kind)s)"),
    "invoicing.issuer_not_set": N_("The issuer is not set; set it on the issuer settings page"),
    "invoicing.issue_date_used": N_(
        "Issue date %(issue_date)s is earlier than %(last_date)s, already used by receipt book "
        "%(book)s"
    ),
    "invoicing.customers_changed": N_(
        "%(count)s of the batch's pendings could not be invoiced: their customers were changed "
        "since, and now take another letter or are incomplete"
    ),
    "invoicing.answer_lost": N_("The tax authority's answer was lost"),
    "book.in_use": N_("Receipt book %(book)s is in use by batch %(batch)s"),
    "book.awaiting_answer": N_(
        "Receipt book %(book)s has vouchers of batch %(batch)s waiting for the tax authority's "
        "answer; retry or abandon batch %(batch)s first"
    ),
    "book.not_found": N_("Receipt book %(book)s not found"),
    "book.in_step_nothing_to_reconcile": N_(
        "Receipt book %(book)s is in step with the tax authority (last number %(last)s); there "
        "is nothing to reconcile"
    ),
    "book.authority_behind": N_(
        "Receipt book %(book)s is ahead of the tax authority: Lote's last number is %(last)s, "
        "the authority's is %(authority_last)s; Lote cannot reconcile a book the authority is "
        "behind on, check it with the authority"
    ),
    "book.call_in_flight": N_(
        "Receipt book %(book)s has a call to the tax authority in flight; resuming or "
        "abandoning its batch resolves it first"
    ),
    "book.authority_hides": N_(
        "Receipt book %(book)s: the tax authority has voucher %(number)s as authorized but "
        "cannot show it; check the book with the authority"
    ),
    "book.changed_meanwhile": N_(
        "Receipt book %(book)s changed while the tax authority was asked; reconcile it again"
    ),
    "audit.reconciled": N_("%(book)s: vouchers %(first)s to %(last)s issued outside Lote"),
    "authority.silent": N_("The tax authority did not answer; try again later"),
    # Credit and debit notes
    "batch.notes_from_invoices": N_(
        "must be an invoice book such as A-0001; a note is asked for from the voucher it corrects"
    ),
    "document_type.known": N_("must be one of %(codes)s"),
    "note.invalid": N_("The note has invalid fields"),
    "note.before_voucher": N_("must be on or after %(issue_date)s, the date of the voucher"),
    "note.issued_outside": N_(
        "%(number)s was issued outside Lote; correct it in the system that issued it"
    ),
    "note.other_customer": N_("%(number)s is billed to customer %(customer)s"),
    "note.credit_of_credit": N_("%(number)s is a credit note; a credit note cannot be credited"),
    "note.debit_of_note": N_("%(number)s is a note; a debit note is issued for an invoice"),
    "note.nothing_left": N_("Nothing is left of %(number)s to credit"),
    "note.over_balance": N_("The balance of %(number)s is %(balance)s; credit at most that"),
    "note.batch_of_notes": N_("Batch %(id)s is a batch of notes; only invoices are credited"),
    "note.batch_running": N_("Batch %(id)s is %(status)s; credit it once it has ended"),
    "note.batch_nothing_left": N_("Nothing is left of the invoices of batch %(id)s to credit"),
    "invoice.issued_outside": N_(
        "Invoice %(number)s was issued outside Lote; the system that issued it holds its PDF"
    ),
    "erp.issued_outside": N_(
        "Invoice %(number)s was issued outside Lote; it is not sent to the ERP"
    ),
    "erp.issued_outside_many": N_(
        "%(count)s invoices were issued outside Lote (%(numbers)s); they are not sent to the ERP"
    ),
    "erp.reason_issued_outside": N_("issued outside Lote"),
    "book.out_of_step": N_(
        "Receipt book %(book)s is out of step with the tax authority: Lote's last number is "
        "%(last)s, the authority's is %(authority_last)s; reconcile the book"
    ),
    "book.not_next": N_(
        "Receipt book %(book)s: the tax authority refused number %(number)s as not the next one; "
        "its vouchers will be checked"
    ),
    # Customers
    "customer.invalid": N_("The customer has invalid fields"),
    "customer.exists": N_("Customer %(id)s already exists"),
    "customer.no_free_id": N_("Every customer id is taken; give the new customer an id"),
    "customer.document_taken": N_("belongs to customer %(id)s"),
    "customer.not_found": N_("Customer %(id)s not found"),
    "customer.complete_first": N_("complete customer %(id)s first"),
    "customer.takes_letter": N_("customer %(id)s takes a Factura %(letter)s"),
    "customer.abroad": N_(
        "customer %(id)s is a customer abroad: it needs a Factura E, which Lote does not issue"
    ),
    "customer.no_iva_condition": N_("customer %(id)s has no IVA condition"),
    "customer.payment_days": N_("must be 0 to %(count)s days"),
    "customer.doc_type_hint": N_("must be 80 (CUIT), 86 (CUIL), 96 (DNI) or 99 (unidentified)"),
    "customer.iva_condition_hint": N_("is not an IVA condition code of RG 5616"),
    "customer.cuit_required": N_("must be 80 (CUIT) for this IVA condition"),
    "customer.only_final_consumer": N_("only a Consumidor Final (5) may be unidentified (99)"),
    "customer.unidentified_number": N_("must be 0 for an unidentified customer (99)"),
    "customer.dni_digits": N_("must have 7 or 8 digits"),
    "cuit.string": N_("must be a string of digits"),
    "cuit.check_digit": N_("has a wrong check digit"),
    "cuit.length": N_("must have 11 digits"),
    "cuit.format": N_("must have 11 digits, dashes optional"),
    "import.refused": N_("The file cannot be imported"),
    "import.too_big": N_("must be at most %(count)s bytes"),
    "import.no_rows": N_("has no rows"),
    "import.header": N_("the header must name the columns %(columns)s"),
    "import.too_many_rows": N_("must have at most %(count)s rows"),
    "import.cells": N_("has another number of cells than the header"),
    "import.repeats_line": N_("repeats line %(line)s"),
    # The issuer
    "issuer.invalid": N_("The issuer has invalid fields"),
    "issuer.iva_condition_hint": N_("must be responsable-inscripto, monotributo or exento"),
    "issuer.points_of_sale": N_("must be whole numbers from 1 to %(limit)s"),
    "issuer.not_set": N_("The issuer is not set yet: an admin sets it on the settings page"),
    # The sales book (Libro IVA Digital)
    "tax_book.not_a_month": N_("%(month)s is not a month: write it as yyyy-mm, such as 2026-03"),
    "tax_book.month_format": N_("must be a month written yyyy-mm"),
    "tax_book.future": N_("Month %(month)s is in the future"),
    # Invoices and the ERP
    "invoice.not_found": N_("Invoice %(id)s not found"),
    "erp.either": N_("Give either invoiceIds or batchId"),
    "erp.not_both": N_("give invoiceIds or batchId, not both"),
    "erp.one_of": N_("give invoiceIds or batchId"),
    "erp.invoices_missing": N_plural(
        "%(count)s invoice not found", "%(count)s invoices not found", "count"
    ),
    "erp.batch_not_processed": N_("Batch %(id)s is %(status)s; only PROCESSED batches sync"),
    "erp.numbers_and_more": N_("%(numbers)s and %(count)s more"),
    "erp.batch_all_sent": N_("Batch %(id)s has no invoice left to send to the ERP"),
    "erp.nothing_to_send": N_("There are no invoices to send"),
    "erp.invoice_sent": N_("Invoice %(number)s was already sent to the ERP; nothing was sent"),
    "erp.invoices_sent": N_(
        "%(count)s invoices were already sent to the ERP (%(numbers)s); nothing was sent"
    ),
    "erp.already_in": N_("already in %(sync)s"),
    "erp.sync_not_found": N_("ERP sync %(id)s not found"),
    "erp.not_confirmable": N_("ERP sync %(id)s is %(status)s; only a SENT sync is confirmed"),
    "erp.outage": N_("The ERP rejected the delivery (simulated outage); try again"),
    # Users and access
    "user.invalid": N_("The user has invalid fields"),
    "user.exists": N_("User %(name)s already exists"),
    "user.taken": N_("is already taken"),
    "user.not_found": N_("User %(name)s not found"),
    "user.password_invalid": N_("The password is not valid"),
    "user.role_invalid": N_("Invalid role"),
    "user.role_hint": N_("must be admin, clerk or viewer"),
    "user.own_admin_role": N_("You cannot remove your own admin role"),
    "user.deactivate_self": N_("You cannot deactivate yourself"),
    "user.name_hint": N_("use 1-%(count)s letters a-z, digits, dots, dashes or underscores"),
    "user.name_ascii": N_(
        "use only the letters a-z, without accents: letters of other alphabets can look like "
        "another user's name"
    ),
    "password.short": N_("must have at least %(count)s characters"),
    "password.spaces": N_("must not be only spaces"),
    "password.common": N_("is too common; choose one that is harder to guess"),
    "password.user_name": N_("must not contain the user name"),
    "access.viewer": N_("Your role (viewer) can read but not change data"),
    "access.role_needed": N_("This needs the %(role)s role"),
    "access.user_locked_out": N_(
        "Too many sign-in attempts for this user from your address; the password was not "
        "checked. Wait a minute and try again"
    ),
    "access.address_locked_out": N_(
        "Too many sign-in attempts from your address; the password was not checked. Wait a "
        "minute and try again"
    ),
    # Requests no page or endpoint reads
    "request.no_record": N_("There is no record %(id)s"),
    "request.nul": N_("The request contains a NUL character"),
    "request.no_nul": N_("must not contain NUL"),
    "request.not_unicode": N_("The request contains text that is not valid Unicode"),
    "request.unicode": N_("must be valid Unicode"),
    "request.too_deep": N_("The request body is nested too deeply"),
    "request.depth": N_("must nest at most %(count)s levels"),
    "request.not_json": N_("The request body is not valid JSON"),
    "request.json_error": N_("line %(line)s, column %(column)s: %(problem)s"),
    "request.utf8": N_("must be UTF-8 text"),
    "request.json_content_type": N_(
        "must be sent as JSON, with the header Content-Type: application/json (it came as "
        "%(content_type)s)"
    ),
    "request.number_too_long": N_("The request body holds a number too long to read"),
    "request.digits": N_("numbers must have at most %(count)s digits"),
    # Audit details: what an event did, beside who and when
    "audit.amount": N_("amount %(amount)s"),
    "audit.changed": N_("changed %(fields)s"),
    "audit.role": N_("role %(role)s"),
    "audit.of_service": N_("service %(id)s"),
    "audit.imported": N_("imported"),
    "audit.adopted": N_("%(book)s starts after %(number)s"),
    "audit.batch_created": N_plural(
        "%(count)s pending, %(book)s", "%(count)s pendings, %(book)s", "count"
    ),
    "audit.pendings_released": N_plural(
        "%(count)s pending released", "%(count)s pendings released", "count"
    ),
    "audit.invoices": N_plural("%(count)s invoice", "%(count)s invoices", "count"),
    "audit.credit_note": N_("credit note of %(number)s for %(amount)s"),
    "audit.debit_note": N_("debit note of %(number)s for %(amount)s"),
    "audit.batch_credited": N_("credits the invoices of batch %(id)s"),
    "audit.credited_by": N_("its invoices credited by batch %(id)s"),
    # What a clerk changes, named in the clerk's words
    "field.service_date": N_("service date"),
    "field.customer_id": N_("customer"),
    "field.amount": N_("amount"),
    "field.vat_rate": N_("IVA rate"),
    "field.description": N_("description"),
    "field.legal_name": N_("legal name"),
    "field.doc_type": N_("document type"),
    "field.doc_number": N_("document number"),
    "field.iva_condition": N_("IVA condition"),
    "field.address": N_("address"),
    "field.email": N_("email"),
    "field.payment_days": N_("payment days"),
    "field.cuit": N_("CUIT"),
    "field.iibb_number": N_("gross income number"),
    "field.activities_start": N_("start of activities"),
    "field.points_of_sale": N_("points of sale"),
}

STATUSES = {
    member.value: member
    for kind in (ServiceStatus, PendingStatus, BatchStatus, SyncStatus)
    for member in kind
}
STORED_PREFIX = '{"code":'


class Message:
    """A domain message: its code (a key of ``TEXTS``) and typed parameters. ``str()`` is its
    English text, the API's and the logs'."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, **params):
        if code not in TEXTS:
            raise KeyError(f"no text for message {code!r}")
        self.code = code
        self.params = params

    @property
    def text(self) -> Text:
        return TEXTS[self.code]

    def pattern(self, count_is_one: bool) -> str:
        text = self.text
        return text.singular if text.plural is None or count_is_one else text.plural

    def __str__(self) -> str:
        text = self.text
        one = text.count is not None and self.params[text.count] == 1
        return self.pattern(one) % {name: english(value) for name, value in self.params.items()}

    def __repr__(self) -> str:
        return f"Message({self.code!r}, {self.params!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Message) and (self.code, self.params) == (other.code, other.params)

    __hash__ = None


def changed_fields(names) -> "Message":
    """An edit's audit detail: the fields it changed (model attribute names), as the clerk calls
    them."""
    return Message("audit.changed", fields=[Message(f"field.{name}") for name in sorted(names)])


def letters_named(letters) -> "Message | str":
    """Invoice letters as a message names them: ``C``, or ``A and B``."""
    if len(letters) == 1:
        return letters[0]
    first, second = letters
    return Message("batch.two_letters", first=first, second=second)


def english(value) -> str:
    """A parameter, a message, or a stored message, as the API and the logs write it."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = read_stored(value)
        return value if isinstance(value, str) else str(value)
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ", ".join(english(item) for item in value)
    return str(value)


def message_of(exc: Exception) -> "Message | str":
    """The message an exception was raised with."""
    first = exc.args[0] if exc.args else ""
    return first if isinstance(first, Message) else str(exc)


def _encode(value):
    if isinstance(value, Message):
        return {"message": {"code": value.code, "params": _encode(value.params)}}
    if isinstance(value, dict):
        return {name: _encode(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if isinstance(value, Role):
        return {"role": value.value}
    if isinstance(value, enum.Enum):
        return {"status": value.value}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, Decimal):
        return {"amount": str(value)}
    return value


def _decode(value):
    if isinstance(value, list):
        return [_decode(item) for item in value]
    if not isinstance(value, dict):
        return value
    [(tag, item)] = value.items()
    if tag == "message":
        return Message(item["code"], **{name: _decode(v) for name, v in item["params"].items()})
    if tag == "role":
        return Role(item)
    if tag == "status":
        return STATUSES[item]
    if tag == "date":
        return date.fromisoformat(item)
    if tag == "amount":
        return Decimal(item)
    raise ValueError(f"unknown parameter type {tag!r}")


def stored(message: "Message | str | None") -> str | None:
    """A message as a text column keeps it: its code and parameters as JSON."""
    if message is None or isinstance(message, str):
        return message
    return json.dumps(_encode(message)["message"], ensure_ascii=False, separators=(",", ":"))


def read_stored(text: str | None) -> "Message | str | None":
    """The message a text column keeps; free text (stored before messages had codes, or with a
    code no longer known) comes back as it is."""
    if not text or not text.startswith(STORED_PREFIX):
        return text
    try:
        return _decode({"message": json.loads(text)})
    except (ValueError, KeyError, TypeError):
        return text
