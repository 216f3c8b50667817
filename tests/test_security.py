"""Security (docs/rules.md, rule 9): CSRF on every form, bearer tokens only on
/api, roles checked on the server, sign-in rate limits, cookie flags, security headers, password
hashes, token expiry and deactivation, and nothing internal in an error answer."""

import os
import re
import subprocess
import sys
import textwrap
import uuid
from datetime import date
from urllib.parse import urljoin, urlsplit

import pytest
from flask import request
from limits import parse
from sqlalchemy import func, select, text

from tests.conftest import PASSWORD, TEST_DATABASE_URL, base_config, bearer, sign_in
from tests.web_checks import concrete_routes

SAFE_REFERRER_POLICIES = {
    "no-referrer",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
}
SCRIPT = re.compile(r"(<script\b[^>]*>)(.*?)</script>", flags=re.IGNORECASE | re.DOTALL)
LEAKS = ("Traceback", "SELECT", "sqlalchemy", "psycopg", 'File "')


def routes(app, method: str, api: bool):
    """(endpoint, url) of each rule answering ``method``, under /api or not, with sample values
    for its variables."""
    for rule, url in concrete_routes(app, api=api):
        if method in rule.methods:
            yield rule.endpoint, url


def record_csrf_refusals(app) -> list[str]:
    """Paths refused by the CSRF protection itself (not by a form's own validation); the app's
    error handler still writes the answer."""
    from flask_wtf.csrf import CSRFError

    from webapp.errors import handle_http_error

    refused = []

    def recording(exc):
        refused.append(request.path)
        return handle_http_error(exc)

    app.register_error_handler(CSRFError, recording)
    return refused


@pytest.fixture
def web(make_app, users):
    """An app whose requests each run in their own app context, as in production: the ``app``
    fixture keeps one context, and with it flask-login's current user, for a whole test."""
    return make_app()


def service_count() -> int:
    from webapp.extensions import db
    from webapp.models import Service

    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Service))


# CSRF ---------------------------------------------------------------------------------------


def test_every_html_form_post_is_refused_without_a_csrf_token(make_app, users, factory):
    from webapp.extensions import db
    from webapp.models import User

    factory.pendings(count=1)
    factory.service()
    app = make_app(WTF_CSRF_ENABLED=True)
    refused = record_csrf_refusals(app)
    client = app.test_client()
    assert sign_in(client, "admin").status_code == 302
    services_before = service_count()

    posted = []
    for _endpoint, url in routes(app, "POST", api=False):
        response = client.post(url, data={"username": "admin", "password": PASSWORD})
        assert response.status_code == 400, (url, response.status_code)
        posted.append(url)

    assert refused == posted
    assert len(posted) >= 15
    assert "/login" in posted and "/logout" in posted
    assert client.get("/").status_code == 200  # the refused /logout left the session alone
    assert service_count() == services_before
    db.session.rollback()
    assert all(db.session.scalars(select(User.active)))


def test_sign_in_refuses_a_post_without_a_valid_csrf_token(make_app, users):
    app = make_app(WTF_CSRF_ENABLED=True)
    refused = record_csrf_refusals(app)
    client = app.test_client()
    credentials = {"username": "clerk", "password": PASSWORD}

    without = client.post("/login", data=credentials)
    forged = client.post("/login", data={**credentials, "csrf_token": "forged"})

    assert (without.status_code, forged.status_code) == (400, 400)
    assert refused == ["/login", "/login"]
    assert client.get("/").status_code == 302  # not signed in
    signed_in = sign_in(client, "clerk")
    assert signed_in.status_code == 302
    assert client.get("/").status_code == 200


# Bearer tokens only on /api -----------------------------------------------------------------


def test_a_session_cookie_alone_authorizes_no_api_write(web):
    client = web.test_client()
    assert sign_in(client, "admin").status_code == 302
    assert client.get("/api/profile").status_code == 200  # reads serve the browsable docs

    checked = 0
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        for endpoint, url in routes(web, method, api=True):
            if endpoint == "api.login":
                continue
            response = client.open(url, method=method, json={})
            assert response.status_code == 401, (method, url, response.status_code)
            assert response.get_json()["statusCode"] == 401
            checked += 1
    assert checked >= 12


