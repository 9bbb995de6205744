"""Unit conversions to canonical units (clinical definitions §1.3, 2): what a user typing a lab value sees stored."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cohorts.units import DDIMER_BASES, UNITS, canonical_unit, ddimer_basis_choices, to_canonical, unit_choices
from ecrf.models import LabResult


@pytest.mark.parametrize(
    ("quantity", "value", "unit", "stored"),
    [
        # clinical definitions §1.3: CRP mg/L = mg/dL x 10; 10 mg/dL is exactly the Milan threshold of 100 mg/L.
        ("crp", 10, "mg/dL", 100.0),
        ("crp", 9.99, "mg/dL", 99.9),
        ("crp", 10.01, "mg/dL", 100.1),
        ("crp", 85, "mg/L", 85.0),
        # clinical definitions §2: PaO2 kPa x 7.50062; exact to the digit, not 150.01239999999999.
        ("pao2", 20, "kPa", 150.0124),
        ("pao2", 8, "kPa", 60.00496),
        ("pao2", 75, "mmHg", 75.0),
        ("ferritin", 900, "ug/L", 900.0),
        ("ferritin", 1200, "ng/mL", 1200.0),
        ("ddimer", 1, "ug/mL", 1000.0),
        ("ddimer", 0.5, "mg/L", 500.0),
        ("ddimer", 750, "ug/L", 750.0),
        # 1200 cells/uL is exactly the New York lymphocyte threshold of 1.2 x10^9/L.
        ("lymphocytes", 1200, "/uL", 1.2),
        ("lymphocytes", 1199, "/uL", 1.199),
        ("lymphocytes", 0.8, "10^9/L", 0.8),
        ("ldh", 351, "U/L", 351.0),
        ("ast", 120, "U/L", 120.0),
        ("alt", 95, "U/L", 95.0),
        ("procalcitonin", 0.61, "ng/mL", 0.61),
        ("weight", 82.5, "kg", 82.5),
        ("fio2", 95, "%", 0.95),
    ],
)
def test_values_are_stored_in_the_canonical_unit(quantity, value, unit, stored):
    assert to_canonical(quantity, value, unit) == stored


@pytest.mark.parametrize(
    ("quantity", "value", "unit", "stored"),
    [
        ("crp", 10, "mg/dl", 100.0),
        ("crp", 10, " MG/DL ", 100.0),
        ("ddimer", 1, "\u00b5g/mL", 1000.0),  # micro sign as lab reports print it
        ("lymphocytes", 1500, "/\u03bcL", 1.5),  # Greek mu
    ],
)
def test_unit_spelling_variants_are_accepted(quantity, value, unit, stored):
    assert to_canonical(quantity, value, unit) == stored


def test_decimal_input_from_a_form_is_converted():
    assert to_canonical("crp", Decimal("10.5"), "mg/dL") == 105.0


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_missing_value_stays_missing(missing):
    assert to_canonical("crp", missing, "mg/dL") is None


def test_unknown_unit_is_refused_naming_the_accepted_units():
    with pytest.raises(ValueError, match=r"CRP: unit 'g/L' is not accepted; use one of mg/L, mg/dL"):
        to_canonical("crp", 1, "g/L")


def test_unknown_unit_is_refused_even_for_a_missing_value():
    with pytest.raises(ValueError, match="not accepted"):
        to_canonical("pao2", None, "torr ")


def test_unknown_quantity_is_refused():
    with pytest.raises(ValueError, match="unknown quantity 'glucose'"):
        to_canonical("glucose", 5, "mmol/L")


@pytest.mark.parametrize("not_a_number", [True, "100", [100]])
def test_non_numbers_are_refused(not_a_number):
    with pytest.raises(TypeError):
        to_canonical("crp", not_a_number, "mg/L")


@pytest.mark.parametrize("basis", ["FEU", "DDU"])
def test_ddimer_basis_is_not_a_unit_so_feu_and_ddu_are_never_converted(basis):
    with pytest.raises(ValueError, match="not accepted"):
        to_canonical("ddimer", 500, basis)


def test_ddimer_basis_choices():
    assert DDIMER_BASES == ("FEU", "DDU")
    assert [value for value, _label in ddimer_basis_choices()] == ["FEU", "DDU"]


def test_every_screening_ddimer_basis_can_be_stored_in_the_day0_laboratory_record():
    # Enrolment copies the screening's basis into the daily laboratory record (ecrf/enrolment.py).
    assert LabResult._meta.get_field("ddimer_basis").choices == ddimer_basis_choices()


@pytest.mark.parametrize(
    ("quantity", "canonical"),
    [
        ("crp", "mg/L"),
        ("pao2", "mmHg"),
        ("ferritin", "ng/mL"),
        ("ddimer", "ng/mL"),
        ("lymphocytes", "10^9/L"),
        ("ldh", "U/L"),
        ("ast", "U/L"),
        ("alt", "U/L"),
        ("procalcitonin", "ng/mL"),
        ("weight", "kg"),
    ],
)
def test_canonical_units_are_the_spec_units(quantity, canonical):
    assert canonical_unit(quantity) == canonical
    assert unit_choices(quantity)[0] == (canonical, canonical)


def test_unit_choices_offer_every_accepted_unit():
    assert unit_choices("crp") == [("mg/L", "mg/L"), ("mg/dL", "mg/dL")]
    assert unit_choices("pao2") == [("mmHg", "mmHg"), ("kPa", "kPa")]
    assert [u for u, _ in unit_choices("ddimer")] == ["ng/mL", "ug/L", "ug/mL", "mg/L"]


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        UNITS["crp"] = UNITS["pao2"]  # type: ignore[index]
    with pytest.raises(TypeError):
        UNITS["crp"].factors["g/L"] = Decimal(1000)  # type: ignore[index]


@given(
    quantity=st.sampled_from(sorted(UNITS)),
    low=st.floats(min_value=0, max_value=1e6),
    high=st.floats(min_value=0, max_value=1e6),
)
def test_conversion_keeps_the_order_of_values(quantity, low, high):
    """A higher value in any unit is never stored lower than a smaller one (thresholds stay meaningful)."""
    low, high = sorted((low, high))
    for unit in UNITS[quantity].factors:
        assert to_canonical(quantity, low, unit) <= to_canonical(quantity, high, unit)
    assert to_canonical(quantity, high, canonical_unit(quantity)) == high
