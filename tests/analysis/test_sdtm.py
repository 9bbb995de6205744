"""The SDTM export (issue 19 item 2): SDTM-shaped datasets of a locked release as SAS transport v5 and CSV, with
Define-XML 2.1 and define.html; read back the way a user would (pyreadstat, pandas, an XML schema validator)."""

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import odmlib
import pandas as pd
import pyreadstat
import pytest
import xmlschema

from analysis import exports, sdtm, sdtm_terms
from analysis.frozen import FrozenRelease
from ecrf.crfs import CATALOGUE
from ecrf.models import LabResult, VitalSigns
from tests.analysis import release_data

SCHEMA = Path(odmlib.__file__).parent / "schemas/define/2.1/define2-1-0.xsd"
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3", "def": "http://www.cdisc.org/ns/def/v2.1"}
DOMAINS = ["dm", "vs", "lb", "ex", "ds", "ae", "rs"]


class Export:
    """The SDTM zip of a release, read back."""

    def __init__(self, content: bytes):
        self.content = content
        self.zip = zipfile.ZipFile(io.BytesIO(content))
        self.prefix = self.zip.namelist()[0].split("/")[0] + "/"

    def read(self, relative: str) -> bytes:
        return self.zip.read(self.prefix + relative)

    def csv(self, domain: str) -> pd.DataFrame:
        return pd.read_csv(io.BytesIO(self.read(f"sdtm/{domain}.csv")), dtype=str, keep_default_na=False)

    def xpt(self, domain: str, tmp_path: Path) -> tuple[pd.DataFrame, object]:
        path = tmp_path / f"{domain}.xpt"
        path.write_bytes(self.read(f"sdtm/{domain}.xpt"))
        return pyreadstat.read_xport(str(path))

    def datasets(self) -> list[str]:
        names = [n[len(self.prefix) :] for n in self.zip.namelist()]
        return sorted(n.removeprefix("sdtm/").removesuffix(".xpt") for n in names if n.endswith(".xpt"))


@pytest.fixture
def exported(release) -> Export:
    return Export(exports.export_bytes(release, "sdtm"))


@pytest.fixture(scope="module")
def schema():
    return xmlschema.XMLSchema(str(SCHEMA))


