"""Daily case report forms (clinical definitions §2) and the derived patient-day table (clinical definitions §3).

One record per patient, study day and one-per-day form (unique constraint); drug administrations, disposition
events and adverse events may be several per day. Values are stored in the canonical unit named in the field;
the unit a value was typed in is kept next to it where the form accepts several. Hard limits of cohorts/limits.py
are also database constraints (defence in depth: an import or a shell session cannot store nonsense either).
"""

import uuid
from collections.abc import Iterable

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from cohorts.constraints import dose_range, hard_range
from cohorts.jobs import JobStatus, one_pending_per_study
from cohorts.models import Patient
from cohorts.units import DDIMER_BASIS_LABELS


def dec(max_digits: int, places: int, label: str) -> models.DecimalField:
    return models.DecimalField(label, max_digits=max_digits, decimal_places=places, null=True, blank=True)


def small(label: str) -> models.SmallIntegerField:
    return models.SmallIntegerField(label, null=True, blank=True)


def limit_rows(*fields: str) -> dict[str, str]:
    """Field -> its row of the limits table: ``"niv_hours:hours_on_niv"`` -> {"niv_hours": "hours_on_niv"}; a bare
    name is its own row's name."""
    return {name: limit or name for name, _, limit in (text.partition(":") for text in fields)}


def hard_ranges(model: str, limits: dict[str, str]) -> list[models.CheckConstraint]:
    """The hard-range CHECK constraint of every field of a form's ``limits`` (``<model>_<field>_hard_range``)."""
    return [hard_range(model, field, None if limit == field else limit) for field, limit in limits.items()]


# Every number of a daily form with a plausible range, and its row of the limits table (cohorts/limits.py): the
# CHECK constraints below and the forms' range checks (ecrf/crfs.py) read these maps.
VITAL_SIGNS_LIMITS = limit_rows(
    "temperature_c", "heart_rate_bpm", "respiratory_rate_bpm", "systolic_mmhg", "diastolic_mmhg", "spo2_pct"
)
RESPIRATORY_SUPPORT_LIMITS = limit_rows("flow_l_min", "fio2", "peep_cmh2o", "niv_hours:hours_on_niv")
LABORATORY_LIMITS = limit_rows(
    "pao2_mmhg",
    "abg_fio2:fio2",
    "crp_mg_l",
    "ferritin_ng_ml",
    "ldh_u_l",
    "ast_u_l",
    "alt_u_l",
    "lymphocytes_10e9_l",
    "procalcitonin_ng_ml",
    "ddimer_ng_ml",
    "ast_uln_u_l",
    "alt_uln_u_l",
)
#: The laboratory's observations: its limited fields but the upper limits of normal (reference values of the site).
LABORATORY_VALUES = tuple(name for name in LABORATORY_LIMITS if not name.endswith("_uln_u_l"))


class MissingCode(models.TextChoices):
    """Why a value of a form is not there (clinical definitions §2.2): given instead of the value, so that an empty
    field without a code means truly missing."""

    NOT_DONE = "not_done", _("Not done")
    UNKNOWN = "unknown", _("Unknown")
    NOT_APPLICABLE = "not_applicable", _("Not applicable")


#: The short form of each code, as the pages show it and a CSV import cell may hold it (docs/import-format.md).
MISSING_CODE_ABBREVIATIONS = {
    MissingCode.NOT_DONE: "ND",
    MissingCode.UNKNOWN: "UNK",
    MissingCode.NOT_APPLICABLE: "NA",
}


class PatientDayRecord(models.Model):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    study_day = models.SmallIntegerField(_("study day"), help_text=_("Day 0 = enrolment."))
    # Codes of the soft checks (ecrf/checks.py) the user confirmed for the values as saved.
    confirmed_checks = models.JSONField(default=list, blank=True)
    # Value field -> MissingCode value: why that value is not there. A field with a code holds no value; only the
    # form's fields that may be left empty take one (the catalogue's code_fields, ecrf/crfs.py).
    # The database defaults too (no code, not marked), so that rows loaded without them (bench/) mean just that.
    missing_codes = models.JSONField(
        _("missing-data codes"), default=dict, db_default=models.Value({}, output_field=models.JSONField()), blank=True
    )
    # Non-empty: the whole form was marked not done that day, for this reason (one-per-day forms only); such a
    # record holds no value and no code.
    not_done_reason = models.CharField(
        _("reason the form was not done"), max_length=200, blank=True, default="", db_default=""
    )
    version = models.PositiveIntegerField(default=1, editable=False)  # optimistic locking, see cohorts/audit.py
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return gettext("%(form)s of %(patient)s on day %(day)s") % {
            "form": self._meta.verbose_name,
            "patient": self.patient,
            "day": self.study_day,
        }

    @property
    def marked_not_done(self) -> bool:
        """Whether the whole form was marked not done that day (with its reason, ``not_done_reason``)."""
        return bool(self.not_done_reason)


