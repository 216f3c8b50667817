"""Users, roles and sign-in."""

import functools
import re
import unicodedata
from pathlib import Path

from flask import current_app
from sqlalchemy import select, update

from webapp.billing import audit
from webapp.billing.errors import Conflict, InvalidInput, NotFound
from webapp.billing.messages import Message
from webapp.billing.pagination import Page, paginate
from webapp.extensions import db
from webapp.models import Role, User

MIN_PASSWORD_LENGTH = 8
MAX_USERNAME_LENGTH = 64
# After NFKC, a user name is plain ASCII: look-alike letters of other alphabets (a Cyrillic "а"
# beside a Latin "a") can then never make two users that read the same.
USERNAME_PATTERN = re.compile(rf"[A-Za-z0-9._-]{{1,{MAX_USERNAME_LENGTH}}}")
USERNAME_PROBLEM = Message("user.name_hint", count=MAX_USERNAME_LENGTH)
NON_ASCII_USERNAME_PROBLEM = Message("user.name_ascii")
ROLE_PROBLEM = Message("user.role_hint")
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")


def username_key(username: str) -> str:
    """The form of a user name that sign-in and the duplicate check compare: NFKC-normalized
    (fullwidth and other compatibility characters become plain ones) and case-folded."""
    return unicodedata.normalize("NFKC", username or "").strip().casefold()


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


@functools.cache
def _unknown_user(hash_method: str) -> User:
    """Checked when a username is unknown, so a wrong username costs as much time as a wrong
    password. Hashed on first use rather than at import, by ``set_password`` like any user's, so
    with the configured method, which ``hash_method`` names: one is cached per method."""
    user = User(username="", password_hash="")
    user.set_password("not-a-real-password")
    return user


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None. The name is compared in its
    normalized, case-folded form, so "Admin" signs in as "admin"."""
    user = db.session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None:
        _unknown_user(current_app.config["PASSWORD_HASH_METHOD"]).check_password(password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    return user


def sign_out(user_id: int) -> None:
    """Ends every session and API token of the user: they carry the user's sign-in generation,
    which this raises (one statement, so two sign-outs at once both count)."""
    db.session.execute(
        update(User)
        .where(User.id == user_id)
        .values(auth_generation=User.auth_generation + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def password_problem(password: str, username: str) -> Message | None:
    """Why a new password is refused, or None: at least MIN_PASSWORD_LENGTH characters, not only
    spaces, not one of the common passwords that are guessed first, and not the user name (nor
    containing a name of four or more characters)."""
    password = password or ""
    if len(password) < MIN_PASSWORD_LENGTH:
        return Message("password.short", count=MIN_PASSWORD_LENGTH)
    if not password.strip():
        return Message("password.spaces")
    folded = unicodedata.normalize("NFKC", password).casefold()
    if folded in _common_passwords() or folded.strip() in _common_passwords():
        return Message("password.common")
    key = username_key(username)
    # A short name (say "ana") may well occur inside a good password; a longer one is a guess.
    if key and (folded == key or (len(key) >= 4 and key in folded)):
        return Message("password.user_name")
    return None


def _check_new_user(username: str, password: str, role: str) -> tuple[str, Role]:
    details = []
    username = unicodedata.normalize("NFKC", username or "").strip()
    if not username.isascii():
        details.append({"field": "username", "message": NON_ASCII_USERNAME_PROBLEM})
    elif not USERNAME_PATTERN.fullmatch(username):
        details.append({"field": "username", "message": USERNAME_PROBLEM})
    problem = password_problem(password, username)
    if problem:
        details.append({"field": "password", "message": problem})
    try:
        parsed_role = Role(role)
    except ValueError:
        parsed_role = None
        details.append({"field": "role", "message": ROLE_PROBLEM})
    if details:
        raise InvalidInput(Message("user.invalid"), details)
    return username, parsed_role


def create_user(actor: str, username: str, password: str, role: str = "clerk") -> User:
    """A new user. The name is kept as typed (after NFKC) but must be unique in its case-folded
    form, so "Admin" beside "admin" is refused; the password must pass ``password_problem``."""
    username, parsed_role = _check_new_user(username, password, role)
    key = username_key(username)
    taken = db.session.scalar(select(User.username).where(User.username_key == key))
    if taken is not None:
        raise Conflict(
            Message("user.exists", name=taken),
            [{"field": "username", "message": Message("user.taken")}],
        )
    user = User(username=username, username_key=key, role=parsed_role, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "created", "user", user.id, Message("audit.role", role=parsed_role))
    db.session.commit()
    return user


def change_password(actor: str, username: str, password: str) -> User:
    """Gives the user named ``username`` (any case or width) a new password that passes
    ``password_problem``; every session and token of the user ends with the old one."""
    user = db.session.scalar(select(User).where(User.username_key == username_key(username)))
    if user is None:
        raise NotFound(Message("user.not_found", name=username))
    problem = password_problem(password, user.username)
    if problem:
        raise InvalidInput(
            Message("user.password_invalid"), [{"field": "password", "message": problem}]
        )
    user.set_password(password)
    audit.record(actor, "password_changed", "user", user.id)
    db.session.commit()
    return user


def get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(Message("user.not_found", name=str(user_id)))
    return user


def list_users(page: int = 1, limit: int = 50) -> Page:
    return paginate(select(User).order_by(User.username, User.id), page, limit)


def change_role(actor: str, user_id: int, role: str) -> User:
    user = get_user(user_id)
    try:
        user.role = Role(role)
    except ValueError:
        raise InvalidInput(
            Message("user.role_invalid"), [{"field": "role", "message": ROLE_PROBLEM}]
        ) from None
    if user.username == actor and user.role != Role.ADMIN:
        db.session.rollback()
        raise Conflict(Message("user.own_admin_role"))
    audit.record(actor, "role_changed", "user", user.id, Message("audit.role", role=user.role))
    db.session.commit()
    return user


def set_active(actor: str, user_id: int, active: bool) -> User:
    """Deactivating a user (never oneself) refuses their sign-in and ends their sessions and
    tokens; activating lets them sign in again."""
    user = get_user(user_id)
    if user.username == actor and not active:
        raise Conflict(Message("user.deactivate_self"))
    user.active = active
    if not active:
        # Sessions and tokens issued before stay dead when the user is activated again.
        user.auth_generation += 1
    audit.record(actor, "activated" if active else "deactivated", "user", user.id)
    db.session.commit()
    return user
