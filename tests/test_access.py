"""Every route needs a signed-in user except the sign-in pages, /health and static files; viewers
read but never change data."""

from tests.web_checks import concrete_routes as concrete_rules
from webapp.auth import API_PAGES

PUBLIC = {"web.login", "web.health", "web.set_language", "api.login", "static"}


def concrete_routes(app):
    """Each (endpoint, method, url) of the URL map, with sample values for its variables."""
    for rule, url in concrete_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule.endpoint, method, url


def test_every_private_route_refuses_anonymous_callers(app, client):
    checked = 0
    for endpoint, method, url in concrete_routes(app):
        if endpoint in PUBLIC:
            continue
        response = client.open(url, method=method)
        if url.startswith("/api/") and endpoint not in API_PAGES:
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.get_json()["statusCode"] == 401
        else:
            assert response.status_code == 302, (method, url, response.status_code)
            assert "/login" in response.headers["Location"]
        checked += 1
    assert checked > 40


def test_the_api_docs_send_a_signed_out_browser_to_the_sign_in_page(client, auth):
    response = client.get("/api/docs")
    assert response.status_code == 302
    assert response.headers["Location"] == "/login?next=/api/docs"
    auth.login("viewer")
    assert client.get("/api/docs").status_code == 200


def test_every_page_links_to_the_api_docs(clerk):
    for path in ("/", "/services/", "/erp/"):
        assert 'href="/api/docs"' in clerk.get(path).get_data(as_text=True), path


def test_public_routes_answer_without_credentials(client):
    assert client.get("/login").status_code == 200
    switched = client.post("/language", data={"lang": "en", "next": "/login"})
    assert switched.status_code == 302 and switched.headers["Location"] == "/login"
    assert "Sign in to Lote" in client.get("/login").get_data(as_text=True)
    assert client.get("/health").status_code == 200
    assert (
        client.post("/api/auth/login", json={"username": "x", "password": "y"}).status_code == 401
    )


def test_a_viewer_cannot_change_anything(app, client, token, auth):
    headers = token("viewer")
    auth.login("viewer")
    allowed = {
        "web.logout",
        "web.set_language",
        "web.login",
        "api.login",
        "api.logout",
        "api.preview",
    }
    checked = 0
    for endpoint, method, url in concrete_routes(app):
        if method == "GET" or endpoint in allowed or endpoint == "static":
            continue
        response = client.open(
            url, method=method, headers=headers if url.startswith("/api/") else {}
        )
        assert response.status_code == 403, (method, url, response.status_code)
        checked += 1
    assert checked > 15


def test_a_session_cookie_alone_does_not_authorize_an_api_write(client, auth):
    auth.login("clerk")
    assert client.get("/api/profile").status_code == 200  # reads work for the browsable docs
    response = client.post(
        "/api/services",
        json={"serviceDate": "2026-01-10", "customerId": 1, "amount": "10.00"},
    )
    assert response.status_code == 401
