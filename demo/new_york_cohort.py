"""The New York demo study of `make demo` (issue 17): the case series of Navarro-Millan et al., "Use of anakinra to
prevent mechanical ventilation in severe COVID-19", Arthritis Rheumatol 2020;72:1990-1997 (clinical definitions
§1.2), as 15 patients of spring 2020 at the site NY (America/New_York).

The paper's narrative, which the derived patient courses (ecrf/courses.py, clinical definitions §3.4) give back:

- early (7): anakinra 100 mg SC every 6 h started within 36 h of the oxygen criterion (acute hypoxaemic respiratory
  failure), tapered to every 8, 12 and 24 h (one drug row per step, at most 20 days); weaned to a nasal cannula at
  <= 2 L/min or room air, discharged home, never intubated;
- late (4): the first dose 4 days (96 h) or more after the criterion; all intubated, 7 to 19 days of invasive
  ventilation, all extubated, one after a failed extubation (re-intubated the next day); three discharged, one still
  in hospital on day 28 after 19 days on the ventilator;
- intermediate (2): the first dose between 36 and 96 h; one weaned, one intubated for 8 days;
- not treated (2): no anakinra but the IL-6 antagonist tocilizumab; one weaned, one intubated for 9 days.

Two more candidates are screened and not eligible (already on invasive ventilation; suspected bacterial infection).

As in demo/milan_cohort.py, :func:`plan_series` is pure (no database) and :func:`load_series` writes the plan through
the real services: the New York screening and the enrolment by the site's investigator (so the screening's onset of
respiratory failure becomes the patient's ``oxygen_criterion_at``), then the daily forms, drugs, ventilation episodes
and disposition events by the site's nurse, each with every check of its form, audited with the reason "demo data".
Every time is the clock time in New York (daylight time, UTC-4, in spring 2020) and lies on its record's study day.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction

from cohorts import services as cohort_services
from cohorts.models import COMORBIDITIES, Arm, Patient, PatientStatus, Site, Study
from demo.milan_cohort import REASON, DayPlan, _dec, spo2_of
from demo.studies import NEW_YORK_ARM, NEW_YORK_FOLLOW_UP_DAYS, NEW_YORK_SITE
from ecrf import services
from ecrf.services import RecordInput

SEED = 20200401
ZONE = ZoneInfo(NEW_YORK_SITE["time_zone"])
HORIZON = NEW_YORK_FOLLOW_UP_DAYS  # day 28: the ventilator-free days' horizon (clinical definitions §3.4)
GROUPS = ("early", "intermediate", "late", "not_treated")

# --------------------------------------------------------------------------------------------------------
# The patients
# --------------------------------------------------------------------------------------------------------

Clock = tuple[int, int, int]  # (study day, hour, minute) in New York


@dataclass(frozen=True)
class Case:
    """One patient of the series.

    group: the paper's group, which the derived timing group must give back ("not_treated": tocilizumab instead).
    onset: when the oxygen criterion was met (study day <= 0); first_dose: the first anakinra (tocilizumab) dose on
    day 0, (hour, minute). device: day 0's oxygen at the screening, "hfnc" (FiO2 1.0) or "nrb" (non-rebreather
    15 L/min with a nasal cannula at 6 L/min). taper: days on anakinra every 6 h, 8 h, 12 h and 24 h. episodes:
    (intubation, extubation) of each episode of invasive ventilation. discharge: None when still in hospital on
    day 28.
    """

    group: str
    enrolled: datetime.date
    onset: Clock
    first_dose: tuple[int, int]
    device: str
    sex: str
    age: int
    weight_kg: float
    taper: tuple[int, int, int, int] = ()
    tocilizumab_mg: int = 0
    episodes: tuple[tuple[Clock, Clock], ...] = ()
    icu_discharge: Clock | None = None
    discharge: Clock | None = None
    normal_activities: bool = True


def _date(month: int, day: int) -> datetime.date:
    return datetime.date(2020, month, day)


CASES = (
    # early: within 36 h of the oxygen criterion, never intubated, discharged home
    Case("early", _date(3, 22), (-1, 21, 30), (10, 0), "hfnc", "M", 58, 86, (3, 2, 2, 2), discharge=(10, 13, 0)),
    Case("early", _date(3, 25), (-1, 14, 0), (10, 0), "nrb", "F", 63, 71, (4, 2, 2, 2), discharge=(11, 15, 30)),
    Case("early", _date(3, 28), (-1, 6, 0), (10, 0), "hfnc", "M", 49, 95, (3, 3, 2, 2), discharge=(12, 12, 0)),
    Case("early", _date(3, 31), (-1, 1, 0), (10, 0), "hfnc", "M", 71, 78, (5, 3, 3, 3), discharge=(15, 14, 0)),
    Case("early", _date(4, 3), (0, 1, 30), (9, 30), "nrb", "F", 45, 66, (3, 2, 2, 1), discharge=(9, 16, 0)),
    Case("early", _date(4, 7), (-1, 0, 30), (11, 30), "hfnc", "M", 66, 90, (4, 3, 3, 2), discharge=(13, 11, 0)),
    Case("early", _date(4, 12), (-1, 18, 45), (11, 45), "hfnc", "M", 54, 102, (6, 3, 3, 3), discharge=(16, 15, 0)),
    # intermediate: 36 to 96 h
    Case("intermediate", _date(3, 27), (-2, 9, 0), (15, 0), "hfnc", "M", 61, 88, (5, 3, 3, 3), discharge=(15, 12, 0)),
    Case(
        "intermediate",
        _date(4, 9),
        (-3, 19, 0),
        (14, 0),
        "nrb",
        "F",
        68,
        74,
        (7, 4, 4, 4),
        episodes=(((2, 11, 0), (10, 10, 30)),),
        icu_discharge=(12, 15, 0),
        discharge=(19, 14, 0),
    ),
    # late: 4 days (96 h) or more; all intubated for 7 to 19 days, all extubated
    Case(
        "late",
        _date(3, 24),
        (-4, 7, 0),
        (10, 0),
        "hfnc",
        "M",
        57,
        92,
        (6, 4, 3, 3),
        episodes=(((1, 9, 30), (8, 11, 0)),),
        icu_discharge=(10, 14, 0),
        discharge=(16, 13, 0),
        normal_activities=False,
    ),
    Case(  # the failed extubation: re-intubated the next morning, extubated for good a week later
        "late",
        _date(3, 30),
        (-5, 20, 0),
        (13, 0),
        "nrb",
        "M",
        64,
        89,
        (8, 4, 4, 4),
        episodes=(((1, 2, 15), (6, 10, 0)), ((7, 8, 30), (15, 11, 0))),
        icu_discharge=(18, 12, 0),
        discharge=(25, 14, 0),
        normal_activities=False,
    ),
    Case(  # 19 days on the ventilator, still in hospital (on 2 L/min) on day 28
        "late",
        _date(4, 5),
        (-4, 6, 0),
        (14, 30),
        "hfnc",
        "M",
        69,
        97,
        (8, 4, 4, 4),
        episodes=(((2, 14, 0), (21, 10, 0)),),
        icu_discharge=(24, 13, 0),
    ),
    Case(
        "late",
        _date(4, 15),
        (-6, 10, 0),
        (9, 0),
        "hfnc",
        "F",
        59,
        80,
        (7, 4, 4, 4),
        episodes=(((1, 18, 0), (12, 9, 0)),),
        icu_discharge=(14, 16, 0),
        discharge=(21, 12, 0),
    ),
    # not treated with anakinra: tocilizumab (IL-6 antagonist) once, intravenous
    Case(
        "not_treated",
        _date(3, 26),
        (-1, 16, 0),
        (12, 0),
        "hfnc",
        "M",
        52,
        85,
        tocilizumab_mg=400,
        discharge=(11, 14, 0),
    ),
    Case(
        "not_treated",
        _date(4, 17),
        (-1, 23, 0),
        (10, 0),
        "nrb",
        "M",
        73,
        76,
        tocilizumab_mg=600,
        episodes=(((3, 7, 0), (12, 15, 0)),),
        icu_discharge=(14, 11, 0),
        discharge=(20, 13, 0),
        normal_activities=False,
    ),
)

# Screened and not eligible: (date, values overriding an eligible candidate's).
INELIGIBLE = (
    (_date(3, 23), {"on_invasive_ventilation": True}),  # intubated in the emergency department before the evaluation
    (_date(4, 2), {"positive_cultures": True, "procalcitonin_ng_ml": 2.1}),  # suspected bacterial infection
)

# The anakinra taper (clinical definitions §1.2): frequency, hours between doses, clock time of a step's first dose.
TAPER = (("q6h", 6, None), ("q8h", 8, (6, 0)), ("bid", 12, (9, 0)), ("q24h", 24, (9, 0)))
ANAKINRA = {"drug": "anakinra", "drug_detail": "", "dose": Decimal("100.00"), "dose_unit": "mg", "route": "sc"}

# --------------------------------------------------------------------------------------------------------
# The plan (pure)
# --------------------------------------------------------------------------------------------------------


@dataclass
class PatientPlan:
    case: Case
    screening: dict[str, Any]  # canonical values of the New York rule set
    assessed_at: datetime.datetime
    days: list[DayPlan] = field(default_factory=list)
    drugs: list[dict[str, Any]] = field(default_factory=list)
    episodes: list[dict[str, Any]] = field(default_factory=list)
    dispositions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def last_day(self) -> int:
        """The last day in hospital with daily forms: the discharge, else day 28."""
        return self.case.discharge[0] if self.case.discharge else HORIZON


@dataclass
class Candidate:
    assessed_at: datetime.datetime
    values: dict[str, Any]


@dataclass
class SeriesPlan:
    patients: list[PatientPlan]
    ineligible: list[Candidate]


def at(enrolled: datetime.date, clock: Clock) -> datetime.datetime:
    """The aware moment of a (study day, hour, minute) in New York."""
    day, hour, minute = clock
    date = enrolled + datetime.timedelta(days=day)
    return datetime.datetime(date.year, date.month, date.day, hour, minute, tzinfo=ZONE)


def hours_to_first_dose(case: Case) -> float:
    """Hours from the oxygen criterion to the first dose (the derived hours_to_anakinra of a treated patient)."""
    dose = at(case.enrolled, (0, *case.first_dose))
    return (dose - at(case.enrolled, case.onset)).total_seconds() / 3600


def _screening_values(case: Case, rng: random.Random) -> dict[str, Any]:
    """An eligible New York screening (clinical definitions §1.2): hyperinflammation with ferritin above 1000 ng/mL,
    acute hypoxaemic respiratory failure on the patient's device, no bacterial infection suspected."""
    severe = case.group in ("late", "intermediate")
    values: dict[str, Any] = {
        "covid_molecular_confirmed": True,
        "fever": True,
        "ferritin_ng_ml": round(rng.uniform(1250, 2600) * (1.4 if severe else 1.0)),
        "crp_mg_l": round(rng.uniform(95, 180) * (1.3 if severe else 1.0), 1),
        "lymphocytes_10e9_l": round(rng.uniform(0.45, 0.95), 2),
        "ddimer_ng_ml": round(rng.uniform(1100, 2400) * (1.5 if severe else 1.0)),
        "ddimer_basis": "FEU",
        "ldh_u_l": round(rng.uniform(380, 560) * (1.2 if severe else 1.0)),
        "on_invasive_ventilation": False,
        "positive_cultures": False,
        "procalcitonin_ng_ml": round(rng.uniform(0.05, 0.35), 2),
        "high_clinical_suspicion_bacterial": False,
        "cancer_on_chemo_or_immunotherapy": False,
        "other_immunosuppressive_biologics": False,
        "respiratory_failure_onset": at(case.enrolled, case.onset),
    }
    if case.device == "hfnc":
        values["hfnc_fio2"] = 1.0
    else:
        values["nrb_flow_l_min"], values["nasal_cannula_flow_l_min"] = 15.0, 6.0
    return values


