"""The demo logins: one person per role at Milan (and at the New York case-series site), a nurse and an investigator
at Bergamo, one password. Each holds the role in every demo study of their sites (cohorts/team.py); the administrator
is in the system group."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from cohorts import roles
from cohorts.models import RoleAssignment, Site, Study
from cohorts.team import grant

DEMO_PASSWORD = "anakinra-demo"  # the demo only; printed by load_demo

# Demo logins: username -> (first name, last name, role, site codes). People-like names, so that pages showing
# who did what (audit trail, screening log) read like a real study, with the role in the surname to remember it. The
# people of Milan work at the New York site of the case series too (demo/new_york_cohort.py): one login sees the
# three demo studies.
DEMO_PEOPLE = {
    "nurse": ("Nina", "Nurse", roles.NURSE, ["MI", "NY"]),
    "investigator": ("Ivo", "Investigator", roles.INVESTIGATOR, ["MI", "NY"]),
    "monitor": ("Mona", "Monitor", roles.MONITOR, ["MI", "NY"]),
    "data_manager": ("Dario", "Datamanager", roles.DATA_MANAGER, ["MI", "NY"]),
    "statistician": ("Stella", "Statistician", roles.STATISTICIAN, ["MI", "NY"]),
    "admin": ("Ada", "Admin", roles.ADMIN, ["MI"]),
    "nurse_bg": ("Bruna", "Nurse", roles.NURSE, ["BG"]),
    "investigator_bg": ("Bruno", "Investigator", roles.INVESTIGATOR, ["BG"]),
}


@transaction.atomic
def create_demo_users() -> list[tuple[str, str, str]]:
    """One user per role at Milan and New York, a nurse and an investigator at Bergamo; returns the logins."""
    User = get_user_model()
    logins = []
    for username, (first_name, last_name, role, site_codes) in DEMO_PEOPLE.items():
        user, created = User.objects.get_or_create(username=username, defaults={"is_staff": role == roles.ADMIN})
        if created:
            user.set_password(DEMO_PASSWORD)
        if created or (user.first_name, user.last_name) != (first_name, last_name):
            user.first_name, user.last_name = first_name, last_name
            user.save()
        if role == roles.ADMIN:
            user.groups.add(Group.objects.get(name=roles.ADMIN_GROUP))
            logins.append((username, DEMO_PASSWORD, f"{roles.ROLES[role]} (system)"))
            continue
        sites = list(Site.objects.filter(code__in=site_codes))
        studies = list(Study.objects.filter(sites__in=sites).distinct())
        for study in studies:
            if not RoleAssignment.objects.filter(user=user, study=study, role=role, ended_at__isnull=True).exists():
                grant(user, study, role, [s for s in sites if study.sites.filter(pk=s.pk).exists()], reason="demo")
        where = "every site" if role in roles.STUDY_WIDE else ", ".join(site_codes)
        logins.append((username, DEMO_PASSWORD, f"{roles.ROLES[role]} ({where}; {len(studies)} demo studies)"))
    return logins


def staff_by_site(role: str) -> dict:
    """The demo user of a role at each site, by site code: who screens and enrols (investigators) or enters the
    daily forms (nurses) of the demo patients there."""
    users = {user.username: user for user in get_user_model().objects.filter(username__in=DEMO_PEOPLE)}
    return {site: users[name] for name, (_, _, r, sites) in DEMO_PEOPLE.items() if r == role for site in sites}
