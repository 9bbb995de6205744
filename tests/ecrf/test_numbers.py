"""The one reading of typed numbers shared by the forms and the CSV import (ecrf/numbers.py)."""

from decimal import Decimal

import pytest

from ecrf.numbers import NotANumber, parse_decimal, parse_integer


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("37.5", "37.5"),
        ("37,5", "37.5"),
        (" 92 ", "92"),
        ("1 000", "1000"),
        ("12\u202f500,5", "12500.5"),
        ("1.000", "1.000"),  # a point always separates decimals
        ("0,210", "0.210"),  # a whole part of 0 cannot be a thousands group
        (",5", "0.5"),
        ("-0,5", "-0.5"),
        ("1,5", "1.5"),
        ("1,0000", "1.0000"),
        ("1e3", "1000"),
    ],
)
def test_numbers_read_the_same_everywhere(text, value):
    assert parse_decimal(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,000", "'1,000' is ambiguous: the comma may separate thousands (1000) or decimals (1.000)."),
        ("37,500", "'37,500' is ambiguous"),
        ("1,000,000", "'1,000,000' is ambiguous: commas and points"),
        ("1,000.5", "'1,000.5' is ambiguous"),
        ("1.000,5", "'1.000,5' is ambiguous"),
        ("37 5", "'37 5' is not a number: a space may only separate groups of three digits"),
        ("1 000.5 5", "is not a number: a space"),
        ("NaN", "'NaN' is not a number."),
        ("inf", "'inf' is not a number."),
        ("1_000", "'1_000' is not a number."),
        ("0x10", "'0x10' is not a number."),
        ("", "'' is not a number."),
    ],
)
def test_ambiguous_or_foreign_notations_are_refused_with_a_reason(text, message):
    with pytest.raises(NotANumber) as refused:
        parse_decimal(text)
    assert message in str(refused.value)


def test_whole_numbers():
    assert parse_integer("37") == 37 and parse_integer("37.0") == 37 and parse_integer("1 000") == 1000
    with pytest.raises(NotANumber, match=r"'1\.5' is not a whole number\."):
        parse_integer("1.5")
    with pytest.raises(NotANumber, match=r"'day 1' is not a whole number\."):
        parse_integer("day 1")


def test_the_caller_chooses_the_error():
    with pytest.raises(KeyError):
        parse_decimal("1,000", error=KeyError)