def test_a_bearer_token_opens_no_html_page(web):
    client = web.test_client()
    headers = bearer(client, "admin")
    before = service_count()

    page = client.get("/services/", headers=headers)
    form = client.post(
        "/services/new",
        headers=headers,
        data={"serviceDate": "2026-01-10", "customerId": "1", "amount": "10.00"},
    )

    for response in (page, form):
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/login")
    assert service_count() == before


# Roles --------------------------------------------------------------------------------------


def test_only_an_admin_reaches_user_administration(web):
    administration = [
        (method, url)
        for method in ("GET", "POST")
        for endpoint, url in routes(web, method, api=False)
        if endpoint.startswith("users.")
    ]
    assert len(administration) >= 5
    for role, allowed in (("viewer", False), ("clerk", False), ("admin", True)):
        client = web.test_client()
        assert sign_in(client, role).status_code == 302
        for method, url in administration:
            response = client.open(url, method=method, data={})
            assert (response.status_code != 403) == allowed, (role, method, url)


# Sign-in rate limits ------------------------------------------------------------------------


def unique_address() -> str:
    """An address no other test (or earlier run sharing the Redis limiter store) has used."""
    value = uuid.uuid4().int
    return f"10.{value % 250}.{value // 250 % 250}.{value // 62500 % 250 + 1}"


def client_from(app, address: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def assert_retry_after(response):
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 60


@pytest.fixture
def limited(make_app, users):
    """An app with the sign-in rate limit on, and the number of attempts it allows."""
    from webapp.billing import users as user_ops

    name = f"limited_{uuid.uuid4().hex[:12]}"
    user_ops.create_user("tests", name, PASSWORD, "clerk")
    app = make_app(RATELIMIT_ENABLED=True)
    return app, name, parse(app.config["SIGN_IN_RATE_PER_USER"]).amount


def test_api_sign_in_is_rate_limited_per_user_and_address(limited):
    app, name, allowed = limited
    address = unique_address()
    client = client_from(app, address)
    wrong = {"username": name, "password": "wrong-password"}

    answers = [client.post("/api/auth/login", json=wrong).status_code for _ in range(allowed)]
    blocked = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})

    assert answers == [401] * allowed
    assert_retry_after(blocked)
    assert blocked.get_json()["statusCode"] == 429
    assert (
        client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORD}).status_code
        == 200
    )
    elsewhere = client_from(app, unique_address())
    assert (
        elsewhere.post("/api/auth/login", json={"username": name, "password": PASSWORD}).status_code
        == 200
    )


def test_page_sign_in_is_rate_limited_per_user_and_address(limited):
    app, name, allowed = limited
    address = unique_address()
    client = client_from(app, address)
    wrong = {"username": name, "password": "wrong-password"}

    answers = [client.post("/login", data=wrong).status_code for _ in range(allowed)]
    blocked = client.post("/login", data={"username": name, "password": PASSWORD})

    assert 429 not in answers
    assert_retry_after(blocked)
    assert client.get("/").status_code == 302  # the right password did not sign in
    other_user = client.post("/login", data={"username": "clerk", "password": PASSWORD})
    assert other_user.status_code == 302
    elsewhere = client_from(app, unique_address())
    assert (
        elsewhere.post("/login", data={"username": name, "password": PASSWORD}).status_code == 302
    )


def attempt(client, adapter: str, username: str, password: str = "wrong-password"):
    """One sign-in attempt through the page or the API."""
    credentials = {"username": username, "password": password}
    if adapter == "page":
        return client.post("/login", data=credentials)
    return client.post("/api/auth/login", json=credentials)


