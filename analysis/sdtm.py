"""SDTM-shaped datasets of a locked release, with Define-XML 2.1 (issue 19 item 2): the SDTM export format.

Built from the release's frozen files only (``FrozenRelease``), never from the live tables. ``export_files`` gives,
under ``sdtm/``, one SAS transport v5 file (``<domain>.xpt``) and one CSV (``<domain>.csv``) per domain, then
``define.xml`` (Define-XML 2.1, analysis/define_xml.py) and ``define.html``:

- DM, one row per participant (patients, arms); VS and LB from the vital signs and the laboratory forms, one row per
  test and study day; EX from the drug administrations; DS from the disposition events and the follow-up status;
  AE from the adverse events; RS, the daily ordinal clinical status of the derived table on each of its scales.
- Controlled terminology: CDISC SDTM CT of ``CT_VERSION`` (the NCI codes go into define.xml); LOINC codes from the
  form catalogue (ecrf/crfs.py), the one place that holds them.
- Time: the release holds no calendar dates (pseudonymised; study day 0 = enrolment), so the --DTC variables are
  empty and the study day goes into --DY, --STDY and --ENDY with the SDTM convention of no day 0 (``sdtm_day``).
- Missing is missing (an empty cell, a SAS missing value), never 0. A value replaced by a missing-data code, or the
  values of a form marked not done that day, are rows with --STAT = NOT DONE and the reason in --REASND.
- A value the mappings below do not know (a drug route, a disposition kind, ...) fails the build with
  ``ExportRefused`` naming the table, the column and the values: never a silently invalid file. So does a text
  longer than SAS transport v5 holds (200 bytes).

The bytes depend only on the release: rows sorted by USUBJID and --SEQ, the XPT headers stamped with the lock time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from analysis import define_xml
from analysis.define_xml import CodeList, Term
from analysis.exports import ExportRefused, _fix_xpt, _write_with, csv_bytes
from analysis.frozen import FrozenRelease, _labels
from ecrf.crfs import CATALOGUE, CODE_COLUMN_SUFFIX

FOLDER = "sdtm/"
#: The release of CDISC SDTM Controlled Terminology the terms and NCI codes below were checked against.
CT_VERSION = "2025-03-25"
XPT_MAX_TEXT = 200  # bytes of a SAS transport v5 character variable
NOT_DONE = "NOT DONE"
KEY = "participant_id"

# --------------------------------------------------------------------------------------------
# Mappings: release values -> SDTM values (CDISC CT where one fits)
# --------------------------------------------------------------------------------------------

SEXES = {"F": "F", "M": "M"}
ROUTES = {"oral": "ORAL", "sc": "SUBCUTANEOUS", "iv": "INTRAVENOUS"}
FREQUENCIES = {"once": "ONCE", "q24h": "Q24H", "bid": "BID", "q8h": "Q8H", "q6h": "Q6H"}
DOSE_UNITS = {"mg": "mg", "mg/kg": "mg/kg"}
DRUGS = {
    "anakinra": "ANAKINRA",
    "hydroxychloroquine": "HYDROXYCHLOROQUINE",
    "lopinavir_ritonavir": "LOPINAVIR/RITONAVIR",
    "glucocorticoid": "GLUCOCORTICOID",
    "tocilizumab": "TOCILIZUMAB",
    "other_il6_antagonist": "OTHER IL-6 ANTAGONIST",
    "antibiotic": "ANTIBIOTIC",
}
#: Drugs the eCRF records as a class: their name (drug_detail), where given, is the treatment.
DRUG_CLASSES = frozenset({"glucocorticoid", "other_il6_antagonist", "antibiotic"})
DISPOSITION_EVENT, OTHER_EVENT = "DISPOSITION EVENT", "OTHER EVENT"


class Disposition(NamedTuple):
    term: str
    decode: str
    category: str


#: Disposition event kind -> DS record. Death, withdrawal and loss to follow-up end the study participation
#: (NCOMPLT terms); the other events are OTHER EVENT with terms the sponsor adds to OTHEVENT (none of its terms fits).
DISPOSITIONS = {
    "death": Disposition("DEATH", "DEATH", DISPOSITION_EVENT),
    "withdrawal": Disposition("WITHDRAWAL", "WITHDRAWAL BY SUBJECT", DISPOSITION_EVENT),
    "lost_to_follow_up": Disposition("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP", DISPOSITION_EVENT),
    "discharged": Disposition("DISCHARGED FROM HOSPITAL", "HOSPITAL DISCHARGE", OTHER_EVENT),
    "icu_admission": Disposition("ADMITTED TO ICU", "ICU ADMISSION", OTHER_EVENT),
    "imv_started": Disposition("INVASIVE VENTILATION STARTED", "INVASIVE VENTILATION STARTED", OTHER_EVENT),
    "vital_status_contact": Disposition("VITAL STATUS CONTACT", "VITAL STATUS CONTACT", OTHER_EVENT),
}
#: Follow-up status of a patient at lock -> the DS record of the end of participation (none while in follow-up);
#: written where no disposition event of the participant already says how participation ended.
STATUSES: dict[str, Disposition | None] = {
    "active": None,
    "completed": Disposition("FOLLOW-UP COMPLETED", "COMPLETED", DISPOSITION_EVENT),
    "died": Disposition("DIED", "DEATH", DISPOSITION_EVENT),
    "withdrawn": Disposition("WITHDRAWN", "WITHDRAWAL BY SUBJECT", DISPOSITION_EVENT),
    "lost_to_follow_up": Disposition("LOST TO FOLLOW-UP", "LOST TO FOLLOW-UP", DISPOSITION_EVENT),
}
AE_CATEGORIES = {
    "bacteraemia": "BACTERAEMIA",
    "liver_enzymes_gt_3uln": "LIVER ENZYMES > 3 X ULN",
    "thromboembolism": "THROMBOEMBOLISM",
    "other": "OTHER",
}
YES_NO = {True: "Y", False: "N"}


class Test(NamedTuple):
    """One test of a findings domain: a field of a one-per-day form."""

    field: str
    code: str  # --TESTCD
    name: str  # --TEST
    c_code: str  # NCI code of the test in CDISC CT
    #: The unit the release's codebook gives the field; the build refuses a release that holds it in another one.
    release_unit: str
    #: The CDISC CT unit of the values, or, by the value of ``by`` (the D-dimer's basis), one per basis.
    unit: str | Mapping[str, str]
    by: str = ""
    category: str = ""  # --CAT
    uln: str = ""  # the field holding the site's upper limit of normal


VITAL_SIGNS = (
    Test("systolic_mmhg", "SYSBP", "Systolic Blood Pressure", "C25298", "mmHg", "mmHg"),
    Test("diastolic_mmhg", "DIABP", "Diastolic Blood Pressure", "C25299", "mmHg", "mmHg"),
    Test("heart_rate_bpm", "HR", "Heart Rate", "C49677", "/min", "beats/min"),  # HR, not PULSE (pulse rate)
    Test("respiratory_rate_bpm", "RESP", "Respiratory Rate", "C49678", "/min", "breaths/min"),
    Test("temperature_c", "TEMP", "Temperature", "C174446", "degC", "C"),
    Test("spo2_pct", "OXYSAT", "Oxygen Saturation", "C60832", "%", "%"),
)
CHEMISTRY, HEMATOLOGY, COAGULATION, BLOOD_GAS = "CHEMISTRY", "HEMATOLOGY", "COAGULATION", "BLOOD GAS"
LABORATORY = (
    Test("crp_mg_l", "CRP", "C Reactive Protein", "C64548", "mg/L", "mg/L", category=CHEMISTRY),
    Test("ferritin_ng_ml", "FERRITIN", "Ferritin", "C74737", "ng/mL", "ug/L", category=CHEMISTRY),
    Test(
        "ddimer_ng_ml",
        "DDIMER",
        "D-Dimer",
        "C82621",
        "ng/mL",
        {"FEU": "ug/L FEU", "DDU": "ug/L DDU"},
        by="ddimer_basis",
        category=COAGULATION,
    ),
    Test("ldh_u_l", "LDH", "Lactate Dehydrogenase", "C64855", "U/L", "U/L", category=CHEMISTRY),
    Test("lymphocytes_10e9_l", "LYM", "Lymphocytes", "C51949", "x10^9/L", "10^9/L", category=HEMATOLOGY),
    Test("ast_u_l", "AST", "Aspartate Aminotransferase", "C64467", "U/L", "U/L", category=CHEMISTRY, uln="ast_uln_u_l"),
    Test("alt_u_l", "ALT", "Alanine Aminotransferase", "C64433", "U/L", "U/L", category=CHEMISTRY, uln="alt_uln_u_l"),
    Test("procalcitonin_ng_ml", "PCT", "Procalcitonin", "C103430", "ng/mL", "ug/L", category=CHEMISTRY),
    Test("pao2_mmhg", "PO2", "Partial Pressure Oxygen", "C71251", "mmHg", "mmHg", category=BLOOD_GAS),
    Test("abg_fio2", "FIO2", "Fraction of Inspired Oxygen", "C38082", "fraction", "fraction of 1", category=BLOOD_GAS),
)
#: NCI codes of the CDISC CT units used.
UNITS = {
    "mmHg": "C49670",
    "beats/min": "C49673",
    "breaths/min": "C49674",
    "C": "C42559",
    "%": "C25613",
    "mg/L": "C64572",
    "ug/L": "C67306",
    "ug/L FEU": "C158292",
    "ug/L DDU": "C161495",
    "U/L": "C67456",
    "10^9/L": "C67255",
    "fraction of 1": "C105484",
    "mg": "C28253",
    "mg/kg": "C67401",
}


class Scale(NamedTuple):
    """One ordinal scale of the derived table, as a clinical classification of RS."""

    column: str
    code: str  # RSTESTCD
    name: str  # RSTEST
    category: str  # RSCAT


SCALES = (
    Scale("ordinal_7", "MILAN7", "Milan 7-Point Ordinal Clinical Status", "MILAN 7-POINT ORDINAL CLINICAL STATUS"),
    Scale(
        "who_osci",
        "WHOOSCI",
        "WHO Ordinal Scale Clinical Improvement",
        "WHO ORDINAL SCALE FOR CLINICAL IMPROVEMENT",
    ),
    Scale("who_cps", "WHOCPS", "WHO Clinical Progression Scale", "WHO CLINICAL PROGRESSION SCALE"),
)


# --------------------------------------------------------------------------------------------
# Code lists of define.xml: the values each coded variable may take
# --------------------------------------------------------------------------------------------

DOMAIN_NAMES = {
    "DM": ("Demographics", "C49572"),
    "VS": ("Vital Signs", "C49622"),
    "LB": ("Laboratory Test Results", "C49592"),
    "EX": ("Exposure", "C49587"),
    "DS": ("Disposition", "C49576"),
    "AE": ("Adverse Events", "C49562"),
    "RS": ("Disease Response and Clin Classification", "C107097"),
}
_NCI_CODES = {  # the NCI codes of the CT terms the mappings above produce
    "F": "C16576",
    "M": "C20197",
    "ORAL": "C38288",
    "SUBCUTANEOUS": "C38299",
    "INTRAVENOUS": "C38276",
    "ONCE": "C64576",
    "Q24H": "C64515",
    "BID": "C64496",
    "Q8H": "C64523",
    "Q6H": "C64520",
    "COMPLETED": "C25250",
    "DEATH": "C28554",
    "LOST TO FOLLOW-UP": "C48227",
    "WITHDRAWAL BY SUBJECT": "C49634",
    DISPOSITION_EVENT: "C74590",
    OTHER_EVENT: "C150824",
}


def _terms(values, decodes: Mapping[str, str] | None = None, codes: Mapping[str, str] = _NCI_CODES) -> tuple[Term, ...]:
    """Terms of the distinct ``values`` in their order, with their decodes and NCI codes where given."""
    decodes = decodes or {}
    return tuple(Term(value, decodes.get(value, ""), codes.get(value, "")) for value in dict.fromkeys(values))


class _TestsCT(NamedTuple):
    """The CDISC CT code lists of a findings domain's tests and units."""

    test_codes: str
    test_names: str
    units: str
    units_name: str


