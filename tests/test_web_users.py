"""User management, for supervisors only: list, create, change role, deactivate, activate."""

import re

import pytest

from tests.conftest import PASSWORD, sign_in
from webapp.extensions import db
from webapp.models import Role, User


@pytest.fixture
def admin(client, auth):
    auth.login("admin")
    client.post("/language", data={"lang": "en"})
    return client


def user(name: str) -> User:
    db.session.expire_all()
    return db.session.scalar(db.select(User).where(User.username == name))


@pytest.fixture
def can_sign_in(make_app):
    """Signs in on a second app, so the request gets an app context (and ``g``) of its own."""
    other = make_app()

    def attempt(name: str, password: str = PASSWORD) -> bool:
        return sign_in(other.test_client(), name, password).status_code == 302

    return attempt


def test_the_list_shows_every_user_with_role_and_access(admin):
    html = admin.get("/users/").get_data(as_text=True)
    for name in ("admin", "clerk", "viewer"):
        assert f'<th scope="row">{name}' in html
    assert "Billing clerk" in html and "Viewer (read only)" in html
    assert html.count('class="badge badge-processed">Active<') == 3


def test_an_admin_cannot_demote_or_deactivate_themselves_from_the_list(admin, users):
    html = admin.get("/users/").get_data(as_text=True)
    own = users["admin"].id
    assert f"/users/{own}/role" not in html
    assert f"/users/{own}/deactivate" not in html
    assert f"/users/{users['clerk'].id}/deactivate" in html


def test_creating_a_user_who_can_then_sign_in(admin, can_sign_in):
    form = admin.get("/users/new").get_data(as_text=True)
    assert '<label for="f-username">' in form and '<label for="f-password">' in form
    response = admin.post(
        "/users/new", data={"username": "ana.perez", "password": "s3cret-pass", "role": "viewer"}
    )
    assert response.status_code == 302
    created = user("ana.perez")
    assert created.role == Role.VIEWER and created.active
    assert can_sign_in("ana.perez", "s3cret-pass")


