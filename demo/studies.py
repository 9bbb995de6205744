"""The demo studies of `make demo`: the Milan study of 2020 and a demo ward of patients enrolled in the last days,
both on the Milan cohort protocol with its three arms, at two sites; and the New York case series of 2020 (one
anakinra arm, its own site in the America/New_York time zone)."""

from django.contrib.auth import get_user_model
from django.db import transaction

from analysis import checklist, releases
from cohorts.models import Arm, OrdinalScale, Protocol, Site, Study
from ecrf import derivation_job

MILAN_ARMS = [
    {
        "code": "standard",
        "name": "Standard treatment",
        "regimen_description": "Hydroxychloroquine 200 mg BID oral + lopinavir/ritonavir 400/100 mg BID oral; "
        "CPAP with PEEP 10 cmH2O.",
        "regimen": [
            {"drug": "hydroxychloroquine", "dose": 200, "unit": "mg", "route": "oral", "frequency": "bid"},
            {"drug": "lopinavir_ritonavir", "dose": 400, "unit": "mg", "route": "oral", "frequency": "bid"},
        ],
    },
    {
        "code": "low_dose",
        "name": "Low-dose anakinra",
        "regimen_description": "Anakinra 100 mg BID subcutaneous on top of standard treatment.",
        "regimen": [{"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "bid"}],
    },
    {
        "code": "high_dose",
        "name": "High-dose anakinra",
        "regimen_description": "Anakinra 5 mg/kg BID intravenous (10 mg/kg/day, infused over 1 h) on top of "
        "standard treatment, until sustained clinical benefit; then 100 mg BID subcutaneous for 3 days.",
        "regimen": [{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
    },
]

DEMO_SITES = [("MI", "Milan, San Raffaele Hospital"), ("BG", "Bergamo, Papa Giovanni XXIII")]
MILAN_STUDY = "milan-anakinra"
RECENT_STUDY = "demo-now"

# The New York case series as docs/study-new-york.toml sets it up (tests/demo/test_new_york_cohort.py compares the
# two): a 28-day follow-up, so that the ventilator-free and ICU-free days to day 28 (clinical definitions §3.4) are
# observed for every patient.
NEW_YORK_STUDY = "new-york-anakinra"
NEW_YORK_FOLLOW_UP_DAYS = 28
NEW_YORK_SITE = {"code": "NY", "name": "New York (case-series site)", "time_zone": "America/New_York"}
NEW_YORK_ARM = {
    "code": "anakinra",
    "name": "Anakinra",
    "regimen_description": "Anakinra 100 mg subcutaneous every 6 h, tapered to every 8, 12 and 24 h, for at most 20 "
    "days.",
    "regimen": [
        {"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "q6h", "duration_days": 20}
    ],
}


@transaction.atomic
def create_milan_study() -> Study:
    """The Milan study of 2020 that the seeded cohort (demo/milan_cohort.py) fills."""
    study, _ = Study.objects.get_or_create(
        code=MILAN_STUDY,
        defaults={
            "title": "Anakinra for COVID-19 ARDS with hyperinflammation (Milan cohort)",
            "protocol": Protocol.MILAN_2020,
            "registry_id": "NCT04318366",
            "follow_up_days": 21,
        },
    )
    _add_arms_and_sites(study)
    return study


@transaction.atomic
def create_recent_study() -> Study:
    """A second demo study on the same protocol, arms and sites, for the patients enrolled in the last days
    (demo/recent_cohort.py), so that a nurse of the demo has today's forms to enter. Kept apart from the Milan
    study, whose 52 patients reproduce the published figures."""
    study, _ = Study.objects.get_or_create(
        code=RECENT_STUDY,
        defaults={
            "title": "Demo ward: anakinra for COVID-19 ARDS, enrolled in the last days (Milan protocol)",
            "protocol": Protocol.MILAN_2020,
            "follow_up_days": 21,
        },
    )
    _add_arms_and_sites(study)
    return study


@transaction.atomic
def create_new_york_study() -> Study:
    """The New York case series of 2020 that demo/new_york_cohort.py fills: protocol new_york_2020, one anakinra arm,
    the site NY in New York's time zone (where the times of its records are entered and checked)."""
    study, _ = Study.objects.get_or_create(
        code=NEW_YORK_STUDY,
        defaults={
            "title": "Anakinra to prevent mechanical ventilation in severe COVID-19 (New York case series)",
            "protocol": Protocol.NEW_YORK_2020,
            "follow_up_days": NEW_YORK_FOLLOW_UP_DAYS,
            "primary_scale": OrdinalScale.MILAN_7,
        },
    )
    Arm.objects.get_or_create(study=study, code=NEW_YORK_ARM["code"], defaults={**NEW_YORK_ARM, "order": 1})
    site, _ = Site.objects.get_or_create(code=NEW_YORK_SITE["code"], defaults=NEW_YORK_SITE)
    site.studies.add(study)  # the demo users of NY see the study (demo/accounts.py)
    return study


def _add_arms_and_sites(study: Study) -> None:
    for order, arm in enumerate(MILAN_ARMS, start=1):
        Arm.objects.get_or_create(study=study, code=arm["code"], defaults={**arm, "order": order})
    for code, name in DEMO_SITES:
        site, _ = Site.objects.get_or_create(code=code, defaults={"name": name})
        site.studies.add(study)  # the demo users of the site see the study (cohorts/selectors.py)


def derive_demo_study(study: Study) -> str:
    """Compute the derived patient-day table (clinical definitions §3) of a demo study; returns a line for the
    command's output."""
    summary = derivation_job.derive_all([study])
    if summary.skipped_locked:
        return f"Derived data of '{study.code}': not recomputed, the study is locked."
    return f"Derived data of '{study.code}': {summary.rows} patient-days of {summary.patients} patients."


#: The demo's release of the Milan study: its reason, and the reason it carries the checklist's open items with.
RELEASE_REASON = "Demo: the 2020 cohort released for analysis, as loaded"
RELEASE_OVERRIDE = "Demo data: released as loaded, without the cleaning, monitoring and signatures of a real study"


def release_demo_study(study: Study, username: str) -> str:
    """Lock a demo study as release v1 once, as its data manager ``username`` would (the checklist's open items,
    e.g. the casebooks no investigator signed, carried with :data:`RELEASE_OVERRIDE`), so that the statistician's
    pages have a release to show; a study locked or released before (by the demo, or by a user trying the lock) is
    left as it is. Returns a line for the command's output."""
    if study.is_locked or study.releases.exists():
        return f"Release of '{study.code}': left as it is (locked or released before)."
    items = checklist.lock_checklist(study)
    release = releases.release_lock(
        study=study,
        user=get_user_model().objects.get(username=username),
        reason=RELEASE_REASON,
        overrides={item.key: RELEASE_OVERRIDE for item in items if item.count},
    )
    return f"Release of '{study.code}': locked as v{release.version}, for the statistician's analysis and downloads."
