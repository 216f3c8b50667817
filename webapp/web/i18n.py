"""The clerks' language: Spanish (es-AR) or English, picked by the browser, overridden by a switch
remembered in the session. Money and dates are formatted here, once, for every page."""

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from flask import current_app, request, session
from flask_babel import format_date, format_datetime, format_decimal, get_locale

SOURCE_LANGUAGE = "en"  # the templates' and the code's own words need no catalog
MONEY_PATTERN = "#,##0.00"
DATE_PATTERNS = {"es": "dd/MM/yyyy", "en": "MM/dd/yyyy"}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    chosen = session.get("lang")
    if chosen not in languages:
        chosen = request.accept_languages.best_match(list(languages)) or "es"
    return languages[chosen]


def missing_catalogs(app) -> list[str]:
    """The page locales whose compiled catalog (``messages.mo``) is not installed: their pages
    would silently show the source (English) words. ``pybabel compile`` makes them."""
    directories = app.config.get("BABEL_TRANSLATION_DIRECTORIES", "translations").split(";")
    domain = app.config.get("BABEL_DOMAIN", "messages")
    return [
        locale
        for language, locale in app.config["LANGUAGES"].items()
        if language != SOURCE_LANGUAGE
        and not any(
            (Path(app.root_path) / directory / locale / "LC_MESSAGES" / f"{domain}.mo").is_file()
            for directory in directories
        )
    ]


def current_language() -> str:
    return str(get_locale() or "es").split("_")[0]


def money(amount: Decimal | None) -> str:
    """``$ 1.500,00`` in Spanish, ``$ 1,500.00`` in English."""
    if amount is None:
        return ""
    return "$ " + amount_text(amount)


def amount_text(amount: Decimal, pattern: str = MONEY_PATTERN) -> str:
    """An amount as the clerk types it, without the currency: ``1.500,00``, ``1,500.00``."""
    return format_decimal(Decimal(amount), format=pattern)


def local_date(value: date | None) -> str:
    if value is None:
        return ""
    return format_date(value, DATE_PATTERNS[current_language()])


def local_datetime(value: datetime | None) -> str:
    """A moment on the business's clock (Flask-Babel's timezone, ``BABEL_DEFAULT_TIMEZONE``)."""
    if value is None:
        return ""
    return format_datetime(value, DATE_PATTERNS[current_language()] + " HH:mm:ss")


def local_month(key: str) -> str:
    """A statistics month (``2026-01``) as the clerk reads it: ``Enero 2026``, ``January 2026``."""
    try:
        year, month = (int(part) for part in key.split("-"))
    except ValueError:
        return key
    label = format_date(date(year, month, 1), "LLLL yyyy")
    return label[:1].upper() + label[1:]


def vat_rate(rate) -> str:
    """An IVA rate the reader's way: ``10,5`` in Spanish, ``10.5`` in English."""
    return format_decimal(rate)
