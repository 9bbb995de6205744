"""Create the role groups of docs/architecture.md; the admin group may set up studies in the Django admin."""

from django.db import migrations

ROLES = ["nurse", "investigator", "monitor", "data_manager", "statistician", "admin"]
ADMIN_MODELS = {"study": "acvd", "site": "acvd", "arm": "acvd", "sitemembership": "acvd", "patient": "v"}
ACTIONS = {"a": "add", "c": "change", "v": "view", "d": "delete"}


def create_groups(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    install_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def install_role_groups(Group, Permission):
    """The groups and the admin group's permissions; also used by the tests after a flush removed them."""
    for name in ROLES:
        Group.objects.get_or_create(name=name)
    admin = Group.objects.get(name="admin")
    codenames = [f"{ACTIONS[a]}_{model}" for model, acts in ADMIN_MODELS.items() for a in acts]
    admin.permissions.set(Permission.objects.filter(content_type__app_label="cohorts", codename__in=codenames))


def remove_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(create_groups, remove_groups)]
