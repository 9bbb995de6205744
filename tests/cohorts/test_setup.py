"""Study set-up: the pages and ``manage.py create_study`` (one service, cohorts/setup.py), what they refuse and why,
who may use them, and what the command creates."""

import io
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cohorts.models import Arm, Site, Study
from demo.studies import DEMO_SITES, MILAN_ARMS

DOCS = Path(__file__).resolve().parents[2] / "docs"
MILAN = (DOCS / "study-milan.toml").read_text()


def create_study(tmp_path, text: str) -> tuple[list[str], str]:
    """Run the command on ``text``; the problem lines it printed and its final error ([] and "" on success)."""
    path = tmp_path / "study.toml"
    path.write_text(text)
    err = io.StringIO()
    try:
        call_command("create_study", str(path), stdout=io.StringIO(), stderr=err)
    except CommandError as error:
        return err.getvalue().splitlines(), str(error)
    return [], ""


def counts() -> tuple[int, int, int]:
    return Study.objects.count(), Site.objects.count(), Arm.objects.count()


# --------------------------------------------------------------------------- the command and the example files


@pytest.mark.django_db
def test_the_milan_example_file_sets_up_the_demo_study():
    out = io.StringIO()
    call_command("create_study", str(DOCS / "study-milan.toml"), stdout=out)
    study = Study.objects.get(code="milan-anakinra")
    assert (study.protocol, study.follow_up_days, study.registry_id, study.settings) == (
        "milan_2020",
        21,
        "NCT04318366",
        {},
    )
    arms = list(study.arms.order_by("order").values("code", "name", "regimen_description", "regimen"))
    assert arms == [{key: arm[key] for key in ("code", "name", "regimen_description", "regimen")} for arm in MILAN_ARMS]
    assert sorted(study.sites.values_list("code", "name")) == sorted(DEMO_SITES)
    assert study.history.get().history_change_reason == "study set-up: study-milan.toml"
    assert (
        "Created the study milan-anakinra" in out.getvalue() and "arms: standard, low_dose, high_dose" in out.getvalue()
    )


