"""The catalogue of case report forms: one entry per form, and the one place every other module learns about them.

Services, validators, forms, selectors, views, the importer, the derivation job, signal receivers, the admin and
the analysis app's release tables and codebook all read this catalogue instead of naming the forms themselves.
Adding a daily form is: a model in ecrf/models.py (with its history and named constraints), its limits in the
one limits table, its rules in ecrf/validators.py and one entry here (docs/architecture.md, "Adding a form").

A form's ``key`` is its one name: the release table and import file name, the prefix of its fields on the entry
page, its key in every mapping. ``slug`` is only its URL segment.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Any, NamedTuple

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ecrf import checks, validators
from ecrf.checks import Issue
from ecrf.models import (
    LABORATORY_LIMITS,
    RESPIRATORY_SUPPORT_LIMITS,
    VITAL_SIGNS_LIMITS,
    AdverseEvent,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VentilationEpisode,
    VitalSigns,
    limit_rows,
)

#: The suffix of a value's missing-data code column in release tables and imports (temperature_c_mc).
CODE_COLUMN_SUFFIX = "_mc"
#: The day field a record's time lies on (clinical definitions §2.3); every other time lies on the study day.
TIME_DAYS: Mapping[str, str] = MappingProxyType({"stopped_at": "stop_day", "ended_at": "end_day"})

Validator = Callable[[Mapping[str, Any], validators.PatientFacts], list[Issue]]


class Record(NamedTuple):
    """One record as Crf.issues_each takes it."""

    values: Mapping[str, Any]
    facts: validators.PatientFacts
    missing_codes: Mapping[str, str] | None = None
    #: None: the record is not marked "not done".
    not_done_reason: str | None = None


@dataclass(frozen=True, eq=False)  # one object per form: compared and hashed by identity
class Crf:
    """One case report form."""

    key: str
    model: type[models.Model]
    #: The form's name on the pages: a lazy translation (str() it where a plain string is needed).
    label: str | Promise
    slug: str
    #: True: at most one record per patient and study day, entered together on the day page. False: repeating
    #: records (drugs, events), each with its own study day field and page.
    per_day: bool
    #: The fields the form writes, in the order of the page.
    fields: tuple[str, ...]
    #: Its own cross-field rules (ecrf/validators.py); ranges come from ``limits``.
    validator: Validator
    #: Field -> name of its row in the limits table, for every field with a plausibility range.
    limits: Mapping[str, str] = field(default_factory=dict)
    #: Fields that are not observations (units, the site's ULN, the D-dimer basis): a record with only these
    #: filled in is empty and stores nothing.
    not_values: frozenset[str] = frozenset()
    #: Values every stored record needs unless the form is marked not done that day (the respiratory support's
    #: level), with the message that asks for it (a lazy translation). They take no missing-data code.
    required: Mapping[str, str | Promise] = field(default_factory=dict)
    #: Crispy layout: a field name per row, or a tuple of names sharing a row. Empty: one row per field.
    layout: tuple = ()
    #: Name of the source frame this form gives ecrf/derivations.derive and the columns it reads, or None when
    #: the derivation does not read it. A save of a form with ``triggers_derivation`` recomputes the patient.
    derivation_frame: str | None = None
    derivation_columns: tuple[str, ...] = ()
    triggers_derivation: bool = True
    #: LOINC code -> field, for the values pulled from the hospital's FHIR server (the fhir app): an Observation
    #: with one of these codes (or a component with one, as in the blood-pressure panel) proposes that field.
    loinc: Mapping[str, str] = field(default_factory=dict)
    #: LOINC code -> values of other fields that its code implies (the D-dimer basis of an FEU or DDU code).
    loinc_implies: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: The heading of a repeating form's column in the casebook ("Drugs"); empty: its label.
    heading: str | Promise = ""
    #: The critical fields a monitor verifies against source under an SDV plan of "critical fields" (the
    #: cleaning app's source data verification): the values the outcomes and the derivation rest on.
    critical: tuple[str, ...] = ()

    @cached_property  # a frozen entry: computed once (the import asks for it on every row)
    def value_fields(self) -> tuple[str, ...]:
        return tuple(name for name in self.fields if name not in self.not_values)

    @cached_property
    def code_fields(self) -> tuple[str, ...]:
        """The value fields that may hold a missing-data code instead of a value (clinical definitions §2.2): those
        a record may leave empty. Not the study day of a repeating form, not a value every record needs (the
        catalogue's ``required``, or one the model requires, such as a drug's dose) and not a yes/no box that is
        either ticked or not."""
        return tuple(
            name
            for name in self.value_fields
            if name != "study_day" and name not in self.required and _may_be_empty(self.model._meta.get_field(name))
        )

    @cached_property
    def code_columns(self) -> Mapping[str, str]:
        """Value field -> its code column (``<field>_mc``) in the release tables and the CSV import: every value a
        record may lack for a reason. That is its code fields and, on a one-per-day form, every value: a form marked
        not done codes them all ``not_done`` there."""
        names = self.value_fields if self.per_day else self.code_fields
        return MappingProxyType({name: f"{name}{CODE_COLUMN_SUFFIX}" for name in names})

    @property
    def time_days(self) -> dict[str, str]:
        """Each time of the form -> the day field it lies on (TIME_DAYS)."""
        return {
            name: TIME_DAYS.get(name, "study_day")
            for name in self.fields
            if isinstance(self.model._meta.get_field(name), models.DateTimeField)
        }

    @property
    def history_name(self) -> str:
        """The model's name in the audit-trail URL (/history/ecrf.<model>/<pk>/)."""
        return self.model._meta.label_lower

    def is_empty(
        self,
        values: Mapping[str, Any],
        missing_codes: Mapping[str, str] | None = None,
        not_done_reason: str | None = None,
    ) -> bool:
        """Whether a record would hold nothing: no value, no missing-data code and not marked not done
        (``not_done_reason`` None: not marked; a text, even blank: marked)."""
        if missing_codes or not_done_reason is not None:
            return False
        return all(map(validators.is_blank, map(values.get, self.value_fields)))

    def issues(
        self,
        values: Mapping[str, Any],
        facts: validators.PatientFacts,
        *,
        missing_codes: Mapping[str, str] | None = None,
        not_done_reason: str | None = None,
    ) -> list[Issue]:
        """Every issue of one record: its study day (repeating forms), its missing-data codes or its mark "not done"
        (``not_done_reason`` None: not marked), its ranges, then its own rules. A field out of range gets no further
        issue: its first problem is the one the user sees."""
        ranges = validators.range_issues(self.limits, values)
        day = None if self.per_day else values.get("study_day")
        return self._issues(
            values,
            facts,
            missing_codes or {},
            not_done_reason,
            ranges,
            [] if day is None else validators.day_issues(day, facts),
        )

    def issues_each(self, records: Sequence[Record]) -> list[list[Issue]]:
        """``issues`` of each of many records (values, facts, missing codes, not done reason), in their order, for
        the services that create many at once: the ranges and the study days checked over all of them at once
        (validators.range_issues_each, day_issues_each); the form's own rules record by record."""
        ranges = validators.range_issues_each(self.limits, [record.values for record in records])
        dated = [] if self.per_day else [p for p, r in enumerate(records) if r.values.get("study_day") is not None]
        days: list[list[Issue]] = [[] for _ in records]
        found = validators.day_issues_each(
            [records[p].values["study_day"] for p in dated], [records[p].facts for p in dated]
        )
        for position, issues in zip(dated, found, strict=True):
            days[position] = issues
        return [
            self._issues(r.values, r.facts, r.missing_codes or {}, r.not_done_reason, found, day)
            for r, found, day in zip(records, ranges, days, strict=True)
        ]

    def _issues(
        self,
        values: Mapping[str, Any],
        facts: validators.PatientFacts,
        missing_codes: Mapping[str, str],
        not_done_reason: str | None,
        ranges: list[Issue],
        day: list[Issue],
    ) -> list[Issue]:
        """``issues`` with the record's range findings (of every field with a limit) and study day findings."""
        issues = validators.missing_data_issues(
            values,
            missing_codes,
            not_done_reason,
            value_fields=self.value_fields,
            code_fields=self.code_fields,
            per_day=self.per_day,
            labels=self.labels if missing_codes or not_done_reason is not None else None,  # names fields with codes
        )
        if not_done_reason is not None:  # marked not done: no value to check, but what is kept beside them is
            return day + issues + [issue for issue in ranges if issue.field not in self.value_fields]
        issues += ranges
        out_of_range = {issue.field for issue in issues}
        issues += [issue for issue in self.validator(values, facts) if issue.field not in out_of_range]
        if missing_codes:  # a record of codes only is stored too: what every record needs, it needs as well
            flagged = {issue.field for issue in issues}
            issues += [
                Issue(name, checks.HARD, f"{name}.required", str(message))
                for name, message in self.required.items()
                if name not in flagged and name not in missing_codes and validators.is_blank(values.get(name))
            ]
        return day + issues

    @property
    def labels(self) -> dict[str, str]:
        """Field -> its name for messages ("temperature", "FiO2 set on the device"), from the model."""
        return {name: _label(self.model._meta.get_field(name).verbose_name) for name in self.fields}

    def __str__(self) -> str:
        return self.key