def _empty(nulls: Iterable[str] = (), falses: Iterable[str] = (), blanks: Iterable[str] = ()) -> Q:
    """Every listed field empty: NULL, False (a yes/no box not ticked) or "" (text, a choice not made)."""
    condition = Q()
    for name in nulls:
        condition &= Q(**{f"{name}__isnull": True})
    for name in falses:
        condition &= Q(**{name: False})
    for name in blanks:
        condition &= Q(**{name: ""})
    return condition


def not_done_holds_nothing(
    model: str, nulls: Iterable[str] = (), falses: Iterable[str] = (), blanks: Iterable[str] = ()
) -> models.CheckConstraint:
    """``<model>_not_done_holds_nothing``: a record marked not done has no value (the form's value fields, listed
    by how each is empty) and no missing-data code."""
    return models.CheckConstraint(
        condition=Q(not_done_reason="") | (_empty(nulls, falses, blanks) & Q(missing_codes={})),
        name=f"{model}_not_done_holds_nothing",
    )


def coded_fields_empty(model: str, nulls: Iterable[str] = (), blanks: Iterable[str] = ()) -> models.CheckConstraint:
    """``<model>_coded_fields_empty``: a field with a missing-data code holds no value (the fields that take a
    code, listed by how each is empty)."""
    condition = Q()
    for name, empty in [*((n, Q(**{f"{n}__isnull": True})) for n in nulls), *((n, Q(**{n: ""})) for n in blanks)]:
        condition &= ~Q(missing_codes__has_key=name) | empty
    return models.CheckConstraint(condition=condition, name=f"{model}_coded_fields_empty")


def never_not_done(model: str) -> models.CheckConstraint:
    """``<model>_never_not_done``: a repeating form's record is never marked not done (it is deleted instead)."""
    return models.CheckConstraint(condition=Q(not_done_reason=""), name=f"{model}_never_not_done")