@pytest.mark.django_db
def test_the_new_york_example_file_sets_up_one_anakinra_arm():
    call_command("create_study", str(DOCS / "study-new-york.toml"), stdout=io.StringIO())
    study = Study.objects.get(code="new-york-anakinra")
    assert study.protocol == "new_york_2020"
    (arm,) = study.arms.all()
    assert arm.regimen == [
        {"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "q6h", "duration_days": 20}
    ]
    assert list(study.sites.values_list("code", flat=True)) == ["NY"]


@pytest.mark.django_db
def test_a_bad_file_lists_every_problem_by_its_path_and_writes_nothing(tmp_path):
    call_command("create_study", str(DOCS / "study-new-york.toml"), stdout=io.StringIO())
    before = counts()
    text = (
        MILAN.replace('code = "milan-anakinra"', 'code = "new-york-anakinra"')  # taken
        .replace('protocol = "milan_2020"', 'protocol = "paris_2021"')  # not in the registry
        .replace('code = "BG"', 'code = "bg"')  # not a site code
        .replace(
            'route = "oral"\nfrequency = "bid"\n\n[[arms.regimen]]\ndrug = "lopinavir',
            'frequency = "bid"\n\n[[arms.regimen]]\ndrug = "lopinavir',
        )
        .replace("dose = 100\n", "dose = 5000\n")  # low-dose anakinra: 5000 mg
    )
    text += "\n[settings.derivation]\nards_severe_pf_below = 250\nards_moderate_pf_max = 200\n"
    lines, error = create_study(tmp_path, text)
    assert lines == [
        "code: a study with the code 'new-york-anakinra' already exists; choose another code",
        "protocol: unknown protocol 'paris_2021'; known: milan_2020, new_york_2020",
        "settings.derivation.ards_moderate_pf_max: ARDS bands must increase: the severe band ends below 250 mmHg, "
        "which must be lower than the moderate band's maximum 200 mmHg",
        "sites[1].code: 2 to 8 capital letters or digits, e.g. MI (got 'bg')",
        "arms[0].regimen[0].route: required: one of oral, sc, iv",
        "arms[1].regimen[0].dose: 5000 mg is above the plausible maximum single dose of 1000 mg",
    ]
    assert error.endswith("6 problems (listed above); nothing was written.")
    assert counts() == before


@pytest.mark.django_db
def test_one_bad_arm_and_nothing_of_the_good_rest_is_written(tmp_path):
    text = MILAN + '\n[[arms]]\ncode = "extra"\nname = "Extra"\n\n[[arms.regimen]]\ndrug = "anakinra"\ndose = 1\n'
    lines, _error = create_study(tmp_path, text)
    assert "arms[3].regimen[0].route: required: one of oral, sc, iv" in lines
    assert counts() == (0, 0, 0)


@pytest.mark.django_db
def test_unknown_keys_and_bad_settings_are_named(tmp_path):
    text = MILAN.replace("follow_up_days = 21", "follow_up_days = 0\nfollowup = 21")
    text += "\n[settings.eligibility]\nmilan_crp_min_mg_l = 'high'\nny_crp_gt_mg_l = 50\n"
    lines, _error = create_study(tmp_path, text)
    assert (
        "followup: unknown key; known: "
        + ", ".join(
            [
                "code",
                "title",
                "protocol",
                "registry_id",
                "follow_up_days",
                "primary_scale",
                "language",
                "settings",
                "sites",
                "arms",
            ]
        )
        in lines
    )
    assert "follow_up_days: a whole number of days from 1 to 365 (got 0)" in lines
    assert "settings.eligibility.milan_crp_min_mg_l: 'high' is not a finite number" in lines
    assert any(
        line.startswith("settings.eligibility.ny_crp_gt_mg_l: not a setting of the protocol milan_2020")
        for line in lines
    )


@pytest.mark.django_db
def test_an_existing_site_is_linked_and_must_not_differ(tmp_path):
    Site.objects.create(code="MI", name="Milan, San Raffaele Hospital")
    lines, _ = create_study(tmp_path, MILAN.replace("ast_uln_u_l = 40", "ast_uln_u_l = 45"))
    assert lines[0].startswith("sites[0].ast_uln_u_l: the site MI exists with ast_uln_u_l 40.0")
    assert create_study(tmp_path, MILAN) == ([], "")  # 40 and 40.0 are the same limit
    assert Site.objects.count() == 2
    assert Site.objects.get(code="MI").studies.get().code == "milan-anakinra"


@pytest.mark.django_db
def test_a_file_that_is_not_toml_is_refused_with_its_line(tmp_path):
    _lines, error = create_study(tmp_path, 'code = "x"\ntitle = \n')
    assert "not valid TOML" in error and "line 2" in error
    with pytest.raises(CommandError, match="cannot read the file"):
        call_command("create_study", str(tmp_path / "missing.toml"))


# --------------------------------------------------------------------------- the pages


def study_body(**changes) -> dict:
    body = {
        "code": "paris-anakinra",
        "title": "Anakinra in Paris",
        "protocol": "milan_2020",
        "registry_id": "",
        "follow_up_days": "28",
        "primary_scale": "milan_7",
        "ards_severe_pf_below": "",
        "ards_moderate_pf_max": "",
        "other_settings": "",
        "reason": "",
    }
    return {**body, **changes}


def form_errors(response, name="form") -> dict:
    return {field: list(errors) for field, errors in response.context[name].errors.items()}


@pytest.fixture
def dm(client, users):
    client.force_login(users["data_manager"])
    return client


def test_the_navigation_offers_the_set_up_to_data_managers_and_administrators_only(client, users):
    for role, shown in [("data_manager", True), ("admin", True), ("investigator", False), ("nurse", False)]:
        client.force_login(users[role])
        page = client.get("/").content.decode()
        assert ('data-testid="nav-setup"' in page) is shown, role
        assert client.get("/setup/").status_code == (200 if shown else 403)


@pytest.fixture
def sysadmin(client, users):
    client.force_login(users["admin"])
    return client


def test_new_studies_and_sites_are_the_system_administrators(dm):
    """A study's data manager sets up their study; a new study or site is made by a system administrator."""
    for url in ("/setup/studies/new/", "/setup/sites/new/"):
        assert dm.get(url).status_code == 403
        assert dm.post(url, study_body()).status_code == 403
    assert 'data-testid="new-study"' not in dm.get("/setup/").content.decode()
    assert not Study.objects.filter(code="paris-anakinra").exists()


def test_an_administrator_creates_a_study_on_the_page(sysadmin, site_a):
    response = sysadmin.post(
        "/setup/studies/new/",
        study_body(sites=["MI"], ards_severe_pf_below="90", ards_moderate_pf_max="190"),
    )
    assert response.status_code == 302 and response["Location"] == "/setup/studies/paris-anakinra/"
    study = Study.objects.get(code="paris-anakinra")
    assert study.settings == {"derivation": {"ards_severe_pf_below": 90.0, "ards_moderate_pf_max": 190.0}}
    assert list(study.sites.values_list("code", flat=True)) == ["MI"]
    assert study.history.get().history_user.username == "admin"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"code": "milan-anakinra"}, "code", "a study with the code 'milan-anakinra' already exists"),
        ({"protocol": "paris_2021"}, "protocol", "Select a valid choice"),
        ({"ards_severe_pf_below": "250", "ards_moderate_pf_max": "200"}, "ards_moderate_pf_max", "ARDS bands must"),
        ({"ards_moderate_pf_max": "80"}, "ards_moderate_pf_max", "ARDS bands must increase"),
        ({"other_settings": '{"eligibility": {"milan_crp_min_mg_l": -'}, "other_settings", "Not valid JSON"),
        (
            {"other_settings": '{"derivation": {"rice_max_spo2": 120}}'},
            "other_settings",
            "settings.derivation.rice_max_spo2: must be 50 to 100 (got 120)",
        ),
        ({"follow_up_days": "0"}, "follow_up_days", ""),
    ],
)
def test_the_study_page_refuses_with_the_message_next_to_the_field(sysadmin, study, changes, field, message):
    response = sysadmin.post("/setup/studies/new/", study_body(**changes))
    assert response.status_code == 200
    errors = form_errors(response)
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Study.objects.filter(code="paris-anakinra").exists()