def _may_be_empty(model_field: models.Field) -> bool:
    if isinstance(model_field, models.BooleanField):
        return model_field.null  # yes / no / not recorded; a box without "not recorded" is ticked or not
    return model_field.null or model_field.blank


def _label(verbose_name) -> str:
    """'temperature (°C)' -> 'temperature'."""
    return str(verbose_name).split(" (")[0]


def _loinc(**codes: tuple[str, ...]) -> dict[str, str]:
    """``spo2_pct=("59408-5", "2708-6")`` -> {"59408-5": "spo2_pct", "2708-6": "spo2_pct"}."""
    return {code: name for name, field_codes in codes.items() for code in field_codes}


CATALOGUE: Mapping[str, Crf] = MappingProxyType(
    {
        crf.key: crf
        for crf in (
            Crf(
                key="vital_signs",
                model=VitalSigns,
                label=gettext_lazy("Vital signs"),
                slug="vital-signs",
                per_day=True,
                fields=(
                    "temperature_c",
                    "heart_rate_bpm",
                    "respiratory_rate_bpm",
                    "systolic_mmhg",
                    "diastolic_mmhg",
                    "spo2_pct",
                ),
                limits=VITAL_SIGNS_LIMITS,
                validator=validators.vital_signs,
                layout=(
                    "temperature_c",
                    "heart_rate_bpm",
                    "respiratory_rate_bpm",
                    ("systolic_mmhg", "diastolic_mmhg"),
                    "spo2_pct",
                ),
                derivation_frame="vitals",
                derivation_columns=("spo2_pct",),
                critical=("respiratory_rate_bpm", "spo2_pct"),
                # 59408-5 SpO2 by pulse oximetry, with 2708-6 (SaO2) that FHIR's vital-signs profile puts beside it.
                loinc=_loinc(
                    temperature_c=("8310-5",),
                    heart_rate_bpm=("8867-4",),
                    respiratory_rate_bpm=("9279-1",),
                    systolic_mmhg=("8480-6",),
                    diastolic_mmhg=("8462-4",),
                    spo2_pct=("59408-5", "2708-6"),
                ),
            ),
            Crf(
                key="respiratory_support",
                model=RespiratorySupport,
                label=gettext_lazy("Respiratory support"),
                slug="respiratory-support",
                per_day=True,
                fields=(
                    "support",
                    "flow_l_min",
                    "fio2",
                    "peep_cmh2o",
                    "niv_hours",
                    "ecmo",
                    "prone",
                    "vasopressors",
                    "rrt",
                ),
                limits=RESPIRATORY_SUPPORT_LIMITS,
                validator=validators.respiratory_support,
                required={"support": validators.SUPPORT_REQUIRED},
                layout=(
                    "support",
                    "flow_l_min",
                    "fio2",
                    "peep_cmh2o",
                    "niv_hours",
                    ("ecmo", "prone"),
                    ("vasopressors", "rrt"),
                ),
                derivation_frame="support",
                derivation_columns=("support", "flow_l_min", "fio2", "ecmo", "vasopressors", "rrt"),
                critical=("support", "flow_l_min", "fio2", "ecmo", "vasopressors", "rrt"),
            ),
            Crf(
                key="laboratory",
                model=LabResult,
                label=gettext_lazy("Laboratory"),
                slug="laboratory",
                per_day=True,
                fields=(
                    "pao2_mmhg",
                    "pao2_entered_unit",
                    "abg_fio2",
                    "crp_mg_l",
                    "crp_entered_unit",
                    "ferritin_ng_ml",
                    "ldh_u_l",
                    "ast_u_l",
                    "ast_uln_u_l",
                    "alt_u_l",
                    "alt_uln_u_l",
                    "lymphocytes_10e9_l",
                    "ddimer_ng_ml",
                    "ddimer_basis",
                    "procalcitonin_ng_ml",
                ),
                limits=LABORATORY_LIMITS,
                not_values=frozenset(
                    {"pao2_entered_unit", "crp_entered_unit", "ast_uln_u_l", "alt_uln_u_l", "ddimer_basis"}
                ),
                validator=validators.laboratory,
                layout=(
                    "pao2_mmhg",
                    "abg_fio2",
                    "crp_mg_l",
                    "ferritin_ng_ml",
                    "ldh_u_l",
                    ("ast_u_l", "ast_uln_u_l"),
                    ("alt_u_l", "alt_uln_u_l"),
                    "lymphocytes_10e9_l",
                    ("ddimer_ng_ml", "ddimer_basis"),
                    "procalcitonin_ng_ml",
                ),
                derivation_frame="labs",
                derivation_columns=(
                    "pao2_mmhg",
                    "abg_fio2",
                    "crp_mg_l",
                    "ast_u_l",
                    "alt_u_l",
                    "ast_uln_u_l",
                    "alt_uln_u_l",
                ),
                # 3150-0 (inhaled oxygen concentration) is the FiO2 the blood-gas report carries with the PaO2;
                # the device's FiO2 (respiratory support) needs the level of support, which no code here gives.
                loinc=_loinc(
                    pao2_mmhg=("2703-7",),
                    abg_fio2=("3150-0",),
                    crp_mg_l=("1988-5",),
                    ferritin_ng_ml=("2276-4",),
                    ldh_u_l=("2532-0",),
                    ast_u_l=("1920-8",),
                    alt_u_l=("1742-6",),
                    lymphocytes_10e9_l=("731-0",),
                    ddimer_ng_ml=("48065-7", "48066-5"),
                    procalcitonin_ng_ml=("33959-8",),
                ),
                loinc_implies={"48065-7": {"ddimer_basis": "FEU"}, "48066-5": {"ddimer_basis": "DDU"}},
                critical=("pao2_mmhg", "abg_fio2", "crp_mg_l"),
            ),
            Crf(
                key="drug_administration",
                model=DrugAdministration,
                label=gettext_lazy("Drug administration"),
                slug="drugs",
                per_day=False,
                fields=(
                    "study_day",
                    "started_at",
                    "drug",
                    "drug_detail",
                    "dose",
                    "dose_unit",
                    "route",
                    "frequency",
                    "stop_day",
                    "stopped_at",
                ),
                limits=limit_rows("dose"),
                validator=validators.drug_administration,
                layout=(
                    ("study_day", "started_at"),
                    ("stop_day", "stopped_at"),
                    ("drug", "drug_detail"),
                    ("dose", "dose_unit"),
                    ("route", "frequency"),
                ),
                critical=("study_day", "started_at", "drug", "dose", "dose_unit", "route", "stop_day"),
                heading=gettext_lazy("Drugs"),
                # The derivation's patient course reads the drugs (time to the first anakinra dose).
            ),
            Crf(
                key="disposition_events",
                model=DispositionEvent,
                label=gettext_lazy("Disposition event"),
                slug="dispositions",
                per_day=False,
                fields=("study_day", "occurred_at", "kind", "normal_activities", "alive", "cause_of_death"),
                validator=validators.disposition_event,
                layout=(("study_day", "occurred_at"), "kind", ("normal_activities", "alive"), "cause_of_death"),
                derivation_frame="events",
                # occurred_at: the patient's course (ecrf/courses.py) reads the events' times from the same frame.
                derivation_columns=("kind", "normal_activities", "alive", "occurred_at"),
                critical=("study_day", "kind", "alive"),
                heading=gettext_lazy("Disposition"),
            ),
            Crf(
                key="ventilation_episodes",
                model=VentilationEpisode,
                label=gettext_lazy("Ventilation episode"),
                slug="ventilation",
                per_day=False,
                fields=("study_day", "intubated_at", "end_day", "ended_at", "end_reason"),
                validator=validators.ventilation_episode,
                layout=(("study_day", "intubated_at"), ("end_day", "ended_at"), "end_reason"),
                critical=("study_day", "intubated_at", "end_day", "ended_at", "end_reason"),
                heading=gettext_lazy("Invasive ventilation"),
                # The derivation's patient course reads the episodes (ventilation days, extubations).
            ),
            Crf(
                key="adverse_events",
                model=AdverseEvent,
                label=gettext_lazy("Adverse event"),
                slug="adverse-events",
                per_day=False,
                fields=("study_day", "kind", "organism", "description", "serious"),
                validator=validators.adverse_event,
                layout=("study_day", "kind", "organism", "description", "serious"),
                critical=("study_day", "kind", "serious"),
                heading=gettext_lazy("Adverse events"),
                # The derivation does not read them, but the release's staleness check counts them (analysis).
            ),
        )
    }
)

