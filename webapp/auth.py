"""Who may do what: sign-in for pages, bearer tokens for the API, and the role rules applied to
every request before it reaches a view."""

import re
from functools import wraps

from flask import current_app, g, redirect, request, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from webapp.billing import clock
from webapp.billing.errors import DomainError
from webapp.billing.messages import Message
from webapp.billing.users import username_key
from webapp.extensions import db, limiter, login_manager
from webapp.models import MAX_ID, Role, User

PUBLIC_ENDPOINTS = {"static", "web.login", "web.health", "web.set_language", "api.login"}
# POSTs a viewer may make: they change nothing but the viewer's own session, or only read.
VIEWER_POSTS = {"web.logout", "web.set_language", "api.preview", "api.logout"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Pages served under /api/ for people in a browser: signed out, they go to the sign-in page.
API_PAGES = {"api_docs"}
SESSION_ID = re.compile(r"(?P<user_id>\d{1,19}):(?P<generation>\d{1,19})", flags=re.ASCII)


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class _ClockSigner(TimestampSigner):
    """Stamps and ages tokens on the app's clock, which tests move instead of waiting."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


# Why a sign-in was not even checked, by the scope of the limit it reached.
LOCKED_OUT = {
    "sign-in-user": Message("access.user_locked_out"),
    "sign-in-address": Message("access.address_locked_out"),
}


def _sign_in_name() -> str:
    """The user name a sign-in attempt names, in the form page or the API body."""
    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return username_key(name if isinstance(name, str) else "")


# Counted over the sign-in page and the API together, so neither adapter adds attempts.
SIGN_IN_LIMITS = (
    limiter.shared_limit(
        lambda: current_app.config["SIGN_IN_RATE_PER_USER"],
        scope="sign-in-user",
        key_func=lambda: f"{get_remote_address()}|{_sign_in_name()}",
        methods=["POST"],
        error_message=str(LOCKED_OUT["sign-in-user"]),
    ),
    limiter.shared_limit(
        lambda: current_app.config["SIGN_IN_RATE_PER_ADDRESS"],
        scope="sign-in-address",
        key_func=get_remote_address,
        methods=["POST"],
        error_message=str(LOCKED_OUT["sign-in-address"]),
    ),
)


def sign_in_limited(view):
    """Limits sign-in attempts per address and user name, and per address alone (a breach is a
    RateLimitExceeded whose description says which)."""
    for limit in SIGN_IN_LIMITS:
        view = limit(view)
    return view


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="lote-api-token", signer=_ClockSigner
    )


def issue_token(user: User) -> dict:
    """A signed, time-limited token naming the user and their sign-in generation: it stops
    working when the user signs out, is deactivated or gets a new password."""
    max_age = current_app.config["TOKEN_MAX_AGE_SECONDS"]
    token = _serializer().dumps({"uid": user.id, "gen": user.auth_generation})
    return {"access_token": token, "token_type": "Bearer", "expires_in": max_age}


def _signed_in_user(user_id, generation) -> User | None:
    """The active user with this id whose sign-in generation is still ``generation``; ids come
    from signed data, yet one outside the database's range names nobody rather than failing."""
    valid = all(
        isinstance(value, int) and not isinstance(value, bool) for value in (user_id, generation)
    )
    if not valid or not 1 <= user_id <= MAX_ID:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active or user.auth_generation != generation:
        return None
    return user


def user_for_token(token: str) -> User:
    try:
        payload = _serializer().loads(token, max_age=current_app.config["TOKEN_MAX_AGE_SECONDS"])
    except SignatureExpired:
        raise Unauthorized("The access token has expired; sign in again") from None
    except BadSignature:
        raise Unauthorized("The access token is not valid") from None
    if not isinstance(payload, dict):
        raise Unauthorized("The access token is not valid")
    user = _signed_in_user(payload.get("uid"), payload.get("gen"))
    if user is None:
        raise Unauthorized(
            "The access token was revoked (sign-out, deactivation or a new password); sign in again"
        )
    return user


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    """The user of a session, which holds "uid:generation" (``User.get_id``)."""
    match = SESSION_ID.fullmatch(session_id)
    if match is None:
        return None
    return _signed_in_user(int(match["user_id"]), int(match["generation"]))


def api_user() -> User:
    """The caller of an API request: a bearer token, or (for reads only) the page session, so the
    browsable API docs work for a signed-in clerk. A session never authorizes an API write."""
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("Use an Authorization: Bearer <token> header")
        return user_for_token(token.strip())
    if request.method in SAFE_METHODS and current_user.is_authenticated:
        return current_user._get_current_object()
    raise Unauthorized("Sign in with POST /api/auth/login and send the token as a Bearer header")


def check_access():
    """Runs before every request: sign-in required except on public endpoints, viewers read only."""
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    if request.path.startswith("/api/") and endpoint not in API_PAGES:
        user = api_user()
    elif current_user.is_authenticated:
        user = current_user._get_current_object()
    else:
        return redirect(url_for("web.login", next=request.full_path.rstrip("?")))
    g.user = user
    writes = request.method not in SAFE_METHODS and endpoint not in VIEWER_POSTS
    if writes and not user.can(Role.CLERK):
        raise Forbidden(Message("access.viewer"))
    return None


def requires(role: Role):
    """Limits a view to ``role`` or above (admins do everything)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.user.can(role):
                raise Forbidden(Message("access.role_needed", role=role))
            return view(*args, **kwargs)

        return wrapped

    return decorator


def actor() -> str:
    """The username recorded in the audit trail for this request."""
    return g.user.username
