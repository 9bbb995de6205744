"""The demo cohort of `make demo`: the Milan study with 52 patients and days 0-21 of data each (issue 7).

Two halves. :func:`plan_cohort` is pure (no database): from a seed it plans every candidate, screening, baseline,
patient-day, drug course, disposition and adverse event. :func:`load_cohort` writes the plan through the real
services - screening, enrolment (whose day-0 records come from the screening), the daily forms with the clinical
definitions §2.1
checks, the event forms - audited with the reason "demo data". Same seed, same cohort.

The clinical courses carry the published day-21 facts of the Milan paper (clinical definitions §4), the same ones as
tests/analysis/test_milan_reference.py, including its death days (standard 1, 3, 4, 8, 11, 18, 19; high-dose 3,
8, 13), so that survival 90% vs 56% and the log-rank p of 0.009 come out of the patient-level data:

- high-dose anakinra (29): discharged 13 (days 8-20, 3 not back to normal activities), still in hospital on day
  21 on room air 3, on low-flow oxygen 3, on CPAP with P/F > 200 2, intubated 5 (days 2, 3, 5, 6, 9), died 3;
- standard treatment (16): discharged 7, low-flow oxygen 1, intubated 1 (day 4), died 7 (two after intubation);
- low-dose anakinra (7; the paper gives no day-21 table for it): discharged 3, room air 1, intubated 1, died 2.

Around those facts the numbers are realistic and seeded: PaO2 and FiO2 on CPAP with the SpO2 of the oxygen
dissociation curve, CRP falling faster on high-dose anakinra, fever settling, the arms' regimens (high-dose
anakinra stopped at sustained clinical benefit and tapered to 100 mg SC for 3 days, clinical definitions §1.1), a
day-21 phone
call for everyone discharged, a few adverse events (bacteraemia with its antibiotic, liver enzymes > 3 x ULN with
the laboratory values to match), and a screening log with ineligible candidates failing various criteria.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from cohorts import services as cohort_services
from cohorts.models import Arm, Patient, PatientStatus, Screening, Site, Study
from ecrf import services
from ecrf.models import LabResult
from ecrf.services import RecordInput

SEED = 20200317
REASON = "demo data"
HORIZON = 21
FIRST_SCREENING_DAY = datetime.date(2020, 3, 9)
ENROLMENT_WEEKS = 4
PEEP_CPAP = Decimal("10.0")  # the protocol's CPAP (clinical definitions §1.1)
ARM_ORDER = ("standard", "low_dose", "high_dose")

# --------------------------------------------------------------------------------------------------------
# Clinical courses
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Course:
    """How a patient's 21 days go.

    kind: "discharged" (on ``day``), "in_hospital" (on ``final`` support on day 21: room_air, low_flow or cpap),
    "intubated" (on ``day``, alive on day 21) or "died" (on ``day``, after intubation on ``intubated_on``).
    """

    kind: str
    day: int | None = None
    final: str = ""
    normal: bool = True
    intubated_on: int | None = None


def _discharges(days, n_impaired: int) -> list[Course]:
    days = list(days)
    normal = [True] * (len(days) - n_impaired) + [False] * n_impaired
    return [Course("discharged", day, normal=flag) for day, flag in zip(days, normal, strict=True)]


COURSES: Mapping[str, tuple[Course, ...]] = {
    "high_dose": (
        *_discharges(range(8, 21), n_impaired=3),
        *(Course("in_hospital", final=state) for state in ["room_air"] * 3 + ["low_flow"] * 3 + ["cpap"] * 2),
        *(Course("intubated", day) for day in (2, 3, 5, 6, 9)),
        Course("died", 3),
        Course("died", 8),
        Course("died", 13, intubated_on=10),
    ),
    "standard": (
        *_discharges((10, 12, 13, 14, 15, 17, 19), n_impaired=2),
        Course("in_hospital", final="low_flow"),
        Course("intubated", 4),
        *(
            Course("died", day, intubated_on=intubated)
            for day, intubated in zip((1, 3, 4, 8, 11, 18, 19), (None, None, None, None, 6, 12, None), strict=True)
        ),
    ),
    "low_dose": (
        *_discharges((11, 14, 16), n_impaired=1),
        Course("in_hospital", final="room_air"),
        Course("intubated", 5),
        Course("died", 6),
        Course("died", 15, intubated_on=9),
    ),
}

# Adverse events: (arm, index of the patient within the arm's courses, study day, kind, organism).
ADVERSE_EVENTS = (
    ("high_dose", 21, 8, "bacteraemia", "Staphylococcus epidermidis"),  # intubated on day 2
    ("high_dose", 23, 10, "bacteraemia", "Enterococcus faecalis"),  # intubated on day 5
    ("high_dose", 16, 6, "bacteraemia", "Escherichia coli"),  # in hospital, low-flow on day 21
    ("high_dose", 28, 11, "bacteraemia", "Klebsiella pneumoniae"),  # died on day 13
    ("high_dose", 1, 5, "liver_enzymes_gt_3uln", ""),
    ("high_dose", 4, 5, "liver_enzymes_gt_3uln", ""),
    ("standard", 8, 9, "bacteraemia", "Pseudomonas aeruginosa"),  # intubated on day 4
    ("standard", 14, 14, "bacteraemia", "Staphylococcus aureus"),  # died on day 18
    ("standard", 7, 7, "liver_enzymes_gt_3uln", ""),
    ("low_dose", 1, 4, "liver_enzymes_gt_3uln", ""),
)
ANTIBIOTICS = {
    "Staphylococcus epidermidis": ("vancomycin", 1000, "bid"),
    "Staphylococcus aureus": ("cefazolin", 2000, "q8h"),
    "Enterococcus faecalis": ("ampicillin", 2000, "q6h"),
    "Escherichia coli": ("ceftriaxone", 2000, "q24h"),
    "Klebsiella pneumoniae": ("meropenem", 1000, "q8h"),
    "Pseudomonas aeruginosa": ("piperacillin-tazobactam", 4500, "q8h"),
}
CAUSES_OF_DEATH = ("ARDS, refractory hypoxaemia", "multi-organ failure", "septic shock", "cardiac arrest")

# Baseline characteristics per arm, after the Milan paper's table 1 (mostly men; standard arm older).
BASELINE = {
    "high_dose": {"age": (62, 9), "male": 0.9},
    "low_dose": {"age": (64, 10), "male": 0.85},
    "standard": {"age": (70, 8), "male": 0.88},
}
COMORBIDITY_RATES = {
    "smoking": 0.1,
    "hypertension": 0.5,
    "coronary_artery_disease": 0.12,
    "diabetes": 0.18,
    "copd": 0.05,
    "chronic_kidney_disease": 0.06,
}
# CRP decay per day on recovery (clinical definitions §4: falling faster on high-dose anakinra).
CRP_DECAY = {"high_dose": 0.33, "low_dose": 0.2, "standard": 0.1}

# Candidates who are not eligible, each failing something else (clinical definitions §1.3 screening log). Values
# override an
# eligible candidate's; "rescreen" is re-screened the next day and then eligible.
INELIGIBLE = (
    {"pao2_mmhg": 96.0, "fio2": 0.4, "rescreen": True},  # P/F 240
    {"crp_mg_l": 62.0, "ferritin_ng_ml": 540.0},  # no hyperinflammation
    {"in_icu_on_mechanical_ventilation": True},
    {"bacterial_infection": True},
    {"anti_inflammatory_or_glucocorticoids": True},
    {"enrolled_in_other_trial": True},
    {"written_consent": False},
    {"peep_cmh2o": 4.0},
    {"left_atrial_hypertension_excluded": False},
    {"age_years": 17},
    {"covid_rt_pcr_confirmed": False},
    {"on_niv_outside_icu": False},
    {"pao2_mmhg": 104.0, "fio2": 0.4, "crp_mg_l": 71.0, "ferritin_ng_ml": 610.0},  # two criteria
    {"bilateral_infiltrates": None, "screen_failure": True},  # chest imaging not done: missing data
)

# --------------------------------------------------------------------------------------------------------
# The plan (pure)
# --------------------------------------------------------------------------------------------------------


@dataclass
class DayPlan:
    study_day: int
    vitals: dict[str, Any] = field(default_factory=dict)
    support: dict[str, Any] = field(default_factory=dict)
    labs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PatientPlan:
    arm: str
    course: Course
    site: str
    enrolment_date: datetime.date
    sex: str
    weight_kg: Decimal
    comorbidities: dict[str, bool]
    screening: dict[str, Any]  # canonical values of the eligibility rule set
    entered_units: dict[str, str]
    days: list[DayPlan] = field(default_factory=list)
    drugs: list[tuple[dict[str, Any], frozenset[str]]] = field(default_factory=list)
    dispositions: list[dict[str, Any]] = field(default_factory=list)
    adverse_events: list[dict[str, Any]] = field(default_factory=list)
    rescreen_of: int | None = None  # index in CohortPlan.ineligible

    @property
    def status(self) -> str:
        return PatientStatus.DIED if self.course.kind == "died" else PatientStatus.COMPLETED


@dataclass
class Candidate:
    """An ineligible screening of the log."""

    site: str
    assessed_on: datetime.date
    values: dict[str, Any]
    screen_failure: bool
    rescreen: bool


@dataclass
class CohortPlan:
    patients: list[PatientPlan]
    ineligible: list[Candidate]


def _dec(value: float, places: int) -> Decimal:
    return Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def spo2_of(pao2_mmhg: float) -> float:
    """SpO2 (%) at a PaO2 (mmHg): the Severinghaus oxygen dissociation curve (J Appl Physiol 1979)."""
    return 100.0 / (1.0 + 23400.0 / (pao2_mmhg**3 + 150.0 * pao2_mmhg))


def _phases(course: Course) -> dict[int, str]:
    """The support of each hospital day (cpap, low_flow, room_air, imv); days without forms are absent."""
    days: dict[int, str] = {}
    if course.kind == "discharged":
        end = course.day
        days.update(dict.fromkeys(range(end - 3), "cpap"))
        days.update(dict.fromkeys(range(end - 3, end), "low_flow"))
        days[end] = "room_air"  # weaned on the morning of the discharge; no forms are due after it
    elif course.kind == "in_hospital":
        switch = {"room_air": (7, 13), "low_flow": (10, HORIZON + 1), "cpap": (HORIZON + 1, HORIZON + 1)}
        low_from, air_from = switch[course.final]
        for day in range(HORIZON + 1):
            days[day] = "cpap" if day < low_from else "low_flow" if day < air_from else "room_air"
    elif course.kind == "intubated":
        for day in range(HORIZON + 1):
            days[day] = "cpap" if day < course.day else "imv"
    else:  # died: nothing recorded on the day of death but the death itself
        intubated = course.intubated_on if course.intubated_on is not None else course.day
        for day in range(course.day):
            days[day] = "cpap" if day < intubated else "imv"
    return days


def _pf_targets(course: Course, phases: dict[int, str], pf0: float, rng: random.Random) -> dict[int, float]:
    """The true PaO2:FiO2 of each hospital day, from day 0's (screening) value."""
    cpap_days = [day for day, phase in phases.items() if phase == "cpap"]
    last_cpap = max(cpap_days)
    worsening = course.kind in ("intubated", "died")
    if course.kind == "in_hospital" and course.final == "cpap":
        cpap_end = 255.0  # still on CPAP on day 21, but with P/F > 200 (both Milan patients)
    else:
        cpap_end = rng.uniform(78, 95) if worsening else rng.uniform(212, 232)
    targets = {}
    for day, phase in phases.items():
        if phase == "cpap":
            reach = 15 if course.final == "cpap" else max(last_cpap, 1)
            fraction = min(day / reach, 1.0)
            targets[day] = pf0 + (cpap_end - pf0) * fraction
        elif phase == "imv":
            dying = course.kind == "died"
            targets[day] = rng.uniform(62, 88) if dying else rng.uniform(120, 185)
        elif phase == "low_flow":
            targets[day] = rng.uniform(250, 300)
        else:
            targets[day] = rng.uniform(330, 420)
    return targets


