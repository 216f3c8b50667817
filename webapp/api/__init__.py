"""The JSON API under /api, compatible with the system Lote replaces: same paths and camelCase
fields, bearer tokens, the error envelope, and an OpenAPI document generated from the code."""

import hashlib
from functools import wraps

from flask import Flask, g, make_response, request
from flask_smorest import Api, Blueprint
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from webapp.api.schemas import ErrorOut, Money, UtcDateTime
from webapp.billing.errors import Conflict, DomainError, InvalidInput
from webapp.billing.messages import Message, english
from webapp.errors import envelope
from webapp.extensions import db
from webapp.models import IdempotencyRecord

blp = Blueprint("api", __name__, url_prefix="/api")
IDEMPOTENCY_KEY_MAX = 255
BEARER = {"bearerAuth": []}
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "description": "Repeats with the same key and body replay the first response",
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": IDEMPOTENCY_KEY_MAX,
                "pattern": r"\S",
            },
        }
    ],
    "responses": {
        409: "CONFLICT",
        422: {
            "description": "The Idempotency-Key was already used with a different request",
            "content": {"application/json": {"schema": ErrorOut}},
        },
    },
}


@blp.before_request
def refuse_a_body_that_is_not_sent_as_json():
    """Every API body is JSON: one sent under another content type is not read at all, and
    would otherwise be answered as if its fields were missing. It is a 400 (as the system Lote
    replaces answers it) that names the content type instead."""
    # A form body is parsed (and its stream read) before this runs: its length still tells.
    sent = request.content_length or request.get_data(cache=True)
    if sent and not request.is_json:
        raise InvalidInput(
            Message("request.not_json"),
            [
                {
                    "field": "body",
                    "message": Message(
                        "request.json_content_type",
                        content_type=request.mimetype or "no Content-Type",
                    ),
                }
            ],
        )


class LoteApi(Api):
    ERROR_SCHEMA = ErrorOut


def route(rule: str, tag: str, **options):
    """Registers an API route under an OpenAPI tag (one blueprint, several tags)."""

    def decorator(view):
        arguments_doc = getattr(view, "_apidoc", {}).get("arguments")
        if arguments_doc:
            # webargs rejects invalid input as 422; the error handlers answer it as 400.
            arguments_doc["responses"] = {400: "BAD_REQUEST"}
        return blp.route(rule, **options)(blp.doc(tags=[tag])(view))

    return decorator


def idempotent(view):
    """POSTs honour an Idempotency-Key header: the same key with the same body replays the first
    response, another body is a 422, and a first request still running makes a repeat a 409."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return view(*args, **kwargs)
        if not key.strip() or len(key) > IDEMPOTENCY_KEY_MAX:
            raise InvalidInput(
                "Invalid Idempotency-Key",
                [{"field": "Idempotency-Key", "message": f"use 1-{IDEMPOTENCY_KEY_MAX} chars"}],
            )
        fingerprint = hashlib.sha256(
            f"{request.method} {request.path}\n".encode() + request.get_data()
        ).hexdigest()
        # A plain read first: a repeat is answered without waiting for a writer (on SQLite the
        # first request may hold the one write lock while it runs); the insert settles races.
        if _first_with(key) is not None:
            return _replay(key, fingerprint)
        record = IdempotencyRecord(user_id=g.user.id, key=key, fingerprint=fingerprint)
        db.session.add(record)
        try:
            db.session.commit()
        except IntegrityError:
            db.session.rollback()
            return _replay(key, fingerprint)
        try:
            response = make_response(view(*args, **kwargs))
        except DomainError as exc:
            response = handle_api_error(exc)
        except Exception:
            db.session.rollback()
            db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
            db.session.commit()
            raise
        db.session.rollback()
        stored = db.session.get(IdempotencyRecord, record.id)
        stored.status_code = response.status_code
        stored.response_body = response.get_data(as_text=True)
        db.session.commit()
        return response

    return blp.doc(**IDEMPOTENCY_DOC)(wrapped)


def _first_with(key: str) -> IdempotencyRecord | None:
    return db.session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.user_id == g.user.id, IdempotencyRecord.key == key
        )
    )


def _replay(key: str, fingerprint: str):
    first = _first_with(key)
    if first.fingerprint != fingerprint:
        return envelope(
            422,
            "Unprocessable Entity",
            "This Idempotency-Key was already used with a different request",
        )
    if first.status_code is None:
        raise Conflict("A request with this Idempotency-Key is still being processed")
    response = make_response(first.response_body, first.status_code)
    response.mimetype = "application/json"
    response.headers["Idempotent-Replayed"] = "true"
    return response


def handle_api_error(exc: DomainError):
    from werkzeug.http import HTTP_STATUS_CODES

    return envelope(
        exc.status_code,
        HTTP_STATUS_CODES.get(exc.status_code, "Error"),
        english(exc.message),
        exc.english_details(),
    )


def register_api(app: Flask) -> None:
    from webapp.api import (  # noqa: F401
        auth,
        batches,
        customers,
        erp,
        invoices,
        pendings,
        services,
        tax_books,
    )
    from webapp.api.docs import docs
    from webapp.extensions import csrf

    csrf.exempt(blp)  # bearer tokens, not cookies, authorize API writes
    api = LoteApi(app, spec_kwargs={"security": [BEARER]})
    api.spec.components.security_scheme(
        "bearerAuth",
        {"type": "http", "scheme": "bearer", "description": "POST /api/auth/login for a token"},
    )
    api.register_field(Money, "string", None)
    api.register_field(UtcDateTime, "string", "date-time")
    api.register_blueprint(blp)
    app.add_url_rule("/api/docs", "api_docs", docs)
    app.extensions["lote.api"] = api
