"""In headless Chromium: a Spanish clerk's ``1500,50`` is saved as 1500.50 (the amount field no
longer leaves the reading to the browser), and the statistics' total fits its card at any width."""

from decimal import Decimal

import pytest

from tests import test_browser
from tests.conftest import PASSWORD

# The same fixtures: gunicorn and Chromium, started once for the module.
gunicorn, live_server = test_browser.gunicorn, test_browser.live_server
browser = test_browser.browser

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.redis]


def signed_in_page(browser, url: str, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{url}/login")
    page.locator("input[name=username]").fill("clerk")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("input[name=password]").press("Enter")
    page.wait_for_url(lambda address: "/login" not in address)
    return page


def test_a_spanish_clerk_types_1500_comma_50_and_it_is_saved_as_1500_50(
    users,
    live_server,
    browser,
):
    from webapp.extensions import db
    from webapp.models import Service

    page = signed_in_page(browser, live_server, "es-AR")
    page.goto(f"{live_server}/services/new")
    page.locator("#f-customerId").fill("4242")
    page.locator("#f-amount").fill("1500,50")
    page.locator("button[type=submit].primary").click()
    page.wait_for_url(f"{live_server}/services/")
    assert "$ 1.500,50" in page.content()
    db.session.rollback()
    assert list(db.session.scalars(db.select(Service.amount))) == [Decimal("1500.50")]

    page.goto(f"{live_server}/services/new")
    page.locator("#f-customerId").fill("4242")
    page.locator("#f-amount").fill("1.500")
    page.locator("button[type=submit].primary").click()
    assert "puede ser 1.500,00 o 1,50" in page.locator("#f-amount-error").inner_text()
    db.session.rollback()
    assert db.session.scalar(db.select(db.func.count()).select_from(Service)) == 1


def test_the_statistics_total_fits_its_card_at_any_width(
    users,
    factory,
    live_server,
    browser,
):
    factory.batch(factory.pendings(1, amount="9999999999.99"))
    page = signed_in_page(browser, live_server, "es-AR")
    for width in (390, 700, 900, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server}/invoices/statistics")
        figures = page.locator(".tile .figure")
        # Invoices, total, average, credited, debited and the net of notes.
        assert figures.count() == 6
        for n in range(6):
            spill = figures.nth(n).evaluate(
                """figure => {
                    const tile = figure.closest('.tile').getBoundingClientRect();
                    const box = figure.getBoundingClientRect();
                    return Math.max(figure.scrollWidth - figure.clientWidth,
                                    box.right - tile.right, tile.left - box.left);
                }"""
            )
            assert spill <= 0, (width, figures.nth(n).inner_text())
