"""The data model. Constraints here carry the rules of docs/rules.md into the migration."""

import enum
from datetime import UTC, date, datetime
from decimal import Decimal

from flask import current_app
from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    false,
    text,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import JSON
from werkzeug.security import check_password_hash, generate_password_hash

from webapp.extensions import db

Money = Numeric(12, 2)
# The largest value of an Integer column: ids and customer numbers above it cannot exist.
MAX_ID = 2_147_483_647
# Tables whose ids the audit trail names: SQLite must never hand a deleted row's id to a new
# one, which would inherit the old row's history (PostgreSQL's sequences never reuse one).
NEVER_REUSED_IDS = {"sqlite_autoincrement": True}
# A service's IVA rate, as the API writes it (docs/rules.md rule 2).
VAT_RATES = ("21", "10.5", "27", "5", "2.5", "0", "exempt")
DEFAULT_VAT_RATE = "21"
VAT_RATE_CHECK = "vat_rate IN (" + ", ".join(f"'{rate}'" for rate in VAT_RATES) + ")"


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(enum_cls: type[enum.Enum]) -> Enum:
    return Enum(
        enum_cls,
        native_enum=False,
        length=24,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
        create_constraint=True,
        name=enum_cls.__name__.lower(),
    )


class Role(enum.StrEnum):
    ADMIN = "admin"
    CLERK = "clerk"
    VIEWER = "viewer"


class ServiceStatus(enum.StrEnum):
    CREATED = "CREATED"
    SENT_TO_BILL = "SENT_TO_BILL"
    INVOICED = "INVOICED"


class PendingStatus(enum.StrEnum):
    PENDING = "PENDING"
    INVOICED = "INVOICED"
    CANCELLED = "CANCELLED"


class BatchStatus(enum.StrEnum):
    PENDING_PROCESSING = "PENDING_PROCESSING"
    IN_PROCESS = "IN_PROCESS"
    PROCESSED = "PROCESSED"
    ERROR = "ERROR"


class BatchKind(enum.StrEnum):
    """What a batch issues: invoices from its pendings, or notes from its corrections."""

    INVOICES = "invoices"
    NOTES = "notes"


class NoteKind(enum.StrEnum):
    CREDIT = "credit"
    DEBIT = "debit"


class CorrectionStatus(enum.StrEnum):
    """A correction waits in its batch (PENDING) until the authority authorizes its note
    (ISSUED) or rejects it (REJECTED); abandoning the batch releases it (RELEASED)."""

    PENDING = "PENDING"
    ISSUED = "ISSUED"
    REJECTED = "REJECTED"
    RELEASED = "RELEASED"


# A batch that is still to end, PROCESSED or ERROR.
QUEUED_OR_RUNNING = (BatchStatus.PENDING_PROCESSING, BatchStatus.IN_PROCESS)


class SyncStatus(enum.StrEnum):
    SENT = "SENT"
    ERROR = "ERROR"
    CONFIRMED = "CONFIRMED"


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # The name compared at sign-in and for duplicates: NFKC-normalized and case-folded, so
    # "Admin" and the fullwidth "ａｄｍｉｎ" are the same user as "admin".
    username_key: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[Role] = mapped_column(_enum(Role), default=Role.CLERK)
    active: Mapped[bool] = mapped_column(default=True)
    # Carried by every session and token; raising it ends them all (sign-out, deactivation,
    # a new password).
    auth_generation: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def set_password(self, password: str) -> None:
        """Stores a salted hash made with the configured method (strong unless tests lower it);
        checking reads the method from the stored hash, so older hashes keep working. A new
        password ends every session and token of the user."""
        method = current_app.config["PASSWORD_HASH_METHOD"]
        self.password_hash = generate_password_hash(password, method=method)
        self.auth_generation = (self.auth_generation or 0) + 1

    def get_id(self) -> str:
        """The session's user id, "uid:generation": a session from before the last sign-out,
        deactivation or password change no longer names a signed-in user."""
        return f"{self.id}:{self.auth_generation}"

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    @property
    def is_active(self) -> bool:
        return self.active

    def can(self, role: Role) -> bool:
        """Admins may do everything, clerks everything but administration, viewers only read."""
        order = [Role.VIEWER, Role.CLERK, Role.ADMIN]
        return order.index(self.role) >= order.index(role)


