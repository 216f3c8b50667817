"""Money is exact (docs/rules.md rules 1-2): amounts parsed strictly, IVA split half-up at every
rate, exempt amounts and class C invoices without IVA."""

from decimal import Decimal

import pytest

from webapp.billing.documents import split_amount
from webapp.billing.money import (
    MAX_AMOUNT,
    AmountFormatError,
    as_text,
    parse_amount,
    parse_local_amount,
)


def split_vat(amount: Decimal) -> tuple[Decimal, Decimal]:
    """Net and IVA of an amount at the default 21%."""
    amounts = split_amount(amount, "21")
    assert amounts.exempt == 0
    return amounts.net, amounts.vat


def half_up_net_cents(amount_cents: int) -> int:
    """The reference net in cents, in integers only: round_half_up(cents * 100 / 121)."""
    return (2 * amount_cents * 100 + 121) // 242


@pytest.mark.parametrize(
    ("amount", "net", "vat"),
    [
        ("1210.00", "1000.00", "210.00"),
        ("121.00", "100.00", "21.00"),
        ("100.00", "82.64", "17.36"),  # 82.6446...
        ("1500.00", "1239.67", "260.33"),  # 1239.6694...
        ("0.01", "0.01", "0.00"),  # 0.00826... rounds up to a cent
        ("0.02", "0.02", "0.00"),  # 0.01652...
        ("0.03", "0.02", "0.01"),  # 0.02479...
        ("10.00", "8.26", "1.74"),  # 8.2644...
        ("9999999999.99", "8264462809.91", "1735537190.08"),  # the largest amount
    ],
)
def test_split_vat_gives_net_rounded_half_up_and_vat_as_the_rest(amount, net, vat):
    assert split_vat(Decimal(amount)) == (Decimal(net), Decimal(vat))


def test_split_vat_rounds_an_exact_half_cent_up_not_to_even():
    # 12.15445 / 1.21 = 10.045 exactly: half-up gives 10.05, banker's rounding would give 10.04.
    net, _ = split_vat(Decimal("12.15445"))
    assert net == Decimal("10.05")


def test_split_vat_matches_integer_half_up_for_every_cent_up_to_300():
    for cents in range(1, 30_001):
        amount = Decimal(cents) / 100
        net, vat = split_vat(amount)
        assert net == Decimal(half_up_net_cents(cents)) / 100, amount
        assert net + vat == amount
        assert vat >= 0
        assert net.as_tuple().exponent == -2 and vat.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("rate", "amount", "net", "vat"),
    [
        ("10.5", "1105.00", "1000.00", "105.00"),
        ("27", "127.00", "100.00", "27.00"),
        ("5", "105.00", "100.00", "5.00"),
        ("2.5", "102.50", "100.00", "2.50"),
        ("0", "100.00", "100.00", "0.00"),
        ("10.5", "100.00", "90.50", "9.50"),  # 90.4977... rounds up
    ],
)
def test_every_rate_splits_net_half_up_and_iva_as_the_rest(rate, amount, net, vat):
    amounts = split_amount(Decimal(amount), rate)
    assert (amounts.net, amounts.vat, amounts.exempt) == (Decimal(net), Decimal(vat), 0)


def test_an_exempt_amount_has_no_net_and_no_iva():
    amounts = split_amount(Decimal("500.00"), "exempt")
    assert (amounts.net, amounts.vat, amounts.exempt) == (0, 0, Decimal("500.00"))