def test_an_arm_without_a_route_or_with_an_impossible_dose_is_refused_next_to_the_field(dm, study):
    rows = {
        "regimen-TOTAL_FORMS": "3",
        "regimen-INITIAL_FORMS": "0",
        "regimen-0-drug": "anakinra",
        "regimen-0-dose": "100",
        "regimen-0-unit": "mg",
        "regimen-0-frequency": "bid",
        # row 1 left empty: ignored
        "regimen-2-drug": "hydroxychloroquine",
        "regimen-2-dose": "20000",
        "regimen-2-unit": "mg",
        "regimen-2-route": "oral",
        "regimen-2-frequency": "bid",
    }
    url = f"/setup/studies/{study.code}/arms/new/"
    response = dm.post(url, {"code": "low_dose", "name": "Low-dose anakinra", **rows})
    assert response.status_code == 200
    formset = response.context["formset"]
    assert formset.forms[0].errors == {"route": ["required: one of oral, sc, iv"]}
    assert formset.forms[1].errors == {}
    assert formset.forms[2].errors == {"dose": ["20000 mg is above the plausible maximum single dose of 800 mg"]}
    assert 'data-testid="error-regimen-0-route"' in response.content.decode()
    assert not study.arms.filter(code="low_dose").exists()
    rows.update({"regimen-0-route": "sc", "regimen-2-dose": "200"})
    assert dm.post(url, {"code": "low_dose", "name": "Low-dose anakinra", **rows}).status_code == 302
    arm = study.arms.get(code="low_dose")
    assert [d["drug"] for d in arm.regimen] == ["anakinra", "hydroxychloroquine"]