# Weaning, stretched over the days available (a step skipped when there are fewer days than steps): (support,
# FiO2, flow L/min).
WEANING = (
    ("hfnc", 0.8, 50),
    ("hfnc", 0.6, 40),
    ("nasal_cannula", None, 6),
    ("nasal_cannula", None, 4),
    ("nasal_cannula", None, 3),
    ("nasal_cannula", None, 2),
    ("room_air", None, None),
)
AFTER_EXTUBATION = (
    ("hfnc", 0.5, 40),
    ("nasal_cannula", None, 4),
    ("nasal_cannula", None, 3),
    ("nasal_cannula", None, 2),
    ("room_air", None, None),
)


def _stretch(steps: tuple, days: list[int]) -> dict[int, tuple]:
    """The steps over the days: the first day on the first step, the last on the last, evenly between."""
    if not days:
        return {}
    if len(days) == 1:
        return {days[0]: steps[-1]}
    last = len(steps) - 1
    return {day: steps[round(i * last / (len(days) - 1))] for i, day in enumerate(days)}


def _phases(plan: PatientPlan) -> dict[int, tuple]:
    """The respiratory support of each day after day 0 (day 0's comes from the screening): (support, FiO2, flow)
    or ("imv", k, n) for the k-th of n days on the ventilator."""
    case, last = plan.case, plan.last_day
    phases: dict[int, tuple] = {}
    if not case.episodes:
        phases.update(_stretch(WEANING, list(range(1, last + 1))))
        return phases
    first, final = case.episodes[0][0][0], case.episodes[-1][1][0]
    for day in range(1, first):
        phases[day] = ("hfnc", 1.0, 60)  # the oxygen criterion still met, up to the intubation
    for k, day in enumerate(range(first, final + 1)):
        phases[day] = ("imv", k, final - first + 1)  # the extubation day's highest support is the ventilator
    steps = AFTER_EXTUBATION if case.discharge else AFTER_EXTUBATION[:-1]  # in hospital on day 28: on 2 L/min
    phases.update(_stretch(steps, list(range(final + 1, last + 1))))
    return phases


