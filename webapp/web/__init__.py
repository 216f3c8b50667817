"""The HTML blueprints: one per area, thin adapters over the billing domain."""

from babel.numbers import format_decimal
from flask import Flask, current_app
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from webapp.models import Role

NAVIGATION = [
    ("customers.index", _l("Customers"), Role.VIEWER),
    ("services.index", _l("Services"), Role.VIEWER),
    ("pendings.index", _l("Pendings"), Role.VIEWER),
    ("batches.index", _l("Batches"), Role.VIEWER),
    ("invoices.index", _l("Invoices"), Role.VIEWER),
    ("erp.index", _l("ERP"), Role.VIEWER),
    ("users.index", _l("Users"), Role.ADMIN),
    ("settings.issuer_settings", _l("Issuer"), Role.ADMIN),
]


def main_navigation() -> list[tuple[str, str]]:
    return [
        (endpoint, label)
        for endpoint, label, role in NAVIGATION
        if endpoint in current_app.view_functions and current_user.can(role)
    ]


def local_number(count: int | None) -> str:
    """A count as the clerk reads it: ``6.001`` in Spanish, ``6,001`` in English."""
    return "" if count is None else format_decimal(count, locale=str(get_locale()))


def register_web(app: Flask) -> None:
    from webapp.billing.pagination import PAGE_SIZES
    from webapp.web import (
        batches,
        customers,
        erp,
        invoices,
        main,
        pendings,
        services,
        settings,
        users,
    )
    from webapp.web.i18n import register_filters
    from webapp.web.messages import register_labels
    from webapp.web.rendering import page_url_args

    register_filters(app)
    register_labels(app)
    customers.register_filters(app)
    app.jinja_env.filters["local_number"] = local_number
    app.jinja_env.globals["main_navigation"] = main_navigation
    app.jinja_env.globals["Role"] = Role
    app.jinja_env.globals["page_url_args"] = page_url_args
    app.jinja_env.globals["PAGE_SIZES"] = PAGE_SIZES
    app.register_blueprint(main.bp)
    app.register_blueprint(services.bp, url_prefix="/services")
    app.register_blueprint(pendings.bp, url_prefix="/pendings")
    app.register_blueprint(batches.bp, url_prefix="/batches")
    app.register_blueprint(invoices.bp, url_prefix="/invoices")
    app.register_blueprint(erp.bp, url_prefix="/erp")
    app.register_blueprint(users.bp, url_prefix="/users")
    app.register_blueprint(customers.bp, url_prefix="/customers")
    app.register_blueprint(settings.bp, url_prefix="/settings")
