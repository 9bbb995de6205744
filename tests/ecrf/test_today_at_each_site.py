""" "Today" is the date at the patient's site (cohorts/clock.py), in the patient list, the protocol signals and the
lock checklist as in the casebook: at 23:30 UTC in April it is already tomorrow in Milan and still today in New York,
so two patients enrolled on the same calendar date are on different study days."""

import datetime

import pytest

from analysis import checklist
from cohorts.models import Site
from ecrf import dashboard, selectors
from ecrf.models import VitalSigns
from tests import factories

NOW = datetime.datetime(2020, 4, 20, 23, 30, tzinfo=datetime.UTC)  # Milan 21 April 01:30, New York 20 April 19:30
ENROLLED = datetime.date(2020, 4, 18)


@pytest.fixture
def two_zones(study, arms, users):
    milan = Site.objects.create(code="MZ", name="Milan", time_zone="Europe/Rome")
    new_york = Site.objects.create(code="NZ", name="New York", time_zone="America/New_York")
    for site in (milan, new_york):
        site.studies.add(study)
    in_milan = factories.PatientFactory(
        study=study, site=milan, arm=arms["standard"], participant_id="MZ-0001", enrolment_date=ENROLLED
    )
    in_new_york = factories.PatientFactory(
        study=study, site=new_york, arm=arms["standard"], participant_id="NZ-0001", enrolment_date=ENROLLED
    )
    return in_milan, in_new_york


def test_each_patient_is_on_the_study_day_of_its_own_site(study, two_zones, users):
    today = selectors.sites_today(study, NOW)
    listed = {
        p.participant_id: p.today_day for p in selectors.patient_list(user=users["admin"], study=study, today=today)
    }
    assert (listed["MZ-0001"], listed["NZ-0001"]) == (3, 2)
    in_milan, in_new_york = two_zones
    assert selectors.study_day_today(in_milan, today[in_milan.site_id]) == 3  # as the casebook counts
    assert selectors.study_day_today(in_new_york, today[in_new_york.site_id]) == 2


def test_data_of_tomorrow_in_new_york_is_in_the_future_but_not_in_milan(study, two_zones):
    for patient in two_zones:
        VitalSigns.objects.create(patient=patient, study_day=3, spo2_pct=94)
    item = next(i for i in checklist.lock_checklist(study, selectors.sites_today(study, NOW)) if i.key == "future_data")
    assert (item.count, item.cases) == (1, ["NZ-0001"])


def test_the_missing_forms_signal_counts_the_days_before_today_at_each_site(study, two_zones, users):
    signals = dashboard.study_signals(users["admin"], study, selectors.sites_today(study, NOW))
    missing = next(signal for signal in signals if signal.key == "missing")
    days = {flag.patient.participant_id: flag.detail for flag in missing.flags}
    assert "(of days 0-2)" in days["MZ-0001"] and "(of days 0-1)" in days["NZ-0001"]


def test_the_list_reads_each_patients_form_of_its_own_today_only(study, two_zones, users):
    """Milan's patient is on day 3, New York's on day 2: a New York record of day 3 (or a Milan one of day 2) is
    not today's form of its patient."""
    in_milan, in_new_york = two_zones
    today = selectors.sites_today(study, NOW)
    VitalSigns.objects.create(patient=in_milan, study_day=2, temperature_c="37.0")
    VitalSigns.objects.create(patient=in_new_york, study_day=3, temperature_c="37.0")
    listed = {p.participant_id: p for p in selectors.patient_list(user=users["admin"], study=study, today=today)}
    assert (listed["MZ-0001"].has_vital_signs, listed["NZ-0001"].has_vital_signs) == (False, False)
    VitalSigns.objects.create(patient=in_milan, study_day=3, temperature_c="37.0")
    listed = {p.participant_id: p for p in selectors.patient_list(user=users["admin"], study=study, today=today)}
    assert (listed["MZ-0001"].has_vital_signs, listed["NZ-0001"].has_vital_signs) == (True, False)
    picked = VitalSigns.objects.filter(selectors.PairIn("patient_id", "study_day", {(in_new_york.pk, 3)}))
    assert [(r.patient_id, r.study_day) for r in picked] == [(in_new_york.pk, 3)]
