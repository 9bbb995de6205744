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


# ------------------------------------------------ every number of every model has a hard range (issue 13, item 2)

# Numbers that are not values a person enters: counters, a display order, the computed derived table.
NOT_ENTERED = {
    ("cohorts", "patient", "version"),
    ("cohorts", "studyidcounter", "last_number"),
    ("cohorts", "arm", "order"),
    ("cohorts", "submission", "*"),  # a record of which form token created which object
    ("cohorts", "consortcount", "*"),  # the screening log's counts, kept by the services (cohorts/consort.py)
    ("ecrf", "derivedday", "*"),
    ("ecrf", "patientderivation", "*"),
    ("ecrf", "derivedcourse", "*"),
    ("ecrf", "importjob", "*"),  # an import's outcome, counted by the job
    *{("ecrf", model, "version") for model in ("vitalsigns", "respiratorysupport", "labresult")},
    *{("ecrf", model, "version") for model in ("drugadministration", "dispositionevent", "adverseevent")},
    ("ecrf", "ventilationepisode", "version"),
    # An episode may end after the follow-up (ventilator-free days count to day 28): bounded by today and the death.
    ("ecrf", "ventilationepisode", "end_day"),
}
# Study days are bounded by the study's follow-up (0 to follow_up_days, itself 1-365 by the table's row).
STUDY_DAYS = {"study_day", "stop_day"}
# The limits of the numbers of cohorts' models (ecrf's forms declare theirs in the catalogue, ecrf/crfs.py).
COHORT_LIMITS = {
    ("patient", "age_years"): "age_years",
    ("patient", "weight_kg"): "weight_kg",
    ("site", "ast_uln_u_l"): "ast_uln_u_l",
    ("site", "alt_uln_u_l"): "alt_uln_u_l",
    ("study", "follow_up_days"): "follow_up_days",
}


def _numbers():
    from django.apps import apps
    from django.db import models

    from ecrf.crfs import CATALOGUE

    ecrf_limits = {
        (crf.model._meta.model_name, f): limit for crf in CATALOGUE.values() for f, limit in crf.limits.items()
    }
    for app in ("cohorts", "ecrf"):
        for model in apps.get_app_config(app).get_models():
            name = model._meta.model_name
            if name.startswith("historical") or (app, name, "*") in NOT_ENTERED:
                continue
            for field in model._meta.concrete_fields:
                numeric = isinstance(field, models.DecimalField | models.IntegerField | models.FloatField)
                if not numeric or field.primary_key or field.is_relation or (app, name, field.name) in NOT_ENTERED:
                    continue
                if field.name in STUDY_DAYS:
                    continue
                limit = {**COHORT_LIMITS, **ecrf_limits}.get((name, field.name))
                yield pytest.param(model, field, limit, id=f"{app}.{name}.{field.name}")


@pytest.mark.parametrize(("model", "field", "limit"), list(_numbers()))
def test_every_number_has_a_row_of_the_table_that_fits_its_column_and_a_constraint(model, field, limit):
    assert limit is not None, f"{model.__name__}.{field.name} has no plausibility limit"
    from cohorts.limits import DOSE_MAXIMA

    row = limit_of(limit)
    # A dose's maximum depends on its drug and unit (one row each, DOSE_MAXIMA).
    highs = [dose.hard_max for dose in DOSE_MAXIMA] if limit == "dose" else [row.hard_max]
    assert row.hard_min is not None and None not in highs, limit
    if field.get_internal_type() == "DecimalField":
        # The range check refuses a number before Django's "no more than N digits" could.
        assert max(Decimal(str(high)) for high in highs) < Decimal(10) ** (field.max_digits - field.decimal_places)
    checks = [c for c in model._meta.constraints if f"'{field.name}__" in str(getattr(c, "condition", ""))]
    assert checks, f"{model.__name__}.{field.name} has no CHECK constraint"


