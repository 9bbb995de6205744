"""One limits table (cohorts/limits.py) for the screening, the baseline, the daily forms and the database.

The bounds are read from the table on purpose: each test puts a value just outside a row and just on it, and the
screening form, the enrolment rules, the daily edit checks and the Patient table's constraints must all agree with
the row. A limit written a second time somewhere (a literal 300 in a constraint while the table says 250) fails here.
The clinical numbers themselves are asserted literally in tests/ecrf/test_checks.py and test_entry_limits.py.
"""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cohorts import enrolment, services
from cohorts.eligibility import RULE_SETS
from cohorts.forms import ScreeningForm
from cohorts.limits import LIMITS, limit_of
from cohorts.models import Patient, Screening
from ecrf.checks import check_value
from tests import factories
from tests.cohorts.screening_data import milan_post

SCREENED_NUMBERS = sorted(
    {(code, f.name) for code, rule_set in RULE_SETS.items() for f in rule_set.fields if f.kind == "number"}
)


def _step(name: str) -> Decimal:
    """The smallest step a person types for this variable: whole years, else a thousandth."""
    return Decimal(1) if name == "age_years" else Decimal("0.001")


def _screening_form(study, user, site, name: str, value: Decimal) -> ScreeningForm:
    data = {"site": str(site.pk), "assessed_at": "2020-03-16T09:30", name: str(value)}
    form = ScreeningForm(data, study=study, user=user)
    form.is_valid()
    return form


def _refused_as_implausible(form: ScreeningForm, name: str) -> bool:
    codes = {error.code for error in form.errors.as_data().get(name, [])}
    return bool(codes & {"hard_limit", "min_value", "max_value"})


@pytest.mark.parametrize(("protocol", "name"), SCREENED_NUMBERS)
def test_every_screened_number_has_a_row_in_the_table(protocol, name):
    assert limit_of(name).hard_max is not None, f"{protocol}: {name} has no upper limit"


@pytest.mark.parametrize(("protocol", "name"), SCREENED_NUMBERS)
def test_screening_form_refuses_just_outside_the_tables_row_and_accepts_its_bounds(protocol, name, site_a, users):
    study = factories.StudyFactory(code=protocol.replace("_", "-"), protocol=protocol)
    site_a.studies.add(study)
    user = users["investigator"]
    limit, step = limit_of(name), _step(name)
    low, high = Decimal(str(limit.hard_min)), Decimal(str(limit.hard_max))
    for outside in (low - step, high + step):
        assert _refused_as_implausible(_screening_form(study, user, site_a, name, outside), name), outside
    for bound in (low, high):
        form = _screening_form(study, user, site_a, name, bound)
        assert not _refused_as_implausible(form, name), (bound, form.errors.get(name))
        assert Decimal(repr(form.values[name])) == bound


def test_screening_fio2_and_hfnc_fio2_share_the_daily_fio2_row():
    assert limit_of("fio2") is limit_of("hfnc_fio2") is LIMITS["fio2"]
    assert limit_of("nrb_flow_l_min") is limit_of("nasal_cannula_flow_l_min") is LIMITS["flow_l_min"]


@pytest.mark.parametrize("name", [name for name, limit in LIMITS.items() if limit.hard_max is not None])
def test_daily_edit_checks_refuse_just_outside_the_tables_row(name):
    limit, step = LIMITS[name], _step(name)
    high = Decimal(str(limit.hard_max))
    assert check_value(name, high + step).code == f"{name}.hard_max"
    assert check_value(name, Decimal(str(limit.hard_min)) - step).code == f"{name}.hard_min"
    found = check_value(name, high)
    assert found is None or found.level == "soft"