def _support(phase: tuple, *, reintubated: bool) -> tuple[dict[str, Any], float, tuple[float, float]]:
    """The form's values, the FiO2 breathed and the range of the PaO2 (mmHg) it is titrated to (SpO2 about 90-97%);
    ``reintubated``: the day of a re-intubation (back on a moderate FiO2 and PEEP, neither prone nor on
    vasopressors). The P/F ratio follows: about 85 on the first day on the ventilator, above 200 at the extubation."""
    kind = phase[0]
    if kind == "imv":
        k, n = phase[1], phase[2]
        progress = k / max(n - 1, 1)
        fio2 = 0.6 if reintubated else 0.8 - 0.4 * progress
        peep = 10 if reintubated else 14 - 6 * progress
        values = {
            "support": "imv",
            "fio2": _dec(fio2, 2),
            "peep_cmh2o": _dec(round(peep), 1),
            "prone": k in (1, 2) and not reintubated,
            "vasopressors": k in (0, 1) and not reintubated,
        }
        return values, float(values["fio2"]), (64 + 20 * progress, 72 + 22 * progress)
    if kind == "hfnc":
        values = {"support": "hfnc", "fio2": _dec(phase[1], 2), "flow_l_min": _dec(phase[2], 1)}
        return values, phase[1], (58, 66) if phase[1] >= 0.95 else (63, 78)
    if kind == "nasal_cannula":
        return {"support": "nasal_cannula", "flow_l_min": _dec(phase[2], 1)}, 0.20 + 0.04 * phase[2], (68, 86)
    return {"support": "room_air"}, 0.21, (76, 95)


