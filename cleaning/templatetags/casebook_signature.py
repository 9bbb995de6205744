"""The casebook signatures on ecrf's pages (ecrf never imports the cleaning app): the casebook's panel (signed,
changed after signing, or not signed, with the link to sign for the investigators of the patient's site), and the
notice of the entry pages that saving a change of signed data breaks the signature."""

from django import template

from cleaning import selectors, signature_state
from cohorts import roles

register = template.Library()


@register.inclusion_tag("cleaning/_signature_panel.html")
def signature_panel(user, patient):
    every = selectors.patient_signatures(patient)  # one query
    current = signature_state.current(every)
    return {
        "patient": patient,
        "state": signature_state.state(every),
        "current": current,
        "earlier": [signature for signature in every if signature not in current],
        "may_sign": not patient.study.is_locked
        and roles.has_study_role(user, patient.study, roles.SIGNERS, site=patient.site),
    }


@register.inclusion_tag("cleaning/_signed_data_notice.html")
def signed_data_notice(patient, study_day=None):
    """On an entry page: the signatures that saving a change there would break (of ``study_day``: the day page;
    of any day: a repeating record, whose day can change)."""
    return {"signatures": selectors.intact_signatures(patient, study_day)}
