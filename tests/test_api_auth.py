"""Sign-in, bearer tokens and roles on the JSON API, the public health check, and the OpenAPI
document generated from the code."""

import json
import re
from datetime import timedelta

import pytest

from tests.api_checks import ENVELOPE_KEYS, assert_envelope, fields_named
from tests.conftest import PASSWORD, api_login, bearer_of

# Every /api path of the NestJS-compatible API with its methods; path parameters are written {}.
DESIGN_PATHS = {
    "/api/auth/login": {"post"},
    "/api/auth/logout": {"post"},
    "/api/profile": {"get"},
    "/api/services": {"post", "get"},
    "/api/services/{}": {"get", "patch", "delete"},
    "/api/services/send-to-billing": {"post"},
    "/api/billing-pendings": {"get"},
    "/api/billing-pendings/summary": {"get"},
    "/api/billing-pendings/available": {"get"},
    "/api/billing-pendings/{}": {"get", "delete"},
    "/api/billing-batches": {"post", "get"},
    "/api/billing-batches/sync": {"post"},
    "/api/billing-batches/queue/stats": {"get"},
    "/api/billing-batches/receipt-books": {"get"},
    "/api/billing-batches/next-invoice-number/{}": {"get"},
    "/api/billing-batches/{}": {"get"},
    "/api/billing-batches/{}/status": {"get"},
    "/api/billing-batches/{}/retry": {"post"},
    "/api/invoices": {"get"},
    "/api/invoices/statistics": {"get"},
    "/api/invoices/by-customer/{}": {"get"},
    "/api/invoices/by-batch/{}": {"get"},
    "/api/invoices/number/{}": {"get"},
    "/api/invoices/{}": {"get"},
    "/api/erp-sync/preview": {"post"},
    "/api/erp-sync/invoices": {"post"},
    "/api/erp-sync/batch": {"post"},
    "/api/erp-sync/history": {"get"},
    "/api/erp-sync/history/{}": {"get"},
    "/api/erp-sync/confirm/{}": {"post"},
    "/api/customers": {"post", "get"},
    "/api/customers/{}": {"get", "patch"},
}

WRITES = [
    ("post", "/api/services"),
    ("patch", "/api/services/1"),
    ("delete", "/api/services/1"),
    ("post", "/api/services/send-to-billing"),
    ("delete", "/api/billing-pendings/1"),
    ("post", "/api/billing-batches"),
    ("post", "/api/billing-batches/sync"),
    ("post", "/api/billing-batches/1/retry"),
    ("post", "/api/erp-sync/invoices"),
    ("post", "/api/erp-sync/batch"),
    ("post", "/api/erp-sync/confirm/SYNC-2026-000001"),
    ("post", "/api/customers"),
    ("patch", "/api/customers/1"),
]

READS = [
    "/api/profile",
    "/api/services",
    "/api/services/1",
    "/api/billing-pendings",
    "/api/billing-pendings/summary",
    "/api/billing-pendings/available",
    "/api/billing-pendings/1",
    "/api/billing-batches",
    "/api/billing-batches/queue/stats",
    "/api/billing-batches/receipt-books",
    "/api/billing-batches/next-invoice-number/A-0001",
    "/api/billing-batches/1",
    "/api/billing-batches/1/status",
    "/api/invoices",
    "/api/invoices/statistics",
    "/api/invoices/by-customer/1001",
    "/api/invoices/by-batch/1",
    "/api/invoices/number/A-0001-00000001",
    "/api/invoices/1",
    "/api/erp-sync/history",
    "/api/erp-sync/history/SYNC-2026-000001",
    "/api/customers",
    "/api/customers/1",
    "/api/openapi.json",
]


def service_body():
    from webapp.billing import clock

    return {
        "serviceDate": (clock.today() - timedelta(days=1)).isoformat(),
        "customerId": 1001,
        "amount": "100.00",
    }


# Sign-in -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "clerk", "viewer"])
def test_login_returns_a_bearer_token_for_the_profile(client, users, app, role):
    response = api_login(client, role)

    assert response.status_code == 200
    token = response.get_json()
    assert token["tokenType"] == "Bearer"
    assert token["expiresIn"] == app.config["TOKEN_MAX_AGE_SECONDS"]
    assert isinstance(token["accessToken"], str) and len(token["accessToken"]) > 20
    profile = client.get("/api/profile", headers=bearer_of(response))
    assert profile.status_code == 200
    payload = profile.get_json()
    assert (payload["username"], payload["role"], payload["active"]) == (role, role, True)
    assert "passwordHash" not in payload and "password_hash" not in payload


