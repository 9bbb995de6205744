"""The investigator's dashboard of protocol signals per study (clinical definitions §3.3): flagged, never acted on
automatically.

Signals: sustained clinical benefit and AST/ALT > 3 x ULN (from the derived table), bacteraemia (adverse events),
data after death (derived table), missing forms for past days (source tables). Site-scoped like every patient
page (cohorts/selectors.py); a fixed number of queries whatever the size of the study (the selector below is the
page's only read, the view is thin).
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Least
from django.shortcuts import render
from django.utils.translation import gettext as _

from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.models import Patient, Study
from ecrf import derivations
from ecrf.checks import format_number
from ecrf.crfs import DAY_FORMS
from ecrf.models import AdverseEvent, AdverseEventKind, DerivedDay, PatientDerivation
from ecrf.selectors import DaysSince, Today, sites_today, with_follow_up_end

#: Rows shown per signal; the count above each table is always the full one.
MAX_ROWS = 200
_NO_LIMIT = 10_000


@dataclass
class Flag:
    patient: Patient
    days: list[int] = field(default_factory=list)
    detail: str = ""
    total: int = 0


@dataclass
class Signal:
    key: str
    title: str
    explanation: str
    flags: list[Flag]

    @property
    def count(self) -> int:
        return len(self.flags)

    @property
    def shown(self) -> list[Flag]:
        return self.flags[:MAX_ROWS]


def past_days_missing(patients, study: Study, today: Today):
    """Patients with, per one-per-day form, how many past required days lack it (clinical definitions §3.3, day_state
    rules).

    Required: days 0..follow-up, before today, up to the end of follow-up (discharge, withdrawal, loss) and
    before the day of death.
    """
    last_past = Least(
        DaysSince("enrolment_date", today) - 1,
        Value(study.follow_up_days),
        Coalesce(F("end_day"), Value(_NO_LIMIT)),
        Coalesce(F("death_day") - 1, Value(_NO_LIMIT)),
        output_field=IntegerField(),
    )
    counts = {
        f"n_{key}": Coalesce(
            Subquery(
                crf.model.objects.filter(patient=OuterRef("pk"), study_day__gte=0, study_day__lte=OuterRef("last_past"))
                .order_by()
                .values("patient")
                .annotate(n=Count("pk"))
                .values("n")[:1],
                output_field=IntegerField(),
            ),
            Value(0),
        )
        for key, crf in DAY_FORMS.items()
    }
    return with_follow_up_end(patients).annotate(last_past=last_past).annotate(**counts)


def study_signals(user, study: Study, today: Today | None = None) -> list[Signal]:
    """The five signals of clinical definitions §3.3 for the patients of ``study`` at the user's sites (4 queries);
    "today" is today at each patient's site."""
    today = today or sites_today(study)
    patients = cohort_selectors.patient_list(user=user, study=study)
    by_pk = {}
    missing = []
    for patient in past_days_missing(patients, study, today):
        by_pk[patient.pk] = patient
        required = max(patient.last_past + 1, 0)
        gaps = {key: required - getattr(patient, f"n_{key}") for key in DAY_FORMS}
        if any(gaps.values()):
            counts = ", ".join(f"{str(DAY_FORMS[key].label).lower()}: {n}" for key, n in gaps.items() if n)
            detail = _("%(counts)s (of days 0-%(last_day)s)") % {"counts": counts, "last_day": patient.last_past}
            missing.append(Flag(patient, detail=detail, total=sum(gaps.values())))
    missing.sort(key=lambda flag: (-flag.total, flag.patient.participant_id))

    derived: dict[str, dict[int, Flag]] = defaultdict(dict)
    rows = (
        DerivedDay.objects.filter(patient__in=patients)
        .filter(Q(sustained_benefit=True) | Q(liver_enzymes_gt_3uln=True) | Q(data_after_death=True))
        .order_by("patient_id", "study_day")
        .values_list("patient_id", "study_day", "sustained_benefit", "liver_enzymes_gt_3uln", "data_after_death")
    )
    for patient_id, day, *flags in rows:
        for name, flagged in zip(("benefit", "liver", "after_death"), flags, strict=True):
            if flagged and patient_id in by_pk:
                derived[name].setdefault(patient_id, Flag(by_pk[patient_id])).days.append(day)

    bacteraemia: dict[int, Flag] = {}
    events = (
        AdverseEvent.objects.filter(patient__in=patients, kind=AdverseEventKind.BACTERAEMIA)
        .order_by("patient_id", "study_day")
        .values_list("patient_id", "study_day", "organism", "serious")
    )
    for patient_id, day, organism, serious in events:
        if patient_id in by_pk:
            flag = bacteraemia.setdefault(patient_id, Flag(by_pk[patient_id]))
            flag.days.append(day)
            text = (organism or _("organism not recorded")) + (", " + _("serious") if serious else "")
            flag.detail = f"{flag.detail}; {text}" if flag.detail else text

    settings = derivations.resolve_settings(study.settings.get("derivation", {}))  # the derivation's own rule
    fall = round(100 * settings["benefit_crp_fall_fraction"])
    pf_above = settings["benefit_pf_above"]
    days = settings["benefit_consecutive_days"]
    return [
        Signal(
            "benefit",
            _("Sustained clinical benefit"),
            _(
                "CRP fallen >= %(fall)s%% from day 0 and PaO2:FiO2 > %(pf)s on %(days)s consecutive days: the "
                "protocol's condition to step high-dose anakinra down."
            )
            % {"fall": fall, "pf": format_number(float(f"{pf_above:g}")), "days": days},
            list(derived["benefit"].values()),
        ),
        Signal(
            "liver",
            _("AST or ALT > 3 x ULN"),
            _("Liver enzymes above three times the site's upper limit of normal: a stopping rule of the protocol."),
            list(derived["liver"].values()),
        ),
        Signal(
            "bacteraemia",
            _("Bacteraemia"),
            _("Adverse events of bacteraemia: a stopping rule of the protocol."),
            list(bacteraemia.values()),
        ),
        Signal(
            "after_death",
            _("Data after death"),
            _("Daily records dated after the day of death: correct the day or the death record."),
            list(derived["after_death"].values()),
        ),
        Signal(
            "missing",
            _("Missing forms for past days"),
            _("Days before today within the follow-up with a one-per-day form not entered."),
            missing,
        ),
    ]


def last_computed(user, study: Study):
    """When the derived data of the user's patients were last computed (None if never)."""
    return (
        PatientDerivation.objects.filter(patient__in=cohort_selectors.patient_list(user=user, study=study))
        .order_by("-derived_at")
        .values_list("derived_at", flat=True)
        .first()
    )


@roles.role_required(roles.SIGNAL_READERS)
def dashboard(request, study_code: str):
    """Protocol signals of the study at the user's sites, each patient linked to its casebook."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    return render(
        request,
        "ecrf/dashboard.html",
        {
            "study": study,
            "signals": study_signals(request.user, study),
            "computed_at": last_computed(request.user, study),
            "max_rows": MAX_ROWS,
        },
    )