def test_a_duplicate_arm_code_is_refused(dm, arms, study):
    body = {"code": "standard", "name": "Again", "regimen-TOTAL_FORMS": "0", "regimen-INITIAL_FORMS": "0"}
    response = dm.post(f"/setup/studies/{study.code}/arms/new/", body)
    assert form_errors(response)["code"] == ["the study already has an arm with the code 'standard'"]


def test_before_the_first_enrolment_changes_need_no_reason(dm, study, site_a, site_b, arms):
    body = study_body(code=study.code, title="New title", sites=["MI", "BG"])
    response = dm.post(f"/setup/studies/{study.code}/", body)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.title == "New title"
    assert study.history.latest().history_change_reason == "study set-up"


def test_the_study_page_sets_the_language_of_the_codebook_and_keeps_it_when_not_given(dm, study, site_a):
    url = f"/setup/studies/{study.code}/"
    assert '<option value="it">Italiano</option>' in dm.get(url).content.decode()
    assert dm.post(url, study_body(code=study.code, title=study.title, language="it", sites=["MI"])).status_code == 302
    study.refresh_from_db()
    assert study.language == "it"
    assert dm.post(url, study_body(code=study.code, title="Renamed", sites=["MI"])).status_code == 302
    study.refresh_from_db()
    assert (study.title, study.language) == ("Renamed", "it")
    response = dm.post(url, study_body(code=study.code, title=study.title, language="fr", sites=["MI"]))
    assert "Select a valid choice. fr is not one of the available choices." in form_errors(response)["language"]


def test_after_the_first_enrolment_every_change_needs_a_reason_and_is_audited(dm, study, site_a, site_b, patient_a):
    url = f"/setup/studies/{study.code}/"
    body = study_body(code=study.code, title=study.title, follow_up_days="28", sites=["MI", "BG"])
    response = dm.post(url, body)
    assert form_errors(response) == {
        "reason": ["give a reason for change: the study has enrolled patients, so changes are audited"]
    }
    assert "Patients are enrolled" in response.content.decode()
    assert dm.post(url, {**body, "reason": "protocol amendment 2: 28 days"}).status_code == 302
    latest = study.history.latest()
    assert (latest.follow_up_days, latest.history_change_reason, latest.history_user.username) == (
        28,
        "protocol amendment 2: 28 days",
        "data_manager",
    )
    # The arm's regimen too: a reason, then a history row.
    arm = patient_a.arm
    arm_url = f"/setup/studies/{study.code}/arms/{arm.code}/"
    rows = {
        "regimen-TOTAL_FORMS": "1",
        "regimen-INITIAL_FORMS": "1",
        "regimen-0-drug": "anakinra",
        "regimen-0-dose": "4",
        "regimen-0-unit": "mg/kg",
        "regimen-0-route": "iv",
        "regimen-0-frequency": "bid",
    }
    arm_body = {"code": arm.code, "name": arm.name, "order": arm.order, **rows}
    assert "reason" in form_errors(dm.post(arm_url, arm_body))
    assert dm.post(arm_url, {**arm_body, "reason": "dose corrected"}).status_code == 302
    arm.refresh_from_db()
    assert arm.regimen[0]["dose"] == 4
    assert arm.history.latest().history_change_reason == "dose corrected"


