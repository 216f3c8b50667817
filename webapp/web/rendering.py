"""Helpers every page blueprint shares: fragment-or-page rendering and query-string parsing."""

from datetime import date

from flask import make_response, render_template, request

from webapp.billing.pagination import DEFAULT_LIMIT
from webapp.models import MAX_ID


def render_page_or_fragment(page: str, fragment: str, **context):
    """The fragment alone for htmx requests, the whole page otherwise; one URL serves both, so
    caches are told the answer varies with HX-Request."""
    template = fragment if request.headers.get("HX-Request") == "true" else page
    response = make_response(render_template(template, **context))
    response.headers["Vary"] = "HX-Request"
    return response


class QueryArgs:
    """Reads filters from the query string; a bad value is reported, never a 500."""

    def __init__(self, args=None):
        self.args = args if args is not None else request.args
        self.errors: dict[str, str] = {}

    def int(self, name: str, minimum: int = 1) -> int | None:
        raw = self.args.get(name, "").strip()
        if not raw:
            return None
        if not raw.isdigit() or int(raw) < minimum or int(raw) > MAX_ID:
            self.errors[name] = "must be a positive whole number"
            return None
        return int(raw)

    def date(self, name: str) -> date | None:
        raw = self.args.get(name, "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "must be a date"
            return None

    def choice(self, name: str, enum_cls):
        raw = self.args.get(name, "").strip()
        if not raw:
            return None
        try:
            return enum_cls(raw)
        except ValueError:
            self.errors[name] = "is not a known value"
            return None

    def text(self, name: str) -> str | None:
        return self.args.get(name, "").strip() or None

    def page(self) -> tuple[int, int]:
        """The page number and its size (``limit``); the domain refuses a size out of range."""
        return self.int("page") or 1, self.int("limit") or DEFAULT_LIMIT


def page_url_args(exclude: str = "page") -> dict:
    """The current query string without ``exclude``, for pagination and filter links."""
    return {k: v for k, v in request.args.items() if k != exclude and v}
