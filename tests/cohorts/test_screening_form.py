"""The screening form as an investigator uses it: every criterion shown, missing data as field errors, units."""

import pytest

from cohorts.models import Screening, ScreeningReason
from tests.cohorts.screening_data import milan_post


@pytest.fixture
def investigator(users):
    return users["investigator"]


def url(study, suffix="new/"):
    return f"/studies/{study.code}/screenings/{suffix}"


def test_form_shows_the_rule_set_fields_with_units(client, study, investigator):
    client.force_login(investigator)
    page = client.get(url(study)).content.decode()
    assert "COVID-19 confirmed by RT-PCR" in page
    assert 'name="crp_mg_l_unit"' in page and "mg/dL" in page
    assert 'name="pao2_mmhg_unit"' in page and "kPa" in page
    assert 'value="unknown"' in page
    assert 'hx-post="/studies/milan-anakinra/screenings/evaluate/"' in page


def test_eligible_screening_is_saved_with_every_criterion(client, study, site_a, investigator):
    client.force_login(investigator)
    response = client.post(url(study), milan_post(site_a))
    screening = Screening.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(study, f"{screening.pk}/")
    assert screening.eligible and screening.number == "MI-S0001"
    assert screening.screened_by == investigator
    assert not screening.reasons.exists()
    assert len(screening.criteria) == 13
    assert screening.history.get().history_change_reason == "screening"
    page = client.get(response["Location"]).content.decode()
    assert "eligible" in page and "PaO2:FiO2 120 mmHg" in page
    assert "Enrol this patient" in page


def test_ineligible_screening_is_kept_with_its_reasons(client, study, site_a, investigator):
    client.force_login(investigator)
    client.post(url(study), milan_post(site_a, crp_mg_l="80", ferritin_ng_ml="500", bacterial_infection="yes"))
    screening = Screening.objects.get()
    assert not screening.eligible
    reasons = {(r.code, r.verdict) for r in screening.reasons.all()}
    assert reasons == {("hyperinflammation", "not_met"), ("bacterial_infection", "met")}


def test_missing_data_is_an_error_on_the_field_and_nothing_is_saved(client, study, site_a, investigator):
    client.force_login(investigator)
    response = client.post(url(study), milan_post(site_a, peep_cmh2o=None, written_consent="unknown"))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.has_error("peep_cmh2o", "required_for_criterion")
    assert form.has_error("written_consent", "required_for_criterion")
    assert not Screening.objects.exists()
    page = response.content.decode()
    assert "Save as screen failure" in page and "cannot be decided for missing data" in page


def test_missing_data_saved_as_screen_failure(client, study, site_a, investigator):
    client.force_login(investigator)
    data = milan_post(site_a, peep_cmh2o=None, written_consent="unknown", action="screen_failure")
    response = client.post(url(study), data)
    assert response.status_code == 302
    screening = Screening.objects.get()
    assert not screening.eligible
    assert {(r.code, r.verdict) for r in screening.reasons.all()} == {
        ("peep", "missing"),
        ("written_consent", "missing"),
    }


def test_an_eligible_candidate_is_not_a_screen_failure(client, study, site_a, investigator):
    client.force_login(investigator)
    response = client.post(url(study), milan_post(site_a, action="screen_failure"))
    assert response.status_code == 200
    assert response.context["form"].has_error("__all__", "not_a_screen_failure")
    assert not Screening.objects.exists()


def test_crp_in_mg_dl_and_pao2_in_kpa_are_converted(client, study, site_a, investigator):
    client.force_login(investigator)
    data = milan_post(
        site_a, crp_mg_l="10", crp_mg_l_unit="mg/dL", ferritin_ng_ml=None, pao2_mmhg="8", pao2_mmhg_unit="kPa"
    )
    client.post(url(study), data)
    screening = Screening.objects.get()
    assert screening.values["crp_mg_l"] == 100.0  # 10 mg/dL = 100 mg/L: exactly at the threshold, met
    assert screening.values["pao2_mmhg"] == pytest.approx(60.00496)
    assert screening.entered_units["crp_mg_l"] == "mg/dL"
    assert screening.entered_units["pao2_mmhg"] == "kPa"
    assert screening.eligible
    page = client.get(url(study, f"{screening.pk}/")).content.decode()
    assert "CRP: 10 mg/dL = 100 mg/L" in page and "PaO2 (arterial blood gas): 8 kPa = 60.005 mmHg" in page


