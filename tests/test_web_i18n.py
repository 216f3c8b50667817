"""The clerks' language: every page string has a Spanish translation, the browser's language picks
one, the header switch overrides it, and amounts, dates and domain messages follow the locale."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from tests.conftest import sign_in

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT / "webapp" / "translations" / "es_AR" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {
    "_": None,
    "gettext": None,
    "ngettext": (1, 2),
    "_l": None,
    "lazy_gettext": None,
    # The domain's messages (webapp/billing/messages.py), as babel.cfg extracts them.
    "N_": None,
    "N_plural": (1, 2),
}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def spanish_catalog():
    with CATALOG.open("rb") as handle:
        return read_po(handle)


def extracted_messages() -> set:
    """Every translatable string in the code and templates, as babel.cfg extracts them."""
    method_map = [("webapp/**.py", "python"), ("templates/**.html", "jinja2")]
    found = set()
    for _filename, _lineno, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_the_spanish_catalog_translates_every_string_of_the_pages():
    catalog = spanish_catalog()
    translated = {}
    for message in catalog:
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings), f"untranslated: {msgid!r}"
        assert not message.fuzzy, f"fuzzy: {msgid!r}"
        translated[msgid] = (message.id, strings)
    missing = extracted_messages() - set(translated)
    assert not missing, f"not in {CATALOG.name}: {sorted(missing)}"


def test_translations_use_only_the_placeholders_of_their_source():
    for message in spanish_catalog():
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        allowed = set().union(*(PLACEHOLDER.findall(s) for s in sources))
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) <= allowed, message.id
        if not isinstance(message.id, tuple):
            assert set(PLACEHOLDER.findall(message.string)) == allowed, message.id


@pytest.fixture
def spanish_app(make_app, tmp_path, users):
    """An app reading the catalog compiled from the committed .po (the .mo is a build product).
    Flask-Babel caches catalogs by locale for the whole process, so the cache is emptied before
    and after: neither this app nor the next reads the other's catalogs."""
    from webapp.extensions import babel

    target = tmp_path / "es_AR" / "LC_MESSAGES"
    target.mkdir(parents=True)
    with (target / "messages.mo").open("wb") as handle:
        write_mo(handle, spanish_catalog())
    babel.domain_instance.cache.clear()
    yield make_app(BABEL_TRANSLATION_DIRECTORIES=str(tmp_path))
    babel.domain_instance.cache.clear()


def signed_in(app, language_header="es-AR,es;q=0.9"):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = language_header
    assert sign_in(client, "clerk").status_code == 302
    return client


def test_a_spanish_browser_gets_spanish_pages_with_argentine_formats(spanish_app, factory):
    from webapp.billing import clock

    service = factory.service(amount="1500.00", days_ago=3)
    html = signed_in(spanish_app).get("/services/").get_data(as_text=True)
    assert '<html lang="es">' in html
    assert ">Servicios</a>" in html
    assert "Registrar un servicio" in html
    assert "Enviar seleccionados a facturar" in html
    assert '<td class="num">$ 1.500,00</td>' in html
    assert (clock.today() - timedelta(days=3)).strftime("%d/%m/%Y") in html
    assert 'class="badge badge-created">Creado<' in html
    assert f"Seleccionar servicio {service.id}" in html