def _support_values(phase: str, pf: float, day: int, last_cpap: int, rng: random.Random) -> tuple[dict, float]:
    """The respiratory support form of a day and the FiO2 the patient breathes."""
    if phase == "cpap":
        fio2 = _dec(0.6 - 0.25 * min(day / max(last_cpap, 1), 1.0) if pf > 120 else 0.7, 2)
        hours = _dec(rng.choice([20, 22, 24]), 1)
        values = {"support": "cpap", "fio2": fio2, "peep_cmh2o": PEEP_CPAP, "niv_hours": hours}
        return values, float(fio2)
    if phase == "imv":
        fio2 = _dec(0.9 if pf < 90 else rng.choice([0.5, 0.55, 0.6, 0.65]), 2)
        values = {
            "support": "imv",
            "fio2": fio2,
            "peep_cmh2o": _dec(rng.choice([12, 13, 14]), 1),
            "prone": pf < 150 and day % 2 == 0,
            "vasopressors": pf < 90,
        }
        return values, float(fio2)
    if phase == "low_flow":
        flow = rng.choice([2, 3, 4])
        return {
            "support": "nasal_cannula",
            "flow_l_min": _dec(flow, 1),
        }, 0.20 + 0.04 * flow  # clinical definitions §3.2 estimate
    return {"support": "room_air"}, 0.21


