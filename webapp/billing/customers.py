"""Customers: who services are billed to, with the document and IVA condition an invoice needs
(docs/rules.md, rule 11). A customer is named by the ``customerId`` services already carry; one that
a service names before Lote knows it is created incomplete, and stays so until a clerk gives it
an IVA condition."""

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import aliased
from stdnum import exceptions as stdnum_errors
from stdnum.ar import cuit as stdnum_cuit

from webapp.billing import audit, documents
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.ids import among, chunked, statement_chunks, whole_number
from webapp.billing.messages import Message, changed_fields, message_of
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import (
    CREDIT_NOTE_TYPES,
    INVOICE_TYPES,
    MAX_ID,
    BillingPending,
    Customer,
    DocType,
    InvoiceDailyTotal,
    IssuerIvaCondition,
    IvaCondition,
    PendingStatus,
    ReceiptBook,
    utcnow,
)

DOC_TYPE_NAMES = {
    DocType.CUIT: "CUIT",
    DocType.CUIL: "CUIL",
    DocType.DNI: "DNI",
    DocType.UNIDENTIFIED: "Unidentified",
}
# English names; the pages show the Spanish ones of the catalog (RG 5616's own wording).
IVA_CONDITION_NAMES = {
    IvaCondition.REGISTERED: "VAT registered",
    IvaCondition.EXEMPT: "VAT exempt",
    IvaCondition.FINAL_CONSUMER: "Final consumer",
    IvaCondition.MONOTRIBUTO: "Monotributo",
    IvaCondition.UNCATEGORIZED: "Uncategorized",
    IvaCondition.FOREIGN_SUPPLIER: "Foreign supplier",
    IvaCondition.FOREIGN_CUSTOMER: "Foreign customer",
    IvaCondition.LIBERATED_LAW_19640: "VAT freed (Law 19640)",
    IvaCondition.SOCIAL_MONOTRIBUTO: "Social Monotributo",
    IvaCondition.NOT_REACHED: "Not subject to VAT",
    IvaCondition.PROMOTED_INDEPENDENT_MONOTRIBUTO: "Promoted independent worker Monotributo",
}
# Receivers of a Factura A must be identified by their CUIT.
CUIT_REQUIRED = frozenset(
    {
        IvaCondition.REGISTERED,
        IvaCondition.MONOTRIBUTO,
        IvaCondition.SOCIAL_MONOTRIBUTO,
        IvaCondition.PROMOTED_INDEPENDENT_MONOTRIBUTO,
    }
)
LEGAL_NAME_MAX = 200
ADDRESS_MAX = 300
EMAIL_MAX = 254
DEFAULT_PAYMENT_DAYS = 30
MAX_PAYMENT_DAYS = 365
UNIDENTIFIED_NUMBER = "0"
DOC_TYPE_HINT = Message("customer.doc_type_hint")
IVA_CONDITION_HINT = Message("customer.iva_condition_hint")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
FIELD_NAMES = {
    "legal_name": "legalName",
    "doc_type": "docType",
    "doc_number": "docNumber",
    "iva_condition": "ivaCondition",
    "address": "address",
    "email": "email",
    "payment_days": "paymentDays",
}


def placeholder_name(customer_id: int) -> str:
    """The name of a customer Lote only knows by the id a service gave."""
    return f"Customer {customer_id}"


def digits_of(text: str) -> str:
    """A document number as typed (``30-50001091-2``, ``20.123.456``) reduced to its digits."""
    return re.sub(r"[\s.\-/]", "", text or "")


def format_doc_number(doc_type: int, doc_number: str) -> str:
    """How a document number is shown: a CUIT or CUIL as ``30-50001091-2``."""
    if doc_type in (DocType.CUIT, DocType.CUIL) and len(doc_number) == 11:
        return stdnum_cuit.format(doc_number)
    return doc_number


def iva_condition_name(code: int | None) -> str | None:
    return None if code is None else IVA_CONDITION_NAMES.get(IvaCondition(code))


