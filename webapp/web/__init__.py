"""The HTML blueprints: one per area, thin adapters over the billing domain."""

from functools import wraps

from flask import Flask, current_app
from flask_babel import format_decimal
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from jinja2 import pass_context

from webapp.models import Role

NAVIGATION = [
    ("customers.index", _l("Customers"), Role.VIEWER),
    ("services.index", _l("Services"), Role.VIEWER),
    ("pendings.index", _l("Pendings"), Role.VIEWER),
    ("batches.index", _l("Batches"), Role.VIEWER),
    ("receipt_books.index", _l("Receipt books"), Role.VIEWER),
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
    return "" if count is None else format_decimal(count)


def per_reader(template_filter):
    """A filter worked out at each rendering. Jinja works out a filter of a constant (``"1500.50"
    | amount_text``) once, when it compiles the template, and keeps the answer: in the language
    of whoever loaded the page first. Lote's filters all answer in the reader's language."""

    @pass_context
    @wraps(template_filter)
    def rendered(_context, *args, **kwargs):
        return template_filter(*args, **kwargs)

    return rendered


def register_template_helpers(app: Flask) -> None:
    """Every filter and global the page templates use, registered here and nowhere else."""
    from webapp.billing.pagination import PAGE_SIZES
    from webapp.web import customers, i18n
    from webapp.web.labels import register_labels
    from webapp.web.rendering import page_url_args

    others = set(app.jinja_env.filters)
    app.jinja_env.filters.update(
        money=i18n.money,
        amount_text=i18n.amount_text,
        local_date=i18n.local_date,
        local_datetime=i18n.local_datetime,
        local_month=i18n.local_month,
        local_number=local_number,
        doc_type_label=customers.doc_type_label,
        iva_condition_label=customers.iva_condition_label,
        doc_number=customers.doc_number,
        customer_name=customers.customer_name,
        vat_rate=i18n.vat_rate,
    )
    # Status, role, queue and audit labels, and the domain's messages.
    register_labels(app)
    for name in set(app.jinja_env.filters) - others:
        app.jinja_env.filters[name] = per_reader(app.jinja_env.filters[name])
    app.jinja_env.globals.update(
        current_language=i18n.current_language,
        main_navigation=main_navigation,
        Role=Role,
        page_url_args=page_url_args,
        PAGE_SIZES=PAGE_SIZES,
    )


def register_web(app: Flask) -> None:
    from webapp.web import (
        batches,
        books,
        customers,
        erp,
        invoices,
        main,
        pendings,
        services,
        settings,
        users,
    )

    register_template_helpers(app)
    app.register_blueprint(main.bp)
    app.register_blueprint(services.bp, url_prefix="/services")
    app.register_blueprint(pendings.bp, url_prefix="/pendings")
    app.register_blueprint(batches.bp, url_prefix="/batches")
    app.register_blueprint(books.bp, url_prefix="/receipt-books")
    app.register_blueprint(invoices.bp, url_prefix="/invoices")
    app.register_blueprint(erp.bp, url_prefix="/erp")
    app.register_blueprint(users.bp, url_prefix="/users")
    app.register_blueprint(customers.bp, url_prefix="/customers")
    app.register_blueprint(settings.bp, url_prefix="/settings")
