"""/api/customers: who services are billed to, with their document and IVA condition."""

from marshmallow import fields, validate

from webapp.api import blp, idempotent, route
from webapp.api.schemas import CamelSchema, PageQuery, Timestamps, page_of
from webapp.auth import actor
from webapp.billing import customers
from webapp.models import MAX_ID, DocType, IvaCondition

TAG = "Customers"
DOC_TYPE_DOC = {
    "description": "80 CUIT, 86 CUIL, 96 DNI, 99 unidentified",
    "enum": [d.value for d in DocType],
}
IVA_CONDITION_DOC = {
    "description": "RG 5616 code: "
    + ", ".join(f"{c.value} {customers.IVA_CONDITION_NAMES[c]}" for c in IvaCondition),
    "enum": [c.value for c in IvaCondition],
}


class CustomerPatch(CamelSchema):
    legal_name = fields.String(validate=validate.Length(1, customers.LEGAL_NAME_MAX))
    doc_type = fields.Integer(strict=True, metadata=DOC_TYPE_DOC)
    doc_number = fields.String(
        metadata={"description": "Digits; a CUIT may carry its dashes", "example": "30500010912"},
    )
    iva_condition = fields.Integer(strict=True, allow_none=True, metadata=IVA_CONDITION_DOC)
    address = fields.String(validate=validate.Length(max=customers.ADDRESS_MAX))
    email = fields.String(validate=validate.Length(max=customers.EMAIL_MAX))
    payment_days = fields.Integer(
        strict=True, validate=validate.Range(0, customers.MAX_PAYMENT_DAYS)
    )


class CustomerIn(CustomerPatch):
    customer_id = fields.Integer(
        strict=True,
        validate=validate.Range(1, MAX_ID),
        metadata={"description": "The id services use; the next free one when left out"},
    )
    legal_name = fields.String(required=True, validate=validate.Length(1, customers.LEGAL_NAME_MAX))


class CustomerOut(Timestamps):
    customer_id = fields.Integer(attribute="id")
    legal_name = fields.String()
    doc_type = fields.Integer()
    doc_number = fields.String()
    iva_condition = fields.Integer(allow_none=True)
    iva_condition_name = fields.Function(
        lambda customer: customers.iva_condition_name(customer.iva_condition),
        metadata={"type": "string", "nullable": True},
    )
    address = fields.String()
    email = fields.String()
    payment_days = fields.Integer()
    incomplete = fields.Boolean(
        metadata={"description": "Lacks what an invoice needs; its pendings cannot be batched"}
    )


class CustomerQuery(PageQuery):
    search = fields.String(
        validate=validate.Length(max=customers.LEGAL_NAME_MAX),
        metadata={"description": "Part of the legal name, or of the CUIT with or without dashes"},
    )
    iva_condition = fields.Integer(metadata=IVA_CONDITION_DOC)
    incomplete = fields.Boolean()


@route("/customers", TAG, methods=["POST"])
@idempotent
@blp.arguments(CustomerIn)
@blp.response(201, CustomerOut)
def create_customer(data):
    """Register a customer; a customerId already taken is a 409."""
    return customers.create_customer(actor(), **data)


@route("/customers", TAG, methods=["GET"])
@blp.arguments(CustomerQuery, location="query")
@blp.response(200, page_of(CustomerOut, "CustomerPage"))
def list_customers(query):
    """Customers by id, filtered by name or CUIT, IVA condition and completeness."""
    page, limit = query.pop("page"), query.pop("limit")
    return customers.list_customers(customers.CustomerFilters(**query), page, limit)


@route("/customers/<int:customer_id>", TAG, methods=["GET"])
@blp.response(200, CustomerOut)
def get_customer(customer_id):
    return customers.get_customer(customer_id)


@route("/customers/<int:customer_id>", TAG, methods=["PATCH"])
@blp.arguments(CustomerPatch)
@blp.response(200, CustomerOut)
def update_customer(data, customer_id):
    """Edit or complete a customer; invoices already issued keep their own copy."""
    return customers.update_customer(actor(), customer_id, **data)
