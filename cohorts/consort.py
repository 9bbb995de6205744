"""The CONSORT figures of a study's screening log (clinical definitions §1.3), kept per study and site
(``ConsortCount``), so that the log's counts read a few rows instead of every screening of the study.

A candidate screened twice counts once, by the latest screening (a re-screen links the one before it). Each latest
screening contributes to the figures of its site: "screened"; "eligible" or "ineligible";
"ineligible_missing_only" when it failed only for criteria that could not be decided (a screen failure with missing
data); "reason:<code>:<verdict>" per failed or missing criterion of an ineligible one; "enrolled" and
"arm:<arm code>" once its candidate is enrolled. Every screening, the latest or not, counts in "screenings": the
rows of the log, which its pages are counted by. ``screening_added`` and ``screening_enrolled`` move them in the
transaction of the change (cohorts/services.py); ``recount`` computes them from the screenings themselves.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Count, Exists, F, OuterRef, Q

from cohorts.eligibility.engine import get_rule_set
from cohorts.models import Arm, ConsortCount, Screening, ScreeningReason, Study

#: The figures of a screening itself, and with its enrolment the totals the log shows.
SCREENED = ("screened", "eligible", "ineligible", "ineligible_missing_only")
TOTALS = (*SCREENED, "enrolled")
#: Every screening of the site, re-screened ones too: the rows of the log.
SCREENINGS = "screenings"


def _screened(screening: Screening) -> Counter[str]:
    """What a latest screening not enrolled adds to its site's figures (its failed or missing criteria read from
    its reasons: one query)."""
    figures = Counter({"screened": 1, "eligible" if screening.eligible else "ineligible": 1})
    if not screening.eligible:
        reasons = list(screening.reasons.values_list("code", "verdict"))
        figures.update(f"reason:{code}:{verdict}" for code, verdict in reasons)
        if all(verdict == "missing" for _code, verdict in reasons):
            figures["ineligible_missing_only"] += 1
    return figures


def _move(study_id: int, site_id: int, delta: Counter[str]) -> None:
    """Move the site's figures by ``delta`` (by increments, never read and written back)."""
    moved = {figure: n for figure, n in delta.items() if n}
    if not moved:
        return
    ConsortCount.objects.bulk_create(
        [ConsortCount(study_id=study_id, site_id=site_id, figure=figure) for figure in moved], ignore_conflicts=True
    )
    for figure, n in sorted(moved.items()):
        ConsortCount.objects.filter(study_id=study_id, site_id=site_id, figure=figure).update(n=F("n") + n)


def screening_added(screening: Screening) -> None:
    """A new screening (its reasons saved): it counts, and the screening it re-screens stops counting."""
    delta = _screened(screening)
    delta[SCREENINGS] += 1
    if screening.rescreen_of is not None:  # never enrolled: an enrolled candidate is not re-screened
        delta.subtract(_screened(screening.rescreen_of))
    _move(screening.study_id, screening.site_id, delta)


def screening_enrolled(screening: Screening, arm: Arm) -> None:
    """The candidate of a screening enrolled in ``arm``: counted as enrolled when it is the latest screening."""
    if not Screening.objects.filter(rescreen_of=screening).exists():
        _move(screening.study_id, screening.site_id, Counter({"enrolled": 1, f"arm:{arm.code}": 1}))


def count_from_scratch(study: Study) -> dict[int, Counter[str]]:
    """The study's figures per site id, computed from its screenings (four grouped queries)."""
    by_site: dict[int, Counter[str]] = defaultdict(Counter)
    every = Screening.objects.filter(study=study).values("site_id").annotate(n=Count("pk")).order_by()
    for row in every:
        by_site[row["site_id"]][SCREENINGS] = row["n"]
    latest = Screening.objects.filter(study=study).filter(~Exists(Screening.objects.filter(rescreen_of=OuterRef("pk"))))
    decided_failure = ScreeningReason.objects.filter(screening=OuterRef("pk")).exclude(verdict="missing")
    # The aliases must not be field names: Q(eligible=True) would refer to the aggregate.
    groups = latest.values("site_id", "patient__arm__code").annotate(
        n_screened=Count("pk"),
        n_eligible=Count("pk", filter=Q(eligible=True)),
        n_ineligible=Count("pk", filter=Q(eligible=False)),
        n_ineligible_missing_only=Count("pk", filter=Q(eligible=False) & ~Exists(decided_failure)),
    )
    for group in groups.order_by():
        figures = by_site[group["site_id"]]
        for name in SCREENED:
            figures[name] += group[f"n_{name}"]
        if group["patient__arm__code"] is not None:
            figures["enrolled"] += group["n_screened"]
            figures[f"arm:{group['patient__arm__code']}"] += group["n_screened"]
    reasons = (
        ScreeningReason.objects.filter(screening__in=latest.filter(eligible=False))
        .values("screening__site_id", "code", "verdict")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in reasons:
        by_site[row["screening__site_id"]][f"reason:{row['code']}:{row['verdict']}"] += row["n"]
    return {site: +figures for site, figures in by_site.items()}


def recount(study: Study) -> None:
    """The study's figures replaced by a count from its screenings (after data loaded without the services)."""
    ConsortCount.objects.filter(study=study).delete()
    ConsortCount.objects.bulk_create(
        ConsortCount(study=study, site_id=site, figure=figure, n=n)
        for site, figures in count_from_scratch(study).items()
        for figure, n in figures.items()
    )


def figures_shown(study: Study, figures: Counter[str]) -> dict:
    """The screening log's counts from the summed figures of the sites shown: the totals, the reasons (code, English
    label, kind, verdict, n; the most frequent first) and the enrolled per arm (by arm name)."""
    criteria = {criterion.code: criterion for criterion in get_rule_set(study.protocol).criteria}
    reasons = []
    for figure, n in figures.items():
        if figure.startswith("reason:") and n:
            _, code, verdict = figure.split(":", 2)
            criterion = criteria.get(code)
            label, kind = (criterion.label, criterion.kind) if criterion else (code, "inclusion")
            reasons.append({"code": code, "label": label, "kind": kind, "verdict": verdict, "n": n})
    reasons.sort(key=lambda reason: (-reason["n"], reason["code"]))
    arms = Arm.objects.filter(study=study).order_by("name").values_list("code", "name")
    per_arm = [
        {"patient__arm__code": code, "patient__arm__name": name, "n": figures[f"arm:{code}"]}
        for code, name in arms
        if figures[f"arm:{code}"]
    ]
    return {
        **{name: figures[name] for name in (*TOTALS, SCREENINGS)},
        "reasons": reasons,
        "failing_reasons": [r for r in reasons if r["verdict"] != "missing"],
        "missing_reasons": [r for r in reasons if r["verdict"] == "missing"],
        "per_arm": per_arm,
    }
