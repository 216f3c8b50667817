"""Across every page: forms that change data need the CSRF token, and a viewer is offered no
control that changes data (the server refuses such requests anyway, see test_access.py)."""

import io
import re
from html.parser import HTMLParser

import pytest

from tests.conftest import sign_in
from tests.web_checks import concrete_routes
from webapp.extensions import db
from webapp.models import Invoice, Service

SESSION_POSTS = {"/logout", "/language"}


class Controls(HTMLParser):
    """The controls of a page that could change data: POST forms, links that post, checkboxes
    that select rows, and links to forms."""

    def __init__(self, html: str):
        super().__init__()
        self.post_actions: list[str] = []
        self.posting_links: list[str] = []
        self.row_checkboxes = 0
        self.form_links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "get").lower() == "post":
            self.post_actions.append(attributes.get("action") or "(this page)")
        if tag == "a":
            href = attributes.get("href") or ""
            if "data-post" in attributes:
                self.posting_links.append(href)
            if re.search(r"/(new|edit|delete|cancel|deactivate)$", href):
                self.form_links.append(href)
        if (
            tag == "input"
            and attributes.get("type") == "checkbox"
            and attributes.get("name") == "ids"
        ):
            self.row_checkboxes += 1


@pytest.fixture
def everything(factory, app):
    """One record in every state a page shows, with a viewer's eyes in mind."""
    from webapp.billing import erp

    factory.service()
    factory.pendings(2)
    processed = factory.batch()
    app.extensions["lote.cae"].failure_rate = 1.0
    failed = factory.batch(pendings=factory.pendings(1), receipt_book="A-0002")
    app.extensions["lote.cae"].failure_rate = 0.0
    record = erp.sync("tests", batch_id=processed.id)
    unsent = factory.batch(pendings=factory.pendings(1), receipt_book="A-0003")
    invoice_id = db.session.scalar(db.select(db.func.min(Invoice.id)))
    return {
        "service": db.session.scalar(db.select(db.func.min(Service.id))),
        "processed": processed.id,
        "failed": failed.id,
        "unsent": unsent.id,
        "sync": record.sync_id,
        "invoice": invoice_id,
    }


def pages(ids: dict) -> list[str]:
    return [
        "/",
        "/services/",
        f"/services/{ids['service']}",
        "/pendings/",
        "/batches/",
        f"/batches/{ids['processed']}",
        f"/batches/{ids['failed']}",
        "/invoices/",
        f"/invoices/{ids['invoice']}",
        "/invoices/statistics",
        "/erp/",
        f"/erp/preview?batchId={ids['processed']}",
        f"/erp/preview?batchId={ids['unsent']}",
        f"/erp/{ids['sync']}",
    ]


def test_a_viewer_is_offered_no_control_that_changes_data(client, auth, everything):
    auth.login("viewer")
    for url in pages(everything):
        response = client.get(url)
        assert response.status_code == 200, url
        controls = Controls(response.get_data(as_text=True))
        assert set(controls.post_actions) <= SESSION_POSTS, (url, controls.post_actions)
        assert controls.posting_links == [], url
        assert controls.row_checkboxes == 0, url
        assert controls.form_links == [], url


def test_a_clerk_is_offered_those_controls(client, auth, everything):
    """The check above can fail: the same pages show a clerk forms that change data."""
    auth.login("clerk")
    offered = set()
    for url in pages(everything):
        controls = Controls(client.get(url).get_data(as_text=True))
        offered.update(set(controls.post_actions) - SESSION_POSTS)
        offered.update(controls.posting_links)
        if controls.row_checkboxes:
            offered.add(f"checkboxes on {url}")
    assert "/services/send-to-billing" in offered
    assert f"/batches/{everything['failed']}/retry" in offered
    assert "/erp/send" in offered
    assert f"/erp/{everything['sync']}/confirm" in offered
    assert any(link.endswith("/delete") for link in offered)
    assert "checkboxes on /pendings/" in offered


# CSRF ----------------------------------------------------------------------------------------


def signed_in_with_csrf(make_app, username="admin"):
    """A client of an app with CSRF protection on, signed in through the real form."""
    app = make_app(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    assert sign_in(client, username).status_code == 302
    return app, client


def page_token(client, url="/") -> str:
    html = client.get(url).get_data(as_text=True)
    return re.search(r'<meta name="csrf-token" content="([^"]+)">', html).group(1)


def web_posts(app):
    for rule, url in concrete_routes(app, api=False):
        if "POST" in rule.methods and not rule.rule.startswith(("/static", "/login")):
            yield url


def test_every_page_form_refuses_a_post_without_the_csrf_token(make_app, users, factory):
    service = factory.service()
    app, client = signed_in_with_csrf(make_app)
    urls = list(web_posts(app))
    assert len(urls) >= 15
    for url in urls:
        response = client.post(
            url, data={"ids": [service.id], "role": "viewer"}, headers={"Accept-Language": "en"}
        )
        assert response.status_code == 400, url
        assert "security token is missing" in response.get_data(as_text=True), url
    db.session.expire_all()
    assert db.session.get(Service, service.id).status == "CREATED"


def test_a_post_with_the_pages_token_is_accepted(make_app, users, factory):
    service = factory.service()
    app, client = signed_in_with_csrf(make_app)
    token = page_token(client, "/services/")
    response = client.post(
        "/services/send-to-billing", data={"ids": [service.id], "csrf_token": token}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Service, service.id).status == "SENT_TO_BILL"


def test_a_wrong_token_is_refused(make_app, users, factory):
    service = factory.service()
    app, client = signed_in_with_csrf(make_app)
    response = client.post(f"/services/{service.id}/delete", data={"csrf_token": "forged"})
    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Service, service.id) is not None


@pytest.mark.parametrize(
    "url",
    [
        "/batches/?receiptBook=A%00",
        "/invoices/?invoiceNumber=A-0001%00",
        "/invoices/statistics?receiptBook=A%00",
        "/pendings/next-number?receiptBook=A-0001%00",
        "/erp/SYNC-2026%00",
    ],
)
def test_a_nul_character_in_page_input_is_a_clear_400(client, auth, url):
    auth.login("clerk")
    response = client.get(url, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "The request contains a character that is not allowed" in response.get_data(as_text=True)


def test_a_body_larger_than_lote_reads_gets_a_page_that_says_what_to_do(make_app, users):
    app = make_app(MAX_CONTENT_LENGTH=1024)
    client = app.test_client()
    sign_in(client, "clerk")

    response = client.post("/customers/import", data={"file": (io.BytesIO(b"x" * 4096), "big.csv")})

    assert response.status_code == 413
    text = " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())
    assert "Lo enviado es más grande de lo que Lote lee; enviá un archivo más chico" in text
    assert text.count("Demasiado grande") == 2  # the title and the heading, not the message too
