"""The day page's pull button (templates/ecrf/day_entry.html): shown to users who may enter data at the patient's
study and site, when the patient's site has a FHIR server and the patient is linked to its record."""

from django import template

from cohorts import roles
from fhir_pull.selectors import pull_state

register = template.Library()


@register.inclusion_tag("fhir/_pull_button.html")
def fhir_pull_button(user, patient, study_day: int, can_edit: bool):
    if not can_edit or not roles.has_study_role(user, patient.study, roles.DATA_ENTRY, site=patient.site):
        return {"state": None}
    return {
        "state": pull_state(patient=patient, study_day=study_day),
        "patient": patient,
        "study_day": study_day,
        "may_link": roles.has_study_role(user, patient.study, roles.SCREENERS, site=patient.site),
    }
