"""What every page form shares: the values the clerk typed, kept for the next render, and the
domain's errors placed next to the fields they name.

Views convert what they can (digits to int, ISO text to dates) and hand anything else to the
domain unchanged: the domain checks every field and names each problem, so no rule is written
twice."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from flask import g, request
from flask_babel import get_locale
from flask_babel import gettext as _

from webapp.auth import Forbidden
from webapp.billing.errors import DomainError
from webapp.billing.ids import whole_number
from webapp.billing.messages import Message
from webapp.billing.money import AmountFormatError, parse_local_amount
from webapp.models import Role
from webapp.web import local_number
from webapp.web.i18n import amount_text
from webapp.web.labels import local_message
from webapp.web.rendering import QueryArgs

MAX_REFUSED_SHOWN = 50
REFUSED_IN_BANNER = 5


@dataclass
class FormState:
    """A form's typed values, its errors by field name, and an error about the whole form."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None
    refused: list[dict] = field(default_factory=list)

    @classmethod
    def from_request(cls, *names: str) -> "FormState":
        return cls(values={name: request.form.get(name, "").strip() for name in names})

    def fail(self, exc: DomainError) -> "FormState":
        """Places a domain error: field details next to their fields, refused ids in a list, and
        the message on top."""
        self.message = local_message(exc.message)
        for detail in exc.details or []:
            if "field" in detail:
                self.errors.setdefault(detail["field"], local_message(detail["message"]))
            elif "id" in detail:
                self.refused.append(
                    {"id": detail["id"], "reason": local_message(detail.get("reason"))}
                )
        if any(error in self.message for error in self.errors.values()):
            # The domain's message repeats a field's error, which is shown next to the field.
            self.message = _("Correct the marked fields.")
        return self

    @property
    def refused_hidden(self) -> int:
        return max(0, len(self.refused) - MAX_REFUSED_SHOWN)


def int_or_raw(raw: str):
    """An int when the text writes one the database holds; otherwise the text, for the domain to
    refuse by name."""
    raw = (raw or "").strip()
    number = whole_number(raw)
    return raw if number is None else number


def date_or_raw(raw: str):
    raw = (raw or "").strip()
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return raw


# How a reading of an ambiguous or misspelt amount is shown: every decimal it has, at least two.
READING_PATTERN = "#,##0.00##########"
EXAMPLE_AMOUNT = Decimal("1500.50")


def local_amount(raw: str, errors: dict, name: str) -> Decimal | None:
    """The amount typed in the reader's locale (``parse_local_amount``), or None with the reason
    in ``errors[name]``: what the text could mean, written the reader's way."""
    try:
        return parse_local_amount(raw, str(get_locale()))
    except AmountFormatError as exc:
        errors[name] = _amount_problem(exc)
        return None


def _amount_problem(exc: AmountFormatError) -> str:
    if len(exc.readings) == 2:
        first, second = exc.readings
        return _(
            "“%(text)s” could mean %(first)s or %(second)s: type %(first_typed)s or "
            "%(second_typed)s",
            text=exc.text,
            first=amount_text(first),
            second=amount_text(second, READING_PATTERN),
            first_typed=amount_text(first, "0.##"),
            second_typed=amount_text(second, "0.00##########"),
        )
    if exc.readings:
        return _(
            "“%(text)s” is not how amounts are written here: did you mean %(reading)s?",
            text=exc.text,
            reading=amount_text(exc.readings[0], READING_PATTERN),
        )
    return _(
        "must be an amount such as %(grouped)s or %(plain)s",
        grouped=amount_text(EXAMPLE_AMOUNT),
        plain=amount_text(EXAMPLE_AMOUNT, "0.00"),
    )


def selected_ids(name: str = "ids") -> list:
    return [int_or_raw(value) for value in request.form.getlist(name)]


def chosen_ids() -> set[str]:
    """The rows ticked in the form just posted, to keep them ticked when it is shown again."""
    return set(request.form.getlist("ids"))


def run_listing(args: QueryArgs, listing, *params):
    """Runs a domain list query unless a filter was unreadable. Returns the result (None when the
    filters are wrong), the filter form (what was asked and what is wrong with it), and the HTTP
    status to answer with."""
    filters = FormState(
        values=args.args.to_dict(),
        errors={name: local_message(message) for name, message in args.errors.items()},
    )
    if filters.errors:
        return None, filters, 400
    try:
        return listing(*params), filters, 200
    except DomainError as exc:
        filters.fail(exc)
        if not filters.errors:
            filters.errors["page"] = filters.message
        return None, filters, exc.status_code


def refuse_viewers() -> None:
    """A form is offered only to who may submit it: a viewer asking for one gets the 403 its
    submission would get, before typing anything."""
    if not g.user.can(Role.CLERK):
        raise Forbidden(Message("access.viewer"))


def refusal_banner(exc: DomainError) -> str:
    """A domain refusal as one flash banner: its message, then the first refused rows with
    their reasons."""
    state = FormState().fail(exc)
    if not state.refused:
        return state.message or ""
    shown = "; ".join(
        f"#{item['id']} {item['reason']}" for item in state.refused[:REFUSED_IN_BANNER]
    )
    hidden = len(state.refused) - REFUSED_IN_BANNER
    if hidden > 0:
        shown = _("%(rows)s and %(count)s more", rows=shown, count=local_number(hidden))
    return _("%(message)s: %(rows)s.", message=state.message, rows=shown)