def check_cuit(raw) -> str:
    """A CUIT (or CUIL) has 11 digits and a valid check digit; returns the 11 digits, or raises
    ValueError with the ``Message`` that names what is wrong."""
    if not isinstance(raw, str):
        raise ValueError(Message("cuit.string"))
    number = digits_of(raw)
    try:
        return stdnum_cuit.validate(number)
    except stdnum_errors.InvalidChecksum:
        raise ValueError(Message("cuit.check_digit")) from None
    except stdnum_errors.InvalidLength:
        raise ValueError(Message("cuit.length")) from None
    except stdnum_errors.ValidationError:
        raise ValueError(Message("cuit.format")) from None


def _code(value, codes: type, hint: str):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(hint)
    try:
        return codes(value)
    except ValueError:
        raise ValueError(hint) from None


def _text(fields: dict, clean: dict, details: list, name: str, maximum: int) -> None:
    if name not in fields:
        return
    value = fields[name]
    if value is None:
        value = ""
    if not isinstance(value, str):
        details.append({"field": FIELD_NAMES[name], "message": Message("field.must_be_text")})
        return
    value = value.strip()
    if len(value) > maximum:
        details.append(
            {"field": FIELD_NAMES[name], "message": Message("field.too_long", count=maximum)}
        )
        return
    clean[name] = value


def _clean_fields(fields: dict, current: dict) -> dict:
    """Checks a customer's fields, each alone and then together over ``current`` (the stored
    values a PATCH leaves as they are); every problem is reported at once, by field.

    The rules: a CUIT or CUIL has a valid check digit, a DNI 7 or 8 digits, an unidentified
    receiver (99) the number 0; a receiver of a Factura A (IVA condition 1, 6, 13 or 16) is
    identified by CUIT; only a Consumidor Final (5) may be unidentified."""
    details, clean = [], {}
    _text(fields, clean, details, "legal_name", LEGAL_NAME_MAX)
    if "legal_name" in clean and not clean["legal_name"]:
        details.append({"field": "legalName", "message": Message("field.required")})
    _text(fields, clean, details, "address", ADDRESS_MAX)
    _text(fields, clean, details, "email", EMAIL_MAX)
    if clean.get("email") and not EMAIL_PATTERN.match(clean["email"]):
        details.append({"field": "email", "message": Message("field.must_be_email")})
    if "payment_days" in fields:
        days = fields["payment_days"]
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_PAYMENT_DAYS:
            details.append(
                {
                    "field": "paymentDays",
                    "message": Message("customer.payment_days", count=MAX_PAYMENT_DAYS),
                }
            )
        else:
            clean["payment_days"] = days
    if "iva_condition" in fields:
        if fields["iva_condition"] is None:
            clean["iva_condition"] = None
        else:
            try:
                clean["iva_condition"] = _code(
                    fields["iva_condition"], IvaCondition, IVA_CONDITION_HINT
                ).value
            except ValueError as exc:
                details.append({"field": "ivaCondition", "message": message_of(exc)})
    doc_type_known = True
    if "doc_type" in fields:
        try:
            clean["doc_type"] = _code(fields["doc_type"], DocType, DOC_TYPE_HINT).value
        except ValueError as exc:
            details.append({"field": "docType", "message": message_of(exc)})
            doc_type_known = False
    merged = {**current, **clean}
    doc_type = merged.get("doc_type", DocType.UNIDENTIFIED)
    if doc_type_known and ("doc_number" in fields or "doc_type" in fields):
        try:
            clean["doc_number"] = _doc_number(
                doc_type, fields.get("doc_number", merged.get("doc_number"))
            )
        except ValueError as exc:
            details.append({"field": "docNumber", "message": message_of(exc)})
    condition = merged.get("iva_condition")
    if doc_type_known and condition in CUIT_REQUIRED and doc_type != DocType.CUIT:
        details.append({"field": "docType", "message": Message("customer.cuit_required")})
    elif (
        doc_type_known
        and condition is not None
        and condition != IvaCondition.FINAL_CONSUMER
        and doc_type == DocType.UNIDENTIFIED
    ):
        details.append(
            {
                "field": "docType",
                "message": Message("customer.only_final_consumer"),
            }
        )
    if details:
        raise InvalidInput(Message("customer.invalid"), details)
    return clean


