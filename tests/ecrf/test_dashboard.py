"""The investigator's dashboard of protocol signals (clinical definitions §3.3): what it flags, for whom, in how many
queries."""

import datetime
from decimal import Decimal

import pytest

from ecrf import dashboard, derivation_job, services
from ecrf.models import VitalSigns
from ecrf.services import RecordInput


def lab(patient, user, day, **values):
    services.day_record_save(
        form="laboratory",
        patient=patient,
        study_day=day,
        entry=RecordInput({k: Decimal(str(v)) for k, v in values.items()}),
        user=user,
    )


@pytest.fixture
def signals_data(patient_a, patient_b, users):
    """Patient A: benefit on day 2, AST > 3 x ULN on day 3, bacteraemia on day 3, death on day 5 and vital signs
    on day 7 (stored past the services' check). Patient B (other site): AST > 3 x ULN on day 1."""
    nurse = users["nurse"]
    lab(patient_a, nurse, 0, crp_mg_l=200)
    lab(patient_a, nurse, 1, crp_mg_l=40, pao2_mmhg=100, abg_fio2="0.40")
    lab(patient_a, nurse, 2, crp_mg_l=30, pao2_mmhg=110, abg_fio2="0.40")
    lab(patient_a, nurse, 3, ast_u_l=130)  # site ULN 40
    services.event_save(
        form="adverse_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 3, "kind": "bacteraemia", "organism": "S. aureus", "serious": True}),
        user=nurse,
    )
    services.event_save(
        form="disposition_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 5, "kind": "death", "cause_of_death": "ARDS"}),
        user=users["investigator"],
    )
    VitalSigns.objects.create(patient=patient_a, study_day=7, spo2_pct=95)  # as an old import could have
    lab(patient_b, users["data_manager"], 1, ast_u_l=500)
    derivation_job.derive_all()


def counts(signals) -> dict:
    return {signal.key: signal.count for signal in signals}


def test_signals_of_the_users_sites(signals_data, patient_a, users):
    today = datetime.date(2020, 3, 27)  # patient A's day 10
    signals = {s.key: s for s in dashboard.study_signals(users["investigator"], patient_a.study, today)}
    assert counts(signals.values()) == {"benefit": 1, "liver": 1, "bacteraemia": 1, "after_death": 1, "missing": 1}
    assert signals["benefit"].flags[0].days == [2]
    assert signals["liver"].flags[0].days == [3]
    assert signals["bacteraemia"].flags[0].detail == "S. aureus, serious"
    assert signals["after_death"].flags[0].days == [7]
    missing = signals["missing"].flags[0]
    # Days 0-4 required (death on day 5): vital signs none, support none, labs on 0-3 -> 5 + 5 + 1.
    assert missing.total == 11 and "of days 0-4" in missing.detail
    # The data manager sees both sites: patient B's liver signal too.
    assert counts(dashboard.study_signals(users["data_manager"], patient_a.study, today))["liver"] == 2


def test_no_missing_forms_before_today(patient_a, users):
    signals = dashboard.study_signals(users["investigator"], patient_a.study, patient_a.enrolment_date)
    assert counts(signals)["missing"] == 0  # day 0 is today: nothing is past yet
    signals = dashboard.study_signals(users["investigator"], patient_a.study, datetime.date(2020, 3, 19))
    assert signals[-1].flags[0].total == 6  # days 0 and 1, three forms each


def test_dashboard_page(client, signals_data, patient_a, users, django_assert_max_num_queries):
    client.force_login(users["investigator"])
    url = f"/studies/{patient_a.study.code}/dashboard/"
    with django_assert_max_num_queries(12):
        response = client.get(url)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-signal="liver">1<' in html and 'data-signal="bacteraemia">1<' in html
    assert f'href="/patients/{patient_a.pk}/#day-3"' in html
    assert "BG-0001" not in html  # another site's patient
    assert "last computed" in html
    client.force_login(users["nurse"])
    assert client.get(url).status_code == 403


def test_query_count_does_not_grow_with_patients(client, study, site_a, arms, users, django_assert_max_num_queries):
    from tests import factories

    for _ in range(30):
        factories.PatientFactory(study=study, site=site_a, arm=arms["standard"])
    derivation_job.derive_study(study)
    client.force_login(users["monitor"])
    with django_assert_max_num_queries(12):
        response = client.get(f"/studies/{study.code}/dashboard/")
    assert response.content.decode().count("/#") <= 30 + 1
    assert 'data-signal="missing">30<' in response.content.decode()


def test_the_navigation_leads_to_the_dashboard_for_the_roles_that_may_open_it(client, study, patient_a, users):
    """The dashboard's roles find it from the home page (the study card) and from every page of the study (the
    navigation bar); other roles are not shown a link that answers 403."""
    url = f"/studies/{study.code}/dashboard/"
    link = f'href="{url}"'
    for role in ("nurse", "investigator", "monitor", "data_manager", "statistician", "admin"):
        client.force_login(users[role])
        allowed = role in dashboard.dashboard.allowed_roles
        assert (client.get(url).status_code == 200) is allowed, role
        assert (link in client.get("/").content.decode()) is allowed, role
        if role == "statistician":
            continue  # sees no patient page
        for page in (f"/studies/{study.code}/patients/", f"/patients/{patient_a.pk}/"):
            html = client.get(page).content.decode()
            assert (link in html.split("</nav>")[0]) is allowed, (role, page)
    client.force_login(users["investigator"])
    html = client.get(url).content.decode()
    assert 'aria-current="page"' in html.split("</nav>")[0]  # the dashboard marks its own entry


def test_the_benefit_signal_states_the_studys_own_rule(patient_a, users):
    """The dashboard describes the derivation's rule with the study's overrides, not constants of its own."""
    study = patient_a.study
    study.settings = {**study.settings, "derivation": {"benefit_crp_fall_fraction": 0.5, "benefit_pf_above": 250}}
    study.save()
    signals = {s.key: s for s in dashboard.study_signals(users["investigator"], study, datetime.date(2020, 3, 27))}
    description = signals["benefit"].explanation
    assert "CRP fallen >= 50% from day 0 and PaO2:FiO2 > 250 on 2 consecutive days" in description
