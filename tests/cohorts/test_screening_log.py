"""The screening log page: every screening with its reasons, CONSORT counts, site filter, fixed query count."""

import datetime
import importlib
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps as django_apps
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.models import UserPreference
from cohorts import consort, services
from cohorts.models import ConsortCount, Study
from tests.factories import UserFactory

WHEN = datetime.datetime(2020, 3, 16, 9, tzinfo=datetime.UTC)
ELIGIBLE = {
    "age_years": 62,
    "covid_rt_pcr_confirmed": True,
    "bilateral_infiltrates": True,
    "pao2_mmhg": 60.0,
    "fio2": 0.5,
    "peep_cmh2o": 10.0,
    "left_atrial_hypertension_excluded": True,
    "crp_mg_l": 150.0,
    "ferritin_ng_ml": 1200.0,
    "on_niv_outside_icu": True,
    "written_consent": True,
    "in_icu_on_mechanical_ventilation": False,
    "bacterial_infection": False,
    "anti_inflammatory_or_glucocorticoids": False,
    "enrolled_in_other_trial": False,
}


def screen(study, site, user, rescreen_of=None, as_screen_failure=False, **changes):
    return services.screening_create(
        study=study,
        site=site,
        assessed_at=WHEN,
        values={**ELIGIBLE, **changes},
        entered_units={},
        user=user,
        rescreen_of=rescreen_of,
        as_screen_failure=as_screen_failure,
    )


def enrol(screening, arm, user):
    return services.patient_enrol(
        screening=screening,
        arm=arm,
        enrolment_date=datetime.date(2020, 3, 16),
        sex="F",
        age_years=None,
        weight_kg=70,
        user=user,
    )


@pytest.fixture
def log_data(study, site_a, site_b, arms):
    user = UserFactory(username="screener")
    screen(study, site_a, user, crp_mg_l=80.0, ferritin_ng_ml=500.0)  # not met
    failed = screen(study, site_a, user, bacterial_infection=True)  # exclusion applies
    screen(study, site_a, user, as_screen_failure=True, written_consent=None)  # missing
    enrol(screen(study, site_a, user, rescreen_of=failed), arms["high_dose"], user)
    enrol(screen(study, site_b, user), arms["standard"], user)
    screen(study, site_b, user)  # eligible, not enrolled
    return user


def test_consort_counts(client, study, users, log_data):
    client.force_login(users["data_manager"])
    response = client.get(f"/studies/{study.code}/screenings/")
    counts = response.context["counts"]
    # 6 screenings, 5 candidates: the bacterial infection was re-screened and enrolled.
    assert (counts["screened"], counts["eligible"], counts["ineligible"], counts["enrolled"]) == (5, 3, 2, 2)
    assert {(r["code"], r["verdict"], r["n"]) for r in counts["reasons"]} == {
        ("hyperinflammation", "not_met", 1),
        ("written_consent", "missing", 1),
    }
    assert {a["patient__arm__code"]: a["n"] for a in counts["per_arm"]} == {"high_dose": 1, "standard": 1}
    page = response.content.decode()
    for number in ("MI-S0001", "MI-S0002", "MI-S0003", "MI-S0004", "BG-S0001", "BG-S0002"):
        assert number in page
    assert "Evidence of bacterial infection: exclusion applies" in page
    assert "Missing data: Written informed consent" in page
    assert counts["ineligible_missing_only"] == 1
    assert [r["code"] for r in counts["failing_reasons"]] == ["hyperinflammation"]
    assert [r["code"] for r in counts["missing_reasons"]] == ["written_consent"]


def test_filter_by_site(client, study, users, log_data):
    client.force_login(users["data_manager"])
    response = client.get(f"/studies/{study.code}/screenings/?site=BG")
    counts = response.context["counts"]
    assert (counts["screened"], counts["enrolled"]) == (2, 1)
    assert "MI-S0001" not in response.content.decode()
    # an investigator of site A sees only site A, whatever the filter asks
    client.force_login(users["investigator"])
    response = client.get(f"/studies/{study.code}/screenings/?site=BG")
    assert response.context["site"] is None
    assert "BG-S0001" not in response.content.decode()
    assert response.context["counts"]["screened"] == 3