class Service(TimestampMixin, db.Model):
    __tablename__ = "services"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(VAT_RATE_CHECK, name="vat_rate_known"),
        Index("ix_services_status_id", "status", "id"),
        Index("ix_services_customer_id_id", "customer_id", "id"),
        Index("ix_services_service_date_id", "service_date", "id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_date: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int] = mapped_column(Integer)
    amount: Mapped[Decimal] = mapped_column(Money)
    description: Mapped[str] = mapped_column(String(500), default="")
    vat_rate: Mapped[str] = mapped_column(String(6), default=DEFAULT_VAT_RATE)
    status: Mapped[ServiceStatus] = mapped_column(
        _enum(ServiceStatus), default=ServiceStatus.CREATED
    )

    @property
    def editable(self) -> bool:
        """Only a CREATED service may be edited or deleted: once sent to billing it is the
        pending's (and then the invoice's) source."""
        return self.status == ServiceStatus.CREATED


class BillingPending(TimestampMixin, db.Model):
    """A service waiting to be invoiced. Customer, date, amount and IVA rate are copied from the
    service when it is sent to billing: the service can no longer change, and lists and
    summaries then read one table."""

    __tablename__ = "billing_pendings"
    __table_args__ = (
        Index(
            "uq_billing_pendings_one_pending_per_service",
            "service_id",
            unique=True,
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
        Index("ix_billing_pendings_status_id", "status", "id"),
        Index("ix_billing_pendings_customer_id_id", "customer_id", "id"),
        Index("ix_billing_pendings_service_date_id", "service_date", "id"),
        Index("ix_billing_pendings_batch_id_id", "batch_id", "id"),
        # What a new batch may claim, and what the summary adds up: both as small as the work
        # waiting, however many claimed or invoiced pendings there are.
        Index(
            "ix_billing_pendings_available_id",
            "id",
            postgresql_where=text("status = 'PENDING' AND batch_id IS NULL"),
            sqlite_where=text("status = 'PENDING' AND batch_id IS NULL"),
        ),
        Index(
            "ix_billing_pendings_pending_customer_id",
            "customer_id",
            postgresql_include=["amount", "service_date"],
            postgresql_where=text("status = 'PENDING'"),
            sqlite_where=text("status = 'PENDING'"),
        ),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_id: Mapped[int] = mapped_column(ForeignKey("services.id"), index=True)
    customer_id: Mapped[int] = mapped_column(Integer)
    service_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    vat_rate: Mapped[str] = mapped_column(String(6), default=DEFAULT_VAT_RATE)
    status: Mapped[PendingStatus] = mapped_column(
        _enum(PendingStatus), default=PendingStatus.PENDING
    )
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("billing_batches.id"))
    # The authority's last rejection of this pending's voucher, kept when the pending returns to
    # the available ones (docs/rules.md rule 5).
    rejection_code: Mapped[int | None] = mapped_column(Integer)
    rejection_message: Mapped[str | None] = mapped_column(Text)
    rejected_by_batch_id: Mapped[int | None] = mapped_column(Integer)

    service: Mapped[Service] = relationship(lazy="joined", innerjoin=True)

    @property
    def available(self) -> bool:
        """A pending is available for a new batch while it is PENDING and no batch holds it
        (the ix_billing_pendings_available_id index and the claims read the same condition)."""
        return self.status == PendingStatus.PENDING and self.batch_id is None


class ReceiptBook(db.Model):
    """The counter of a book: one point of sale and one document type (Factura A, B or C), with
    the last number used, updated inside the invoicing transaction that uses it, so numbers are
    gapless. ``code`` is its canonical name, ``A-0001`` (docs/rules.md rule 4)."""

    __tablename__ = "receipt_books"
    __table_args__ = (
        Index(
            "uq_receipt_books_point_of_sale_document_type",
            "point_of_sale",
            "document_type",
            unique=True,
        ),
    )

    code: Mapped[str] = mapped_column(String(12), primary_key=True)
    point_of_sale: Mapped[int] = mapped_column(Integer)
    document_type: Mapped[int] = mapped_column(Integer)
    # The batch that holds the book from its first call to the authority to its last, so each
    # batch's numbers are contiguous and one call per book is in flight at a time.
    held_by_batch_id: Mapped[int | None] = mapped_column(Integer)
    # The authority's last number Lote started from, for a point of sale used before Lote.
    adopted_number: Mapped[int | None] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer, default=0)
    last_issue_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BillingBatch(TimestampMixin, db.Model):
    __tablename__ = "billing_batches"
    __table_args__ = (
        Index("ix_billing_batches_status_id", "status", "id"),
        Index("ix_billing_batches_receipt_book_id", "receipt_book", "id"),
        Index("ix_billing_batches_point_of_sale_id", "point_of_sale", "id"),
        Index("ix_billing_batches_issue_date_id", "issue_date", "id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[BatchKind] = mapped_column(
        _enum(BatchKind), default=BatchKind.INVOICES, server_default=BatchKind.INVOICES.value
    )
    issue_date: Mapped[date] = mapped_column(Date)
    point_of_sale: Mapped[int] = mapped_column(Integer)
    # The book the batch was asked for (``receiptBook: "A-0001"``), which restricts it to one
    # letter; a batch that names only its point of sale has none and invoices every letter.
    receipt_book: Mapped[str | None] = mapped_column(ForeignKey("receipt_books.code"))
    status: Mapped[BatchStatus] = mapped_column(
        _enum(BatchStatus), default=BatchStatus.PENDING_PROCESSING
    )
    pending_count: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    error_message: Mapped[str | None] = mapped_column(Text)
    total_invoices: Mapped[int] = mapped_column(Integer, default=0)
    # Vouchers the authority rejected: their pendings returned to the available ones.
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    first_invoice_number: Mapped[str | None] = mapped_column(String(32))
    last_invoice_number: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str] = mapped_column(String(64))
    processing_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    processing_completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    enqueued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # An abandoned batch stays ERROR: it released its pendings and is never retried.
    abandoned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    abandoned_by: Mapped[str | None] = mapped_column(String(64))

    @hybrid_property
    def retryable(self) -> bool:
        """Only an ERROR batch that was not abandoned may be retried or abandoned; in a query it
        is the condition retry and abandon claim the batch on."""
        return self.status == BatchStatus.ERROR and self.abandoned_at is None

    @retryable.inplace.expression
    @classmethod
    def _retryable_expression(cls):
        return and_(cls.status == BatchStatus.ERROR, cls.abandoned_at.is_(None))


erp_sync_invoices = Table(
    "erp_sync_invoices",
    db.Model.metadata,
    Column("erp_sync_id", ForeignKey("erp_syncs.id"), primary_key=True),
    Column("invoice_id", ForeignKey("invoices.id"), primary_key=True, index=True),
)


# A voucher Lote issued comes from a batch, for a customer: an invoice from a pending (and its
# service), a note from a correction of the voucher it corrects. One issued outside Lote
# (another system used the book, and reconciling brought it in) may have none of them.
ISSUED_BY_LOTE_CHECK = (
    "issued_outside OR (customer_id IS NOT NULL AND batch_id IS NOT NULL AND ("
    "(service_id IS NOT NULL AND pending_id IS NOT NULL) "
    "OR (correction_id IS NOT NULL AND corrects_invoice_id IS NOT NULL)))"
)


class Invoice(db.Model):
    """A voucher the tax authority authorized on one of the books: an invoice, or a credit or
    debit note (``document_type``) that corrects one (``corrects_invoice_id``). Lote issues
    invoices from the pendings of a batch and notes from its corrections; ``issued_outside``
    marks a voucher another system issued on the book, brought in by reconciling the book
    (``books.reconcile_book``): it has no pending, service or batch, and its customer is the
    one holding its receiver's document, if any."""

    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("receipt_book", "sequence_number"),
        CheckConstraint(
            "abs(amount - (net_amount + vat_amount + exempt_amount)) < 0.005",
            name="amount_is_net_plus_vat_plus_exempt",
        ),
        CheckConstraint(ISSUED_BY_LOTE_CHECK, name="issued_by_lote"),
        Index("ix_invoices_batch_id_id", "batch_id", "id"),
        Index("ix_invoices_customer_id_id", "customer_id", "id"),
        Index("ix_invoices_issue_date_id", "issue_date", "id"),
        Index("ix_invoices_amount_id", "amount", "id"),
        # Empty on an invoice as it is stored (only a note names what it corrects; a sync comes
        # later): indexed only where set, which is every row a lookup by value reads.
        *(
            Index(
                name,
                column,
                unique=unique,
                postgresql_where=text(f"{column} IS NOT NULL"),
                sqlite_where=text(f"{column} IS NOT NULL"),
            )
            for name, column, unique in (
                ("ix_invoices_corrects_invoice_id", "corrects_invoice_id", False),
                ("uq_invoices_correction_id", "correction_id", True),
                ("ix_invoices_erp_sync_id", "erp_sync_id", False),
            )
        ),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_number: Mapped[str] = mapped_column(String(32), unique=True)
    receipt_book: Mapped[str] = mapped_column(ForeignKey("receipt_books.code"))
    sequence_number: Mapped[int] = mapped_column(Integer)
    cae: Mapped[str] = mapped_column(String(14), unique=True)
    cae_due_date: Mapped[date] = mapped_column(Date)
    issue_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Money)
    net_amount: Mapped[Decimal] = mapped_column(Money)
    vat_amount: Mapped[Decimal] = mapped_column(Money)
    # The part exempt from IVA (ImpOpEx); a class C invoice reports none and no IVA.
    exempt_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    # The service's rate; None on a class C invoice, which reports no IVA.
    vat_rate: Mapped[str | None] = mapped_column(String(6))
    point_of_sale: Mapped[int] = mapped_column(Integer)
    # CbteTipo: 1 Factura A, 6 Factura B, 11 Factura C.
    document_type: Mapped[int] = mapped_column(Integer)
    payment_due_date: Mapped[date] = mapped_column(Date)
    customer_id: Mapped[int | None] = mapped_column(Integer)
    # The receiver as it was when the invoice was issued: editing the customer later changes
    # no issued invoice.
    receiver_name: Mapped[str] = mapped_column(String(200))
    receiver_doc_type: Mapped[int] = mapped_column(Integer)
    receiver_doc_number: Mapped[str] = mapped_column(String(11))
    receiver_iva_condition: Mapped[int | None] = mapped_column(Integer)
    receiver_address: Mapped[str] = mapped_column(String(300), default="")
    service_id: Mapped[int | None] = mapped_column(ForeignKey("services.id"))
    service_date: Mapped[date] = mapped_column(Date)
    pending_id: Mapped[int | None] = mapped_column(ForeignKey("billing_pendings.id"), unique=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("billing_batches.id"))
    # A note: the voucher it corrects, and the correction it was issued for (unique, so a
    # correction is never issued twice; a plain id, as the correction names this table).
    corrects_invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    correction_id: Mapped[int | None] = mapped_column(Integer)
    issued_outside: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The issuer as it was when the invoice was issued: changing the issuer's settings later
    # changes no issued invoice. Invoices issued before Lote kept it have none.
    issuer_legal_name: Mapped[str | None] = mapped_column(String(200))
    issuer_cuit: Mapped[str | None] = mapped_column(String(11))
    issuer_iva_condition: Mapped[str | None] = mapped_column(String(24))
    issuer_iibb_number: Mapped[str | None] = mapped_column(String(32))
    issuer_activities_start: Mapped[date | None] = mapped_column(Date)
    issuer_address: Mapped[str | None] = mapped_column(String(300))
    erp_sync_id: Mapped[int | None] = mapped_column(ForeignKey("erp_syncs.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def letter(self) -> str:
        return LETTER_OF_TYPE[self.document_type]

    @property
    def is_note(self) -> bool:
        return self.document_type not in INVOICE_TYPES

    @property
    def is_credit_note(self) -> bool:
        return self.document_type in CREDIT_NOTE_TYPES


class Correction(TimestampMixin, db.Model):
    """A credit or debit note asked for a voucher (the pending of a note): it waits in its batch
    of notes, and its note is issued like an invoice, through the authority. A credit note's
    amount is at most what is left of the voucher it corrects, counting the credits asked for
    and not rejected or released (docs/rules.md rule 13)."""

    __tablename__ = "corrections"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_corrections_invoice_id_id", "invoice_id", "id"),
        Index("ix_corrections_batch_id_id", "batch_id", "id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("billing_batches.id"))
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"))
    kind: Mapped[NoteKind] = mapped_column(_enum(NoteKind))
    amount: Mapped[Decimal] = mapped_column(Money)
    reason: Mapped[str] = mapped_column(String(500))
    status: Mapped[CorrectionStatus] = mapped_column(
        _enum(CorrectionStatus), default=CorrectionStatus.PENDING
    )
    rejection_code: Mapped[int | None] = mapped_column(Integer)
    rejection_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))

    invoice: Mapped[Invoice] = relationship(lazy="joined", innerjoin=True)


class AuthorityCall(db.Model):
    """A call to the tax authority Lote reserved the numbers of: committed before the call, with
    the vouchers it sends, and deleted in the transaction that stores the answer. While it
    exists its vouchers are AUTHORIZING: not invoices yet, and whoever resumes the batch asks
    the authority what became of them (docs/rules.md rule 5). A book has one call in flight at a
    time, at most one more reserved, and at most three answered but not stored yet (two being
    stored, the next waiting for the first)."""

    __tablename__ = "authority_calls"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("billing_batches.id"), index=True)
    receipt_book: Mapped[str] = mapped_column(ForeignKey("receipt_books.code"), index=True)
    first_number: Mapped[int] = mapped_column(Integer)
    last_number: Mapped[int] = mapped_column(Integer)
    vouchers: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BatchBook(db.Model):
    """What a batch invoiced on one book: its first and last number, and how many vouchers the
    authority authorized and rejected there."""

    __tablename__ = "batch_books"

    batch_id: Mapped[int] = mapped_column(ForeignKey("billing_batches.id"), primary_key=True)
    receipt_book: Mapped[str] = mapped_column(ForeignKey("receipt_books.code"), primary_key=True)
    document_type: Mapped[int] = mapped_column(Integer)
    first_number: Mapped[int | None] = mapped_column(Integer)
    last_number: Mapped[int | None] = mapped_column(Integer)
    authorized: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)


