"""Electronic signatures of casebooks (issue 16 item 2): what is signed and its SHA-256, what stands in the way,
who may sign, the password and the second factor asked again (wrong passwords count toward the lockout), what
the casebook shows, how a later edit breaks the signature and a new one is made, and the release table."""

import datetime
import importlib
from decimal import Decimal
from unittest.mock import ANY
from zoneinfo import ZoneInfo

import pytest
from axes.models import AccessAttempt
from django.apps import apps as django_apps
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, models, transaction
from django.test import RequestFactory
from django_otp.plugins.otp_totp.models import TOTPDevice

from analysis import releases
from cleaning import services, signature_state, signatures, status_job, status_selectors
from cleaning.models import SIGNATURE_MEANING, PatientRecordStatus, Signature, SiteRecordStatus
from cohorts import roles
from cohorts.models import Arm, Patient, Site, Study
from cohorts.services import patient_update
from cohorts.team import grant
from ecrf import services as ecrf_services
from ecrf.crfs import CATALOGUE
from ecrf.models import DispositionEvent, LabResult, RespiratorySupport, VitalSigns
from tests import factories
from tests.analysis import release_data
from tests.cleaning.test_record_status import assert_counts_are_fresh
from tests.ecrf.test_entry_helpers import day_post, day_url
from tests.test_login import password_step
from tests.test_two_factor import device_code, wrong

PASSWORD = "a-long-test-password"  # tests/factories.py UserFactory
VITALS = {"temperature_c": "37.2", "heart_rate_bpm": "88", "spo2_pct": "94"}


def sign_url(patient, query: str = "") -> str:
    return f"/patients/{patient.pk}/sign/{query}"


def casebook_url(patient) -> str:
    return f"/patients/{patient.pk}/"


def _codes(excinfo) -> dict:
    error = excinfo.value
    if hasattr(error, "error_dict"):
        return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}
    return {None: [e.code for e in error.error_list]}


def audited(record, user):
    record._history_user, record._change_reason = user, "initial entry"
    record.save()
    return record


@pytest.fixture
def investigator(users):
    """The investigator of site A, with the name a signature prints."""
    user = users["investigator"]
    user.first_name, user.last_name = "Anna", "Bianchi"
    user.save()
    return user


@pytest.fixture
def complete(patient_a, users, django_capture_on_commit_callbacks):
    """Patient A discharged on day 2, with every daily form of days 0 to 2: the whole casebook can be signed.
    Saved as each request would (the after-commit work runs)."""
    nurse = users["nurse"]
    with django_capture_on_commit_callbacks(execute=True):
        for day in range(3):
            audited(VitalSigns(patient=patient_a, study_day=day, temperature_c="37.2", heart_rate_bpm=88), nurse)
            audited(RespiratorySupport(patient=patient_a, study_day=day, support="room_air"), nurse)
            audited(LabResult(patient=patient_a, study_day=day, crp_mg_l="40.0"), nurse)
        audited(DispositionEvent(patient=patient_a, study_day=2, kind="discharged", normal_activities=True), nurse)
    return patient_a


def sign(patient, user, *, password=PASSWORD, otp_token=None, first_day=None, last_day=None, **kwargs):
    """The service, as a page calls it (a request for django-axes)."""
    return signatures.casebook_sign(
        patient=patient,
        first_day=first_day,
        last_day=last_day,
        user=user,
        password=password,
        otp_token=otp_token,
        request=RequestFactory().post("/sign/"),
        **kwargs,
    )


# ------------------------------------------------------------------------------------------------ what is signed


def _first_value(field: models.Field):
    if field.choices:
        return field.choices[0][0]
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, models.DecimalField):
        return Decimal("1.5")
    if isinstance(field, models.IntegerField):
        return 1
    if isinstance(field, models.DateField):
        return datetime.date(2020, 3, 17)
    return "text"


