"""ecrf.importing.columns.typed_cell: a short cell is typed once per column and text; what it gives is what
parse_cell gives, and a refusal speaks the language of the moment, whatever was read before."""

from decimal import Decimal

import pytest
from django.utils import translation

from ecrf.importing.columns import COLUMNS, CellError, parse_cell, typed_cell

TEMPERATURE = COLUMNS["vital_signs"]["temperature_c"]
SUPPORT = COLUMNS["respiratory_support"]["support"]


@pytest.mark.parametrize(
    ("column", "text", "expected"),
    [
        (TEMPERATURE, "37.2", (None, Decimal("37.2"))),
        (TEMPERATURE, " 37,2 ", (None, Decimal("37.2"))),
        (TEMPERATURE, "", (None, None)),
        (TEMPERATURE, "nd", ("not_done", None)),
        (SUPPORT, "CPAP", (None, "cpap")),
    ],
)
def test_a_cell_read_twice_gives_what_parse_cell_gives(column, text, expected):
    assert typed_cell(column, text, True) == typed_cell(column, text, True) == expected
    if expected[0] is None:
        assert expected[1] == parse_cell(column, text)


def test_a_code_is_a_value_where_a_cell_cannot_hold_a_code():
    with pytest.raises(CellError):
        typed_cell(TEMPERATURE, "ND", False)


def test_a_refusal_is_in_the_language_of_the_moment():
    with translation.override("en"), pytest.raises(CellError, match="is not a number"):
        typed_cell(TEMPERATURE, "warm", True)
    with translation.override("it"), pytest.raises(CellError, match="non è un numero"):
        typed_cell(TEMPERATURE, "warm", True)


@pytest.mark.parametrize("column", [TEMPERATURE, COLUMNS["vital_signs"]["heart_rate_bpm"]])
def test_a_cell_with_a_number_no_form_can_hold_is_refused_without_writing_it_out(column):
    """1e20000000 would take the import minutes to turn into a whole number (ecrf/numbers.py)."""
    with translation.override("en"), pytest.raises(CellError, match="its power of ten is beyond ±999"):
        typed_cell(column, "1e20000000", True)
