"""Page links (pagination, filters, the forms that return to a list) are built from each list's own
filter names, never from the raw query string, and the site answers only to TRUSTED_HOSTS."""

import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from tests.conftest import PASSWORD
from webapp.extensions import db

LINK = re.compile(r'\s(?:href|action|hx-get)="([^"]*)"')
URL_FOR_KEYS = "_external=1&_anchor=X&_scheme=https"


@pytest.fixture
def long_lists(app, factory):
    """More services, pendings and invoices than one page shows, and the batch holding them."""
    from webapp.billing import batches, clock, invoicing

    pending_ids = factory.bulk_pendings(45)
    batch = batches.create_batch("tests", clock.today(), "A-0001", pending_ids[:25])
    invoicing.process_batch(batch.id, final_attempt=True)
    known = {"since": (clock.today() - timedelta(days=30)).isoformat(), "batch": batch.id}
    db.session.remove()
    return known


def test_links_ignore_query_keys_url_for_takes_for_its_own(client, users, long_lists):
    # Every request, sign-in included, names the host an attacker's link would.
    evil = "http://evil.example"
    client.post("/login", data={"username": "clerk", "password": PASSWORD}, base_url=evil)
    since = long_lists["since"]
    for page in [
        f"/services/?dateFrom={since}",
        f"/pendings/?dateFrom={since}",
        f"/invoices/?dateFrom={since}",
        f"/batches/{long_lists['batch']}?dateFrom={since}",
    ]:
        response = client.get(f"{page}&{URL_FOR_KEYS}", base_url=evil)
        assert response.request.host == "evil.example"
        assert response.status_code == 200, page
        html = response.get_data(as_text=True)
        links = LINK.findall(html)
        assert links, page
        for link in links:
            assert link.startswith(("/", "#", "data:")) and not link.startswith("//"), (page, link)
            assert "evil.example" not in link and "#X" not in link and "_external" not in link
        next_page = re.search(r'rel="next" href="([^"]*)"', html).group(1).replace("&amp;", "&")
        assert "page=2" in next_page, page
        if not page.startswith("/batches/"):
            assert f"dateFrom={since}" in next_page, page


def test_the_forms_of_a_list_return_to_the_same_filters(clerk, long_lists):
    since = long_lists["since"]
    html = clerk.get(f"/services/?dateFrom={since}&page=2&{URL_FOR_KEYS}").get_data(as_text=True)
    action = re.search(r'action="(/services/send-to-billing[^"]*)"', html).group(1)
    assert action.replace("&amp;", "&") == f"/services/send-to-billing?dateFrom={since}&page=2"


def test_a_host_not_in_trusted_hosts_is_refused(make_app, users):
    app = make_app(TRUSTED_HOSTS=["lote.example", ".lote.internal"])
    client = app.test_client()
    refused = client.get("/login", headers={"Host": "evil.example"})
    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == "This site does not answer to that host name"
    assert client.get("/api/profile", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/login", headers={"Host": "lote.example"}).status_code == 200
    assert client.get("/login", headers={"Host": "lote.example:8000"}).status_code == 200
    assert client.get("/login", headers={"Host": "web.lote.internal"}).status_code == 200


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("lote.example, .lote.internal", "['lote.example', '.lote.internal']"), (None, "None")],
)
def test_trusted_hosts_are_read_from_the_environment(setting, expected):
    environment = {k: v for k, v in os.environ.items() if k != "TRUSTED_HOSTS"}
    if setting is not None:
        environment["TRUSTED_HOSTS"] = setting
    result = subprocess.run(
        [sys.executable, "-c", "from webapp.config import Config; print(Config.TRUSTED_HOSTS)"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
