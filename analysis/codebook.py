"""The codebook of a release: variable, label, type, unit, allowed range, value labels and derivation of every
column of every exported table (clinical definitions §5), plus the study settings the data were derived with.

The source forms are described from their model fields and the limits table of cohorts/limits.py (one source of
truth for labels, units and ranges); derived and analysis columns from the texts below, which quote the study's
own settings (*study settings* of the clinical definitions) so a reader of the export never needs the code.
:func:`codebook_frame` refuses a table column that has no entry, so no undocumented column can leave the system.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.functional import Promise, lazy
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from analysis import outcomes as outcomes_module
from analysis import tables
from analysis.datasets import KEY, NOT_DONE_REASON, SOURCE_FORMS, column_type, exported_fields
from cleaning.models import AnswerCode, QueryOrigin, QueryStatus, SdvLevel
from cohorts.limits import LIMITS
from cohorts.models import COMORBIDITIES, OrdinalScale, Patient, PatientStatus, Sex, Site, Study
from ecrf import courses, crfs, derivations
from ecrf.crfs import CATALOGUE, crf_of
from ecrf.models import DerivedDay, MissingCode, VentilationEpisode

CODEBOOK_COLUMNS = [
    "table",
    "variable",
    "label",
    "type",
    "unit",
    "allowed_range",
    "soft_range",
    "value_labels",
    "sav_dta_codes",
    "derivation",
    "xpt_dataset",
    "xpt_name",
]
SETTINGS_COLUMNS = {"setting": "string", "value": "string", "default": "string", "source": "string"}
#: The limit of each field of a form (the catalogue's); other models' fields are checked under their own name.
_FORM_LIMITS = {crf.model: crf.limits for crf in CATALOGUE.values()}
SEPARATOR = " | "


@dataclass(frozen=True)
class Entry:
    """A column's description. ``label`` and the labels of ``value_labels`` may be lazy translations: they follow
    the language active when :func:`codebook_frame` builds its rows (the study's language); everything else is
    English whatever the language."""

    label: str | Promise
    type: str
    unit: str = ""
    allowed_range: str = ""
    soft_range: str = ""
    value_labels: tuple[tuple[Any, str | Promise], ...] = ()
    derivation: str = ""


def _labels(choices: Mapping[Any, Any] | list[tuple[Any, Any]]) -> tuple[tuple[Any, str | Promise], ...]:
    """Value labels as (code, label) pairs; a lazy label stays lazy (translated when the codebook is built)."""
    items = choices.items() if isinstance(choices, Mapping) else choices
    return tuple((code, label if isinstance(label, Promise) else str(label)) for code, label in items)


def _english(text: str | Promise) -> str:
    """A label as written in the code, whatever the active language: the units and derivation notes made from
    labels stay English."""
    with translation.override(None):
        return str(text)


def _capitalized(text: str | Promise) -> str:
    """The first letter upper-case, the rest as written ("COPD", not str.capitalize's "Copd")."""
    return capfirst(str(text))


_capitalized_lazy = lazy(_capitalized, str)


STATE_LABELS = _labels({state.code: state.label for state in derivations.STATES})
#: How the statistical packages carry a missing-data code in the value's own column (clinical definitions §2.2,
#: analysis/exports.py): SPSS user-missing values, Stata extended missing values.
SAV_MISSING = {MissingCode.NOT_DONE: -97, MissingCode.UNKNOWN: -98, MissingCode.NOT_APPLICABLE: -99}
DTA_MISSING = {MissingCode.NOT_DONE: "a", MissingCode.UNKNOWN: "b", MissingCode.NOT_APPLICABLE: "c"}
MISSING_CODE_LABELS = _labels(MissingCode.choices)
YES_NO = "true = yes, false = no; empty = not recorded"
#: The unit of a time column (type time): analysis/datasets.py local_times.
TIME_UNIT = "clock time at the site, ISO 8601 HH:MM"
#: The column of the study day a time lies on (clinical definitions §2.3); every other time is on study_day.
TIME_DAYS = {**crfs.TIME_DAYS, "oxygen_criterion_at": "oxygen_criterion_day"}


def _time_note(name: str) -> str:
    """What a time column holds: the clock time on the study day of its row, no date (clinical definitions §5)."""
    day = TIME_DAYS.get(name, "study_day")
    return (
        f"Clock time at the site, ISO 8601 HH:MM, on the row's study day ({day}), e.g. 22:30 (seconds only when not "
        "zero): the clock time at the patient's site (its IANA time zone, Site.time_zone); no calendar date. Only a "
        "clock time that occurs twice that day (the hour the clocks go back) carries its UTC offset, e.g. "
        "01:30-04:00. Hours between two moments: (day2 - day1) x 24 + (clock2 - clock1), one hour off across a "
        "daylight-saving change (patient_courses has the exact hours). Entered in the site's time zone, stored in "
        "UTC; empty = not recorded (the analysis then uses the day). Clinical definitions §2.3."
    )


def _num(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _range(low: Any, high: Any, low_exclusive: bool = False) -> str:
    if low is None and high is None:
        return ""
    if high is None:
        return f"> {_num(low)}" if low_exclusive else f">= {_num(low)}"
    if low is None:
        return f"<= {_num(high)}"
    return f"{_num(low)} to {_num(high)}"


def _soft(low: Any, high: Any) -> str:
    parts = ([f"< {_num(low)}"] if low is not None else []) + ([f"> {_num(high)}"] if high is not None else [])
    return " or ".join(f"{p} asks for confirmation" for p in parts) if parts else ""


# --------------------------------------------------------------------------------------------
# Source forms: from the models and the edit checks
# --------------------------------------------------------------------------------------------

_FORM_NOTES = {
    "study_day": "Study day of the record; day 0 = enrolment (first anakinra dose in treated arms).",
    "confirmed_checks": "Codes of the soft edit checks the user confirmed for the values as saved, ';'-separated.",
    "pao2_mmhg": "Entered in mmHg or kPa; kPa converted to mmHg x 7.50062.",
    "pao2_entered_unit": "Unit PaO2 was typed in (the stored value is always mmHg).",
    "crp_mg_l": "Entered in mg/L or mg/dL; mg/dL converted to mg/L x 10.",
    "crp_entered_unit": "Unit CRP was typed in (the stored value is always mg/L).",
    "abg_fio2": "FiO2 at the arterial blood gas; empty = the day's FiO2 is used for the measured P/F.",
    "fio2": "FiO2 set on the device; empty = not set (estimated in the derived table where the device allows it).",
    "ddimer_ng_ml": "D-dimer in ng/mL on the basis of ddimer_basis; FEU and DDU are never converted.",
    "ast_uln_u_l": "The site laboratory's AST upper limit of normal on that day.",
    "alt_uln_u_l": "The site laboratory's ALT upper limit of normal on that day.",
    "stop_day": "Last study day of the administration (inclusive); empty while ongoing.",
    "started_at": f"Time of the first dose. {_time_note('started_at')}",
    "stopped_at": f"Time of the last dose; after started_at. {_time_note('stopped_at')}",
    "occurred_at": f"Time of the event; not after a death's time. {_time_note('occurred_at')}",
    "intubated_at": f"Time of the intubation. {_time_note('intubated_at')}",
    "ended_at": f"Time the episode ended (extubation, death or transfer); after intubated_at. {_time_note('ended_at')}",
    "end_day": (
        "Study day the episode ended (extubation, death or transfer on the ventilator); empty while ongoing. The "
        "episodes of a patient never overlap: a re-intubation is a new episode after the end of the previous one."
    ),
    "end_reason": "How the episode ended; empty while ongoing (end_day empty).",
}
#: Notes of a field of one form only.
_MODEL_NOTES = {
    (VentilationEpisode, "study_day"): (
        "Study day of the intubation (the start of the episode of invasive mechanical ventilation); day 0 = enrolment."
    ),
}


def _unit_from_label(label: str) -> str:
    found = re.search(r"\(([^)]*)\)\s*$", label)
    return found.group(1) if found else ""


def field_entry(field: models.Field) -> Entry:
    """Codebook entry of a form field: label and choices from the model, unit and ranges from the checks."""
    kind = column_type(field)
    limits = _FORM_LIMITS.get(field.model)
    limit_name = limits.get(field.name) if limits is not None else field.name
    limit = LIMITS.get(limit_name) if limit_name else None
    label = field.verbose_name  # lazy where the model marks it for translation
    # A number's label may end with its unit, "(hours)"; a text's parentheses are an example, never a unit.
    unit = limit.unit if limit else _unit_from_label(_english(label)) if kind in {"integer", "float"} else ""
    if kind == "time":
        unit = TIME_UNIT
    note = _MODEL_NOTES.get((field.model, field.name)) or _FORM_NOTES.get(field.name)
    entry = Entry(
        label=label,
        type=kind,
        unit="" if unit == "fraction" and kind != "float" else unit,
        allowed_range=_range(limit.hard_min, limit.hard_max, limit.hard_min_exclusive) if limit else "",
        soft_range=_soft(limit.soft_low, limit.soft_high) if limit else "",
        value_labels=_labels(field.choices) if field.choices else (),
        derivation=note or (YES_NO if kind == "boolean" and field.null else ""),
    )
    if field.name == "fio2" and field.model is not DerivedDay:
        entry = Entry(**{**entry.__dict__, "allowed_range": "0.21 to 1 (exactly 0.21 on room air)"})
    return entry


def _in_packages() -> str:
    sav = ", ".join(f"{number} {_english(code.label).lower()}" for code, number in SAV_MISSING.items())
    dta = ", ".join(f".{letter} {_english(code.label).lower()}" for code, letter in DTA_MISSING.items())
    return f"SPSS files: {sav} (user-missing values, labelled); Stata files: {dta} (extended missing values)"


def form_entries(model: type[models.Model]) -> dict[str, Entry]:
    """The columns of a form's table: its fields, then what is missing and why (clinical definitions §2.2)."""
    entries = {KEY: PATIENT_ENTRIES[KEY], **{f.name: field_entry(f) for f in exported_fields(model)}}
    crf = crf_of(model)
    for name, column in crf.code_columns.items():
        entry = entries[name]
        note = f"Empty (NA) where {column} says why. In the value's own column, numbers and yes/no: {_in_packages()}."
        entries[name] = Entry(**{**entry.__dict__, "derivation": f"{entry.derivation} {note}".strip()})
        entries[column] = Entry(
            gettext("Missing-data code of %(name)s") % {"name": name},
            "string",
            value_labels=MISSING_CODE_LABELS,
            derivation=(
                f"Why {name} is empty: not done, unknown or not applicable, given instead of a value"
                + (" (not_done on every value of a form marked not done, see not_done_reason)" if crf.per_day else "")
                + f"; empty = {name} has a value, or is truly missing."
            ),
        )
    if crf.per_day:
        entries[NOT_DONE_REASON] = Entry(
            gettext("Reason the whole form was not done that day"),
            "string",
            derivation=(
                "Non-empty: the form was marked not done for the day with this reason; every value is then empty and "
                "every code column says not_done. A form marked not done is not missing."
            ),
        )
    return entries


# --------------------------------------------------------------------------------------------
# Patients and arms
# --------------------------------------------------------------------------------------------

_patient_field = Patient._meta.get_field
# The study's own codes: codebook_frame labels them with the study's arms and sites (so SPSS and Stata get them
# as labelled integer codes like every other coded text).
SITE_CODE = Entry(_("Site code"), "string")
ARM_CODE = Entry(_("Arm code"), "string", derivation="See the arms table for the regimen.")
PATIENT_ENTRIES: dict[str, Entry] = {
    KEY: Entry(_("Pseudonymised participant id (site prefix + number)"), "string"),
    "site": SITE_CODE,
    "arm": ARM_CODE,
    "arm_label": Entry(_("Arm"), "string"),
    "sex": Entry(_("Sex"), "string", value_labels=_labels(Sex.choices)),
    "age_years": Entry(
        _("Age at enrolment"),
        "integer",
        "years",
        _range(LIMITS["age_years"].hard_min, LIMITS["age_years"].hard_max),
        derivation=(
            "A protocol's minimum age, where it has one, is an inclusion criterion (eligibility.min_age in the "
            "settings), not a limit of this column."
        ),
    ),
    "weight_kg": field_entry(_patient_field("weight_kg")),
    **{
        name: Entry(_capitalized_lazy(_patient_field(name).verbose_name), "boolean", derivation=YES_NO)
        for name in COMORBIDITIES
    },
    "status": Entry(_("Follow-up status"), "string", value_labels=_labels(PatientStatus.choices)),
    "follow_up_days": Entry(_("Follow-up of the study"), "integer", "days", derivation="Study setting."),
    "oxygen_criterion_day": Entry(
        _("Study day of the oxygen criterion"),
        "integer",
        "days",
        derivation=(
            "Study day at the patient's site on which the oxygen criterion was met (its local date minus the "
            "enrolment date; negative: before enrolment); empty when its time is not recorded."
        ),
    ),
    "oxygen_criterion_at": Entry(
        _capitalized_lazy(_patient_field("oxygen_criterion_at").verbose_name),
        "time",
        TIME_UNIT,
        derivation=(
            "When the protocol's oxygen criterion was met (New York: acute hypoxaemic respiratory failure, clinical "
            "definitions §1.2), the start of the time to the first anakinra dose (hours_to_anakinra of "
            "patient_courses); from the screening, corrected with a reason. "
            f"{_time_note('oxygen_criterion_at')}"
        ),
    ),
}
PROVENANCE_ENTRIES: dict[str, Entry] = {
    KEY: PATIENT_ENTRIES[KEY],
    "study_day": Entry(_("Study day"), "integer", "days", derivation="Day 0 = enrolment."),
    "form": Entry(_("Form (its table in data/)"), "string"),
    "field": Entry(_("Field of the form whose value was accepted"), "string"),
    "value": Entry(_("Value accepted, in the field's canonical unit"), "float"),
    "resource_type": Entry(_("FHIR resource type of the source"), "string"),
    "resource_id": Entry(_("FHIR resource id on the site's server"), "string"),
    "last_updated": Entry(_("The resource's meta.lastUpdated (UTC, ISO 8601)"), "string"),
}
QUERY_ENTRIES: dict[str, Entry] = {
    "query_id": Entry(_("Query number (as on the query pages)"), "integer"),
    KEY: PATIENT_ENTRIES[KEY],
    "study_day": Entry(_("Study day the query is about (empty: the patient as a whole)"), "integer", "days"),
    "form": Entry(_("Form the query is about (its table in data/; empty: the patient's baseline)"), "string"),
    "field": Entry(_("Field of the form the query is about (empty: the whole form)"), "string"),
    "origin": Entry(
        _("Raised by a person or by a data-quality rule"), "string", value_labels=_labels(QueryOrigin.choices)
    ),
    "rule": Entry(_("Data-quality rule that raised it (automatic queries)"), "string"),
    "status": Entry(_("Status at the lock"), "string", value_labels=_labels(QueryStatus.choices)),
    "answer_code": Entry(_("The site's coded answer"), "string", value_labels=_labels(AnswerCode.choices)),
    "opened_at": Entry(_("Raised (UTC, ISO 8601)"), "string"),
    "answered_at": Entry(_("Last answered (UTC, ISO 8601)"), "string"),
    "closed_at": Entry(_("Closed (UTC, ISO 8601)"), "string"),
    "closed_by_system": Entry(_("Closed by the system because the rule's condition cleared"), "boolean"),
    "changed_after_close": Entry(_("The data it is about changed after it was closed"), "boolean"),
}
FREEZE_ENTRIES: dict[str, Entry] = {
    KEY: PATIENT_ENTRIES[KEY],
    "frozen_at": Entry(_("Casebook frozen by a data manager (UTC, ISO 8601)"), "string"),
    "freeze_reason": Entry(_("Why it was frozen"), "string"),
    "unfrozen_at": Entry(_("Unfrozen (UTC, ISO 8601; empty: still frozen at the lock)"), "string"),
    "unfreeze_reason": Entry(_("Why it was unfrozen"), "string"),
}
SIGNATURE_ENTRIES: dict[str, Entry] = {
    KEY: PATIENT_ENTRIES[KEY],
    "first_day": Entry(_("First study day signed"), "integer", "days"),
    "last_day": Entry(_("Last study day signed (the last day of follow-up: to the casebook's end)"), "integer", "days"),
    "printed_name": Entry(_("Printed name of the investigator who signed, as at signing"), "string"),
    "signed_at": Entry(_("Signed (UTC, ISO 8601)"), "string"),
    "meaning": Entry(_("Meaning of the signature, as shown to the signer"), "string"),
    "data_sha256": Entry(
        _("SHA-256 of the signed data (the baseline and every record of the days signed)"),
        "string",
        derivation="Canonical JSON of the stored values, sorted (cleaning/signatures.py).",
    ),
    "broken_at": Entry(_("When a later change of the signed data broke it (UTC, ISO 8601; empty: intact)"), "string"),
}
SDV_ENTRIES: dict[str, Entry] = {
    KEY: PATIENT_ENTRIES[KEY],
    "form": Entry(_("Form of the verified record (its table in data/)"), "string"),
    "record_id": Entry(
        _("Number of the verified record in the eCRF"),
        "integer",
        derivation="The record's number in the system (its audit trail); the form's table has no such column: "
        "match on participant_id, form and study_day.",
    ),
    "study_day": Entry(
        _("Study day of the record when it was verified"), "integer", "days", derivation="Day 0 = enrolment."
    ),
    "scope": Entry(
        _("What was verified: the form's critical fields or all its fields (the study's SDV plan at verification)"),
        "string",
        value_labels=_labels([(level.value, level.label) for level in (SdvLevel.CRITICAL, SdvLevel.ALL)]),
    ),
    "fields": Entry(_("Fields verified against source, separated by ';'"), "string"),
    "data_sha256": Entry(
        _("SHA-256 of the verified values (study day, values, their missing-data codes, the not-done reason)"),
        "string",
        derivation="Canonical JSON of the stored values, as for signatures (cleaning/sdv.py).",
    ),
    "verified_at": Entry(_("Last verified against source by a monitor (UTC, ISO 8601)"), "string"),
    "changed_at": Entry(
        _("When a later saved change altered a verified value (UTC, ISO 8601; empty: unchanged since verification)"),
        "string",
    ),
}
ARM_ENTRIES: dict[str, Entry] = {
    "arm": ARM_CODE,
    "arm_label": Entry(_("Arm"), "string"),
    "order": Entry(_("Display order of the arm (the first arm is the reference of hazard ratios)"), "integer"),
    "regimen": Entry(_("Regimen"), "string"),
}


# --------------------------------------------------------------------------------------------
# Derived table (clinical definitions §3), with the study's settings quoted
# --------------------------------------------------------------------------------------------


def derived_entries(cfg: Mapping[str, Any]) -> dict[str, Entry]:
    scales = derivations.SCALES
    estimates = "; ".join(
        f"{device}: {json.dumps(formula)}" for device, formula in sorted(cfg["fio2_estimates"].items())
    )
    bands = derivations.ards_bands(cfg)
    severe, moderate = _num(bands.severe_below), _num(bands.moderate_max)

    def scale(identifier: str) -> Entry:
        meta = scales[identifier]
        return Entry(
            f"{meta.label} [{identifier}]",
            "integer",
            value_labels=_labels(dict(meta.value_labels)),
            derivation=f"Score of the day's state on scale {identifier} ({meta.direction.replace('_', ' ')}).",
        )

    return {
        KEY: PATIENT_ENTRIES[KEY],
        "study_day": Entry(gettext("Study day"), "integer", "days", derivation="Day 0 = enrolment."),
        "state": Entry(
            gettext("Clinical state of the day"),
            "string",
            value_labels=STATE_LABELS,
            derivation=(
                f"Rule '{cfg['day_state_rule']}' (study setting): the worst state recorded that day; death is "
                "absorbing; after discharge the discharged state carries forward until a later contact. Empty = "
                "unknown (see status_note)."
            ),
        ),
        "ordinal_7": scale(OrdinalScale.MILAN_7),
        "who_osci": scale(OrdinalScale.WHO_OSCI_8),
        "who_cps": scale(OrdinalScale.WHO_CPS_10),
        "status_note": Entry(gettext("Why the state or a score is unknown"), "string"),
        "fio2": Entry(
            gettext("FiO2 of the day"),
            "float",
            "fraction",
            "0.21 to 1",
            derivation=(
                f"Set on the device, else estimated (study setting): room air {_num(cfg['room_air_fio2'])}; "
                f"{estimates}. HFNC, CPAP, NIV, IMV and Venturi need the set FiO2."
            ),
        ),
        "fio2_estimated": Entry(
            gettext("FiO2 was estimated, not set on the device"),
            "boolean",
            derivation="true = fio2 is an estimate from the device and its flow; false = set or room air.",
        ),
        "sf_ratio": Entry(gettext("SpO2:FiO2 (lowest of the day)"), "float", derivation="SpO2 (%) / FiO2."),
        "pf_measured": Entry(
            gettext("PaO2:FiO2 measured (lowest of the day)"),
            "float",
            "mmHg",
            derivation="PaO2 (mmHg) / FiO2 at the gas.",
        ),
        "pf_derived": Entry(
            gettext("PaO2:FiO2 derived from SpO2:FiO2 (lowest of the day)"),
            "float",
            "mmHg",
            derivation=(
                "Rice et al., Chest 2007: P/F = (SpO2/FiO2 - 64) / 0.84; only for SpO2 <= "
                f"{_num(cfg['rice_max_spo2'])}% (study setting) and S/F > 64."
            ),
        ),
        "pf_derived_note": Entry(gettext("Why pf_derived is empty"), "string"),
        "pf": Entry(
            gettext("PaO2:FiO2 of the day"),
            "float",
            "mmHg",
            derivation="Lower of pf_measured and pf_derived (worst of day).",
        ),
        "pf_source": Entry(
            gettext("Source of pf"),
            "string",
            value_labels=(("measured", gettext("arterial blood gas")), ("derived", gettext("from SpO2:FiO2"))),
        ),
        "ards_severity": Entry(
            gettext("ARDS severity (Milan definitions)"),
            "string",
            value_labels=(
                ("none", f"P/F > {moderate}"),
                ("moderate", f"{severe} <= P/F <= {moderate}"),
                ("severe", f"P/F < {severe}"),
            ),
            derivation=f"From pf; thresholds are study settings (severe below {severe}, moderate up to {moderate}).",
        ),
        "sustained_benefit": Entry(
            gettext("Sustained clinical benefit (signal)"),
            "boolean",
            derivation=(
                f"CRP fallen >= {_num(100 * cfg['benefit_crp_fall_fraction'])}% from day 0 and P/F > "
                f"{_num(cfg['benefit_pf_above'])} for {cfg['benefit_consecutive_days']} consecutive days "
                "(study settings); never acted on automatically."
            ),
        ),
        "liver_enzymes_gt_3uln": Entry(
            gettext("AST or ALT above the liver threshold (signal)"),
            "boolean",
            derivation=f"AST or ALT > {_num(cfg['liver_uln_multiple'])} x the site's upper limit of normal.",
        ),
        "data_after_death": Entry(gettext("Source data recorded after death (signal)"), "boolean"),
        "algorithm_version": Entry(
            gettext("Version of the derivation algorithm"),
            "string",
            derivation="ecrf/derivations.py ALGORITHM_VERSION.",
        ),
    }


# --------------------------------------------------------------------------------------------
# Outcomes and arm tables (clinical definitions §4)
# --------------------------------------------------------------------------------------------


def course_entries(cfg: Mapping[str, Any]) -> dict[str, Entry]:
    """The patients' courses (clinical definitions §3.4), with the study's timing limits and horizon."""
    early, late, horizon = (
        _num(cfg["timing_early_max_hours"]),
        _num(cfg["timing_late_min_hours"]),
        cfg["course_horizon_days"],
    )
    basis = _labels(dict(courses.BASES))
    return {
        KEY: PATIENT_ENTRIES[KEY],
        "hours_to_anakinra": Entry(
            gettext("Hours from the oxygen criterion to the first anakinra dose"),
            "float",
            "h",
            derivation="First anakinra record's start time (else the start of its day) minus oxygen_criterion_at.",
        ),
        "timing_basis": Entry(gettext("What the hours rest on"), "string", value_labels=basis),
        "timing_group": Entry(
            gettext("Timing group of the first anakinra dose"),
            "string",
            value_labels=_labels(dict(courses.TIMING_GROUPS)),
            derivation=f"early: hours <= {early}; late: hours >= {late}; intermediate: between (study settings).",
        ),
        "imv_episodes": Entry(gettext("Episodes of invasive mechanical ventilation"), "integer"),
        "imv_days": Entry(
            gettext("Days of invasive mechanical ventilation"),
            "float",
            "days",
            derivation=f"Sum of the episodes' durations; an episode without an end runs to the death or day {horizon}.",
        ),
        "imv_days_basis": Entry(gettext("What the ventilation days rest on"), "string", value_labels=basis),
        "imv_ongoing": Entry(gettext("Last episode without an end"), "boolean"),
        "failed_extubations": Entry(
            gettext("Failed extubations"), "integer", derivation="Extubations followed by a re-intubation."
        ),
        "extubated": Entry(gettext("Last episode ended by extubation"), "boolean"),
        "ventilator_free_days": Entry(
            format_lazy(_("Ventilator-free days to day {day}"), day=horizon),
            "float",
            "days",
            derivation=f"0 if died before day {horizon}; else {horizon} minus the days on the ventilator (Yehya 2019).",
        ),
        "icu_free_days": Entry(
            format_lazy(_("ICU-free days to day {day}"), day=horizon),
            "float",
            "days",
            derivation=f"0 if died before day {horizon}; else {horizon} minus the days in the ICU.",
        ),
        "ny_response": Entry(
            gettext("New York response"),
            "boolean",
            derivation=(
                "Never on invasive ventilation, and on some day on room air or nasal cannula at <= "
                f"{_num(cfg['ny_response_max_flow_l_min'])} L/min."
            ),
        ),
        "ny_failure": Entry(gettext("New York failure (invasive mechanical ventilation)"), "boolean"),
        "died": Entry(gettext("Died"), "boolean"),
        "discharged": Entry(gettext("Discharged alive"), "boolean"),
        "algorithm_version": Entry(gettext("Derivation algorithm version"), "string"),
    }


def outcome_entries(horizon: int, bands: derivations.ArdsBands) -> dict[str, Entry]:
    """``bands``: the study's ARDS bands, the values of the pf_band columns."""
    entries = dict(PATIENT_ENTRIES)
    pf_band_labels = _labels({text: f"P/F {text}" for text in bands.texts.values()})
    censoring = (
        f"censored at {horizon} if discharged alive and confirmed alive at day {horizon}, otherwise at the last day "
        "known alive"
    )
    entries.update(
        {
            "os_time": Entry(
                gettext("Survival: time to death or censoring"), "integer", "days", derivation=censoring + "."
            ),
            "os_event": Entry(
                gettext("Survival: died by day %(day)s") % {"day": horizon},
                "boolean",
                derivation="true = death, false = censored.",
            ),
            "mvfs_time": Entry(
                gettext("Ventilation-free survival: time to first of death or invasive ventilation/ECMO"),
                "integer",
                "days",
                derivation=censoring + "; empty for patients excluded (on invasive ventilation at day 0).",
            ),
            "mvfs_event": Entry(
                gettext("Ventilation-free survival: event by day %(day)s") % {"day": horizon}, "boolean"
            ),
            "mvfs_excluded": Entry(
                gettext("Excluded from ventilation-free survival"),
                "boolean",
                derivation="On invasive ventilation at day 0.",
            ),
            "resp_improvement_d21": Entry(
                gettext("Respiratory improvement at day 21"),
                "boolean",
                derivation="7-point status <= 4, or status 5 with P/F > 200; empty when it cannot be decided.",
            ),
        }
    )
    for day in outcomes_module.SNAPSHOT_DAYS:
        entries.update(
            {
                f"state_d{day}": Entry(
                    gettext("Clinical state on day %(day)s") % {"day": day},
                    "string",
                    value_labels=STATE_LABELS,
                    derivation="Derived state of the day; death absorbing.",
                ),
                f"ordinal_d{day}": Entry(
                    gettext("7-point status on day %(day)s") % {"day": day},
                    "integer",
                    value_labels=_labels(dict(derivations.SCALES[OrdinalScale.MILAN_7].value_labels)),
                ),
                f"pf_d{day}": Entry(
                    gettext("PaO2:FiO2 on day %(day)s") % {"day": day}, "float", "mmHg", derivation="Never imputed."
                ),
                f"pf_band_d{day}": Entry(
                    gettext("P/F band on day %(day)s") % {"day": day},
                    "string",
                    value_labels=pf_band_labels,
                    derivation=(
                        f"ARDS severity of pf_d{day} as its P/F range; the bands are study settings, as for "
                        "derived_days.ards_severity."
                    ),
                ),
            }
        )
    for kind in outcomes_module.AE_KINDS:
        entries[f"ae_{kind}"] = Entry(
            gettext("Adverse event: %(event)s") % {"event": tables.AE_LABELS[kind]},
            "boolean",
            derivation=f"At least one by day {horizon}.",
        )
    return entries


_ENDPOINT = Entry(
    _("Endpoint"), "string", value_labels=(("os", _("survival")), ("mvfs", _("mechanical-ventilation-free survival")))
)
_ARM = Entry(_("Arm"), "string")
_N = Entry(_("Number of patients"), "integer")
_P = Entry(_("p value"), "float")
_NOTE = Entry(_("Note"), "string")
_PCT = Entry(_("Percent of the denominator"), "float", "%")
_TEXT = Entry(_("Displayed text"), "string")
ARM_TABLE_ENTRIES: dict[str, dict[str, Entry]] = {
    "km_summary": {
        "endpoint": _ENDPOINT,
        "arm_label": _ARM,
        "n": _N,
        "events": Entry(_("Number of events"), "integer"),
        "day": Entry(_("Day of the survival estimate"), "float", "days"),
        "survival": Entry(_("Kaplan-Meier survival"), "float", derivation="lifelines KaplanMeierFitter."),
        "ci_lower": Entry(_("95% CI lower bound"), "float", derivation="Exponential Greenwood."),
        "ci_upper": Entry(_("95% CI upper bound"), "float", derivation="Exponential Greenwood."),
        **{
            f"at_risk_d{d}": Entry(format_lazy(_("Number at risk on day {day}"), day=d), "integer")
            for d in (0, 7, 14, 21)
        },
    },
    "logrank": {
        "endpoint": _ENDPOINT,
        "comparison": Entry(
            _("Comparison"), "string", value_labels=(("overall", _("all arms")), ("pairwise", _("two arms")))
        ),
        "group_a": _ARM,
        "group_b": _ARM,
        "test_statistic": Entry(_("Log-rank chi-square"), "float"),
        "degrees_of_freedom": Entry(_("Degrees of freedom"), "integer"),
        "p_value": _P,
        "note": _NOTE,
    },
    "cox": {
        "endpoint": _ENDPOINT,
        "arm_label": _ARM,
        "reference": Entry(_("Reference arm"), "string"),
        "n": _N,
        "events": Entry(_("Number of events"), "integer"),
        "hr": Entry(_("Hazard ratio vs the reference arm"), "float", derivation="Cox model (lifelines, Efron ties)."),
        "ci_lower": Entry(_("95% CI lower bound"), "float"),
        "ci_upper": Entry(_("95% CI upper bound"), "float"),
        "p_value": _P,
        "note": _NOTE,
    },
    "baseline_table": {
        "variable": Entry(_("Variable"), "string"),
        "level": Entry(_("Level"), "string"),
        "arm": _ARM,
        "n": _N,
        "pct": _PCT,
        "median": Entry(_("Median"), "float"),
        "q1": Entry(_("First quartile"), "float"),
        "q3": Entry(_("Third quartile"), "float"),
        "text": _TEXT,
    },
    "ordinal_table": {
        "day": Entry(_("Study day"), "integer", "days"),
        "row": Entry(_("Row code"), "string"),
        "label": Entry(_("Row"), "string"),
        "parent": Entry(_("Parent row code (sub-rows)"), "string"),
        "arm": _ARM,
        "n": _N,
        "denominator": Entry(_("Patients of the arm"), "integer"),
        "pct": _PCT,
        "text": _TEXT,
    },
    "trajectories": {
        "variable": Entry(
            _("Variable"), "string", value_labels=(("crp_mg_l", _("CRP (mg/L)")), ("pf", "PaO2:FiO2 (mmHg)"))
        ),
        "arm_label": _ARM,
        "study_day": Entry(_("Study day"), "integer", "days"),
        "n": Entry(_("Number of values"), "integer"),
        "median": Entry(_("Median"), "float"),
        "q1": Entry(_("First quartile"), "float"),
        "q3": Entry(_("Third quartile"), "float"),
    },
    "adverse_event_table": {
        "row": Entry(_("Adverse event"), "string", value_labels=_labels(tables.AE_LABELS)),
        "label": Entry(_("Adverse event label"), "string"),
        "arm": _ARM,
        "n": _N,
        "denominator": Entry(_("Patients of the arm"), "integer"),
        "pct": _PCT,
        "text": _TEXT,
    },
    "case_series_table": {
        "row": Entry(_("Row code"), "string"),
        "label": Entry(_("Row"), "string"),
        "group": Entry(
            _("Timing group of the first anakinra dose"), "string", value_labels=_labels(dict(courses.TIMING_GROUPS))
        ),
        "n": Entry(_("Count, or number of values of a median row"), "integer"),
        "denominator": Entry(_("Patients of the group"), "integer"),
        "pct": _PCT,
        "median": Entry(_("Median"), "float"),
        "min": Entry(_("Minimum"), "float"),
        "max": Entry(_("Maximum"), "float"),
        "text": _TEXT,
    },
    "study_settings": {
        "setting": Entry(_("Study setting"), "string"),
        "value": Entry(_("Value used for this release (JSON)"), "string"),
        "default": Entry(_("Default value (JSON)"), "string"),
        "source": Entry(
            _("Where the value comes from"),
            "string",
            value_labels=(("default", _("default")), ("study", _("study override"))),
        ),
    },
    "codebook": {
        "table": Entry(_("Table (file or sheet name)"), "string"),
        "variable": Entry(_("Column name"), "string"),
        "label": Entry(_("Label"), "string"),
        "type": Entry(
            _("Type: string, integer, float or boolean"),
            "string",
            derivation=(
                "time: a clock time as text, ISO 8601 HH:MM with UTC offset at the site, on the study day its row "
                "gives (no date)."
            ),
        ),
        "unit": Entry(_("Unit"), "string"),
        "allowed_range": Entry(_("Allowed (hard) range; values outside are refused at entry"), "string"),
        "soft_range": Entry(_("Values that needed a confirmation at entry"), "string"),
        "value_labels": Entry(_("Value labels: code = label, separated by ' | '"), "string"),
        "sav_dta_codes": Entry(_("Integer codes of coded text in SPSS and Stata files"), "string"),
        "derivation": Entry(_("Derivation, source or note"), "string"),
        "xpt_dataset": Entry(_("SAS XPORT dataset name"), "string"),
        "xpt_name": Entry(_("SAS XPORT variable name"), "string"),
    },
}


# --------------------------------------------------------------------------------------------
# Study settings and the whole codebook
# --------------------------------------------------------------------------------------------


def derivation_overrides(study: Study) -> dict:
    """The study's overrides of the derivation settings (Study.settings["derivation"])."""
    return dict(study.settings.get("derivation", {}))


def study_settings_frame(study: Study) -> pd.DataFrame:
    """Every *study setting* (derivation, eligibility, follow-up, scale) with its value and default."""
    from analysis.datasets import typed_frame
    from cohorts.eligibility.engine import RULE_SETS

    overrides = derivation_overrides(study)
    effective = derivations.resolve_settings(overrides)
    rows = [
        ("follow_up_days", study.follow_up_days, 21, "study"),
        ("primary_scale", study.primary_scale, OrdinalScale.MILAN_7.value, "study"),
        ("protocol", study.protocol, "", "study"),
    ]
    rows += [
        (f"derivation.{key}", value, derivations.DEFAULT_SETTINGS[key], "study" if key in overrides else "default")
        for key, value in sorted(effective.items())
    ]
    eligibility_overrides = study.settings.get("eligibility", {})
    rows += [
        (
            f"eligibility.{key}",
            value,
            RULE_SETS[study.protocol].default_settings.get(key),
            "study" if key in eligibility_overrides else "default",
        )
        for key, value in sorted(study.eligibility_settings().items())
    ]
    encoded = [(name, _json(value), _json(default), source) for name, value, default, source in rows]
    return typed_frame(encoded, SETTINGS_COLUMNS)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def entries_for(table: str, study: Study) -> dict[str, Entry]:
    if table == "patients":
        return PATIENT_ENTRIES
    if table == "arms":
        return ARM_ENTRIES
    if table in SOURCE_FORMS:
        return form_entries(SOURCE_FORMS[table])
    if table == "fhir_provenance":
        return PROVENANCE_ENTRIES
    if table == "queries":
        return QUERY_ENTRIES
    if table == "freezes":
        return FREEZE_ENTRIES
    if table == "signatures":
        return SIGNATURE_ENTRIES
    if table == "source_verifications":
        return SDV_ENTRIES
    if table == "derived_days":
        return derived_entries(derivations.resolve_settings(derivation_overrides(study)))
    if table == "patient_courses":
        return course_entries(derivations.resolve_settings(derivation_overrides(study)))
    if table == "outcomes":
        return outcome_entries(outcomes_module.HORIZON_DAYS, derivations.ards_bands(derivation_overrides(study)))
    return ARM_TABLE_ENTRIES[table]


def short_names(names: list[str], width: int = 8) -> dict[str, str]:
    """SAS XPORT v5 names (at most 8 characters), unique and stable for a given column list.

    Short names are kept; longer ones take the first 3 letters of each word, then a number on a clash.
    """
    result: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        candidate = name if len(name) <= width else "".join(part[:3] for part in name.split("_"))[:width]
        number = 1
        base = candidate
        while candidate in taken:
            suffix = str(number)
            candidate = base[: width - len(suffix)] + suffix
            number += 1
        taken.add(candidate)
        result[name] = candidate
    return result


def _value_text(labels: tuple[tuple[Any, str | Promise], ...]) -> str:
    """'code = label | ...' with each label as text in the active language."""
    return SEPARATOR.join(f"{code} = {label!s}" for code, label in labels)


def sav_dta_codes(entry: Entry) -> dict[int, Any]:
    """SPSS/Stata store coded text as integers 1..k in the order of the value labels."""
    if entry.type != "string" or not entry.value_labels:
        return {}
    return {number: code for number, (code, _) in enumerate(entry.value_labels, start=1)}


def study_code_labels(study: Study, arms: pd.DataFrame) -> dict[Entry, tuple[tuple[Any, str], ...]]:
    """Value labels of the study's own codes: the arms in display order (``arms``: the arms table), the sites
    of the study (and of any of its patients) by code."""
    sites = (
        Site.objects.filter(Q(studies=study) | Q(patients__study=study))
        .distinct()
        .order_by("code")
        .values_list("code", "name")
    )
    return {
        ARM_CODE: _labels(list(zip(arms["arm"].astype(object), arms["arm_label"].astype(object), strict=True))),
        SITE_CODE: _labels(list(sites)),
    }


def codebook_frame(study: Study, frames: Mapping[str, pd.DataFrame], arm_labels: list[str]) -> pd.DataFrame:
    """One row per column of every table in ``frames``; a column without an entry is a programming error."""
    from analysis.datasets import typed_frame

    study_codes = study_code_labels(study, frames["arms"])
    rows = []
    frames = {**frames, "codebook": pd.DataFrame(columns=CODEBOOK_COLUMNS)}  # it documents itself too
    datasets = short_names(list(frames))
    for table, frame in frames.items():
        entries = entries_for(table, study)
        missing = [c for c in frame.columns if c not in entries]
        if missing:
            raise KeyError(f"codebook: no entry for {table}.{', '.join(missing)}")
        xpt = short_names(list(frame.columns))
        for column in frame.columns:
            entry = entries[column]
            if entry is ARM_CODE or entry is SITE_CODE:
                entry = Entry(**{**entry.__dict__, "value_labels": study_codes[entry]})
            if column in {"arm_label"} and not entry.value_labels:
                entry = Entry(
                    **{**entry.__dict__, "derivation": entry.derivation or "One of: " + "; ".join(arm_labels)}
                )
            codes = sav_dta_codes(entry)
            rows.append(
                (
                    table,
                    column,
                    str(entry.label),  # a lazy label in the active language (the study's)
                    entry.type,
                    entry.unit,
                    entry.allowed_range,
                    entry.soft_range,
                    _value_text(entry.value_labels),
                    SEPARATOR.join(f"{n} = {code}" for n, code in codes.items()),
                    entry.derivation,
                    datasets[table],
                    xpt[column],
                )
            )
    return typed_frame(rows, dict.fromkeys(CODEBOOK_COLUMNS, "string"))
