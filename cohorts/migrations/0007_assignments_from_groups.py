"""Today's role groups and site memberships become role assignments per study (cohorts/roles.py).

- nurses, investigators and monitors: an assignment in every study of the user's sites, at those of its sites;
- data managers (who saw every site) and statisticians (who saw every study's releases): an assignment in every
  study, at every site of it;
- the administrators' group stays: it is the one global group left (system administrators).
The role groups other than ``admin`` are then deleted. Backwards, the groups and memberships are made again from
the active assignments, which are then deleted.
"""

from django.db import migrations

SITE_ROLES = ("nurse", "investigator", "monitor")
STUDY_WIDE_ROLES = ("data_manager", "statistician")


def assignments_from_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Study = apps.get_model("cohorts", "Study")
    SiteMembership = apps.get_model("cohorts", "SiteMembership")
    RoleAssignment = apps.get_model("cohorts", "RoleAssignment")
    sites_of_user: dict[int, set[int]] = {}
    for user_id, site_id in SiteMembership.objects.values_list("user_id", "site_id"):
        sites_of_user.setdefault(user_id, set()).add(site_id)
    study_sites = {
        study.pk: {site.pk for site in study.sites.all()} for study in Study.objects.prefetch_related("sites")
    }
    for group in Group.objects.filter(name__in=SITE_ROLES + STUDY_WIDE_ROLES).prefetch_related("user_set"):
        for user in group.user_set.all():
            mine = sites_of_user.get(user.pk, set())
            for study_id, sites in study_sites.items():
                if group.name in STUDY_WIDE_ROLES:
                    RoleAssignment.objects.create(user=user, study_id=study_id, role=group.name, all_sites=True)
                elif sites & mine:
                    assignment = RoleAssignment.objects.create(user=user, study_id=study_id, role=group.name)
                    assignment.sites.set(sorted(sites & mine))
    Group.objects.filter(name__in=SITE_ROLES + STUDY_WIDE_ROLES).delete()


def groups_from_assignments(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    SiteMembership = apps.get_model("cohorts", "SiteMembership")
    RoleAssignment = apps.get_model("cohorts", "RoleAssignment")
    for assignment in RoleAssignment.objects.filter(ended_at__isnull=True).select_related("study", "user"):
        group, _ = Group.objects.get_or_create(name=assignment.role)
        assignment.user.groups.add(group)
        sites = assignment.study.sites.all() if assignment.all_sites else assignment.sites.all()
        for site in sites:
            SiteMembership.objects.get_or_create(user=assignment.user, site=site)
    for name in SITE_ROLES + STUDY_WIDE_ROLES:
        Group.objects.get_or_create(name=name)
    RoleAssignment.objects.all().delete()  # turned back into groups and memberships


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0006_role_assignment"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(assignments_from_groups, groups_from_assignments)]
