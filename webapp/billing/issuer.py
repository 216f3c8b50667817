"""The issuer: the company Lote invoices for (docs/rules.md rule 11): one record set by an admin."""

from dataclasses import dataclass
from datetime import date

from webapp.billing import audit, clock
from webapp.billing.customers import (
    ADDRESS_MAX,
    IVA_CONDITION_NAMES,
    LEGAL_NAME_MAX,
    check_cuit,
    format_doc_number,
)
from webapp.billing.documents import MAX_POINT_OF_SALE
from webapp.billing.errors import InvalidInput
from webapp.billing.messages import Message, changed_fields, message_of
from webapp.extensions import db
from webapp.models import DocType, Issuer, IssuerIvaCondition, IvaCondition

# What the issuer is, in the receivers' codes, so each condition is named in one place.
AS_RECEIVER_CONDITION = {
    IssuerIvaCondition.REGISTERED: IvaCondition.REGISTERED,
    IssuerIvaCondition.MONOTRIBUTO: IvaCondition.MONOTRIBUTO,
    IssuerIvaCondition.EXEMPT: IvaCondition.EXEMPT,
}
IIBB_MAX = 32
IVA_CONDITION_HINT = Message("issuer.iva_condition_hint")
REQUIRED = ("legal_name", "cuit", "iva_condition")
FIELD_NAMES = {
    "legal_name": "legalName",
    "cuit": "cuit",
    "iva_condition": "ivaCondition",
    "iibb_number": "iibbNumber",
    "activities_start": "activitiesStart",
    "address": "address",
    "points_of_sale": "pointsOfSale",
}


def issuer_condition_name(condition: IssuerIvaCondition) -> str:
    return IVA_CONDITION_NAMES[AS_RECEIVER_CONDITION[condition]]


def get_issuer() -> Issuer | None:
    return db.session.get(Issuer, 1)


# The invoice's columns that keep the issuer.
ISSUER_KEPT = (
    "issuer_legal_name",
    "issuer_cuit",
    "issuer_iva_condition",
    "issuer_iibb_number",
    "issuer_activities_start",
    "issuer_address",
)


def snapshot(issuer: Issuer | None) -> dict:
    """The issuer's fields an invoice keeps as they were when it was issued, by its column."""
    if issuer is None:
        return {}
    kept = (
        issuer.legal_name,
        issuer.cuit,
        issuer.iva_condition.value,
        issuer.iibb_number,
        issuer.activities_start,
        issuer.address,
    )
    return dict(zip(ISSUER_KEPT, kept, strict=True))


@dataclass(frozen=True)
class KeptIssuer:
    """The issuer an invoice kept, read like the issuer's record."""

    legal_name: str
    cuit: str
    iva_condition: IssuerIvaCondition
    iibb_number: str
    activities_start: date | None
    address: str


def issuer_of(invoice) -> "KeptIssuer | Issuer | None":
    """The issuer an invoice names: the one it kept, or for an invoice issued before invoices
    kept it, the issuer as it is now."""
    if invoice.issuer_cuit is None:
        return get_issuer()
    return KeptIssuer(
        legal_name=invoice.issuer_legal_name,
        cuit=invoice.issuer_cuit,
        iva_condition=IssuerIvaCondition(invoice.issuer_iva_condition),
        iibb_number=invoice.issuer_iibb_number or "",
        activities_start=invoice.issuer_activities_start,
        address=invoice.issuer_address or "",
    )


def _clean(fields: dict) -> tuple[dict, list[dict]]:
    details, clean = [], {}
    for name, maximum in (
        ("legal_name", LEGAL_NAME_MAX),
        ("iibb_number", IIBB_MAX),
        ("address", ADDRESS_MAX),
    ):
        if name in fields:
            value = fields[name] if fields[name] is not None else ""
            if not isinstance(value, str) or len(value.strip()) > maximum:
                details.append(
                    {
                        "field": FIELD_NAMES[name],
                        "message": Message("field.too_long", count=maximum),
                    }
                )
            else:
                clean[name] = value.strip()
    if "cuit" in fields:
        try:
            clean["cuit"] = check_cuit(fields["cuit"])
        except ValueError as exc:
            details.append({"field": "cuit", "message": message_of(exc)})
    if "iva_condition" in fields:
        try:
            clean["iva_condition"] = IssuerIvaCondition(fields["iva_condition"])
        except ValueError:
            details.append({"field": "ivaCondition", "message": IVA_CONDITION_HINT})
    if "activities_start" in fields:
        started = fields["activities_start"]
        if started is not None and not isinstance(started, date):
            details.append({"field": "activitiesStart", "message": Message("field.must_be_date")})
        elif started is not None and started > clock.today():
            details.append({"field": "activitiesStart", "message": Message("field.not_in_future")})
        else:
            clean["activities_start"] = started
    if "points_of_sale" in fields:
        points = fields["points_of_sale"]
        if not isinstance(points, list | tuple) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= MAX_POINT_OF_SALE
            for p in points
        ):
            details.append(
                {
                    "field": "pointsOfSale",
                    "message": Message("issuer.points_of_sale", limit=MAX_POINT_OF_SALE),
                }
            )
        else:
            clean["points_of_sale"] = sorted(set(points))
    return clean, details


def set_issuer(actor: str, **fields) -> Issuer:
    """Sets the issuer's fields that are given and keeps the others. The first time, its legal
    name, CUIT (with a valid check digit) and IVA condition (Responsable Inscripto, Monotributo
    or Exento) are required; points of sale are whole numbers from 1 to 99999."""
    clean, details = _clean(fields)
    issuer = db.session.get(Issuer, 1, with_for_update=True)
    if issuer is None:
        details.extend(
            {"field": FIELD_NAMES[name], "message": Message("field.required")}
            for name in REQUIRED
            if not clean.get(name) and not any(d["field"] == FIELD_NAMES[name] for d in details)
        )
    elif "legal_name" in clean and not clean["legal_name"]:
        details.append({"field": "legalName", "message": Message("field.required")})
    if details:
        raise InvalidInput(Message("issuer.invalid"), details)
    if issuer is None:
        issuer = Issuer(id=1, iibb_number="", address="", points_of_sale=[])
        db.session.add(issuer)
    changed = {name for name, value in clean.items() if getattr(issuer, name) != value}
    for name, value in clean.items():
        setattr(issuer, name, value)
    db.session.flush()
    audit.record(actor, "edited", "issuer", 1, changed_fields(changed))
    db.session.commit()
    return issuer


def format_cuit(cuit: str) -> str:
    return format_doc_number(DocType.CUIT, cuit)