def _other_value(field: models.Field, value):
    if field.choices:
        return field.choices[1][0]
    if isinstance(value, bool):
        return not value
    if isinstance(value, Decimal | int):
        return value + 1
    if isinstance(value, datetime.date):
        return value + datetime.timedelta(days=1)
    return value + "x"


def _patient() -> Patient:
    """A patient in memory, every baseline field filled."""
    patient = Patient(study=Study(code="milan", follow_up_days=21), site=Site(code="MI"), arm=Arm(code="high_dose"))
    for name in signatures.BASELINE_FIELDS:
        field = Patient._meta.get_field(name)
        if not field.is_relation:
            setattr(patient, name, _first_value(field))
    return patient


def _records() -> dict:
    """One record in memory of every form of the catalogue, every field filled."""
    records = {}
    for key, crf in CATALOGUE.items():
        record = crf.model(study_day=1, pk=7, version=1)
        for name in crf.fields:
            setattr(record, name, _first_value(crf.model._meta.get_field(name)))
        records[key] = [record]
    return records


def _digest(patient, records) -> str:
    return signatures.digest(signatures.document(patient, 0, 21, records))


@pytest.mark.parametrize(
    ("form", "name"), [(key, name) for key, crf in CATALOGUE.items() for name in ("study_day", *crf.fields)]
)
def test_the_digest_changes_when_any_value_of_any_form_changes(form, name):
    patient, records = _patient(), _records()
    before = _digest(patient, records)
    record = records[form][0]
    setattr(record, name, _other_value(record._meta.get_field(name), getattr(record, name)))
    assert _digest(patient, records) != before


@pytest.mark.parametrize("name", signatures.BASELINE_FIELDS)
def test_the_digest_changes_when_any_baseline_value_changes(name):
    patient, records = _patient(), _records()
    before = _digest(patient, records)
    field = Patient._meta.get_field(name)
    if field.is_relation:
        setattr(patient, name, field.related_model(code="OTHER"))
    else:
        setattr(patient, name, _other_value(field, getattr(patient, name)))
    assert _digest(patient, records) != before


def test_the_digest_ignores_bookkeeping_the_order_of_records_and_trailing_zeros():
    patient, records = _patient(), _records()
    before = _digest(patient, records)
    vitals = records["vital_signs"][0]
    vitals.pk, vitals.version, vitals.temperature_c = 99, 5, Decimal("1.50")  # 1.5 stored as 1.50
    second = CATALOGUE["vital_signs"].model(study_day=2, temperature_c=Decimal("36.6"))
    records["vital_signs"] = [vitals, second]
    with_second = _digest(patient, records)
    assert with_second != before
    records["vital_signs"] = [second, vitals]
    assert _digest(patient, records) == with_second
    assert len(with_second) == 64 and int(with_second, 16) >= 0


def test_the_digest_of_a_range_changes_with_its_own_days_only(complete, patient_b, users):
    before = signatures.casebook_digest(complete, 0, 1)
    VitalSigns.objects.filter(patient=complete, study_day=2).update(heart_rate_bpm=70)
    VitalSigns.objects.create(patient=patient_b, study_day=1, heart_rate_bpm=70)
    VitalSigns.objects.filter(patient=complete, study_day=1).update(version=9)  # bookkeeping
    assert signatures.casebook_digest(complete, 0, 1) == before
    VitalSigns.objects.filter(patient=complete, study_day=1).update(heart_rate_bpm=70)
    assert signatures.casebook_digest(complete, 0, 1) != before


# ------------------------------------------------------------------------------------------------ blockers