def _crp_curve(arm: str, course: Course, crp0: float, rng: random.Random) -> dict[int, float]:
    recovering = course.kind in ("discharged", "in_hospital")
    curve = {}
    for day in range(HORIZON + 1):
        if recovering:
            value = crp0 * math.exp(-CRP_DECAY[arm] * day) + rng.uniform(2, 8)
        elif course.kind == "intubated":
            peak = course.day
            value = crp0 * (1 + 0.08 * min(day, peak)) * math.exp(-0.12 * max(day - peak, 0))
        else:
            value = crp0 * (1 + 0.06 * day)
        curve[day] = min(value * rng.uniform(0.92, 1.08), 460.0)
    curve[0] = crp0
    return curve


def _vitals(phase: str, day: int, fever_days: int, spo2: int, rng: random.Random) -> dict[str, Any]:
    febrile = day < fever_days
    temperature = rng.uniform(37.9, 38.9) if febrile else rng.uniform(36.3, 37.4)
    heart_rate = rng.randint(92, 112) if febrile or phase == "imv" else rng.randint(68, 92)
    respiratory = {"cpap": (24, 32), "imv": (18, 24), "low_flow": (18, 23), "room_air": (14, 19)}[phase]
    systolic = rng.randint(98, 118) if phase == "imv" else rng.randint(112, 142)
    return {
        "temperature_c": _dec(temperature, 1),
        "heart_rate_bpm": heart_rate,
        "respiratory_rate_bpm": rng.randint(*respiratory),
        "systolic_mmhg": systolic,
        "diastolic_mmhg": systolic - rng.randint(38, 55),
        "spo2_pct": spo2,
    }


