"""The system administrators' group manages accounts in the Django admin (users are added there, then given roles
on a study's team page); its old permissions on site memberships are gone with the model."""

from django.db import migrations

ACCOUNT_PERMISSIONS = ["add_user", "change_user", "view_user", "view_group", "view_roleassignment"]


def create_permissions(apps):
    from django.contrib.auth.management import create_permissions as create

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create(app_config, apps=apps, verbosity=0)
        app_config.models_module = None


def install_account_permissions(Group, Permission):
    """Also used by the tests after a flush removed them (tests/conftest.py)."""
    admin, _ = Group.objects.get_or_create(name="admin")
    admin.permissions.add(*Permission.objects.filter(codename__in=ACCOUNT_PERMISSIONS))


def forward(apps, schema_editor):
    create_permissions(apps)
    install_account_permissions(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def backward(apps, schema_editor):
    admin = apps.get_model("auth", "Group").objects.filter(name="admin").first()
    if admin is not None:
        admin.permissions.remove(
            *apps.get_model("auth", "Permission").objects.filter(codename__in=ACCOUNT_PERMISSIONS)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0008_remove_site_membership"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forward, backward)]
