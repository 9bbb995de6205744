"""Source data verification on the casebook (ecrf never imports the cleaning app): how many of the patient's
records of the planned forms are verified, changed since verification, or not verified, with the link to the
patient's SDV worksheet; nothing when the study's plan verifies no form or the user does not read SDV."""

from django import template

from cleaning import sdv
from cohorts import roles

register = template.Library()


@register.inclusion_tag("cleaning/_sdv_panel.html")
def sdv_panel(user, patient):
    if not roles.has_study_role(user, patient.study, roles.SDV_READERS, site=patient.site):
        return {"shown": False}
    levels = sdv.plan_levels(patient.study)
    if not sdv.planned(levels):
        return {"shown": False}
    counts = sdv.state_counts(sdv.worksheet(patient, levels))
    return {
        "shown": True,
        "patient": patient,
        "counts": [(state, label, counts[state]) for state, label in sdv.STATES.items()],
        "complete": not counts[sdv.UNVERIFIED] and not counts[sdv.CHANGED],
        "may_verify": not patient.study.is_locked
        and roles.has_study_role(user, patient.study, roles.SDV_VERIFIERS, site=patient.site),
    }