def _doc_number(doc_type: int, raw) -> str:
    if doc_type == DocType.UNIDENTIFIED:
        if raw not in (None, "", UNIDENTIFIED_NUMBER):
            raise ValueError(Message("customer.unidentified_number"))
        return UNIDENTIFIED_NUMBER
    if raw is None or raw == "":
        raise ValueError(Message("field.required"))
    if doc_type in (DocType.CUIT, DocType.CUIL):
        return check_cuit(raw)
    number = digits_of(raw) if isinstance(raw, str) else ""
    if not (number.isascii() and number.isdigit()) or not 7 <= len(number) <= 8:
        raise ValueError(Message("customer.dni_digits"))
    return number


def is_complete(customer: Customer) -> bool:
    """A customer can be invoiced once it has a name and an IVA condition: its document was
    checked against the condition when either was stored."""
    return bool(customer.legal_name) and customer.iva_condition is not None


def _stored_values(customer: Customer) -> dict:
    return {name: getattr(customer, name) for name in FIELD_NAMES}


def _check_id(customer_id) -> int:
    if (
        isinstance(customer_id, bool)
        or not isinstance(customer_id, int)
        or not 1 <= customer_id <= MAX_ID
    ):
        raise InvalidInput(
            Message("customer.invalid"),
            [{"field": "customerId", "message": Message("field.must_be_positive_number")}],
        )
    return customer_id


def _insert_ignoring_existing():
    """INSERT ... ON CONFLICT DO NOTHING on the database in use."""
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    return dialect.insert(Customer).on_conflict_do_nothing(index_elements=[Customer.id])


def _refuse_taken_document(values: dict, customer_id: int | None) -> None:
    """A CUIT or CUIL names one customer: another customer's is refused, naming its holder, as
    the import refuses it."""
    if values.get("doc_type") not in (DocType.CUIT, DocType.CUIL):
        return
    holder = db.session.scalar(
        _holders(values["doc_type"], values["doc_number"])
        .where(Customer.id != (customer_id or 0))
        .limit(1)
    )
    if holder is not None:
        raise InvalidInput(
            Message("customer.invalid"),
            [
                {
                    "field": "docNumber",
                    "message": Message("customer.document_taken", id=str(holder)),
                }
            ],
        )


def _next_free_id() -> int:
    """The id after the highest one; once that is the largest id there is, the lowest free one.
    Every id handed out can be read back, edited and billed."""
    highest = db.session.scalar(select(func.max(Customer.id))) or 0
    if highest < MAX_ID:
        return highest + 1
    if db.session.get(Customer, 1) is None:
        return 1
    following = aliased(Customer)
    gap = db.session.scalar(
        select(func.min(Customer.id + 1)).where(
            Customer.id < MAX_ID, ~exists().where(following.id == Customer.id + 1)
        )
    )
    if gap is None:
        raise Conflict(Message("customer.no_free_id"))
    return gap


def _new_customer(clean: dict) -> dict:
    """The stored values of a new customer: what was given over the defaults."""
    values = {
        "doc_type": DocType.UNIDENTIFIED.value,
        "doc_number": UNIDENTIFIED_NUMBER,
        "iva_condition": None,
        "address": "",
        "email": "",
        "payment_days": DEFAULT_PAYMENT_DAYS,
        **clean,
    }
    values["incomplete"] = values["iva_condition"] is None or not values.get("legal_name")
    return values