def plan_patient(arm: str, course: Course, index: int, seed: int = SEED) -> PatientPlan:
    """One patient of an arm on a course, all 21 days; ``index`` (within the arm) picks the adverse events of
    ADVERSE_EVENTS and, with the seed, the random numbers."""
    rng = random.Random(f"{seed}-{arm}-{index}")
    base = BASELINE[arm]
    age = int(min(max(rng.gauss(*base["age"]), 38), 88))
    sex = "M" if rng.random() < base["male"] else "F"
    weight = rng.uniform(70, 98) if sex == "M" else rng.uniform(55, 80)
    comorbidities = {name: rng.random() < rate for name, rate in COMORBIDITY_RATES.items()}
    comorbidities["hypertension"] = comorbidities["hypertension"] or age > 72

    phases = _phases(course)
    worsening = course.kind in ("intubated", "died")
    pf0 = rng.uniform(85, 125) if worsening else rng.uniform(115, 185)
    fio2_0 = rng.choice([0.5, 0.6, 0.7]) if pf0 > 110 else 0.8
    pao2_0 = _dec(pf0 * fio2_0, 1)
    pf0 = float(pao2_0) / fio2_0
    crp0 = rng.uniform(105, 290)
    ferritin0 = rng.uniform(900, 3400)
    typed_crp_mg_dl = rng.random() < 0.25  # a quarter of the laboratories report CRP in mg/dL
    screening = {
        "age_years": age,
        "covid_rt_pcr_confirmed": True,
        "bilateral_infiltrates": True,
        "pao2_mmhg": float(pao2_0),
        "fio2": fio2_0,
        "peep_cmh2o": float(PEEP_CPAP),
        "left_atrial_hypertension_excluded": True,
        "crp_mg_l": float(_dec(crp0, 0 if typed_crp_mg_dl else 1)),
        "ferritin_ng_ml": float(_dec(ferritin0, 0)),
        "on_niv_outside_icu": True,
        "written_consent": True,
        "in_icu_on_mechanical_ventilation": False,
        "bacterial_infection": False,
        "anti_inflammatory_or_glucocorticoids": False,
        "enrolled_in_other_trial": False,
    }
    plan = PatientPlan(
        arm=arm,
        course=course,
        site="",
        enrolment_date=FIRST_SCREENING_DAY,
        sex=sex,
        weight_kg=_dec(weight, 1),
        comorbidities=comorbidities,
        screening=screening,
        entered_units={"crp_mg_l": "mg/dL"} if typed_crp_mg_dl else {},
    )

    adverse = [(day, kind, organism) for a, i, day, kind, organism in ADVERSE_EVENTS if a == arm and i == index]
    liver_days = {day for day, kind, _ in adverse if kind == "liver_enzymes_gt_3uln"}
    bacteraemia_days = {day for day, kind, _ in adverse if kind == "bacteraemia"}
    pf = _pf_targets(course, phases, pf0, rng)
    crp = _crp_curve(arm, course, float(screening["crp_mg_l"]), rng)
    for day in bacteraemia_days:
        for later in range(day, min(day + 4, HORIZON + 1)):
            crp[later] = min(crp[later] + 90 - 20 * (later - day), 470.0)
    fever_days = {"high_dose": 3, "low_dose": 5, "standard": 7}[arm] + (HORIZON if worsening else 0)
    last_cpap = max(day for day, phase in phases.items() if phase == "cpap")
    # High-dose anakinra stops at sustained clinical benefit: the ward measures CRP and a blood gas on those days,
    # so the derived signal (clinical definitions §3.3) shows it too.
    benefit = _benefit_day(course, crp, pf) if arm == "high_dose" else None
    benefit_days = {benefit - 1, benefit} if benefit is not None else set()

    for day, phase in sorted(phases.items()):
        support, fio2 = _support_values(phase, pf[day], day, last_cpap, rng)
        pao2 = pf[day] * fio2 * rng.uniform(0.97, 1.03)
        if day == 0:
            pao2, fio2 = float(pao2_0), fio2_0
            support = {}  # day 0's CPAP comes from the screening (ecrf/enrolment.py)
        spo2 = round(spo2_of(pao2) + rng.choice([-1, 0, 0, 1]))
        day_plan = DayPlan(day, vitals=_vitals(phase, day, fever_days, min(max(spo2, 80), 99), rng), support=support)
        labs: dict[str, Any] = {}
        # CRP every day; a blood gas on CPAP and in the ICU, and on the days that decide sustained benefit.
        if day > 0 and (phase in ("cpap", "imv") or day in benefit_days):
            labs["pao2_mmhg"] = _dec(pao2, 1)
            labs["abg_fio2"] = _dec(fio2, 2) if phase in ("cpap", "imv") else None  # on low flow: estimated
        if day > 0:
            labs["crp_mg_l"] = _dec(crp[day], 1)
        if day in (0, 3, 7, 10, 14, 21):
            labs["ferritin_ng_ml"] = _dec(float(screening["ferritin_ng_ml"]) * math.exp(-0.04 * day), 1)
            labs["ldh_u_l"] = _dec(rng.uniform(380, 620) * (1.2 if worsening else math.exp(-0.03 * day)), 0)
            lymphocytes = rng.uniform(0.5, 0.9) if worsening else rng.uniform(0.6, 1.0) + 0.04 * day
            labs["lymphocytes_10e9_l"] = _dec(lymphocytes, 2)
        if day in (0, 3, 7, 14, 21) or day in liver_days:
            elevated = day in liver_days
            labs["ast_u_l"] = _dec(rng.uniform(125, 160) if elevated else rng.uniform(22, 58), 0)
            labs["alt_u_l"] = _dec(rng.uniform(135, 190) if elevated else rng.uniform(18, 62), 0)
            labs["ast_uln_u_l"] = labs["alt_uln_u_l"] = None  # filled with the site's ULN when written
        if day in (0, 7, 14):
            labs["ddimer_ng_ml"] = _dec(rng.uniform(700, 2600) * (1.6 if worsening else 1.0), 0)
            labs["ddimer_basis"] = "FEU"
        if day == 0 or day in bacteraemia_days:
            labs["procalcitonin_ng_ml"] = _dec(rng.uniform(1.8, 6.5) if day else rng.uniform(0.05, 0.3), 2)
        day_plan.labs = labs
        plan.days.append(day_plan)

    _plan_events(plan, rng, crp, pf, adverse)
    return plan


