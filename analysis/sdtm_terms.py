"""The SDTM vocabulary of the SDTM export (analysis/sdtm.py): the CDISC Controlled Terminology the eCRF's codes map
to (sexes, routes, frequencies, drugs, dispositions, adverse-event categories), the tests of VS and LB with their
units and LOINC codes (from the form catalogue), the scales of RS, the code lists of define.xml, the arm codes and
the variables of each domain. Declarations; the builders are in analysis/sdtm.py."""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

import pandas as pd

from analysis.define_xml import CodeList, Term
from analysis.exports import ExportRefused
from analysis.frozen import FrozenRelease

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
    "icu_discharge": Disposition("DISCHARGED FROM ICU", "ICU DISCHARGE", OTHER_EVENT),
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

#: The findings domains: prefix -> (the release table of the form they come from, its tests).
FINDINGS = {"VS": ("vital_signs", VITAL_SIGNS), "LB": ("laboratory", LABORATORY)}

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


def arm_codes(arms: pd.DataFrame) -> dict[str, str]:
    """The study's arm codes as ARMCD (upper case, at most 20 characters)."""
    codes = {str(code): str(code).upper() for code in arms["arm"]}
    long = sorted(code for code in codes.values() if len(code) > 20)
    if long:
        raise ExportRefused(f"SDTM export refused: arms.arm {long} longer than the 20 characters of ARMCD.")
    return codes
