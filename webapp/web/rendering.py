"""Helpers every page blueprint shares: fragment-or-page rendering and query-string parsing."""

from datetime import date

from flask import make_response, render_template
from htmx_flask import request

from webapp.billing.ids import whole_number
from webapp.billing.messages import Message
from webapp.billing.pagination import DEFAULT_LIMIT

# Where a request keeps the filters its list read (the WSGI environ lives exactly one request).
LIST_FILTERS = "lote.list_filters"


def render_page_or_fragment(page: str, fragment: str, **context):
    """The fragment alone for htmx requests (htmx-flask's ``request.htmx``), the whole page
    otherwise; one URL serves both, so caches are told the answer varies with HX-Request."""
    template = fragment if request.htmx else page
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response


class QueryArgs:
    """Reads filters from the query string; a bad value is reported, never a 500. Each filter
    read is noted for the page's links (``page_url_args``)."""

    def __init__(self):
        self.args = request.args
        self.errors: dict[str, Message | str] = {}

    def _raw(self, name: str) -> str:
        raw = self.args.get(name, "").strip()
        if raw:
            request.environ.setdefault(LIST_FILTERS, {})[name] = raw
        return raw

    def int(self, name: str, minimum: int = 1) -> int | None:
        raw = self._raw(name)
        if not raw:
            return None
        number = whole_number(raw)
        if number is None or number < minimum:
            self.errors[name] = Message("field.must_be_positive_number")
            return None
        return number

    def date(self, name: str) -> date | None:
        raw = self._raw(name)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = Message("field.must_be_date")
            return None

    def choice(self, name: str, enum_cls):
        raw = self._raw(name)
        if not raw:
            return None
        try:
            return enum_cls(raw)
        except ValueError:
            self.errors[name] = Message("field.not_a_known_value")
            return None

    def text(self, name: str) -> str | None:
        return self._raw(name) or None

    def page(self) -> tuple[int, int]:
        """The page number and its size (``limit``); the domain refuses a size out of range."""
        return self.int("page") or 1, self.int("limit") or DEFAULT_LIMIT


def page_url_args(exclude: str | None = "page") -> dict:
    """The filters of this page's list, but ``exclude``, for its pagination, filter and form
    links: only the names the list read through QueryArgs, as typed. Never the raw query string:
    url_for takes some keys for its own (``_external``, ``_anchor``, ``_scheme``, ``_method``,
    ``endpoint``), so a crafted link could point elsewhere or fail."""
    return {k: v for k, v in request.environ.get(LIST_FILTERS, {}).items() if k != exclude}