def _last_treated_day(course: Course) -> int:
    """The last day drugs are given in hospital: the day before discharge or death, else day 21."""
    return course.day - 1 if course.kind in ("discharged", "died") else HORIZON


def _drug(day: int, stop: int, drug: str, dose, unit: str, route: str, frequency: str, detail: str = "") -> dict:
    return {
        "study_day": day,
        "drug": drug,
        "drug_detail": detail,
        "dose": _dec(dose, 2),
        "dose_unit": unit,
        "route": route,
        "frequency": frequency,
        "stop_day": max(stop, day),
    }


def _benefit_day(course: Course, crp: Mapping[int, float], pf: Mapping[int, float]) -> int | None:
    """The first day of sustained clinical benefit (clinical definitions §1.1): CRP down >= 75% from day 0 and P/F >
    200 on that
    day and the day before (with a margin, so that the derived P/F agrees)."""
    return next(
        (
            day
            for day in range(1, _last_treated_day(course) + 1)
            if crp[day] <= 0.25 * crp[0] and pf.get(day, 0) > 210 and pf.get(day - 1, 0) > 210
        ),
        None,
    )


def _plan_events(plan: PatientPlan, rng, crp, pf, adverse) -> None:
    course, arm = plan.course, plan.arm
    last = _last_treated_day(course)
    # Standard treatment, on top of which the anakinra arms are given (clinical definitions §1.1).
    plan.drugs.append((_drug(0, min(9, last), "hydroxychloroquine", 200, "mg", "oral", "bid"), frozenset()))
    plan.drugs.append((_drug(0, min(13, last), "lopinavir_ritonavir", 400, "mg", "oral", "bid"), frozenset()))
    stops = [last]
    if course.kind == "intubated":
        stops.append(course.day)
    if course.intubated_on is not None:
        stops.append(course.intubated_on)
    stops += [
        day for day, _, _ in adverse
    ]  # bacteraemia or liver enzymes > 3 x ULN stop anakinra (clinical definitions §1.1)
    if arm == "high_dose":
        # Until sustained clinical benefit: CRP down >= 75% and P/F > 200 for 2 consecutive days; then 100 mg SC
        # twice daily for 3 days (clinical definitions §1.1).
        benefit = _benefit_day(course, crp, pf)
        stop = min([*stops, *([benefit] if benefit is not None else [])])
        plan.drugs.append((_drug(0, stop, "anakinra", 5, "mg/kg", "iv", "bid"), frozenset()))
        if benefit is not None and stop == benefit and stop < last:
            taper = _drug(stop + 1, min(stop + 3, last), "anakinra", 100, "mg", "sc", "bid")
            plan.drugs.append((taper, frozenset({"dose.regimen", "route.regimen"})))
    elif arm == "low_dose":
        plan.drugs.append((_drug(0, min([13, *stops]), "anakinra", 100, "mg", "sc", "bid"), frozenset()))
    for day, kind, organism in adverse:
        if kind == "bacteraemia":
            name, dose, frequency = ANTIBIOTICS[organism]
            stop = min(day + 10, last)
            plan.drugs.append((_drug(day, stop, "antibiotic", dose, "mg", "iv", frequency, name), frozenset()))
            plan.adverse_events.append(
                {"study_day": day, "kind": kind, "organism": organism, "description": "", "serious": True}
            )
        else:
            plan.adverse_events.append(
                {
                    "study_day": day,
                    "kind": kind,
                    "organism": "",
                    "description": "ALT and AST above 3 x the upper limit of normal; anakinra stopped",
                    "serious": False,
                }
            )
    if course.kind == "discharged":
        plan.dispositions += [
            {"study_day": course.day, "kind": "discharged", "normal_activities": course.normal},
            {"study_day": HORIZON, "kind": "vital_status_contact", "alive": True, "normal_activities": course.normal},
        ]
    intubated = course.day if course.kind == "intubated" else course.intubated_on
    if intubated is not None:
        plan.dispositions += [
            {"study_day": intubated, "kind": "icu_admission"},
            {"study_day": intubated, "kind": "imv_started"},
        ]
    if course.kind == "died":
        plan.dispositions.append(
            {"study_day": course.day, "kind": "death", "cause_of_death": rng.choice(CAUSES_OF_DEATH)}
        )


