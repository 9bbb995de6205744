"""Day-0 source data from the screening of a newly enrolled patient (clinical definitions §1.3: not typed twice).

cohorts sends ``patient_enrolled`` inside the enrolment transaction (data flows cohorts -> ecrf; cohorts never
imports ecrf). The receiver turns the screening's values, already in canonical units and within the hard limits
of clinical definitions §2.1 (the screening form refuses others), into the day-0 laboratory record and respiratory
support.
Only values present are written. A failure here rolls the enrolment back: enrolled with its day-0 data, or not
at all. Soft limits (e.g. CRP > 500 mg/L) are not marked confirmed: the daily form asks when the record is edited.
"""

from decimal import ROUND_HALF_UP, Decimal

from django.dispatch import receiver

from cohorts.audit import save_audited
from cohorts.models import Patient, Screening
from cohorts.signals import patient_enrolled
from ecrf.models import LabResult, RespiratorySupport, Support

# Screening value (cohorts/eligibility.py field name) -> day-0 LabResult field.
LAB_FIELDS = {
    "pao2_mmhg": "pao2_mmhg",
    "fio2": "abg_fio2",  # Milan: the FiO2 at the arterial blood gas
    "crp_mg_l": "crp_mg_l",
    "ferritin_ng_ml": "ferritin_ng_ml",
    "lymphocytes_10e9_l": "lymphocytes_10e9_l",
    "ddimer_ng_ml": "ddimer_ng_ml",
    "ldh_u_l": "ldh_u_l",
    "procalcitonin_ng_ml": "procalcitonin_ng_ml",
}
# The unit the value was typed in, kept beside it where the daily form keeps it too.
ENTERED_UNIT_FIELDS = {"pao2_mmhg": "pao2_entered_unit", "crp_mg_l": "crp_entered_unit"}


def day0_support(values) -> dict | None:
    """The day-0 respiratory support a screening documents, or None when it documents none.

    Milan (clinical definitions §1.1): on non-invasive ventilation outside the ICU with the blood gas on PEEP = CPAP,
    the
    protocol's support, with the blood gas's FiO2 and PEEP. New York (clinical definitions §1.2): HFNC with its FiO2,
    else the
    non-rebreather with its flow (the highest level of the day is recorded, clinical definitions §2), else the nasal
    cannula.
    """
    if values.get("on_invasive_ventilation") is True or values.get("in_icu_on_mechanical_ventilation") is True:
        return None
    if (
        values.get("on_niv_outside_icu") is True
        and values.get("fio2") is not None
        and values.get("peep_cmh2o") is not None
    ):
        return {"support": Support.CPAP, "fio2": values["fio2"], "peep_cmh2o": values["peep_cmh2o"]}
    if values.get("hfnc_fio2") is not None:
        return {"support": Support.HFNC, "fio2": values["hfnc_fio2"]}
    if values.get("nrb_flow_l_min") is not None:
        return {"support": Support.NON_REBREATHER, "flow_l_min": values["nrb_flow_l_min"]}
    if values.get("nasal_cannula_flow_l_min") is not None:
        return {"support": Support.NASAL_CANNULA, "flow_l_min": values["nasal_cannula_flow_l_min"]}
    return None


def _stored(model, field_name: str, value) -> Decimal:
    """A canonical float as the model's decimal column stores it (20 kPa = 150.0124 mmHg -> 150.0)."""
    places = model._meta.get_field(field_name).decimal_places
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def day0_records(patient: Patient, screening: Screening) -> list:
    """Unsaved day-0 LabResult / RespiratorySupport built from the screening (only values present)."""
    values = screening.values or {}
    records = []
    labs = {
        target: _stored(LabResult, target, values[source])
        for source, target in LAB_FIELDS.items()
        if values.get(source) is not None
    }
    if labs.get("ddimer_ng_ml") is not None:
        labs["ddimer_basis"] = values.get("ddimer_basis") or ""
    for source, target in ENTERED_UNIT_FIELDS.items():
        if source in labs and screening.entered_units.get(source):
            labs[target] = screening.entered_units[source]
    if labs:
        records.append(LabResult(patient=patient, study_day=0, **labs))
    support = day0_support(values)
    if support is not None:
        kind = support.pop("support")
        numbers = {name: _stored(RespiratorySupport, name, value) for name, value in support.items()}
        records.append(RespiratorySupport(patient=patient, study_day=0, support=kind, **numbers))
    return records


@receiver(patient_enrolled, dispatch_uid="ecrf.enrolment.create_day0_source_data")
def create_day0_source_data(sender, *, patient: Patient, screening: Screening | None, user, **kwargs) -> None:
    if screening is None:
        return
    reason = f"enrolment: from screening {screening.number}"
    for record in day0_records(patient, screening):
        save_audited(record, user=user, reason=reason)
