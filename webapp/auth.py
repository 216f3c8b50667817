"""Who may do what: sign-in for pages, bearer tokens for the API, and the role rules applied to
every request before it reaches a view."""

from functools import wraps

from flask import current_app, g, redirect, request, url_for
from flask_login import current_user
from itsdangerous import BadSignature, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from webapp.billing import clock
from webapp.billing.errors import DomainError
from webapp.extensions import db, login_manager
from webapp.models import Role, User

PUBLIC_ENDPOINTS = {"static", "web.login", "web.health", "web.set_language", "api.login"}
# POSTs a viewer may make: they change nothing but the viewer's own session, or only read.
VIEWER_POSTS = {"web.logout", "web.set_language", "api.preview"}
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
# Pages served under /api/ for people in a browser: signed out, they go to the sign-in page.
API_PAGES = {"api_docs"}


class Unauthorized(DomainError):
    status_code = 401


class Forbidden(DomainError):
    status_code = 403


class _ClockSigner(TimestampSigner):
    """Stamps and ages tokens on the app's clock, which tests move instead of waiting."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(
        current_app.config["SECRET_KEY"], salt="lote-api-token", signer=_ClockSigner
    )


def issue_token(user: User) -> dict:
    max_age = current_app.config["TOKEN_MAX_AGE_SECONDS"]
    token = _serializer().dumps({"uid": user.id})
    return {"access_token": token, "token_type": "Bearer", "expires_in": max_age}


def user_for_token(token: str) -> User:
    try:
        payload = _serializer().loads(token, max_age=current_app.config["TOKEN_MAX_AGE_SECONDS"])
    except SignatureExpired:
        raise Unauthorized("The access token has expired; sign in again") from None
    except BadSignature:
        raise Unauthorized("The access token is not valid") from None
    user = db.session.get(User, payload.get("uid")) if isinstance(payload, dict) else None
    if user is None or not user.active:
        raise Unauthorized("The access token's user is not active")
    return user


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
    return user if user and user.active else None


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
        raise Forbidden("Your role (viewer) can read but not change data")
    return None


def requires(role: Role):
    """Limits a view to ``role`` or above (admins do everything)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not g.user.can(role):
                raise Forbidden(f"This needs the {role.value} role")
            return view(*args, **kwargs)

        return wrapped

    return decorator


def actor() -> str:
    """The username recorded in the audit trail for this request."""
    return g.user.username
