"""Sign-in, language, health and the dashboard."""

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter.errors import RateLimitExceeded
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import text
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired

from webapp.auth import LOCKED_OUT, sign_in_limited
from webapp.billing import batches, erp, invoices, status_counts, users
from webapp.extensions import db, huey
from webapp.models import (
    BillingPending,
    PendingStatus,
    Service,
    ServiceStatus,
)
from webapp.web.labels import local_message

bp = Blueprint("web", __name__)


class LoginForm(FlaskForm):
    username = StringField("username", validators=[DataRequired()])
    password = PasswordField("password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    if (
        target
        and target.startswith("/")
        and not target.startswith("//")
        and not urlsplit(target).netloc
    ):
        return target
    return url_for("web.dashboard")


@bp.route("/login", methods=["GET", "POST"])
@sign_in_limited
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        user = users.authenticate(form.username.data, form.password.data)
        if user is not None:
            login_user(user)
            session.permanent = False
            return redirect(_safe_next(request.args.get("next")))
        flash(_("Wrong username or password, or the user is deactivated."), "error")
    status = 400 if request.method == "POST" and form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.errorhandler(RateLimitExceeded)
def sign_in_locked_out(exc: RateLimitExceeded):
    """A locked-out sign-in shows the form again with the reason, not a bare error page: the
    password, right or wrong, was not checked."""
    form = LoginForm()
    return render_template(
        "auth/login.html",
        form=form,
        locked_out=local_message(LOCKED_OUT.get(exc.limit.scope, exc.description)),
    ), 429


@bp.post("/logout")
def logout():
    """Signing out ends every session and token of the user, not only this browser's: the
    cookie this browser had cannot be replayed."""
    users.sign_out(current_user.id)
    logout_user()
    flash(_("You have signed out."), "info")
    return redirect(url_for("web.login"))


@bp.post("/language")
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
    return redirect(_safe_next(request.form.get("next")))


@bp.get("/health")
def health():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "up"
    except Exception:
        db.session.rollback()
        checks["database"] = "down"
    try:
        huey.pending_count()
        checks["queue"] = "up"
    except Exception:
        checks["queue"] = "down"
    healthy = all(v == "up" for v in checks.values())
    # Missing catalogs degrade the pages, not the service: reported, still answered with 200.
    translated = not current_app.extensions["lote.missing_catalogs"]
    body = {
        "status": "ok" if healthy and translated else "degraded",
        **checks,
        "translations": "ok" if translated else "missing",
        "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    return jsonify(body), 200 if healthy else 503


@bp.get("/")
def dashboard():
    invoice_count, invoiced_total = invoices.overall_totals()
    batch_counts = batches.count_by_status()
    return render_template(
        "dashboard/index.html",
        service_counts=status_counts.by_status(Service, ServiceStatus),
        pending_counts=status_counts.by_status(BillingPending, PendingStatus),
        batch_counts=batch_counts,
        sync_counts=erp.sync_counts(),
        invoice_count=invoice_count,
        invoiced_total=invoiced_total,
        queue=batches.queue_stats(batch_counts),
        last_batches=batches.list_batches(batches.BatchFilters(), 1, 8).items,
    )