def test_missing_forms_and_waiting_queries_refuse_signing_with_their_list(complete, investigator, users):
    LabResult.objects.filter(patient=complete, study_day=1).delete()
    query = services.query_open(patient=complete, study_day=0, form="", text="Consent?", user=users["monitor"])
    blockers = signatures.signature_blockers(complete, 0, 21)
    assert [(b.code, b.text, b.count) for b in blockers] == [
        ("forms_missing", "Laboratory not entered on 1 day", 1),
        ("queries_waiting", "1 query open or answered but not closed", 1),
    ]
    assert blockers[0].links == (("day 1", f"/patients/{complete.pk}/day/1/"),)
    assert blockers[1].links == ((f"#{query.pk} (open): day 0", f"/queries/{query.pk}/"),)
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, investigator)
    assert _codes(excinfo) == {None: ["forms_missing", "queries_waiting", "blocked"]}
    assert not Signature.objects.exists()


def test_the_page_lists_the_blockers_with_links_and_asks_no_password(client, complete, investigator):
    VitalSigns.objects.filter(patient=complete, study_day__in=[0, 2]).delete()
    client.force_login(investigator)
    page = client.get(sign_url(complete)).content.decode()
    assert "Vital signs not entered on 2 days" in page
    assert f'href="/patients/{complete.pk}/day/0/"' in page and f'href="/patients/{complete.pk}/day/2/"' in page
    assert 'name="password"' not in page


def test_an_answered_query_blocks_a_closed_one_does_not(complete, investigator, users):
    query = services.query_open(patient=complete, study_day=1, form="", text="Consent?", user=users["monitor"])
    services.query_answer(query=query, answer_code="confirmed_source", text="signed", user=users["nurse"])
    assert [b.code for b in signatures.signature_blockers(complete, 0, 21)] == ["queries_waiting"]
    services.query_close(query=query, text="seen", user=users["monitor"])
    assert signatures.signature_blockers(complete, 0, 21) == []


def test_days_not_yet_due_are_not_required(complete, investigator):
    """Enrolled yesterday at the site and not discharged: days 0 and 1 (today) are required, the rest not yet."""
    DispositionEvent.objects.filter(patient=complete).delete()
    today = complete.enrolment_date + datetime.timedelta(days=1)
    missing = signatures.missing_forms(complete, 0, 21, today=today)
    assert missing == {}
    later = signatures.missing_forms(complete, 0, 21, today=complete.enrolment_date + datetime.timedelta(days=4))
    assert later == {key: [3, 4] for key in ("vital_signs", "respiratory_support", "laboratory")}


def test_a_query_outside_the_range_does_not_block_it(complete, users):
    services.query_open(patient=complete, study_day=2, form="", text="?", user=users["monitor"])
    assert signatures.signature_blockers(complete, 0, 1) == []
    assert [b.code for b in signatures.signature_blockers(complete, 0, 2)] == ["queries_waiting"]


# ------------------------------------------------------------------------------------------------ who


@pytest.mark.parametrize("role", ["nurse", "monitor", "data_manager", "admin"])
def test_only_an_investigator_signs(complete, users, role):
    with pytest.raises(PermissionDenied):
        sign(complete, users[role])
    assert not Signature.objects.exists()


def test_an_investigator_of_the_other_site_gets_404_and_cannot_sign(client, complete, study, site_b):
    other = factories.UserFactory(username="investigator_b", first_name="Bruno", last_name="Verdi")
    grant(other, study, roles.INVESTIGATOR, [site_b], reason="test")
    client.force_login(other)
    assert client.get(sign_url(complete)).status_code == 404
    assert client.post(sign_url(complete), {"password": PASSWORD}).status_code == 404
    with pytest.raises(PermissionDenied):
        sign(complete, other)


def test_a_locked_study_refuses_and_the_page_says_so(client, complete, investigator, study):
    Study.objects.filter(pk=study.pk).update(is_locked=True)
    complete.study.refresh_from_db()
    with pytest.raises(ValidationError, match="locked"):
        sign(complete, investigator)
    client.force_login(investigator)
    page = client.get(sign_url(complete)).content.decode()
    assert "is locked for a data release" in page and 'name="password"' not in page
    assert "Sign this casebook" not in client.get(casebook_url(complete)).content.decode()


