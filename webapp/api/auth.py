"""POST /api/auth/login and GET /api/profile."""

from flask import g, request
from flask_limiter.util import get_remote_address

from webapp.api import blp, route
from webapp.api.schemas import LoginIn, ProfileOut, TokenOut
from webapp.auth import Unauthorized, issue_token
from webapp.billing import users
from webapp.extensions import limiter
from webapp.web.main import LOGIN_RATE


def api_sign_in_key() -> str:
    body = request.get_json(silent=True)
    username = body.get("username") if isinstance(body, dict) else ""
    return f"{get_remote_address()}|{str(username or '').strip().lower()}"


@route("/auth/login", "Auth", methods=["POST"])
@blp.doc(security=[])
@limiter.limit(LOGIN_RATE, key_func=api_sign_in_key)
@blp.arguments(LoginIn)
@blp.response(200, TokenOut)
def login(credentials):
    """Exchange a username and password for a bearer token."""
    user = users.authenticate(credentials["username"], credentials["password"])
    if user is None:
        raise Unauthorized("Wrong username or password, or the user is deactivated")
    return issue_token(user)


@route("/profile", "Auth", methods=["GET"])
@blp.response(200, ProfileOut)
def profile():
    """The signed-in user."""
    return g.user
