"""URL converters: an id in a path is written in ASCII digits."""

from werkzeug.routing import IntegerConverter

from webapp.billing.ids import ASCII_DIGITS


class AsciiIntegerConverter(IntegerConverter):
    """``<int:...>`` that matches ASCII digits only; werkzeug's ``\\d`` also matches other
    scripts' digits, so "/services/１" named service 1."""

    regex = ASCII_DIGITS


def register_converters(app) -> None:
    """Replaces ``int`` before any rule is added, so every page and API route uses it."""
    app.url_map.converters["int"] = AsciiIntegerConverter