_TESTS_CT = {
    "VS": _TestsCT("C66741", "C67153", "C66770", "Units for Vital Signs Results"),
    "LB": _TestsCT("C65047", "C67154", "C71620", "Unit"),
}


def _tests_lists(prefix: str, tests: tuple[Test, ...]) -> list[CodeList]:
    ct = _TESTS_CT[prefix]
    units = [u for test in tests for u in ([test.unit] if isinstance(test.unit, str) else test.unit.values())]
    codes = tuple(Term(t.code, t.name, t.c_code) for t in tests)
    names = tuple(Term(t.name, "", t.c_code) for t in tests)
    return [
        CodeList(f"CL.{prefix}TESTCD", f"{prefix} Test Code", codes, ct.test_codes),
        CodeList(f"CL.{prefix}TEST", f"{prefix} Test Name", names, ct.test_names),
        CodeList(f"CL.{prefix}UNIT", ct.units_name, _terms(units, codes=UNITS), ct.units),
    ]


def code_lists(frozen: FrozenRelease) -> dict[str, CodeList]:
    """Every code list of define.xml by OID: the values the mappings can give (a subset of a CDISC CT code list
    where one fits), and the study's arms."""
    arms = frozen.frame("arms")
    armcd = arm_codes(arms)
    lists = [
        CodeList(
            "CL.DOMAIN",
            "SDTM Domain Abbreviation",
            tuple(Term(d, *named) for d, named in DOMAIN_NAMES.items()),
            "C66734",
        ),
        CodeList("CL.SEX", "Sex", _terms(SEXES.values(), {"F": "Female", "M": "Male"}), "C66731"),
        CodeList("CL.AGEU", "Age Unit", (Term("YEARS", "", "C29848"),), "C66781"),
        CodeList("CL.NY", "No Yes Response", (Term("N", "No", "C49487"), Term("Y", "Yes", "C49488")), "C66742"),
        CodeList("CL.Y", "Yes Response", (Term("Y", "Yes", "C49488"),), "C66742"),
        CodeList("CL.ND", "Not Done", (Term(NOT_DONE, "", "C49484"),), "C66789"),
        CodeList(
            "CL.ARMCD",
            "Planned Arm Code (the study's arms)",
            tuple(Term(armcd[code], str(label)) for code, label in zip(arms["arm"], arms["arm_label"], strict=True)),
        ),
        *_tests_lists("VS", VITAL_SIGNS),
        *_tests_lists("LB", LABORATORY),
        CodeList("CL.LBCAT", "Category for Lab Test", _terms(t.category for t in LABORATORY)),
        CodeList("CL.LOINC", "LOINC", dictionary="LOINC"),
        CodeList("CL.EXCAT", "Category of Treatment (the eCRF's drugs)", _terms(DRUGS.values())),
        CodeList("CL.EXDOSU", "Unit (dose)", _terms(DOSE_UNITS.values(), codes=UNITS), "C71620"),
        CodeList("CL.FREQ", "Frequency", _terms(FREQUENCIES.values()), "C71113"),
        CodeList("CL.ROUTE", "Route of Administration Response", _terms(ROUTES.values()), "C66729"),
        CodeList("CL.DSCAT", "Category of Disposition Event", _terms([DISPOSITION_EVENT, OTHER_EVENT]), "C74558"),
        CodeList(
            "CL.DSDECOD",
            "Standardized Disposition Term (NCOMPLT; OTHEVENT, extended)",
            _terms([*(d.decode for d in DISPOSITIONS.values()), *(d.decode for d in STATUSES.values() if d)]),
        ),
        CodeList("CL.AECAT", "Category for Adverse Event (the eCRF's kinds)", _terms(AE_CATEGORIES.values())),
        CodeList("CL.RSCAT", "Category of Clinical Classification", _terms(s.category for s in SCALES), "C118971"),
        CodeList("CL.RSTESTCD", "Clinical Classification Test Code", tuple(Term(s.code, s.name) for s in SCALES)),
        CodeList("CL.RSTEST", "Clinical Classification Test Name", _terms(s.name for s in SCALES)),
    ]
    return {code_list.oid: code_list for code_list in lists}


