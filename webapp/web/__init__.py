"""The HTML blueprints: one per area, thin adapters over the billing domain."""

from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.models import Role

NAVIGATION = [
    ("services.index", _l("Services"), Role.VIEWER),
    ("pendings.index", _l("Pendings"), Role.VIEWER),
    ("batches.index", _l("Batches"), Role.VIEWER),
    ("invoices.index", _l("Invoices"), Role.VIEWER),
    ("erp.index", _l("ERP"), Role.VIEWER),
    ("users.index", _l("Users"), Role.ADMIN),
]


def main_navigation() -> list[tuple[str, str]]:
    return [
        (endpoint, label)
        for endpoint, label, role in NAVIGATION
        if endpoint in current_app.view_functions and current_user.can(role)
    ]


def register_web(app: Flask) -> None:
    from webapp.web import main
    from webapp.web.i18n import register_filters

    register_filters(app)
    app.jinja_env.globals["main_navigation"] = main_navigation
    app.register_blueprint(main.bp)
