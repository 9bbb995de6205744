"""While a study is locked, every write path refuses (clinical definitions §5): services, admin, and the database
itself."""

import datetime

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cohorts import services as cohort_services
from cohorts.audit import StudyLocked
from cohorts.models import Patient, Screening, Study
from ecrf import services as ecrf_services
from ecrf.models import (
    AdverseEvent,
    DerivedCourse,
    DerivedDay,
    DispositionEvent,
    DrugAdministration,
    VentilationEpisode,
    VitalSigns,
)
from tests.analysis import release_data

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")


@pytest.fixture
def locked(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    release_data.lock(study, users["data_manager"])
    study.refresh_from_db()
    patient_a.refresh_from_db()
    return study


def entry(**values):
    return ecrf_services.RecordInput(values=values)


def test_daily_forms_refuse(locked, patient_a, users):
    with pytest.raises(StudyLocked):
        ecrf_services.patient_day_save(
            patient=patient_a, study_day=5, entries={"vital_signs": entry(temperature_c=37)}, user=users["nurse"]
        )
    assert not VitalSigns.objects.filter(patient=patient_a, study_day=5).exists()


@pytest.mark.parametrize(
    ("form", "values"),
    [
        (
            "drug_administration",
            {"drug": "anakinra", "dose": 100, "dose_unit": "mg", "route": "sc", "frequency": "bid"},
        ),
        ("disposition_events", {"kind": "icu_admission"}),
        ("adverse_events", {"kind": "thromboembolism"}),
    ],
)
def test_event_forms_refuse(locked, patient_a, users, form, values):
    before = [m.objects.count() for m in (DrugAdministration, DispositionEvent, AdverseEvent)]
    with pytest.raises(StudyLocked):
        ecrf_services.event_save(form=form, patient=patient_a, entry=entry(**values), user=users["nurse"])
    assert [m.objects.count() for m in (DrugAdministration, DispositionEvent, AdverseEvent)] == before


def test_record_delete_refuses(locked, patient_a, users):
    record = DrugAdministration.objects.get(patient=patient_a)
    with pytest.raises(StudyLocked):
        ecrf_services.record_delete(record=record, expected_version=record.version, user=users["nurse"], reason="x")
    assert DrugAdministration.objects.filter(pk=record.pk).exists()


def test_patient_baseline_correction_refuses(locked, patient_a, users):
    with pytest.raises(StudyLocked):
        cohort_services.patient_update(
            patient=patient_a,
            changes={"age_years": 70},
            expected_version=patient_a.version,
            user=users["investigator"],
            reason="typo",
        )
    assert Patient.objects.get(pk=patient_a.pk).age_years == 62


def test_screening_and_enrolment_refuse(locked, site_a, arms, users):
    with pytest.raises(StudyLocked):
        cohort_services.screening_create(
            study=locked,
            site=site_a,
            assessed_at=datetime.datetime(2020, 3, 20, 9, tzinfo=datetime.UTC),
            values={},
            entered_units={},
            user=users["investigator"],
            as_screen_failure=True,
        )
    screening = Screening.objects.create(
        study=locked,
        site=site_a,
        number="MI-S0099",
        assessed_at=datetime.datetime(2020, 3, 20, 9, tzinfo=datetime.UTC),
        screened_by=users["investigator"],
        eligible=True,
    )
    with pytest.raises(StudyLocked):
        cohort_services.patient_enrol(
            screening=screening,
            arm=arms["standard"],
            enrolment_date=datetime.date(2020, 3, 20),
            sex="F",
            age_years=60,
            weight_kg=None,
            user=users["investigator"],
        )
    assert not Patient.objects.filter(screening=screening).exists()


def test_the_admin_changes_no_study_and_the_set_up_page_refuses_a_locked_one(locked, client, users):
    admin = users["admin"]
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    assert client.get(f"/admin/cohorts/study/{locked.pk}/change/").status_code == 200  # read only
    assert client.post(f"/admin/cohorts/study/{locked.pk}/change/", {"title": "Renamed"}).status_code == 403
    response = client.post(
        f"/setup/studies/{locked.code}/",
        {
            "code": locked.code,
            "title": "Renamed while locked",
            "protocol": locked.protocol,
            "follow_up_days": 28,
            "primary_scale": locked.primary_scale,
            "reason": "new title",
        },
    )
    assert "locked" in response.content.decode()
    assert Study.objects.get(pk=locked.pk).follow_up_days == 21


def test_unlock_lets_the_services_write_again(locked, patient_a, users):
    from analysis import releases

    releases.release_unlock(study=locked, user=users["data_manager"], reason="late lab results")
    saved = ecrf_services.patient_day_save(
        patient=patient_a, study_day=5, entries={"vital_signs": entry(temperature_c=37)}, user=users["nurse"]
    )
    assert saved["vital_signs"].temperature_c == 37


@postgres_only
@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda p: VitalSigns.objects.create(patient=p, study_day=9, temperature_c=37), id="insert vitals"),
        pytest.param(lambda p: VitalSigns.objects.filter(patient=p).update(temperature_c=38), id="update vitals"),
        pytest.param(lambda p: DrugAdministration.objects.filter(patient=p).delete(), id="delete drug"),
        pytest.param(
            lambda p: DerivedDay.objects.filter(patient=p).update(state="room_air"), id="derivation job update"
        ),
        pytest.param(lambda p: DerivedDay.objects.filter(patient=p).delete(), id="derivation job delete"),
        pytest.param(lambda p: Patient.objects.filter(pk=p.pk).update(age_years=70), id="update patient"),
        pytest.param(lambda p: VentilationEpisode.objects.create(patient=p, study_day=2), id="insert episode"),
        pytest.param(
            lambda p: DerivedCourse.objects.create(
                patient=p,
                timing_group="unknown",
                imv_episodes=0,
                imv_days=0,
                imv_ongoing=False,
                failed_extubations=0,
                extubated=False,
                ventilator_free_days=28,
                icu_free_days=28,
                ny_response=False,
                ny_failure=False,
                died=False,
                discharged=False,
                algorithm_version="test",
                computed_at=timezone.now(),
            ),
            id="derivation job course",
        ),
    ],
)
def test_database_trigger_refuses_any_write_to_a_locked_study(locked, patient_a, write):
    with pytest.raises(IntegrityError, match="study_locked"), transaction.atomic():
        write(patient_a)
    assert not VitalSigns.objects.filter(temperature_c=38).exists()


@postgres_only
def test_database_trigger_leaves_other_studies_alone(locked, users):
    from tests import factories

    other = factories.StudyFactory(code="new-york", title="New York", protocol="new_york_2020")
    arm = factories.ArmFactory(study=other)
    patient = factories.PatientFactory(study=other, arm=arm, participant_id="NY-0001")
    VitalSigns.objects.create(patient=patient, study_day=0, temperature_c=37)
    assert VitalSigns.objects.filter(patient=patient).count() == 1


@postgres_only
def test_every_table_of_patient_data_is_guarded_by_the_lock_trigger(db):
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")
        triggers = {name for (name,) in cursor.fetchall()}
    tables = {
        model._meta.db_table
        for model in apps.get_app_config("ecrf").get_models()
        if not model._meta.db_table.startswith("ecrf_historical")
        and any(f.name == "patient" for f in model._meta.fields)
    }
    tables.discard("ecrf_patientderivation")  # the derivation's stamps: written on a locked study by no path
    assert {f"{table}_locked_ins" for table in tables} <= triggers
