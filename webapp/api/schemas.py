"""Marshmallow schemas of the JSON API: camelCase on the wire, snake_case in Python, money as
two-decimal strings, unknown fields refused."""

import re
from datetime import UTC

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from webapp.billing.customers import LEGAL_NAME_MAX
from webapp.billing.erp import MAX_INVOICES_PER_SYNC
from webapp.billing.ids import ASCII_DIGITS
from webapp.billing.messages import english
from webapp.billing.money import as_text, parse_amount
from webapp.billing.pagination import DEFAULT_LIMIT, MAX_LIMIT
from webapp.billing.services import DESCRIPTION_MAX
from webapp.billing.tax_book import TaxBookFile
from webapp.models import MAX_ID, BatchStatus, PendingStatus, Role, ServiceStatus, SyncStatus


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class CamelSchema(Schema):
    class Meta:
        unknown = RAISE

    def on_bind_field(self, field_name, field_obj):
        field_obj.data_key = field_obj.data_key or camel(field_name)


# How the document describes money: written with two decimals ("1500.00"); read as an amount
# > 0 with at most two decimals that fits Numeric(12, 2) (a JSON number is read as well).
MONEY_TEXT_PATTERN = r"^[0-9]+\.[0-9]{2}$"
AMOUNT_PATTERN = r"^(?:[1-9][0-9]{0,9}(?:\.[0-9]{1,2})?|0\.(?:0[1-9]|[1-9][0-9]?))$"


class StoredMessage(fields.String):
    """A message a column keeps (a failure, an audit detail), written in English."""

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else english(value)