class InvoiceDailyTotal(db.Model):
    """Invoice count and amount per issue date, receipt book and customer. The transactions that
    write invoices (invoicing a batch, and reconciling a book with the tax authority) add them
    here, so statistics and the invoice list's total add up a few rows per day instead of every
    invoice, and stay exact; ``flask recount`` rebuilds them after a restore. An invoice without
    a customer (issued outside Lote) counts under NO_CUSTOMER, since a key cannot be NULL."""

    __tablename__ = "invoice_daily_totals"
    __table_args__ = (Index("ix_invoice_daily_totals_customer_id", "customer_id", "issue_date"),)

    issue_date: Mapped[date] = mapped_column(Date, primary_key=True)
    receipt_book: Mapped[str] = mapped_column(ForeignKey("receipt_books.code"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_count: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))


# The daily totals' customer of the invoices that have none.
NO_CUSTOMER = 0


class StatusCount(db.Model):
    """How many services and billing pendings are in each status, so that list totals stay exact
    without counting a million rows. Database triggers (migration 0003) keep it in the same
    transaction as every insert, status change, delete or truncate, whoever writes; only a
    write with the triggers disabled escapes them, and ``flask recount`` repairs that.

    On PostgreSQL each statement appends its changes as delta rows, so concurrent transactions
    never wait for one another on a counter row, and ``status_counts.compact`` folds them from
    time to time; SQLite, which has one writer at a time, keeps one row per status. Either way
    the count of a status is the sum of its rows' ``delta``."""

    __tablename__ = "status_counts"
    __table_args__ = (Index("ix_status_counts_table_name_status", "table_name", "status"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    table_name: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(24))
    delta: Mapped[int] = mapped_column(BigInteger)


class ErpSync(TimestampMixin, db.Model):
    """One delivery of accounting documents to the ERP. ``Invoice.erp_sync_id`` points at the
    SENT or CONFIRMED sync that holds an invoice, which is what makes a second sync a 409."""

    __tablename__ = "erp_syncs"
    __table_args__ = NEVER_REUSED_IDS

    id: Mapped[int] = mapped_column(primary_key=True)
    sync_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    status: Mapped[SyncStatus] = mapped_column(_enum(SyncStatus))
    payload: Mapped[dict] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(64))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("billing_batches.id"), index=True)
    invoice_count: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    invoices: Mapped[list[Invoice]] = relationship(
        secondary=erp_sync_invoices, order_by=Invoice.id, viewonly=True
    )