# --------------------------------------------------------------------------------------------
# Variables of each domain
# --------------------------------------------------------------------------------------------


class Var(NamedTuple):
    name: str
    label: str
    kind: str  # text, integer, float
    role: str
    origin: str  # Collected, Assigned, Derived, Not Available
    code_list: str = ""
    method: str = ""
    comment: str = ""
    mandatory: bool = False
    key: int | None = None


STUDYID = Var("STUDYID", "Study Identifier", "text", "Identifier", "Assigned", mandatory=True, key=1)
DOMAIN = Var("DOMAIN", "Domain Abbreviation", "text", "Identifier", "Assigned", "CL.DOMAIN", mandatory=True)
USUBJID = Var(
    "USUBJID", "Unique Subject Identifier", "text", "Identifier", "Derived", method="MT.USUBJID", mandatory=True, key=2
)


def _seq(prefix: str) -> Var:
    return Var(f"{prefix}SEQ", "Sequence Number", "integer", "Identifier", "Derived", method="MT.SEQ", mandatory=True)


def _dtc(name: str, label: str, role: str = "Timing") -> Var:
    return Var(name, label, "text", role, "Not Available", comment="COM.DTC")


def _dy(name: str, label: str, key: int | None = None) -> Var:
    return Var(name, label, "integer", "Timing", "Derived", method="MT.DY", key=key)


_STANDARD = {"origin": "Derived", "method": "MT.STRES"}


def _findings_variables(
    prefix: str, label: str, reason: str, category: tuple[Var, ...] = (), ranges: tuple[Var, Var] | tuple = ()
) -> tuple[Var, ...]:
    """The variables of VS and LB: the test (and its ``category``), the result in original units (and the upper
    limit of normal, ``ranges``: original, standard), in standard units, the status, the LOINC code, the timing."""
    units = f"CL.{prefix}UNIT"
    day_of = "Vital Signs" if prefix == "VS" else "Specimen Collection"
    measured = "Date/Time of Measurements" if prefix == "VS" else "Date/Time of Specimen Collection"
    return (
        STUDYID,
        DOMAIN,
        USUBJID,
        _seq(prefix),
        Var(
            f"{prefix}TESTCD",
            f"{label} Test Short Name",
            "text",
            "Topic",
            "Assigned",
            f"CL.{prefix}TESTCD",
            mandatory=True,
            key=3,
        ),
        Var(
            f"{prefix}TEST",
            f"{label} Test Name",
            "text",
            "Synonym Qualifier",
            "Assigned",
            f"CL.{prefix}TEST",
            mandatory=True,
        ),
        *category,
        Var(f"{prefix}ORRES", "Result or Finding in Original Units", "text", "Result Qualifier", "Collected"),
        Var(f"{prefix}ORRESU", "Original Units", "text", "Variable Qualifier", "Assigned", units),
        *ranges[:1],
        Var(f"{prefix}STRESC", "Character Result/Finding in Std Format", "text", "Result Qualifier", **_STANDARD),
        Var(f"{prefix}STRESN", "Numeric Result/Finding in Standard Units", "float", "Result Qualifier", **_STANDARD),
        Var(f"{prefix}STRESU", "Standard Units", "text", "Variable Qualifier", "Assigned", units),
        *ranges[1:],
        Var(f"{prefix}STAT", "Completion Status", "text", "Record Qualifier", "Derived", "CL.ND", "MT.STAT"),
        Var(f"{prefix}REASND", reason, "text", "Record Qualifier", "Collected"),
        Var(f"{prefix}LOINC", "LOINC Code", "text", "Synonym Qualifier", "Assigned", "CL.LOINC", comment="COM.LOINC"),
        _dtc(f"{prefix}DTC", measured),
        _dy(f"{prefix}DY", f"Study Day of {day_of}", key=4),
    )


