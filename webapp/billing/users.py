"""Users, roles and sign-in."""

import functools

from flask import current_app
from sqlalchemy import select

from webapp.billing import audit
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import Role, User

MIN_PASSWORD_LENGTH = 8
ROLE_PROBLEM = "must be admin, clerk or viewer"


@functools.cache
def _unknown_user(hash_method: str) -> User:
    """Checked when a username is unknown, so a wrong username costs as much time as a wrong
    password. Hashed on first use rather than at import, by ``set_password`` like any user's, so
    with the configured method, which ``hash_method`` names: one is cached per method."""
    user = User(username="", password_hash="")
    user.set_password("not-a-real-password")
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = db.session.scalar(select(User).where(User.username == (username or "").strip()))
    if user is None:
        _unknown_user(current_app.config["PASSWORD_HASH_METHOD"]).check_password(password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    return user


def _check_new_user(username: str, password: str, role: str) -> tuple[str, Role]:
    details = []
    username = (username or "").strip()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("_", "").isalnum()
    ):
        details.append(
            {"field": "username", "message": "use 1-64 letters, digits, dots or underscores"}
        )
    if len(password or "") < MIN_PASSWORD_LENGTH:
        details.append(
            {"field": "password", "message": f"must have at least {MIN_PASSWORD_LENGTH} characters"}
        )
    try:
        parsed_role = Role(role)
    except ValueError:
        parsed_role = None
        details.append({"field": "role", "message": ROLE_PROBLEM})
    if details:
        raise InvalidInput("The user has invalid fields", details)
    return username, parsed_role


def create_user(actor: str, username: str, password: str, role: str = "clerk") -> User:
    username, parsed_role = _check_new_user(username, password, role)
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise Conflict(
            f"User {username} already exists",
            [{"field": "username", "message": "is already taken"}],
        )
    user = User(username=username, role=parsed_role, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "created", "user", user.id, f"role {parsed_role.value}")
    db.session.commit()
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(f"User {user_id} not found")
    return user


def list_users(page: int = 1, limit: int = 50) -> Page:
    return paginate(select(User).order_by(User.username, User.id), page, limit)


def change_role(actor: str, user_id: int, role: str) -> User:
    user = get_user(user_id)
    try:
        user.role = Role(role)
    except ValueError:
        raise InvalidInput("Invalid role", [{"field": "role", "message": ROLE_PROBLEM}]) from None
    if user.username == actor and user.role != Role.ADMIN:
        db.session.rollback()
        raise Conflict("You cannot remove your own admin role")
    audit.record(actor, "role_changed", "user", user.id, user.role.value)
    db.session.commit()
    return user


def set_active(actor: str, user_id: int, active: bool) -> User:
    user = get_user(user_id)
    if user.username == actor and not active:
        raise Conflict("You cannot deactivate yourself")
    user.active = active
    audit.record(actor, "activated" if active else "deactivated", "user", user.id)
    db.session.commit()
    return user