@pytest.fixture
def edited(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """The release data, then: MI-0001's vital signs of day 1 marked not done, MI-0001's day-1 CRP coded unknown,
    a D-dimer in DDU and an AST with the site's ULN on BG-0001's day 0; locked."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    VitalSigns.objects.filter(patient=patient_a, study_day=1).update(
        temperature_c=None, spo2_pct=None, not_done_reason="patient in radiology all day"
    )
    LabResult.objects.filter(patient=patient_a, study_day=1).update(missing_codes={"crp_mg_l": "unknown"})
    LabResult.objects.filter(patient=patient_b, study_day=0).update(
        ddimer_ng_ml="850.0", ddimer_basis="DDU", ast_u_l="120.0", ast_uln_u_l="40.0"
    )
    return Export(exports.export_bytes(release_data.lock(study, users["data_manager"]), "sdtm"))


def rows(frame: pd.DataFrame, **where) -> pd.DataFrame:
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= frame[column].eq(value).to_numpy()
    return frame.loc[mask]


# --------------------------------------------------------------------------------------------
# What the datasets hold
# --------------------------------------------------------------------------------------------


def test_the_zip_holds_every_domain_as_xpt_and_csv_with_define(exported):
    names = {n[len(exported.prefix) :] for n in exported.zip.namelist()}
    for domain in DOMAINS:
        assert {f"sdtm/{domain}.xpt", f"sdtm/{domain}.csv"} <= names
    assert {"sdtm/define.xml", "sdtm/define.html", "README.md", "manifest.json"} <= names


def test_dm_has_one_row_per_participant(exported, release):
    dm = exported.csv("dm")
    participants = FrozenRelease(release).frame("patients")["participant_id"]
    assert len(dm) == len(participants) == 4
    assert dm["USUBJID"].is_unique
    assert sorted(dm["SUBJID"]) == sorted(participants)
    assert set(dm["USUBJID"]) == {f"{release.study.code}-{pid}" for pid in participants}
    mi = rows(dm, SUBJID="MI-0002").iloc[0]
    assert (mi["SEX"], mi["AGE"], mi["AGEU"], mi["SITEID"]) == ("F", "62", "YEARS", "MI")
    assert (mi["ARMCD"], mi["ARM"], mi["ACTARMCD"]) == ("STANDARD", "Standard treatment", "STANDARD")
    assert rows(dm, SUBJID="BG-0001")["DTHFL"].tolist() == ["Y"]  # the death event
    assert rows(dm, SUBJID="MI-0001")["DTHFL"].tolist() == [""]
    assert set(dm["RFSTDTC"]) == {""}  # no calendar dates in a release


def test_lb_crp_carries_its_loinc_code_and_value(exported):
    crp = rows(exported.csv("lb"), LBTESTCD="CRP")
    assert len(crp) == 4  # day 0 of each participant; days 1-2 have no CRP
    assert set(crp["LBLOINC"]) == {"1988-5"}
    assert set(crp["LBTEST"]) == {"C Reactive Protein"}
    assert set(crp["LBORRES"]) == {"150"} and set(crp["LBSTRESN"]) == {"150"}
    assert set(crp["LBORRESU"]) == {"mg/L"} and set(crp["LBDY"]) == {"1"}
    po2 = rows(exported.csv("lb"), LBTESTCD="PO2")
    assert set(po2["LBLOINC"]) == {"2703-7"} and set(po2["LBORRES"]) == {"70"} and set(po2["LBORRESU"]) == {"mmHg"}


def test_lb_loinc_codes_are_the_catalogues():
    """The catalogue is the one source of LOINC codes; these are the meanings the SDTM tests assume."""
    loinc = CATALOGUE["laboratory"].loinc
    expected = {
        "crp_mg_l": {"1988-5"},
        "ferritin_ng_ml": {"2276-4"},
        "ddimer_ng_ml": {"48065-7", "48066-5"},
        "ldh_u_l": {"2532-0"},
        "lymphocytes_10e9_l": {"731-0"},
        "ast_u_l": {"1920-8"},
        "alt_u_l": {"1742-6"},
        "procalcitonin_ng_ml": {"33959-8"},
        "pao2_mmhg": {"2703-7"},
        "abg_fio2": {"3150-0"},
    }
    for test in sdtm_terms.LABORATORY:
        assert {code for code, field in loinc.items() if field == test.field} == expected[test.field]


def test_vs_has_the_oxygen_saturation_of_every_day(exported, release):
    vs = exported.csv("vs")
    oxysat = rows(vs, VSTESTCD="OXYSAT")
    assert len(oxysat) == 12  # four participants, days 0-2
    assert set(oxysat["VSORRES"]) == {"92"} and set(oxysat["VSSTRESN"]) == {"92"}
    assert set(oxysat["VSORRESU"]) == {"%"} and set(oxysat["VSSTRESU"]) == {"%"}
    assert set(oxysat["VSLOINC"]) == {"59408-5"}
    for usubjid, days in oxysat.groupby("USUBJID")["VSDY"]:
        assert sorted(days) == ["1", "2", "3"], usubjid
    assert set(rows(vs, VSTESTCD="TEMP")["VSORRESU"]) == {"C"}
    assert "HR" not in set(vs["VSTESTCD"])  # heart rate not recorded: no row, never 0


def test_vsdy_is_the_study_day_plus_one(exported, release):
    vitals = FrozenRelease(release).frame("vital_signs")
    usubjid = release.study.code + "-" + vitals["participant_id"]
    expected = sorted(zip(usubjid, (vitals["study_day"] + 1).astype(str), strict=True))
    temperature = rows(exported.csv("vs"), VSTESTCD="TEMP")
    assert sorted(zip(temperature["USUBJID"], temperature["VSDY"], strict=True)) == expected


def test_sdtm_day_has_no_day_zero():
    days = pd.Series([-2, -1, 0, 1, 20, None], dtype="Int64")
    assert sdtm.sdtm_day(days).tolist() == [-2, -1, 1, 2, 21, pd.NA]


def test_ex_has_the_anakinra_dose(exported):
    ex = exported.csv("ex")
    assert len(ex) == 1
    dose = ex.iloc[0]
    assert dose["USUBJID"].endswith("-MI-0001")
    assert (dose["EXTRT"], dose["EXDOSE"], dose["EXDOSU"]) == ("ANAKINRA", "5", "mg/kg")
    assert (dose["EXROUTE"], dose["EXDOSFRQ"], dose["EXSTDY"], dose["EXENDY"]) == ("INTRAVENOUS", "BID", "1", "")


def test_ds_has_the_death_and_the_discharge(exported):
    ds = exported.csv("ds")
    death = rows(ds, DSDECOD="DEATH")
    assert death["USUBJID"].str.endswith("-BG-0001").all() and len(death) == 1
    assert death.iloc[0][["DSTERM", "DSCAT", "DSSTDY"]].tolist() == ["DEATH DUE TO ARDS", "DISPOSITION EVENT", "3"]
    discharge = rows(ds, DSDECOD="HOSPITAL DISCHARGE")
    assert discharge["USUBJID"].str.endswith("-MI-0002").all() and len(discharge) == 1
    assert discharge.iloc[0][["DSCAT", "DSSTDY"]].tolist() == ["OTHER EVENT", "4"]
    assert len(ds) == 2  # every patient is still "active" in the release: no end-of-participation status record


def test_ds_adds_the_follow_up_status_where_no_event_says_how_participation_ended(release, monkeypatch):
    frame = FrozenRelease.frame

    def with_statuses(self, name):
        out = frame(self, name)
        if name == "patients":  # BG-0001 died (its death event says so), MI-0002 completed its follow-up
            out["status"] = out["participant_id"].map({"BG-0001": "died", "MI-0002": "completed"}).fillna("active")
        return out

    monkeypatch.setattr(FrozenRelease, "frame", with_statuses)
    ds = Export(exports.export_bytes(release, "sdtm")).csv("ds")
    assert rows(ds, DSDECOD="DEATH")["DSSTDY"].tolist() == ["3"]  # the event, not a second record from the status
    completed = rows(ds, DSDECOD="COMPLETED")
    assert completed["USUBJID"].str.endswith("-MI-0002").all() and len(completed) == 1
    assert completed.iloc[0][["DSCAT", "DSSTDY", "DSSEQ"]].tolist() == ["DISPOSITION EVENT", "", "2"]


def test_ds_from_the_follow_up_status_alone(release, monkeypatch):
    frame = FrozenRelease.frame

    def without_events(self, name):
        out = frame(self, name)
        if name == "disposition_events":
            return out.iloc[:0]
        if name == "patients":
            out["status"] = out["participant_id"].map({"BG-0002": "withdrawn"}).fillna("active")
        return out

    monkeypatch.setattr(FrozenRelease, "frame", without_events)
    ds = Export(exports.export_bytes(release, "sdtm")).csv("ds")
    assert ds[["DSTERM", "DSDECOD", "DSSTDY", "DSSEQ"]].to_numpy().tolist() == [
        ["WITHDRAWN", "WITHDRAWAL BY SUBJECT", "", "1"]
    ]


def test_ae_is_serious(exported):
    ae = exported.csv("ae")
    assert len(ae) == 1
    event = ae.iloc[0]
    assert event["USUBJID"].endswith("-BG-0002")
    assert (event["AETERM"], event["AECAT"], event["AESER"], event["AESTDY"]) == (
        "Bacteraemia (E. coli)",
        "BACTERAEMIA",
        "Y",
        "2",
    )
    assert event["AEDECOD"] == ""  # not MedDRA-coded in the eCRF


def test_rs_holds_the_daily_ordinal_status(exported):
    rs = exported.csv("rs")
    assert set(rs["RSTESTCD"]) == {"MILAN7"}  # the test data score the Milan scale only
    assert set(rs["RSCAT"]) == {"MILAN 7-POINT ORDINAL CLINICAL STATUS"}
    assert (rs["RSTESTCD"].str.len() <= 8).all() and (rs["RSTEST"].str.len() <= 40).all()
    mi = rows(rs, USUBJID=rs["USUBJID"][rs["USUBJID"].str.endswith("-MI-0002")].iloc[0])
    assert list(zip(mi["RSDY"], mi["RSSTRESN"], strict=True)) == [("1", "5"), ("2", "5"), ("3", "5"), ("4", "1")]
    assert mi["RSORRES"].iloc[-1] == "Discharged, normal activities resumed"
    dead = rs.loc[rs["USUBJID"].str.endswith("-BG-0001")]
    assert len(dead) == 22 and set(dead["RSSTRESN"].iloc[3:]) == {"7"}


def test_every_domain_is_sorted_with_a_sequence_within_each_participant(exported):
    for domain in DOMAINS:
        frame = exported.csv(domain)
        assert {"STUDYID", "DOMAIN", "USUBJID"} <= set(frame.columns), domain
        assert set(frame["DOMAIN"]) <= {domain.upper()}
        if domain == "dm":
            continue  # DM's key is USUBJID alone: SDTMIG gives it no --SEQ
        seq = frame[f"{domain.upper()}SEQ"].astype(int)
        assert not frame.assign(seq=seq).duplicated(["USUBJID", "seq"]).any(), domain
        ordered = frame.assign(seq=seq).sort_values(["USUBJID", "seq"], kind="mergesort")
        assert ordered.index.tolist() == frame.index.tolist(), domain


def test_not_done_and_coded_values_are_rows_with_their_reason(edited):
    vs = edited.csv("vs")
    day = rows(vs, USUBJID=vs["USUBJID"][vs["USUBJID"].str.endswith("-MI-0001")].iloc[0], VSDY="2")
    assert set(day["VSSTAT"]) == {"NOT DONE"}
    assert set(day["VSREASND"]) == {"patient in radiology all day"}
    assert set(day["VSORRES"]) == {""} and set(day["VSSTRESN"]) == {""} and set(day["VSORRESU"]) == {""}
    assert set(day["VSTESTCD"]) == {t.code for t in sdtm_terms.VITAL_SIGNS}  # every value of the form not done
    crp = rows(edited.csv("lb"), LBTESTCD="CRP", LBDY="2")
    assert crp[["LBSTAT", "LBREASND", "LBORRES"]].to_numpy().tolist() == [["NOT DONE", "Unknown", ""]]


def test_lb_ddimer_follows_its_basis_and_ast_carries_the_sites_uln(edited):
    lb = edited.csv("lb")
    ddimer = rows(lb, LBTESTCD="DDIMER")
    assert ddimer[["LBORRES", "LBORRESU", "LBLOINC", "LBCAT"]].to_numpy().tolist() == [
        ["850", "ug/L DDU", "48066-5", "COAGULATION"]
    ]
    ast = rows(lb, LBTESTCD="AST")
    assert ast[["LBORRES", "LBORNRHI", "LBSTNRHI", "LBLOINC"]].to_numpy().tolist() == [["120", "40", "40", "1920-8"]]


# --------------------------------------------------------------------------------------------
# SAS transport files
# --------------------------------------------------------------------------------------------


def test_xpt_names_labels_and_dataset_labels_fit_sas_v5(exported, tmp_path):
    for domain in DOMAINS:
        frame, meta = exported.xpt(domain, tmp_path)
        assert meta.table_name == domain.upper()
        assert 0 < len(meta.file_label) <= 40
        for name in frame.columns:
            assert len(name) <= 8 and name == name.upper(), (domain, name)
            assert 0 < len(meta.column_names_to_labels[name]) <= 40, (domain, name)


def test_csv_and_xpt_hold_the_same_records(exported, tmp_path):
    for domain in DOMAINS:
        csv = exported.csv(domain)
        xpt, _ = exported.xpt(domain, tmp_path)
        assert list(csv.columns) == list(xpt.columns), domain
        assert len(csv) == len(xpt), domain
        for name in csv.columns:
            if xpt[name].dtype == object:
                assert csv[name].tolist() == xpt[name].tolist(), (domain, name)
            else:
                numbers = pd.to_numeric(csv[name].mask(csv[name].eq("")))
                np.testing.assert_array_equal(numbers.to_numpy(dtype=float), xpt[name].to_numpy(), err_msg=name)


def test_missing_values_stay_missing_in_the_xpt(exported, tmp_path):
    ex, _ = exported.xpt("ex", tmp_path)
    assert np.isnan(ex["EXENDY"].iloc[0])  # ongoing: no end day, never 0
    vs, _ = exported.xpt("vs", tmp_path)
    assert set(vs["VSDTC"]) == {""}


# --------------------------------------------------------------------------------------------
# Define-XML 2.1 and define.html
# --------------------------------------------------------------------------------------------


def test_define_xml_is_valid_define_2_1(exported, schema):
    document = exported.read("sdtm/define.xml")
    errors = [f"{error.reason} at {error.path}" for error in schema.iter_errors(document.decode())]
    assert not errors, errors[:5]


def test_define_xml_of_a_release_with_missing_data_codes_is_valid(edited, schema):
    assert schema.is_valid(edited.read("sdtm/define.xml").decode())


def test_a_domain_without_records_is_an_empty_dataset(release, monkeypatch, tmp_path, schema):
    frame = FrozenRelease.frame
    monkeypatch.setattr(
        FrozenRelease,
        "frame",
        lambda self, name: frame(self, name).iloc[:0] if name == "adverse_events" else frame(self, name),
    )
    exported = Export(exports.export_bytes(release, "sdtm"))
    ae, _ = exported.xpt("ae", tmp_path)
    assert len(ae) == 0 and list(ae.columns) == [v.name for v in sdtm_terms.AE_VARIABLES]
    assert len(exported.csv("ae")) == 0
    define = exported.read("sdtm/define.xml").decode()
    assert schema.is_valid(define)
    group = ET.fromstring(define).find("odm:Study/odm:MetaDataVersion/odm:ItemGroupDef[@Name='AE']", NS)
    assert group.get("{http://www.cdisc.org/ns/def/v2.1}HasNoData") == "Yes"


def test_define_xml_names_every_dataset_and_variable_of_the_zip(exported, tmp_path):
    root = ET.fromstring(exported.read("sdtm/define.xml"))
    version = root.find("odm:Study/odm:MetaDataVersion", NS)
    items = {item.get("OID"): item for item in version.findall("odm:ItemDef", NS)}
    groups = {group.get("Name"): group for group in version.findall("odm:ItemGroupDef", NS)}
    assert sorted(groups) == sorted(d.upper() for d in exported.datasets()) == sorted(d.upper() for d in DOMAINS)
    for domain in DOMAINS:
        group = groups[domain.upper()]
        leaf = group.find("def:leaf", NS)
        assert leaf.get("{http://www.w3.org/1999/xlink}href") == f"{domain}.xpt"
        frame, meta = exported.xpt(domain, tmp_path)
        names = [items[ref.get("ItemOID")].get("Name") for ref in group.findall("odm:ItemRef", NS)]
        assert names == list(frame.columns), domain
        for ref in group.findall("odm:ItemRef", NS):
            item = items[ref.get("ItemOID")]
            label = item.find("odm:Description/odm:TranslatedText", NS).text
            assert label == meta.column_names_to_labels[item.get("Name")]


def test_define_xml_code_lists_hold_the_values_in_the_data(exported):
    root = ET.fromstring(exported.read("sdtm/define.xml"))
    version = root.find("odm:Study/odm:MetaDataVersion", NS)
    lists = {
        code_list.get("OID"): {item.get("CodedValue") for item in code_list if item.get("CodedValue") is not None}
        for code_list in version.findall("odm:CodeList", NS)
    }
    for item in version.findall("odm:ItemDef", NS):
        ref = item.find("odm:CodeListRef", NS)
        if ref is None or not lists[ref.get("CodeListOID")]:
            continue  # LOINC: an external dictionary
        domain = item.get("OID").split(".")[1].lower()
        values = set(exported.csv(domain)[item.get("Name")]) - {""}
        assert values <= lists[ref.get("CodeListOID")], item.get("OID")
    route = version.find("odm:CodeList[@OID='CL.ROUTE']", NS)
    codes = {i.get("CodedValue"): i.find("odm:Alias", NS).get("Name") for i in route.findall("odm:EnumeratedItem", NS)}
    assert codes == {"ORAL": "C38288", "SUBCUTANEOUS": "C38299", "INTRAVENOUS": "C38276"}
    heart_rate = version.find("odm:CodeList[@OID='CL.VSTESTCD']/odm:CodeListItem[@CodedValue='HR']", NS)
    assert heart_rate.find("odm:Alias", NS).get("Name") == "C49677"  # HR, heart rate; PULSE is the pulse rate


def test_define_xml_explains_the_study_day_and_is_dated_at_the_lock(exported, release):
    root = ET.fromstring(exported.read("sdtm/define.xml"))
    assert root.get("CreationDateTime") == release.locked_at.isoformat()
    version = root.find("odm:Study/odm:MetaDataVersion", NS)
    method = version.find("odm:MethodDef[@OID='MT.DY']", NS)
    assert "study_day + 1" in method.find("odm:Description/odm:TranslatedText", NS).text
    dtc = version.find("def:CommentDef[@OID='COM.DTC']", NS)
    assert "no calendar dates" in dtc.find("odm:Description/odm:TranslatedText", NS).text
    vsdy = version.find("odm:ItemGroupDef[@Name='VS']/odm:ItemRef[@ItemOID='IT.VS.VSDY']", NS)
    assert vsdy.get("MethodOID") == "MT.DY"


def test_define_html_lists_every_dataset(exported):
    page = exported.read("sdtm/define.html").decode()
    for domain in DOMAINS:
        assert f'<a href="{domain}.xpt">{domain}.xpt</a>' in page
        assert f'<h2 id="{domain.upper()}">' in page
    assert "VSTESTCD" in page and "Vital Signs Test Short Name" in page and "C49677" in page


# --------------------------------------------------------------------------------------------
# The export as a whole
# --------------------------------------------------------------------------------------------


def test_the_same_release_gives_the_same_bytes(release):
    assert exports.export_bytes(release, "sdtm") == exports.export_bytes(release, "sdtm")


def test_readme_notes_reach_the_readme(exported, release):
    readme = exported.read("README.md").decode()
    for note in sdtm.readme_notes(FrozenRelease(release)):
        assert note in readme
    assert "--DY = study day + 1" in readme


@pytest.mark.parametrize(
    ("table", "column", "value"),
    [
        ("drug_administration", "route", "intramuscular"),
        ("disposition_events", "kind", "transferred"),
        ("patients", "sex", "X"),
    ],
)
def test_a_value_outside_the_mapping_fails_the_build_naming_it(release, monkeypatch, table, column, value):
    frame = FrozenRelease.frame

    def tampered(self, name):
        out = frame(self, name)
        if name == table:
            out.loc[out.index[0], column] = value
        return out

    monkeypatch.setattr(FrozenRelease, "frame", tampered)
    with pytest.raises(exports.ExportRefused) as refused:
        exports.export_bytes(release, "sdtm")
    assert value in str(refused.value) and f"{table}.{column}" in str(refused.value)


def test_a_text_longer_than_sas_v5_holds_fails_the_build(release, monkeypatch):
    frame = FrozenRelease.frame

    def tampered(self, name):
        out = frame(self, name)
        if name == "disposition_events":
            out["cause_of_death"] = out["cause_of_death"].where(out["cause_of_death"].isna(), "x" * 200)
        return out

    monkeypatch.setattr(FrozenRelease, "frame", tampered)
    with pytest.raises(exports.ExportRefused, match=r"DS\.DSTERM .*BG-0001.*200 bytes"):
        exports.export_bytes(release, "sdtm")
