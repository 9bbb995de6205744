"""What the migrations leave in a new database (docs/architecture.md §2, Migrations)."""

import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db
def test_a_new_database_has_one_group_the_administrators_with_their_admin_permissions():
    """Roles are per-study assignments (cohorts/roles.py); the administrators' group is the one global group."""
    admin = Group.objects.get()
    assert admin.name == "admin"
    assert set(admin.permissions.values_list("content_type__app_label", "codename")) == {
        *{
            ("cohorts", f"{action}_{model}")
            for model in ("study", "site", "arm")
            for action in ("add", "change", "view", "delete")
        },
        ("cohorts", "view_patient"),
        ("cohorts", "view_roleassignment"),
        ("auth", "add_user"),
        ("auth", "change_user"),
        ("auth", "view_user"),
        ("auth", "view_group"),
    }
