"""The CDISC ODM 1.3.2 export (issue 19 item 1) and the release archive it reads (the audit trail with names and
reasons, who signed): valid against the ODM 1.3.2 schema, every stored value once as ItemData with the change that
gave it its value, the whole audit trail, the signatures, deterministic bytes, a failed build on a value outside
its code list, and who may have it."""

import datetime
import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import odmlib
import pytest
import xmlschema
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from analysis import exports, odm, releases, selectors, services
from analysis.frozen import FrozenRelease
from analysis.models import ExportJob, JobStatus
from cleaning.models import SIGNATURE_MEANING, Signature
from cohorts.audit import save_audited
from ecrf.models import AdverseEvent, VitalSigns
from tests.analysis import release_data

NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
SCHEMA = Path(odmlib.__file__).parent / "schemas/odm/1.3.2/ODM1-3-2.xsd"
SIGNED_AT = datetime.datetime(2020, 4, 19, 9, 30, tzinfo=datetime.UTC)


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA))


@pytest.fixture
def edited(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """The four patients of release_data, then: the nurse corrects MI-0001's day-0 SpO2 from 92 to 94 with a reason,
    the data manager deletes BG-0002's adverse event, the investigator's signature of MI-0001's days 0-2; locked."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    nurse = users["nurse"]
    nurse.first_name, nurse.last_name = "Nora", "Rossi"
    nurse.save()
    vitals = VitalSigns.objects.get(patient=patient_a, study_day=0)
    vitals.spo2_pct = 94
    save_audited(vitals, user=nurse, reason="transcription error: 94 on the monitor printout")
    event = AdverseEvent.objects.get(patient__participant_id="BG-0002")
    event._history_user, event._change_reason = users["data_manager"], "entered for the wrong patient"
    event.delete()
    Signature.objects.create(
        study=study,
        patient=patient_a,
        first_day=0,
        last_day=2,
        signer=users["investigator"],
        printed_name="Anna Bianchi",
        signed_at=SIGNED_AT,
        site_time_zone="Europe/Rome",
        signed_at_local="19/04/2020 11:30 CEST",
        meaning=SIGNATURE_MEANING,
        data_sha256="ab" * 32,
    )
    return release_data.lock(study, users["data_manager"])


def odm_document(release) -> tuple[bytes, zipfile.ZipFile]:
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, "odm")))
    name = next(name for name in archive.namelist() if name.endswith("_odm.xml"))
    return archive.read(name), archive


def parsed(release):
    return ET.fromstring(odm_document(release)[0])


def find(root, path: str) -> list:
    return root.findall(path, NS)


def item(root, participant: str, item_oid: str, day: int | None = None) -> list:
    """The ItemData of one item of a participant: at enrolment (``day`` None) or on a study day."""
    event = "SE.ENROLMENT" if day is None else "SE.DAY"
    events = find(root, f"odm:ClinicalData/odm:SubjectData[@SubjectKey='{participant}']/odm:StudyEventData")
    chosen = [
        node
        for node in events
        if node.get("StudyEventOID") == event and (day is None or node.get("StudyEventRepeatKey") == str(day))
    ]
    return [data for node in chosen for data in node.findall(f".//odm:ItemData[@ItemOID='{item_oid}']", NS)]


# ------------------------------------------------------------------------------------------------ the archive


def test_the_lock_freezes_the_audit_trail_with_who_when_and_why(edited):
    frozen = FrozenRelease(edited)
    trail = frozen.archive("audit_trail")
    spo2 = trail.loc[trail["form"].eq("vital_signs") & trail["field"].eq("spo2_pct") & trail["change"].eq("changed")]
    assert spo2[["participant_id", "study_day", "old_value", "new_value", "user", "reason"]].values.tolist() == [
        ["MI-0001", 0, "92", "94", "nurse", "transcription error: 94 on the monitor printout"]
    ]
    deleted = trail.loc[trail["form"].eq("adverse_events") & trail["change"].eq("deleted")]
    assert deleted[["participant_id", "study_day", "user", "reason"]].values.tolist() == [
        ["BG-0002", 1, "data_manager", "entered for the wrong patient"]
    ]
    created = trail.loc[
        trail["form"].eq("laboratory") & trail["participant_id"].eq("MI-0001") & trail["study_day"].eq(0)
    ]
    # A created record lists its filled-in values as text, numbers without trailing zeros (150.0 is 150).
    assert dict(zip(created["field"], created["new_value"], strict=True)) == {
        "pao2_mmhg": "70",
        "pao2_entered_unit": "mmHg",
        "crp_mg_l": "150",
        "crp_entered_unit": "mg/L",
    }
    people = frozen.archive("users").set_index("user")
    assert people.loc["nurse", "full_name"] == "Nora Rossi"
    assert frozen.archive("signers").values.tolist() == [["MI-0001", SIGNED_AT.isoformat(), "investigator"]]
    readme = (releases.release_folder(edited) / "README.md").read_text()
    assert "## The archive" in readme and "only data managers download it" in readme
    listed = {item["path"] for item in edited.manifest["files"] if "archive_table" in item}
    assert listed == {"archive/audit_trail.parquet", "archive/users.parquet", "archive/signers.parquet"}


def test_no_analysis_export_carries_the_archive(edited):
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(edited, "csv")))
    names = archive.namelist()
    assert not [name for name in names if "archive/" in name or "audit_trail" in name]
    assert b"transcription error" not in b"".join(archive.read(name) for name in names)


# ------------------------------------------------------------------------------------------------ the document


def test_the_document_is_valid_odm_1_3_2(edited, schema):
    document, _ = odm_document(edited)
    errors = list(schema.iter_errors(document.decode()))
    assert errors == []
    root = ET.fromstring(document)
    assert (root.get("ODMVersion"), root.get("FileType")) == ("1.3.2", "Snapshot")
    assert root.get("CreationDateTime") == edited.locked_at.isoformat()


def test_every_stored_value_of_the_release_is_one_item_data(edited):
    root = parsed(edited)
    frozen = FrozenRelease(edited)
    for form in odm.FORMS:
        frame = frozen.frame(form)
        for column in odm.item_columns(frozen, form):
            oid = f"IT.{form.upper()}.{column.upper()}"
            found = find(root, f".//odm:ItemData[@ItemOID='{oid}']")
            assert len(found) == int(frame[column].notna().sum()), oid
    assert [node.get("Value") for node in item(root, "MI-0001", "IT.VITAL_SIGNS.SPO2_PCT", day=0)] == ["94"]
    assert [node.get("Value") for node in item(root, "BG-0001", "IT.VITAL_SIGNS.SPO2_PCT", day=2)] == ["92"]
    assert [node.get("Value") for node in item(root, "MI-0001", "IT.DRUG_ADMINISTRATION.DOSE", day=0)] == ["5"]
    assert [node.get("Value") for node in item(root, "MI-0002", "IT.PATIENTS.DIABETES")] == ["true"]
    assert item(root, "BG-0002", "IT.ADVERSE_EVENTS.KIND", day=1) == []  # deleted before the lock


def test_a_value_carries_the_change_that_gave_it_and_the_whole_trail_follows(edited):
    root = parsed(edited)
    (spo2,) = item(root, "MI-0001", "IT.VITAL_SIGNS.SPO2_PCT", day=0)
    record = spo2.find("odm:AuditRecord", NS)
    assert record.find("odm:UserRef", NS).get("UserOID") == "USR.NURSE"
    assert record.find("odm:LocationRef", NS).get("LocationOID") == "LOC.MI"
    assert record.findtext("odm:ReasonForChange", namespaces=NS) == "transcription error: 94 on the monitor printout"
    (nurse,) = find(root, "odm:AdminData/odm:User[@OID='USR.NURSE']")
    assert nurse.findtext("odm:FullName", namespaces=NS) == "Nora Rossi"
    sources = [node.text for node in find(root, ".//odm:AuditRecords/odm:AuditRecord/odm:SourceID")]
    assert any("of MI-0001, day 0, changed: spo2_pct: 92 -> 94" in text for text in sources)
    assert any("adverse_events record" in text and "of BG-0002, day 1, deleted" in text for text in sources)
    changes = find(root, ".//odm:AuditRecords/odm:AuditRecord")
    trail = FrozenRelease(edited).archive("audit_trail")
    assert len(changes) == len(trail.drop_duplicates(["form", "history_id"]))


def test_signatures_and_their_definition(edited):
    root = parsed(edited)
    (signature,) = find(root, ".//odm:SubjectData[@SubjectKey='MI-0001']/odm:Signature")
    assert signature.find("odm:UserRef", NS).get("UserOID") == "USR.INVESTIGATOR"
    assert signature.findtext("odm:DateTimeStamp", namespaces=NS) == SIGNED_AT.isoformat()
    assert "ab" * 32 in signature.findtext("odm:CryptoBindingManifest", namespaces=NS)
    definition_oid = signature.find("odm:SignatureRef", NS).get("SignatureOID")
    (definition,) = find(root, f"odm:AdminData/odm:SignatureDef[@OID='{definition_oid}']")
    assert definition.findtext("odm:Meaning", namespaces=NS) == SIGNATURE_MEANING
    assert find(root, ".//odm:SubjectData[@SubjectKey='BG-0001']/odm:Signature") == []


def test_without_signatures_the_readme_says_there_are_no_signature_elements(release):
    document, archive = odm_document(release)
    assert b"<Signature " not in document
    readme = archive.read(next(n for n in archive.namelist() if n.endswith("README.md"))).decode()
    assert "no casebook signatures: the document has no Signature elements" in readme


def test_metadata_from_the_catalogue_and_the_codebook(edited):
    root = parsed(edited)
    (spo2,) = find(root, ".//odm:ItemDef[@OID='IT.VITAL_SIGNS.SPO2_PCT']")
    assert spo2.get("DataType") == "integer"
    checks = {
        (check.get("Comparator"), check.get("SoftHard"), check.findtext("odm:CheckValue", namespaces=NS))
        for check in spo2.findall("odm:RangeCheck", NS)
    }
    assert {("GE", "Hard", "50"), ("LE", "Hard", "100")} <= checks
    unit_oid = spo2.find("odm:MeasurementUnitRef", NS).get("MeasurementUnitOID")
    (unit,) = find(root, f".//odm:MeasurementUnit[@OID='{unit_oid}']")
    assert unit.get("Name") == "%"
    (support,) = find(root, ".//odm:CodeList[@OID='CL.RESPIRATORY_SUPPORT.SUPPORT']")
    assert "cpap" in {node.get("CodedValue") for node in support.findall("odm:CodeListItem", NS)}
    (drugs,) = find(root, ".//odm:ItemGroupDef[@OID='IG.DRUG_ADMINISTRATION']")
    assert drugs.get("Repeating") == "Yes"
    assert [node.get("LocationOID") for node in find(root, ".//odm:SiteRef")] == [
        "LOC.BG",
        "LOC.BG",
        "LOC.MI",
        "LOC.MI",
    ]


def test_the_same_release_gives_the_same_bytes(edited):
    assert exports.export_bytes(edited, "odm") == exports.export_bytes(edited, "odm")


def test_a_value_outside_its_code_list_fails_the_build_and_says_which(edited, monkeypatch):
    frame = FrozenRelease.frame

    def with_unknown_route(self, table, **options):
        data = frame(self, table, **options)
        if table == "drug_administration":
            data["route"] = data["route"].astype("string").replace("iv", "intrathecal")
        return data

    monkeypatch.setattr(FrozenRelease, "frame", with_unknown_route)
    with pytest.raises(odm.OdmBuildError, match=r"drug_administration\.route: values \['intrathecal'\]"):
        exports.export_bytes(edited, "odm")


def test_a_release_locked_before_the_archive_is_refused_with_the_reason(edited, users):
    edited.manifest["files"] = [item for item in edited.manifest["files"] if "archive_table" not in item]
    edited.save(update_fields=["manifest"])
    with pytest.raises(ValidationError, match="locked before the lock froze the audit trail"):
        services.export_request(release=edited, fmt="odm", user=users["data_manager"])
    assert services.export_request(release=edited, fmt="csv", user=users["data_manager"]).format == "csv"


# ------------------------------------------------------------------------------------------------ who may have it


def test_only_data_managers_request_and_download_the_archival_exports(edited, users, client):
    statistician, manager = users["statistician"], users["data_manager"]
    with pytest.raises(ValidationError, match="only data managers may request it"):
        services.export_request(release=edited, fmt="odm", user=statistician)
    study = edited.study
    offered = {value for value, _ in selectors.export_formats(user=statistician, study=study)}
    assert {"csv", "sdtm"} <= offered and not offered & {"odm", "pdf"}
    assert {"odm", "pdf"} <= {value for value, _ in selectors.export_formats(user=manager, study=study)}
    job = ExportJob.objects.create(release=edited, format="odm", requested_by=manager, status=JobStatus.DONE)
    client.force_login(statistician)
    assert client.get(f"/exports/{job.pk}/").status_code == 404
    page = client.get(f"/studies/{study.code}/releases/v{edited.version}/")
    assert page.status_code == 200
    assert b"archive/audit_trail.parquet" not in page.content and b'value="odm"' not in page.content
    assert b"trial master file" not in page.content
    files = f"/studies/{study.code}/releases/v{edited.version}/files/"
    assert client.get(f"{files}archive/users.parquet").status_code == 404
    client.force_login(manager)
    page = client.get(f"/studies/{study.code}/releases/v{edited.version}/")
    assert b"archive/audit_trail.parquet" in page.content and b'value="odm"' in page.content
    assert b"trial master file" in page.content
    response = client.get(f"/studies/{study.code}/releases/v{edited.version}/files/archive/users.parquet")
    assert response.status_code == 200


# ------------------------------------------------------------------------------------------------ the command


@pytest.fixture
def out_dir(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def test_the_command_writes_the_same_zip_as_the_export_page(edited, out_dir):
    out = io.StringIO()
    call_command("export_release", edited.study.code, "--format", "odm", "--output", str(out_dir), stdout=out)
    written = out_dir / exports.export_name(edited, "odm")
    assert written.read_bytes() == exports.export_bytes(edited, "odm")
    assert hashlib.sha256(written.read_bytes()).hexdigest() in out.getvalue()
    assert [path.name for path in out_dir.iterdir()] == [written.name]  # no partial file left


def test_the_command_refuses_a_study_without_a_locked_release(study, out_dir):
    with pytest.raises(CommandError, match="has no locked release: lock it first"):
        call_command("export_release", study.code, "--format", "odm", "--output", str(out_dir))
    with pytest.raises(CommandError, match="No study nowhere"):
        call_command("export_release", "nowhere", "--format", "csv", "--output", str(out_dir))
    assert list(out_dir.iterdir()) == []


def test_the_command_reports_a_failed_build_and_leaves_no_file(edited, out_dir, monkeypatch):
    def invalid(frozen, frames):
        raise odm.OdmBuildError("drug_administration.route: values ['intrathecal'] are not in its code list")

    monkeypatch.setattr(odm, "check_code_lists", invalid)
    with pytest.raises(CommandError, match=r"export failed: drug_administration\.route"):
        call_command("export_release", edited.study.code, "--format", "odm", "--output", str(out_dir))
    assert list(out_dir.iterdir()) == []