def plan_cohort(seed: int = SEED) -> CohortPlan:
    """Every patient and ineligible candidate of the demo, in screening order (deterministic for a seed)."""
    patients = [plan_patient(arm, course, index) for arm in ARM_ORDER for index, course in enumerate(COURSES[arm])]
    order = random.Random(seed)
    order.shuffle(patients)
    n = len(patients)
    for position, plan in enumerate(patients):
        plan.enrolment_date = FIRST_SCREENING_DAY + datetime.timedelta(days=position * 7 * ENROLMENT_WEEKS // n)
        plan.site = "BG" if position % 3 == 2 else "MI"
    ineligible = []
    for position, overrides in enumerate(INELIGIBLE):
        host = patients[(position * 11 + 5) % n]
        values = {**host.screening, **{k: v for k, v in overrides.items() if k not in ("rescreen", "screen_failure")}}
        values = {k: v for k, v in values.items() if v is not None}
        candidate = Candidate(
            site="BG" if position % 3 == 1 else "MI",
            assessed_on=FIRST_SCREENING_DAY + datetime.timedelta(days=position * 2),
            values=values,
            screen_failure=bool(overrides.get("screen_failure")),
            rescreen=bool(overrides.get("rescreen")),
        )
        ineligible.append(candidate)
        if candidate.rescreen:  # re-screened the next day on better settings: eligible, enrolled as `host`
            host.rescreen_of = position
            host.site = candidate.site
            host.enrolment_date = candidate.assessed_on + datetime.timedelta(days=1)
    return CohortPlan(patients=patients, ineligible=ineligible)


# --------------------------------------------------------------------------------------------------------
# Writing the plan through the services
# --------------------------------------------------------------------------------------------------------


@dataclass
class LoadSummary:
    loaded: bool
    patients: dict[str, int] = field(default_factory=dict)
    screenings: int = 0
    records: int = 0


def at(day: datetime.date, hour: int, minute: int = 0) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour, minute)))


