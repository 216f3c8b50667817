"""Invoicing a claimed batch call by call, always in step with the tax authority (docs/rules.md
rules 4-8 and 12): reserve, call, commit.

For each book of the batch's point of sale (one per letter its customers take), the batch holds
the book, resolves any call left in flight, and checks that Lote's counter equals the
authority's last number. Then, up to 250 pendings at a time: the numbers the call uses are
reserved and committed with the vouchers it sends (an ``AuthorityCall``: AUTHORIZING vouchers,
not invoices yet); the authority is called outside any transaction; its answer commits in one
transaction: the authorized vouchers become invoices (pendings and services INVOICED, the
counter, the daily totals, the batch's figures), a rejected voucher's pending returns to the
available ones with the authority's code and message, and the vouchers after it in the call
are numbered again in the next one. A call whose answer never came is resolved by asking the
authority (``lookup``), never by guessing."""

import logging
from collections import namedtuple
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache

from flask import current_app
from sqlalchemy import (
    JSON,
    Integer,
    bindparam,
    cast,
    delete,
    exists,
    false,
    func,
    insert,
    select,
    text,
    true,
    type_coerce,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import aliased

from webapp.billing import audit
from webapp.billing.books import (
    authority,
    book_for_update,
    invoice_number,
    type_and_point_of_sale,
)
from webapp.billing.cae import (
    MAX_INVOICES_PER_CALL,
    AssociatedVoucher,
    AuthorizationRequest,
    CaeUnavailable,
    VatLine,
    VoucherDetail,
)
from webapp.billing.documents import (
    EXEMPT,
    NOTE_OF_LETTER,
    VAT_RATE_IDS,
    Amounts,
    letters_issued_by,
    note_kind_of,
    receivers_of_letter,
    split_amount,
)
from webapp.billing.ids import among
from webapp.billing.invoices import add_to_daily_totals
from webapp.billing.issuer import ISSUER_KEPT, get_issuer, snapshot
from webapp.billing.messages import Message, message_of, stored
from webapp.billing.recovery import claim_batch
from webapp.extensions import db
from webapp.models import (
    INVOICE_OF_LETTER,
    LETTER_OF_TYPE,
    QUEUED_OR_RUNNING,
    AuthorityCall,
    BatchBook,
    BatchKind,
    BatchStatus,
    BillingBatch,
    BillingPending,
    Correction,
    CorrectionStatus,
    Customer,
    Invoice,
    IssuerIvaCondition,
    PendingStatus,
    ReceiptBook,
    Service,
    ServiceStatus,
    utcnow,
)

log = logging.getLogger(__name__)

# Vouchers per call to the authority, which takes at most 250.
INVOICES_PER_CHUNK = MAX_INVOICES_PER_CALL
NOT_NEXT = 10016
# Questions (FECompConsultar) in flight at once while resolving a call left unanswered: a call
# of 250 is resolved in 10 round trips, so a consumer that takes over a killed one's batch
# (up to 1 + STORES_AT_ONCE calls to resolve) is invoicing again within seconds.
LOOKUPS_AT_ONCE = 25
# Answers of a book stored at once on PostgreSQL, each on a connection of its own.
STORES_AT_ONCE = 2


class BatchRejected(Exception):
    """The batch can never be invoiced as it stands; retrying would not help."""


class LostClaim(Exception):
    """Another worker took the batch over after this one's lease expired."""


class BookBusy(Exception):
    """Another batch holds one of this batch's books: a running one, which the attempt waits
    for, or a failed one with vouchers still waiting for the authority's answer, which must be
    retried or abandoned first."""

    def __init__(self, message: Message, holder_running: bool):
        super().__init__(message)
        self.holder_running = holder_running


class StartAgain(Exception):
    """The attempt ended without failing the batch's count of failed attempts in a row: another
    batch held one of its books, or the authority authorized some of its vouchers before the
    attempt failed. The queue runs the batch again as a fresh task."""


@dataclass(frozen=True)
class Outcome:
    """What became of one reserved voucher: authorized (with its CAE), rejected (with the
    authority's code), or neither (renumbered in the next call)."""

    number: int
    cae: str | None = None
    cae_due_date: date | None = None
    code: int | None = None
    message: str | None = None

    @property
    def authorized(self) -> bool:
        return self.cae is not None


# What a call reads of each pending: the pending and its receiver, as the invoice keeps it.
PENDING_COLUMNS = (
    BillingPending.id,
    BillingPending.service_id,
    BillingPending.customer_id,
    BillingPending.service_date,
    BillingPending.amount,
    BillingPending.vat_rate,
    Customer.legal_name,
    Customer.doc_type,
    Customer.doc_number,
    Customer.iva_condition,
    Customer.address,
    Customer.payment_days,
)
# A pending as read, by the columns' names: reading an attribute of a plain tuple costs a
# fraction of reading one of a result row, and each call reads 250 rows 16 times.
PendingRow = namedtuple("PendingRow", [column.key for column in PENDING_COLUMNS])


def _pending_rows(batch_id: int, allowed: frozenset[int], after_id: int) -> list[PendingRow]:
    """The batch's next PENDING pendings after ``after_id`` whose customer takes the book's
    letter, with the receiver as the invoice keeps it; reading on from the last one invoiced
    keeps each call's read as small as the call, however large the batch."""
    rows = db.session.execute(
        select(*PENDING_COLUMNS)
        .join(Customer, Customer.id == BillingPending.customer_id)
        .where(
            BillingPending.batch_id == batch_id,
            BillingPending.id > after_id,
            BillingPending.status == PendingStatus.PENDING,
            Customer.incomplete.is_(False),
            Customer.iva_condition.in_(sorted(allowed)),
        )
        .order_by(BillingPending.id)
        .limit(INVOICES_PER_CHUNK)
    )
    return [PendingRow._make(row) for row in rows]


def _voucher(
    row: PendingRow, number: int, issue_date: date, reports_vat: bool
) -> tuple[dict, VoucherDetail]:
    """One reserved voucher, as the call stores it (everything its invoice carries, so an answer
    is stored exactly as it was asked for), and its FECAEDetRequest."""
    rate = row.vat_rate if reports_vat else None
    amounts = split_amount(row.amount, rate)
    payment_due = issue_date + timedelta(days=row.payment_days)
    voucher = {
        "number": number,
        "pending_id": row.id,
        "service_id": row.service_id,
        "customer_id": row.customer_id,
        "service_date": row.service_date.isoformat(),
        "payment_due_date": payment_due.isoformat(),
        "amount": str(row.amount),
        "net": str(amounts.net),
        "vat": str(amounts.vat),
        "exempt": str(amounts.exempt),
        "vat_rate": rate,
        "name": row.legal_name,
        "doc_type": row.doc_type,
        "doc_number": row.doc_number,
        "iva_condition": row.iva_condition,
        "address": row.address,
    }
    return voucher, _detail(voucher, issue_date, row.amount, amounts, row.service_date, payment_due)


def _note_rows(batch_id: int, document_type: int, after_id: int):
    """The batch's next PENDING corrections after ``after_id`` whose note is of this type, with
    the voucher each corrects: the note keeps its receiver, its IVA rate and its service
    period, and names it (CbtesAsoc)."""
    corrected = aliased(Invoice)
    letter = LETTER_OF_TYPE[document_type]
    return db.session.execute(
        select(
            Correction.id,
            Correction.amount,
            corrected.id.label("invoice_id"),
            corrected.document_type,
            corrected.point_of_sale,
            corrected.sequence_number,
            corrected.issue_date,
            corrected.payment_due_date,
            corrected.amount.label("invoice_amount"),
            corrected.net_amount,
            corrected.vat_amount,
            corrected.exempt_amount,
            corrected.vat_rate,
            corrected.customer_id,
            corrected.service_date,
            corrected.receiver_name,
            corrected.receiver_doc_type,
            corrected.receiver_doc_number,
            corrected.receiver_iva_condition,
            corrected.receiver_address,
            corrected.issuer_cuit,
        )
        .join(corrected, corrected.id == Correction.invoice_id)
        .where(
            Correction.batch_id == batch_id,
            Correction.id > after_id,
            Correction.status == CorrectionStatus.PENDING,
            Correction.kind == note_kind_of(document_type),
            corrected.document_type.in_([t for t, of in LETTER_OF_TYPE.items() if of == letter]),
        )
        .order_by(Correction.id)
        .limit(INVOICES_PER_CHUNK)
    ).all()


def _note_voucher(row, number: int, issue_date: date) -> tuple[dict, VoucherDetail]:
    """One reserved note and its FECAEDetRequest: its amount split at the rate of the voucher it
    corrects (the whole voucher's amount keeps that voucher's own split, so a full credit
    cancels it to the cent), its payment due as many days after its date as the voucher's was,
    and the voucher it corrects named (CbtesAsoc)."""
    if row.amount == row.invoice_amount:
        amounts = Amounts(row.net_amount, row.vat_amount, row.exempt_amount)
    else:
        amounts = split_amount(row.amount, row.vat_rate)
    payment_due = issue_date + timedelta(days=(row.payment_due_date - row.issue_date).days)
    voucher = {
        "number": number,
        "correction_id": row.id,
        "corrects_invoice_id": row.invoice_id,
        "customer_id": row.customer_id,
        "service_date": row.service_date.isoformat(),
        "payment_due_date": payment_due.isoformat(),
        "amount": str(row.amount),
        "net": str(amounts.net),
        "vat": str(amounts.vat),
        "exempt": str(amounts.exempt),
        "vat_rate": row.vat_rate,
        "name": row.receiver_name,
        "doc_type": row.receiver_doc_type,
        "doc_number": row.receiver_doc_number,
        "iva_condition": row.receiver_iva_condition,
        "address": row.receiver_address,
    }
    corrected = AssociatedVoucher(
        tipo=row.document_type,
        pto_vta=row.point_of_sale,
        nro=row.sequence_number,
        cuit=row.issuer_cuit,
        cbte_fch=row.issue_date,
    )
    detail = _detail(
        voucher, issue_date, row.amount, amounts, row.service_date, payment_due, (corrected,)
    )
    return voucher, detail


def item_of(voucher: dict) -> int:
    """The id of what a reserved voucher is issued for: its correction (a note) or its pending
    (an invoice); the batch's vouchers are numbered in the order of these ids."""
    return voucher.get("correction_id") or voucher["pending_id"]


def _detail(
    voucher: dict,
    issue_date: date,
    amount: Decimal,
    amounts: Amounts,
    service_date: date,
    payment_due: date,
    associated: tuple[AssociatedVoucher, ...] = (),
) -> VoucherDetail:
    """The FECAEDetRequest of a reserved voucher: its numbers and codes as the voucher stores
    them, its amounts and dates as the values it was built from (not parsed again from the text
    it stores them as)."""
    rate = voucher["vat_rate"]
    iva = ()
    if rate is not None and rate != EXEMPT:
        iva = (VatLine(VAT_RATE_IDS[rate], amounts.net, amounts.vat),)
    return VoucherDetail(
        doc_tipo=voucher["doc_type"],
        doc_nro=int(voucher["doc_number"]),
        cbte_desde=voucher["number"],
        cbte_hasta=voucher["number"],
        cbte_fch=issue_date,
        imp_total=amount,
        imp_neto=amounts.net,
        imp_iva=amounts.vat,
        imp_op_ex=amounts.exempt,
        fch_serv_desde=service_date,
        fch_serv_hasta=service_date,
        fch_vto_pago=payment_due,
        condicion_iva_receptor_id=voucher["iva_condition"],
        iva=iva,
        cbtes_asoc=associated,
    )


def _smallest(*values):
    return (func.min if db.engine.dialect.name == "sqlite" else func.least)(*values)


def _largest(*values):
    return (func.max if db.engine.dialect.name == "sqlite" else func.greatest)(*values)


def _dialect_insert():
    return postgresql.insert if db.engine.dialect.name == "postgresql" else sqlite.insert


def _heartbeat(batch: BillingBatch, attempt: int, **values) -> None:
    """Renews the claim with the batch's new figures; a worker whose claim another took over
    writes nothing."""
    renewed = db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch.id,
            BillingBatch.attempts == attempt,
            BillingBatch.status == BatchStatus.IN_PROCESS,
        )
        .values(heartbeat_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not renewed:
        raise LostClaim(f"Batch {batch.id} attempt {attempt} was taken over by another worker")


def store_outcomes(
    call_id: int,
    vouchers: list[dict],
    code: str,
    batch: BillingBatch,
    outcomes: list[Outcome],
    attempt: int | None,
    kept: dict,
    after_call_before: Callable[[], None] = lambda: None,
) -> int:
    """Stores what became of the vouchers of call ``call_id`` on book ``code``, in the caller's
    transaction, and forgets the call: the authorized ones become invoices, numbered as the
    authority authorized them and keeping the issuer as ``kept``; the first rejected one's
    pending returns to the available ones with the authority's code; the rest stay in the batch
    for the next call. Returns how many were authorized.

    First come the rows only this call writes (its pendings, services, invoices and
    rejection); then ``after_call_before`` returns once the book's call before is stored, when
    another transaction stores it; then the rows calls share (the daily totals, the book's
    counter, the batch's row). So two stores in progress never wait for each other's rows, and
    they commit in the order of their calls. The book's counter and the batch's row are written
    last, so the transaction holds their locks only while it commits."""
    by_number = {voucher["number"]: voucher for voucher in vouchers}
    authorized = [o for o in outcomes if o.authorized]
    now = utcnow()
    if authorized:
        # Marked first: the rows the invoices name are locked by this transaction before they
        # are stored (their references are checked per statement, without locking them).
        _mark_issued([by_number[o.number] for o in authorized], now)
        _store_invoices(call_id, authorized, code, batch, now, kept)
    db.session.execute(
        delete(AuthorityCall)
        .where(AuthorityCall.id == call_id)
        .execution_options(synchronize_session=False)
    )
    rejected = [o for o in outcomes if o.code is not None and o.code != NOT_NEXT][:1]
    for outcome in rejected:
        _reject(by_number[outcome.number], outcome, batch, now)
    after_call_before()
    if authorized:
        add_to_daily_totals(code, authorized[0].number, authorized[-1].number)
    amount = sum((Decimal(by_number[o.number]["amount"]) for o in authorized), Decimal("0.00"))
    _count_on_book(batch, code, authorized, len(rejected))
    settled = len(authorized) + len(rejected)
    figures = {
        "total_invoices": BillingBatch.total_invoices + len(authorized),
        "rejected_count": BillingBatch.rejected_count + len(rejected),
        "total_amount": BillingBatch.total_amount + amount,
        # Below 100 until the batch is PROCESSED.
        "progress": _smallest(
            99,
            (BillingBatch.total_invoices + BillingBatch.rejected_count + settled)
            * 100
            / _largest(BillingBatch.pending_count, 1),
        ),
    }
    if authorized:
        first = invoice_number(code, authorized[0].number)
        figures["first_invoice_number"] = func.coalesce(BillingBatch.first_invoice_number, first)
        figures["last_invoice_number"] = invoice_number(code, authorized[-1].number)
    if authorized:
        db.session.execute(
            update(ReceiptBook)
            .where(ReceiptBook.code == code)
            .values(last_number=authorized[-1].number, last_issue_date=batch.issue_date)
            .execution_options(synchronize_session=False)
        )
    if attempt is None:
        db.session.execute(
            update(BillingBatch)
            .where(BillingBatch.id == batch.id)
            .values(updated_at=now, **{k: v for k, v in figures.items() if k != "progress"})
            .execution_options(synchronize_session=False)
        )
    else:
        _heartbeat(batch, attempt, **figures)
    return len(authorized)


def _reject(voucher: dict, outcome: Outcome, batch: BillingBatch, now) -> None:
    """A rejected invoice's pending returns to the available ones, and a rejected note's
    correction ends REJECTED (what it asked for is free to ask again), each with the
    authority's code and message."""
    if "correction_id" in voucher:
        table, entity, item = Correction, "correction", voucher["correction_id"]
        values = {"status": CorrectionStatus.REJECTED}
    else:
        table, entity, item = BillingPending, "pending", voucher["pending_id"]
        values = {"batch_id": None, "rejected_by_batch_id": batch.id}
    db.session.execute(
        update(table)
        .where(table.id == item)
        .values(
            rejection_code=outcome.code,
            rejection_message=outcome.message,
            updated_at=now,
            **values,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record("worker", "rejected", entity, item, f"{outcome.code}: {outcome.message}")


# What an invoice copies of its reserved voucher, as the voucher stores it (``_voucher`` and
# ``_note_voucher``), by the invoice's column.
VOUCHER_FIELDS = {
    "payment_due_date": "payment_due_date",
    "amount": "amount",
    "net_amount": "net",
    "vat_amount": "vat",
    "exempt_amount": "exempt",
    "vat_rate": "vat_rate",
    "customer_id": "customer_id",
    "receiver_name": "name",
    "receiver_doc_type": "doc_type",
    "receiver_doc_number": "doc_number",
    "receiver_iva_condition": "iva_condition",
    "receiver_address": "address",
    "service_id": "service_id",
    "service_date": "service_date",
    "pending_id": "pending_id",
    "correction_id": "correction_id",
    "corrects_invoice_id": "corrects_invoice_id",
}


def _elements(array, dialect: str):
    """The elements of a JSON array, one row each (column ``value``). PostgreSQL reads the
    array once, as ``jsonb``: each field of a ``json`` element would parse it again."""
    if dialect == "sqlite":
        return func.json_each(array).table_valued("value")
    return func.jsonb_array_elements(cast(array, JSONB)).table_valued("value")


def _field(element, key: str, column, dialect: str):
    """Field ``key`` of a JSON object, as ``column`` stores it."""
    value = type_coerce(element, JSON if dialect == "sqlite" else JSONB)[key]
    if isinstance(column.type, Integer):
        return value.as_integer()
    text_ = value.as_string()
    # SQLite stores dates and amounts as the text they are written in; PostgreSQL converts.
    if dialect == "sqlite":
        return type_coerce(text_, column.type)
    return cast(text_, column.type)


# The columns every invoice of a call shares, bound when it is stored.
CALL_CONSTANTS = (
    "receipt_book",
    "point_of_sale",
    "document_type",
    "issue_date",
    "batch_id",
    "created_at",
    *ISSUER_KEPT,
)


@cache
def _invoices_insert(dialect: str):
    """The INSERT of the invoices of a call's authorized vouchers, copied in the database from
    the vouchers the call stored (``call_id``), with the CAEs of the answer (``answers``) and
    ``CALL_CONSTANTS``: the rows never pass through Python. Built once per dialect."""
    columns = Invoice.__table__.c
    answers = _elements(bindparam("answers", type_=JSON), dialect)
    vouchers = _elements(AuthorityCall.vouchers, dialect)
    number = _field(vouchers.c.value, "number", columns.sequence_number, dialect)
    values = {
        **{
            name: _field(answers.c.value, name, columns[name], dialect)
            for name in ("invoice_number", "cae", "cae_due_date")
        },
        "sequence_number": number,
        **{
            name: _field(vouchers.c.value, key, columns[name], dialect)
            for name, key in VOUCHER_FIELDS.items()
        },
        **{name: bindparam(name, type_=columns[name].type) for name in CALL_CONSTANTS},
        "issued_outside": false(),
    }
    answered = _field(answers.c.value, "number", columns.sequence_number, dialect)
    rows = (
        select(*values.values())
        .select_from(AuthorityCall)
        .join(vouchers, true())
        .join(answers, answered == number)
        .where(AuthorityCall.id == bindparam("call_id"))
        .order_by(number)
    )
    return insert(Invoice.__table__).from_select(list(values), rows)


def _store_invoices(call_id: int, authorized: list[Outcome], code: str, batch, now, kept):
    """Stores the invoices of call ``call_id``'s authorized vouchers (``_invoices_insert``)."""
    document_type, point_of_sale = type_and_point_of_sale(code)
    answers = [
        {
            "number": outcome.number,
            "invoice_number": invoice_number(code, outcome.number),
            "cae": outcome.cae,
            "cae_due_date": outcome.cae_due_date.isoformat(),
        }
        for outcome in authorized
    ]
    db.session.execute(
        _invoices_insert(db.engine.dialect.name),
        {
            "call_id": call_id,
            "answers": answers,
            "receipt_book": code,
            "point_of_sale": point_of_sale,
            "document_type": document_type,
            "issue_date": batch.issue_date,
            "batch_id": batch.id,
            "created_at": now,
            **{name: kept.get(name) for name in ISSUER_KEPT},
        },
    )


def _count_on_book(batch: BillingBatch, code: str, authorized, rejected: int) -> None:
    """Adds a call's figures to what the batch invoiced on book ``code``."""
    upsert = _dialect_insert()(BatchBook).values(
        batch_id=batch.id,
        receipt_book=code,
        document_type=type_and_point_of_sale(code)[0],
        first_number=authorized[0].number if authorized else None,
        last_number=authorized[-1].number if authorized else None,
        authorized=len(authorized),
        rejected=rejected,
    )
    db.session.execute(
        upsert.on_conflict_do_update(
            index_elements=["batch_id", "receipt_book"],
            set_={
                "first_number": func.coalesce(BatchBook.first_number, upsert.excluded.first_number),
                "last_number": func.coalesce(upsert.excluded.last_number, BatchBook.last_number),
                "authorized": BatchBook.authorized + upsert.excluded.authorized,
                "rejected": BatchBook.rejected + upsert.excluded.rejected,
            },
        )
    )


def outcomes_of_answer(vouchers: list[dict], answer) -> list[Outcome]:
    outcomes = []
    for voucher, detail in zip(vouchers, answer.details, strict=True):
        if detail.authorized:
            outcomes.append(Outcome(voucher["number"], detail.cae, detail.cae_fch_vto))
        else:
            event = detail.observaciones[0]
            outcomes.append(Outcome(voucher["number"], code=event.code, message=event.msg))
    return outcomes


def ask_about(
    call: AuthorityCall, book: ReceiptBook, renew: Callable[[], None] = lambda: None
) -> list[Outcome]:
    """What became of a call whose answer never came, asked of the authority voucher by voucher
    (FECompConsultar takes one number; the questions go out LOOKUPS_AT_ONCE at a time, so a
    call of 250 does not wait 250 round trips in a row, and ``renew`` runs after each round, so
    a worker resolving a long call keeps its claim). The authority numbers in order, so the
    vouchers it authorized for this call are a prefix of it: each is stored with the
    authority's CAE. The first number it holds for something else (another system used it), or
    does not hold, ends the prefix: that voucher and the rest are not Lote's invoices, and the
    check before the next call finds whether the book is still in step. Raises CaeUnavailable
    when the authority does not answer: the call stays reserved."""
    port = authority()
    # Read once: ``renew`` commits, and the book's attributes are not to be loaded again in
    # the threads that ask.
    point_of_sale, document_type = book.point_of_sale, book.document_type
    last = port.last_authorized(point_of_sale, document_type)
    asked = [voucher for voucher in call.vouchers if voucher["number"] <= last]
    outcomes = []
    with ThreadPoolExecutor(max_workers=LOOKUPS_AT_ONCE) as pool:
        for start in range(0, len(asked), LOOKUPS_AT_ONCE):
            round_ = asked[start : start + LOOKUPS_AT_ONCE]
            records = pool.map(
                lambda voucher: port.lookup(point_of_sale, document_type, voucher["number"]),
                round_,
            )
            for voucher, record in zip(round_, records, strict=True):
                if (
                    record is None
                    or record.imp_total != Decimal(voucher["amount"])
                    or record.doc_nro != int(voucher["doc_number"])
                ):
                    return outcomes
                outcomes.append(Outcome(voucher["number"], record.cae, record.cae_fch_vto))
            renew()
    return outcomes


def resolve_calls(batch: BillingBatch, attempt: int | None) -> int:
    """Resolves the batch's calls left in flight by asking the authority, each stored in a
    transaction of its own; returns how many vouchers were found authorized. A worker's claim
    is renewed while it asks."""

    def renew() -> None:
        if attempt is not None:
            _heartbeat(batch, attempt)
            db.session.commit()

    found = 0
    kept = snapshot(get_issuer())
    for call in db.session.scalars(
        select(AuthorityCall).where(AuthorityCall.batch_id == batch.id).order_by(AuthorityCall.id)
    ).all():
        outcomes = ask_about(call, db.session.get(ReceiptBook, call.receipt_book), renew)
        found += store_outcomes(
            call.id, call.vouchers, call.receipt_book, batch, outcomes, attempt, kept
        )
        db.session.commit()
    return found


def _hold_books(batch: BillingBatch, codes: list[str]) -> None:
    """Takes the batch's books, or waits for the batch that holds one: a book is held by one
    batch from its first call to its last, and a book with a call of another batch still in
    flight is that batch's until the call is resolved."""
    for code in codes:
        another_batch = ReceiptBook.held_by_batch_id != batch.id
        holder_running = exists().where(
            BillingBatch.id == ReceiptBook.held_by_batch_id,
            BillingBatch.status.in_(QUEUED_OR_RUNNING),
        )
        in_flight = exists().where(
            AuthorityCall.receipt_book == ReceiptBook.code, AuthorityCall.batch_id != batch.id
        )
        taken = db.session.execute(
            update(ReceiptBook)
            .where(
                ReceiptBook.code == code,
                ReceiptBook.held_by_batch_id.is_(None)
                | ~another_batch
                | (~holder_running & ~in_flight),
            )
            .values(held_by_batch_id=batch.id)
            .execution_options(synchronize_session=False)
        ).rowcount
        if not taken:
            db.session.rollback()
            holder = db.session.get(ReceiptBook, code).held_by_batch_id
            running = db.session.get(BillingBatch, holder).status in QUEUED_OR_RUNNING
            if running:
                raise BookBusy(Message("book.in_use", book=code, batch=str(holder)), True)
            raise BookBusy(Message("book.awaiting_answer", book=code, batch=str(holder)), False)
    db.session.commit()


def release_books(batch_id: int) -> None:
    """Lets go of the batch's books (in the caller's transaction), except one a call of the
    batch is still in flight on."""
    db.session.execute(
        update(ReceiptBook)
        .where(
            ReceiptBook.held_by_batch_id == batch_id,
            ~exists().where(AuthorityCall.receipt_book == ReceiptBook.code),
        )
        .values(held_by_batch_id=None)
        .execution_options(synchronize_session=False)
    )


def _in_step(book: ReceiptBook, last: int) -> bool:
    """Before calling: Lote's counter must equal ``last``, the authority's last number. A book
    Lote never numbered adopts the authority's (a point of sale used before Lote); returns
    whether it did."""
    if last == book.last_number:
        return False
    never_used = book.last_number == 0 and not db.session.scalar(
        select(exists().where(Invoice.receipt_book == book.code))
    )
    if never_used:
        book.last_number = book.adopted_number = last
        audit.record(
            "worker",
            "adopted",
            "receipt_book",
            0,
            Message("audit.adopted", book=book.code, number=str(last)),
        )
        return True
    raise BatchRejected(
        Message(
            "book.out_of_step",
            book=book.code,
            last=str(book.last_number),
            authority_last=str(last),
        )
    )


@dataclass(frozen=True)
class _Reserved:
    """A call whose numbers are reserved and committed with its vouchers, not sent yet."""

    call_id: int
    vouchers: list[dict]
    request: AuthorizationRequest


@dataclass(frozen=True)
class _Sent:
    """A reserved call on its way to the authority, answered in a thread of its own."""

    call_id: int
    vouchers: list[dict]
    answer: Future


@dataclass(frozen=True)
class _Work:
    """What a batch issues on one book: the next rows after an item's id (its pendings, or its
    corrections), and the reserved voucher of a row and its number, with its request."""

    code: str
    rows: Callable[[int], list]
    voucher: Callable[[object, int], tuple[dict, VoucherDetail]]


def _reserve(
    batch: BillingBatch, attempt: int, work: _Work, rows, after_number: int | None
) -> _Reserved:
    """Reserves the next call's numbers, after the book's counter or after ``after_number`` (the
    last of a call not stored yet), and commits them with its vouchers. A reserved call that is
    never sent is resolved like any other: the authority holds none of its numbers. Numbered
    on from a call, it reads nothing of the book: the book is the batch's while it runs, and
    only the batch's own calls move its counter and its last issue date."""
    code = work.code
    if after_number is None:
        book = db.session.get(ReceiptBook, code, with_for_update=True)
        if book.last_issue_date and batch.issue_date < book.last_issue_date:
            raise BatchRejected(
                Message(
                    "invoicing.issue_date_used",
                    issue_date=batch.issue_date,
                    last_date=book.last_issue_date,
                    book=code,
                )
            )
        after_number = book.last_number
    numbered = [work.voucher(row, after_number + n) for n, row in enumerate(rows, start=1)]
    vouchers = [voucher for voucher, _ in numbered]
    call = AuthorityCall(
        batch_id=batch.id,
        receipt_book=code,
        first_number=vouchers[0]["number"],
        last_number=vouchers[-1]["number"],
        vouchers=vouchers,
    )
    document_type, point_of_sale = type_and_point_of_sale(code)
    request = AuthorizationRequest(
        pto_vta=point_of_sale,
        cbte_tipo=document_type,
        details=tuple(detail for _, detail in numbered),
    )
    db.session.add(call)
    db.session.flush()
    # The batch's row last: a store of the call before, which writes it too, waits for it only
    # while this transaction commits.
    _heartbeat(batch, attempt)
    reserved = _Reserved(call.id, vouchers, request)
    db.session.commit()  # reserved: the numbers and what they are sent for
    return reserved


def _send(reserved: _Reserved, sender: ThreadPoolExecutor) -> _Sent:
    answer = sender.submit(authority().authorize, reserved.request)
    return _Sent(reserved.call_id, reserved.vouchers, answer)


def _invoice_on_book(batch: BillingBatch, attempt: int, work: _Work, kept: dict) -> None:
    """Issues the batch's vouchers of one book, call by call, one call in flight at a time.
    While a call is in flight the next one is reserved, numbered on from it; when all of the
    call is authorized the next one goes out at once, and the answer is stored while it is on
    its way (on PostgreSQL, in a transaction of its own in a storer's thread, beside the store
    of the answer before, while this one reserves the call after: ``_Storer``), so Lote's own
    work overlaps the authority's waits and its own writes. When some of it is rejected, the
    stores before it are waited for, the next reservation is withdrawn (never sent) and the rest
    are numbered again."""
    code = work.code
    rows = work.rows(0)
    if not rows:
        return
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"authority-{code}") as sender,
        _Storer(batch, attempt, code, kept) as storer,
    ):
        sent = _send(_first_call(batch, attempt, work, rows, sender), sender)
        while sent is not None:
            upcoming = work.rows(item_of(sent.vouchers[-1]))
            next_call = None
            if upcoming:
                last = sent.vouchers[-1]["number"]
                next_call = _reserve(batch, attempt, work, upcoming, last)
            answer = sent.answer.result()
            outcomes = outcomes_of_answer(sent.vouchers, answer)
            if outcomes and outcomes[0].code == NOT_NEXT:
                # The authority is past Lote's counter: the calls stay reserved, and the next
                # attempt asks what the authority holds before anything else.
                raise CaeUnavailable(
                    Message("book.not_next", book=code, number=str(outcomes[0].number))
                )
            if all(outcome.authorized for outcome in outcomes):
                following = _send(next_call, sender) if next_call is not None else None
                storer.store(sent, outcomes)
                sent = following
                continue
            storer.wait()
            authorized = store_outcomes(
                sent.call_id, sent.vouchers, code, batch, outcomes, attempt, kept
            )
            if next_call is not None:
                _withdraw(next_call)
            db.session.commit()
            # Some were rejected: the rest are numbered again after the last authorized.
            if authorized:
                after_id = item_of(sent.vouchers[authorized - 1])
            else:
                after_id = item_of(sent.vouchers[0]) - 1
            rows = work.rows(after_id)
            sent = _send(_reserve(batch, attempt, work, rows, None), sender) if rows else None


class _LetGo(Exception):
    """A store waited too long for the store of the call before it (``_Storer``)."""


class _Storer:
    """Stores a book's answered calls. On PostgreSQL each is stored in a thread and a session of
    its own while the batch goes on, up to STORES_AT_ONCE at a time: a store writes the rows
    only its call writes while the one before it commits, then commits after it
    (``store_outcomes``); ``store`` returns once a thread is free for the call. On SQLite, which
    writes one transaction at a time, each is stored in the batch's own session before
    ``store`` returns. Leaving waits for every store, and a store that failed raises in the
    batch's thread."""

    def __init__(self, batch: BillingBatch, attempt: int, code: str, kept: dict):
        self.batch, self.attempt, self.code, self.kept = batch, attempt, code, kept
        self.app = current_app._get_current_object()
        self.pool = None
        if db.engine.dialect.name == "postgresql":
            self.pool = ThreadPoolExecutor(
                max_workers=STORES_AT_ONCE, thread_name_prefix=f"storer-{code}"
            )
        # The stores in progress, in the order of their calls.
        self.storing: list[Future] = []

    def __enter__(self) -> "_Storer":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.wait()
        finally:
            if self.pool is not None:
                self.pool.shutdown()

    def store(self, sent: _Sent, outcomes: list[Outcome]) -> None:
        if self.pool is None:
            self._store(sent, outcomes, lambda: None)
            return
        if len(self.storing) == STORES_AT_ONCE:
            # Kept in the list if it failed, so that leaving raises its failure first.
            self.storing[0].result()
            self.storing.pop(0)
        before = self.storing[-1] if self.storing else None
        self.storing.append(self.pool.submit(self._store_in_own_session, sent, outcomes, before))

    def wait(self) -> None:
        """Waits for every store in progress; raises what the first that failed raised (the
        stores after it fail with it, never committing before it)."""
        storing, self.storing = self.storing, []
        failure = None
        for store in storing:
            try:
                store.result()
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure

    def _store_in_own_session(
        self, sent: _Sent, outcomes: list[Outcome], before: Future | None
    ) -> None:
        """Stores a call beside the store of the call before (``before``). Its rows stay
        locked while it waits for that store to commit, a wait PostgreSQL cannot see: if a
        third transaction waits for them while the store before waits for that transaction,
        nothing would end it. So the wait is bounded by STORE_WAIT_SECONDS; past it the store
        rolls back, letting go of its rows, waits for the store before without holding any,
        and stores its call again."""

        def after_call_before() -> None:
            if before is not None:
                try:
                    before.result(timeout=current_app.config["STORE_WAIT_SECONDS"])
                except FuturesTimeout:
                    raise _LetGo from None

        with self.app.app_context():
            try:
                try:
                    self._store(sent, outcomes, after_call_before)
                except _LetGo:
                    db.session.rollback()
                    before.result()
                    self._store(sent, outcomes, lambda: None)
            except Exception:
                db.session.rollback()
                raise

    def _store(
        self, sent: _Sent, outcomes: list[Outcome], after_call_before: Callable[[], None]
    ) -> None:
        store_outcomes(
            sent.call_id,
            sent.vouchers,
            self.code,
            self.batch,
            outcomes,
            self.attempt,
            self.kept,
            after_call_before,
        )
        db.session.commit()


def _first_call(
    batch: BillingBatch, attempt: int, work: _Work, rows, sender: ThreadPoolExecutor
) -> _Reserved:
    """Reserves the book's first call while the authority is asked its last number, and
    returns it once the book is found in step. The reservation is withdrawn when the check
    fails, and made again after a number the book adopts."""
    book = db.session.get(ReceiptBook, work.code)
    last = sender.submit(authority().last_authorized, book.point_of_sale, book.document_type)
    first = _reserve(batch, attempt, work, rows, None)
    try:
        adopted = _in_step(
            db.session.get(ReceiptBook, work.code, with_for_update=True), last.result()
        )
    except (BatchRejected, CaeUnavailable):
        db.session.rollback()
        _withdraw(first)
        db.session.commit()
        raise
    if adopted:
        _withdraw(first)
    db.session.commit()
    return _reserve(batch, attempt, work, rows, None) if adopted else first


def _withdraw(reserved: _Reserved) -> None:
    """Forgets a reserved call that was never sent (in the caller's transaction)."""
    db.session.execute(
        delete(AuthorityCall)
        .where(AuthorityCall.id == reserved.call_id)
        .execution_options(synchronize_session=False)
    )


def _invoice_work(batch: BillingBatch, issuer: IssuerIvaCondition) -> list[_Work]:
    """An invoice batch's books: one per letter it invoices at its point of sale."""
    letters = (
        [LETTER_OF_TYPE[type_and_point_of_sale(batch.receipt_book)[0]]]
        if batch.receipt_book
        else list(letters_issued_by(issuer))
    )
    reports_vat = issuer == IssuerIvaCondition.REGISTERED
    work = []
    for letter in letters:
        allowed = receivers_of_letter(issuer, letter)
        work.append(
            _Work(
                code=book_for_update(INVOICE_OF_LETTER[letter], batch.point_of_sale).code,
                rows=lambda after, allowed=allowed: _pending_rows(batch.id, allowed, after),
                voucher=lambda row, number: _voucher(row, number, batch.issue_date, reports_vat),
            )
        )
    return work


def _note_types_of(batch_id: int) -> list[int]:
    """The note types a batch of notes issues: one per kind and letter of its corrections."""
    pairs = db.session.execute(
        select(Correction.kind, Invoice.document_type)
        .join(Invoice, Invoice.id == Correction.invoice_id)
        .where(Correction.batch_id == batch_id)
        .distinct()
    ).all()
    return sorted({NOTE_OF_LETTER[kind][LETTER_OF_TYPE[t]] for kind, t in pairs})


def _note_work(batch: BillingBatch) -> list[_Work]:
    """A batch of notes' books: one per note type at its point of sale."""
    return [
        _Work(
            code=book_for_update(document_type, batch.point_of_sale).code,
            rows=lambda after, t=document_type: _note_rows(batch.id, t, after),
            voucher=lambda row, number: _note_voucher(row, number, batch.issue_date),
        )
        for document_type in _note_types_of(batch.id)
    ]


def _left_in(batch: BillingBatch) -> int:
    """What the batch still holds to issue: PENDING pendings, or PENDING corrections."""
    if batch.kind == BatchKind.NOTES:
        table, waiting = Correction, Correction.status == CorrectionStatus.PENDING
    else:
        table, waiting = BillingPending, BillingPending.status == PendingStatus.PENDING
    return db.session.scalar(
        select(func.count()).select_from(table).where(table.batch_id == batch.id, waiting)
    )


def _refresh_statistics(batch: BillingBatch) -> None:
    """Brings PostgreSQL's statistics up to date, before its first read, on the tables a batch
    reads call by call, where they changed more than autovacuum lets change before it analyzes
    again (50 rows and a tenth of the table): the pendings, when the batch claimed that many
    (the planner does not know them as the batch's yet), and the customers, after an import
    not analyzed since. Stale, they can make each call of 250 read, and sort, every pending left
    in the batch."""
    if db.engine.dialect.name != "postgresql" or batch.kind == BatchKind.NOTES:
        return
    stale = [
        table
        for table, rows, changed in db.session.execute(
            text(
                "SELECT c.relname, greatest(c.reltuples, 0), s.n_mod_since_analyze FROM pg_class c"
                " JOIN pg_stat_user_tables s ON s.relid = c.oid"
                " WHERE c.oid IN ('billing_pendings'::regclass, 'customers'::regclass)"
            )
        )
        if (batch.pending_count if table == "billing_pendings" else changed) >= 50 + rows / 10
    ]
    if stale:
        db.session.execute(text(f"ANALYZE {', '.join(stale)}"))
        db.session.commit()


def _issue(batch: BillingBatch, attempt: int) -> None:
    """Issues the batch's vouchers on each of its books, once it holds them all and has
    resolved its calls left in flight."""
    current = get_issuer()
    if current is None:
        raise BatchRejected(Message("invoicing.issuer_not_set"))
    kept = snapshot(current)
    _refresh_statistics(batch)
    if batch.kind == BatchKind.NOTES:
        work = _note_work(batch)
    else:
        work = _invoice_work(batch, current.iva_condition)
    db.session.commit()
    _hold_books(batch, [w.code for w in work])
    resolve_calls(batch, attempt)
    for book_work in work:
        _invoice_on_book(batch, attempt, book_work, kept)


def invoice_batch(batch_id: int, attempt: int) -> None:
    """Issues a claimed batch call by call on the books of its point of sale: its invoices, or
    its notes."""
    batch = db.session.get(BillingBatch, batch_id)
    # What the attempt reads of its batch (id, kind, issue date, point of sale, book) does not
    # change while it runs, and its figures are written by statements: out of the session, the
    # row is not read again after each commit. It is back in the session afterwards.
    db.session.expunge(batch)
    try:
        _issue(batch, attempt)
    finally:
        db.session.add(batch)
    db.session.refresh(batch)
    left = _left_in(batch)
    if left:
        raise BatchRejected(Message("invoicing.customers_changed", count=left))
    release_books(batch_id)
    now = utcnow()
    _heartbeat(
        batch,
        attempt,
        status=BatchStatus.PROCESSED,
        progress=100,
        error_message=None,
        processing_completed_at=now,
    )
    audit.record(
        "worker",
        "invoiced",
        "batch",
        batch_id,
        Message("audit.invoices", count=batch.total_invoices),
    )
    db.session.commit()


def _mark_issued(vouchers: list[dict], now) -> None:
    """The authorized vouchers' corrections become ISSUED, or their pendings and services
    INVOICED."""
    if "correction_id" in vouchers[0]:
        db.session.execute(
            update(Correction)
            .where(among(Correction.id, [v["correction_id"] for v in vouchers]))
            .values(status=CorrectionStatus.ISSUED, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return
    pending_ids = [v["pending_id"] for v in vouchers]
    service_ids = [v["service_id"] for v in vouchers]
    db.session.execute(
        update(BillingPending)
        .where(among(BillingPending.id, pending_ids))
        .values(status=PendingStatus.INVOICED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.execute(
        update(Service)
        .where(among(Service.id, service_ids))
        .values(status=ServiceStatus.INVOICED, updated_at=now)
        .execution_options(synchronize_session=False)
    )


def _failure_message(exc: Exception) -> Message | str:
    if isinstance(exc, CaeUnavailable | BatchRejected | BookBusy):
        return message_of(exc)
    if isinstance(exc, OperationalError):
        return Message("invoicing.database_unavailable")
    return Message("invoicing.unexpected", kind=type(exc).__name__)


def record_failure(batch_id: int, attempt: int, message: Message | str, final: bool) -> None:
    """A failed attempt leaves the batch queued for the next retry, or ERROR with the reason (and
    its books released, unless a call is still in flight on one)."""
    db.session.execute(
        update(BillingBatch)
        .where(
            BillingBatch.id == batch_id,
            BillingBatch.attempts == attempt,
            BillingBatch.status == BatchStatus.IN_PROCESS,
        )
        .values(
            status=BatchStatus.ERROR if final else BatchStatus.PENDING_PROCESSING,
            error_message=stored(
                message if final else Message("invoicing.retrying", attempt=attempt, reason=message)
            ),
            heartbeat_at=None,
            enqueued_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if final:
        release_books(batch_id)
        audit.record("worker", "failed", "batch", batch_id, message)
    db.session.commit()


def process_batch(batch_id: int, final_attempt: bool) -> BatchStatus | None:
    """One attempt at a batch. A retryable failure is re-raised (after recording it) unless this
    is the final attempt, so the queue can schedule the next one; an attempt that got some
    vouchers authorized before failing counts as progress, not as a failure in a row (the queue
    starts the count again)."""
    attempt = claim_batch(batch_id)
    if attempt is None:
        if db.session.get(BillingBatch, batch_id) is None:
            # A queue shared with another Lote's consumers: their batches are not in this
            # database, and this consumer takes (and drops) their tasks until the reaper
            # queues them again.
            log.warning(
                "batch %s is not in this database: does another Lote use the same queue?",
                batch_id,
            )
        return None
    before = db.session.get(BillingBatch, batch_id).total_invoices
    try:
        invoice_batch(batch_id, attempt)
    except LostClaim:
        db.session.rollback()
        log.warning("batch %s: attempt %s lost its claim", batch_id, attempt)
        return None
    except Exception as exc:
        db.session.rollback()
        made_progress = db.session.get(BillingBatch, batch_id).total_invoices > before
        waits = (isinstance(exc, BookBusy) and exc.holder_running) or made_progress
        final = isinstance(exc, BatchRejected) or (final_attempt and not waits)
        if not isinstance(exc, CaeUnavailable | BatchRejected | BookBusy):
            log.exception("batch %s: attempt %s failed", batch_id, attempt)
        record_failure(batch_id, attempt, _failure_message(exc), final)
        if final:
            return BatchStatus.ERROR
        if waits:
            raise StartAgain(str(exc)) from exc
        raise
    return BatchStatus.PROCESSED