def test_a_study_once_locked_keeps_its_code(dm, study, site_a, users):
    """Its releases are filed, served and exported under the code they were locked with: renamed, the study would
    lose them. Before its first lock the code may change."""
    from cohorts.services import study_set_locked

    url = f"/setup/studies/{study.code}/"
    assert dm.post(url, study_body(code="renamed", title=study.title, sites=["MI"])).status_code == 302
    study.refresh_from_db()
    assert study.code == "renamed"
    manager = users["data_manager"]
    study_set_locked(study=study, locked=True, user=manager, reason="locked for release v1: day-21 analysis")
    study_set_locked(study=study, locked=False, user=manager, reason="unlocked: late data")
    response = dm.post("/setup/studies/renamed/", study_body(code="renamed-again", title="New title", sites=["MI"]))
    assert form_errors(response) == {
        "code": ["the study's locked releases are kept under the code renamed: it cannot change"]
    }
    assert Study.objects.get(pk=study.pk).title == study.title  # nothing of the refused save stored
    assert (
        dm.post("/setup/studies/renamed/", study_body(code="renamed", title="New title", sites=["MI"])).status_code
        == 302
    )


def test_a_site_with_patients_cannot_leave_the_study(dm, study, site_a, site_b, patient_a):
    body = study_body(code=study.code, title=study.title, follow_up_days="21", sites=["BG"], reason="close MI")
    response = dm.post(f"/setup/studies/{study.code}/", body)
    assert form_errors(response)["sites"] == ["MI has screenings or patients of this study; it cannot leave the study"]


def test_the_follow_up_does_not_end_before_records_already_dated_after_it(dm, study, site_a, patient_a, patient_b):
    """Shortening the follow-up from 21 to 7 days would leave day 10's records outside every casebook and analysis:
    refused, naming the latest record; down to the last recorded day it is accepted."""
    from ecrf.models import DrugAdministration, VitalSigns

    VitalSigns.objects.create(patient=patient_a, study_day=8, temperature_c="37.0")
    DrugAdministration.objects.create(
        patient=patient_b, study_day=10, drug="anakinra", dose="100", dose_unit="mg", route="sc", frequency="bid"
    )
    url = f"/setup/studies/{study.code}/"
    sites = sorted({patient_a.site.code, patient_b.site.code})
    body = study_body(code=study.code, title=study.title, follow_up_days="7", sites=sites, reason="amendment 3")
    response = dm.post(url, body)
    assert form_errors(response)["follow_up_days"] == [
        f"{patient_b.participant_id} has a record of Drug administration dated study day 10: the follow-up cannot end "
        "before it (correct or delete the records after day 7 first)."
    ]
    study.refresh_from_db()
    assert study.follow_up_days == 21
    assert dm.post(url, {**body, "follow_up_days": "10"}).status_code == 302
    study.refresh_from_db()
    assert study.follow_up_days == 10
    # Lengthening it is never refused.
    assert dm.post(url, {**body, "follow_up_days": "28"}).status_code == 302


def test_the_protocol_does_not_change_once_candidates_were_screened(dm, study, site_a, users):
    from django.test import Client

    from tests.cohorts.test_enrolment import screen

    url = f"/setup/studies/{study.code}/"
    # Before any screening the rule set may still be chosen again (here and back).
    body = study_body(code=study.code, title=study.title, follow_up_days="21", sites=["MI"])
    assert dm.post(url, {**body, "protocol": "new_york_2020"}).status_code == 302
    assert dm.post(url, {**body, "protocol": "milan_2020"}).status_code == 302
    investigator = Client()
    investigator.force_login(users["investigator"])
    screen(investigator, study, site_a)
    body = study_body(code=study.code, title=study.title, follow_up_days="21", sites=["MI"], reason="amendment")
    response = dm.post(url, {**body, "protocol": "new_york_2020"})
    assert form_errors(response)["protocol"] == [
        "the study's candidates were screened with the milan_2020 criteria: its protocol cannot change (an amended "
        "threshold is a study setting; other criteria are a new study)"
    ]
    study.refresh_from_db()
    assert study.protocol == "milan_2020"


