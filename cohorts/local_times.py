"""Times entered and shown in the time zone of the patient's site (clinical definitions §2.3), stored in UTC.

A nurse in New York types the clock time she sees, whatever the server's time zone or the reader's: the form field
reads and shows it in the site's zone. A local time that does not exist or is ambiguous at a daylight-saving change
is refused with Django's message next to the field.
"""

from __future__ import annotations

import datetime

from django import forms
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext as _

#: What a datetime-local input sends and shows: 2020-04-01T22:00.
INPUT_FORMAT = "%Y-%m-%dT%H:%M"


class SiteDateTimeField(forms.DateTimeField):
    """A date and time in ``zone``: parsed in it, shown in it."""

    def __init__(self, *, zone: datetime.tzinfo, **kwargs):
        self.zone = zone
        kwargs.setdefault("widget", forms.DateTimeInput(attrs={"type": "datetime-local"}, format=INPUT_FORMAT))
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, datetime.datetime) and timezone.is_aware(value):
            return value.astimezone(self.zone).replace(tzinfo=None)
        return value

    def to_python(self, value):
        with timezone.override(self.zone):
            return super().to_python(value)


def site_time_field(label, zone: datetime.tzinfo, *, required: bool = False) -> SiteDateTimeField:
    """An optional time of a record in the site's zone, its help text naming the zone."""
    return SiteDateTimeField(
        zone=zone,
        required=required,
        label=capfirst(label),
        help_text=_("Local time at the site (%(zone)s); empty when not known.") % {"zone": zone},
    )


def in_zone(moment: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """The same clock time read in ``zone`` instead of the zone it was parsed in (a form parsed in the current zone
    before it knew the site)."""
    naive = timezone.make_naive(moment, timezone.get_current_timezone()) if timezone.is_aware(moment) else moment
    return timezone.make_aware(naive, zone)
