"""A clerk's whole day in headless Chromium, against a real server (gunicorn) and a real consumer
on PostgreSQL and Redis: sign in, register a service, send it to billing, batch the pendings,
watch the batch page's progress bar reach PROCESSED without a reload, open an invoice, send the
batch to the ERP. Screenshots of the batch page are saved in tests/artifacts/."""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(_schema):
    """gunicorn serving the app on the test database, started once for a module's tests: it
    keeps nothing of a test but its pooled connections, and each test starts from empty
    tables."""
    import urllib.request

    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "-w", "2", "-b", f"127.0.0.1:{port}", "webapp:create_app()"],
        env={**os.environ, "ERP_FAILURE_RATE": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def up():
        try:
            return urllib.request.urlopen(f"{url}/health", timeout=1).status == 200
        except OSError:
            return False

    wait_for(up, timeout=30, message="gunicorn")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def live_server(live_queue, gunicorn):
    """The module's gunicorn, on the test's real queue."""
    return gunicorn


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, launched once for a module's tests; each test opens a context of its
    own, so no cookie or storage passes from one test to the next."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()


def test_a_clerk_bills_a_service_end_to_end_in_the_browser(
    users, factory, start_consumer, live_server, page
):
    from playwright.sync_api import expect

    from webapp.billing import clock

    ARTIFACTS.mkdir(exist_ok=True)
    factory.bulk_pendings(6000)  # several chunks of CAE calls: the bar visibly moves
    start_consumer(CAE_LATENCY_MS=150)

    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    # The customer first: a batch refuses the pendings of a customer Lote does not know fully.
    page.get_by_role("link", name="Customers").first.click()
    page.goto(f"{live_server}/customers/new")
    page.get_by_label("Customer number").fill("4242")
    page.get_by_label("Legal name").fill("Transportes Andinos S.A.")
    page.get_by_label("Document type").select_option("80")
    page.get_by_label("Document number").fill("30-50001091-2")
    page.get_by_label("IVA condition").select_option("1")
    page.get_by_role("button", name="Register customer").click()
    expect(page.get_by_text("30-50001091-2").first).to_be_visible()

    page.get_by_role("link", name="Services").first.click()
    page.get_by_role("link", name="Register a service").first.click()
    page.get_by_label("Service date").fill(clock.today().isoformat())
    page.get_by_label("Customer number").fill("4242")
    page.get_by_label("Amount, IVA included").fill("1500.00")
    page.get_by_label("Description").fill("Flete Rosario - Córdoba")
    page.get_by_role("button", name="Register service").click()
    expect(page.get_by_text("Flete Rosario - Córdoba").first).to_be_visible()

    page.goto(f"{live_server}/services/?customerId=4242")
    page.locator("input[name=ids]").first.check()
    page.get_by_role("button", name="Send selected to billing").click()
    expect(page.locator(".flash-success").first).to_be_visible()

    page.get_by_role("link", name="Pendings").first.click()
    page.get_by_label("Receipt book").fill("A-0001")
    expect(page.get_by_role("status", name="First invoice number")).to_contain_text(
        "A-0001-00000001"
    )
    page.get_by_role("button", name="available pendings matching the filters").click()
    expect(page.get_by_role("heading", name="Create a batch of 6,001 pendings?")).to_be_visible()
    page.get_by_role("button", name="Create the batch of 6,001 pendings").click()
    expect(page.get_by_role("heading", name="Status")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    progress = page.locator("#batch-progress")
    wait_for(
        lambda: 0 < int(progress.get_attribute("value") or 0) < 100,
        timeout=30,
        message="the progress bar to move",
    )
    seen_running = int(progress.get_attribute("value"))
    page.screenshot(path=str(ARTIFACTS / "batch-running.png"), full_page=True)

    expect(page.locator("#batch-status")).to_have_attribute(
        "data-status", "PROCESSED", timeout=60_000
    )
    assert page.evaluate("window.stillTheSamePage === true"), "the page reloaded"
    assert int(progress.get_attribute("value")) == 100 > seen_running
    expect(page.get_by_text("being invoiced")).to_have_count(0)  # no notice outlives the run
    page.screenshot(path=str(ARTIFACTS / "batch-done.png"), full_page=True)
    batch_url = page.url

    page.locator("#batch-status table a[href*='/invoices/']").first.click()
    expect(page.get_by_text("CAE").first).to_be_visible()
    expect(page.get_by_text("IVA").first).to_be_visible()

    page.goto(batch_url)
    page.get_by_role("link", name="Send to the ERP").click()
    page.get_by_role("button", name=re.compile(r"^Send [\d,]+ invoices to the ERP$")).click()
    expect(page.get_by_text("SENT").first).to_be_visible()


def test_the_batch_page_follows_the_status_to_its_end_without_a_reload(
    users, factory, start_consumer, live_server, page
):
    """The notice that the batch is being invoiced, the badge and the history come with every
    poll: when the batch ends the notice goes and the history says Invoiced, on the same page."""
    from playwright.sync_api import expect

    from webapp.billing import batches, clock

    start_consumer(CAE_LATENCY_MS=200)
    pending_ids = factory.bulk_pendings(3000)  # 12 CAE calls of 0.2 s: seconds of running
    page.goto(f"{live_server}/login")
    page.get_by_label("Username").fill("clerk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()

    batch = batches.submit_batch("clerk", clock.today(), "A-0001", pending_ids).batch
    page.goto(f"{live_server}/batches/{batch.id}")
    page.evaluate("window.stillTheSamePage = true")
    notice = page.get_by_text("The batch is being invoiced in the background")
    history = page.locator("section.audit")
    expect(notice).to_be_visible()
    expect(history).not_to_contain_text("Invoiced")

    expect(page.locator("#batch-status")).to_have_attribute(
        "data-status", "PROCESSED", timeout=60_000
    )
    expect(notice).to_have_count(0)
    expect(page.locator("#batch-status .badge").first).to_have_text("Processed")
    expect(history).to_contain_text("Invoiced")
    assert page.evaluate("window.stillTheSamePage === true"), "the page reloaded"


def test_a_spanish_clerk_takes_a_consumer_from_creation_to_a_printed_factura_b(
    users, factory, start_consumer, live_server, page
):
    """In Spanish: a customer registered as an unidentified Consumidor Final, a service at
    10.5%, a batch that names only its point of sale, and the printed invoice: a Factura B with
    the IVA it contains and its QR code; then a Nota de Crédito B for part of it, issued by the
    consumer, and the invoice's balance."""
    from playwright.sync_api import expect

    from webapp.billing import clock

    factory.issuer()
    start_consumer()
    page.goto(f"{live_server}/login")
    page.get_by_role("button", name="Español").click()
    page.locator("#username").fill("clerk")
    page.locator("#password").fill(PASSWORD)
    page.locator("button[type=submit].primary").click()
    expect(page.locator("html")).to_have_attribute("lang", "es")

    page.goto(f"{live_server}/customers/new")
    page.locator("#f-customerId").fill("5151")
    page.locator("#f-legalName").fill("Kiosco La Esquina")
    page.locator("#f-docType").select_option("99")
    page.locator("#f-ivaCondition").select_option("5")
    page.locator("button[type=submit].primary").click()
    expect(page.get_by_text("Kiosco La Esquina").first).to_be_visible()

    page.goto(f"{live_server}/services/new")
    page.locator("#f-serviceDate").fill(clock.today().isoformat())
    page.locator("#f-customerId").fill("5151")
    page.locator("#f-amount").fill("1105,00")
    page.locator("#f-vatRate").select_option("10.5")
    page.locator("#f-description").fill("Flete a domicilio")
    page.locator("button[type=submit].primary").click()
    expect(page.get_by_text("Flete a domicilio").first).to_be_visible()

    page.goto(f"{live_server}/services/?customerId=5151")
    page.locator("input[name=ids]").first.check()
    page.locator("form button[type=submit].primary").first.click()
    expect(page.locator(".flash-success").first).to_be_visible()

    page.goto(f"{live_server}/pendings/?customerId=5151")
    page.locator("#b-pointOfSale").select_option("1")
    page.locator("input[name=ids]").first.check()
    page.locator("button[name=scope][value=selected]").click()
    expect(page.locator("#batch-status")).to_have_attribute(
        "data-status", "PROCESSED", timeout=60_000
    )

    page.locator("#batch-status table a[href*='/invoices/']").first.click()
    printed = page.locator(".printed-invoice, article.invoice").first
    expect(printed).to_contain_text("B-0001-00000001")
    expect(printed).to_contain_text("COD. 06")
    expect(printed).to_contain_text("Kiosco La Esquina")
    expect(printed).to_contain_text("IVA Contenido")
    expect(printed).to_contain_text("105,00")
    expect(page.locator("img[src^='data:image/png']").first).to_be_visible()
    body = page.locator("body").inner_text()
    assert "Invoice " not in body and "Receipt book" not in body, "English on a Spanish page"

    invoice_url = page.url
    expect(page.locator("[data-balance]")).to_have_text("$ 1.105,00")
    page.locator("#credit-amount").fill("105,00")
    page.locator("#credit-reason").fill("Demora en la entrega")
    page.get_by_role("button", name="Emitir nota de crédito").click()
    expect(page.locator("#batch-status")).to_have_attribute(
        "data-status", "PROCESSED", timeout=60_000
    )
    expect(page.locator(".batch-notes")).to_contain_text("NC-B-0001-00000001")
    page.goto(invoice_url)
    expect(page.locator("[data-balance]")).to_have_text("$ 1.000,00")
    page.get_by_role("link", name="NC-B-0001-00000001").click()
    printed = page.locator(".printed-invoice, article.invoice").first
    expect(printed).to_contain_text("Nota de Crédito B")
    expect(printed).to_contain_text("COD. 08")
    expect(printed).to_contain_text("Factura B 00001-00000001")
