"""The pages on a phone and on a laptop, in headless Chromium against a real server: the page
itself never scrolls sideways, every table's last column can be reached (tables scroll inside
their own box), and a field in error shows its red border."""

import pytest

from tests import test_browser
from tests.conftest import PASSWORD

# The same fixtures: gunicorn and Chromium, started once for the module.
gunicorn, live_server = test_browser.gunicorn, test_browser.live_server
browser = test_browser.browser

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]
PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
DANGER = "rgb(180, 35, 24)"  # --danger in lote.css

# What sticks out of the viewport, outside boxes that scroll, to name it when a page is too wide.
WIDER_THAN_THE_SCREEN = """() => [...document.querySelectorAll("body *")]
  .filter((e) => e.getBoundingClientRect().right > innerWidth + 1)
  .filter((e) => !e.parentElement.closest(".table-wrap, .summary, .books"))
  .slice(0, 3)
  .map((e) => `${e.tagName.toLowerCase()}.${e.className} ${e.textContent.trim().slice(0, 40)}`)"""

# For each table shown: its last visible column, scrolled into view, lies inside the viewport
# and inside every box that clips it.
LAST_COLUMNS = """() => [...document.querySelectorAll("table")]
  .filter((table) => table.checkVisibility())
  .map((table) => {
    const cells = [...table.rows[0].cells].filter((cell) => cell.checkVisibility());
    const last = cells[cells.length - 1];
    last.scrollIntoView({block: "nearest", inline: "end"});
    const box = last.getBoundingClientRect();
    let shown = box.width > 0 && box.left >= -1 && box.right <= innerWidth + 1;
    for (let up = last.parentElement; up; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") {
        const clip = up.getBoundingClientRect();
        shown = shown && box.left >= clip.left - 1 && box.right <= clip.right + 1;
      }
    }
    return {column: last.textContent.trim(), shown};
  })"""


def signed_in(browser, url, viewport, locale="es-AR"):
    page = browser.new_context(locale=locale, viewport=viewport).new_page()
    page.goto(f"{url}/login")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("form button[type=submit]").last.click()
    page.wait_for_url(f"{url}/")
    return page


def billing_history(factory):
    """Every list with rows: services in each state, pendings, batches, invoices, a delivery."""
    from webapp.billing import erp

    factory.service(amount="9876543.21", description="Almacenaje de pallets en depósito fiscal")
    first = factory.batch(pendings=factory.pendings(3, amount="1234567.89"))
    factory.batch(
        pendings=factory.pendings(2, amount="98765.43", customer_id=8001), receipt_book="B-0001"
    )
    factory.pendings(2)
    erp.sync("tests", batch_id=first.id)
    return first


def test_no_list_page_scrolls_sideways_and_every_last_column_is_reachable(
    users, factory, live_server, browser
):
    batch = billing_history(factory)
    pages = [
        "/",
        "/services/",
        "/pendings/",
        "/batches/",
        f"/batches/{batch.id}",
        "/invoices/",
        "/invoices/statistics",
        "/erp/",
        f"/erp/preview?batchId={batch.id + 1}",
        "/users/",
    ]
    for viewport in (PHONE, LAPTOP):
        page = signed_in(browser, live_server, viewport)
        for path in pages:
            page.goto(f"{live_server}{path}")
            where = f"{path} at {viewport['width']} px"
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= viewport["width"], (
                f"{where} scrolls sideways ({width} px): {page.evaluate(WIDER_THAN_THE_SCREEN)}"
            )
            columns = page.evaluate(LAST_COLUMNS)
            assert columns, f"{where} shows no table"
            hidden = [c["column"] for c in columns if not c["shown"]]
            assert not hidden, f"{where}: last column out of reach: {hidden}"
    laptop = signed_in(browser, live_server, LAPTOP)
    laptop.goto(f"{live_server}/batches/")
    assert laptop.evaluate(
        "(() => { const box = document.querySelector('.table-wrap');"
        " return box.scrollWidth <= box.clientWidth; })()"
    ), "the batches table does not fit a laptop screen"


def test_a_field_in_error_has_a_red_border(users, live_server, browser):
    page = signed_in(browser, live_server, LAPTOP, locale="en-US")
    page.goto(f"{live_server}/services/new")
    page.locator("#f-amount").fill("-5")
    page.get_by_role("button", name="Register service", exact=True).click()
    amount = page.locator("#f-amount")
    assert amount.get_attribute("aria-invalid") == "true"
    assert amount.evaluate("e => getComputedStyle(e).borderTopColor") == DANGER
    assert amount.evaluate("e => getComputedStyle(e).borderTopWidth") == "2px"
    valid = page.locator("#f-description")
    assert valid.evaluate("e => getComputedStyle(e).borderTopColor") != DANGER
