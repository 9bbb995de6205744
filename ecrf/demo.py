"""The demo study of `make demo`: the Milan cohort protocol at two sites, one login per role."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from cohorts import roles
from cohorts.models import Arm, Protocol, Site, SiteMembership, Study

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


@transaction.atomic
def create_demo_users() -> list[tuple[str, str, str]]:
    """One user per role (nurse and investigator at Milan, a second nurse at Bergamo); returns the logins."""
    User = get_user_model()
    people = [(role, role, ["MI"]) for role in roles.ROLES] + [("nurse_bg", roles.NURSE, ["BG"])]
    logins = []
    for username, role, site_codes in people:
        user, created = User.objects.get_or_create(
            username=username, defaults={"first_name": roles.ROLES[role], "is_staff": role == roles.ADMIN}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        user.groups.add(Group.objects.get(name=role))
        for site in Site.objects.filter(code__in=site_codes):
            SiteMembership.objects.get_or_create(user=user, site=site)
        logins.append((username, DEMO_PASSWORD, f"{roles.ROLES[role]} ({', '.join(site_codes)})"))
    return logins
