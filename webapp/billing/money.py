"""Money is exact: Decimal with two places, IVA split with half-up rounding (DESIGN rule 1-2)."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CENT = Decimal("0.01")
VAT_RATE = Decimal("0.21")
MAX_AMOUNT = Decimal("9999999999.99")
# Typed amounts are ASCII digits: Decimal() also reads other scripts' digits ("١.00") and "_".
AMOUNT_TEXT = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


def parse_amount(value) -> Decimal:
    """An amount is a number > 0 with at most two decimals that fits Numeric(12, 2).

    Raises ValueError with a message fit for a clerk."""
    if isinstance(value, bool) or (
        isinstance(value, str) and not AMOUNT_TEXT.fullmatch(value.strip())
    ):
        raise ValueError("must be a number such as 1500.00")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValueError("must be a number such as 1500.00") from None
    if not amount.is_finite():
        raise ValueError("must be a number such as 1500.00")
    if amount <= 0:
        raise ValueError("must be greater than 0")
    if amount > MAX_AMOUNT:
        raise ValueError(f"must be at most {MAX_AMOUNT}")
    if amount != amount.quantize(CENT, rounding=ROUND_HALF_UP):
        raise ValueError("must have at most two decimals")
    return amount.quantize(CENT)


def split_vat(amount: Decimal) -> tuple[Decimal, Decimal]:
    """An invoice amount includes 21% IVA: net = round_half_up(amount / 1.21), IVA = the rest."""
    net = (amount / (1 + VAT_RATE)).quantize(CENT, rounding=ROUND_HALF_UP)
    return net, amount - net


def as_text(amount: Decimal) -> str:
    """The JSON form of money: a string with two decimals."""
    return str(Decimal(amount).quantize(CENT))
