"""Billable logistics services: registered by clerks, editable only while CREATED, and sent to
billing all or nothing."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from flask import current_app
from sqlalchemy import Select, insert, select, update

from webapp.billing import audit, clock, customers, status_counts
from webapp.billing.documents import check_vat_rate
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.ids import chunked, unique_ids
from webapp.billing.messages import Message, changed_fields, message_of
from webapp.billing.money import parse_amount
from webapp.billing.pagination import Page, paginate_newest_first
from webapp.extensions import db
from webapp.models import MAX_ID, BillingPending, PendingStatus, Service, ServiceStatus, utcnow

DESCRIPTION_MAX = 500
# A service date outside these bounds is a typing slip (2099 for 2029), not a service: none is
# older than the business, and none is booked more than a year ahead.
EARLIEST_SERVICE_DATE = date(2000, 1, 1)
SERVICE_DAYS_AHEAD = 365


def service_date_problem(service_date: date) -> Message | None:
    """A service date lies between EARLIEST_SERVICE_DATE and SERVICE_DAYS_AHEAD days after today
    (in the business time zone); the message names the range."""
    latest = clock.today() + timedelta(days=SERVICE_DAYS_AHEAD)
    if EARLIEST_SERVICE_DATE <= service_date <= latest:
        return None
    return Message("field.date_range", from_date=EARLIEST_SERVICE_DATE, to_date=latest)


@dataclass
class ServiceFilters:
    customer_id: int | None = None
    customer_name: str | None = None
    status: ServiceStatus | None = None
    date_from: date | None = None
    date_to: date | None = None

    def apply(self, query: Select) -> Select:
        if self.customer_id is not None:
            query = query.where(Service.customer_id == self.customer_id)
        if self.customer_name:
            query = query.where(Service.customer_id.in_(customers.named_like(self.customer_name)))
        if self.status is not None:
            query = query.where(Service.status == self.status)
        if self.date_from is not None:
            query = query.where(Service.service_date >= self.date_from)
        if self.date_to is not None:
            query = query.where(Service.service_date <= self.date_to)
        return query

    def status_only(self) -> bool:
        """Whether no filter but the status is set, so the status counts answer the total."""
        return (
            self.customer_id is None
            and not self.customer_name
            and self.date_from is None
            and self.date_to is None
        )


def check_date_range(date_from: date | None, date_to: date | None) -> None:
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(
            Message("filter.invalid_date_range"),
            [{"field": "dateTo", "message": Message("filter.date_to_before_from")}],
        )


def _clean_fields(fields: dict) -> dict:
    """Checks the editable fields of a service; every problem is reported at once."""
    details, clean = [], {}
    if "service_date" in fields:
        if not isinstance(fields["service_date"], date):
            details.append({"field": "serviceDate", "message": Message("field.must_be_iso_date")})
        elif problem := service_date_problem(fields["service_date"]):
            details.append({"field": "serviceDate", "message": problem})
        else:
            clean["service_date"] = fields["service_date"]
    if "customer_id" in fields:
        customer_id = fields["customer_id"]
        if (
            not isinstance(customer_id, int)
            or isinstance(customer_id, bool)
            or not 1 <= customer_id <= MAX_ID
        ):
            details.append(
                {"field": "customerId", "message": Message("field.must_be_positive_number")}
            )
        else:
            clean["customer_id"] = customer_id
    if "amount" in fields:
        try:
            clean["amount"] = parse_amount(fields["amount"])
        except ValueError as exc:
            details.append({"field": "amount", "message": message_of(exc)})
    if "vat_rate" in fields:
        try:
            clean["vat_rate"] = check_vat_rate(fields["vat_rate"])
        except ValueError as exc:
            details.append({"field": "vatRate", "message": message_of(exc)})
    if "description" in fields:
        description = (fields["description"] or "").strip()
        if len(description) > DESCRIPTION_MAX:
            details.append(
                {
                    "field": "description",
                    "message": Message("field.too_long", count=DESCRIPTION_MAX),
                }
            )
        clean["description"] = description
    if details:
        raise InvalidInput(Message("service.invalid"), details)
    return clean


def create_service(
    actor: str,
    service_date: date,
    customer_id: int,
    amount: Decimal | str,
    description: str = "",
    vat_rate: str | None = None,
) -> Service:
    """Registers a billable service in CREATED, at 21% IVA unless ``vat_rate`` says otherwise;
    a customer id Lote does not know yet becomes an incomplete customer in the same
    transaction."""
    clean = _clean_fields(
        {
            "service_date": service_date,
            "customer_id": customer_id,
            "amount": amount,
            "description": description,
            "vat_rate": vat_rate,
        }
    )
    customers.ensure_customers([clean["customer_id"]])
    service = Service(status=ServiceStatus.CREATED, **clean)
    db.session.add(service)
    db.session.flush()
    audit.record(
        actor, "created", "service", service.id, Message("audit.amount", amount=service.amount)
    )
    db.session.commit()
    return service


def get_service(service_id: int) -> Service:
    service = db.session.get(Service, service_id)
    if service is None:
        raise NotFound(Message("service.not_found", id=str(service_id)))
    return service


def list_services(
    filters: ServiceFilters, page: int = 1, limit: int = 20, after: int | None = None
) -> Page:
    """Services newest first; ``after`` (an id) pages by keyset, see ``pagination``."""
    check_date_range(filters.date_from, filters.date_to)
    total = status_counts.count(Service, filters.status) if filters.status_only() else None
    return paginate_newest_first(
        filters.apply(select(Service)), Service.id, page, limit, after, total
    )


def refuse_unless_editable(service: Service, verb: str) -> None:
    """A service that is not ``editable`` (no longer CREATED) is a conflict to edit or delete."""
    if not service.editable:
        code = "service.not_editable" if verb == "edited" else "service.not_deletable"
        raise Conflict(Message(code, id=str(service.id), status=service.status))


def refuse_unless_deletable(service: Service) -> None:
    """Only an editable service that never reached billing may be deleted: a cancelled pending
    is billing history, kept for the audit trail."""
    refuse_unless_editable(service, "deleted")
    has_history = db.session.scalar(
        select(BillingPending.id).where(BillingPending.service_id == service.id).limit(1)
    )
    if has_history:
        raise Conflict(Message("service.kept_for_audit", id=str(service.id)))


def _locked_service(service_id: int) -> Service:
    service = db.session.scalar(select(Service).where(Service.id == service_id).with_for_update())
    if service is None:
        raise NotFound(Message("service.not_found", id=str(service_id)))
    return service


def update_service(actor: str, service_id: int, **fields) -> Service:
    """Edits a service; only a CREATED one may change."""
    clean = _clean_fields(fields)
    service = _locked_service(service_id)
    refuse_unless_editable(service, "edited")
    if "customer_id" in clean:
        customers.ensure_customers([clean["customer_id"]])
    changed = {name for name, value in clean.items() if getattr(service, name) != value}
    for name, value in clean.items():
        setattr(service, name, value)
    audit.record(actor, "edited", "service", service.id, changed_fields(changed))
    db.session.commit()
    return service


def delete_service(actor: str, service_id: int) -> None:
    """Deletes a service; only a CREATED one that never reached billing may go."""
    service = _locked_service(service_id)
    refuse_unless_deletable(service)
    db.session.delete(service)
    audit.record(actor, "deleted", "service", service_id)
    db.session.commit()


def send_to_billing(actor: str, service_ids: Iterable[int]) -> list[BillingPending]:
    """Creates one PENDING pending per service, all or nothing: if any service does not exist or
    is not CREATED, nothing changes and each refused id is listed with its reason. At most
    MAX_PENDINGS_PER_BATCH services at once: more could never be batched together."""
    ids = unique_ids(service_ids, "serviceIds", current_app.config["MAX_PENDINGS_PER_BATCH"])
    found: dict[int, Service] = {}
    for chunk in chunked(ids):
        rows = db.session.scalars(
            select(Service).where(Service.id.in_(chunk)).order_by(Service.id).with_for_update()
        )
        found.update({s.id: s for s in rows})
    refused = []
    for service_id in ids:
        service = found.get(service_id)
        if service is None:
            refused.append({"id": service_id, "reason": Message("row.missing")})
        elif service.status != ServiceStatus.CREATED:
            refused.append(
                {"id": service_id, "reason": Message("service.not_created", status=service.status)}
            )
    if refused:
        raise Conflict(
            Message("service.refused", refused=len(refused), count=len(ids)),
            refused,
        )
    now = utcnow()
    rows = [
        {
            "service_id": s.id,
            "customer_id": s.customer_id,
            "service_date": s.service_date,
            "amount": s.amount,
            "vat_rate": s.vat_rate,
            "status": PendingStatus.PENDING,
            "created_at": now,
            "updated_at": now,
        }
        for s in found.values()
    ]
    db.session.execute(insert(BillingPending), rows)
    for chunk in chunked(ids):
        db.session.execute(
            update(Service)
            .where(Service.id.in_(chunk))
            .values(status=ServiceStatus.SENT_TO_BILL, updated_at=now)
            .execution_options(synchronize_session=False)
        )
    audit.record_many(actor, "sent_to_billing", "service", ids)
    db.session.commit()
    pendings: list[BillingPending] = []
    for chunk in chunked(ids):
        pendings.extend(
            db.session.scalars(
                select(BillingPending)
                .where(
                    BillingPending.service_id.in_(chunk),
                    BillingPending.status == PendingStatus.PENDING,
                )
                .order_by(BillingPending.id)
            )
        )
    return pendings
