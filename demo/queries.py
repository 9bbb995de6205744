"""The demo's queries: the monitor at Milan has asked about two values of the ward study; the nurse has answered
one (confirmed against source), the other waits for her (the query loop of docs/monitor.md, ready to try)."""

from django.contrib.auth import get_user_model

from cleaning import services
from cleaning.models import Query
from cohorts.models import Study
from ecrf.models import VitalSigns

QUESTIONS = [
    ("heart_rate_bpm", "Heart rate {value}/min: the chart shows another value. Please check against source."),
    ("spo2_pct", "SpO2 {value}% on the day's CPAP settings: please confirm against the monitoring sheet."),
]


def raise_demo_queries(study: Study) -> int:
    """Two queries on vital signs of Milan patients of ``study`` (nothing if the study has queries already);
    returns how many were raised."""
    if Query.objects.filter(study=study).exists():
        return 0
    users = {u.username: u for u in get_user_model().objects.filter(username__in=["monitor", "nurse"])}
    records = list(
        VitalSigns.objects.filter(patient__study=study, patient__site__code="MI", study_day=0)
        .select_related("patient__site", "patient__study")
        .order_by("patient__participant_id")[: len(QUESTIONS)]
    )
    for number, ((field, text), record) in enumerate(zip(QUESTIONS, records, strict=False)):
        query = services.query_open(
            patient=record.patient,
            study_day=record.study_day,
            form="vital_signs",
            field=field,
            text=text.format(value=getattr(record, field)),
            user=users["monitor"],
            assignee=users["nurse"],
        )
        if number == 1:
            services.query_answer(
                query=query,
                answer_code="confirmed_source",
                text="Checked on the monitoring sheet: the value is right.",
                user=users["nurse"],
            )
    return len(records)
