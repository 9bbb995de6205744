"""UCUM units to the fields' canonical units (fhir_pull/units.py) and the catalogue's LOINC mapping."""

from decimal import Decimal

import pytest

from cohorts import units as cohort_units
from cohorts.limits import LIMITS
from ecrf.crfs import DAY_FORMS
from fhir_pull import mapping
from fhir_pull.units import CONVERSIONS, UnitError, to_canonical


@pytest.mark.parametrize(
    ("value", "code", "canonical", "expected"),
    [
        ("100.4", "[degF]", "degC", "38"),
        ("37.2", "Cel", "degC", "37.2"),
        ("10", "kPa", "mmHg", "75.0062"),
        ("5.2", "mg/dL", "mg/L", "52"),
        ("0.8", "ug/mL{FEU}", "ng/mL", "800"),
        ("1200", "/uL", "x10^9/L", "1.2"),
        ("1.2", "10*3/uL", "x10^9/L", "1.2"),
        ("40", "%", "fraction", "0.4"),
        ("88", "{beats}/min", "/min", "88"),
    ],
)
def test_conversions(value, code, canonical, expected):
    assert to_canonical(Decimal(value), code, canonical, "x").normalize() == Decimal(expected).normalize()


def test_an_unknown_unit_is_refused_with_the_units_accepted():
    with pytest.raises(UnitError, match=r"'mmol/L' of CRP does not convert to mg/L .*mg/dL"):
        to_canonical(Decimal(1), "mmol/L", "mg/L", "CRP")


def test_factors_agree_with_the_forms_unit_selectors():
    assert CONVERSIONS["mmHg"]["kPa"](Decimal(1)) == cohort_units.UNITS["pao2"].factor("kPa")
    assert CONVERSIONS["mg/L"]["mg/dL"](Decimal(1)) == cohort_units.UNITS["crp"].factor("mg/dL")
    assert CONVERSIONS["ng/mL"]["ug/mL"](Decimal(1)) == cohort_units.UNITS["ddimer"].factor("ug/mL")
    assert CONVERSIONS["x10^9/L"]["/uL"](Decimal(1)) == cohort_units.UNITS["lymphocytes"].factor("/uL")


def test_every_mapped_field_exists_has_a_limit_and_a_canonical_unit_with_conversions():
    for crf in DAY_FORMS.values():
        for code, name in crf.loinc.items():
            assert name in crf.value_fields and name in crf.limits, (code, name)
            assert LIMITS[crf.limits[name]].unit in CONVERSIONS, name
        for code, implied in crf.loinc_implies.items():
            assert code in crf.loinc and set(implied) <= set(crf.fields)
    assert len(mapping.targets()) == 18  # the codes of the catalogue (7 vital signs, 11 laboratory)


def test_the_package_fhir_pull_keeps_the_app_label_fhir_and_its_table_names():
    from django.apps import apps

    from fhir_pull.models import FhirEndpoint

    assert apps.get_app_config("fhir").name == "fhir_pull"
    assert FhirEndpoint._meta.db_table == "fhir_fhirendpoint"