def test_crp_just_below_threshold_in_mg_dl_fails(client, study, site_a, investigator):
    client.force_login(investigator)
    client.post(url(study), milan_post(site_a, crp_mg_l="9.9", crp_mg_l_unit="mg/dL", ferritin_ng_ml="800"))
    screening = Screening.objects.get()
    assert not screening.eligible
    assert ScreeningReason.objects.get().code == "hyperinflammation"


def test_implausible_value_is_refused_on_its_field(client, study, site_a, investigator):
    client.force_login(investigator)
    response = client.post(url(study), milan_post(site_a, fio2="50"))  # a percentage typed as a fraction
    assert response.context["form"].has_error("fio2", "hard_limit")
    response = client.post(url(study), milan_post(site_a, fio2="50", fio2_unit="%"))
    assert response.status_code == 302


def test_live_evaluation_returns_the_criteria_table(client, study, site_a, investigator):
    client.force_login(investigator)
    data = milan_post(site_a, crp_mg_l="8", crp_mg_l_unit="mg/dL", ferritin_ng_ml="500")
    response = client.post(url(study, "evaluate/"), data, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert "Not eligible" in page and "CRP 80 mg/L" in page
    assert "CRP: 8 mg/dL = 80 mg/L" in page
    assert not Screening.objects.exists()


def test_rescreen_is_linked_and_counted_once(client, study, site_a, investigator):
    client.force_login(investigator)
    client.post(url(study), milan_post(site_a, crp_mg_l="80", ferritin_ng_ml="500"))
    first = Screening.objects.get()
    page = client.get(url(study) + f"?rescreen={first.pk}").content.decode()
    assert 'value="80' in page  # the re-screen starts from the previous values
    response = client.post(url(study), milan_post(site_a, rescreen_of=str(first.pk), assessed_at="2020-03-17T09:00"))
    assert response.status_code == 302
    second = Screening.objects.exclude(pk=first.pk).get()
    assert second.rescreen_of == first and second.number == "MI-S0002"
    log = client.get(url(study, ""))
    assert log.context["counts"]["screened"] == 1
    assert log.context["counts"]["eligible"] == 1
    # the first one cannot be re-screened twice
    response = client.post(url(study), milan_post(site_a, rescreen_of=str(first.pk)))
    assert response.context["form"].has_error("rescreen_of")


def test_screening_refused_while_study_locked(client, study, site_a, investigator):
    client.force_login(investigator)
    study.is_locked = True
    study.save()
    response = client.post(url(study), milan_post(site_a))
    assert response.status_code == 200
    assert response.context["form"].has_error("__all__", "study_locked")
    assert not Screening.objects.exists()
    assert "Screen a candidate" not in client.get(url(study, "")).content.decode()


def test_the_pf_ratio_reads_with_one_decimal(client, study, site_a, investigator):
    """PaO2 70 mmHg on FiO2 0.6 is a P/F of 116.67, shown as 116.7 like every P/F of the application: in the value
    column and in the reason, on the saved screening and in the live panel alike."""
    client.force_login(investigator)
    data = milan_post(site_a, pao2_mmhg="70", fio2="0.6")
    live = client.post(url(study, "evaluate/"), data, headers={"HX-Request": "true"}).content.decode()
    response = client.post(url(study), data)
    page = client.get(response["Location"]).content.decode()
    for html in (live, page):
        assert "<td>116.7</td>" in html and "PaO2:FiO2 116.7 mmHg (PaO2 70 mmHg / FiO2 0.6)" in html
        assert "116.6667" not in html


def test_a_pf_a_hair_above_the_threshold_is_not_rounded_onto_it(client, study, site_a, investigator):
    """200.04 is not met (<= 200): one decimal would read "200 mmHg is above 200 mmHg", so it keeps the digits
    that tell it from the threshold."""
    client.force_login(investigator)
    data = milan_post(site_a, pao2_mmhg="100.02", fio2="0.5")
    live = client.post(url(study, "evaluate/"), data, headers={"HX-Request": "true"}).content.decode()
    assert "<td>200.04</td>" in live and "PaO2:FiO2 200.04 mmHg (PaO2 100.02 mmHg / FiO2 0.5) is above 200 mmHg" in live