def test_the_sites_taking_part_are_recorded_in_the_study_history(dm, study, site_a, site_b):
    site_c = Site.objects.create(code="CO", name="Como")
    body = study_body(code=study.code, title=study.title, follow_up_days="21", sites=["MI", "BG", site_c.code])
    assert dm.post(f"/setup/studies/{study.code}/", body).status_code == 302
    assert study.history.latest().history_change_reason == "study set-up (sites +CO)"


def test_a_locked_study_is_not_changed(dm, study, site_a):
    Study.objects.filter(pk=study.pk).update(is_locked=True)
    response = dm.post(f"/setup/studies/{study.code}/", study_body(code=study.code, title="x", sites=["MI"]))
    assert "is locked for a data release" in " ".join(response.context["form"].non_field_errors())
    assert Study.objects.get(pk=study.pk).title != "x"


def test_the_site_page_creates_and_checks_a_site(client, users, patient_a):
    client.force_login(users["admin"])
    body = {"code": "co", "name": "Como", "time_zone": "Europe/Como", "ast_uln_u_l": "0", "alt_uln_u_l": "40"}
    errors = form_errors(client.post("/setup/sites/new/", body))
    assert errors["code"] == ["2 to 8 capital letters or digits, e.g. MI (got 'co')"]
    assert errors["ast_uln_u_l"] == [
        "AST upper limit of normal 0 U/L is outside the plausible range 10-200 U/L: check the value and its unit."
    ]
    assert "Europe/Como" in errors["time_zone"][0]
    fixed = {**body, "code": "CO", "ast_uln_u_l": "35", "time_zone": "Europe/Rome"}
    assert client.post("/setup/sites/new/", fixed).status_code == 302
    assert (Site.objects.get(code="CO").ast_uln_u_l, Site.objects.get(code="CO").time_zone) == (35, "Europe/Rome")
    # Site A has an enrolled patient: a change of its limits needs a reason. Its one study's data manager makes it.
    dm = client
    dm.force_login(users["data_manager"])
    site_url = f"/setup/sites/{patient_a.site.code}/"
    body = {
        "code": "MI",
        "name": patient_a.site.name,
        "time_zone": "Europe/Rome",
        "ast_uln_u_l": "45",
        "alt_uln_u_l": "40",
    }
    assert "reason" in form_errors(dm.post(site_url, body))
    assert dm.post(site_url, {**body, "reason": "new laboratory range"}).status_code == 302
    assert patient_a.site.history.latest().history_change_reason == "new laboratory range"


def test_a_site_keeps_its_time_zone_once_a_candidate_was_screened_there(dm, study, site_a, site_b, users):
    """The times typed at a site are kept as instants of its zone: another zone would move them to other hours and
    study days. Before any screening the zone may be corrected; afterwards the page refuses it next to the field."""
    from django.test import Client

    from tests.cohorts.test_enrolment import screen

    def body(site, zone, **more):
        limits = {"ast_uln_u_l": "40", "alt_uln_u_l": "40"}
        return {"code": site.code, "name": site.name, "time_zone": zone, **limits, **more}

    assert dm.post(f"/setup/sites/{site_a.code}/", body(site_a, "Europe/London")).status_code == 302
    site_a.refresh_from_db()
    assert site_a.time_zone == "Europe/London"
    investigator = Client()
    investigator.force_login(users["investigator"])
    screen(investigator, study, site_a)
    url = f"/setup/sites/{site_a.code}/"
    response = dm.post(url, body(site_a, "America/New_York", reason="moved"))
    assert form_errors(response)["time_zone"] == [
        "the times of the site's screenings and patients were entered in Europe/London: its time zone cannot change "
        "once a candidate is screened or a patient enrolled there (their times would move to other hours and study "
        "days)"
    ]
    site_a.refresh_from_db()
    assert site_a.time_zone == "Europe/London"
    # Its other fields still change (with a reason); another site without screenings still changes its zone.
    assert dm.post(url, body(site_a, "Europe/London", ast_uln_u_l="45", reason="new range")).status_code == 302
    assert dm.post(f"/setup/sites/{site_b.code}/", body(site_b, "Europe/Paris")).status_code == 302
    site_b.refresh_from_db()
    assert site_b.time_zone == "Europe/Paris"