class AuditEvent(db.Model):
    """Who did what to which record, and when."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_entity", "entity_type", "entity_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text, default="")


class IdempotencyRecord(db.Model):
    """The first response to a POST made with an ``Idempotency-Key``, replayed for repeats."""

    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DocType(enum.IntEnum):
    """The receiver's document type, as ARCA codes it (DocTipo)."""

    CUIT = 80
    CUIL = 86
    DNI = 96
    UNIDENTIFIED = 99


class IvaCondition(enum.IntEnum):
    """The receiver's IVA condition, as RG 5616 codes it (CondicionIVAReceptorId)."""

    REGISTERED = 1
    EXEMPT = 4
    FINAL_CONSUMER = 5
    MONOTRIBUTO = 6
    UNCATEGORIZED = 7
    FOREIGN_SUPPLIER = 8
    FOREIGN_CUSTOMER = 9
    LIBERATED_LAW_19640 = 10
    SOCIAL_MONOTRIBUTO = 13
    NOT_REACHED = 15
    PROMOTED_INDEPENDENT_MONOTRIBUTO = 16


class DocumentType(enum.IntEnum):
    """ARCA's voucher types (CbteTipo)."""

    INVOICE_A = 1
    DEBIT_NOTE_A = 2
    CREDIT_NOTE_A = 3
    INVOICE_B = 6
    DEBIT_NOTE_B = 7
    CREDIT_NOTE_B = 8
    INVOICE_C = 11
    DEBIT_NOTE_C = 12
    CREDIT_NOTE_C = 13