def test_baseline_weight_rules_follow_the_tables_row():
    limit = LIMITS["weight_kg"]
    high, soft = Decimal(str(limit.hard_max)), Decimal(str(limit.soft_high))
    assert enrolment.weight_problem(Decimal(str(limit.hard_min)) - Decimal("0.1"), True)[0] == "weight_kg.hard"
    assert enrolment.weight_problem(high + Decimal("0.1"), True)[0] == "weight_kg.hard"
    assert enrolment.weight_problem(high, True) is None
    assert enrolment.weight_problem(soft + Decimal("0.1"), False)[0] == "weight_kg.soft_high"
    assert enrolment.weight_problem(soft, False) is None


def _patient(study, site, arm, **over):
    values = {
        "study": study,
        "site": site,
        "arm": arm,
        "participant_id": "MI-0100",
        "enrolment_date": datetime.date(2020, 3, 20),
        "sex": "F",
        "age_years": 55,
        "weight_kg": Decimal(70),
        **over,
    }
    return Patient.objects.create(**values)


@pytest.mark.parametrize(("name", "step"), [("age_years", 1), ("weight_kg", Decimal("0.1"))])
def test_patient_table_constraints_follow_the_tables_row(name, step, study, site_a, arms):
    limit = LIMITS[name]
    for outside in (limit.hard_min - step, limit.hard_max + step):
        with pytest.raises(IntegrityError), transaction.atomic():
            _patient(study, site_a, arms["standard"], **{name: outside})
    for number, bound in enumerate((limit.hard_min, limit.hard_max)):
        stored = _patient(study, site_a, arms["standard"], participant_id=f"MI-02{number}0", **{name: bound})
        stored.refresh_from_db()
        assert getattr(stored, name) == bound


# ------------------------------------------------------------------------ age: plausible, but not eligible


def test_age_17_is_plausible_so_screened_and_logged_as_not_eligible(client, study, site_a, arms, users):
    client.force_login(users["investigator"])
    response = client.post(f"/studies/{study.code}/screenings/new/", milan_post(site_a, age_years="17"))
    assert response.status_code == 302, response.context["form"].errors
    screening = Screening.objects.get()
    assert not screening.eligible
    assert {(r.code, r.verdict) for r in screening.reasons.all()} == {("age", "not_met")}
    log = client.get(f"/studies/{study.code}/screenings/")
    assert log.context["counts"]["ineligible"] == 1
    assert {(r["code"], r["verdict"]) for r in log.context["counts"]["reasons"]} == {("age", "not_met")}

    with pytest.raises(ValidationError) as refused:
        services.patient_enrol(
            screening=screening,
            arm=arms["standard"],
            enrolment_date=datetime.date(2020, 3, 16),
            sex="F",
            age_years=None,
            weight_kg=Decimal(70),
            user=users["investigator"],
        )
    assert refused.value.code == "not_eligible" and "Age (not met)" in refused.value.message
    assert not Patient.objects.exists()


def _import_patient(study, arm, site, user, age: int) -> Patient:
    return services.patient_create(
        study=study,
        site=site,
        arm=arm,
        participant_id="MI-0300",
        enrolment_date=datetime.date(2020, 3, 16),
        sex="M",
        age_years=age,
        user=user,
        reason="import",
    )


def test_age_17_imported_without_screening_is_refused_as_not_eligible_by_the_criterion(study, site_a, arms, users):
    with pytest.raises(ValidationError) as refused:
        _import_patient(study, arms["standard"], site_a, users["data_manager"], 17)
    (error,) = refused.value.error_dict["age_years"]
    assert error.code == "not_eligible"
    assert error.message == "Not eligible: the protocol's inclusion criterion is age >= 18 years (Age: 17)."
    assert _import_patient(study, arms["standard"], site_a, users["data_manager"], 18).age_years == 18


def test_a_protocol_without_a_minimum_age_imports_a_17_year_old(site_a, users):
    study = factories.StudyFactory(code="ny-anakinra", protocol="new_york_2020")
    site_a.studies.add(study)
    arm = factories.ArmFactory(study=study, code="anakinra")
    assert _import_patient(study, arm, site_a, users["data_manager"], 17).age_years == 17