def _crp(case: Case, crp0: float, day: int, rng: random.Random) -> float:
    """CRP (mg/L) falls within days on anakinra started early; it climbs to the intubation of the late patients and
    then falls slowly; on tocilizumab it falls fastest (IL-6 drives its synthesis), ventilated or not."""
    if case.group == "not_treated":
        value = crp0 * math.exp(-0.6 * day) + rng.uniform(1, 4)
    elif case.episodes:
        peak = case.episodes[0][0][0] + 1
        value = crp0 * (1 + 0.12 * min(day, peak)) * math.exp(-0.16 * max(day - peak, 0)) + rng.uniform(2, 8)
    else:
        value = crp0 * math.exp(-0.35 * day) + rng.uniform(2, 8)
    return value * rng.uniform(0.94, 1.06)


def _vitals(kind: str, febrile: bool, spo2: int, rng: random.Random) -> dict[str, Any]:
    temperature = rng.uniform(38.0, 38.9) if febrile else rng.uniform(36.4, 37.3)
    heart_rate = rng.randint(94, 112) if febrile or kind == "imv" else rng.randint(68, 90)
    respiratory = {"hfnc": (25, 32), "imv": (18, 24), "nasal_cannula": (19, 24), "room_air": (14, 18)}[kind]
    systolic = rng.randint(100, 120) if kind == "imv" else rng.randint(114, 140)
    return {
        "temperature_c": _dec(temperature, 1),
        "heart_rate_bpm": heart_rate,
        "respiratory_rate_bpm": rng.randint(*respiratory),
        "systolic_mmhg": systolic,
        "diastolic_mmhg": systolic - rng.randint(38, 52),
        "spo2_pct": spo2,
    }


