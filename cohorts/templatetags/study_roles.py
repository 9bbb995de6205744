"""Questions the templates ask about the current user's roles in one study (cohorts/roles.py)."""

from django import template

from cohorts import roles

register = template.Library()


@register.filter
def may_read_signals(user, study_code) -> bool:
    """``{% if user|may_read_signals:study.code %}``: the navigation's link to the study's protocol signals."""
    return bool(study_code) and roles.has_study_role(user, study_code, roles.SIGNAL_READERS)