INVOICE_OF_LETTER = {
    "A": DocumentType.INVOICE_A,
    "B": DocumentType.INVOICE_B,
    "C": DocumentType.INVOICE_C,
}
INVOICE_TYPES = frozenset(INVOICE_OF_LETTER.values())
CREDIT_NOTE_OF_LETTER = {
    "A": DocumentType.CREDIT_NOTE_A,
    "B": DocumentType.CREDIT_NOTE_B,
    "C": DocumentType.CREDIT_NOTE_C,
}
DEBIT_NOTE_OF_LETTER = {
    "A": DocumentType.DEBIT_NOTE_A,
    "B": DocumentType.DEBIT_NOTE_B,
    "C": DocumentType.DEBIT_NOTE_C,
}
CREDIT_NOTE_TYPES = frozenset(CREDIT_NOTE_OF_LETTER.values())
DEBIT_NOTE_TYPES = frozenset(DEBIT_NOTE_OF_LETTER.values())
LETTER_OF_TYPE = {
    DocumentType.INVOICE_A: "A",
    DocumentType.DEBIT_NOTE_A: "A",
    DocumentType.CREDIT_NOTE_A: "A",
    DocumentType.INVOICE_B: "B",
    DocumentType.DEBIT_NOTE_B: "B",
    DocumentType.CREDIT_NOTE_B: "B",
    DocumentType.INVOICE_C: "C",
    DocumentType.DEBIT_NOTE_C: "C",
    DocumentType.CREDIT_NOTE_C: "C",
}