def create_customer(actor: str, customer_id: int | None = None, **fields) -> Customer:
    """Registers a customer under ``customer_id``, or under the next free id when none is given;
    an id already taken is a 409. It is complete once it has an IVA condition."""
    if customer_id is not None:
        customer_id = _check_id(customer_id)
    fields.setdefault("legal_name", "")
    clean = _clean_fields(fields, {"doc_type": DocType.UNIDENTIFIED})
    values = _new_customer(clean)
    _refuse_taken_document(values, customer_id)
    now = utcnow()
    # Without a given id the next free one is taken; a concurrent create that took it first
    # makes the insert do nothing, and the following id is tried.
    for _attempt in range(5):
        chosen = customer_id or _next_free_id()
        inserted = db.session.scalar(
            _insert_ignoring_existing()
            .values(id=chosen, created_at=now, updated_at=now, **values)
            .returning(Customer.id)
        )
        if inserted is not None or customer_id is not None:
            break
    if inserted is None:
        raise Conflict(Message("customer.exists", id=str(chosen)))
    audit.record(actor, "created", "customer", chosen, values["legal_name"])
    db.session.commit()
    return get_customer(chosen)


def update_customer(actor: str, customer_id: int, **fields) -> Customer:
    """Edits or completes a customer: the fields given change, the rest stay, and the whole is
    checked again. Invoices already issued keep their own copy of the receiver."""
    customer = db.session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update()
    )
    if customer is None:
        raise NotFound(Message("customer.not_found", id=str(customer_id)))
    clean = _clean_fields(fields, _stored_values(customer))
    _refuse_taken_document({**_stored_values(customer), **clean}, customer_id)
    changed = {name for name, value in clean.items() if getattr(customer, name) != value}
    for name, value in clean.items():
        setattr(customer, name, value)
    customer.incomplete = not is_complete(customer)
    audit.record(actor, "edited", "customer", customer.id, changed_fields(changed))
    db.session.commit()
    return customer


