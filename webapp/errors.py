"""Every error becomes a clear answer: the JSON envelope under /api, a friendly page elsewhere.
Nothing internal (stack traces, SQL, secrets) is ever sent."""

import logging
from datetime import UTC, datetime

from flask import jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from webapp.billing.errors import DomainError

log = logging.getLogger(__name__)


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def flatten_messages(messages, prefix: str = "") -> list[dict]:
    """Turns marshmallow/webargs messages ({"json": {"amount": ["..."]}}) into
    [{field, message}]."""
    details = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            if key in ("json", "query", "path", "form", "headers", "view_args") and not prefix:
                details.extend(flatten_messages(value))
                continue
            name = f"{prefix}.{key}" if prefix else str(key)
            details.extend(flatten_messages(value, "" if key == "_schema" else name))
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, dict | list):
                details.extend(flatten_messages(item, prefix))
            else:
                details.append({"field": prefix or "body", "message": str(item)})
    else:
        details.append({"field": prefix or "body", "message": str(messages)})
    return details


def envelope(status: int, error: str, message: str, details=None, headers=None):
    body = {
        "statusCode": status,
        "error": error,
        "message": message,
        "path": request.path,
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if details:
        body["details"] = details
    response = jsonify(body)
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _page(status: int, title: str, message: str):
    return render_template("errors/error.html", status=status, title=title, message=message), status


def handle_domain_error(exc: DomainError):
    from werkzeug.http import HTTP_STATUS_CODES

    reason = HTTP_STATUS_CODES.get(exc.status_code, "Error")
    if wants_json():
        return envelope(exc.status_code, reason, exc.message, exc.details)
    return _page(exc.status_code, reason, exc.message)


def handle_http_error(exc: HTTPException):
    status = exc.code or 500
    message = exc.description or exc.name
    details = None
    data = getattr(exc, "data", None) or {}
    if status == 422 and "messages" in data:
        # webargs reports schema validation as 422; the API promises 400 with details.
        status, details, message = 400, flatten_messages(data["messages"]), "Validation failed"
    elif status == 400 and "messages" in data:
        details = flatten_messages(data["messages"])
    headers = {}
    if status == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    if status == 429:
        message = "Too many attempts; wait a minute and try again"
        retry_after = getattr(exc, "retry_after", None) or 60
        headers["Retry-After"] = str(int(retry_after))
    name = "Bad Request" if status == 400 else exc.name
    if wants_json():
        return envelope(status, name, message, details, headers)
    response, code = _page(status, name, message)
    return response, code, headers


def handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    if isinstance(exc, InternalServerError) and exc.original_exception:
        exc = exc.original_exception
    message = "Something went wrong on our side; the error was logged"
    if wants_json():
        return envelope(500, "Internal Server Error", message)
    return _page(500, "Internal Server Error", message)


def register_error_handlers(app) -> None:
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(Exception, handle_unexpected)