class VitalSigns(PatientDayRecord):
    temperature_c = dec(4, 1, _("temperature (°C)"))
    heart_rate_bpm = small(_("heart rate (/min)"))
    respiratory_rate_bpm = small(_("respiratory rate (/min)"))
    systolic_mmhg = small(_("systolic BP (mmHg)"))
    diastolic_mmhg = small(_("diastolic BP (mmHg)"))
    spo2_pct = small(_("SpO2 (%)"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("vital signs")
        verbose_name_plural = _("vital signs")
        constraints = [
            models.UniqueConstraint(fields=["patient", "study_day"], name="vitals_one_per_patient_day"),
            *hard_ranges("vitals", VITAL_SIGNS_LIMITS),
            models.CheckConstraint(
                condition=Q(systolic_mmhg__isnull=True)
                | Q(diastolic_mmhg__isnull=True)
                | Q(diastolic_mmhg__lt=F("systolic_mmhg")),
                name="vitals_diastolic_below_systolic",
            ),
            not_done_holds_nothing("vitals", nulls=VITAL_SIGNS_LIMITS),
            coded_fields_empty("vitals", nulls=VITAL_SIGNS_LIMITS),
        ]


class Support(models.TextChoices):
    """Respiratory support, the highest level of the day (clinical definitions §2)."""

    ROOM_AIR = "room_air", _("Room air")
    NASAL_CANNULA = "nasal_cannula", _("Low-flow: nasal cannula")
    SIMPLE_MASK = "simple_mask", _("Low-flow: simple mask")
    VENTURI = "venturi", _("Low-flow: Venturi mask")
    NON_REBREATHER = "non_rebreather", _("Low-flow: non-rebreather mask")
    HFNC = "hfnc", _("High-flow nasal cannula")
    CPAP = "cpap", "CPAP"
    NIV = "niv", _("Non-invasive ventilation (BiPAP)")
    IMV = "imv", _("Invasive mechanical ventilation")


#: The yes/no boxes of the respiratory-support form (not ticked: no).
SUPPORT_FLAGS = ("ecmo", "prone", "vasopressors", "rrt")


class RespiratorySupport(PatientDayRecord):
    # Required: blank only on a record marked not done (support_needs_level_unless_not_done).
    support = models.CharField(_("support"), max_length=16, choices=Support.choices, blank=True)
    flow_l_min = dec(4, 1, _("O2 flow (L/min)"))
    fio2 = dec(3, 2, _("FiO2 set on the device (fraction)"))
    peep_cmh2o = dec(4, 1, _("PEEP (cmH2O)"))
    niv_hours = dec(3, 1, _("hours on NIV/CPAP that day"))
    ecmo = models.BooleanField("ECMO", default=False)
    prone = models.BooleanField(_("prone position"), default=False)
    vasopressors = models.BooleanField(_("vasopressors"), default=False)
    rrt = models.BooleanField(_("renal replacement therapy"), default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("respiratory support")
        verbose_name_plural = _("respiratory support")
        constraints = [
            models.UniqueConstraint(fields=["patient", "study_day"], name="support_one_per_patient_day"),
            models.CheckConstraint(condition=Q(support__in=[*Support.values, ""]), name="support_valid"),
            models.CheckConstraint(
                condition=~Q(support="") | ~Q(not_done_reason=""), name="support_needs_level_unless_not_done"
            ),
            *hard_ranges("support", RESPIRATORY_SUPPORT_LIMITS),
            models.CheckConstraint(
                condition=~Q(support="room_air") | Q(fio2__isnull=True) | Q(fio2=0.21),
                name="support_room_air_fio2_021",
            ),
            models.CheckConstraint(
                condition=~Q(support__in=["cpap", "niv", "imv"])
                | (Q(fio2__isnull=False) & Q(peep_cmh2o__isnull=False)),
                name="support_pressure_needs_fio2_peep",
            ),
            not_done_holds_nothing(
                "support", nulls=RESPIRATORY_SUPPORT_LIMITS, falses=SUPPORT_FLAGS, blanks=("support",)
            ),
            coded_fields_empty("support", nulls=RESPIRATORY_SUPPORT_LIMITS),
        ]


class LabResult(PatientDayRecord):
    pao2_mmhg = dec(5, 1, _("PaO2 (mmHg)"))
    pao2_entered_unit = models.CharField(_("PaO2 unit as typed"), max_length=8, default="mmHg", blank=True)
    abg_fio2 = dec(3, 2, _("FiO2 at the blood gas (fraction)"))
    crp_mg_l = dec(6, 1, _("CRP (mg/L)"))
    crp_entered_unit = models.CharField(_("CRP unit as typed"), max_length=8, default="mg/L", blank=True)
    ferritin_ng_ml = dec(8, 1, _("ferritin (ng/mL)"))
    ldh_u_l = dec(7, 1, _("LDH (U/L)"))
    ast_u_l = dec(7, 1, _("AST (U/L)"))
    alt_u_l = dec(7, 1, _("ALT (U/L)"))
    ast_uln_u_l = dec(6, 1, _("AST upper limit of normal (U/L)"))
    alt_uln_u_l = dec(6, 1, _("ALT upper limit of normal (U/L)"))
    lymphocytes_10e9_l = dec(5, 2, _("lymphocytes (10^9/L)"))
    ddimer_ng_ml = dec(8, 1, _("D-dimer (ng/mL)"))
    # D-dimer assays report FEU or DDU; the two are never converted into each other (clinical definitions §2). The
    # bases and their labels are the one table of cohorts/units.py, which the screening form reads too.
    ddimer_basis = models.CharField(_("D-dimer basis"), max_length=3, choices=DDIMER_BASIS_LABELS, blank=True)
    procalcitonin_ng_ml = dec(6, 2, _("procalcitonin (ng/mL)"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("laboratory results")
        verbose_name_plural = _("laboratory results")
        constraints = [
            models.UniqueConstraint(fields=["patient", "study_day"], name="labs_one_per_patient_day"),
            *hard_ranges("labs", LABORATORY_LIMITS),
            models.CheckConstraint(
                condition=Q(ddimer_ng_ml__isnull=True) | ~Q(ddimer_basis=""), name="labs_ddimer_needs_basis"
            ),
            not_done_holds_nothing("labs", nulls=LABORATORY_VALUES),
            coded_fields_empty("labs", nulls=LABORATORY_VALUES),
        ]


class Drug(models.TextChoices):
    ANAKINRA = "anakinra", _("Anakinra")
    HYDROXYCHLOROQUINE = "hydroxychloroquine", _("Hydroxychloroquine")
    LOPINAVIR_RITONAVIR = "lopinavir_ritonavir", _("Lopinavir/ritonavir")
    GLUCOCORTICOID = "glucocorticoid", _("Glucocorticoid")
    TOCILIZUMAB = "tocilizumab", _("Tocilizumab")
    OTHER_IL6 = "other_il6_antagonist", _("Other IL-6 antagonist")
    ANTIBIOTIC = "antibiotic", _("Antibiotic")


class DoseUnit(models.TextChoices):
    MG = "mg", "mg"
    MG_PER_KG = "mg/kg", "mg/kg"


class Route(models.TextChoices):
    ORAL = "oral", _("Oral")
    SC = "sc", _("Subcutaneous")
    IV = "iv", _("Intravenous")


class Frequency(models.TextChoices):
    ONCE = "once", _("Once")
    Q24H = "q24h", _("Every 24 h")
    BID = "bid", _("Twice daily (every 12 h)")
    Q8H = "q8h", _("Every 8 h")
    Q6H = "q6h", _("Every 6 h")


class DrugAdministration(PatientDayRecord):
    """A drug given from `study_day` (start) to `stop_day` (inclusive; empty while ongoing).

    One row is one dose and frequency: a taper (every 6, then 8, 12, 24 hours) is a sequence of rows. The start and
    stop times are optional (clinical definitions §2.3): entered in the site's time zone, stored in UTC, and on the
    study day of their row (the validators check it); without them the analysis uses the day.
    """

    drug = models.CharField(_("drug"), max_length=32, choices=Drug.choices)
    drug_detail = models.CharField(_("name (antibiotic, glucocorticoid, ...)"), max_length=120, blank=True)
    dose = models.DecimalField(_("dose"), max_digits=7, decimal_places=2)
    dose_unit = models.CharField(_("dose unit"), max_length=8, choices=DoseUnit.choices)
    route = models.CharField(_("route"), max_length=8, choices=Route.choices)
    frequency = models.CharField(_("frequency"), max_length=8, choices=Frequency.choices)
    stop_day = models.SmallIntegerField(_("stop day"), null=True, blank=True)
    started_at = models.DateTimeField(_("start time"), null=True, blank=True)
    stopped_at = models.DateTimeField(_("stop time"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("drug administration")
        constraints = [
            models.CheckConstraint(condition=Q(dose__gt=0), name="drug_dose_positive"),
            # The maximum dose of the drug in its unit (the limits table's DOSE_MAXIMA, clinical definitions §2.1).
            dose_range("drug"),
            models.CheckConstraint(condition=Q(drug__in=Drug.values), name="drug_valid"),
            models.CheckConstraint(condition=Q(dose_unit__in=DoseUnit.values), name="drug_dose_unit_valid"),
            models.CheckConstraint(condition=Q(route__in=Route.values), name="drug_route_valid"),
            models.CheckConstraint(
                condition=Q(stop_day__isnull=True) | Q(stop_day__gte=F("study_day")), name="drug_stop_after_start"
            ),
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True) | Q(started_at__isnull=True) | Q(stopped_at__gt=F("started_at")),
                name="drug_stop_time_after_start",
            ),
            models.CheckConstraint(
                condition=Q(stopped_at__isnull=True) | Q(stop_day__isnull=False), name="drug_stop_time_needs_day"
            ),
            never_not_done("drug"),
            coded_fields_empty("drug", nulls=("stop_day", "started_at", "stopped_at"), blanks=("drug_detail",)),
        ]


class DispositionKind(models.TextChoices):
    DISCHARGED = "discharged", _("Discharged")
    ICU_ADMISSION = "icu_admission", _("ICU admission")
    IMV_STARTED = "imv_started", _("Invasive ventilation started")
    ICU_DISCHARGE = "icu_discharge", _("ICU discharge")
    DEATH = "death", _("Death")
    WITHDRAWAL = "withdrawal", _("Withdrawal")
    LOST = "lost_to_follow_up", _("Lost to follow-up")
    CONTACT = "vital_status_contact", _("Vital status contact (e.g. day-21 call)")


class DispositionEvent(PatientDayRecord):
    kind = models.CharField(_("kind"), max_length=24, choices=DispositionKind.choices)
    # Discharge / contact: has the patient resumed normal activities? Contact: alive?
    normal_activities = models.BooleanField(_("normal activities"), null=True, blank=True)
    alive = models.BooleanField(_("alive"), null=True, blank=True)
    cause_of_death = models.CharField(_("cause of death"), max_length=200, blank=True)
    # Optional (clinical definitions §2.3): the moment, in the site's time zone on the page, stored in UTC.
    occurred_at = models.DateTimeField(_("time"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("disposition event")
        constraints = [
            models.UniqueConstraint(fields=["patient", "study_day", "kind"], name="disposition_unique_per_day"),
            models.CheckConstraint(condition=Q(kind__in=DispositionKind.values), name="disposition_kind_valid"),
            models.CheckConstraint(
                condition=~Q(kind="vital_status_contact") | Q(alive__isnull=False), name="disposition_contact_alive"
            ),
            never_not_done("disposition"),
            coded_fields_empty(
                "disposition", nulls=("normal_activities", "alive", "occurred_at"), blanks=("cause_of_death",)
            ),
        ]


class EpisodeEnd(models.TextChoices):
    """How an episode of invasive mechanical ventilation ended (clinical definitions §2.3)."""

    EXTUBATED = "extubated", _("Extubated")
    DIED = "died", _("Died on the ventilator")
    TRANSFERRED = "transferred", _("Transferred on the ventilator")


class VentilationEpisode(PatientDayRecord):
    """One episode of invasive mechanical ventilation, from intubation (`study_day`, `intubated_at`) to its end
    (`end_day`, `ended_at`, `end_reason`; empty while ongoing). A re-intubation is a new episode; the
    episodes of a patient never overlap (ecrf/services.py). Times are optional, as on the drug form."""

    intubated_at = models.DateTimeField(_("intubation time"), null=True, blank=True)
    end_day = models.SmallIntegerField(_("end day"), null=True, blank=True)
    ended_at = models.DateTimeField(_("end time"), null=True, blank=True)
    end_reason = models.CharField(_("how it ended"), max_length=12, choices=EpisodeEnd.choices, blank=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ventilation episode")
        constraints = [
            models.CheckConstraint(condition=Q(end_reason__in=[*EpisodeEnd.values, ""]), name="episode_end_valid"),
            models.CheckConstraint(
                condition=Q(end_day__isnull=True) | Q(end_day__gte=F("study_day")), name="episode_end_after_start"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(intubated_at__isnull=True) | Q(ended_at__gt=F("intubated_at")),
                name="episode_end_time_after_start",
            ),
            # An end day says how the episode ended; an end time needs its day.
            models.CheckConstraint(
                condition=Q(end_day__isnull=True) | ~Q(end_reason=""), name="episode_end_day_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(end_day__isnull=False), name="episode_end_time_needs_day"
            ),
            never_not_done("episode"),
            coded_fields_empty("episode", nulls=("intubated_at", "end_day", "ended_at"), blanks=("end_reason",)),
        ]


class AdverseEventKind(models.TextChoices):
    BACTERAEMIA = "bacteraemia", _("Bacteraemia")
    LIVER = "liver_enzymes_gt_3uln", _("Liver enzymes > 3 x ULN")
    THROMBOEMBOLISM = "thromboembolism", _("Thromboembolism")
    OTHER = "other", _("Other")


class AdverseEvent(PatientDayRecord):
    kind = models.CharField(_("kind"), max_length=24, choices=AdverseEventKind.choices)
    organism = models.CharField(_("organism"), max_length=120, blank=True, help_text=_("For bacteraemia."))
    description = models.CharField(_("description"), max_length=300, blank=True)
    serious = models.BooleanField(_("serious"), default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("adverse event")
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=AdverseEventKind.values), name="adverse_event_kind_valid"),
            never_not_done("adverse_event"),
            coded_fields_empty("adverse_event", blanks=("organism", "description")),
        ]


class DerivedDay(models.Model):
    """Computed by the Celery job from audited sources (ecrf/derivations.py); never edited by hand.

    Its provenance is the source history plus `algorithm_version` and `computed_at`, the time these values were
    computed. A recompute that gives the same values leaves the row as it is: the patient's PatientDerivation
    says when it was last checked.
    """

    # Not indexed on its own: the unique (patient, study_day) index serves every lookup by patient.
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="derived_days", db_index=False)
    study_day = models.SmallIntegerField()
    state = models.CharField(max_length=24, blank=True)
    ordinal_7 = models.SmallIntegerField(null=True)
    who_osci = models.SmallIntegerField(null=True)
    who_cps = models.SmallIntegerField(null=True)
    status_note = models.CharField(max_length=200, blank=True)
    fio2 = models.FloatField(null=True)
    fio2_estimated = models.BooleanField(default=False)
    sf_ratio = models.FloatField(null=True)
    pf_measured = models.FloatField(null=True)
    pf_derived = models.FloatField(null=True)
    pf_derived_note = models.CharField(max_length=200, blank=True)
    pf = models.FloatField(null=True)
    pf_source = models.CharField(max_length=10, blank=True)
    ards_severity = models.CharField(max_length=10, blank=True)
    sustained_benefit = models.BooleanField(default=False)
    liver_enzymes_gt_3uln = models.BooleanField(default=False)
    data_after_death = models.BooleanField(default=False)
    algorithm_version = models.CharField(max_length=32)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["patient", "study_day"], name="derived_one_per_patient_day"),
        ]

    def __str__(self) -> str:
        return gettext("derived %(patient)s day %(day)s") % {"patient": self.patient_id, "day": self.study_day}


class DerivedCourse(models.Model):
    """The patient's course as a whole (clinical definitions §3.4), computed by the derivation job with the patient's
    derived days (ecrf/courses.py): time to the first anakinra dose and its timing group, invasive ventilation,
    ventilator- and ICU-free days, the New York response. Never edited by hand; versioned like DerivedDay."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="course")
    hours_to_anakinra = models.FloatField(null=True)
    timing_basis = models.CharField(max_length=4, blank=True)
    timing_group = models.CharField(max_length=12)
    imv_episodes = models.SmallIntegerField()
    imv_days = models.FloatField()
    imv_days_basis = models.CharField(max_length=4, blank=True)
    imv_ongoing = models.BooleanField()
    failed_extubations = models.SmallIntegerField()
    extubated = models.BooleanField()
    ventilator_free_days = models.FloatField()
    icu_free_days = models.FloatField()
    ny_response = models.BooleanField()
    ny_failure = models.BooleanField()
    died = models.BooleanField()
    discharged = models.BooleanField()
    algorithm_version = models.CharField(max_length=32)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return gettext("course of %(patient)s") % {"patient": self.patient_id}


class PatientDerivation(models.Model):
    """When a patient's derived days were last recomputed, and a digest of the rows that computation gave.

    The job compares a fresh computation with the stored digest and rewrites the patient's DerivedDay rows only
    when they differ (or the algorithm version did): a nightly rerun over unchanged data writes nothing but these
    stamps. ``derived_at`` moves on every recompute, so "source changed after the last derivation" is a
    comparison with it (analysis/checklist.py: stale_derived).
    """

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="derivation")
    algorithm_version = models.CharField(max_length=32)
    # Signed 64-bit view of an unsigned hash of all the patient's derived values (ecrf/derivation_job.py).
    digest = models.BigIntegerField()
    derived_at = models.DateTimeField()

    def __str__(self) -> str:
        return gettext("derivation of %(patient)s at %(time)s") % {
            "patient": self.patient_id,
            "time": f"{self.derived_at:%Y-%m-%d %H:%M}",
        }


IMPORT_PENDING = _("An import into this study is already queued or running.")


class ImportJob(models.Model):
    """A CSV import (ecrf/importing) run by a Celery worker (ecrf/import_jobs.py): asked for on the upload page or by
    ``manage.py import_crf``. Its files wait in its folder (settings.IMPORTS_ROOT/<token>) until the worker has read
    them; its progress and a request to cancel pass through that folder too, as the import's own transaction holds
    the database (SQLite: the whole file) until it ends. The row keeps the outcome: status, counts and report."""

    study = models.ForeignKey("cohorts.Study", on_delete=models.PROTECT, related_name="+")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: imported on the server with no --user
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)  # names the job's folder
    check_only = models.BooleanField(default=False)
    language = models.CharField(max_length=10)  # of the requester: the report's messages are written in it
    file_names = models.JSONField(default=list)
    in_archive = models.JSONField(default=list)  # positions of the files that came from a folder (import_crf)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    rows = models.PositiveIntegerField(default=0)  # rows read from the files
    problems = models.PositiveIntegerField(default=0)
    #: ImportReport.as_dict(): per file the rows created, changed and unchanged, and the first problems.
    report = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)  # why it failed or was cancelled
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # by the worker; again by a redelivery
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=JobStatus.values), name="import_job_status_valid"),
            one_pending_per_study("import_job", code="import_pending", message=IMPORT_PENDING),
        ]

    def __str__(self) -> str:
        return f"import into {self.study_id} ({self.status})"
