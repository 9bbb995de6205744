"""Which calendar day it is at a site: the one place that reads the clock for the "not in the future" rules.

Data cannot be entered for a day that has not happened yet (clinical definitions §2.1), and "today" is the day at
the site where the patient is treated, not on the server: a site keeps its IANA time zone (``Site.time_zone``,
default the project's ``TIME_ZONE``). The rules themselves stay pure: services and pages ask this module for the
site's date and pass it to the checks (``ecrf.validators.PatientFacts.today_day``).
"""

from __future__ import annotations

import datetime
import functools
from typing import Protocol
from zoneinfo import ZoneInfo, available_timezones

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _


class Site(Protocol):
    """What this module reads of a site (cohorts.models.Site, which imports this module)."""

    time_zone: str


__all__ = ["default_time_zone", "site_today", "site_zone", "study_day_of", "validate_time_zone"]


def default_time_zone() -> str:
    """The default of ``Site.time_zone``: the project's ``TIME_ZONE`` setting."""
    return settings.TIME_ZONE


def validate_time_zone(name: str) -> None:
    """An IANA time zone name such as Europe/Rome; anything else is refused with a message on the field."""
    if name not in _zone_names():
        raise ValidationError(
            _("%(name)s is not an IANA time zone name: write it as Region/City, e.g. Europe/Rome.")
            % {"name": repr(name)},
            code="time_zone",
        )


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def site_zone(site: Site) -> ZoneInfo:
    return ZoneInfo(site.time_zone or default_time_zone())


def site_today(site: Site, now: datetime.datetime | None = None) -> datetime.date:
    """The calendar date at ``site`` at the instant ``now`` (default: the current time)."""
    return (now or timezone.now()).astimezone(site_zone(site)).date()


def study_day_of(moment: datetime.datetime, zone: datetime.tzinfo, enrolment_date: datetime.date) -> int:
    """The study day a moment lies on at a site: its local date there minus day 0 (clinical definitions §2.3)."""
    return (moment.astimezone(zone).date() - enrolment_date).days
