"""GET /api/docs: the browsable API, Swagger UI over /api/openapi.json, served from our own
static files so the page keeps the strict Content-Security-Policy. It is a page, not part of the
documented API: a signed-in user opens it from the footer link, and a signed-out browser is sent
to the sign-in page (``auth.API_PAGES``), not answered with the API's JSON 401."""

from flask import render_template


def docs():
    return render_template("api/docs.html")
