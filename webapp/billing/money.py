"""Money is exact: Decimal with two places, read from ASCII digits (docs/rules.md rule 1)."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import NumberFormatError, parse_decimal

from webapp.billing.messages import Message

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999.99")
# Typed amounts are ASCII digits: Decimal() also reads other scripts' digits ("١.00") and "_".
AMOUNT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def parse_amount(value) -> Decimal:
    """An amount is a number > 0 with at most two decimals that fits Numeric(12, 2).

    Raises ValueError with the ``Message`` that says why."""
    if isinstance(value, bool) or (
        isinstance(value, str) and not AMOUNT_TEXT.fullmatch(value.strip())
    ):
        raise ValueError(Message("amount.format"))
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError(Message("amount.format")) from None
    if not amount.is_finite():
        raise ValueError(Message("amount.format"))
    if amount <= 0:
        raise ValueError(Message("amount.positive"))
    if amount > MAX_AMOUNT:
        raise ValueError(Message("amount.at_most", amount=MAX_AMOUNT))
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError(Message("amount.two_decimals"))
    return amount.quantize(CENT)


def as_text(amount: Decimal) -> str:
    """The JSON form of money: a string with two decimals."""
    return str(Decimal(amount).quantize(CENT))


class AmountFormatError(ValueError):
    """An amount typed in a locale's form that cannot be read safely. ``readings`` are what the
    text could mean: two for an ambiguous text, one when it reads only with the separators
    swapped (``1500.50`` typed on a Spanish page), none when it is no number at all."""

    def __init__(self, text: str, readings: tuple[Decimal, ...] = ()):
        super().__init__(f"{text!r} is not an amount in this locale's form")
        self.text = text
        self.readings = readings


def parse_local_amount(text: str, locale: str) -> Decimal:
    """Reads an amount as a person types it in ``locale`` (``1500,50`` or ``1.500,50`` in es-AR,
    ``1500.50`` or ``1,500.50`` in English) without ever changing its magnitude:

    - only ASCII digits, the locale's decimal and group separators and a leading minus;
    - a group separator is followed by groups of exactly three digits (Babel's strict mode);
    - a single separator followed by exactly three digits (``1.500``, ``1,500``) is refused as
      ambiguous in any locale: it is a thousand to one reader and one and a half to another.

    The result is unchecked (sign, decimals, size): ``parse_amount`` rules on it. Raises
    AmountFormatError with what the text could mean."""
    text = (text or "").strip()
    if not re.fullmatch(r"-?[0-9.,]+", text) or not re.search(r"[0-9]", text):
        raise AmountFormatError(text)
    separators = re.findall(r"[.,]", text)
    if len(separators) == 1 and re.fullmatch(r"-?[0-9]+[.,][0-9]{3}", text):
        mark = separators[0]
        raise AmountFormatError(
            text, (Decimal(text.replace(mark, "")), Decimal(text.replace(mark, ".")))
        )
    try:
        return parse_decimal(text, locale=locale, strict=True)
    except NumberFormatError:
        pass
    swapped = text.translate(str.maketrans(".,", ",."))
    try:
        readings = (parse_decimal(swapped, locale=locale, strict=True),)
    except NumberFormatError:
        readings = ()
    raise AmountFormatError(text, readings)
