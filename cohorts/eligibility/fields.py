"""The inputs of the screening form, shared by name across protocols, so one name always means one thing.

Pure module: no Django imports but translation. The labels are English, marked for translation (``gettext_noop``):
they are stored with a screening's criteria as written here, and a page shows them with ``gettext(label)``. Numbers
are in the canonical unit of their quantity (cohorts/units.py), which the screening form converts to; the form is
generated from a protocol's fields, with these labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from django.utils.translation import gettext_noop

from cohorts.units import DDIMER_BASES, UNITS

FieldKind = Literal["bool", "number", "choice", "datetime"]


@dataclass(frozen=True)
class Field:
    """One input of the screening form. Numbers are in ``unit``, the canonical unit of
    ``quantity`` in ``cohorts.units`` (the form offers that quantity's unit choices)."""

    name: str
    label: str  # English (gettext_noop); gettext(label) where it is shown
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
    "covid_rt_pcr_confirmed": gettext_noop("COVID-19 confirmed by RT-PCR"),
    "bilateral_infiltrates": gettext_noop("Bilateral infiltrates on chest X-ray or CT"),
    "left_atrial_hypertension_excluded": gettext_noop("Left atrial hypertension (cardiogenic oedema) ruled out"),
    "on_niv_outside_icu": gettext_noop("On non-invasive ventilation outside the ICU"),
    "written_consent": gettext_noop("Written informed consent"),
    "in_icu_on_mechanical_ventilation": gettext_noop("In ICU on mechanical ventilation"),
    "bacterial_infection": gettext_noop("Evidence of bacterial infection"),
    "anti_inflammatory_or_glucocorticoids": gettext_noop("Concomitant anti-inflammatory agents or glucocorticoids"),
    "enrolled_in_other_trial": gettext_noop("Enrolled in another clinical trial"),
    # New York (clinical definitions §1.2)
    "covid_molecular_confirmed": gettext_noop("SARS-CoV-2 confirmed by a molecular test"),
    "fever": gettext_noop("Fever (documented or reported)"),
    "on_invasive_ventilation": gettext_noop("On invasive mechanical ventilation at evaluation"),
    "positive_cultures": gettext_noop("Positive cultures"),
    "high_clinical_suspicion_bacterial": gettext_noop("High clinical suspicion of bacterial infection"),
    "cancer_on_chemo_or_immunotherapy": gettext_noop("Cancer on chemotherapy or immunotherapy"),
    "other_immunosuppressive_biologics": gettext_noop("Other immunosuppressive biologics"),
}

# The measurements: name -> (label, quantity of cohorts/units.py, whose canonical unit the number is in).
_MEASUREMENTS = {
    # Milan (clinical definitions §1.1)
    "pao2_mmhg": (gettext_noop("PaO2 (arterial blood gas)"), "pao2"),
    "fio2": (gettext_noop("FiO2 at the blood gas"), "fio2"),
    "peep_cmh2o": (gettext_noop("PEEP at the blood gas"), "peep"),
    "crp_mg_l": (gettext_noop("CRP"), "crp"),
    "ferritin_ng_ml": (gettext_noop("Ferritin"), "ferritin"),
    # New York (clinical definitions §1.2)
    "lymphocytes_10e9_l": (gettext_noop("Lymphocytes"), "lymphocytes"),
    "ddimer_ng_ml": (gettext_noop("D-dimer"), "ddimer"),
    "ldh_u_l": (gettext_noop("LDH"), "ldh"),
    "nrb_flow_l_min": (gettext_noop("Oxygen flow by non-rebreather mask"), "o2_flow"),
    "nasal_cannula_flow_l_min": (gettext_noop("Oxygen flow by nasal cannula"), "o2_flow"),
    "hfnc_fio2": (gettext_noop("FiO2 on high-flow nasal cannula"), "fio2"),
    "procalcitonin_ng_ml": (gettext_noop("Procalcitonin"), "procalcitonin"),
}

FIELDS: Mapping[str, Field] = MappingProxyType(
    {
        f.name: f
        for f in (
            *(Field(name, label, "bool") for name, label in _QUESTIONS.items()),
            number_field("age_years", gettext_noop("Age"), None, "years"),
            *(number_field(name, label, quantity) for name, (label, quantity) in _MEASUREMENTS.items()),
            Field("ddimer_basis", gettext_noop("D-dimer unit basis"), "choice", choices=DDIMER_BASES),
            # Recorded for the early/late initiation analysis, not a criterion (clinical definitions §1.2).
            Field("respiratory_failure_onset", gettext_noop("Onset of respiratory failure"), "datetime"),
        )
    }
)
# How a canonical unit reads after a number in a sentence ("0.95", "1.2 x10^9/L").
_UNIT_IN_TEXT = {"fraction": "", "10^9/L": "x10^9/L"}
UNITS_IN_TEXT: Mapping[str, str] = MappingProxyType(
    {name: _UNIT_IN_TEXT.get(f.unit or "", f.unit or "") for name, f in FIELDS.items()}
)