def test_one_address_is_limited_over_all_user_names_pages_and_api_together(limited):
    app, name, _per_user = limited
    allowed = parse(app.config["SIGN_IN_RATE_PER_ADDRESS"]).amount
    client = client_from(app, unique_address())

    answers = [
        attempt(client, ("page", "api")[n % 2], f"guess{n}").status_code for n in range(allowed)
    ]
    page = attempt(client, "page", name, PASSWORD)
    api = attempt(client, "api", name, PASSWORD)

    assert 429 not in answers
    assert_retry_after(page)
    # Pages speak the reader's language, Spanish by default.
    assert "Demasiados intentos de ingreso desde tu dirección" in page.get_data(as_text=True)
    assert_retry_after(api)
    assert api.get_json()["message"].startswith("Too many sign-in attempts from your address")
    assert client.get("/").status_code == 302
    elsewhere = client_from(app, unique_address())
    assert attempt(elsewhere, "api", name, PASSWORD).status_code == 200


def test_a_locked_out_user_with_the_right_password_is_told_why_on_the_page_and_the_api(limited):
    from webapp.auth import LOCKED_OUT

    shown = (
        "Demasiados intentos de ingreso para este usuario desde tu dirección; la contraseña no "
        "se verificó. Esperá un minuto y probá de nuevo"
    )
    app, name, allowed = limited
    client = client_from(app, unique_address())
    # Pages and API share the count: half the attempts through each.
    answers = [attempt(client, ("page", "api")[n % 2], name).status_code for n in range(allowed)]

    page = attempt(client, "page", name, PASSWORD)
    api = attempt(client, "api", name, PASSWORD)

    assert 429 not in answers
    assert_retry_after(page)
    html = page.get_data(as_text=True)
    assert f'<p class="flash flash-error" role="alert">{shown}</p>' in html
    assert f'value="{name}"' in html  # the form is shown again, with the name kept
    assert re.search(r'<input id="password"[^>]*autofocus', html)
    assert client.get("/").status_code == 302
    assert_retry_after(api)
    assert api.get_json()["statusCode"] == 429
    assert api.get_json()["message"] == str(LOCKED_OUT["sign-in-user"])


def test_after_a_failed_sign_in_the_password_field_has_the_focus(web):
    client = web.test_client()

    first = client.get("/login").get_data(as_text=True)
    failed = client.post("/login", data={"username": "clerk", "password": "wrong-password"})
    no_name = client.post("/login", data={"username": "", "password": "wrong-password"})

    assert re.search(r'<input id="username"[^>]*autofocus', first)
    assert not re.search(r'<input id="password"[^>]*autofocus', first)
    html = failed.get_data(as_text=True)
    assert 'value="clerk"' in html
    assert re.search(r'<input id="password"[^>]*autofocus', html)
    assert not re.search(r'<input id="username"[^>]*autofocus', html)
    assert re.search(r'<input id="username"[^>]*autofocus', no_name.get_data(as_text=True))


@pytest.fixture
def redis_down(make_app, users):
    """An app whose sign-in rate limiter points at a Redis that refuses connections."""
    import logging

    from webapp.extensions import limiter

    # Building the test schema ran alembic's logging set-up, which disables existing loggers.
    logging.getLogger("flask-limiter").disabled = False
    yield make_app(RATELIMIT_ENABLED=True, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    # The limiter is one object for every app of the run; the next app starts on its storage.
    limiter._storage_dead = False


def test_sign_in_works_and_stays_limited_while_redis_is_down(redis_down, caplog):
    app = redis_down
    client = client_from(app, unique_address())

    with caplog.at_level("WARNING", logger="flask-limiter"):
        page = attempt(client, "page", "clerk", PASSWORD)
    api = attempt(client, "api", "clerk", PASSWORD)

    assert page.status_code == 302
    assert client.get("/").status_code == 200
    assert api.status_code == 200
    assert "falling back to in-memory storage" in caplog.text
    allowed = parse(app.config["SIGN_IN_RATE_PER_USER"]).amount
    answers = [attempt(client, "api", "viewer").status_code for _ in range(allowed)]
    assert answers == [401] * allowed
    assert_retry_after(attempt(client, "api", "viewer", PASSWORD))


@pytest.mark.parametrize(
    "target", ["//evil.example", "/\\evil.example", "/\t/evil.example", "https://evil.example"]
)
def test_sign_in_never_sends_the_browser_to_another_site(web, target):
    client = web.test_client()
    data = {"username": "clerk", "password": PASSWORD}

    response = client.post("/login", query_string={"next": target}, data=data)

    assert response.status_code == 302
    # Browsers read a backslash in a URL as a slash.
    landing = urljoin("http://lote.test/login", response.headers["Location"].replace("\\", "/"))
    assert urlsplit(landing).netloc == "lote.test"


# Cookies and production settings ------------------------------------------------------------


def session_cookie(response) -> str:
    cookies = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]
    assert cookies, response.headers
    return cookies[-1]