def test_an_english_browser_gets_english_pages(spanish_app, factory):
    factory.service(amount="1500.00")
    html = signed_in(spanish_app, "en-US,en;q=0.9").get("/services/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert ">Services</a>" in html
    assert '<td class="num">$ 1,500.00</td>' in html


def test_the_header_switch_overrides_the_browser_and_is_remembered(spanish_app):
    client = signed_in(spanish_app)
    assert 'value="en" class="link" lang="en">English</button>' in client.get("/").get_data(
        as_text=True
    )
    response = client.post("/language", data={"lang": "en", "next": "/pendings/"})
    assert response.headers["Location"].endswith("/pendings/")
    assert "Billing pendings" in client.get("/pendings/").get_data(as_text=True)
    assert "Billing pendings" in client.get("/pendings/").get_data(as_text=True)
    client.post("/language", data={"lang": "es"})
    assert "Pendientes de facturación" in client.get("/pendings/").get_data(as_text=True)


def test_the_switch_only_follows_local_addresses(spanish_app):
    client = signed_in(spanish_app)
    response = client.post("/language", data={"lang": "en", "next": "https://evil.example/"})
    assert response.headers["Location"] == "/"


def test_field_errors_from_the_domain_speak_spanish(spanish_app):
    client = signed_in(spanish_app)
    response = client.post(
        "/services/new",
        data={"serviceDate": "", "customerId": "0", "amount": "0", "description": ""},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "El servicio no se guardó: revisá los campos marcados" in html
    assert 'id="f-serviceDate-error">debe ser una fecha</p>' in html
    assert 'id="f-customerId-error">debe ser un número entero positivo</p>' in html
    assert 'id="f-amount-error">debe ser mayor que 0</p>' in html


def test_a_rate_the_list_does_not_offer_is_refused_with_the_rates_as_the_list_names_them(
    spanish_app, factory
):
    """A crafted form's IVA rate is refused next to the field, naming the rates the clerk can
    choose as the list shows them in Spanish, never as the API spells them."""
    customer = factory.customer()
    client = signed_in(spanish_app)
    response = client.post(
        "/services/new",
        data={
            "serviceDate": "2026-11-02",
            "customerId": str(customer.id),
            "amount": "1.234,56",
            "vatRate": "99",
            "description": "",
        },
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    error = html.split('id="f-vatRate-error">', 1)[1].split("</p>", 1)[0]
    assert error.startswith("Elegí una de las alícuotas de la lista: ")
    assert "10,5 %" in error and error.endswith("Exento")
    assert "exempt" not in error and "10.5" not in error


def test_an_issue_date_problem_is_explained_in_spanish_with_local_dates(spanish_app, factory):
    from webapp.billing import clock

    pending = factory.pendings(1)[0]
    far = clock.today() + timedelta(days=40)
    client = signed_in(spanish_app)
    html = client.post(
        "/pendings/batch",
        data={"issueDate": far.isoformat(), "receiptBook": "A-0001", "ids": [pending.id]},
    ).get_data(as_text=True)
    error = re.search(r'id="b-issueDate-error">([^<]+)</p>', html).group(1)
    assert error.startswith("debe estar a no más de 10 días de hoy")
    assert far.strftime("%d/%m/%Y") in error
    assert clock.today().strftime("%d/%m/%Y") in error


def domain_errors(factory):
    """Domain errors a clerk can meet on the pages, raised by the real domain functions."""
    from webapp.billing import batches, erp, pendings, services, users
    from webapp.billing.errors import DomainError

    sent = factory.pendings(1)[0]
    held = factory.pendings(1)
    batch = factory.batch(pendings=held, process=False)
    attempts = [
        lambda: services.update_service("t", sent.service_id, amount="1.00"),
        lambda: services.delete_service("t", sent.service_id),
        lambda: services.get_service(999_999),
        lambda: services.send_to_billing("t", [sent.service_id]),
        lambda: services.create_service("t", clock_today(), 1, "1.999"),
        lambda: services.create_service("t", clock_today(), 1, "0"),
        lambda: services.create_service("t", clock_today(), 1, "abc"),
        lambda: services.create_service("t", clock_today(), 1, "1.00", "x" * 501),
        lambda: pendings.cancel_pending("t", held[0].id),
        lambda: pendings.get_pending(999_999),
        lambda: batches.create_batch("t", clock_today(), "Z-1", [sent.id]),
        lambda: batches.create_batch("t", clock_today() + timedelta(days=60), "A-0001", [sent.id]),
        lambda: batches.create_batch("t", clock_today(), "A-0001", [held[0].id]),
        lambda: batches.create_batch("t", clock_today(), "A-0001", []),
        lambda: batches.retry_batch("t", batch.id),
        lambda: batches.get_batch(999_999),
        lambda: erp.preview(batch_id=batch.id),
        lambda: erp.get_sync("SYNC-2026-999999"),
        lambda: users.create_user("t", "bad name!", "short", "boss"),
        lambda: users.create_user("t", "clerk", "long-enough", "clerk"),
        lambda: users.create_user("t", "аdmin", "12345678", "clerk"),
        lambda: users.create_user("t", "new.clerk", " " * 8, "clerk"),
        lambda: users.create_user("t", "new.clerk", "new.clerk.2026", "clerk"),
    ]
    for attempt in attempts:
        try:
            attempt()
        except DomainError as exc:
            yield exc
        else:
            pytest.fail("expected a domain error")


def clock_today():
    from webapp.billing import clock

    return clock.today()


def test_every_domain_message_a_clerk_meets_is_worded_in_spanish(spanish_app, factory):
    """Every message a clerk meets is a coded message whose Spanish text differs from its
    English one."""
    from webapp.billing.messages import Message
    from webapp.web.labels import local_message

    errors = list(domain_errors(factory))
    with spanish_app.test_request_context(headers={"Accept-Language": "es-AR"}):
        for exc in errors:
            texts = [exc.message] + [d.get("message") or d.get("reason") for d in exc.details or []]
            for text in texts:
                assert isinstance(text, Message), text
                assert local_message(text) != str(text), text


def test_counts_in_sentences_carry_the_thousands_separator(spanish_app, factory):
    factory.bulk_pendings(1001)
    html = signed_in(spanish_app).get("/pendings/").get_data(as_text=True)
    assert "1.001 resultados" in html
    assert "con los 1.001 pendientes disponibles" in html


@pytest.mark.parametrize("language, shown", [("es-AR", "6.001"), ("en-US", "6,001")])
def test_counts_carry_the_locales_thousands_separator(app, language, shown):
    from webapp.web import local_number

    with app.test_request_context(headers={"Accept-Language": language}):
        assert local_number(6001) == shown


def history_details(html: str) -> list[str]:
    return re.findall(r'<span class="detail">([^<]*)</span>', html)


def test_a_spanish_batch_page_and_its_history_have_no_english(spanish_app, factory):
    """Created, failed (the authority did not answer), retried and invoiced: every entry of the
    history, and the batch's own failure, read in Spanish."""
    from flask import current_app

    from webapp.billing import batches, invoicing

    authority = current_app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    try:
        batch = factory.batch()
    finally:
        authority.failure_rate = 0.0
    client = signed_in(spanish_app)
    failed = client.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert "ARCA (CAE) no respondió</p>" in failed
    assert history_details(failed) == ["3 pendientes, A-0001", "ARCA (CAE) no respondió"]

    batches.retry_batch("tests", batch.id)
    invoicing.process_batch(batch.id, final_attempt=True)
    html = client.get(f"/batches/{batch.id}").get_data(as_text=True)
    assert history_details(html) == [
        "3 pendientes, A-0001",
        "ARCA (CAE) no respondió",
        "3 facturas",
    ]
    text = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S))
    for english in ("pending", "invoice", "did not answer", "Unexpected error", "Attempt", "Batch"):
        assert english not in text, english


def test_a_batch_failure_is_stored_as_its_code_and_answered_in_english(client, token, factory):
    from flask import current_app

    from webapp.billing.messages import Message, read_stored
    from webapp.extensions import db
    from webapp.models import AuditEvent, BillingBatch

    authority = current_app.extensions["lote.cae"]
    authority.failure_rate = 1.0
    try:
        batch = factory.batch()
    finally:
        authority.failure_rate = 0.0
    stored = db.session.get(BillingBatch, batch.id).error_message
    assert read_stored(stored) == Message("invoicing.cae_unanswered")
    details = db.session.scalars(
        db.select(AuditEvent.detail).where(
            AuditEvent.entity_type == "batch", AuditEvent.entity_id == batch.id
        )
    ).all()
    assert [read_stored(d) for d in details] == [
        Message("audit.batch_created", count=3, book="A-0001"),
        Message("invoicing.cae_unanswered"),
    ]
    body = client.get(f"/api/billing-batches/{batch.id}/status", headers=token()).get_json()
    assert body["batch"]["errorMessage"] == "The tax authority (CAE) did not answer"
    assert body["jobInfo"]["failedReason"] == "The tax authority (CAE) did not answer"


def test_an_audit_entry_stored_as_english_free_text_still_shows(spanish_app, factory):
    """Entries written before messages had codes are shown as they were written."""
    from webapp.billing import audit
    from webapp.extensions import db

    service = factory.service()
    audit.record("tests", "edited", "service", service.id, "amount, customer_id, description")
    db.session.commit()
    html = signed_in(spanish_app).get(f"/services/{service.id}").get_data(as_text=True)
    assert "amount, customer_id, description" in history_details(html)


def test_an_edit_names_only_the_fields_the_clerk_changed_in_their_words(spanish_app, factory):
    from webapp.billing import services

    service = factory.service(description="Flete")
    services.update_service(
        "tests",
        service.id,
        service_date=service.service_date,
        customer_id=service.customer_id,
        amount=service.amount,
        description="Flete refrigerado",
    )
    spanish = signed_in(spanish_app).get(f"/services/{service.id}").get_data(as_text=True)
    assert history_details(spanish)[-1] == "cambió descripción"
    english = signed_in(spanish_app, "en-US,en;q=0.9").get(f"/services/{service.id}")
    assert history_details(english.get_data(as_text=True))[-1] == "changed description"


@pytest.mark.parametrize(
    "language, count, shown",
    [
        ("es-AR", 1, "1 factura"),
        ("es-AR", 1001, "1.001 facturas"),
        ("en-US", 1, "1 invoice"),
        ("en-US", 1001, "1,001 invoices"),
    ],
)
def test_a_count_in_a_message_is_worded_by_ngettext_in_each_language(
    spanish_app, language, count, shown
):
    from webapp.billing.messages import Message
    from webapp.web.labels import local_message

    message = Message("audit.invoices", count=count)
    with spanish_app.test_request_context(headers={"Accept-Language": language}):
        assert local_message(message) == shown
    assert str(message) == ("1 invoice" if count == 1 else f"{count} invoices")


def test_a_stored_message_keeps_its_typed_parameters():
    from datetime import date
    from decimal import Decimal

    from webapp.billing.messages import Message, read_stored, stored
    from webapp.models import BatchStatus

    message = Message(
        "invoicing.retrying",
        attempt=2,
        reason=Message(
            "invoicing.issue_date_used",
            issue_date=date(2026, 3, 1),
            last_date=date(2026, 3, 2),
            book="A-0001",
        ),
    )
    assert read_stored(stored(message)) == message
    typed = Message("batch.not_retryable", id="7", status=BatchStatus.PROCESSED)
    assert read_stored(stored(typed)) == typed
    amount = Message("audit.amount", amount=Decimal("1500.00"))
    assert read_stored(stored(amount)) == amount
    assert str(amount) == "amount 1500.00"
    assert read_stored('{"code": "no.such.code", "params": {}}') == (
        '{"code": "no.such.code", "params": {}}'
    )