def test_invalid_fields_are_shown_next_to_them_without_echoing_the_password(admin):
    response = admin.post(
        "/users/new", data={"username": "ana perez!", "password": "short", "role": "boss"}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert (
        'id="f-username-error">use 1 to 64 letters a-z, digits, dots, dashes or underscores</p>'
        in html
    )
    assert 'id="f-password-error">must have at least 8 characters</p>' in html
    assert 'id="f-role-error">choose one of the offered roles</p>' in html
    assert 'value="ana perez!"' in html
    assert 'value="short"' not in html
    assert user("ana perez!") is None


def test_a_taken_username_is_refused(admin):
    response = admin.post(
        "/users/new", data={"username": "clerk", "password": "long-enough", "role": "clerk"}
    )
    assert response.status_code == 409
    assert 'id="f-username-error">is already taken</p>' in response.get_data(as_text=True)


def test_changing_a_role(admin, users):
    response = admin.post(f"/users/{users['clerk'].id}/role", data={"role": "admin"})
    assert response.status_code == 302
    assert user("clerk").role == Role.ADMIN
    assert "clerk is now Supervisor (admin)." in admin.get("/users/").get_data(as_text=True)


def test_an_unknown_role_is_refused(admin, users):
    response = admin.post(f"/users/{users['clerk'].id}/role", data={"role": "owner"})
    assert "choose one of the offered roles" in admin.get(response.headers["Location"]).get_data(
        as_text=True
    )
    assert user("clerk").role == Role.CLERK


def test_an_admin_cannot_remove_their_own_admin_role(admin, users):
    response = admin.post(
        f"/users/{users['admin'].id}/role", data={"role": "clerk"}, follow_redirects=True
    )
    assert "You cannot remove your own supervisor role" in response.get_data(as_text=True)
    assert user("admin").role == Role.ADMIN


def test_deactivating_asks_first_and_then_blocks_sign_in(admin, users, can_sign_in):
    target = users["clerk"].id
    page = admin.get(f"/users/{target}/deactivate").get_data(as_text=True)
    assert "Deactivate clerk?" in page
    assert user("clerk").active

    response = admin.post(f"/users/{target}/deactivate", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "clerk can no longer sign in." in html
    assert re.search(rf'action="/users/{target}/activate"', html)
    assert not user("clerk").active
    assert not can_sign_in("clerk")

    admin.post(f"/users/{target}/activate")
    assert user("clerk").active
    assert can_sign_in("clerk")


def test_an_admin_cannot_deactivate_themselves(admin, users):
    response = admin.post(f"/users/{users['admin'].id}/deactivate", follow_redirects=True)
    assert "You cannot deactivate yourself" in response.get_data(as_text=True)
    assert user("admin").active


def test_an_unknown_user_is_a_404(admin):
    assert admin.get("/users/4040/deactivate").status_code == 404
    assert admin.post("/users/4040/role", data={"role": "clerk"}).status_code == 404


@pytest.mark.parametrize("role", ["clerk", "viewer"])
def test_only_supervisors_reach_user_management(client, auth, users, role):
    auth.login(role)
    assert client.get("/users/").status_code == 403
    assert client.get("/users/new").status_code == 403
    assert client.get(f"/users/{users['admin'].id}/deactivate").status_code == 403
    response = client.post(
        "/users/new", data={"username": "intruder", "password": "long-enough", "role": "admin"}
    )
    assert response.status_code == 403
    assert client.post(f"/users/{users[role].id}/role", data={"role": "admin"}).status_code == 403
    assert client.post(f"/users/{users['admin'].id}/deactivate").status_code == 403
    assert user("intruder") is None
    assert user(role).role == Role(role)
    assert user("admin").active
    assert "/users/" not in client.get("/").get_data(as_text=True)


# Names and passwords ---------------------------------------------------------------------------


def create(admin, username: str, password: str = "s3cret-pass"):
    return admin.post(
        "/users/new", data={"username": username, "password": password, "role": "clerk"}
    )


def user_count() -> int:
    db.session.rollback()
    return db.session.scalar(db.select(db.func.count()).select_from(User))


@pytest.mark.parametrize("name", ["Admin", "ADMIN", "ａｄｍｉｎ", " admin "])
def test_a_name_that_differs_from_a_users_only_in_case_or_width_is_taken(admin, name):
    before = user_count()

    response = create(admin, name)

    assert response.status_code == 409
    html = response.get_data(as_text=True)
    assert 'id="f-username-error">is already taken</p>' in html
    assert "User admin already exists" in html
    assert user_count() == before


@pytest.mark.parametrize("name", ["аdmin", "αdmin", "josé", "ad\u200bmin"])
def test_a_name_with_letters_outside_a_z_is_refused_with_the_reason(admin, name):
    before = user_count()

    response = create(admin, name)

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="f-username-error">use only the letters a-z, without accents' in html
    assert user_count() == before


def test_a_fullwidth_name_is_stored_in_plain_letters(admin):
    assert create(admin, "ａｎａ２").status_code == 302
    assert user("ana2") is not None


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        (" " * 8, "must not be only spaces"),
        ("\t" * 10, "must not be only spaces"),
        ("12345678", "is too common; choose one that is harder to guess"),
        ("Password1", "is too common; choose one that is harder to guess"),
        ("ana.perez", "must not contain the user name"),
        ("ANA.PEREZ", "must not contain the user name"),
        ("ana.perez2026", "must not contain the user name"),
    ],
)
def test_a_weak_password_is_refused_next_to_the_field(admin, password, problem):
    response = create(admin, "ana.perez", password)

    assert response.status_code == 400
    assert f'id="f-password-error">{problem}</p>' in response.get_data(as_text=True)
    assert user("ana.perez") is None


def test_a_weak_password_is_refused_on_the_command_line_too(app):
    runner = app.test_cli_runner()

    result = runner.invoke(args=["create-user", "ana", "--password", "qwertyuiop"])

    assert result.exit_code != 0
    assert "password is too common" in result.output
    assert user("ana") is None


def test_a_user_signs_in_with_any_case_or_width_of_the_stored_name(admin, can_sign_in):
    assert create(admin, "Ana.Perez").status_code == 302
    assert user("Ana.Perez").username_key == "ana.perez"

    for typed in ("Ana.Perez", "ana.perez", "ANA.PEREZ", " ana.perez ", "Ａｎａ.Ｐｅｒｅｚ"):
        assert can_sign_in(typed, "s3cret-pass"), typed
    assert not can_sign_in("аna.perez", "s3cret-pass")  # a Cyrillic а is another name