@pytest.mark.parametrize(
    ("username", "password"),
    [("clerk", "wrong-password"), ("clerk", PASSWORD.upper()), ("nobody", PASSWORD)],
)
def test_login_with_bad_credentials_is_401(client, users, username, password):
    response = api_login(client, username, password)
    payload = assert_envelope(response, 401)
    assert "accessToken" not in payload


def test_login_of_a_deactivated_user_is_401(client, users):
    from webapp.billing import users as user_ops

    user_ops.set_active("tests", users["clerk"].id, False)

    assert_envelope(api_login(client, "clerk"), 401)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"username", "password"}),
        ({"username": "clerk"}, {"password"}),
        ({"password": PASSWORD}, {"username"}),
        ({"username": "clerk", "password": ""}, {"password"}),
        ({"username": 42, "password": PASSWORD}, {"username"}),
        ({"username": "clerk", "password": ["x"]}, {"password"}),
        ({"username": "clerk", "password": PASSWORD, "role": "admin"}, {"role"}),
    ],
)
def test_login_refuses_a_malformed_body_with_400_naming_the_field(client, users, body, fields):
    response = client.post("/api/auth/login", json=body)
    assert_envelope(response, 400)
    assert fields_named(response) == fields


def test_login_with_a_nul_character_in_the_username_never_causes_a_500(client, users):
    response = api_login(client, "cl\x00erk")
    assert_envelope(response, 400)
    assert fields_named(response) == {"username"}


def test_login_refuses_a_body_that_is_not_json(client, users):
    response = client.post(
        "/api/auth/login", data="username=clerk&password=x", content_type="text/plain"
    )
    assert_envelope(response, 400)
    response = client.post("/api/auth/login", data="{", content_type="application/json")
    assert_envelope(response, 400)


def test_json_sent_under_another_content_type_is_refused_naming_the_header(client, users):
    """Curl's -d sends form encoding: the body is JSON, but unread, so it is not answered as
    fields missing."""
    body = json.dumps({"username": "clerk", "password": PASSWORD})
    response = client.post(
        "/api/auth/login", data=body, content_type="application/x-www-form-urlencoded"
    )
    payload = assert_envelope(response, 400)
    assert payload["details"] == [
        {
            "field": "body",
            "message": "must be sent as JSON, with the header Content-Type: application/json "
            "(it came as application/x-www-form-urlencoded)",
        }
    ]
    response = client.post("/api/auth/login", data=body, content_type="application/json")
    assert response.status_code == 200


# Tokens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", READS)
def test_every_read_without_a_token_is_401(client, users, path):
    assert_envelope(client.get(path), 401)


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_every_write_without_a_token_is_401(client, users, method, path):
    assert_envelope(getattr(client, method)(path, json={}), 401)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer not-a-token",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1aWQiOjF9.c2lnbmF0dXJl",
        "Basic Y2xlcms6Y29ycmVjdC1ob3JzZS05",
        "Token abc",
        "abc",
    ],
)
def test_a_malformed_or_forged_token_is_401(client, users, header):
    response = client.get("/api/profile", headers={"Authorization": header})
    assert_envelope(response, 401)


def test_a_token_signed_with_another_secret_is_401(make_app, client, users):
    other = make_app(SECRET_KEY="another-secret").test_client()
    foreign = api_login(other, "clerk")
    assert foreign.status_code == 200

    assert_envelope(client.get("/api/profile", headers=bearer_of(foreign)), 401)


def test_a_token_is_refused_once_its_lifetime_has_passed(make_app, users, move_clock):
    short_lived = make_app(TOKEN_MAX_AGE_SECONDS=60)
    clock = move_clock(short_lived)
    client = short_lived.test_client()
    response = api_login(client, "clerk")
    assert response.get_json()["expiresIn"] == 60
    headers = bearer_of(response)

    clock.advance(59)
    assert client.get("/api/profile", headers=headers).status_code == 200
    clock.advance(2)

    payload = assert_envelope(client.get("/api/profile", headers=headers), 401)
    assert "expired" in payload["message"]
    refused = client.post("/api/services", json=service_body(), headers=headers)
    assert_envelope(refused, 401)