class IssuerIvaCondition(enum.StrEnum):
    """What the issuer is for IVA, which decides the letters it issues."""

    REGISTERED = "responsable-inscripto"
    MONOTRIBUTO = "monotributo"
    EXEMPT = "exento"


def _codes_check(column: str, codes: type[enum.IntEnum]) -> str:
    return f"{column} IN ({', '.join(str(c.value) for c in codes)})"


class Customer(TimestampMixin, db.Model):
    """Who a service is billed to. ``id`` is the ``customerId`` services already carry, so it is
    given, never generated by the database. ``incomplete`` marks a customer Lote does not know
    enough about to invoice (one named only by a service)."""

    __tablename__ = "customers"
    __table_args__ = (
        CheckConstraint(_codes_check("doc_type", DocType), name="doc_type_known"),
        CheckConstraint(
            f"iva_condition IS NULL OR {_codes_check('iva_condition', IvaCondition)}",
            name="iva_condition_known",
        ),
        CheckConstraint("payment_days BETWEEN 0 AND 365", name="payment_days_range"),
        Index("ix_customers_doc_number", "doc_number"),
        Index("ix_customers_incomplete_id", "incomplete", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    legal_name: Mapped[str] = mapped_column(String(200))
    doc_type: Mapped[int] = mapped_column(Integer, default=DocType.UNIDENTIFIED.value)
    doc_number: Mapped[str] = mapped_column(String(11), default="0")
    iva_condition: Mapped[int | None] = mapped_column(Integer)
    address: Mapped[str] = mapped_column(String(300), default="")
    email: Mapped[str] = mapped_column(String(254), default="")
    payment_days: Mapped[int] = mapped_column(Integer, default=30)
    incomplete: Mapped[bool] = mapped_column(default=True)


class Issuer(TimestampMixin, db.Model):
    """The company issuing the invoices: one row, set by an admin."""

    __tablename__ = "issuer"
    __table_args__ = (CheckConstraint("id = 1", name="single_issuer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False, default=1)
    legal_name: Mapped[str] = mapped_column(String(200))
    cuit: Mapped[str] = mapped_column(String(11))
    iva_condition: Mapped[IssuerIvaCondition] = mapped_column(_enum(IssuerIvaCondition))
    iibb_number: Mapped[str] = mapped_column(String(32), default="")
    activities_start: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str] = mapped_column(String(300), default="")
    points_of_sale: Mapped[list] = mapped_column(JSON, default=list)