def get_customer(customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        raise NotFound(Message("customer.not_found", id=str(customer_id)))
    return customer


@dataclass
class CustomerFilters:
    search: str | None = None
    iva_condition: int | None = None
    incomplete: bool | None = None

    def apply(self, query: Select) -> Select:
        """``search`` matches a part of the legal name, or of the document number typed with or
        without its dashes."""
        if self.search:
            term = self.search.strip()
            matches = [func.lower(Customer.legal_name).contains(term.lower(), autoescape=True)]
            digits = digits_of(term)
            if digits.isdigit():
                matches.append(Customer.doc_number.contains(digits, autoescape=True))
            query = query.where(or_(*matches))
        if self.iva_condition is not None:
            query = query.where(Customer.iva_condition == self.iva_condition)
        if self.incomplete is not None:
            query = query.where(Customer.incomplete.is_(self.incomplete))
        return query


def named_like(text: str) -> Select:
    """The ids of the customers whose legal name contains ``text``, ignoring case; ``%`` and
    ``_`` in the text are matched as themselves. Lists filter on it as ``customer_id IN (...)``
    so their own queries keep their shape and indexes."""
    term = text.strip().lower()
    return select(Customer.id).where(
        func.lower(Customer.legal_name).contains(term, autoescape=True)
    )


@dataclass(frozen=True)
class CustomerName:
    legal_name: str
    incomplete: bool


def names_of(customer_ids: Iterable[int | None]) -> dict[int, CustomerName]:
    """The legal name and completeness of each of ``customer_ids`` that Lote knows, in one query:
    lists call it with the ids of the rows on one page, never with a whole list. A row without
    a customer (an invoice issued outside Lote) names none."""
    ids = sorted(set(customer_ids) - {None})
    if not ids:
        return {}
    rows = db.session.execute(
        select(Customer.id, Customer.legal_name, Customer.incomplete).where(Customer.id.in_(ids))
    )
    return {row.id: CustomerName(row.legal_name, row.incomplete) for row in rows}


def holder_of_document(doc_type: int, doc_number: str) -> int | None:
    """The customer a receiver's document names, for a voucher Lote did not issue: the one
    customer holding that document, or None when none does, when several do (Lote does not
    guess between them), or when the receiver is unidentified (DocTipo 99)."""
    if doc_type == DocType.UNIDENTIFIED:
        return None
    holders = db.session.scalars(_holders(doc_type, doc_number).limit(2)).all()
    return holders[0] if len(holders) == 1 else None


def _holders(doc_type: int, doc_number: str) -> Select:
    """The ids of the customers holding a document, lowest first."""
    return (
        select(Customer.id)
        .where(Customer.doc_type == doc_type, Customer.doc_number == doc_number)
        .order_by(Customer.id)
    )


def list_customers(filters: CustomerFilters, page: int = 1, limit: int = 20) -> Page:
    """Customers by id, filtered by name or document, IVA condition and completeness."""
    if filters.iva_condition is not None:
        try:
            _code(filters.iva_condition, IvaCondition, IVA_CONDITION_HINT)
        except ValueError as exc:
            raise InvalidInput(
                Message("filter.invalid"),
                [{"field": "ivaCondition", "message": message_of(exc)}],
            ) from None
    return paginate(filters.apply(select(Customer)).order_by(Customer.id), page, limit)


def ensure_customers(customer_ids: Iterable[int]) -> None:
    """Adds, in the caller's transaction, an incomplete customer named after its id for each id
    Lote does not know yet (a service from a script written for the NestJS API). Concurrent
    callers naming the same new id do not collide: the second insert does nothing."""
    ids = sorted(set(customer_ids))
    now = utcnow()
    for chunk in chunked(ids):
        db.session.execute(
            _insert_ignoring_existing(),
            [
                {
                    "id": customer_id,
                    **_new_customer({"legal_name": placeholder_name(customer_id)}),
                    "created_at": now,
                    "updated_at": now,
                }
                for customer_id in chunk
            ],
        )


def receiver_refusals(
    pending_ids: list[int], issuer: IssuerIvaCondition, letter: str | None
) -> list[dict]:
    """The pendings among these that cannot be invoiced for their customer, each with the
    reason: an incomplete customer (Lote does not invoice a receiver it cannot name), one no
    letter Lote issues serves (abroad), or one that takes another letter than the batch's book
    (docs/rules.md rules 11 and 12)."""
    allowed = documents.receivers_of_letter(issuer, letter) if letter else documents.INVOICEABLE
    refused = []
    for chunk in statement_chunks(sorted(set(pending_ids))):
        rows = db.session.execute(
            select(BillingPending.id, BillingPending.customer_id, Customer.iva_condition)
            .join(Customer, Customer.id == BillingPending.customer_id)
            .where(
                among(BillingPending.id, chunk),
                or_(Customer.incomplete.is_(True), Customer.iva_condition.not_in(allowed)),
            )
            .order_by(BillingPending.id)
        )
        for pending_id, customer_id, condition in rows:
            refused.append({"id": pending_id, "reason": _refusal(customer_id, condition, issuer)})
    return refused


def _refusal(customer_id: int, condition: int | None, issuer: IssuerIvaCondition) -> Message:
    if condition is None:
        return Message("customer.complete_first", id=str(customer_id))
    try:
        letter = documents.letter_for(issuer, condition)
    except documents.LetterRefused as exc:
        return Message(str(exc), id=str(customer_id))
    return Message("customer.takes_letter", id=str(customer_id), letter=letter)


@dataclass
class Balance:
    pending_amount: Decimal
    pending_count: int
    invoiced_amount: Decimal
    invoice_count: int


def balance_of(customer_id: int) -> Balance:
    """What a customer owes in PENDING pendings, and what it was invoiced in all: its invoices
    and debit notes less its credit notes (the count is of invoices)."""
    pending_count, pending_amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(BillingPending.amount), 0)).where(
            BillingPending.customer_id == customer_id,
            BillingPending.status == PendingStatus.PENDING,
        )
    ).one()
    kind = ReceiptBook.document_type
    signed = case(
        (kind.in_(sorted(CREDIT_NOTE_TYPES)), -InvoiceDailyTotal.total_amount),
        else_=InvoiceDailyTotal.total_amount,
    )
    counted = case((kind.in_(sorted(INVOICE_TYPES)), InvoiceDailyTotal.invoice_count), else_=0)
    invoice_count, invoiced_amount = db.session.execute(
        select(func.coalesce(func.sum(counted), 0), func.coalesce(func.sum(signed), 0))
        .join(ReceiptBook, ReceiptBook.code == InvoiceDailyTotal.receipt_book)
        .where(InvoiceDailyTotal.customer_id == customer_id)
    ).one()
    return Balance(
        Decimal(pending_amount).quantize(Decimal("0.01")),
        pending_count,
        Decimal(invoiced_amount).quantize(Decimal("0.01")),
        invoice_count,
    )


