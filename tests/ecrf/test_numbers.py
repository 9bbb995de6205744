"""The one reading of typed numbers shared by the forms and the CSV import (ecrf/numbers.py)."""

import os
import subprocess
import sys
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


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1e20000000", "'1e20000000' is too large or too small to be a value (its power of ten is beyond ±999)."),
        ("-1e-1000", "'-1e-1000' is too large or too small to be a value"),
        ("9" * 101, f"'{'9' * 20}...' is not a number: it is longer than 100 characters."),
        ("x" * 10_000, f"'{'x' * 20}...' is not a number: it is longer than 100 characters."),
    ],
)
def test_numbers_beyond_any_value_are_refused_before_their_digits_are_written_out(text, message):
    """int(Decimal("1e20000000")) takes minutes and holds the server's interpreter: the exponent is looked at first.
    The messages stay short (not the 10,000 characters typed)."""
    for parse in (parse_decimal, parse_integer):
        with pytest.raises(NotANumber) as refused:
            parse(text)
        assert message in str(refused.value) and len(str(refused.value)) < 120


def test_a_refused_exponent_costs_no_time_in_a_fresh_interpreter():
    """Run apart, with a time limit: a parser that wrote out the digits would be stopped, not hang the suite."""
    code = (
        "import django\ndjango.setup()\nfrom ecrf.numbers import parse_integer, NotANumber\n"
        "try:\n    parse_integer('1e999999999')\nexcept NotANumber:\n    print('refused')\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.test_settings"},
    )
    assert run.stdout.strip() == "refused", run.stderr


def test_within_the_bounds_a_number_far_out_of_range_is_still_read():
    """1e999 is read (a field's range then refuses it with its range message); 100 characters are read."""
    assert parse_decimal("1e999") == Decimal("1e999") and parse_integer("-1e999") == -(10**999)
    assert parse_decimal("0." + "0" * 97 + "1") == Decimal("1e-98")