DM_VARIABLES = (
    STUDYID,
    DOMAIN,
    USUBJID,
    Var("SUBJID", "Subject Identifier for the Study", "text", "Topic", "Collected", mandatory=True),
    _dtc("RFSTDTC", "Subject Reference Start Date/Time", "Record Qualifier"),
    _dtc("RFENDTC", "Subject Reference End Date/Time", "Record Qualifier"),
    Var("DTHFL", "Subject Death Flag", "text", "Record Qualifier", "Derived", "CL.Y", "MT.DTHFL"),
    Var("SITEID", "Study Site Identifier", "text", "Record Qualifier", "Collected", mandatory=True),
    Var("AGE", "Age", "integer", "Record Qualifier", "Collected"),
    Var("AGEU", "Age Units", "text", "Variable Qualifier", "Assigned", "CL.AGEU"),
    Var("SEX", "Sex", "text", "Record Qualifier", "Collected", "CL.SEX", mandatory=True),
    Var("ARMCD", "Planned Arm Code", "text", "Record Qualifier", "Collected", "CL.ARMCD"),
    Var("ARM", "Description of Planned Arm", "text", "Synonym Qualifier", "Assigned"),
    Var("ACTARMCD", "Actual Arm Code", "text", "Record Qualifier", "Derived", "CL.ARMCD", "MT.ACTARM"),
    Var("ACTARM", "Description of Actual Arm", "text", "Synonym Qualifier", "Derived", method="MT.ACTARM"),
)
VS_VARIABLES = _findings_variables("VS", "Vital Signs", "Reason Not Performed")
LB_VARIABLES = _findings_variables(
    "LB",
    "Lab Test or Examination",
    "Reason Test Not Done",
    category=(Var("LBCAT", "Category for Lab Test", "text", "Grouping Qualifier", "Assigned", "CL.LBCAT"),),
    ranges=(
        Var("LBORNRHI", "Reference Range Upper Limit in Orig Unit", "text", "Variable Qualifier", "Collected"),
        Var("LBSTNRHI", "Reference Range Upper Limit-Std Units", "float", "Variable Qualifier", **_STANDARD),
    ),
)
EX_VARIABLES = (
    STUDYID,
    DOMAIN,
    USUBJID,
    _seq("EX"),
    Var("EXTRT", "Name of Treatment", "text", "Topic", "Collected", mandatory=True, key=3),
    Var("EXCAT", "Category of Treatment", "text", "Grouping Qualifier", "Collected", "CL.EXCAT"),
    Var("EXDOSE", "Dose", "float", "Record Qualifier", "Collected"),
    Var("EXDOSU", "Dose Units", "text", "Variable Qualifier", "Collected", "CL.EXDOSU"),
    Var("EXDOSFRQ", "Dosing Frequency per Interval", "text", "Variable Qualifier", "Collected", "CL.FREQ"),
    Var("EXROUTE", "Route of Administration", "text", "Variable Qualifier", "Collected", "CL.ROUTE"),
    _dtc("EXSTDTC", "Start Date/Time of Treatment"),
    _dtc("EXENDTC", "End Date/Time of Treatment"),
    _dy("EXSTDY", "Study Day of Start of Treatment", key=4),
    _dy("EXENDY", "Study Day of End of Treatment"),
)
DS_VARIABLES = (
    STUDYID,
    DOMAIN,
    USUBJID,
    _seq("DS"),
    Var("DSTERM", "Reported Term for the Disposition Event", "text", "Topic", "Collected", mandatory=True),
    Var("DSDECOD", "Standardized Disposition Term", "text", "Synonym Qualifier", "Assigned", "CL.DSDECOD", key=3),
    Var("DSCAT", "Category for Disposition Event", "text", "Grouping Qualifier", "Assigned", "CL.DSCAT"),
    _dtc("DSSTDTC", "Start Date/Time of Disposition Event"),
    _dy("DSSTDY", "Study Day of Start of Disposition Event", key=4),
)
AE_VARIABLES = (
    STUDYID,
    DOMAIN,
    USUBJID,
    _seq("AE"),
    Var("AETERM", "Reported Term for the Adverse Event", "text", "Topic", "Collected", mandatory=True, key=3),
    Var("AEDECOD", "Dictionary-Derived Term", "text", "Synonym Qualifier", "Not Available", comment="COM.AEDECOD"),
    Var("AECAT", "Category for Adverse Event", "text", "Grouping Qualifier", "Collected", "CL.AECAT"),
    Var("AESER", "Serious Event", "text", "Record Qualifier", "Collected", "CL.NY"),
    _dtc("AESTDTC", "Start Date/Time of Adverse Event"),
    _dy("AESTDY", "Study Day of Start of Adverse Event", key=4),
)
RS_VARIABLES = (
    STUDYID,
    DOMAIN,
    USUBJID,
    _seq("RS"),
    Var("RSTESTCD", "Assessment Short Name", "text", "Topic", "Assigned", "CL.RSTESTCD", mandatory=True, key=4),
    Var("RSTEST", "Assessment Name", "text", "Synonym Qualifier", "Assigned", "CL.RSTEST", mandatory=True),
    Var("RSCAT", "Category for Assessment", "text", "Grouping Qualifier", "Assigned", "CL.RSCAT", key=3),
    Var("RSORRES", "Result or Finding in Original Units", "text", "Result Qualifier", "Derived", method="MT.RS"),
    Var("RSSTRESC", "Character Result/Finding in Std Format", "text", "Result Qualifier", "Derived", method="MT.RS"),
    Var(
        "RSSTRESN", "Numeric Result/Finding in Standard Units", "integer", "Result Qualifier", "Derived", method="MT.RS"
    ),
    Var("RSSTAT", "Completion Status", "text", "Record Qualifier", "Derived", "CL.ND", "MT.STAT"),
    Var("RSREASND", "Reason Not Performed", "text", "Record Qualifier", "Derived", method="MT.RS"),
    _dtc("RSDTC", "Date/Time of Assessment"),
    _dy("RSDY", "Study Day of Assessment", key=5),
)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


def sdtm_day(study_day: pd.Series) -> pd.Series:
    """The SDTM study day of a release study day (day 0 = enrolment): SDTM has no day 0, so day 0 is --DY 1, day
    n >= 0 is n + 1, and a day before enrolment keeps its negative number. Missing stays missing."""
    days = study_day.astype("Int64")
    return days.where(days < 0, days + 1)