def test_query_count_does_not_grow_with_the_log(client, study, site_a, users, log_data, django_assert_max_num_queries):
    client.force_login(users["data_manager"])
    url = f"/studies/{study.code}/screenings/"
    # session, user, roles, study, sites, 3 CONSORT counts, its page of screenings, their reasons; the pages are
    # counted from the kept figures, not by a count of the log's rows
    with django_assert_max_num_queries(10) as captured:
        client.get(url)
    assert not [q for q in captured.captured_queries if "COUNT(" in q["sql"] and "cohorts_screening" in q["sql"]]
    for _ in range(10):
        screen(study, site_a, log_data, crp_mg_l=80.0, ferritin_ng_ml=500.0)
    with django_assert_max_num_queries(10):
        response = client.get(url)
    assert response.status_code == 200 and response.context["page"].paginator.count == 16


def test_the_log_is_shown_a_page_at_a_time_newest_first(client, study, site_a, site_b, users, log_data, monkeypatch):
    """A study's log is read a page at a time, so that it opens as fast with 50,000 screenings as with 50; the
    CONSORT counts still count them all, and the pages keep the site filter."""
    from cohorts import selectors

    monkeypatch.setattr(selectors, "SCREENING_LOG_SIZE", 4)
    for _ in range(3):
        screen(study, site_a, log_data, crp_mg_l=80.0, ferritin_ng_ml=500.0)  # MI-S0005 to MI-S0007
    client.force_login(users["data_manager"])
    url = f"/studies/{study.code}/screenings/"

    def numbers(response) -> list[str]:
        return [screening.number for screening in response.context["page"].object_list]

    first, second = client.get(url), client.get(url + "?page=2")
    # All were assessed at the same moment: the newest entered first.
    assert numbers(first) == ["MI-S0007", "MI-S0006", "MI-S0005", "BG-S0002"]
    assert numbers(second) == ["BG-S0001", "MI-S0004", "MI-S0003", "MI-S0002"]
    assert numbers(client.get(url + "?page=3")) == ["MI-S0001"]
    assert first.context["counts"]["screened"] == 8  # 9 screenings, one of them re-screened
    assert "page 1 of 3" in first.content.decode() and 'href="?page=2"' in first.content.decode()
    # A page beyond the last shows the last; a page that is no number, the first.
    assert numbers(client.get(url + "?page=99")) == ["MI-S0001"]
    assert numbers(client.get(url + "?page=x%00")) == numbers(first)

    by_site = client.get(url + "?site=MI")
    assert numbers(by_site) == ["MI-S0007", "MI-S0006", "MI-S0005", "MI-S0004"]
    assert 'href="?site=MI&amp;page=2"' in by_site.content.decode()
    second_at_mi = client.get(url + "?site=MI&page=2")
    assert numbers(second_at_mi) == ["MI-S0003", "MI-S0002", "MI-S0001"]
    assert "Evidence of bacterial infection: exclusion applies" in second_at_mi.content.decode()


def test_detail_query_count(client, study, users, log_data, django_assert_max_num_queries):
    from cohorts.models import Screening

    client.force_login(users["investigator"])
    screening = Screening.objects.get(number="MI-S0004")
    # session, user, roles, study, screening with site/patient/arm, its re-screens
    with django_assert_max_num_queries(6):
        page = client.get(f"/studies/{study.code}/screenings/{screening.pk}/").content.decode()
    assert "MI-S0002" in page and "Enrolled as" in page


def kept(study) -> dict[int, Counter]:
    by_site: dict[int, Counter] = {}
    for site, figure, n in ConsortCount.objects.filter(study=study).values_list("site_id", "figure", "n"):
        by_site.setdefault(site, Counter())[figure] = n
    return {site: +figures for site, figures in by_site.items() if +figures}


def test_the_kept_figures_follow_each_screening_re_screen_and_enrolment(study, site_a, site_b, arms, log_data):
    """The log's counts are kept per site as screenings and enrolments are saved, and equal a count from the
    screenings themselves after each: a re-screen moves the candidate's reasons to its latest screening."""
    user = log_data
    assert kept(study) == consort.count_from_scratch(study)
    assert kept(study)[site_a.pk]["reason:hyperinflammation:not_met"] == 1

    first = screen(study, site_a, user, as_screen_failure=True, written_consent=None)  # missing only
    assert kept(study) == consort.count_from_scratch(study)
    second = screen(study, site_a, user, rescreen_of=first, crp_mg_l=80.0, ferritin_ng_ml=500.0)  # not met now
    figures = kept(study)[site_a.pk]
    assert figures == consort.count_from_scratch(study)[site_a.pk]
    assert (figures["ineligible_missing_only"], figures["reason:written_consent:missing"]) == (1, 1)  # log_data's
    third = screen(study, site_a, user, rescreen_of=second)  # eligible at last
    enrol(third, arms["standard"], user)
    assert kept(study) == consort.count_from_scratch(study)
    assert kept(study)[site_a.pk]["arm:standard"] == 1 and kept(study)[site_b.pk]["arm:standard"] == 1

    ConsortCount.objects.filter(study=study).update(n=99)  # drift (data loaded without the services)
    consort.recount(study)
    assert kept(study) == consort.count_from_scratch(study)


