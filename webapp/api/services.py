"""/api/services: billable services and sending them to billing."""

from webapp.api import blp, idempotent, route
from webapp.api.schemas import (
    SendToBillingIn,
    SendToBillingOut,
    ServiceIn,
    ServiceOut,
    ServicePatch,
    ServiceQuery,
    page_of,
)
from webapp.auth import actor
from webapp.billing import services

TAG = "Services"


@route("/services", TAG, methods=["POST"])
@idempotent
@blp.arguments(ServiceIn)
@blp.response(201, ServiceOut)
def create_service(data):
    """Register a billable service (status CREATED)."""
    return services.create_service(actor(), **data)


@route("/services", TAG, methods=["GET"])
@blp.arguments(ServiceQuery, location="query")
@blp.response(200, page_of(ServiceOut, "ServicePage"))
def list_services(query):
    """Services, newest first, filtered by customer, status and service date."""
    page, limit, after = query.pop("page"), query.pop("limit"), query.pop("after", None)
    return services.list_services(services.ServiceFilters(**query), page, limit, after)


@route("/services/<int:service_id>", TAG, methods=["GET"])
@blp.response(200, ServiceOut)
def get_service(service_id):
    return services.get_service(service_id)


@route("/services/<int:service_id>", TAG, methods=["PATCH"])
@blp.arguments(ServicePatch)
@blp.response(200, ServiceOut)
def update_service(data, service_id):
    """Edit a service; only a CREATED one (409 otherwise)."""
    return services.update_service(actor(), service_id, **data)


@route("/services/<int:service_id>", TAG, methods=["DELETE"])
@blp.response(204)
def delete_service(service_id):
    """Delete a service; only a CREATED one (409 otherwise)."""
    services.delete_service(actor(), service_id)


@route("/services/send-to-billing", TAG, methods=["POST"])
@idempotent
@blp.arguments(SendToBillingIn)
@blp.response(201, SendToBillingOut)
def send_to_billing(data):
    """Create a billing pending per service, all or nothing; a 409 lists each refused id."""
    pendings = services.send_to_billing(actor(), data["service_ids"])
    return {"sent": len(pendings), "pendings": pendings}