def test_an_account_without_a_name_cannot_sign(complete, users):
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, users["investigator"])
    assert _codes(excinfo) == {None: ["printed_name_missing"]}


# ------------------------------------------------------------------------------------------------ password, code


def test_a_wrong_password_is_refused_next_to_the_field_and_counted(client, complete, investigator):
    client.force_login(investigator)
    response = client.post(sign_url(complete), {"password": "not-my-password"})
    assert response.status_code == 200
    assert response.context["sign_form"].errors["password"] == ["This password is not correct."]
    attempt = AccessAttempt.objects.get(username="investigator")
    assert attempt.failures_since_start == 1
    assert "not-my-password" not in attempt.post_data  # django-axes masks the field named "password"
    assert not Signature.objects.exists()


def test_wrong_passwords_at_signing_lock_the_account(client, complete, investigator):
    client.force_login(investigator)
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post(sign_url(complete), {"password": "wrong-password"}).status_code == 200
    locked = client.post(sign_url(complete), {"password": "wrong-password"})
    assert locked.status_code == 429 and b"locked" in locked.content
    assert "_auth_user_id" not in client.session  # the session is ended
    login = client.post("/accounts/login/", password_step("investigator", PASSWORD))
    assert login.status_code == 429
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, investigator)  # the right password, while locked
    assert _codes(excinfo) == {"password": ["locked_out"]}
    assert not Signature.objects.exists()


@pytest.fixture
def device(investigator):
    return TOTPDevice.objects.create(user=investigator, name="default", confirmed=True)


def test_with_a_device_the_code_is_asked_and_checked(client, complete, investigator, device):
    client.force_login(investigator)
    assert 'name="otp_token"' in client.get(sign_url(complete)).content.decode()
    response = client.post(sign_url(complete), {"password": PASSWORD})
    assert [e.code for e in response.context["sign_form"].errors.as_data()["otp_token"]] == ["otp_required"]
    response = client.post(sign_url(complete), {"password": PASSWORD, "otp_token": device_code(device)})
    assert response.status_code == 302
    assert Signature.objects.get().signer == investigator


def test_a_wrong_code_is_refused(complete, investigator, device):
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, investigator, otp_token=wrong(device_code(device)))
    assert _codes(excinfo) == {"otp_token": ["otp_invalid"]}
    assert not Signature.objects.exists()


def test_without_a_device_a_study_requiring_it_refuses(complete, investigator, settings):
    settings.ECRF_REQUIRE_2FA = True
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, investigator)
    assert _codes(excinfo) == {"otp_token": ["second_factor_missing"]}


# ------------------------------------------------------------------------------------------------ signed