def _with_site_uln(labs: Mapping[str, Any], site: Site) -> dict[str, Any]:
    values = dict(labs)
    if "ast_uln_u_l" in values:
        values["ast_uln_u_l"], values["alt_uln_u_l"] = site.ast_uln_u_l, site.alt_uln_u_l
    return values


def write_patient(plan: PatientPlan, patient: Patient, site: Site, nurse) -> int:
    """The daily forms, drugs and events of one enrolled patient; returns the number of records written."""
    written = 0
    day0_labs = LabResult.objects.get(patient=patient, study_day=0)
    for day in plan.days:
        entries = {}
        if day.vitals:
            entries["vital_signs"] = RecordInput(day.vitals)
        if day.support:
            entries["respiratory_support"] = RecordInput(day.support)
        if day.labs:
            labs = _with_site_uln(day.labs, site)
            if day.study_day == 0:  # completes the day-0 record made from the screening
                entries["laboratory"] = RecordInput(labs, expected_version=day0_labs.version)
            else:
                entries["laboratory"] = RecordInput(labs)
        services.patient_day_save(
            patient=patient, study_day=day.study_day, entries=entries, user=nurse, reason=REASON, entry_reason=REASON
        )
        written += len(entries)
    for values, confirmed in plan.drugs:
        services.event_save(
            form="drug_administration",
            patient=patient,
            entry=RecordInput(values, frozenset(confirmed)),
            user=nurse,
            reason=REASON,
        )
    for values in plan.adverse_events:
        services.event_save(
            form="adverse_events", patient=patient, entry=RecordInput(values), user=nurse, reason=REASON
        )
    for values in plan.dispositions:  # last: a death refuses data recorded after it
        services.event_save(
            form="disposition_events", patient=patient, entry=RecordInput(values), user=nurse, reason=REASON
        )
    return written + len(plan.drugs) + len(plan.adverse_events) + len(plan.dispositions)