def test_session_cookie_is_http_only_and_same_site_lax(web):
    cookie = session_cookie(sign_in(web.test_client(), "clerk"))

    attributes = {part.strip().split("=")[0].lower(): part.strip() for part in cookie.split(";")}
    assert "httponly" in attributes
    assert attributes["samesite"] == "SameSite=Lax"
    assert "secure" not in attributes  # plain http on a laptop; see the production test


def run_app_script(script: str, **env) -> subprocess.CompletedProcess:
    """Runs ``script`` in a fresh interpreter, where Config reads the given environment."""
    environment = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL, **env}
    for name, value in env.items():
        if value is None:
            environment.pop(name)
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


SIGN_IN_SCRIPT = """
    import os
    import re

    from webapp import create_app

    client = create_app().test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    response = client.post(
        "/login",
        data={"username": "clerk", "password": os.environ["PASSWORD"], "csrf_token": token},
    )
    print(response.status_code)
    print("\\n".join(response.headers.getlist("Set-Cookie")))
"""


def test_session_cookie_is_secure_when_lote_env_is_production(users):
    result = run_app_script(
        SIGN_IN_SCRIPT, LOTE_ENV="production", SECRET_KEY=uuid.uuid4().hex * 2, PASSWORD=PASSWORD
    )

    assert result.returncode == 0, result.stderr
    status, *cookies = result.stdout.strip().splitlines()
    assert status == "302", result.stderr[-3000:]
    session = [c for c in cookies if c.startswith("session=")][-1]
    flags = {part.strip().lower() for part in session.split(";")}
    assert {"secure", "httponly", "samesite=lax"} <= flags


def test_sign_in_works_when_redis_url_points_at_a_closed_port(users):
    """The deployed shape: REDIS_URL names the queue and the rate limiter's store, and is down."""
    result = run_app_script(SIGN_IN_SCRIPT, REDIS_URL="redis://127.0.0.1:1/0", PASSWORD=PASSWORD)

    assert result.returncode == 0, result.stderr
    status, *cookies = result.stdout.strip().splitlines()
    assert status == "302", result.stderr[-3000:]
    assert any(c.startswith("session=") for c in cookies)


def test_production_refuses_to_start_without_a_secret_key():
    result = run_app_script(
        "from webapp import create_app; create_app()", LOTE_ENV="production", SECRET_KEY=None
    )

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize("secret", [None, "", "lote-development-only"])
def test_production_refuses_the_default_or_an_empty_secret_key(secret):
    from webapp import create_app
    from webapp.config import DEFAULT_SECRET_KEY

    assert DEFAULT_SECRET_KEY == "lote-development-only"
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app(base_config(ENV_NAME="production", SECRET_KEY=secret))
    started = create_app(base_config(ENV_NAME="production", SECRET_KEY=uuid.uuid4().hex * 2))
    assert started.config["ENV_NAME"] == "production"


# Security headers ---------------------------------------------------------------------------


def csp_directives(response) -> dict[str, set[str]]:
    policy = response.headers["Content-Security-Policy"]
    directives = {}
    for directive in filter(None, (part.strip() for part in policy.split(";"))):
        name, *values = directive.split()
        directives[name] = set(values)
    return directives