def test_a_class_c_invoice_reports_the_whole_amount_as_net_and_no_iva():
    amounts = split_amount(Decimal("500.00"), None)
    assert (amounts.net, amounts.vat, amounts.exempt) == (Decimal("500.00"), 0, 0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1500", "1500.00"),
        ("1500.5", "1500.50"),
        ("1500.55", "1500.55"),
        (" 12.30 ", "12.30"),
        (1500, "1500.00"),
        (19.99, "19.99"),
        (Decimal("0.01"), "0.01"),
        ("9999999999.99", "9999999999.99"),
    ],
)
def test_parse_amount_accepts_positive_amounts_with_up_to_two_decimals(value, expected):
    amount = parse_amount(value)
    assert amount == Decimal(expected)
    assert str(amount) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        False,
        "",
        "   ",
        "abc",
        "12,50",
        "1.500,00",
        "NaN",
        "Infinity",
        "-Infinity",
        float("nan"),
        float("inf"),
        [],
        {},
        "0",
        "0.00",
        0,
        "-0.01",
        -5,
        "0.001",
        "1.005",
        "1500.555",
        0.1 + 0.2,
        "10000000000.00",
        10**20,
        10**30,
        "1e30",
        "1E+400",
    ],
)
def test_parse_amount_refuses_anything_but_a_positive_two_decimal_amount(value):
    with pytest.raises(ValueError):
        parse_amount(value)


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("-1", "greater than 0"),
        ("0", "greater than 0"),
        ("0.001", "two decimals"),
        ("abc", "number"),
        (True, "number"),
        (str(MAX_AMOUNT + Decimal("0.01")), str(MAX_AMOUNT)),
    ],
)
def test_parse_amount_refusals_say_what_is_wrong(value, words):
    with pytest.raises(ValueError, match=words):
        parse_amount(value)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1500"), "1500.00"),
        (Decimal("0.1"), "0.10"),
        (Decimal("1210.00"), "1210.00"),
        (Decimal("0"), "0.00"),
        (12, "12.00"),
    ],
)
def test_as_text_writes_money_with_two_decimals(amount, text):
    assert as_text(amount) == text


@pytest.mark.parametrize(
    ("text", "locale", "amount"),
    [
        ("1500,50", "es_AR", "1500.50"),
        ("1.500,50", "es_AR", "1500.50"),
        ("1.500.000", "es_AR", "1500000"),
        ("12,5", "es_AR", "12.5"),
        ("1500.50", "en_US", "1500.50"),
        ("1,500.50", "en_US", "1500.50"),
        ("1,500,000", "en_US", "1500000"),
        ("1500", "en_US", "1500"),
    ],
)
def test_an_amount_typed_the_locales_way_keeps_its_magnitude(text, locale, amount):
    assert parse_local_amount(text, locale) == Decimal(amount)


@pytest.mark.parametrize("locale", ["es_AR", "en_US"])
@pytest.mark.parametrize("text", ["1.500", "1,500"])
def test_a_lone_separator_before_three_digits_is_refused_with_both_readings(text, locale):
    with pytest.raises(AmountFormatError) as refused:
        parse_local_amount(text, locale)
    assert refused.value.readings == (Decimal("1500"), Decimal("1.500"))


@pytest.mark.parametrize(
    ("text", "locale", "reading"),
    [
        ("1500.50", "es_AR", "1500.50"),  # the English form on a Spanish page
        ("1,500.50", "es_AR", "1500.50"),
        ("1500,50", "en_US", "1500.50"),  # the defect: it was saved as 150050
        ("1.500,50", "en_US", "1500.50"),
        ("1.5", "es_AR", "1.5"),  # a group separator needs three digits after it
    ],
)
def test_an_amount_in_the_other_locales_form_is_refused_naming_what_it_would_be(
    text, locale, reading
):
    with pytest.raises(AmountFormatError) as refused:
        parse_local_amount(text, locale)
    assert refused.value.readings == (Decimal(reading),)


@pytest.mark.parametrize("text", ["", "abc", "1e3", "1 500,50", "$ 1500", "١٥٠٠", "1,5,0", "."])
def test_what_is_not_a_plain_number_is_refused_with_no_reading(text):
    with pytest.raises(AmountFormatError) as refused:
        parse_local_amount(text, "es_AR")
    assert refused.value.readings == ()
