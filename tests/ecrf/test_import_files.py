"""The files of an import are read from where they are (bytes, a file on disk, a member of a zip) a chunk at a time,
each time the import needs them: what is refused and what is stored does not depend on where a chunk ends."""

import zipfile
from decimal import Decimal

import pytest

from ecrf import importing
from ecrf.importing import Source, files
from ecrf.models import LabResult, VitalSigns

VITALS = "participant_id,study_day,temperature_c,spo2_pct\n"
LABS = "participant_id,study_day,crp_mg_l\n"


@pytest.fixture
def setup(study, users, patient_a, patient_b):
    return study, users["data_manager"]


@pytest.fixture(params=[3, 1024 * 1024], ids=["3-byte chunks", "1 MB chunks"])
def chunk(request, monkeypatch):
    monkeypatch.setattr(files, "READ_CHUNK", request.param)
    return request.param


def problems(report) -> list[tuple]:
    return [(p.file, p.row, p.column, p.code) for p in report.problems]


def test_files_on_disk_and_in_a_zip_on_disk_are_imported_as_their_bytes_would_be(setup, tmp_path, chunk):
    study, user = setup
    (tmp_path / "vital_signs.csv").write_text("\ufeff" + VITALS + "MI-0001,1,37.5,95\nBG-0001,1,38.0,93\n")
    with zipfile.ZipFile(tmp_path / "release.zip", "w") as archive:
        archive.writestr("release/laboratory.csv", LABS + "MI-0001,1,120\n")
        archive.writestr("release/README.txt", "not a table")
    report = importing.crf_import(
        study=study,
        sources=importing.sources_from_paths([tmp_path / "vital_signs.csv", tmp_path / "release.zip"]),
        user=user,
    )
    assert report.ok and report.stored, problems(report)
    assert sorted(VitalSigns.objects.values_list("patient__participant_id", "temperature_c")) == [
        ("BG-0001", Decimal("38.0")),
        ("MI-0001", Decimal("37.5")),
    ]
    assert LabResult.objects.get().crp_mg_l == Decimal("120")
    assert report.skipped == ["release.zip: release/README.txt"]


def test_a_character_split_between_two_chunks_is_read_whole(setup, chunk):
    study, user = setup
    report = importing.crf_import(
        study=study,
        sources=[
            Source(
                "adverse_events.csv",
                (
                    "participant_id,study_day,kind,description\nMI-0001,2,other,\u00e9ruption \u2013 l\u00e9g\u00e8re\n"
                ).encode(),
            )
        ],
        user=user,
    )
    assert report.ok, problems(report)
    assert report.files[0].created == 1


@pytest.mark.parametrize("padding", [0, 1, 2])
def test_a_byte_that_is_not_utf8_is_named_with_its_row_wherever_the_chunk_ends(setup, chunk, padding):
    study, user = setup
    content = (VITALS + "MI-0001,1,37,95\n" + "BG-0001,1,37" + " " * padding + ",9\xe95\n").encode("latin-1")
    report = importing.crf_import(study=study, sources=[Source("vital_signs.csv", content)], user=user)
    assert problems(report) == [("vital_signs.csv", 3, "", "encoding")]
    assert "byte 0xe9 on row 3" in report.problems[0].message
    assert not VitalSigns.objects.exists()


def test_a_character_cut_off_at_the_end_of_the_file_is_not_utf8(setup, chunk):
    study, user = setup
    content = (VITALS + "MI-0001,1,37,95 ").encode() + "\u00e9".encode()[:1]
    report = importing.crf_import(study=study, sources=[Source("vital_signs.csv", content)], user=user)
    assert problems(report) == [("vital_signs.csv", 2, "", "encoding")]


@pytest.mark.parametrize("content", [b"", b"  \n\r\n  \n"], ids=["no bytes", "white space"])
def test_a_file_of_nothing_but_white_space_is_empty(setup, chunk, content):
    study, user = setup
    report = importing.crf_import(study=study, sources=[Source("vital_signs.csv", content)], user=user)
    assert problems(report) == [("vital_signs.csv", None, "", "empty_file")]


def test_the_import_command_streams_the_files_into_the_job(setup, tmp_path, chunk):
    """import_crf stores the files of a folder in the job's folder a chunk at a time, and imports them from there."""
    from django.core.management import call_command

    study, user = setup
    (tmp_path / "vital_signs.csv").write_text(VITALS + "MI-0001,3,36.8,97\n")
    call_command("import_crf", str(tmp_path), study=study.code, user=user.username)
    assert VitalSigns.objects.get(study_day=3).temperature_c == Decimal("36.8")


def test_an_upload_over_the_limit_is_refused_next_to_the_files_and_nothing_is_queued(client, setup, monkeypatch):
    from ecrf import import_views
    from ecrf.models import ImportJob
    from tests.ecrf.test_import import upload

    study, user = setup
    assert import_views.MAX_UPLOAD_BYTES >= 1024**3  # a study of 1,000,000 patient-days fits in one upload
    monkeypatch.setattr(import_views, "MAX_UPLOAD_BYTES", 40)
    client.force_login(user)
    page = client.post(f"/studies/{study.code}/import/", {"files": [upload("vital_signs.csv", VITALS * 2)]})
    assert page.status_code == 200
    size = len(VITALS * 2)
    assert f"The files hold {size}\xa0bytes; at most 40\xa0bytes per import." in page.content.decode()
    assert not ImportJob.objects.exists()


def test_a_damaged_file_inside_a_zip_is_named_and_nothing_is_stored(setup, tmp_path):
    study, user = setup
    content = VITALS + "".join(f"MI-0001,{day},37.{day % 10},95\n" for day in range(15))
    with zipfile.ZipFile(tmp_path / "data.zip", "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("vital_signs.csv", content)
    data = bytearray((tmp_path / "data.zip").read_bytes())
    start = data.index(b"vital_signs.csv") + len("vital_signs.csv")  # the local header's name, then the data
    data[start + 5 : start + 15] = bytes(10)
    (tmp_path / "data.zip").write_bytes(bytes(data))
    report = importing.crf_import(study=study, sources=importing.sources_from_paths([tmp_path / "data.zip"]), user=user)
    assert problems(report) == [("vital_signs.csv", None, "", "bad_zip")]
    assert "cannot be read from its zip archive" in report.problems[0].message, report.problems[0].message
    assert not VitalSigns.objects.exists()