def test_every_drug_and_dose_unit_has_a_maximum_dose_that_fits_the_column():
    from cohorts.limits import dose_limit
    from ecrf.models import DoseUnit, Drug, DrugAdministration

    column = DrugAdministration._meta.get_field("dose")
    for drug in Drug.values:
        for unit in DoseUnit.values:
            row = dose_limit(drug, unit)
            assert row.unit == unit and row.hard_min == 0 and row.hard_min_exclusive
            assert 0 < Decimal(str(row.hard_max)) < Decimal(10) ** (column.max_digits - column.decimal_places)


def test_the_dose_constraint_follows_the_drug_and_unit_rows(patient_a):
    from cohorts.limits import dose_limit
    from ecrf.models import DrugAdministration

    base = {"patient": patient_a, "study_day": 1, "route": "iv", "frequency": "bid"}
    for drug, unit in (("anakinra", "mg/kg"), ("antibiotic", "mg")):
        high = Decimal(str(dose_limit(drug, unit).hard_max))
        DrugAdministration.objects.create(**base, drug=drug, dose_unit=unit, dose=high)
        with pytest.raises(IntegrityError), transaction.atomic():
            DrugAdministration.objects.create(**base, drug=drug, dose_unit=unit, dose=high + Decimal("0.01"))


def test_site_and_study_numbers_are_refused_in_clinical_terms(db):
    from cohorts.models import Site, Study

    site = Site(code="MI", name="Milan", ast_uln_u_l=Decimal("99999.9"))
    with pytest.raises(ValidationError) as refused:
        site.full_clean()
    (message,) = refused.value.message_dict["ast_uln_u_l"]
    assert "AST upper limit of normal 99999.9 U/L is outside the plausible range" in message
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.create(code="BG", name="Bergamo", alt_uln_u_l=Decimal("9999.9"))
    study = Study(code="s", title="t", protocol="milan_2020", follow_up_days=400)
    with pytest.raises(ValidationError) as refused:
        study.full_clean()
    assert (
        "Follow-up 400 days is outside the plausible range 1-365 days"
        in refused.value.message_dict["follow_up_days"][0]
    )


def test_enrolment_weight_out_of_range_says_the_range_not_a_digit_count(client, study, site_a, arms, users):
    from tests.cohorts.test_enrolment import enrol_post, enrol_url, screen

    client.force_login(users["investigator"])
    screening = screen(client, study, site_a)
    response = client.post(enrol_url(screening), enrol_post(arms["standard"], weight_kg="99999"))
    errors = response.context["form"].errors["weight_kg"]
    assert errors == ["A weight of 99999 kg is outside the plausible range 30-300 kg."]


@pytest.mark.parametrize("typed", ["1e20", "123456789012345678"])
def test_screening_numbers_far_out_of_range_say_the_range_not_a_digit_count(study, site_a, users, typed):
    form = _screening_form(study, users["investigator"], site_a, "crp_mg_l", Decimal(typed))
    codes = {error.code for error in form.errors.as_data()["crp_mg_l"]}
    assert codes == {"hard_limit"}, form.errors["crp_mg_l"]
    assert "plausible range 0-1000 mg/L" in str(form.errors["crp_mg_l"])


def test_the_admin_does_not_change_sites_the_set_up_page_does_with_the_range(client, db):
    """One way to change a site: the set-up page, whose check says the range (tests/cohorts/test_setup.py)."""
    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.create_superuser("root", "root@example.org", "a-long-test-password")
    client.force_login(admin)
    data = {"code": "MI", "name": "Milan", "time_zone": "Europe/Rome", "ast_uln_u_l": "9999999", "alt_uln_u_l": "40"}
    assert client.post("/admin/cohorts/site/add/", data).status_code == 403
    response = client.post("/setup/sites/new/", data)
    assert "outside the plausible range 10-200 U/L" in " ".join(response.context["form"].errors["ast_uln_u_l"])