def _plan_days(plan: PatientPlan, rng: random.Random) -> None:
    case = plan.case
    phases = _phases(plan)
    reintubation_days = {start[0] for start, _ in case.episodes[1:]}
    fever_days = {"early": 2, "intermediate": 3, "not_treated": 2}.get(case.group, 0)
    if case.episodes:
        fever_days = case.episodes[0][0][0] + 3
    crp0 = float(plan.screening["crp_mg_l"])
    for day in range(plan.last_day + 1):
        if day == 0:  # the screening's oxygen (ecrf/enrolment.py): HFNC FiO2 1.0, or 15 L/min by non-rebreather
            kind, fio2, pao2_range = "hfnc" if case.device == "hfnc" else "non_rebreather", 1.0, (56.0, 64.0)
            support: dict[str, Any] = {}
        else:
            phase = phases[day]
            support, fio2, pao2_range = _support(phase, reintubated=day in reintubation_days)
            kind = phase[0]
        pao2 = rng.uniform(*pao2_range)
        spo2 = min(max(round(spo2_of(pao2) + rng.choice([-1, 0, 0, 1])), 86), 99)
        vitals_kind = "hfnc" if kind == "non_rebreather" else kind
        day_plan = DayPlan(day, vitals=_vitals(vitals_kind, day < fever_days, spo2, rng), support=support)
        if day > 0:  # day 0's laboratory values come from the screening
            labs: dict[str, Any] = {"crp_mg_l": _dec(_crp(case, crp0, day, rng), 1)}
            if kind == "imv":  # a blood gas every day on the ventilator
                labs["pao2_mmhg"], labs["abg_fio2"] = _dec(pao2, 1), _dec(fio2, 2)
            if day % 7 == 0 or day == 3:
                recovering = not case.episodes or day > case.episodes[-1][1][0]
                labs["ferritin_ng_ml"] = _dec(float(plan.screening["ferritin_ng_ml"]) * math.exp(-0.06 * day), 1)
                labs["ldh_u_l"] = _dec(rng.uniform(240, 330) if recovering else rng.uniform(420, 600), 0)
                labs["lymphocytes_10e9_l"] = _dec(rng.uniform(0.9, 1.5) if recovering else rng.uniform(0.4, 0.8), 2)
                labs["ddimer_ng_ml"] = _dec(rng.uniform(600, 1200) if recovering else rng.uniform(1800, 4200), 0)
                labs["ddimer_basis"] = "FEU"
            day_plan.labs = labs
        plan.days.append(day_plan)


def _doses(first: datetime.datetime, hours: int, stop_date: datetime.date) -> datetime.datetime:
    """The last dose on ``stop_date`` of a schedule every ``hours`` from ``first``."""
    last = first
    while (last + datetime.timedelta(hours=hours)).date() <= stop_date:
        last += datetime.timedelta(hours=hours)
    return last


