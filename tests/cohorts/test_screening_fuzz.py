"""Hypothesis: whatever is posted to the screening and enrolment pages, the answer is never a server error."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohorts.eligibility import RULE_SETS
from cohorts.forms import unit_field_name
from cohorts.models import Screening

FIELD_NAMES = sorted(
    {f.name for rs in RULE_SETS.values() for f in rs.fields}
    | {unit_field_name(f.name) for rs in RULE_SETS.values() for f in rs.fields if f.kind == "number"}
    | {"site", "assessed_at", "rescreen_of", "action", "arm", "enrolment_date", "sex", "weight_kg", "age_years"}
)
NASTY = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1e999",
        "NaN",
        "inf",
        "-0",
        "0.21",
        "100",
        "99999999999999999999999999",
        "1.0000000000001",
        "yes",
        "no",
        "unknown",
        "mg/dL",
        "kPa",
        "%",
        "FEU",
        "DDU",
        "screen_failure",
        "save",
        "2020-03-16T09:30",
        "2999-01-01T00:00",
        "0001-01-01T00:00",
        "2020-02-30",
        "\x00",
        "ü€",
    ]
)
VALUE = st.one_of(NASTY, st.text(max_size=30), st.integers(min_value=-(10**30), max_value=10**30).map(str))
POST = st.dictionaries(st.sampled_from(FIELD_NAMES), VALUE, max_size=len(FIELD_NAMES))


@pytest.fixture
def logged_in(client, users, site_a, arms):
    client.force_login(users["investigator"])
    return client


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=POST)
def test_screening_form_never_errors(logged_in, study, site_a, data):
    data = {**data}
    if data.get("site") == "":
        data["site"] = str(site_a.pk)
    for path in ("new/", "evaluate/"):
        response = logged_in.post(f"/studies/{study.code}/screenings/{path}", data)
        assert response.status_code in (200, 302), response.status_code


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=POST, rescreen=st.one_of(NASTY, st.text(max_size=10)))
def test_get_with_any_rescreen_parameter(logged_in, study, data, rescreen):
    response = logged_in.get(f"/studies/{study.code}/screenings/new/", {"rescreen": rescreen})
    assert response.status_code == 200


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=POST)
def test_enrolment_form_never_errors(logged_in, study, site_a, arms, users, data):
    screening, _ = Screening.objects.get_or_create(
        study=study,
        number="MI-S0099",
        defaults={
            "site": site_a,
            "assessed_at": "2020-03-16T09:00:00Z",
            "screened_by": users["investigator"],
            "values": {"fio2": 0.5, "peep_cmh2o": 10.0, "crp_mg_l": 150.0, "on_niv_outside_icu": True},
            "entered_units": {"crp_mg_l": "mg/L"},
            "criteria": [],
            "eligible": True,
        },
    )
    response = logged_in.post(f"/studies/{study.code}/screenings/{screening.pk}/enrol/", data)
    assert response.status_code in (200, 302), response.status_code
