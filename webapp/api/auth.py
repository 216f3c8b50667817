"""POST /api/auth/login, POST /api/auth/logout and GET /api/profile."""

from flask import g
from flask_limiter.errors import RateLimitExceeded

from webapp.api import blp, route
from webapp.api.schemas import LoginIn, ProfileOut, TokenOut
from webapp.auth import Unauthorized, issue_token, sign_in_limited
from webapp.billing import users
from webapp.errors import envelope


@route("/auth/login", "Auth", methods=["POST"])
@blp.doc(security=[])
@sign_in_limited
@blp.arguments(LoginIn)
@blp.response(200, TokenOut)
@blp.doc(responses={429: "TOO_MANY_REQUESTS"})
def login(credentials):
    """Exchange a username and password for a bearer token."""
    user = users.authenticate(credentials["username"], credentials["password"])
    if user is None:
        raise Unauthorized("Wrong username or password, or the user is deactivated")
    return issue_token(user)


@route("/auth/logout", "Auth", methods=["POST"])
@blp.response(204, description="The token, and every other token and session of its user, ended")
def logout():
    """Revoke the token this request carries. Every token and page session of the same user
    ends with it (they share the user's sign-in generation); sign in again for a new one."""
    users.sign_out(g.user.id)


@blp.errorhandler(RateLimitExceeded)
def sign_in_locked_out(exc: RateLimitExceeded):
    """A locked-out sign-in says why in the envelope, whatever the password was."""
    return envelope(429, "Too Many Requests", exc.description)


@route("/profile", "Auth", methods=["GET"])
@blp.response(200, ProfileOut)
def profile():
    """The signed-in user."""
    return g.user