def mapped(values: pd.Series, mapping: Mapping, where: str) -> pd.Series:
    """``values`` through ``mapping``; missing stays missing. A value the mapping does not know fails the build,
    naming the table and column (``where``) and the values."""
    known = values.isna() | values.isin(list(mapping))
    if not known.all():
        unknown = sorted({str(v) for v in values[~known]})
        raise ExportRefused(
            f"SDTM export refused: {where} holds {unknown}, which the SDTM mapping does not know (it knows "
            f"{sorted(str(k) for k in mapping)}). Extend the mapping in analysis/sdtm.py or correct the data."
        )
    return values.astype(object).map(dict(mapping))


def number_text(values: pd.Series) -> pd.Series:
    """Numbers as text in their shortest form (80 for 80.0, 37.2); missing stays missing."""
    numbers = pd.to_numeric(values).astype("Float64")
    text = numbers.astype("float64").astype(str).str.replace(r"\.0$", "", regex=True)
    return text.astype("string").where(numbers.notna().to_numpy(), pd.NA)


def _constant(value, index: pd.Index) -> pd.Series:
    return pd.Series([value] * len(index), index=index, dtype=object)


def _record(frame: pd.DataFrame, order=0, study_day: str | None = "study_day") -> dict[str, pd.Series]:
    """The columns every builder gives ``finish``: the participant and the sort keys within them (the study day,
    then ``order``: the test's position, or the record's in the release table)."""
    day = frame[study_day] if study_day else pd.Series(pd.NA, index=frame.index, dtype="Int64")
    orders = pd.Series(np.broadcast_to(order, len(frame)), index=frame.index)
    return {KEY: frame[KEY], "_day": day.astype("Int64"), "_order": orders}


def _is(values: pd.Series, value: str) -> np.ndarray:
    """Where ``values`` equal ``value`` (missing: no), as a numpy mask."""
    return values.eq(value).fillna(False).to_numpy(dtype=bool)


def arm_codes(arms: pd.DataFrame) -> dict[str, str]:
    """The study's arm codes as ARMCD (upper case, at most 20 characters)."""
    codes = {str(code): str(code).upper() for code in arms["arm"]}
    long = sorted(code for code in codes.values() if len(code) > 20)
    if long:
        raise ExportRefused(f"SDTM export refused: arms.arm {long} longer than the 20 characters of ARMCD.")
    return codes


def _release_unit(frozen: FrozenRelease, form: str, test: Test) -> None:
    unit = frozen.columns(form).loc[test.field, "unit"]
    if str(unit) != test.release_unit:
        raise ExportRefused(
            f"SDTM export refused: {form}.{test.field} is in {unit!r} in this release; the SDTM mapping of "
            f"{test.code} expects {test.release_unit!r}."
        )


def _loinc(form: str, test: Test, frame: pd.DataFrame) -> pd.Series:
    """The LOINC code of each row from the form catalogue: the field's code; of a field with several, the one its
    record's other field implies (the D-dimer's basis: 48065-7 FEU, 48066-5 DDU), else the first listed."""
    crf = CATALOGUE[form]
    codes = [code for code, name in crf.loinc.items() if name == test.field]
    implied = {code: crf.loinc_implies[code] for code in codes if code in crf.loinc_implies}
    if not implied:
        return _constant(codes[0] if codes else None, frame.index)
    by_value = {value: code for code, values in implied.items() for field, value in values.items()}
    (field,) = {field for values in implied.values() for field in values}
    return frame[field].astype(object).map(by_value)


def _reasons(frozen: FrozenRelease, form: str, frame: pd.DataFrame, field: str) -> pd.Series:
    """Why a value is missing, where the release says: the reason the form was not done that day, else the label
    of the value's missing-data code (an unknown code fails the build)."""
    column = f"{field}{CODE_COLUMN_SUFFIX}"
    labels = _labels(frozen.columns(form).loc[column, "value_labels"])
    coded = mapped(frame[column], labels, f"{form}.{column}")
    return frame["not_done_reason"].astype(object).where(frame["not_done_reason"].notna(), coded)


