"""Every read of cohort data a page needs, scoped to the sites of the current user.

A user asking for a patient of a site they do not belong to gets Http404 - never the data, and never a
hint that the record exists.
"""

from collections import Counter
from typing import NamedTuple

from django.core.paginator import Page
from django.db.models import Count, QuerySet
from django.http import Http404
from django.utils.translation import gettext

from cohorts import consort, roles
from cohorts.models import Arm, ConsortCount, Patient, PatientFreeze, Screening, ScreeningReason, Site, Study
from cohorts.paging import CountedPaginator


def study_list(*, user) -> QuerySet[Study]:
    """The studies where the user holds a role (every study for a system administrator)."""
    return Study.objects.filter(roles.study_scope(user, roles.ROLES))


def study_get(*, user, code: str) -> Study:
    try:
        return study_list(user=user).get(code=code)
    except Study.DoesNotExist:
        raise Http404("No such study.") from None


def study_site_list(*, user, study: Study, allowed=roles.PATIENT_READERS) -> QuerySet[Site]:
    """The sites of ``study`` where the user holds one of ``allowed`` in it."""
    sites = study.sites.order_by("code")
    held = roles.sites_held(user, study, allowed)
    return sites if held is None else sites.filter(pk__in=sorted(held))


def arm_list(*, study: Study) -> QuerySet[Arm]:
    return study.arms.all()


def patient_list(*, user, study: Study | None = None, site: Site | None = None) -> QuerySet[Patient]:
    """The patients of the user's sites (of one study and site if given); another site's patient is not there."""
    qs = Patient.objects.filter(roles.scope(user, roles.PATIENT_READERS)).select_related("site", "arm", "study")
    if study is not None:
        qs = qs.filter(study=study)
    if site is not None:
        qs = qs.filter(site=site)
    return qs.order_by("site__code", "participant_id")


def screening_list(*, user, study: Study, site: Site | None = None) -> QuerySet[Screening]:
    qs = Screening.objects.filter(roles.scope(user, roles.SCREENING_READERS), study=study)
    if site is not None:
        qs = qs.filter(site=site)
    # The newest first; the id breaks ties, so that a page of the log is the same on every request.
    return qs.select_related("site", "screened_by", "patient", "patient__arm").order_by("-assessed_at", "-pk")


def consort_counts(*, user, study: Study, site: Site | None = None) -> dict:
    """The CONSORT flow numbers of the screening log at the user's sites (or at one of them): screened (a candidate
    screened twice counts once, by the latest screening), eligible, ineligible by reason, enrolled per arm. Read
    from the kept figures (cohorts/consort.py): a few rows per site, whatever the size of the log."""
    rows = ConsortCount.objects.filter(roles.scope(user, roles.SCREENING_READERS), study=study)
    if site is not None:
        rows = rows.filter(site=site)
    figures: Counter[str] = Counter()
    for figure, n in rows.values_list("figure", "n"):
        figures[figure] += n
    return consort.figures_shown(study, figures)


#: Screenings on a page of the screening log.
SCREENING_LOG_SIZE = 100
#: What a row of the log reads (cohorts/templatetags/screening_rows.py): not the screening's values and criteria,
#: documents decoded per row that only its own page shows.
LOG_COLUMNS = (
    "number",
    "assessed_at",
    "eligible",
    "study_id",
    "site__code",
    "site__time_zone",
    "screened_by__username",
    "screened_by__first_name",
    "screened_by__last_name",
    "rescreen_of__number",
    "patient__participant_id",
    "patient__arm__name",
)


def screening_log_page(*, user, study: Study, site: Site | None = None, number=None, total: int) -> Page:
    """A page of the screening log (the newest first): its screenings with their reasons grouped
    (_with_reason_groups), their re-screen links and their patients, read for the page's rows only. ``number`` is
    the page asked for, as typed (a page beyond the last gives the last one, anything else the first); ``total``
    the log's screenings at those sites, from the kept figures (``consort_counts``: no count of the log's rows)."""
    screenings = screening_list(user=user, study=study, site=site).select_related("rescreen_of").only(*LOG_COLUMNS)
    page = CountedPaginator(screenings, SCREENING_LOG_SIZE, count=total).get_page(number)
    page.object_list = _with_reason_groups(page.object_list)
    return page


class LogReason(NamedTuple):
    """A failed or missing criterion of a screening, as the log shows it (ScreeningReason's values)."""

    kind: str
    verdict: str
    label: str