#: The one-per-day forms of the day page, in page order; and the repeating forms.
DAY_FORMS: Mapping[str, Crf] = MappingProxyType({k: c for k, c in CATALOGUE.items() if c.per_day})
EVENT_FORMS: Mapping[str, Crf] = MappingProxyType({k: c for k, c in CATALOGUE.items() if not c.per_day})
_BY_MODEL = {crf.model: crf for crf in CATALOGUE.values()}
_BY_SLUG = {crf.slug: crf for crf in CATALOGUE.values()}


def display_value(record, name: str, zone: datetime.tzinfo | None = None) -> str:
    """A stored value as the pages show it: "" when there is none, yes/no, a decimal without trailing zeros, the
    label of a code, a time as the clock time at the site (``zone``; without it, in UTC and saying so)."""
    value = getattr(record, name, None) if record is not None else None
    if value is None or value == "":
        return ""
    if isinstance(value, datetime.datetime):
        if zone is None:
            return f"{value.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC"
        return checks.time_text(value, zone)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        return checks.format_number(value)
    choices = dict(record._meta.get_field(name).flatchoices or ())
    return str(choices.get(value, value))


def crf_of(model: type[models.Model]) -> Crf:
    """The catalogue entry of a form's model; KeyError for a model that is not a case report form."""
    return _BY_MODEL[model]


def is_not_done(record) -> bool:
    """Whether a stored record of a form is marked not done for its day (ecrf.models.PatientDayRecord)."""
    return record is not None and record.marked_not_done


def event_form_of_slug(slug: str) -> Crf | None:
    """The repeating form at a URL slug, or None."""
    crf = _BY_SLUG.get(slug)
    return crf if crf is not None and not crf.per_day else None