def _test_rows(frozen: FrozenRelease, form: str, frame: pd.DataFrame, test: Test, order: int, p: str) -> pd.DataFrame:
    """One test's rows: a value, or --STAT NOT DONE where a missing-data code or the form's mark says why it is
    missing; a value simply missing has no row."""
    _release_unit(frozen, form, test)
    value = pd.to_numeric(frame[test.field]).astype("Float64")
    done = value.notna().to_numpy()
    reason = _reasons(frozen, form, frame, test.field)
    if isinstance(test.unit, str):
        unit = _constant(test.unit, frame.index)
    else:
        unit = mapped(frame[test.by].where(done), test.unit, f"{form}.{test.by}")
        if (done & unit.isna().to_numpy()).any():
            raise ExportRefused(f"SDTM export refused: {form}.{test.field} has values without {form}.{test.by}.")
    text = number_text(value)
    rows = {
        **_record(frame, order),
        f"{p}TESTCD": _constant(test.code, frame.index),
        f"{p}TEST": _constant(test.name, frame.index),
        f"{p}CAT": _constant(test.category or None, frame.index),
        f"{p}ORRES": text,
        f"{p}ORRESU": unit.where(done),
        f"{p}STRESC": text,
        f"{p}STRESN": value,
        f"{p}STRESU": unit.where(done),
        f"{p}STAT": _constant(NOT_DONE, frame.index).where(~done),
        f"{p}REASND": reason.where(~done),
        f"{p}LOINC": _loinc(form, test, frame),
        f"{p}DY": sdtm_day(frame["study_day"]),
    }
    if test.uln:
        uln = pd.to_numeric(frame[test.uln]).astype("Float64").where(done)
        rows.update({f"{p}ORNRHI": number_text(uln), f"{p}STNRHI": uln})
    keep = done | reason.notna().to_numpy()
    return pd.DataFrame(rows).loc[keep]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts one under the other; empty parts and all-missing columns left out (``finish`` gives every variable
    its type, and an empty column to one no part has)."""
    kept = [KEY, "_day", "_order"]
    filled = [part.loc[:, part.notna().any() | part.columns.isin(kept)] for part in parts if len(part)]
    return pd.concat(filled, ignore_index=True) if filled else parts[0]


def _findings(frozen: FrozenRelease, form: str, tests: tuple[Test, ...], prefix: str) -> pd.DataFrame:
    frame = frozen.frame(form)
    return _concat([_test_rows(frozen, form, frame, test, order, prefix) for order, test in enumerate(tests)])


# --------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------


def build_dm(frozen: FrozenRelease) -> pd.DataFrame:
    patients, arms = frozen.frame("patients"), frozen.frame("arms")
    events = frozen.frame("disposition_events")
    died = (
        _is(patients["status"], "died") | patients[KEY].isin(events.loc[_is(events["kind"], "death"), KEY]).to_numpy()
    )
    arm_code = mapped(patients["arm"], arm_codes(arms), "patients.arm")
    arm = mapped(patients["arm"], dict(zip(arms["arm"], arms["arm_label"], strict=True)), "patients.arm")
    return pd.DataFrame(
        {
            **_record(patients, study_day=None),
            "SUBJID": patients[KEY],
            "DTHFL": _constant("Y", patients.index).where(died),
            "SITEID": patients["site"],
            "AGE": patients["age_years"],
            "AGEU": _constant("YEARS", patients.index).where(patients["age_years"].notna().to_numpy()),
            "SEX": mapped(patients["sex"], SEXES, "patients.sex"),
            "ARMCD": arm_code,
            "ARM": arm,
            "ACTARMCD": arm_code,
            "ACTARM": arm,
        }
    )


def build_vs(frozen: FrozenRelease) -> pd.DataFrame:
    return _findings(frozen, "vital_signs", VITAL_SIGNS, "VS")


def build_lb(frozen: FrozenRelease) -> pd.DataFrame:
    return _findings(frozen, "laboratory", LABORATORY, "LB")


def build_ex(frozen: FrozenRelease) -> pd.DataFrame:
    drugs = frozen.frame("drug_administration")
    category = mapped(drugs["drug"], DRUGS, "drug_administration.drug")
    named = drugs["drug"].isin(DRUG_CLASSES).to_numpy() & drugs["drug_detail"].notna().to_numpy()
    return pd.DataFrame(
        {
            **_record(drugs, order=np.arange(len(drugs))),
            "EXTRT": category.where(~named, drugs["drug_detail"].str.upper().astype(object)),
            "EXCAT": category,
            "EXDOSE": drugs["dose"],
            "EXDOSU": mapped(drugs["dose_unit"], DOSE_UNITS, "drug_administration.dose_unit"),
            "EXDOSFRQ": mapped(drugs["frequency"], FREQUENCIES, "drug_administration.frequency"),
            "EXROUTE": mapped(drugs["route"], ROUTES, "drug_administration.route"),
            "EXSTDY": sdtm_day(drugs["study_day"]),
            "EXENDY": sdtm_day(drugs["stop_day"]),
        }
    )


def _disposition_columns(kinds: pd.Series, table: Mapping[str, Disposition | None], where: str) -> dict[str, pd.Series]:
    return {
        column: mapped(kinds, {k: (getattr(d, attribute) if d else None) for k, d in table.items()}, where)
        for column, attribute in (("DSTERM", "term"), ("DSDECOD", "decode"), ("DSCAT", "category"))
    }


def build_ds(frozen: FrozenRelease) -> pd.DataFrame:
    events = frozen.frame("disposition_events")
    columns = _disposition_columns(events["kind"], DISPOSITIONS, "disposition_events.kind")
    term = columns["DSTERM"].astype("string")
    cause = "DEATH DUE TO " + events["cause_of_death"].astype("string").str.upper()
    term = term.where(~(_is(events["kind"], "death") & cause.notna().to_numpy()), cause)
    alive = events["alive"].astype("boolean").map({True: ": ALIVE", False: ": DEAD"}, na_action="ignore")
    contact = _is(events["kind"], "vital_status_contact") & alive.notna().to_numpy()
    columns["DSTERM"] = term.where(~contact, term + alive.astype("string"))
    recorded = pd.DataFrame(
        {**_record(events, order=np.arange(len(events))), **columns, "DSSTDY": sdtm_day(events["study_day"])}
    )
    return _concat([recorded, _status_rows(frozen, recorded)])


def _status_rows(frozen: FrozenRelease, recorded: pd.DataFrame) -> pd.DataFrame:
    """The end of participation as the patients' follow-up status holds it, for those whose disposition events do
    not say it (no day: the status has none)."""
    patients = frozen.frame("patients")
    columns = _disposition_columns(patients["status"], STATUSES, "patients.status")
    ended = recorded.loc[recorded["DSCAT"].eq(DISPOSITION_EVENT), KEY]
    keep = columns["DSDECOD"].notna().to_numpy() & ~patients[KEY].isin(ended).to_numpy()
    no_day = pd.Series(pd.NA, index=patients.index, dtype="Int64")
    return pd.DataFrame({**_record(patients, study_day=None), **columns, "DSSTDY": no_day}).loc[keep]


def build_ae(frozen: FrozenRelease) -> pd.DataFrame:
    events = frozen.frame("adverse_events")
    category = mapped(events["kind"], AE_CATEGORIES, "adverse_events.kind")
    labels = _labels(frozen.columns("adverse_events").loc["kind", "value_labels"])
    term = mapped(events["kind"], labels, "adverse_events.kind").astype("string")
    organism = events["organism"].astype("string")
    term = term.where(organism.isna().to_numpy(), term + " (" + organism + ")")
    other = _is(events["kind"], "other") & events["description"].notna().to_numpy()
    return pd.DataFrame(
        {
            **_record(events, order=np.arange(len(events))),
            "AETERM": term.where(~other, events["description"].astype("string")),
            "AECAT": category,
            "AESER": mapped(events["serious"].astype("boolean"), YES_NO, "adverse_events.serious"),
            "AESTDY": sdtm_day(events["study_day"]),
        }
    )


def _scale_rows(frozen: FrozenRelease, frame: pd.DataFrame, scale: Scale, order: int) -> pd.DataFrame:
    """One scale's rows: the day's score with its label; a score the derivation could not give is NOT DONE with
    the derived table's note as the reason, where it has one."""
    labels = {
        int(code): text
        for code, text in _labels(frozen.columns("derived_days").loc[scale.column, "value_labels"]).items()
    }
    score = frame[scale.column].astype("Int64")
    done = score.notna().to_numpy()
    note = frame["status_note"].astype(object).where(~done)
    rows = pd.DataFrame(
        {
            **_record(frame, order),
            "RSTESTCD": _constant(scale.code, frame.index),
            "RSTEST": _constant(scale.name, frame.index),
            "RSCAT": _constant(scale.category, frame.index),
            "RSORRES": mapped(score, labels, f"derived_days.{scale.column}"),
            "RSSTRESC": score.astype("string"),
            "RSSTRESN": score,
            "RSSTAT": _constant(NOT_DONE, frame.index).where(~done),
            "RSREASND": note,
            "RSDY": sdtm_day(frame["study_day"]),
        }
    )
    return rows.loc[done | note.notna().to_numpy()]


def build_rs(frozen: FrozenRelease) -> pd.DataFrame:
    frame = frozen.frame("derived_days")
    return _concat([_scale_rows(frozen, frame, s, n) for n, s in enumerate(SCALES)])


class Domain(NamedTuple):
    name: str
    label: str
    dataset_class: str
    structure: str
    variables: tuple[Var, ...]
    build: Callable[[FrozenRelease], pd.DataFrame]


