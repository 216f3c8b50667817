"""Users (supervisors only): the list, create, change role, deactivate and activate."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from webapp.auth import actor, requires
from webapp.billing import users
from webapp.billing.errors import Conflict, InvalidInput
from webapp.models import Role
from webapp.web.forms import FormState, run_listing
from webapp.web.labels import local_message, role_label
from webapp.web.rendering import QueryArgs

bp = Blueprint("users", __name__)
USERS_PER_PAGE = 50


@bp.before_request
@requires(Role.ADMIN)
def only_supervisors():
    """Every page here is for supervisors, reads included."""


@bp.get("/")
def index():
    args = QueryArgs()
    page = args.int("page") or 1
    result, filter_form, status = run_listing(args, users.list_users, page, USERS_PER_PAGE)
    # Each row's role form, showing the role the user has.
    role_forms = (
        {user.id: FormState(values={"role": user.role.value}) for user in result.items}
        if result is not None
        else {}
    )
    page_html = render_template(
        "users/index.html",
        result=result,
        filters=filter_form,
        roles=list(Role),
        role_forms=role_forms,
    )
    return page_html, status


@bp.route("/new", methods=["GET", "POST"])
def create():
    if request.method == "POST":
        return _create_user()
    return render_template(
        "users/form.html", form=FormState(values={"role": Role.CLERK.value}), roles=list(Role)
    )


def _create_user():
    form = FormState.from_request("username", "role")
    try:
        user = users.create_user(
            actor(), form.values["username"], request.form.get("password", ""), form.values["role"]
        )
    except (InvalidInput, Conflict) as exc:
        return render_template("users/form.html", form=form.fail(exc), roles=list(Role)), (
            exc.status_code
        )
    flash(
        _("User %(name)s created as %(role)s.", name=user.username, role=role_label(user.role)),
        "success",
    )
    return redirect(url_for("users.index"))


@bp.post("/<int:user_id>/role")
def change_role(user_id: int):
    try:
        user = users.change_role(actor(), user_id, request.form.get("role", ""))
    except (InvalidInput, Conflict) as exc:
        state = FormState().fail(exc)
        flash(state.errors.get("role") or state.message, "error")
    else:
        flash(
            _("%(name)s is now %(role)s.", name=user.username, role=role_label(user.role)),
            "success",
        )
    return redirect(url_for("users.index"))


@bp.route("/<int:user_id>/deactivate", methods=["GET", "POST"])
def deactivate(user_id: int):
    if request.method == "POST":
        return _set_active(user_id, active=False)
    return render_template("users/deactivate.html", user=users.get_user(user_id))


@bp.post("/<int:user_id>/activate")
def activate(user_id: int):
    return _set_active(user_id, active=True)


def _set_active(user_id: int, active: bool):
    try:
        user = users.set_active(actor(), user_id, active)
    except Conflict as exc:
        flash(local_message(exc.message), "error")
    else:
        if active:
            flash(_("%(name)s can sign in again.", name=user.username), "success")
        else:
            flash(_("%(name)s can no longer sign in.", name=user.username), "success")
    return redirect(url_for("users.index"))
