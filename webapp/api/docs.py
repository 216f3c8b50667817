"""GET /api/docs: the browsable API, Swagger UI over /api/openapi.json, served from our own
static files so the page keeps the strict Content-Security-Policy. A signed-in clerk opens it in
the browser; it is not part of the documented API itself."""

from flask import render_template


def docs():
    return render_template("api/docs.html")
