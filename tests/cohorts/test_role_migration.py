"""The data migration of issue 14: today's role groups and site memberships become role assignments per study."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("cohorts", "0006_role_assignment")]
AFTER = [("cohorts", "0007_assignments_from_groups")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


# serialized_rollback, like the other transactional tests: the flush after it then leaves the tables empty (no
# content types recreated by post_migrate), and the next serialized test restores the data of the migrations.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_groups_and_memberships_become_assignments_per_study():
    old = migrate(BEFORE)
    try:
        User, Group = old.get_model("auth", "User"), old.get_model("auth", "Group")
        Study, Site = old.get_model("cohorts", "Study"), old.get_model("cohorts", "Site")
        Membership = old.get_model("cohorts", "SiteMembership")
        milan = Study.objects.create(code="milan", title="Milan", protocol="milan_2020")
        paris = Study.objects.create(code="paris", title="Paris", protocol="milan_2020")
        mi = Site.objects.create(code="MI", name="Milan")
        bg = Site.objects.create(code="BG", name="Bergamo")
        pa = Site.objects.create(code="PA", name="Paris")
        mi.studies.add(milan)
        bg.studies.add(milan, paris)
        pa.studies.add(paris)
        people = {}
        for name, group, sites in [
            ("nina", "nurse", [mi, bg]),
            ("ivo", "investigator", [pa]),
            ("dario", "data_manager", []),
            ("stella", "statistician", []),
            ("ada", "admin", []),
            ("nobody", None, [mi]),
        ]:
            people[name] = User.objects.create(username=name)
            if group:
                people[name].groups.add(Group.objects.get_or_create(name=group)[0])
            for site in sites:
                Membership.objects.create(user=people[name], site=site)

        new = migrate(AFTER)
        Assignment = new.get_model("cohorts", "RoleAssignment")
        got = {
            (a.user.username, a.study.code, a.role, a.all_sites, tuple(sorted(s.code for s in a.sites.all())))
            for a in Assignment.objects.select_related("user", "study")
        }
        assert got == {
            ("nina", "milan", "nurse", False, ("BG", "MI")),
            ("nina", "paris", "nurse", False, ("BG",)),  # Bergamo takes part in both studies
            ("ivo", "paris", "investigator", False, ("PA",)),
            ("dario", "milan", "data_manager", True, ()),  # data managers saw every site of every study
            ("dario", "paris", "data_manager", True, ()),
            ("stella", "milan", "statistician", True, ()),  # statisticians saw every study's releases
            ("stella", "paris", "statistician", True, ()),
        }
        groups = set(new.get_model("auth", "Group").objects.values_list("name", flat=True))
        assert groups == {"admin"}  # the one global group left: system administrators

        back = migrate(BEFORE)  # and back: the groups and memberships again
        assert set(back.get_model("cohorts", "SiteMembership").objects.values_list("user__username", "site__code")) == {
            ("nobody", "MI"),  # memberships are only dropped by the next migration
            ("nina", "MI"),
            ("nina", "BG"),
            ("ivo", "PA"),
            ("dario", "MI"),
            ("dario", "BG"),
            ("dario", "PA"),
            ("stella", "MI"),
            ("stella", "BG"),
            ("stella", "PA"),
        }
        assert set(
            back.get_model("auth", "User").objects.get(username="nina").groups.values_list("name", flat=True)
        ) == {"nurse"}
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