def opened_stamp(client, url) -> int:
    """What the set-up page at ``url`` sends back with its form: the stamp it was opened at."""
    return client.get(url).context["form"].initial["opened"]


def test_a_save_over_a_change_made_since_the_page_was_opened_is_refused(dm, study, site_a):
    """Two tabs (or two data managers) open the study's set-up; the first lengthens the follow-up; the second, posting
    the whole form it was opened with, would put 21 days back: it is refused, naming the change, and nothing is
    written. Opened again, it saves."""
    url = f"/setup/studies/{study.code}/"
    first, second = opened_stamp(dm, url), opened_stamp(dm, url)
    body = study_body(code=study.code, title=study.title, follow_up_days="21", sites=["MI"])
    assert dm.post(url, {**body, "follow_up_days": "28", "opened": first}).status_code == 302
    response = dm.post(url, {**body, "title": "Anakinra (amended title)", "opened": second})
    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == [
        "This record was changed by someone else after you opened it (follow up days: now 28 (you started from 21)). "
        "Reload the page, review their change, and enter yours again."
    ]
    study.refresh_from_db()
    assert (study.follow_up_days, study.title) == (28, body["title"])
    again = opened_stamp(dm, url)
    body = {**body, "follow_up_days": "28", "title": "Anakinra (amended title)", "opened": again}
    assert dm.post(url, body).status_code == 302
    study.refresh_from_db()
    assert (study.follow_up_days, study.title) == (28, "Anakinra (amended title)")


def test_the_site_and_arm_pages_refuse_a_save_over_a_later_change(dm, study, site_a, arms):
    site_url = f"/setup/sites/{site_a.code}/"
    stale = opened_stamp(dm, site_url)
    site = {"code": "MI", "name": site_a.name, "time_zone": site_a.time_zone, "alt_uln_u_l": "40"}
    assert dm.post(site_url, {**site, "ast_uln_u_l": "45", "opened": stale}).status_code == 302
    response = dm.post(site_url, {**site, "ast_uln_u_l": "40", "name": "Milan", "opened": stale})
    assert "AST upper limit of normal (U/L): now 45 (you started from 40)" in " ".join(
        response.context["form"].non_field_errors()
    )
    site_a.refresh_from_db()
    assert (site_a.ast_uln_u_l, site_a.name) == (45, site["name"])
    arm = arms["standard"]
    arm_url = f"/setup/studies/{study.code}/arms/{arm.code}/"
    stale = opened_stamp(dm, arm_url)
    rows = {"regimen-TOTAL_FORMS": "0", "regimen-INITIAL_FORMS": "0"}
    assert (
        dm.post(arm_url, {"code": arm.code, "name": "Usual care", "order": 1, **rows, "opened": stale}).status_code
        == 302
    )
    response = dm.post(arm_url, {"code": arm.code, "name": arm.name, "order": 5, **rows, "opened": stale})
    assert "name: now Usual care (you started from Standard treatment)" in " ".join(
        response.context["form"].non_field_errors()
    )
    arm.refresh_from_db()
    assert (arm.name, arm.order) == ("Usual care", 1)


def test_the_pages_show_what_is_set_up(dm, study, arms, site_a):
    page = dm.get("/setup/").content.decode()
    assert study.code in page and "MI" in page
    page = dm.get(f"/setup/studies/{study.code}/").content.decode()
    assert "Anakinra 5 mg/kg intravenous, twice daily (every 12 h)" in page
    response = dm.get(f"/setup/studies/{study.code}/arms/high_dose/")
    assert response.context["formset"].forms[0].initial["route"] == "iv"