# Import from CSV -----------------------------------------------------------------------------

IMPORT_COLUMNS = ("customerId", "legalName", "docType", "docNumber", "ivaCondition", "address")
IMPORT_OPTIONAL_COLUMNS = ("email", "paymentDays")
IMPORT_MAX_ROWS = 2_000
IMPORT_MAX_BYTES = 1_000_000
_IMPORT_FIELDS = {camel: snake for snake, camel in FIELD_NAMES.items()}


@dataclass
class ImportRow:
    """One line of an import file: what it holds, what storing it would do, and what is wrong
    with it (a row with problems is skipped)."""

    line: int
    customer_id: int | None
    fields: dict
    problems: list[dict]
    completes: bool = False

    @property
    def valid(self) -> bool:
        return not self.problems


def _typed(column: str, raw: str):
    """A CSV cell as the domain reads it: codes and days as integers when they are written in
    ASCII digits (anything else stays text, which the checks refuse)."""
    raw = raw.strip()
    if column in ("docType", "ivaCondition", "paymentDays", "customerId"):
        if not raw:
            return None
        number = whole_number(raw)
        return raw if number is None else number
    return raw


def read_import(text: str) -> list[ImportRow]:
    """Reads a customers CSV (comma or semicolon separated, a header row naming the columns) and
    checks every row as a create would, plus duplicates: an id or CUIT repeated in the file, an
    id of a complete customer, a CUIT another customer has. An id of an incomplete customer
    completes it. Nothing is stored."""
    if len(text.encode()) > IMPORT_MAX_BYTES:
        raise InvalidInput(
            Message("import.refused"),
            [{"field": "file", "message": Message("import.too_big", count=IMPORT_MAX_BYTES)}],
        )
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        raise InvalidInput(
            Message("import.refused"), [{"field": "file", "message": Message("import.no_rows")}]
        )
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [name.strip() for name in next(reader)]
    missing = [name for name in IMPORT_COLUMNS if name not in header]
    unknown = [n for n in header if n not in IMPORT_COLUMNS + IMPORT_OPTIONAL_COLUMNS]
    if missing or unknown:
        expected = ", ".join(IMPORT_COLUMNS + IMPORT_OPTIONAL_COLUMNS)
        raise InvalidInput(
            Message("import.refused"),
            [{"field": "file", "message": Message("import.header", columns=expected)}],
        )
    cells = [row for row in reader if any(cell.strip() for cell in row)]
    if len(cells) > IMPORT_MAX_ROWS:
        raise InvalidInput(
            Message("import.refused"),
            [{"field": "file", "message": Message("import.too_many_rows", count=IMPORT_MAX_ROWS)}],
        )
    rows = []
    for line, row in enumerate(cells, start=2):
        values = {name: _typed(name, cell) for name, cell in zip(header, row, strict=False)}
        rows.append(_check_import_row(line, values, len(row) == len(header)))
    _mark_duplicates(rows)
    return rows