def test_signing_shows_the_name_the_times_the_meaning_and_the_hash(client, complete, investigator):
    client.force_login(investigator)
    page = client.get(sign_url(complete))
    data_sha256 = page.context["check"].data_sha256
    assert SIGNATURE_MEANING in page.content.decode() and data_sha256 in page.content.decode()
    response = client.post(sign_url(complete), {"password": PASSWORD, "seen_sha256": data_sha256}, follow=True)
    assert response.redirect_chain[-1][0] == casebook_url(complete) + "#signatures"
    signature = Signature.objects.get()
    assert (signature.first_day, signature.last_day, signature.data_sha256) == (0, 21, data_sha256)
    assert signature.printed_name == "Anna Bianchi" and signature.meaning == SIGNATURE_MEANING
    assert signature.site_time_zone == "Europe/Rome"
    local = signature.signed_at.astimezone(ZoneInfo("Europe/Rome"))
    assert signature.signed_at_local.startswith(f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} (UTC+0")
    assert signature.history.get().history_change_reason == "signed"
    page = response.content.decode()
    assert 'data-state="signed"' in page and "Anna Bianchi" in page
    assert f"{signature.signed_at.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC" in page
    assert signature.signed_at_local in page and SIGNATURE_MEANING in page and data_sha256[:16] in page
    assert signature_state.signature_states([complete.pk]) == {complete.pk: "signed"}


def test_a_range_is_signed_and_a_wrong_range_is_refused_next_to_its_day(client, complete, investigator):
    client.force_login(investigator)
    page = client.get(sign_url(complete, "?first_day=2&last_day=1"))
    assert page.context["range_form"].errors["last_day"] == ["The last day comes before the first day."]
    page = client.get(sign_url(complete, "?first_day=0&last_day=40"))
    assert "outside the casebook" in page.context["range_form"].errors["last_day"][0]
    # Both wrong days at once, each by the casebook's days (not the storage column's bounds).
    page = client.get(sign_url(complete, "?first_day=-5&last_day=99999999999"))
    assert page.context["range_form"].errors == {
        "first_day": ["Study day -5 is outside the casebook's days 0 to 21."],
        "last_day": ["Study day 99999999999 is outside the casebook's days 0 to 21."],
    }
    response = client.post(sign_url(complete, "?first_day=0&last_day=1"), {"password": PASSWORD})
    assert response.status_code == 302
    assert Signature.objects.values_list("first_day", "last_day").get() == (0, 1)


def test_data_changed_since_the_page_was_opened_are_not_signed(complete, investigator):
    seen = signatures.casebook_digest(complete, 0, 21)
    VitalSigns.objects.filter(patient=complete, study_day=0).update(heart_rate_bpm=120)
    with pytest.raises(ValidationError) as excinfo:
        sign(complete, investigator, seen_sha256=seen)
    assert _codes(excinfo) == {None: ["data_changed"]}


def test_the_same_data_are_not_signed_twice_by_the_same_person(client, complete, investigator):
    sign(complete, investigator)
    client.force_login(investigator)
    response = client.post(sign_url(complete), {"password": PASSWORD}, follow=True)
    assert "Nothing was signed twice" in response.content.decode()
    assert Signature.objects.count() == 1


# ------------------------------------------------------------------------------------------------ broken


def test_an_edit_on_the_day_page_breaks_the_signature_and_a_new_one_can_be_made(
    client, complete, investigator, users, django_capture_on_commit_callbacks
):
    first = sign(complete, investigator)
    client.force_login(users["nurse"])
    notice = "Days 0–21 of this casebook are signed by Anna Bianchi"
    assert notice in client.get(day_url(complete, 1)).content.decode()  # the nurse is told before saving
    assert notice in client.get(f"/patients/{complete.pk}/adverse-events/add/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            day_url(complete, 1),
            day_post(vitals={**VITALS, "heart_rate_bpm": "72"}, versions={"vitals": 1}, reason="chart says 72"),
        )
    assert response.status_code == 302
    first.refresh_from_db()
    assert first.broken_by == users["nurse"] and first.broken_at is not None
    assert first.broken_by_change == (
        "Vital signs, day 1: heart rate (/min): 88 -> 72; SpO2 (%): empty -> 94 (reason: chart says 72)"
    )
    assert first.broken_history_model == "ecrf.vitalsigns"
    assert signature_state.signature_states([complete.pk]) == {complete.pk: "broken"}

    client.force_login(investigator)
    casebook = client.get(casebook_url(complete)).content.decode()
    assert 'data-state="broken"' in casebook and "Changed after signing: sign again" in casebook
    assert "heart rate (/min): 88 -&gt; 72" in casebook
    assert client.post(sign_url(complete), {"password": PASSWORD}).status_code == 302
    assert Signature.objects.count() == 2  # the broken one stays
    assert signature_state.signature_states([complete.pk]) == {complete.pk: "signed"}
    casebook = client.get(casebook_url(complete)).content.decode()
    assert 'data-state="signed"' in casebook and "Earlier signatures (1)" in casebook


def test_an_edit_outside_the_signed_days_leaves_the_signature_intact(
    client, complete, investigator, users, django_capture_on_commit_callbacks
):
    signature = sign(complete, investigator, first_day=0, last_day=1)
    client.force_login(users["nurse"])
    assert "are signed by" not in client.get(day_url(complete, 2)).content.decode()
    record = VitalSigns.objects.get(patient=complete, study_day=2)
    record.heart_rate_bpm, record._history_user, record._change_reason = 70, users["nurse"], "recount"
    with django_capture_on_commit_callbacks(execute=True):
        record.save()
    signature.refresh_from_db()
    assert signature.broken_at is None


def test_a_change_of_the_baseline_breaks_it(complete, investigator, users, django_capture_on_commit_callbacks):
    signature = sign(complete, investigator, first_day=1, last_day=2)
    with django_capture_on_commit_callbacks(execute=True):
        patient_update(
            patient=complete, changes={"weight_kg": Decimal("82.0")}, expected_version=1, user=users["nurse"],
            reason="weighed again",
        )  # fmt: skip
    signature.refresh_from_db()
    assert signature.broken_by_change == "Baseline: weight (kg): 80.0 -> 82.0 (reason: weighed again)"
    assert (signature.broken_history_model, signature.broken_history_record) == ("cohorts.patient", complete.pk)


def test_a_change_without_a_history_row_is_caught_by_the_check_after_the_commit(complete, investigator):
    signature = sign(complete, investigator)
    assert signatures.signature_verify(signature.pk)
    LabResult.objects.filter(patient=complete, study_day=0).update(crp_mg_l="41.0")
    assert not signatures.signature_verify(signature.pk)
    signature.refresh_from_db()
    assert signature.broken_at is not None


def test_states_take_one_query_and_a_later_signature_supersedes_only_what_it_covers(
    complete, investigator, patient_b, django_assert_num_queries
):
    whole = sign(complete, investigator)
    Signature.objects.filter(pk=whole.pk).update(broken_at=whole.signed_at, broken_by_change="test")
    sign(complete, investigator, first_day=0, last_day=1)
    with django_assert_num_queries(1):
        states = signature_state.signature_states([complete.pk, patient_b.pk])
    assert states == {complete.pk: "broken", patient_b.pk: "unsigned"}  # days 2-21 are still broken
    sign(complete, investigator)
    assert signature_state.signature_states([complete.pk]) == {complete.pk: "signed"}


def test_the_list_shows_each_patient_signed_broken_or_unsigned(client, complete, investigator, patient_b, users):
    sign(complete, investigator)
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{complete.study.code}/signatures/")
    states = {row.patient.participant_id: row.state for row in page.context["page"].object_list}
    assert states == {"MI-0001": "signed", "BG-0001": "unsigned"}
    assert "Signed: 1" in page.content.decode() and "Not signed: 1" in page.content.decode()
    client.force_login(investigator)
    page = client.get(f"/studies/{complete.study.code}/signatures/?state=unsigned")
    assert [row.patient.participant_id for row in page.context["page"].object_list] == []  # site A only


def test_the_list_reads_the_kept_states_a_page_at_a_time_and_follows_each_commit(
    client, complete, investigator, patient_b, users, committed, monkeypatch
):
    """The list reads each patient's state and the counts kept by the record status job, so that it opens as fast
    in a study of 50,000 patients: a signature, and an adverse event that breaks it, move them after the commit."""
    status_job.rebuild_study(complete.study)  # both patients counted before anything is signed
    client.force_login(users["data_manager"])
    url = f"/studies/{complete.study.code}/signatures/"

    def listed(query: str = "") -> tuple[dict[str, str], str]:
        response = client.get(url + query)
        rows = {row.patient.participant_id: row.state for row in response.context["page"].object_list}
        return rows, response.content.decode()

    assert listed("?state=unsigned") == ({"BG-0001": "unsigned", "MI-0001": "unsigned"}, ANY)
    with committed():
        sign(complete, investigator)
    rows, page = listed("?state=signed")
    assert rows == {"MI-0001": "signed"}
    assert "Signed: 1" in page and "Changed after signing: 0" in page and "Not signed: 1" in page

    with committed():  # a new adverse event on a signed day (no daily form changed) breaks the signature
        ecrf_services.event_save(
            form="adverse_events",
            patient=complete,
            entry=ecrf_services.RecordInput({"study_day": 1, "kind": "thromboembolism"}),
            user=users["nurse"],
        )
    rows, page = listed("?state=broken")
    assert rows == {"MI-0001": "broken"}
    assert "Signed: 0" in page and "Changed after signing: 1" in page
    assert listed("?state=signed")[0] == {}

    monkeypatch.setattr(status_selectors, "SIGNATURE_LIST_SIZE", 1)  # in participant order, a page at a time
    first, page = listed()
    assert first == {"BG-0001": "unsigned"} and "Page 1 of 2" in page and 'href="?state=&amp;page=2"' in page
    assert listed("?page=2")[0] == {"MI-0001": "broken"}
    assert listed("?state=nonsense&page=x")[0] == first  # a junk filter or page is none


def test_the_migration_that_keeps_the_states_fills_them_for_the_signatures_already_made(
    complete, investigator, patient_b
):
    """cleaning 0008 added the kept states with every patient "unsigned" and the sums at 0: it then sets them from
    the signatures already made, as the record status job would."""
    sign(complete, investigator)
    status_job.rebuild_study(complete.study)
    PatientRecordStatus.objects.update(signature="unsigned")  # as the new column was added
    SiteRecordStatus.objects.update(s_signed=0, s_broken=0, s_unsigned=0)
    migration = importlib.import_module("cleaning.migrations.0008_signature_state")
    migration.signature_states(django_apps, None)
    assert_counts_are_fresh(complete.study)
    assert PatientRecordStatus.objects.get(patient=complete).signature == "signed"


# ------------------------------------------------------------------------------------------------ constraints


def _valid(patient, user, **changes) -> Signature:
    values = {
        "study": patient.study,
        "patient": patient,
        "first_day": 0,
        "last_day": 21,
        "signer": user,
        "printed_name": "Anna Bianchi",
        "signed_at": datetime.datetime(2020, 4, 1, tzinfo=datetime.UTC),
        "site_time_zone": "Europe/Rome",
        "signed_at_local": "2020-04-01 02:00:00 CEST (UTC+02:00)",
        "meaning": SIGNATURE_MEANING,
        "data_sha256": "a" * 64,
    }
    return Signature(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        ({"first_day": 3, "last_day": 2}, "signature_range_valid"),
        ({"first_day": -1}, "signature_range_valid"),
        ({"data_sha256": "A" * 64}, "signature_sha256_hex"),
        ({"data_sha256": "ab"}, "signature_sha256_hex"),
        ({"printed_name": ""}, "printed_name"),  # the field's own check names it first
        ({"broken_at": datetime.datetime(2020, 4, 2, tzinfo=datetime.UTC)}, "signature_broken_names_the_change"),
    ],
)
def test_constraints_refuse_a_malformed_signature(patient_a, investigator, changes, constraint):
    with pytest.raises(ValidationError, match=constraint):
        _valid(patient_a, investigator, **changes).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        _valid(patient_a, investigator, **changes).save()


