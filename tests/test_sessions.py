"""Sessions and API tokens end on the server : signing out, deactivating a user or giving
them a new password raises the user's sign-in generation, which every session and token carries,
so a saved cookie or token replayed afterwards opens nothing. Also the answers' cache and
transport headers and the production key check."""

import uuid

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from tests.conftest import PASSWORD, base_config
from tests.test_security import bearer, sign_in

SERVICE_FORM = {"serviceDate": "2026-01-10", "customerId": "1001", "amount": "10.00"}
SERVICE_JSON = {"serviceDate": "2026-01-10", "customerId": 1001, "amount": "10.00"}


@pytest.fixture
def web(make_app, users):
    """An app whose requests each run in their own app context, as in production."""
    return make_app()


def service_count() -> int:
    from webapp.extensions import db
    from webapp.models import Service

    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Service))


def saved_session(client) -> str:
    return client.get_cookie("session").value


def replay(client, cookie: str) -> None:
    client.set_cookie("session", cookie)


def assert_signed_out(client) -> None:
    page = client.get("/services/")
    assert page.status_code == 302 and page.headers["Location"].startswith("/login")
    before = service_count()
    created = client.post("/services/new", data=SERVICE_FORM)
    assert created.status_code == 302 and created.headers["Location"].startswith("/login")
    assert service_count() == before


# Sign-out ------------------------------------------------------------------------------------


def test_a_session_cookie_saved_before_sign_out_opens_nothing_when_replayed(web):
    client = web.test_client()
    sign_in(client, "clerk")
    cookie = saved_session(client)
    assert client.get("/services/").status_code == 200

    assert client.post("/logout").status_code == 302
    replay(client, cookie)

    assert_signed_out(client)


def test_signing_out_of_one_browser_ends_the_users_other_sessions_and_tokens(web):
    office, laptop, script = web.test_client(), web.test_client(), web.test_client()
    sign_in(office, "clerk")
    sign_in(laptop, "clerk")
    headers = bearer(script, "clerk")
    other_user = web.test_client()
    sign_in(other_user, "admin")

    office.post("/logout")

    assert_signed_out(laptop)
    assert script.get("/api/profile", headers=headers).status_code == 401
    assert other_user.get("/services/").status_code == 200
    assert sign_in(laptop, "clerk").status_code == 302
    assert laptop.get("/services/").status_code == 200


def test_api_logout_revokes_the_token_it_is_called_with(web):
    client = web.test_client()
    headers = bearer(client, "clerk")
    assert client.get("/api/profile", headers=headers).status_code == 200

    response = client.post("/api/auth/logout", headers=headers)

    assert response.status_code == 204
    assert response.get_data() == b""
    refused = client.get("/api/profile", headers=headers)
    assert refused.status_code == 401
    assert "revoked" in refused.get_json()["message"]
    write = client.post("/api/services", json=SERVICE_JSON, headers=headers)
    assert write.status_code == 401
    assert service_count() == 0
    assert client.post("/api/auth/logout", headers=headers).status_code == 401
    fresh = bearer(client, "clerk")
    assert client.get("/api/profile", headers=fresh).status_code == 200


def test_api_logout_needs_a_token_and_a_viewer_may_sign_out(web):
    client = web.test_client()
    assert client.post("/api/auth/logout").status_code == 401
    sign_in(client, "viewer")
    assert client.post("/api/auth/logout").status_code == 401  # a session is not a token

    headers = bearer(client, "viewer")
    assert client.post("/api/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/profile", headers=headers).status_code == 401


def test_api_logout_is_in_the_openapi_document(web):
    client = web.test_client()
    document = client.get("/api/openapi.json", headers=bearer(client, "viewer")).get_json()

    operation = document["paths"]["/api/auth/logout"]["post"]
    assert "204" in operation["responses"]
    assert operation.get("security", document["security"]) == [{"bearerAuth": []}]


# Deactivation and new passwords --------------------------------------------------------------


def test_a_token_and_session_from_before_a_deactivation_stay_dead_after_reactivation(web, users):
    from webapp.billing import users as user_ops

    api, page = web.test_client(), web.test_client()
    headers = bearer(api, "clerk")
    sign_in(page, "clerk")
    cookie = saved_session(page)

    user_ops.set_active("admin", users["clerk"].id, False)
    user_ops.set_active("admin", users["clerk"].id, True)

    assert api.get("/api/profile", headers=headers).status_code == 401
    assert api.post("/api/services", json=SERVICE_JSON, headers=headers).status_code == 401
    replay(page, cookie)
    assert_signed_out(page)
    assert sign_in(page, "clerk").status_code == 302  # the user can sign in again
    assert page.get("/services/").status_code == 200


def test_a_new_password_ends_the_users_sessions_and_tokens(web, users):
    from webapp.extensions import db
    from webapp.models import User

    api, page = web.test_client(), web.test_client()
    headers = bearer(api, "clerk")
    sign_in(page, "clerk")

    clerk = db.session.get(User, users["clerk"].id)
    clerk.set_password("a-brand-new-passphrase")
    db.session.commit()

    assert api.get("/api/profile", headers=headers).status_code == 401
    assert_signed_out(page)