DOMAINS = (
    Domain("DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", DM_VARIABLES, build_dm),
    Domain(
        "VS",
        "Vital Signs",
        "FINDINGS",
        "One record per vital sign test per study day per subject",
        VS_VARIABLES,
        build_vs,
    ),
    Domain(
        "LB",
        "Laboratory Test Results",
        "FINDINGS",
        "One record per lab test per study day per subject",
        LB_VARIABLES,
        build_lb,
    ),
    Domain(
        "EX",
        "Exposure",
        "INTERVENTIONS",
        "One record per drug administration (start to stop day) per subject",
        EX_VARIABLES,
        build_ex,
    ),
    Domain("DS", "Disposition", "EVENTS", "One record per disposition event per subject", DS_VARIABLES, build_ds),
    Domain("AE", "Adverse Events", "EVENTS", "One record per adverse event per subject", AE_VARIABLES, build_ae),
    Domain(
        "RS",
        "Disease Response and Clin Classification",
        "FINDINGS",
        "One record per clinical classification per study day per subject",
        RS_VARIABLES,
        build_rs,
    ),
)

_DTYPES = {"text": "string", "integer": "Int64", "float": "Float64"}


def finish(frozen: FrozenRelease, domain: Domain, built: pd.DataFrame) -> pd.DataFrame:
    """A builder's rows as the domain: STUDYID, DOMAIN, USUBJID = STUDYID-participant, sorted by USUBJID then the
    study day and the order of the record, --SEQ 1..n within USUBJID, the domain's variables in their order and
    type (a variable the builder does not give is empty)."""
    study = frozen.release.study.code
    rows = built.assign(STUDYID=study, DOMAIN=domain.name, USUBJID=study + "-" + built[KEY].astype(str)).sort_values(
        ["USUBJID", "_day", "_order"], kind="mergesort", na_position="last"
    )
    names = [v.name for v in domain.variables]
    if f"{domain.name}SEQ" in names:
        rows[f"{domain.name}SEQ"] = rows.groupby("USUBJID", sort=False).cumcount() + 1
    out = pd.DataFrame(index=rows.index)
    for variable in domain.variables:
        column = rows[variable.name] if variable.name in rows else pd.Series(pd.NA, index=rows.index)
        if variable.kind == "text":
            column = column.astype(object).where(column.notna(), None)
        out[variable.name] = column.astype(_DTYPES[variable.kind])
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Checks before anything is written
# --------------------------------------------------------------------------------------------


def check_code_lists(domain: Domain, frame: pd.DataFrame, lists: Mapping[str, CodeList]) -> None:
    """Every coded value is in its variable's code list of define.xml."""
    for variable in domain.variables:
        code_list = lists.get(variable.code_list)
        if code_list is None or code_list.dictionary:
            continue
        values = frame[variable.name].dropna()
        unknown = sorted(set(values[~values.isin([t.value for t in code_list.terms])]))
        if unknown:
            raise ExportRefused(
                f"SDTM export refused: {domain.name}.{variable.name} values {unknown} are not in its code list "
                f"{code_list.oid}."
            )


def check_lengths(domain: Domain, frame: pd.DataFrame) -> None:
    """No text longer than a SAS transport v5 variable holds: cutting it would change the data."""
    for variable in domain.variables:
        if variable.kind != "text":
            continue
        size = frame[variable.name].str.encode("utf-8").str.len()
        too_long = size.gt(XPT_MAX_TEXT).fillna(False).to_numpy()
        if too_long.any():
            who = sorted(set(frame.loc[too_long, "USUBJID"]))
            raise ExportRefused(
                f"SDTM export refused: {domain.name}.{variable.name} of {who} is longer than the {XPT_MAX_TEXT} bytes "
                "of a SAS transport v5 variable. Shorten the text in the eCRF and lock a new release."
            )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def xpt_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """As SAS holds it: text (missing = empty) and doubles (missing = SAS missing)."""
    return pd.DataFrame(
        {
            name: column.astype(object).where(column.notna(), "").astype(str)
            if isinstance(column.dtype, pd.StringDtype)
            else column.astype("float64")
            for name, column in frame.items()
        }
    )


def xpt_bytes(frozen: FrozenRelease, domain: Domain, frame: pd.DataFrame) -> bytes:
    import pyreadstat

    labels = {v.name: v.label for v in domain.variables}
    content = _write_with(
        lambda path: pyreadstat.write_xport(
            xpt_frame(frame),
            path,
            file_label=domain.label,
            column_labels=labels,
            table_name=domain.name,
            file_format_version=5,
        )
    )
    return _fix_xpt(content, frozen.when)


def _significant_digits(text: pd.Series) -> int:
    """Most digits after the decimal point of numbers written by ``number_text``."""
    decimals = (text.str.len() - 1 - text.str.find(".")).where(text.str.contains(".", regex=False), 0)
    return int(decimals.max()) if len(decimals) else 0


def define_variable(variable: Var, column: pd.Series) -> define_xml.Variable:
    """A variable as define.xml describes it, its length from the data (at least 1)."""
    present = column.dropna()
    digits = None
    if variable.kind == "text":
        length = int(present.str.encode("utf-8").str.len().max()) if len(present) else 1
    else:
        text = number_text(present)
        length = int(text.str.replace(r"[-.]", "", regex=True).str.len().max()) if len(present) else 8
        digits = _significant_digits(text) if variable.kind == "float" else None
    return define_xml.Variable(
        name=variable.name,
        label=variable.label,
        data_type=variable.kind,
        length=max(length, 1),
        role=variable.role,
        origin=variable.origin,
        mandatory=variable.mandatory,
        significant_digits=digits,
        code_list=variable.code_list,
        method=variable.method,
        comment=variable.comment,
        key_sequence=variable.key,
        has_no_data=present.empty,
    )


