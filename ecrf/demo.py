"""The demo study of `make demo`: the Milan cohort protocol at two sites, one login per role, and its cohort."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from cohorts import roles
from cohorts.models import Arm, Protocol, Site, SiteMembership, Study
from ecrf import demo_cohort, derivation_job

DEMO_PASSWORD = "anakinra-demo"  # the demo only; printed by load_demo

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


@transaction.atomic
def create_demo_study() -> Study:
    study, _ = Study.objects.get_or_create(
        code="milan-anakinra",
        defaults={
            "title": "Anakinra for COVID-19 ARDS with hyperinflammation (Milan cohort)",
            "protocol": Protocol.MILAN_2020,
            "registry_id": "NCT04318366",
            "follow_up_days": 21,
        },
    )
    for order, arm in enumerate(MILAN_ARMS, start=1):
        Arm.objects.get_or_create(study=study, code=arm["code"], defaults={**arm, "order": order})
    for code, name in DEMO_SITES:
        site, _ = Site.objects.get_or_create(code=code, defaults={"name": name})
        site.studies.add(study)
    return study


# Demo logins: username -> (first name, last name, role, site codes). People-like names, so that pages showing
# who did what (audit trail, screening log) read like a real study, with the role in the surname to remember it.
DEMO_PEOPLE = {
    "nurse": ("Nina", "Nurse", roles.NURSE, ["MI"]),
    "investigator": ("Ivo", "Investigator", roles.INVESTIGATOR, ["MI"]),
    "monitor": ("Mona", "Monitor", roles.MONITOR, ["MI"]),
    "data_manager": ("Dario", "Datamanager", roles.DATA_MANAGER, ["MI"]),
    "statistician": ("Stella", "Statistician", roles.STATISTICIAN, ["MI"]),
    "admin": ("Ada", "Admin", roles.ADMIN, ["MI"]),
    "nurse_bg": ("Bruna", "Nurse", roles.NURSE, ["BG"]),
    "investigator_bg": ("Bruno", "Investigator", roles.INVESTIGATOR, ["BG"]),
}


@transaction.atomic
def create_demo_users() -> list[tuple[str, str, str]]:
    """One user per role at Milan, a nurse and an investigator at Bergamo; returns the logins."""
    User = get_user_model()
    logins = []
    for username, (first_name, last_name, role, site_codes) in DEMO_PEOPLE.items():
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == roles.ADMIN})
        if created:
            user.set_password(DEMO_PASSWORD)
        if created or (user.first_name, user.last_name) != (first_name, last_name):
            user.first_name, user.last_name = first_name, last_name
            user.save()
        user.groups.add(Group.objects.get(name=role))
        for site in Site.objects.filter(code__in=site_codes):
            SiteMembership.objects.get_or_create(user=user, site=site)
        logins.append((username, DEMO_PASSWORD, f"{roles.ROLES[role]} ({', '.join(site_codes)})"))
    return logins


def create_demo_cohort(study: Study) -> demo_cohort.LoadSummary:
    """The seeded Milan cohort (ecrf/demo_cohort.py), screened and enrolled by the demo investigators and documented
    by the demo nurses of each site; nothing when the study already has patients."""
    User = get_user_model()
    people = {user.username: user for user in User.objects.filter(username__in=DEMO_PEOPLE)}
    by_site = {
        role: {sites[0]: people[name] for name, (_, _, r, sites) in DEMO_PEOPLE.items() if r == role}
        for role in (roles.INVESTIGATOR, roles.NURSE)
    }
    return demo_cohort.load_cohort(study, investigators=by_site[roles.INVESTIGATOR], nurses=by_site[roles.NURSE])


def derive_demo_study(study: Study) -> str:
    """Compute the derived patient-day table (SPEC 3) of the demo study; returns a line for the command's output."""
    summary = derivation_job.derive_all([study])
    if summary.skipped_locked:
        return "Derived data: not recomputed, the demo study is locked."
    return f"Derived data: {summary.rows} patient-days of {summary.patients} patients."