# Forged tokens and sessions ------------------------------------------------------------------


def forged_token(app, payload) -> str:
    """A token signed with the deployment's real key, as only a key holder could make."""
    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt="lote-api-token").dumps(payload)


@pytest.mark.parametrize(
    "payload",
    [
        {"uid": 2**63, "gen": 1},
        {"uid": -(2**63) - 1, "gen": 1},
        {"uid": 2**31, "gen": 1},
        {"uid": 0, "gen": 1},
        {"uid": 1, "gen": 2**63},
        {"uid": "1", "gen": 1},
        {"uid": True, "gen": 1},
        {"uid": 1.0, "gen": 1},
        {"uid": 1},  # a token of the release before generations
        [1, 1],
        "1",
    ],
)
def test_a_signed_token_naming_no_valid_user_is_401_not_500(web, users, payload):
    client = web.test_client()

    response = client.get(
        "/api/profile", headers={"Authorization": f"Bearer {forged_token(web, payload)}"}
    )

    assert response.status_code == 401, response.get_data(as_text=True)
    assert response.get_json()["statusCode"] == 401


@pytest.mark.parametrize(
    "session_user",
    [f"{2**63}:1", "1:99999999999999999999", "1", "1:", ":1", "x:1", "1:1:1", "١:1"],
)
def test_a_signed_session_naming_no_valid_user_signs_nobody_in(web, users, session_user):
    client = web.test_client()
    signer = web.session_interface.get_signing_serializer(web)
    replay(client, signer.dumps({"_user_id": session_user, "_fresh": True}))

    assert_signed_out(client)


# Headers -------------------------------------------------------------------------------------


def test_signed_in_pages_api_answers_exports_and_tokens_are_never_stored(web):
    client = web.test_client()
    token = client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.get_json()['accessToken']}"}
    sign_in(client, "clerk")

    answers = {
        "token": token,
        "api": client.get("/api/services", headers=headers),
        "api error": client.get("/api/services/999999", headers=headers),
        "page": client.get("/services/"),
        "export": client.get("/invoices/export.csv"),
    }

    assert {name: r.status_code for name, r in answers.items()} == {
        "token": 200,
        "api": 200,
        "api error": 404,
        "page": 200,
        "export": 200,
    }
    for name, response in answers.items():
        assert response.headers.get("Cache-Control") == "no-store", name
        assert "Server" not in response.headers, name
        assert "Strict-Transport-Security" not in response.headers, name  # plain http on a laptop
    static = client.get("/static/js/lote.js")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_production_answers_carry_hsts(make_app):
    app = make_app(ENV_NAME="production", SECRET_KEY=uuid.uuid4().hex * 2)
    client = app.test_client()

    for response in (client.get("/login"), client.get("/api/profile"), client.get("/health")):
        assert response.headers["Strict-Transport-Security"].startswith("max-age=")
        assert int(response.headers["Strict-Transport-Security"].split("=")[1]) >= 15552000


# The production key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret",
    [
        "x",
        "9f3a" * 7 + "abc",  # 31 characters
        "ab" * 32,
        "lote-development-only" * 2,
        "CHANGEME-" + "0123456789abcdef" * 2,
    ],
)
def test_production_refuses_a_short_or_published_secret_key_and_says_how_to_make_one(secret):
    from webapp import create_app

    with pytest.raises(RuntimeError) as refused:
        create_app(base_config(ENV_NAME="production", SECRET_KEY=secret))

    message = str(refused.value)
    assert "SECRET_KEY" in message and "32" in message
    assert "python3 -c 'import secrets; print(secrets.token_hex(32))'" in message
    assert len(secret) < 4 or secret not in message


def test_production_starts_with_a_key_made_the_documented_way():
    import secrets

    from webapp import create_app

    app = create_app(base_config(ENV_NAME="production", SECRET_KEY=secrets.token_hex(32)))

    assert app.config["ENV_NAME"] == "production"


def test_a_password_set_on_the_command_line_ends_the_users_sessions_and_tokens(web, users):
    api, page = web.test_client(), web.test_client()
    headers = bearer(api, "clerk")
    sign_in(page, "clerk")
    runner = web.test_cli_runner()

    weak = runner.invoke(args=["set-password", "CLERK", "--password", "clerk2026"])
    changed = runner.invoke(args=["set-password", "CLERK", "--password", "a-brand-new-passphrase"])

    assert weak.exit_code != 0 and "must not contain the user name" in weak.output
    assert changed.exit_code == 0, changed.output
    assert "New password set for clerk" in changed.output
    assert api.get("/api/profile", headers=headers).status_code == 401
    assert_signed_out(page)
    assert sign_in(page, "clerk", "a-brand-new-passphrase").status_code == 302
    assert sign_in(web.test_client(), "clerk").status_code == 200  # the old password is refused
