"""The signature panel of the casebook (templates/ecrf/casebook.html): signed, changed after signing, or not signed,
with the link to sign for the investigators of the patient's site (ecrf never imports the cleaning app)."""

from django import template

from cleaning import selectors, signatures
from cohorts import roles

register = template.Library()


@register.inclusion_tag("cleaning/_signature_panel.html")
def signature_panel(user, patient):
    every = selectors.patient_signatures(patient)  # one query
    current = signatures.current(every)
    return {
        "patient": patient,
        "state": signatures.state(every),
        "current": current,
        "earlier": [signature for signature in every if signature not in current],
        "may_sign": not patient.study.is_locked
        and roles.has_study_role(user, patient.study, roles.SIGNERS, site=patient.site),
    }
