"""Site scoping of screenings: investigators screen and read at their own sites, data managers everywhere."""

import pytest

from cohorts.models import Screening
from tests.cohorts.screening_data import milan_post
from tests.conftest import make_user


@pytest.fixture
def investigator_b(site_b):
    return make_user("investigator_b", "investigator", [site_b])


@pytest.fixture
def screening_a(client, study, site_a, users):
    client.force_login(users["investigator"])
    client.post(f"/studies/{study.code}/screenings/new/", milan_post(site_a))
    client.logout()
    return Screening.objects.get()


def test_investigator_of_another_site_gets_404(client, study, screening_a, investigator_b):
    client.force_login(investigator_b)
    base = f"/studies/{study.code}/screenings/{screening_a.pk}/"
    assert client.get(base).status_code == 404
    assert client.get(base + "enrol/").status_code == 404
    assert client.post(base + "enrol/", {"arm": "1"}).status_code == 404
    log = client.get(f"/studies/{study.code}/screenings/")
    assert screening_a.number not in log.content.decode()
    assert log.context["counts"]["screened"] == 0


def test_investigator_screens_only_at_own_sites(client, study, site_a, site_b, investigator_b):
    client.force_login(investigator_b)
    response = client.post(f"/studies/{study.code}/screenings/new/", milan_post(site_a))
    assert response.status_code == 200
    assert response.context["form"].has_error("site", "invalid_choice")
    assert not Screening.objects.exists()
    assert list(response.context["form"].fields["site"].queryset) == [site_b]


def test_rescreen_of_another_sites_screening_is_refused(client, study, site_b, screening_a, investigator_b):
    client.force_login(investigator_b)
    data = milan_post(site_b, rescreen_of=str(screening_a.pk))
    response = client.post(f"/studies/{study.code}/screenings/new/", data)
    assert response.context["form"].has_error("rescreen_of", "invalid_choice")
    page = client.get(f"/studies/{study.code}/screenings/new/?rescreen={screening_a.pk}").content.decode()
    assert screening_a.number not in page


def test_data_manager_screens_at_any_site(client, study, site_b, users):
    client.force_login(users["data_manager"])
    response = client.post(f"/studies/{study.code}/screenings/new/", milan_post(site_b))
    assert response.status_code == 302
    assert Screening.objects.get().number == "BG-S0001"


def test_monitor_reads_the_log_but_cannot_screen_or_enrol(client, study, screening_a, users):
    client.force_login(users["monitor"])
    log = client.get(f"/studies/{study.code}/screenings/").content.decode()
    assert screening_a.number in log and "Screen a candidate" not in log and ">Enrol<" not in log
    detail = client.get(f"/studies/{study.code}/screenings/{screening_a.pk}/").content.decode()
    assert "Enrol this patient" not in detail
    assert client.get(f"/studies/{study.code}/screenings/{screening_a.pk}/enrol/").status_code == 403


def test_other_study_screening_is_404(client, study, screening_a, users, site_a):
    from tests.factories import StudyFactory

    other = StudyFactory(code="other-study", title="Other", protocol="new_york_2020")
    site_a.studies.add(other)
    client.force_login(users["investigator"])
    assert client.get(f"/studies/other-study/screenings/{screening_a.pk}/").status_code == 404