class Money(fields.Field):
    """An amount > 0 with at most two decimals; read from a string or a number, written as a
    string such as "1500.00"."""

    def __init__(self, *, pattern: str = MONEY_TEXT_PATTERN, **kwargs):
        kwargs["metadata"] = {"pattern": pattern, **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        try:
            return parse_amount(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None

    def _serialize(self, value, attr, obj, **kwargs):
        return None if value is None else as_text(value)


class WholeNumber(fields.Integer):
    """An integer of the query string, written in ASCII digits: marshmallow's int() also reads
    other scripts' digits ("１" would be 1)."""

    def _validated(self, value):
        if isinstance(value, str) and not re.fullmatch(rf"-?{ASCII_DIGITS}", value):
            raise self.make_error("invalid")
        return super()._validated(value)


def amount_in(description: str | None = None, **kwargs) -> Money:
    """A money field the API reads."""
    metadata = {"example": "1500.00"} | ({"description": description} if description else {})
    return Money(pattern=AMOUNT_PATTERN, metadata=metadata, **kwargs)


MONEY_TEXT = {"type": "string", "pattern": MONEY_TEXT_PATTERN}


class IdList(fields.List):
    """A list of record ids. Each id through a field of its own costs microseconds, seconds on a
    batch of 100,000 pendings, so a list of plain ids in range passes in one loop; any other goes
    through the per-id field after all, for the same per-item errors."""

    def __init__(self, **kwargs):
        super().__init__(fields.Integer(strict=True, validate=validate.Range(1, MAX_ID)), **kwargs)

    @staticmethod
    def _plain(value) -> bool:
        return isinstance(value, list) and all(type(i) is int and 0 < i <= MAX_ID for i in value)

    def _deserialize(self, value, attr, data, **kwargs):
        if self._plain(value):
            return list(value)
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if self._plain(value):
            return list(value)
        return super()._serialize(value, attr, obj, **kwargs)


def ids(description: str, maximum: int | None = None):
    return IdList(
        required=True,
        validate=validate.Length(min=1, max=maximum),
        metadata={"description": description},
    )


def enum_of(enum_cls):
    return fields.Enum(enum_cls, by_value=True)


class UtcDateTime(fields.DateTime):
    """A timestamp in ISO 8601 UTC, "2026-01-31T12:00:00Z" (SQLite hands back naive UTC)."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Timestamps(CamelSchema):
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


# Auth ---------------------------------------------------------------------------------------


class LoginIn(CamelSchema):
    username = fields.String(required=True, validate=validate.Length(1, 64))
    password = fields.String(required=True, validate=validate.Length(1, 256))


class TokenOut(CamelSchema):
    access_token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()


class ProfileOut(CamelSchema):
    id = fields.Integer()
    username = fields.String()
    role = fields.Function(
        lambda user: user.role.value, metadata={"type": "string", "enum": [r.value for r in Role]}
    )
    active = fields.Boolean()


# Pagination ---------------------------------------------------------------------------------


class PageQuery(CamelSchema):
    class Meta:
        unknown = EXCLUDE

    page = WholeNumber(load_default=1, validate=validate.Range(1, 10_000_000))
    limit = WholeNumber(load_default=DEFAULT_LIMIT, validate=validate.Range(1, MAX_LIMIT))


class DateRangeQuery(PageQuery):
    date_from = fields.Date()
    date_to = fields.Date()


class KeysetQuery(DateRangeQuery):
    after = WholeNumber(
        validate=validate.Range(1, MAX_ID),
        metadata={
            "description": "The nextAfter of the previous page: pages newest first by id from "
            "there, as fast on page 40,000 as on page 1 (page is then ignored)"
        },
    )


def customer_name_filter() -> fields.String:
    return fields.String(
        validate=validate.Length(max=LEGAL_NAME_MAX),
        metadata={"description": "Part of the customer's legal name, in any case"},
    )


def page_of(item_schema: type[Schema], name: str) -> type[Schema]:
    return type(
        name,
        (CamelSchema,),
        {
            "data": fields.List(fields.Nested(item_schema), attribute="items"),
            "total": fields.Integer(),
            "page": fields.Integer(),
            "limit": fields.Integer(),
            "total_pages": fields.Integer(),
            "has_next": fields.Boolean(),
            "next_after": fields.Integer(
                allow_none=True,
                metadata={"description": "Pass as `after` for the next page, by keyset"},
            ),
        },
    )


# Services -----------------------------------------------------------------------------------


class ServiceIn(CamelSchema):
    service_date = fields.Date(required=True)
    customer_id = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_ID))
    amount = amount_in(required=True)
    description = fields.String(load_default="", validate=validate.Length(max=DESCRIPTION_MAX))
    # The rates are the domain's (documents.check_vat_rate): the schema checks the type only.
    vat_rate = fields.String(
        allow_none=True,
        metadata={"example": "21", "description": "21 (default), 10.5, 27, 5, 2.5, 0 or exempt"},
    )


class ServicePatch(CamelSchema):
    service_date = fields.Date()
    customer_id = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))
    amount = amount_in()
    description = fields.String(validate=validate.Length(max=DESCRIPTION_MAX))
    # The rates are the domain's (documents.check_vat_rate): the schema checks the type only.
    vat_rate = fields.String(
        allow_none=True,
        metadata={"example": "21", "description": "21 (default), 10.5, 27, 5, 2.5, 0 or exempt"},
    )


class ServiceOut(Timestamps):
    id = fields.Integer()
    service_date = fields.Date()
    customer_id = fields.Integer()
    amount = Money()
    vat_rate = fields.String()
    description = fields.String()
    status = enum_of(ServiceStatus)


class ServiceQuery(KeysetQuery):
    customer_id = WholeNumber(validate=validate.Range(1, MAX_ID))
    customer_name = customer_name_filter()
    status = enum_of(ServiceStatus)


class SendToBillingIn(CamelSchema):
    service_ids = ids(
        "Services to send to billing, all or nothing; at most MAX_PENDINGS_PER_BATCH (the app "
        "config), more is a 413"
    )


# Pendings -----------------------------------------------------------------------------------


class PendingOut(Timestamps):
    id = fields.Integer()
    service_id = fields.Integer()
    status = enum_of(PendingStatus)
    batch_id = fields.Integer(allow_none=True)
    customer_id = fields.Integer()
    service_date = fields.Date()
    amount = Money()
    vat_rate = fields.String()
    # The tax authority's last rejection of this pending's voucher, if it had one.
    rejection_code = fields.Integer(allow_none=True)
    rejection_message = fields.String(allow_none=True)
    rejected_by_batch_id = fields.Integer(allow_none=True)
    service = fields.Nested(ServiceOut)


class SendToBillingOut(CamelSchema):
    sent = fields.Integer()
    pendings = fields.List(fields.Nested(PendingOut))


class PendingQuery(KeysetQuery):
    customer_id = WholeNumber(validate=validate.Range(1, MAX_ID))
    customer_name = customer_name_filter()
    status = enum_of(PendingStatus)


class CustomerTotalOut(CamelSchema):
    customer_id = fields.Integer(allow_none=True)
    count = fields.Integer()
    total_amount = Money()


class HeldPendingsOut(CamelSchema):
    count = fields.Integer()
    total_amount = Money()
    batch_ids = IdList()


class PendingSummaryOut(CamelSchema):
    total_pending = fields.Integer()
    total_amount = fields.Function(lambda s: as_text(s.total_amount), metadata=MONEY_TEXT)
    by_customer = fields.List(fields.Nested(CustomerTotalOut))
    held_by_failed_batches = fields.Nested(
        HeldPendingsOut,
        metadata={
            "description": "Of the waiting pendings, those held by ERROR batches: they wait for "
            "the batch to be retried or abandoned"
        },
    )


# Batches ------------------------------------------------------------------------------------


class BatchIn(CamelSchema):
    issue_date = fields.Date(required=True)
    # The receipt-book rule (upper-cased, then A-0001's shape) is the domain's, so that every
    # adapter gives the same answer: the schema checks only that it is a string.
    receipt_book = fields.String(
        metadata={
            "example": "A-0001",
            "description": "Letter A, B or C, a dash, a point of sale of 1 to 5 digits (A-1, "
            "A-0001 and A-00001 are one book); read upper-cased. Restricts the batch to that "
            "letter. Give this or pointOfSale.",
        },
    )
    point_of_sale = fields.Integer(
        strict=True,
        metadata={
            "example": 1,
            "description": "The point of sale to invoice; each pending goes to the book of the "
            "letter its customer takes. Give this or receiptBook.",
        },
    )
    pending_ids = ids("At most MAX_PENDINGS_PER_BATCH (the app config) ids; more is a 413")


class BatchBookOut(CamelSchema):
    receipt_book = fields.String()
    document_type = fields.Integer()
    first_number = fields.String()
    last_number = fields.String()
    authorized = fields.Integer()
    rejected = fields.Integer()


class BatchOut(Timestamps):
    id = fields.Integer()
    kind = fields.String(metadata={"description": "invoices, or notes (a batch of notes)"})
    issue_date = fields.Date()
    receipt_book = fields.String(allow_none=True)
    point_of_sale = fields.Integer()
    status = enum_of(BatchStatus)
    pending_count = fields.Integer()
    attempts = fields.Integer()
    progress = fields.Integer()
    error_message = StoredMessage(allow_none=True)
    total_invoices = fields.Integer()
    rejected_count = fields.Integer()
    total_amount = Money()
    first_invoice_number = fields.String(allow_none=True)
    last_invoice_number = fields.String(allow_none=True)
    created_by = fields.String()
    processing_started_at = UtcDateTime(allow_none=True)
    processing_completed_at = UtcDateTime(allow_none=True)
    heartbeat_at = UtcDateTime(allow_none=True)
    abandoned_at = UtcDateTime(allow_none=True)
    abandoned_by = fields.String(allow_none=True)


class BatchDetailOut(BatchOut):
    pending_ids = IdList()
    books = fields.List(fields.Nested(BatchBookOut))


class BatchQuery(DateRangeQuery):
    status = enum_of(BatchStatus)
    receipt_book = fields.String(validate=validate.Length(max=12))


class BatchSummaryOut(CamelSchema):
    total_pendings = fields.Integer()
    total_amount = Money()


class QueueInfoOut(CamelSchema):
    job_id = fields.String()
    status = fields.String(
        metadata={
            "description": "waiting, active, completed or failed; deferred when the queue was "
            "down: the batch is stored and is queued once the queue is back"
        }
    )
    message = fields.String()


class BatchCreatedOut(CamelSchema):
    batch = fields.Nested(BatchDetailOut)
    summary = fields.Nested(BatchSummaryOut)
    queue_info = fields.Nested(QueueInfoOut)


class JobInfoOut(CamelSchema):
    job_id = fields.String()
    status = fields.String()
    progress = fields.Integer()
    attempts_made = fields.Integer()
    failed_reason = StoredMessage()


class BatchStatusOut(CamelSchema):
    """Polled while a batch runs, so it leaves out the (possibly very many) pending ids."""

    batch = fields.Nested(BatchOut)
    job_info = fields.Nested(JobInfoOut)


class QueueStatsOut(CamelSchema):
    waiting = fields.Integer()
    active = fields.Integer()
    completed = fields.Integer()
    failed = fields.Integer()
    delayed = fields.Integer()


class ReceiptBookOut(CamelSchema):
    """A book beside the tax authority's. ``authorityLastNumber`` and ``inStep`` are null when
    the authority did not answer."""

    receipt_book = fields.String(attribute="code")
    point_of_sale = fields.Integer()
    document_type = fields.Integer()
    last_number = fields.Integer()
    last_issue_date = fields.Date(allow_none=True)
    next_invoice_number = fields.String()
    authority_last_number = fields.Integer(allow_none=True)
    in_step = fields.Boolean(allow_none=True)
    held_by_batch_id = fields.Integer(allow_none=True)
    in_flight = fields.Boolean()
    adopted_number = fields.Integer(
        allow_none=True,
        metadata={
            "description": "The authority's last number a book Lote never numbered started "
            "after (a point of sale used before Lote); null otherwise"
        },
    )


class ReconciliationOut(CamelSchema):
    """What reconciling a book brought in: the first and last number of the vouchers issued
    outside Lote that became its invoices, how many remain to bring in, and the book after."""

    first_number = fields.Integer()
    last_number = fields.Integer()
    count = fields.Integer()
    remaining = fields.Integer()
    receipt_book = fields.Nested(ReceiptBookOut, attribute="figures")


class NextNumberOut(CamelSchema):
    receipt_book = fields.String()
    next_number = fields.String()


# Invoices -----------------------------------------------------------------------------------


class InvoiceOut(CamelSchema):
    id = fields.Integer()
    invoice_number = fields.String()
    receipt_book = fields.String()
    sequence_number = fields.Integer()
    cae = fields.String()
    cae_due_date = fields.Date()
    issue_date = fields.Date()
    amount = Money()
    net_amount = Money()
    vat_amount = Money()
    exempt_amount = Money()
    vat_rate = fields.String(allow_none=True)
    point_of_sale = fields.Integer()
    document_type = fields.Integer()
    letter = fields.String()
    payment_due_date = fields.Date()
    customer_id = fields.Integer(allow_none=True)
    customer_name = fields.String(attribute="receiver_name")
    receiver = fields.Function(
        lambda invoice: {
            "name": invoice.receiver_name,
            "docType": invoice.receiver_doc_type,
            "docNumber": invoice.receiver_doc_number,
            "ivaCondition": invoice.receiver_iva_condition,
            "address": invoice.receiver_address,
        }
    )
    # None on an invoice issued outside Lote (brought in by reconciling its book).
    service_id = fields.Integer(allow_none=True)
    service_date = fields.Date()
    pending_id = fields.Integer(allow_none=True)
    batch_id = fields.Integer(allow_none=True)
    issued_outside = fields.Boolean()
    corrects_invoice_id = fields.Integer(
        allow_none=True, metadata={"description": "A note: the voucher it corrects"}
    )
    erp_sync_id = fields.Integer(allow_none=True)
    created_at = UtcDateTime()


DOCUMENT_TYPE_FILTER = {
    "description": "A voucher type (CbteTipo): 1, 6, 11 invoices; 3, 8, 13 credit notes; 2, 7, "
    "12 debit notes. Without it, invoices only."
}


class NoteIn(CamelSchema):
    # The rules (balance, reason, date) are the domain's; the schema checks types only.
    amount = amount_in(
        "A credit note's amount, at most the voucher's balance (all of it when left out); a "
        "debit note's, required"
    )
    reason = fields.String(required=True, metadata={"example": "Wrong amount billed"})
    issue_date = fields.Date(metadata={"description": "Today when left out"})
    customer_id = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "If given, must be the voucher's customer"},
    )


class BatchCreditIn(CamelSchema):
    reason = fields.String(required=True)
    issue_date = fields.Date(metadata={"description": "Today when left out"})


class CorrectionOut(CamelSchema):
    """A note asked for a voucher: PENDING in its batch of notes, ISSUED (``note`` is the
    authorized note), REJECTED by the authority (with its code), or RELEASED (its batch was
    abandoned)."""

    id = fields.Integer()
    kind = fields.String(metadata={"description": "credit or debit"})
    invoice_id = fields.Integer()
    amount = Money()
    reason = fields.String()
    status = fields.String()
    batch_id = fields.Integer()
    rejection_code = fields.Integer(allow_none=True)
    rejection_message = fields.String(allow_none=True)
    created_by = fields.String()
    created_at = UtcDateTime()


class NoteCreatedOut(CorrectionOut):
    batch = fields.Nested("BatchOut")
    queue_info = fields.Nested("QueueInfoOut")


class NoteOfVoucherOut(CamelSchema):
    correction = fields.Nested(CorrectionOut)
    note = fields.Nested(InvoiceOut, allow_none=True)


class VoucherNotesOut(CamelSchema):
    invoice_id = fields.Integer()
    amount = Money()
    balance = fields.Function(lambda n: as_text(n["balance"]), metadata=MONEY_TEXT)
    notes = fields.List(fields.Nested(NoteOfVoucherOut))


class InvoiceQuery(KeysetQuery):
    batch_id = WholeNumber(validate=validate.Range(1, MAX_ID))
    customer_id = WholeNumber(validate=validate.Range(1, MAX_ID))
    customer_name = customer_name_filter()
    invoice_number = fields.String(validate=validate.Length(max=32))
    receipt_book = fields.String(validate=validate.Length(max=12))
    min_amount = amount_in()
    max_amount = amount_in()
    document_type = WholeNumber(metadata=DOCUMENT_TYPE_FILTER)


class InvoiceStatsQuery(CamelSchema):
    class Meta:
        unknown = EXCLUDE

    date_from = fields.Date()
    date_to = fields.Date()
    customer_id = WholeNumber(validate=validate.Range(1, MAX_ID))
    receipt_book = fields.String(validate=validate.Length(max=12))
    document_type = WholeNumber(metadata=DOCUMENT_TYPE_FILTER)


class TaxBookQuery(CamelSchema):
    class Meta:
        unknown = EXCLUDE

    file = fields.Enum(
        TaxBookFile,
        by_value=True,
        metadata={"description": "One file alone, as text; without it, a ZIP of both"},
    )


class MonthTotalOut(CamelSchema):
    month = fields.String(attribute="key")
    count = fields.Integer()
    total_amount = Money()


class InvoiceStatisticsOut(CamelSchema):
    total_invoices = fields.Integer()
    total_amount = Money()
    average_amount = fields.Function(lambda s: as_text(s.average_amount), metadata=MONEY_TEXT)
    by_month = fields.List(fields.Nested(MonthTotalOut))
    by_customer = fields.List(fields.Nested(CustomerTotalOut))
    credited_amount = fields.Function(
        lambda s: as_text(s.credited_amount),
        metadata={**MONEY_TEXT, "description": "The credit notes of the same filters"},
    )
    debited_amount = fields.Function(
        lambda s: as_text(s.debited_amount),
        metadata={**MONEY_TEXT, "description": "The debit notes of the same filters"},
    )
    net_amount = fields.Function(
        lambda s: as_text(s.net_amount),
        metadata={**MONEY_TEXT, "description": "totalAmount less credits plus debits"},
    )


# ERP ----------------------------------------------------------------------------------------


class ErpInvoicesIn(CamelSchema):
    invoice_ids = ids("Invoices to send", MAX_INVOICES_PER_SYNC)


class ErpBatchIn(CamelSchema):
    batch_id = fields.Integer(strict=True, required=True, validate=validate.Range(1, MAX_ID))


class ErpPreviewIn(CamelSchema):
    invoice_ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(1, MAX_ID)),
        validate=validate.Length(min=1, max=MAX_INVOICES_PER_SYNC),
    )
    batch_id = fields.Integer(strict=True, validate=validate.Range(1, MAX_ID))


class ErpPreviewOut(CamelSchema):
    data = fields.List(fields.Dict(), attribute="documents")
    summary = fields.Dict()


class ErpSyncOut(CamelSchema):
    sync_id = fields.String()
    status = enum_of(SyncStatus)
    timestamp = UtcDateTime(attribute="created_at")
    batch_id = fields.Integer(allow_none=True)
    invoice_count = fields.Integer()
    total_amount = Money()
    error_message = StoredMessage(allow_none=True)
    created_by = fields.String()
    confirmed_at = UtcDateTime(allow_none=True)


class ErpSyncDetailOut(ErpSyncOut):
    data = fields.Function(
        lambda s: s.payload["documents"], metadata={"type": "array", "items": {"type": "object"}}
    )
    summary = fields.Function(lambda s: s.payload["summary"], metadata={"type": "object"})


class ErpHistoryQuery(PageQuery):
    status = enum_of(SyncStatus)


# Errors -------------------------------------------------------------------------------------


class ErrorDetailOut(Schema):
    field = fields.String()
    id = fields.Integer()
    invoiceNumber = fields.String()  # noqa: N815 - the wire name
    reason = fields.String()
    message = fields.String()


class ErrorOut(Schema):
    statusCode = fields.Integer()  # noqa: N815 - the wire name
    error = fields.String()
    message = fields.String()
    details = fields.List(fields.Nested(ErrorDetailOut))
    path = fields.String()
    timestamp = fields.String()