def test_the_migration_counts_the_logs_already_there(study, log_data):
    ConsortCount.objects.all().delete()  # as before the figures were kept
    migration = importlib.import_module("cohorts.migrations.0015_consort_counts")
    migration.count_the_screenings(django_apps, None)
    assert kept(study) == consort.count_from_scratch(study) != {}


def test_the_migration_counts_the_rows_of_the_logs_already_there(study, site_a, site_b, log_data):
    """Logs kept before the figure of their rows (cohorts 0016): every screening counts, a re-screened one too."""
    ConsortCount.objects.filter(figure="screenings").delete()
    migration = importlib.import_module("cohorts.migrations.0016_consort_screenings")
    migration.count_the_screenings(django_apps, None)
    assert kept(study) == consort.count_from_scratch(study)
    assert (kept(study)[site_a.pk]["screenings"], kept(study)[site_b.pk]["screenings"]) == (4, 2)


def _log_rows(page: str) -> dict[str, str]:
    """Each row of the log's table by its screening number."""
    body = page.split('data-testid="log"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    rows = body.split("<tr>")[1:]
    return {row.split('">', 1)[1].split("<", 1)[0]: row for row in rows}


def test_each_row_shows_the_screening_as_its_site_saw_it(client, study, users, log_data):
    """A row: the time at the screening's site, who screened, the result and reasons, the screening it re-screens,
    the patient enrolled from it, and an Enrol button only for an eligible candidate not yet enrolled, for a user who
    may screen, while the study is not locked."""
    client.force_login(users["investigator"])  # site A (Milan, Europe/Rome: 09:00 UTC is 10:00 there)
    url = f"/studies/{study.code}/screenings/"
    rows = _log_rows(client.get(url).content.decode())
    assert set(rows) == {"MI-S0001", "MI-S0002", "MI-S0003", "MI-S0004"}
    assert "16 Mar 2020 10:00" in rows["MI-S0001"] and "screener" in rows["MI-S0001"]
    assert "Hyperinflammation (CRP or ferritin): not met" in rows["MI-S0001"] and "not eligible" in rows["MI-S0001"]
    assert "Missing data: Written informed consent" in rows["MI-S0003"]
    enrolled = rows["MI-S0004"]
    assert ">MI-S0002</a>" in enrolled and "MI-0001 · High-dose anakinra" in enrolled and "Enrol<" not in enrolled
    client.force_login(users["data_manager"])
    both = _log_rows(client.get(url).content.decode())
    assert f"/studies/{study.code}/screenings/" in both["BG-S0002"] and "/enrol/" in both["BG-S0002"]
    assert "/enrol/" not in both["BG-S0001"] and "/enrol/" not in both["MI-S0001"]
    study.is_locked = True
    study.save(update_fields=["is_locked"])
    assert "/enrol/" not in _log_rows(client.get(url).content.decode())["BG-S0002"]


def test_the_rows_speak_the_readers_language(client, study, users, log_data):
    UserPreference.objects.create(user=users["data_manager"], language="it")
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/screenings/").content.decode()
    rows = _log_rows(page)
    assert "non eleggibile" in rows["MI-S0001"] and "16 Mar 2020 10:00" in rows["MI-S0001"]
    assert "Iperinfiammazione (PCR o ferritina): non soddisfatto" in rows["MI-S0001"]


@pytest.mark.parametrize("language", ["en", "it"])
@settings(max_examples=60, deadline=None)
@given(moment=st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1)))
def test_a_row_writes_the_time_as_the_date_filter_does(language, moment):
    """The log's rows write the time assessed without the date filter per row: the same text, in both languages."""
    from django.template.defaultfilters import date as date_filter
    from django.utils import translation

    from cohorts.models import Screening, Site
    from cohorts.templatetags.screening_rows import _Page

    at = moment.replace(tzinfo=datetime.UTC)
    screening = Screening(assessed_at=at, site=Site(code="NY", time_zone="America/New_York"))
    with translation.override(language):
        page = _Page(Study(code="s"), can_enrol=False)
        expected = date_filter(at.astimezone(ZoneInfo("America/New_York")), "d M Y H:i")
        assert page.when(screening) == expected