# ------------------------------------------------------------------------------------------------ release


def test_the_release_holds_every_signature_with_its_codebook(
    study, site_a, site_b, arms, patient_a, patient_b, users, investigator, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    DispositionEvent.objects.create(patient=patient_a, study_day=2, kind="discharged", normal_activities=True)
    broken = sign(patient_a, investigator, first_day=0, last_day=1)
    Signature.objects.filter(pk=broken.pk).update(broken_at=broken.signed_at, broken_by_change="test change")
    intact = sign(patient_a, investigator)
    release = release_data.lock(study, users["data_manager"])
    folder = releases.release_folder(release)
    table = releases.read_table(folder, "signatures")
    assert list(table.columns) == [
        "participant_id", "first_day", "last_day", "printed_name", "signed_at", "meaning", "data_sha256", "broken_at",
    ]  # fmt: skip
    rows = table.to_dict("records")
    assert [(r["first_day"], r["last_day"]) for r in rows] == [(0, 1), (0, 21)]
    assert rows[0]["broken_at"] == broken.signed_at.isoformat()
    last = rows[1]
    assert (last["participant_id"], last["printed_name"], last["meaning"]) == (
        "MI-0001",
        "Anna Bianchi",
        SIGNATURE_MEANING,
    )
    assert (last["signed_at"], last["data_sha256"]) == (intact.signed_at.isoformat(), intact.data_sha256)
    codebook = releases.read_table(folder, "codebook")
    assert set(codebook.loc[codebook["table"] == "signatures", "variable"]) == set(table.columns)
    with pytest.raises(ValidationError, match="locked"):
        sign(Patient.objects.get(pk=patient_a.pk), investigator, first_day=0, last_day=2)


def _list_rows(page: str) -> dict[str, str]:
    """Each row of the signatures list by its participant id."""
    rows = page.split('data-testid="signature-list"', 1)[1].split("</tbody>", 1)[0].split('<tr data-testid="row-')[1:]
    return {row.split('"', 1)[0]: row for row in rows}


def test_each_row_shows_the_signatures_in_force_and_a_sign_button_only_where_the_reader_signs(
    client, complete, investigator, patient_b, users
):
    """A row: the participant linking to the casebook's signatures, its site, its state, each signature in force
    (days, printed name, UTC time; when changed since), and Sign for a casebook not signed at a site where the reader
    signs, while the study is not locked."""
    first = sign(complete, investigator, first_day=0, last_day=1)
    sign(complete, investigator, first_day=2, last_day=2)
    moment = datetime.datetime(2020, 4, 2, 14, 5, tzinfo=datetime.UTC)
    broken = {"broken_at": moment + datetime.timedelta(hours=1), "broken_by_change": "test"}
    Signature.objects.filter(pk=first.pk).update(signed_at=moment, **broken)
    status_job.rebuild_study(complete.study)
    url = f"/studies/{complete.study.code}/signatures/"
    client.force_login(investigator)  # signs at site A only
    rows = _list_rows(client.get(url).content.decode())
    assert set(rows) == {"MI-0001"}
    row = rows["MI-0001"]
    assert f'href="/patients/{complete.pk}/#signatures"' in row and "Changed after signing" in row
    assert "days 0–1, Anna Bianchi, 2020-04-02 14:05 UTC" in row and "changed 2020-04-02 15:05 UTC" in row
    assert "days 2–2, Anna Bianchi" in row and f"/patients/{complete.pk}/sign/" in row  # broken: to sign again
    client.force_login(users["data_manager"])  # reads every site, signs none
    rows = _list_rows(client.get(url).content.decode())
    assert set(rows) == {"MI-0001", "BG-0001"} and "/sign/" not in rows["BG-0001"] and "—" in rows["BG-0001"]
    Study.objects.filter(pk=complete.study.pk).update(is_locked=True)
    client.force_login(investigator)
    assert "/sign/" not in _list_rows(client.get(url).content.decode())["MI-0001"]


def test_the_rows_of_the_signatures_list_speak_the_readers_language(client, complete, investigator, patient_b):
    from accounts.models import UserPreference

    sign(complete, investigator)
    status_job.rebuild_study(complete.study)
    UserPreference.objects.create(user=investigator, language="it")
    client.force_login(investigator)
    row = _list_rows(client.get(f"/studies/{complete.study.code}/signatures/").content.decode())["MI-0001"]
    assert "giorni 0–21, Anna Bianchi" in row and ">Firmata<" in row