def _with_reason_groups(screenings) -> list[Screening]:
    """Screenings of the log, each with ``failing_reasons`` (not met / exclusion applies: LogReason) and
    ``missing_labels`` (criteria undecided for missing data, in the active language), in criterion order; the
    reasons of all of them read in one query of plain values."""
    rows = list(screenings)
    reasons: dict[int, list[LogReason]] = {}
    found = ScreeningReason.objects.filter(screening__in=rows).order_by("pk")
    for screening_id, kind, verdict, label in found.values_list("screening_id", "kind", "verdict", "label"):
        reasons.setdefault(screening_id, []).append(LogReason(kind, verdict, label))
    for screening in rows:
        own = reasons.get(screening.pk, ())
        screening.failing_reasons = [r for r in own if r.verdict != "missing"]
        # The stored labels are English (cohorts.languages): shown in the reader's language.
        screening.missing_labels = [gettext(r.label) for r in own if r.verdict == "missing"]
    return rows


def screening_get(*, user, study: Study, pk) -> Screening:
    """One screening of the study at the user's sites; another site's screening is a 404."""
    try:
        return (
            Screening.objects.filter(roles.scope(user, roles.SCREENING_READERS), study=study)
            .select_related("study", "site", "screened_by", "rescreen_of", "patient", "patient__arm")
            .prefetch_related("rescreens")
            .get(pk=pk)
        )
    except (Screening.DoesNotExist, ValueError, TypeError):
        raise Http404("No such screening at your sites.") from None


def rescreen_candidates(*, user, study: Study) -> QuerySet[Screening]:
    """Screenings a new screening may re-screen: at the user's sites, not enrolled, not re-screened already
    (so the re-screens of one candidate form a chain and the CONSORT counts take its last link)."""
    return (
        Screening.objects.filter(roles.scope(user, roles.SCREENERS), study=study, patient__isnull=True)
        .filter(rescreens__isnull=True)
        .select_related("site")
        .order_by("-assessed_at")
    )


# --------------------------------------------------------------------------------------------
# Study set-up (cohorts/setup.py): a study's data managers set it up; system administrators every study and site
# --------------------------------------------------------------------------------------------


def setup_study_list(*, user) -> QuerySet[Study]:
    """The studies the user sets up, with their numbers of arms, sites and enrolled patients."""
    return (
        Study.objects.filter(roles.study_scope(user, roles.STUDY_SETUP))
        .annotate(
            n_arms=Count("arms", distinct=True),
            n_sites=Count("sites", distinct=True),
            n_patients=Count("patients", distinct=True),
        )
        .order_by("code")
    )


def setup_site_list(*, user) -> QuerySet[Site]:
    """The sites the user may edit: every site for a system administrator; for a data manager, the sites whose
    every study is one of theirs (a site's ULNs and time zone serve all its studies)."""
    sites = Site.objects.prefetch_related("studies").order_by("code")
    if roles.is_system_admin(user):
        return sites
    theirs = Study.objects.filter(roles.study_scope(user, roles.STUDY_SETUP))
    return sites.filter(studies__in=theirs).exclude(studies__in=Study.objects.exclude(pk__in=theirs)).distinct()


def site_choice_list() -> QuerySet[Site]:
    """Every site of the installation, for a study's list of sites (a hospital may join any study)."""
    return Site.objects.order_by("code")


def site_get(*, user, code: str) -> Site:
    try:
        return setup_site_list(user=user).get(code=code)
    except Site.DoesNotExist:
        raise Http404("No such site.") from None


def arm_get(*, study: Study, code: str) -> Arm:
    try:
        return study.arms.get(code=code)
    except Arm.DoesNotExist:
        raise Http404("No such arm in this study.") from None


def freeze_rows(*, patients: QuerySet[Patient]) -> list[tuple]:
    """Every freeze of these patients' casebooks, for the release's ``data/freezes`` (one query): when and why it
    was frozen and unfrozen (UTC, ISO 8601); no names of people."""
    rows = (
        PatientFreeze.objects.filter(patient__in=patients)
        .order_by("patient__participant_id", "frozen_at", "pk")
        .values_list("patient__participant_id", "frozen_at", "reason", "unfrozen_at", "unfreeze_reason")
    )
    return [
        (pid, frozen.isoformat(), reason, unfrozen.isoformat() if unfrozen else None, why or None)
        for pid, frozen, reason, unfrozen, why in rows
    ]


#: Patient ids per query of patient_ids_by_study (a long IN list is split).
_IDS_PER_QUERY = 5000


def patient_ids_by_study(patient_ids: list[int]) -> dict[int, list[int]]:
    """Study id -> the given patients of that study (patients that no longer exist are left out)."""
    by_study: dict[int, list[int]] = {}
    for start in range(0, len(patient_ids), _IDS_PER_QUERY):
        chunk = patient_ids[start : start + _IDS_PER_QUERY]
        for pk, study_id in Patient.objects.filter(pk__in=chunk).values_list("pk", "study_id"):
            by_study.setdefault(study_id, []).append(pk)
    return by_study


def study_sizes(study_ids) -> dict[int, int]:
    """Study id -> its number of patients."""
    return dict(
        Patient.objects.filter(study__in=list(study_ids)).values_list("study").annotate(n=Count("pk")).order_by()
    )