def test_the_token_of_a_user_deactivated_after_sign_in_is_401(client, users, token):
    from webapp.billing import users as user_ops

    headers = token("clerk")
    assert client.get("/api/profile", headers=headers).status_code == 200

    user_ops.set_active("tests", users["clerk"].id, False)

    assert_envelope(client.get("/api/profile", headers=headers), 401)
    assert_envelope(client.post("/api/services", json=service_body(), headers=headers), 401)


def test_the_bearer_scheme_is_case_insensitive(client, users):
    token = api_login(client, "clerk").get_json()["accessToken"]
    response = client.get("/api/profile", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


def test_a_browser_session_does_not_authorize_api_writes(client, auth, token):
    assert auth.login("clerk").status_code == 302

    response = client.post("/api/services", json=service_body())

    assert_envelope(response, 401)
    listed = client.get("/api/services", headers=token())
    assert listed.status_code == 200
    assert listed.get_json()["total"] == 0


# Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), WRITES)
def test_viewer_gets_403_on_every_write(client, token, method, path):
    response = getattr(client, method)(path, json={}, headers=token("viewer"))
    payload = assert_envelope(response, 403)
    assert "viewer" in payload["message"]


@pytest.mark.parametrize("path", [p for p in READS if not re.search(r"/(1|SYNC|A-0001-)", p)])
def test_viewer_can_read(client, token, path):
    response = client.get(path, headers=token("viewer"))
    assert response.status_code == 200, response.get_json()


@pytest.mark.parametrize("role", ["admin", "clerk"])
def test_admins_and_clerks_can_write(client, token, role):
    response = client.post("/api/services", json=service_body(), headers=token(role))
    assert response.status_code == 201


# Health and the API document -----------------------------------------------------------------


def test_health_is_public_and_reports_its_dependencies(client):
    response = client.get("/health")

    assert response.status_code == 200
    health = response.get_json()
    assert health.keys() >= {"status", "database", "queue", "timestamp"}
    assert health["status"] == "ok"
    assert re.match(r"^\d{4}-\d{2}-\d{2}T", health["timestamp"])


def test_health_is_503_when_the_database_is_down(make_app):
    unreachable = make_app(
        SQLALCHEMY_DATABASE_URI="postgresql+psycopg://postgres@127.0.0.1:1/unreachable"
    ).test_client()

    response = unreachable.get("/health")

    assert response.status_code == 503
    health = response.get_json()
    assert health["database"] == "down"
    assert health["status"] != "ok"


def test_openapi_document_lists_every_path_of_the_design(client, token):
    response = client.get("/api/openapi.json", headers=token("viewer"))

    assert response.status_code == 200
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    served = {
        re.sub(r"\{[^}]+\}", "{}", path): {m for m in methods if m != "parameters"}
        for path, methods in document["paths"].items()
    }
    missing = {path: methods - served.get(path, set()) for path, methods in DESIGN_PATHS.items()}
    assert {path: methods for path, methods in missing.items() if methods} == {}


def test_openapi_document_describes_the_money_and_error_schemas(client, token):
    document = client.get("/api/openapi.json", headers=token()).get_json()
    schemas = document["components"]["schemas"]

    assert schemas["ServiceIn"]["properties"]["amount"]["type"] == "string"
    assert set(schemas["ServiceIn"]["required"]) == {"serviceDate", "customerId", "amount"}
    assert set(schemas["ErrorOut"]["properties"]) >= ENVELOPE_KEYS | {"details"}


def test_openapi_document_gives_validation_errors_as_400_like_the_api(client, token):
    paths = client.get("/api/openapi.json", headers=token()).get_json()["paths"]
    create_service = paths["/api/services"]["post"]["responses"]
    edit_service = next(m for p, m in paths.items() if p.startswith("/api/services/{"))["patch"]

    refused = client.post("/api/services", json={}, headers=token())

    assert refused.status_code == 400
    assert "400" in create_service
    assert "400" in edit_service["responses"]
    assert "422" not in edit_service["responses"]


def test_openapi_document_needs_a_token(client, users):
    assert_envelope(client.get("/api/openapi.json"), 401)
