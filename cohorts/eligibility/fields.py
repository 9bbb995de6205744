"""The inputs of the screening form, shared by name across protocols, so one name always means one thing.

Pure module: no Django imports. Numbers are in the canonical unit of their quantity (cohorts/units.py), which the
screening form converts to; the form is generated from a protocol's fields, with these labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from cohorts.units import DDIMER_BASES, UNITS

FieldKind = Literal["bool", "number", "choice", "datetime"]


@dataclass(frozen=True)
class Field:
    """One input of the screening form. Numbers are in ``unit``, the canonical unit of
    ``quantity`` in ``cohorts.units`` (the form offers that quantity's unit choices)."""

    name: str
    label: str
    kind: FieldKind
    unit: str | None = None
    quantity: str | None = None
    choices: tuple[str, ...] = ()


def number_field(name: str, label: str, quantity: str | None, unit: str | None = None) -> Field:
    """A number field in the canonical unit of ``quantity`` (or ``unit`` when no quantity)."""
    canonical = UNITS[quantity].canonical if quantity else unit
    return Field(name, label, "number", unit=canonical, quantity=quantity)


# The yes/no questions of the screening form: name -> label.
_QUESTIONS = {
    # Milan (clinical definitions §1.1)
    "covid_rt_pcr_confirmed": "COVID-19 confirmed by RT-PCR",
    "bilateral_infiltrates": "Bilateral infiltrates on chest X-ray or CT",
    "left_atrial_hypertension_excluded": "Left atrial hypertension (cardiogenic oedema) ruled out",
    "on_niv_outside_icu": "On non-invasive ventilation outside the ICU",
    "written_consent": "Written informed consent",
    "in_icu_on_mechanical_ventilation": "In ICU on mechanical ventilation",
    "bacterial_infection": "Evidence of bacterial infection",
    "anti_inflammatory_or_glucocorticoids": "Concomitant anti-inflammatory agents or glucocorticoids",
    "enrolled_in_other_trial": "Enrolled in another clinical trial",
    # New York (clinical definitions §1.2)
    "covid_molecular_confirmed": "SARS-CoV-2 confirmed by a molecular test",
    "fever": "Fever (documented or reported)",
    "on_invasive_ventilation": "On invasive mechanical ventilation at evaluation",
    "positive_cultures": "Positive cultures",
    "high_clinical_suspicion_bacterial": "High clinical suspicion of bacterial infection",
    "cancer_on_chemo_or_immunotherapy": "Cancer on chemotherapy or immunotherapy",
    "other_immunosuppressive_biologics": "Other immunosuppressive biologics",
}

# The measurements: name -> (label, quantity of cohorts/units.py, whose canonical unit the number is in).
_MEASUREMENTS = {
    # Milan (clinical definitions §1.1)
    "pao2_mmhg": ("PaO2 (arterial blood gas)", "pao2"),
    "fio2": ("FiO2 at the blood gas", "fio2"),
    "peep_cmh2o": ("PEEP at the blood gas", "peep"),
    "crp_mg_l": ("CRP", "crp"),
    "ferritin_ng_ml": ("Ferritin", "ferritin"),
    # New York (clinical definitions §1.2)
    "lymphocytes_10e9_l": ("Lymphocytes", "lymphocytes"),
    "ddimer_ng_ml": ("D-dimer", "ddimer"),
    "ldh_u_l": ("LDH", "ldh"),
    "nrb_flow_l_min": ("Oxygen flow by non-rebreather mask", "o2_flow"),
    "nasal_cannula_flow_l_min": ("Oxygen flow by nasal cannula", "o2_flow"),
    "hfnc_fio2": ("FiO2 on high-flow nasal cannula", "fio2"),
    "procalcitonin_ng_ml": ("Procalcitonin", "procalcitonin"),
}

FIELDS: Mapping[str, Field] = MappingProxyType(
    {
        f.name: f
        for f in (
            *(Field(name, label, "bool") for name, label in _QUESTIONS.items()),
            number_field("age_years", "Age", None, "years"),
            *(number_field(name, label, quantity) for name, (label, quantity) in _MEASUREMENTS.items()),
            Field("ddimer_basis", "D-dimer unit basis", "choice", choices=DDIMER_BASES),
            # Recorded for the early/late initiation analysis, not a criterion (clinical definitions §1.2).
            Field("respiratory_failure_onset", "Onset of respiratory failure", "datetime"),
        )
    }
)
# How a canonical unit reads after a number in a sentence ("0.95", "1.2 x10^9/L").
_UNIT_IN_TEXT = {"fraction": "", "10^9/L": "x10^9/L"}
UNITS_IN_TEXT: Mapping[str, str] = MappingProxyType(
    {name: _UNIT_IN_TEXT.get(f.unit or "", f.unit or "") for name, f in FIELDS.items()}
)
