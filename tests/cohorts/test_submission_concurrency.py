"""One form sent twice at the same moment on PostgreSQL: the unique token makes the second wait and repeat."""

import datetime

import pytest
from django.db import connection  # noqa: F401 (read by the skipif condition)
from django.test import RequestFactory

from cohorts import services, submissions
from cohorts.models import Screening, Submission
from tests.cohorts.test_enrol_concurrency import run_together
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="concurrent transactions need PostgreSQL"),
]

VALUES = {
    "age_years": 62,
    "covid_rt_pcr_confirmed": True,
    "bilateral_infiltrates": True,
    "pao2_mmhg": 60,
    "fio2": 0.5,
    "peep_cmh2o": 10,
    "left_atrial_hypertension_excluded": True,
    "crp_mg_l": 150,
    "ferritin_ng_ml": 1200,
    "on_niv_outside_icu": True,
    "written_consent": True,
    "in_icu_on_mechanical_ventilation": False,
    "bacterial_infection": False,
    "anti_inflammatory_or_glucocorticoids": False,
    "enrolled_in_other_trial": False,
}


def test_one_screening_sent_three_times_at_once_is_saved_once(study, site_a):
    user = UserFactory(username="concurrent-screener")
    request = RequestFactory().post("/", {submissions.FIELD: submissions.new_token()})
    request.user = user

    def screen():
        return submissions.submit_once(
            request,
            lambda: services.screening_create(
                study=study,
                site=site_a,
                assessed_at=datetime.datetime(2020, 3, 16, 9, tzinfo=datetime.UTC),
                values=VALUES,
                entered_units={},
                user=user,
            ),
        )

    outcomes = run_together([screen, screen, screen])
    assert all(isinstance(o, submissions.Outcome) for o in outcomes), outcomes
    assert sorted(o.repeated for o in outcomes) == [False, True, True]
    assert Screening.objects.count() == 1 and Submission.objects.count() == 1
    assert {o.obj.pk for o in outcomes} == {Screening.objects.get().pk}