def _check_import_row(line: int, values: dict, well_formed: bool) -> ImportRow:
    customer_id = values.pop("customerId", None)
    fields = {_IMPORT_FIELDS[name]: value for name, value in values.items()}
    if fields.get("payment_days") is None:
        fields.pop("payment_days", None)
    problems = []
    if not well_formed:
        problems.append({"field": "file", "message": Message("import.cells")})
    if customer_id is not None:
        try:
            _check_id(customer_id)
        except InvalidInput as exc:
            problems.extend(exc.details)
            customer_id = None
    try:
        fields = _clean_fields(fields, {"doc_type": DocType.UNIDENTIFIED})
    except InvalidInput as exc:
        problems.extend(exc.details)
    if not problems and fields.get("iva_condition") is None:
        problems.append({"field": "ivaCondition", "message": Message("field.required")})
    return ImportRow(line, customer_id, fields, problems)


def _mark_duplicates(rows: list[ImportRow]) -> None:
    ids = [row.customer_id for row in rows if row.customer_id is not None]
    stored = {}
    for chunk in chunked(sorted(set(ids))):
        stored.update(
            db.session.execute(
                select(Customer.id, Customer.incomplete).where(Customer.id.in_(chunk))
            ).all()
        )
    numbers = sorted(
        {
            row.fields["doc_number"]
            for row in rows
            if row.fields.get("doc_type") in (DocType.CUIT, DocType.CUIL)
        }
    )
    holders = {}
    for chunk in chunked(numbers):
        holders.update(
            db.session.execute(
                select(Customer.doc_number, Customer.id).where(Customer.doc_number.in_(chunk))
            ).all()
        )
    seen_ids: dict[int, int] = {}
    seen_numbers: dict[str, int] = {}
    for row in rows:
        if row.customer_id is not None:
            if row.customer_id in seen_ids:
                row.problems.append(
                    {
                        "field": "customerId",
                        "message": Message(
                            "import.repeats_line", line=str(seen_ids[row.customer_id])
                        ),
                    }
                )
            elif stored.get(row.customer_id) is False:
                row.problems.append(
                    {
                        "field": "customerId",
                        "message": Message("customer.exists", id=str(row.customer_id)),
                    }
                )
            row.completes = stored.get(row.customer_id) is True
            seen_ids.setdefault(row.customer_id, row.line)
        number = row.fields.get("doc_number")
        if row.fields.get("doc_type") in (DocType.CUIT, DocType.CUIL):
            holder = holders.get(number)
            if number in seen_numbers:
                row.problems.append(
                    {
                        "field": "docNumber",
                        "message": Message("import.repeats_line", line=str(seen_numbers[number])),
                    }
                )
            elif holder is not None and holder != row.customer_id:
                row.problems.append(
                    {
                        "field": "docNumber",
                        "message": Message("customer.document_taken", id=str(holder)),
                    }
                )
            seen_numbers.setdefault(number, row.line)


def import_customers(actor: str, text: str) -> tuple[int, int]:
    """Stores the valid rows of a customers CSV in one transaction, checked again as they are
    now: new customers are created, incomplete ones completed. Returns how many rows were
    stored and how many skipped for their problems."""
    rows = read_import(text)
    stored = 0
    for row in rows:
        if not row.valid:
            continue
        if row.completes:
            customer = db.session.get(Customer, row.customer_id, with_for_update=True)
            for name, value in row.fields.items():
                setattr(customer, name, value)
            customer.incomplete = not is_complete(customer)
            audit.record(actor, "edited", "customer", customer.id, Message("audit.imported"))
            stored += 1
            continue
        now = utcnow()
        chosen = row.customer_id or _next_free_id()
        inserted = db.session.scalar(
            _insert_ignoring_existing()
            .values(id=chosen, created_at=now, updated_at=now, **_new_customer(row.fields))
            .returning(Customer.id)
        )
        if inserted is not None:
            audit.record(actor, "created", "customer", chosen, Message("audit.imported"))
            stored += 1
    db.session.commit()
    return stored, len(rows) - stored