def methods(frozen: FrozenRelease) -> dict[str, tuple[str, str]]:
    algorithm = frozen.release.manifest.get("algorithm_version", "")
    return {
        "MT.USUBJID": (
            "Unique subject identifier",
            "USUBJID = STUDYID, '-', participant_id (the release's pseudonym).",
        ),
        "MT.SEQ": (
            "Sequence number",
            "1, 2, ... within USUBJID, in the order of the study day, then of the test (as listed in the code list) "
            "or the record.",
        ),
        "MT.DY": (
            "Study day",
            "--DY = study_day + 1 for study_day >= 0, study_day for a negative study day (SDTM has no day 0). The "
            "release's study_day counts from enrolment (day 0), the reference start; its calendar date is not in "
            "the release.",
        ),
        "MT.STRES": (
            "Standard result",
            "The result as recorded: the release stores every value in its canonical unit, which is the standard "
            "unit (ng/mL written as the equal ug/L).",
        ),
        "MT.STAT": (
            "Not done",
            "NOT DONE where the eCRF holds a missing-data code (not done, unknown, not applicable) instead of the "
            "value, or the form was marked not done that day; --REASND gives the reason. A value simply missing has "
            "no record.",
        ),
        "MT.DTHFL": (
            "Death flag",
            "Y where the follow-up status at lock is died or a death disposition event is recorded; else empty.",
        ),
        "MT.ACTARM": ("Actual arm", "The planned arm: the eCRF does not record an actual arm of its own."),
        "MT.RS": (
            "Ordinal clinical status",
            "The score of the day's clinical state on the scale of RSCAT (RSSTRESN; RSORRES its label), from the "
            f"release's derived table (derivation algorithm version {algorithm}); where the score could not be "
            "derived, RSREASND gives the derived table's note.",
        ),
    }


COMMENTS = {
    "COM.DTC": (
        "Empty: the release is pseudonymised and holds no calendar dates. The study day is in --DY, --STDY and "
        "--ENDY (day 1 = enrolment, SDTM convention of no day 0)."
    ),
    "COM.LOINC": (
        "From the eCRF's form catalogue (ecrf/crfs.py); the D-dimer's code follows its basis: 48065-7 FEU, 48066-5 DDU."
    ),
    "COM.AEDECOD": "Empty: the eCRF does not code adverse events with MedDRA; AECAT holds the eCRF's category.",
}


def definition(
    frozen: FrozenRelease, frames: Mapping[str, pd.DataFrame], lists: Mapping[str, CodeList]
) -> define_xml.Definition:
    release, manifest = frozen.release, frozen.release.manifest
    datasets = tuple(
        define_xml.Dataset(
            name=domain.name,
            label=domain.label,
            dataset_class=domain.dataset_class,
            structure=domain.structure,
            href=f"{domain.name.lower()}.xpt",
            variables=tuple(define_variable(v, frames[domain.name][v.name]) for v in domain.variables),
            records=len(frames[domain.name]),
        )
        for domain in DOMAINS
    )
    return define_xml.Definition(
        file_oid=f"DEFINE.{release.study.code}.V{release.version}",
        study_oid=f"ST.{release.study.code}",
        study_name=release.study.code,
        study_description=str(manifest.get("study_title", release.study.code)),
        protocol=str(manifest.get("protocol", "")),
        version_name=f"Release v{release.version}",
        created=frozen.when.isoformat(),
        comment=(
            f"SDTM-shaped datasets of release v{release.version}, locked at {frozen.when.isoformat()}. "
            + " ".join(_DATES_AND_MISSING)
        ),
        ct_version=CT_VERSION,
        datasets=datasets,
        code_lists=tuple(lists.values()),
        methods=methods(frozen),
        comments=COMMENTS,
    )


def domain_frames(
    frozen: FrozenRelease, lists: Mapping[str, CodeList], progress: Callable[[int], None]
) -> dict[str, pd.DataFrame]:
    """Every domain, checked against its code lists and the XPT text width before anything is written."""
    frames = {}
    for number, domain in enumerate(DOMAINS, start=1):
        frame = finish(frozen, domain, domain.build(frozen))
        check_code_lists(domain, frame, lists)
        check_lengths(domain, frame)
        frames[domain.name] = frame
        progress(5 + 60 * number // len(DOMAINS))
    return frames


def export_files(frozen: FrozenRelease, progress: Callable[[int], None]) -> Iterator[tuple[str, bytes]]:
    """The files of the SDTM zip in their order: per domain its XPT and CSV, then define.xml and define.html."""
    lists = code_lists(frozen)
    frames = domain_frames(frozen, lists, progress)
    for number, domain in enumerate(DOMAINS, start=1):
        frame = frames[domain.name]
        name = f"{FOLDER}{domain.name.lower()}"
        yield f"{name}.xpt", xpt_bytes(frozen, domain, frame)
        yield f"{name}.csv", csv_bytes(pa.Table.from_pandas(frame, preserve_index=False))
        progress(65 + 25 * number // len(DOMAINS))
    described = definition(frozen, frames, lists)
    yield f"{FOLDER}define.xml", define_xml.define_xml(described)
    yield f"{FOLDER}define.html", define_xml.define_html(described)


_DATES_AND_MISSING = (
    "The release holds no calendar dates (pseudonymised; time is the study day, day 0 = enrolment): every --DTC "
    "variable, RFSTDTC included, is empty, and the study day is in --DY, --STDY and --ENDY with the SDTM convention "
    "of no day 0: --DY = study day + 1 for study day 0 and after (enrolment is day 1), the study day itself before.",
    "A missing value is empty (an empty CSV cell, a SAS missing value), never 0. A value the eCRF records as not "
    "done, unknown or not applicable, or a form marked not done that day, is a record with --STAT = NOT DONE and "
    "the reason in --REASND; a value simply missing has no record in VS, LB and RS.",
)


def readme_notes(frozen: FrozenRelease) -> list[str]:
    domains = ", ".join(f"{d.name} ({d.label})" for d in DOMAINS)
    return [
        f"SDTM-shaped datasets after SDTMIG 3.3 in `sdtm/`: {domains}; each as SAS transport version 5 "
        "(`<domain>.xpt`) and CSV (`<domain>.csv`) with the same records. `sdtm/define.xml` (Define-XML 2.1) and "
        "`sdtm/define.html` describe every dataset and variable, the code lists, the derivations and the comments.",
        *_DATES_AND_MISSING,
        f"Terms are CDISC SDTM Controlled Terminology {CT_VERSION} where one fits (their NCI codes are in "
        "define.xml); sponsor-defined otherwise (RS categories and tests, the DS terms of hospital discharge, ICU "
        "admission, start of invasive ventilation and vital-status contact as OTHER EVENT). LOINC codes come from "
        "the eCRF's form catalogue (D-dimer: 48065-7 FEU, 48066-5 DDU). Values are in the release's canonical "
        "units (ng/mL written as the equal CDISC unit ug/L).",
        "DS holds the disposition events of the eCRF and, for participants whose events do not say how their "
        "participation ended, their follow-up status at the lock (no study day). RS holds the daily ordinal "
        "clinical status of the derived table on each scale (RSCAT), the score in RSSTRESN and its label in "
        "RSORRES.",
        "Shaped, not submission-ready: not checked with a conformance validator; not collected and so not "
        "included: COUNTRY, race and ethnicity, MedDRA coding of adverse events (AEDECOD empty), the dose form; "
        "respiratory support is in the derived status (RS) but has no domain of its own. Free text is UTF-8.",
    ]