def screen_and_enrol(
    plan: PatientPlan,
    *,
    study: Study,
    site: Site,
    arm: Arm,
    assessed_at: datetime.datetime,
    investigator,
    rescreen_of: Screening | None = None,
) -> Patient:
    """The planned patient's eligible screening and enrolment by the site's investigator; the screening's values
    become the day-0 records (ecrf/enrolment.py)."""
    screening = cohort_services.screening_create(
        study=study,
        site=site,
        assessed_at=assessed_at,
        values=plan.screening,
        entered_units=plan.entered_units,
        user=investigator,
        rescreen_of=rescreen_of,
    )
    return cohort_services.patient_enrol(
        screening=screening,
        arm=arm,
        enrolment_date=plan.enrolment_date,
        sex=plan.sex,
        age_years=None,  # from the screening
        weight_kg=plan.weight_kg,
        comorbidities=plan.comorbidities,
        user=investigator,
    )


@transaction.atomic
def load_cohort(study: Study, *, investigators: Mapping[str, Any], nurses: Mapping[str, Any]) -> LoadSummary:
    """Screen, enrol and document the planned cohort at the study's sites (MI, BG); nothing if it has patients.

    ``investigators`` and ``nurses`` map a site code to the user who screens and enrols there / enters the data.
    """
    if Patient.objects.filter(study=study).exists():
        return LoadSummary(loaded=False)
    plan = plan_cohort()
    arms = {arm.code: arm for arm in Arm.objects.filter(study=study)}
    sites = {site.code: site for site in Site.objects.filter(studies=study)}
    summary = LoadSummary(loaded=True, patients=dict.fromkeys(ARM_ORDER, 0))
    # Screenings in the order they happened, so the screening numbers follow the dates.
    agenda: list[tuple[datetime.datetime, str, Any]] = [
        (at(c.assessed_on, 11, 15), "candidate", c) for c in plan.ineligible
    ] + [(at(p.enrolment_date, 9, 30), "patient", p) for p in plan.patients]
    screened = {}
    for when, what, item in sorted(agenda, key=lambda entry: (entry[0], entry[1])):
        site = sites[item.site]
        if what == "candidate":
            screened[id(item)] = cohort_services.screening_create(
                study=study,
                site=site,
                assessed_at=when,
                values=item.values,
                entered_units={},
                user=investigators[item.site],
                as_screen_failure=item.screen_failure,
            )
            summary.screenings += 1
            continue
        rescreen_of = None
        if item.rescreen_of is not None:
            rescreen_of = screened[id(plan.ineligible[item.rescreen_of])]
        patient = screen_and_enrol(
            item,
            study=study,
            site=site,
            arm=arms[item.arm],
            assessed_at=when,
            investigator=investigators[item.site],
            rescreen_of=rescreen_of,
        )
        summary.screenings += 1
        summary.patients[item.arm] += 1
        summary.records += write_patient(item, patient, site, nurses[item.site])
        cohort_services.patient_update(
            patient=patient,
            changes={"status": item.status},
            expected_version=patient.version,
            user=investigators[item.site],
            reason=REASON,
        )
    return summary