def _plan_drugs(plan: PatientPlan) -> None:
    case = plan.case
    first = at(case.enrolled, (0, *case.first_dose))
    if case.tocilizumab_mg:  # one infusion over an hour
        plan.drugs.append(
            {
                "study_day": 0,
                "started_at": first,
                "drug": "tocilizumab",
                "drug_detail": "",
                "dose": _dec(case.tocilizumab_mg, 2),
                "dose_unit": "mg",
                "route": "iv",
                "frequency": "once",
                "stop_day": 0,
                "stopped_at": first + datetime.timedelta(hours=1),
            }
        )
        return
    day = 0
    for (frequency, hours, clock), days in zip(TAPER, case.taper, strict=True):
        started = first if day == 0 else at(case.enrolled, (day, *clock))
        stop_day = day + days - 1
        stopped = _doses(started, hours, (case.enrolled + datetime.timedelta(days=stop_day)))
        plan.drugs.append(
            {
                "study_day": day,
                "started_at": started,
                **ANAKINRA,
                "frequency": frequency,
                "stop_day": stop_day,
                "stopped_at": stopped if stopped > started else None,  # one dose: no stop time after it
            }
        )
        day = stop_day + 1


def _plan_events(plan: PatientPlan) -> None:
    case = plan.case
    for number, (start, end) in enumerate(case.episodes):
        intubated = at(case.enrolled, start)
        if number == 0:  # admitted to the ICU for the intubation
            admitted = intubated - datetime.timedelta(minutes=90)
            plan.dispositions.append({"study_day": start[0], "occurred_at": admitted, "kind": "icu_admission"})
        plan.episodes.append(
            {
                "study_day": start[0],
                "intubated_at": intubated,
                "end_day": end[0],
                "ended_at": at(case.enrolled, end),
                "end_reason": "extubated",
            }
        )
        plan.dispositions.append({"study_day": start[0], "occurred_at": intubated, "kind": "imv_started"})
    if case.icu_discharge:
        when = at(case.enrolled, case.icu_discharge)
        plan.dispositions.append({"study_day": case.icu_discharge[0], "occurred_at": when, "kind": "icu_discharge"})
    if case.discharge:
        when = at(case.enrolled, case.discharge)
        plan.dispositions += [
            {
                "study_day": case.discharge[0],
                "occurred_at": when,
                "kind": "discharged",
                "normal_activities": case.normal_activities,
            },
            {  # the day-28 phone call
                "study_day": HORIZON,
                "occurred_at": at(case.enrolled, (HORIZON, 11, 0)),
                "kind": "vital_status_contact",
                "alive": True,
                "normal_activities": True,
            },
        ]


def plan_patient(case: Case, index: int, seed: int = SEED) -> PatientPlan:
    rng = random.Random(f"{seed}-ny-{index}")
    first = at(case.enrolled, (0, *case.first_dose))
    plan = PatientPlan(
        case=case,
        screening=_screening_values(case, rng),
        assessed_at=first - datetime.timedelta(hours=2),  # screened, enrolled, then the first dose
    )
    _plan_days(plan, rng)
    _plan_drugs(plan)
    _plan_events(plan)
    return plan


def plan_series(seed: int = SEED) -> SeriesPlan:
    """The patients in enrolment order and the ineligible candidates (deterministic for a seed)."""
    patients = [plan_patient(case, index, seed) for index, case in enumerate(CASES)]
    patients.sort(key=lambda plan: plan.assessed_at)
    ineligible = []
    for position, (date, overrides) in enumerate(INELIGIBLE):
        host = patients[position]
        values = {**host.screening, **overrides}
        values["respiratory_failure_onset"] = datetime.datetime(date.year, date.month, date.day, 3, 0, tzinfo=ZONE)
        ineligible.append(Candidate(datetime.datetime(date.year, date.month, date.day, 9, 0, tzinfo=ZONE), values))
    return SeriesPlan(patients=patients, ineligible=ineligible)


# --------------------------------------------------------------------------------------------------------
# Writing the plan through the services
# --------------------------------------------------------------------------------------------------------


@dataclass
class SeriesSummary:
    loaded: bool
    patients: dict[str, int] = field(default_factory=dict)  # per group
    intubated: int = 0
    screenings: int = 0
    records: int = 0
    note: str = ""


