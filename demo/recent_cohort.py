"""Patients a nurse can work on today (issue 13): seven patients enrolled in the last days, in a demo study of their
own (demo/studies.py: same protocol, arms and sites as the Milan study).

The Milan cohort (demo/milan_cohort.py) dates from 2020: all its patients are past day 21, so a new nurse of the
demo finds no form due. These patients are enrolled 0 to 5 days before the day load_demo runs (the site's local
date), each screened on their day 0, with the days before today documented and today's daily forms left for the
nurse: the patient list shows them first, with the forms due today.

They are not added to the Milan study: its patients reproduce the Milan paper (tests/demo/test_milan_cohort.py
counts its 52 patients, its screening log and its day-21 outcomes), which patients still in follow-up would change.

The clinical values are those of the Milan plan (:func:`milan_cohort.plan_patient`, with a seed of their own)
up to yesterday: drugs still given today are ongoing (no stop day), nothing is recorded on or after today.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from cohorts.models import Arm, Patient, Site, Study
from demo.milan_cohort import (
    ARM_ORDER,
    Course,
    LoadSummary,
    PatientPlan,
    at,
    plan_patient,
    screen_and_enrol,
    write_patient,
)

SEED = 20260501


@dataclasses.dataclass(frozen=True)
class RecentPatient:
    days_ago: int  # enrolled this many days before today: today is their study day `days_ago`
    site: str
    arm: str
    course: Course  # the first days of a Milan course (none ends within the first week)
    # Past daily forms left for the nurse to catch up: (study day, form key).
    not_entered: tuple[tuple[int, str], ...] = ()


RECENT = (
    RecentPatient(5, "MI", "high_dose", Course("in_hospital", final="room_air")),
    RecentPatient(5, "BG", "standard", Course("intubated", 3)),  # ICU and invasive ventilation on day 3
    RecentPatient(4, "MI", "low_dose", Course("discharged", 14)),
    RecentPatient(3, "MI", "high_dose", Course("discharged", 11), not_entered=((2, "labs"),)),
    RecentPatient(2, "BG", "high_dose", Course("in_hospital", final="low_flow")),
    RecentPatient(1, "MI", "standard", Course("in_hospital", final="low_flow")),
    RecentPatient(0, "MI", "high_dose", Course("discharged", 12)),  # enrolled today: day 0 from the screening
)


def _before(plan: PatientPlan, today_day: int, not_entered: set[tuple[int, str]]) -> PatientPlan:
    """The plan as documented by today: the days before today's study day (less the forms not entered yet), the
    drugs, adverse events and dispositions started before it; a drug stopping today or later is still ongoing."""
    days = []
    for day in plan.days:
        if day.study_day >= today_day:
            continue
        kept = {key: getattr(day, key) for key in ("vitals", "support", "labs")}
        kept = {key: {} if (day.study_day, key) in not_entered else values for key, values in kept.items()}
        days.append(dataclasses.replace(day, **kept))
    drugs = [
        ({**values, "stop_day": values["stop_day"] if values["stop_day"] < today_day else None}, confirmed)
        for values, confirmed in plan.drugs
        if values["study_day"] < today_day
    ]
    return dataclasses.replace(
        plan,
        days=days,
        drugs=drugs,
        adverse_events=[event for event in plan.adverse_events if event["study_day"] < today_day],
        dispositions=[event for event in plan.dispositions if event["study_day"] < today_day],
    )


def plan_recent(today: datetime.date) -> list[PatientPlan]:
    """The recent patients as documented on ``today`` (pure: no database), in enrolment order."""
    plans = []
    for index, recent in enumerate(RECENT):
        plan = plan_patient(recent.arm, recent.course, index, seed=SEED)
        plan.site = recent.site
        plan.enrolment_date = today - datetime.timedelta(days=recent.days_ago)
        plans.append(_before(plan, recent.days_ago, set(recent.not_entered)))
    return sorted(plans, key=lambda plan: plan.enrolment_date)


@transaction.atomic
def load_recent(
    study: Study,
    *,
    investigators: Mapping[str, Any],
    nurses: Mapping[str, Any],
    today: datetime.date | None = None,
) -> LoadSummary:
    """Screen, enrol and document the recent patients through the services; nothing if the study has patients
    (a rerun on a later day leaves the earlier ones as they are, their days in follow-up still due).

    ``investigators`` and ``nurses`` map a site code to the user who screens and enrols there / enters the data.
    """
    if Patient.objects.filter(study=study).exists():
        return LoadSummary(loaded=False)
    today = today or timezone.localdate()
    arms = {arm.code: arm for arm in Arm.objects.filter(study=study)}
    sites = {site.code: site for site in Site.objects.filter(studies=study)}
    summary = LoadSummary(loaded=True, patients=dict.fromkeys(ARM_ORDER, 0))
    for plan in plan_recent(today):
        # Screened in the morning of day 0, or just now for today's patient when it is not yet 9:30.
        assessed_at = min(at(plan.enrolment_date, 9, 30), timezone.now())
        patient = screen_and_enrol(
            plan,
            study=study,
            site=sites[plan.site],
            arm=arms[plan.arm],
            assessed_at=assessed_at,
            investigator=investigators[plan.site],
        )
        summary.screenings += 1
        summary.patients[plan.arm] += 1
        summary.records += write_patient(plan, patient, sites[plan.site], nurses[plan.site])
    return summary