def test_pages_and_api_answers_carry_the_security_headers(web):
    client = web.test_client()
    anonymous = [client.get("/login"), client.get("/api/profile"), client.get("/static/js/lote.js")]
    headers = bearer(client, "clerk")
    api = [
        client.get("/api/profile", headers=headers),
        client.get("/api/services/999999", headers=headers),
    ]
    sign_in(client, "clerk")
    pages = [client.get("/"), client.get("/services/"), client.get("/services/999999")]

    statuses = [r.status_code for r in anonymous + api + pages]
    assert statuses == [200, 401, 200, 200, 404, 200, 200, 404]
    for response in anonymous + api + pages:
        directives = csp_directives(response)
        assert directives["script-src"] == {"'self'"}, response.request.path
        assert directives["frame-ancestors"] == {"'none'"}
        assert directives["default-src"] == {"'self'"}
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] in SAFE_REFERRER_POLICIES


def test_pages_run_only_the_apps_own_script_files(web):
    """The CSP blocks inline scripts, so a page must not rely on any."""
    client = web.test_client()
    sign_in(client, "admin")
    checked = 0
    for rule, url in concrete_routes(web, api=False):
        if "GET" not in rule.methods or rule.arguments or rule.endpoint in ("static", "web.health"):
            continue
        response = client.get(url)
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        for tag, body in SCRIPT.findall(html):
            assert re.search(r'\ssrc="/static/', tag) and not body.strip(), (url, tag)
        assert not re.search(r"\son[a-z]+\s*=", html, flags=re.IGNORECASE), url
        assert "javascript:" not in html.lower(), url
        checked += 1
    assert checked >= 8


# Passwords and tokens -----------------------------------------------------------------------


def test_passwords_are_stored_as_salted_hashes_of_a_current_algorithm(make_app):
    """The tests' configuration hashes with one cheap round; the default, which production
    runs, keeps werkzeug's scrypt, for users and for the unknown-user timing guard alike.
    (``make_app`` empties the tables before and checks them after.)"""
    from werkzeug.security import check_password_hash

    from webapp import create_app
    from webapp.billing import users as user_ops
    from webapp.extensions import db
    from webapp.models import User

    default = create_app({k: v for k, v in base_config().items() if k != "PASSWORD_HASH_METHOD"})
    with default.app_context():
        for role in ("admin", "clerk", "viewer"):
            user_ops.create_user("tests", role, PASSWORD, role)
        assert user_ops.authenticate("nobody", PASSWORD) is None
        guard = user_ops._unknown_user(default.config["PASSWORD_HASH_METHOD"]).password_hash
        hashes = db.session.scalars(select(User.password_hash).order_by(User.id)).all()
        db.session.remove()
        db.engine.dispose()

    assert default.config["PASSWORD_HASH_METHOD"] == "scrypt"
    assert len(hashes) == 3 and len(set(hashes)) == 3  # same password, different salts
    for stored in [*hashes, guard]:
        assert PASSWORD not in stored
        method = stored.split("$", 1)[0]
        assert method.startswith("scrypt:") and int(method.split(":")[1]) >= 2**14, method
    for stored in hashes:
        assert check_password_hash(stored, PASSWORD)
        assert not check_password_hash(stored, PASSWORD + "x")


def test_the_unknown_user_timing_guard_hashes_like_the_users(app, users):
    """A wrong username must cost what a wrong password costs: the guard's hash is made with
    the configured method, here the tests' cheap one."""
    from webapp.billing import users as user_ops

    assert user_ops.authenticate("nobody", PASSWORD) is None
    guard = user_ops._unknown_user(app.config["PASSWORD_HASH_METHOD"]).password_hash
    assert guard.split("$", 1)[0] == users["clerk"].password_hash.split("$", 1)[0]
    assert guard.startswith("pbkdf2:sha256:1$")


def test_a_forged_or_foreign_token_is_refused(make_app, users):
    issuer = make_app(SECRET_KEY="another-deployment")
    foreign = bearer(issuer.test_client(), "clerk")
    client = make_app().test_client()
    genuine = bearer(client, "clerk")
    tampered = {"Authorization": genuine["Authorization"][:-2] + "xx"}

    for headers in (foreign, tampered, {"Authorization": "Basic Y2xlcms6eA=="}):
        assert client.get("/api/profile", headers=headers).status_code == 401


