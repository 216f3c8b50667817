"""Every error becomes a clear answer: the JSON envelope under /api, a friendly page elsewhere.
Nothing internal (stack traces, SQL, secrets) is ever sent."""

import json
import logging
import re
import sys
from datetime import UTC, datetime

from flask import current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, SecurityError

from webapp.billing.errors import DomainError, InvalidInput, NotFound
from webapp.billing.messages import Message, english
from webapp.extensions import db
from webapp.models import MAX_ID

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


def _page(status: int, title: str, message):
    """The error page; ``message`` is a domain message or a page text, shown in the reader's
    language."""
    return render_template("errors/error.html", status=status, title=title, message=message), status


def roll_back_failed_operation() -> None:
    """A refused or failed operation leaves nothing behind: what it wrote or locked is rolled back
    here before the answer is built (whose own reads start afresh), and by the task wrapper for
    tasks. Domain functions raise without rolling back, except the few whose refusal leaves
    changes in the session that a caller catching it would read on."""
    try:
        db.session.rollback()
    except Exception:
        # A database that went away cannot roll back; the answer must still be given.
        log.exception("rollback after a failed operation failed")


def handle_domain_error(exc: DomainError):
    from werkzeug.http import HTTP_STATUS_CODES

    roll_back_failed_operation()
    reason = HTTP_STATUS_CODES.get(exc.status_code, "Error")
    if wants_json():
        return envelope(exc.status_code, reason, english(exc.message), exc.english_details())
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
    from webapp.web.labels import page_message

    response, code = _page(status, name, page_message(exc))
    return response, code, headers


def handle_untrusted_host(exc: SecurityError):
    """A Host header outside TRUSTED_HOSTS: no URL can be built for it, so the answer is plain
    text rather than the page, whose links would fail."""
    message = "This site does not answer to that host name"
    if wants_json():
        return envelope(400, "Bad Request", message)
    return message, 400, {"Content-Type": "text/plain; charset=utf-8"}


def handle_unexpected(exc: Exception):
    log.exception("unhandled error on %s %s", request.method, request.path)
    # A failed flush leaves the session unusable; the error page itself reads the user.
    roll_back_failed_operation()
    if wants_json():
        message = "Something went wrong on our side; the error was logged"
        return envelope(500, "Internal Server Error", message)
    from webapp.web.labels import SOMETHING_WENT_WRONG

    return _page(500, "Internal Server Error", SOMETHING_WENT_WRONG)


def refuse_ids_out_of_range():
    """Runs before every request: an id in the path beyond the database's integer range names no
    record, so it is a 404 (checked here rather than in the route, where werkzeug would answer
    405 for a method another rule of the same path allows)."""
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise NotFound(Message("request.no_record", id=str(value)))


# Deeper than any request the API reads; walking (or decoding) a deeper document is refused
# before it can exhaust the stack.
MAX_JSON_DEPTH = 32
# No database stores a lone surrogate (a JSON "\\ud800" decodes to one), and PostgreSQL refuses
# NUL in text.
NUL = "\x00"
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def refuse_unstorable_text():
    """Runs before every request, signed in or not: a NUL character or a lone surrogate is never
    valid input, and JSON nested deeper than MAX_JSON_DEPTH is not read; each is a 400 naming
    where it was."""
    places = [("path", request.path)]
    places += [(name, value) for name, value in request.args.items(multi=True)]
    places += [(name, value) for name, value in request.form.items(multi=True)]
    places += [(name, value) for name, value in request.headers.items()]
    if request.is_json:
        places += list(_json_strings(_json_body()))
    for field, value in places:
        field, value = str(field), str(value)
        if NUL in field or NUL in value:
            raise InvalidInput(
                Message("request.nul"),
                [{"field": field.replace(NUL, ""), "message": Message("request.no_nul")}],
            )
        if LONE_SURROGATE.search(field) or LONE_SURROGATE.search(value):
            raise InvalidInput(
                Message("request.not_unicode"),
                [{"field": LONE_SURROGATE.sub("", field), "message": Message("request.unicode")}],
            )


def _too_deep() -> InvalidInput:
    return InvalidInput(
        Message("request.too_deep"),
        [{"field": "body", "message": Message("request.depth", count=MAX_JSON_DEPTH)}],
    )


def _json_body():
    """The request's JSON document. A body that is not JSON is a 400 naming where it broke; one
    holding an integer longer than Python reads (``sys.get_int_max_str_digits``) is a 400 too.
    An empty body is no document (None)."""
    data = request.get_data(cache=True)
    if not data:
        return None
    try:
        return current_app.json.loads(data)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            Message("request.not_json"),
            [
                {
                    "field": "body",
                    "message": Message(
                        "request.json_error", line=exc.lineno, column=exc.colno, problem=exc.msg
                    ),
                }
            ],
        ) from None
    except UnicodeDecodeError:
        raise InvalidInput(
            Message("request.not_json"),
            [{"field": "body", "message": Message("request.utf8")}],
        ) from None
    except ValueError:
        raise InvalidInput(
            Message("request.number_too_long"),
            [
                {
                    "field": "body",
                    "message": Message("request.digits", count=sys.get_int_max_str_digits()),
                }
            ],
        ) from None


def _json_strings(document):
    """(place, text) of each key and string of a JSON document, walked without recursion."""
    pending = [(document, "body", 0)]
    while pending:
        value, path, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise _too_deep()
        if isinstance(value, dict):
            for key, item in value.items():
                yield path, key
                pending.append((item, key if path == "body" else f"{path}.{key}", depth + 1))
        elif isinstance(value, list):
            pending.extend((item, path, depth + 1) for item in value)
        elif isinstance(value, str):
            yield path, value


def register_error_handlers(app) -> None:
    app.before_request(refuse_unstorable_text)
    app.before_request(refuse_ids_out_of_range)
    app.register_error_handler(DomainError, handle_domain_error)
    app.register_error_handler(HTTPException, handle_http_error)
    app.register_error_handler(SecurityError, handle_untrusted_host)
    app.register_error_handler(Exception, handle_unexpected)