def write_patient(plan: PatientPlan, patient: Patient, nurse) -> int:
    """The daily forms, drugs, ventilation episodes and disposition events of one enrolled patient; returns the
    number of records written."""
    written = 0
    for day in plan.days:
        entries = {"vital_signs": RecordInput(day.vitals)}
        if day.support:
            entries["respiratory_support"] = RecordInput(day.support)
        if day.labs:
            entries["laboratory"] = RecordInput(day.labs)
        services.patient_day_save(
            patient=patient, study_day=day.study_day, entries=entries, user=nurse, reason=REASON, entry_reason=REASON
        )
        written += len(entries)
    events = [
        *(("drug_administration", values) for values in plan.drugs),
        *(("ventilation_episodes", values) for values in plan.episodes),
        *(("disposition_events", values) for values in plan.dispositions),
    ]
    for form, values in events:
        services.event_save(form=form, patient=patient, entry=RecordInput(values), user=nurse, reason=REASON)
    return written + len(events)


def _not_the_demos(study: Study, site: Site | None) -> str:
    """Why the study is not the demo's New York study (created beforehand by hand, e.g. from the example file with
    its 21-day follow-up), or ""."""
    if study.follow_up_days < HORIZON:
        return f"its follow-up is {study.follow_up_days} days, the demo's patients are followed for {HORIZON}"
    if site is None or site.time_zone != NEW_YORK_SITE["time_zone"]:
        return f"its site {NEW_YORK_SITE['code']} is not in the time zone {NEW_YORK_SITE['time_zone']}"
    if not Arm.objects.filter(study=study, code=NEW_YORK_ARM["code"]).exists():
        return f"it has no arm {NEW_YORK_ARM['code']}"
    return ""


def _comorbidities(case: Case) -> dict[str, bool]:
    """Hypertension from 60 years, diabetes from 95 kg, none of the others (recorded: no, not unknown)."""
    found = {"hypertension": case.age >= 60, "diabetes": case.weight_kg >= 95}
    return {name: found.get(name, False) for name in COMORBIDITIES}


@transaction.atomic
def load_series(study: Study, *, investigators: Mapping[str, Any], nurses: Mapping[str, Any]) -> SeriesSummary:
    """Screen, enrol and document the planned series at the site NY; nothing if the study has patients.

    ``investigators`` and ``nurses`` map a site code to the user who screens and enrols there / enters the data.
    """
    if Patient.objects.filter(study=study).exists():
        return SeriesSummary(loaded=False)
    code = NEW_YORK_SITE["code"]
    site = Site.objects.filter(studies=study, code=code).first()
    if note := _not_the_demos(study, site):
        return SeriesSummary(loaded=False, note=note)
    arm = Arm.objects.get(study=study, code=NEW_YORK_ARM["code"])
    investigator, nurse = investigators[code], nurses[code]
    plan = plan_series()
    summary = SeriesSummary(loaded=True, patients=dict.fromkeys(GROUPS, 0))
    agenda = [(c.assessed_at, c) for c in plan.ineligible] + [(p.assessed_at, p) for p in plan.patients]
    for assessed_at, item in sorted(agenda, key=lambda entry: entry[0]):
        values = item.values if isinstance(item, Candidate) else item.screening
        screening = cohort_services.screening_create(
            study=study, site=site, assessed_at=assessed_at, values=values, entered_units={}, user=investigator
        )
        summary.screenings += 1
        if isinstance(item, Candidate):
            continue
        case = item.case
        patient = cohort_services.patient_enrol(
            screening=screening,
            arm=arm,
            enrolment_date=case.enrolled,
            sex=case.sex,
            age_years=case.age,
            weight_kg=_dec(case.weight_kg, 1),
            comorbidities=_comorbidities(case),
            user=investigator,
        )
        summary.records += write_patient(item, patient, nurse)
        summary.patients[case.group] += 1
        summary.intubated += bool(case.episodes)
        cohort_services.patient_update(
            patient=patient,
            changes={"status": PatientStatus.COMPLETED},
            expected_version=patient.version,
            user=investigator,
            reason=REASON,
        )
    return summary