def test_a_deactivated_users_token_and_session_are_refused(web, users):
    from webapp.billing import users as user_ops

    api_client, page_client = web.test_client(), web.test_client()
    headers = bearer(api_client, "clerk")
    sign_in(page_client, "clerk")
    assert api_client.get("/api/profile", headers=headers).status_code == 200
    assert page_client.get("/").status_code == 200

    user_ops.set_active("admin", users["clerk"].id, False)

    assert api_client.get("/api/profile", headers=headers).status_code == 401
    write = api_client.post(
        "/api/services",
        headers=headers,
        json={"serviceDate": "2026-01-10", "customerId": 1, "amount": "10.00"},
    )
    assert write.status_code == 401
    assert page_client.get("/").status_code == 302
    again = api_client.post("/api/auth/login", json={"username": "clerk", "password": PASSWORD})
    assert again.status_code == 401


def test_a_nul_character_in_the_sign_in_form_is_not_a_server_error(web):
    """The sign-in form is open to anyone; PostgreSQL refuses NUL in text."""
    client = web.test_client()

    response = client.post("/login", data={"username": "clerk\x00", "password": PASSWORD})

    assert response.status_code == 400
    assert client.get("/").status_code == 302


# Errors reveal nothing ----------------------------------------------------------------------


def assert_reveals_nothing(response, *secrets: str):
    body = response.get_data(as_text=True)
    for leak in (*LEAKS, *secrets):
        assert leak not in body, (response.request.path, leak)


def failing_view(kind: str, secret: str):
    """A view that fails the way a bug would: bad SQL, a commit refused by a constraint (which
    leaves the session needing a rollback), or a plain exception; each message holds secrets."""
    from webapp.extensions import db
    from webapp.models import Service

    def view():
        if kind == "sql":
            db.session.execute(text(f"SELECT '{secret}' FROM no_such_table_{kind}"))
        if kind == "constraint":
            db.session.add(
                Service(service_date=date(2026, 1, 1), customer_id=1, amount=-1, description=secret)
            )
            db.session.commit()
        raise RuntimeError(f"unexpected failure, key {secret}")

    return view


@pytest.mark.parametrize("kind", ["sql", "constraint", "exception"])
def test_an_unexpected_error_shows_no_trace_sql_or_secret(make_app, users, kind):
    secret = f"secret-{uuid.uuid4().hex}"
    app = make_app(TESTING=False, SECRET_KEY=secret)
    app.add_url_rule("/test-failure", "test_failure_page", failing_view(kind, secret))
    app.add_url_rule("/api/test-failure", "test_failure_api", failing_view(kind, secret))
    client = app.test_client()
    headers = bearer(client, "clerk")
    sign_in(client, "clerk")

    page = client.get("/test-failure")
    api = client.get("/api/test-failure", headers=headers)

    assert (page.status_code, api.status_code) == (500, 500)
    assert api.get_json()["statusCode"] == 500
    for response in (page, api):
        assert_reveals_nothing(response, secret, "no_such_table")
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unreachable_database_shows_no_trace_sql_or_secret(make_app):
    password = f"db-{uuid.uuid4().hex}"
    url = f"postgresql+psycopg://lote:{password}@127.0.0.1:9/lote"
    secret = f"secret-{uuid.uuid4().hex}"
    client = make_app(TESTING=False, SECRET_KEY=secret, SQLALCHEMY_DATABASE_URI=url).test_client()
    credentials = {"username": "clerk", "password": PASSWORD}

    api = client.post("/api/auth/login", json=credentials)
    page = client.post("/login", data=credentials)
    health = client.get("/health")

    assert (api.status_code, page.status_code, health.status_code) == (500, 500, 503)
    assert health.get_json()["database"] == "down"
    for response in (api, page, health):
        assert_reveals_nothing(response, secret, password, "127.0.0.1:9", "lote:")
