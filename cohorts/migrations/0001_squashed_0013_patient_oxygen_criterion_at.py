"""The cohorts tables as migrations 0001-0013 left them, in one step, and the administrators' group.

Squashed on 2026-12-05: a new database runs this migration only; a database that has run all of 0001-0013 takes it
as applied. A database part of the way through 0001-0013 must first be migrated with a release from before the
squash (docs/architecture.md, "Migrations"). The role groups other than ``admin`` that 0002 created were turned
into per-study role assignments by 0007 and deleted, so only the administrators' group is made here.
"""

import cohorts.clock
import cohorts.constraints
import django.db.models.deletion
import simple_history.models
from django.conf import settings
from django.db import migrations, models

ADMIN_GROUP = "admin"
ADMIN_PERMISSIONS = {
    "cohorts": [
        *(f"{action}_{model}" for model in ("study", "site", "arm") for action in ("add", "change", "view", "delete")),
        "view_patient",
        "view_roleassignment",
    ],
    "auth": ["add_user", "change_user", "view_user", "view_group"],
}


def install_admin_group(Group, Permission):
    """The system administrators' group: studies, sites and arms in the Django admin, and accounts (users are added
    there, then given roles on a study's team page). Also used by the tests after a flush removed it."""
    admin, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    for app_label, codenames in ADMIN_PERMISSIONS.items():
        admin.permissions.add(*Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))


def create_admin_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    install_admin_group(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_admin_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ADMIN_GROUP).delete()


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("cohorts", "0001_initial"),
        ("cohorts", "0002_role_groups"),
        ("cohorts", "0003_submission"),
        ("cohorts", "0004_site_time_zone"),
        ("cohorts", "0005_number_limits"),
        ("cohorts", "0006_role_assignment"),
        ("cohorts", "0007_assignments_from_groups"),
        ("cohorts", "0008_remove_site_membership"),
        ("cohorts", "0009_admin_group_manages_accounts"),
        ("cohorts", "0010_patient_freeze"),
        ("cohorts", "0011_study_language"),
        ("cohorts", "0012_patient_field_names"),
        ("cohorts", "0013_patient_oxygen_criterion_at"),
    ]

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Arm",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(max_length=32)),
                ("name", models.CharField(max_length=120)),
                ("regimen_description", models.TextField(blank=True)),
                ("regimen", models.JSONField(blank=True, default=list)),
                ("order", models.PositiveSmallIntegerField(default=0)),
            ],
            options={
                "ordering": ["study", "order", "code"],
            },
        ),
        migrations.CreateModel(
            name="Site",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "code",
                    models.CharField(help_text="Prefix of the pseudonymised study ids.", max_length=8, unique=True),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "ast_uln_u_l",
                    models.DecimalField(
                        decimal_places=1,
                        default=40,
                        max_digits=6,
                        validators=[cohorts.constraints.WithinLimit("ast_uln_u_l")],
                        verbose_name="AST upper limit of normal (U/L)",
                    ),
                ),
                (
                    "alt_uln_u_l",
                    models.DecimalField(
                        decimal_places=1,
                        default=40,
                        max_digits=6,
                        validators=[cohorts.constraints.WithinLimit("alt_uln_u_l")],
                        verbose_name="ALT upper limit of normal (U/L)",
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default=cohorts.clock.default_time_zone,
                        help_text="IANA time zone of the site, e.g. Europe/Rome: data cannot be entered for a day after today there.",
                        max_length=64,
                        validators=[cohorts.clock.validate_time_zone],
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="HistoricalRoleAssignment",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("nurse", "Study nurse"),
                            ("investigator", "Investigator"),
                            ("monitor", "Monitor"),
                            ("data_manager", "Data manager"),
                            ("statistician", "Statistician"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "all_sites",
                    models.BooleanField(
                        default=False,
                        help_text="Also the sites that join the study later.",
                        verbose_name="every site of the study",
                    ),
                ),
                ("created_at", models.DateTimeField(blank=True, editable=False)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "historical role assignment",
                "verbose_name_plural": "historical role assignments",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalSite",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                (
                    "code",
                    models.CharField(db_index=True, help_text="Prefix of the pseudonymised study ids.", max_length=8),
                ),
                ("name", models.CharField(max_length=200)),
                (
                    "ast_uln_u_l",
                    models.DecimalField(
                        decimal_places=1,
                        default=40,
                        max_digits=6,
                        validators=[cohorts.constraints.WithinLimit("ast_uln_u_l")],
                        verbose_name="AST upper limit of normal (U/L)",
                    ),
                ),
                (
                    "alt_uln_u_l",
                    models.DecimalField(
                        decimal_places=1,
                        default=40,
                        max_digits=6,
                        validators=[cohorts.constraints.WithinLimit("alt_uln_u_l")],
                        verbose_name="ALT upper limit of normal (U/L)",
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default=cohorts.clock.default_time_zone,
                        help_text="IANA time zone of the site, e.g. Europe/Rome: data cannot be entered for a day after today there.",
                        max_length=64,
                        validators=[cohorts.clock.validate_time_zone],
                    ),
                ),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "historical site",
                "verbose_name_plural": "historical sites",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalStudy",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("code", models.SlugField(max_length=40)),
                ("title", models.CharField(max_length=200)),
                (
                    "protocol",
                    models.CharField(
                        choices=[
                            ("milan_2020", "Milan cohort (CPAP outside ICU, standard vs anakinra)"),
                            ("new_york_2020", "New York case series (anakinra to prevent ventilation)"),
                        ],
                        max_length=32,
                    ),
                ),
                ("registry_id", models.CharField(blank=True, max_length=64, verbose_name="registry id")),
                (
                    "follow_up_days",
                    models.PositiveSmallIntegerField(
                        default=21, validators=[cohorts.constraints.WithinLimit("follow_up_days")]
                    ),
                ),
                (
                    "primary_scale",
                    models.CharField(
                        choices=[
                            ("milan_7", "7-point ordinal scale (Milan; 1 best, 7 death)"),
                            ("who_osci_8", "WHO ordinal scale for clinical improvement (0-8)"),
                            ("who_cps_10", "WHO clinical progression scale (0-10)"),
                        ],
                        default="milan_7",
                        max_length=16,
                    ),
                ),
                (
                    "language",
                    models.CharField(
                        choices=[("en-gb", "English"), ("it", "Italiano")],
                        default="en-gb",
                        help_text="The variable and value labels of the codebook and of the SPSS and Stata files of each release locked from now on. Codes and variable names are the same in every language.",
                        max_length=10,
                        verbose_name="language of the codebook",
                    ),
                ),
                ("settings", models.JSONField(blank=True, default=dict)),
                ("is_locked", models.BooleanField(default=False, editable=False)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "historical study",
                "verbose_name_plural": "historical studies",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="Patient",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "participant_id",
                    models.CharField(
                        help_text="Pseudonymised id, e.g. MI-0007", max_length=24, verbose_name="participant id"
                    ),
                ),
                (
                    "enrolment_date",
                    models.DateField(
                        help_text="Study day 0 (first anakinra dose in treated arms).", verbose_name="enrolment date"
                    ),
                ),
                (
                    "oxygen_criterion_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="oxygen criterion met at"),
                ),
                ("sex", models.CharField(choices=[("F", "Female"), ("M", "Male")], max_length=1, verbose_name="sex")),
                ("age_years", models.PositiveSmallIntegerField(verbose_name="age (years)")),
                (
                    "weight_kg",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=5, null=True, verbose_name="weight (kg)"
                    ),
                ),
                (
                    "weight_confirmed",
                    models.BooleanField(
                        default=False, help_text="Soft limit (> 200 kg) confirmed.", verbose_name="weight confirmed"
                    ),
                ),
                ("smoking", models.BooleanField(blank=True, null=True, verbose_name="smoking")),
                ("hypertension", models.BooleanField(blank=True, null=True, verbose_name="hypertension")),
                (
                    "coronary_artery_disease",
                    models.BooleanField(blank=True, null=True, verbose_name="coronary artery disease"),
                ),
                ("diabetes", models.BooleanField(blank=True, null=True, verbose_name="diabetes")),
                ("copd", models.BooleanField(blank=True, null=True, verbose_name="COPD")),
                (
                    "chronic_kidney_disease",
                    models.BooleanField(blank=True, null=True, verbose_name="chronic kidney disease"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("active", "In follow-up"),
                            ("completed", "Follow-up completed"),
                            ("withdrawn", "Withdrawn"),
                            ("lost_to_follow_up", "Lost to follow-up"),
                            ("died", "Died"),
                        ],
                        default="active",
                        max_length=24,
                        verbose_name="status",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                (
                    "arm",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="patients",
                        to="cohorts.arm",
                        verbose_name="arm",
                    ),
                ),
            ],
            options={
                "ordering": ["participant_id"],
            },
        ),
        migrations.CreateModel(
            name="HistoricalPatientFreeze",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("frozen_at", models.DateTimeField()),
                ("reason", models.CharField(max_length=500)),
                ("unfrozen_at", models.DateTimeField(blank=True, null=True)),
                ("unfreeze_reason", models.CharField(blank=True, max_length=500)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "frozen_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "unfrozen_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.patient",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical patient freeze",
                "verbose_name_plural": "historical patient freezes",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="RoleAssignment",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "role",
                    models.CharField(
                        choices=[
                            ("nurse", "Study nurse"),
                            ("investigator", "Investigator"),
                            ("monitor", "Monitor"),
                            ("data_manager", "Data manager"),
                            ("statistician", "Statistician"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "all_sites",
                    models.BooleanField(
                        default=False,
                        help_text="Also the sites that join the study later.",
                        verbose_name="every site of the study",
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("ended_at", models.DateTimeField(blank=True, null=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="role_assignments",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                ("sites", models.ManyToManyField(blank=True, related_name="role_assignments", to="cohorts.site")),
            ],
        ),
        migrations.CreateModel(
            name="Screening",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.CharField(help_text="Screening number, e.g. MI-S0007", max_length=24)),
                ("assessed_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("values", models.JSONField(default=dict)),
                ("entered_units", models.JSONField(default=dict)),
                ("criteria", models.JSONField(default=list)),
                ("eligible", models.BooleanField()),
                (
                    "rescreen_of",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="rescreens",
                        to="cohorts.screening",
                    ),
                ),
                (
                    "screened_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="screenings", to="cohorts.site"
                    ),
                ),
            ],
            options={
                "ordering": ["-assessed_at"],
            },
        ),
        migrations.AddField(
            model_name="patient",
            name="screening",
            field=models.OneToOneField(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="patient",
                to="cohorts.screening",
                verbose_name="screening",
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="site",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="patients",
                to="cohorts.site",
                verbose_name="site",
            ),
        ),
        migrations.CreateModel(
            name="HistoricalRoleAssignment_sites",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("m2m_history_id", models.AutoField(primary_key=True, serialize=False)),
                (
                    "history",
                    models.ForeignKey(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        to="cohorts.historicalroleassignment",
                    ),
                ),
                (
                    "roleassignment",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_tablespace="",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.roleassignment",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_tablespace="",
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.site",
                    ),
                ),
            ],
            options={
                "verbose_name": "HistoricalRoleAssignment_sites",
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="Study",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.SlugField(max_length=40, unique=True)),
                ("title", models.CharField(max_length=200)),
                (
                    "protocol",
                    models.CharField(
                        choices=[
                            ("milan_2020", "Milan cohort (CPAP outside ICU, standard vs anakinra)"),
                            ("new_york_2020", "New York case series (anakinra to prevent ventilation)"),
                        ],
                        max_length=32,
                    ),
                ),
                ("registry_id", models.CharField(blank=True, max_length=64, verbose_name="registry id")),
                (
                    "follow_up_days",
                    models.PositiveSmallIntegerField(
                        default=21, validators=[cohorts.constraints.WithinLimit("follow_up_days")]
                    ),
                ),
                (
                    "primary_scale",
                    models.CharField(
                        choices=[
                            ("milan_7", "7-point ordinal scale (Milan; 1 best, 7 death)"),
                            ("who_osci_8", "WHO ordinal scale for clinical improvement (0-8)"),
                            ("who_cps_10", "WHO clinical progression scale (0-10)"),
                        ],
                        default="milan_7",
                        max_length=16,
                    ),
                ),
                (
                    "language",
                    models.CharField(
                        choices=[("en-gb", "English"), ("it", "Italiano")],
                        default="en-gb",
                        help_text="The variable and value labels of the codebook and of the SPSS and Stata files of each release locked from now on. Codes and variable names are the same in every language.",
                        max_length=10,
                        verbose_name="language of the codebook",
                    ),
                ),
                ("settings", models.JSONField(blank=True, default=dict)),
                ("is_locked", models.BooleanField(default=False, editable=False)),
            ],
            options={
                "verbose_name_plural": "studies",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("follow_up_days__gte", 1), ("follow_up_days__lte", 365)),
                        name="study_follow_up_1_to_365",
                    )
                ],
            },
        ),
        migrations.AddField(
            model_name="site",
            name="studies",
            field=models.ManyToManyField(blank=True, related_name="sites", to="cohorts.study"),
        ),
        migrations.AddField(
            model_name="screening",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="screenings", to="cohorts.study"
            ),
        ),
        migrations.AddField(
            model_name="roleassignment",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE, related_name="role_assignments", to="cohorts.study"
            ),
        ),
        migrations.AddField(
            model_name="patient",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="patients",
                to="cohorts.study",
                verbose_name="study",
            ),
        ),
        migrations.CreateModel(
            name="HistoricalScreening",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("number", models.CharField(help_text="Screening number, e.g. MI-S0007", max_length=24)),
                ("assessed_at", models.DateTimeField()),
                ("created_at", models.DateTimeField(blank=True, editable=False)),
                ("values", models.JSONField(default=dict)),
                ("entered_units", models.JSONField(default=dict)),
                ("criteria", models.JSONField(default=list)),
                ("eligible", models.BooleanField()),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "screened_by",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "rescreen_of",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.screening",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.site",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.study",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical screening",
                "verbose_name_plural": "historical screenings",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddField(
            model_name="historicalroleassignment",
            name="study",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="cohorts.study",
            ),
        ),
        migrations.CreateModel(
            name="HistoricalPatient",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                (
                    "participant_id",
                    models.CharField(
                        help_text="Pseudonymised id, e.g. MI-0007", max_length=24, verbose_name="participant id"
                    ),
                ),
                (
                    "enrolment_date",
                    models.DateField(
                        help_text="Study day 0 (first anakinra dose in treated arms).", verbose_name="enrolment date"
                    ),
                ),
                (
                    "oxygen_criterion_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="oxygen criterion met at"),
                ),
                ("sex", models.CharField(choices=[("F", "Female"), ("M", "Male")], max_length=1, verbose_name="sex")),
                ("age_years", models.PositiveSmallIntegerField(verbose_name="age (years)")),
                (
                    "weight_kg",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=5, null=True, verbose_name="weight (kg)"
                    ),
                ),
                (
                    "weight_confirmed",
                    models.BooleanField(
                        default=False, help_text="Soft limit (> 200 kg) confirmed.", verbose_name="weight confirmed"
                    ),
                ),
                ("smoking", models.BooleanField(blank=True, null=True, verbose_name="smoking")),
                ("hypertension", models.BooleanField(blank=True, null=True, verbose_name="hypertension")),
                (
                    "coronary_artery_disease",
                    models.BooleanField(blank=True, null=True, verbose_name="coronary artery disease"),
                ),
                ("diabetes", models.BooleanField(blank=True, null=True, verbose_name="diabetes")),
                ("copd", models.BooleanField(blank=True, null=True, verbose_name="COPD")),
                (
                    "chronic_kidney_disease",
                    models.BooleanField(blank=True, null=True, verbose_name="chronic kidney disease"),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("active", "In follow-up"),
                            ("completed", "Follow-up completed"),
                            ("withdrawn", "Withdrawn"),
                            ("lost_to_follow_up", "Lost to follow-up"),
                            ("died", "Died"),
                        ],
                        default="active",
                        max_length=24,
                        verbose_name="status",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "arm",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.arm",
                        verbose_name="arm",
                    ),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "screening",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.screening",
                        verbose_name="screening",
                    ),
                ),
                (
                    "site",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.site",
                        verbose_name="site",
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.study",
                        verbose_name="study",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical patient",
                "verbose_name_plural": "historical patients",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalArm",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("code", models.SlugField(max_length=32)),
                ("name", models.CharField(max_length=120)),
                ("regimen_description", models.TextField(blank=True)),
                ("regimen", models.JSONField(blank=True, default=list)),
                ("order", models.PositiveSmallIntegerField(default=0)),
                ("history_id", models.AutoField(primary_key=True, serialize=False)),
                ("history_date", models.DateTimeField(db_index=True)),
                ("history_change_reason", models.CharField(max_length=100, null=True)),
                (
                    "history_type",
                    models.CharField(choices=[("+", "Created"), ("~", "Changed"), ("-", "Deleted")], max_length=1),
                ),
                (
                    "history_user",
                    models.ForeignKey(
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        null=True,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        related_name="+",
                        to="cohorts.study",
                    ),
                ),
            ],
            options={
                "verbose_name": "historical arm",
                "verbose_name_plural": "historical arms",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.AddField(
            model_name="arm",
            name="study",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="arms", to="cohorts.study"
            ),
        ),
        migrations.CreateModel(
            name="AccountAction",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "kind",
                    models.CharField(
                        choices=[("unlock", "Account unlocked"), ("reset_second_factor", "Second factor reset")],
                        max_length=24,
                    ),
                ),
                ("reason", models.CharField(max_length=100)),
                ("done_at", models.DateTimeField(auto_now_add=True)),
                (
                    "account",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "done_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="account_actions", to="cohorts.study"
                    ),
                ),
            ],
            options={
                "ordering": ["-done_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="StudyIdCounter",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(default="patient", max_length=16)),
                ("last_number", models.PositiveIntegerField(default=0)),
                ("site", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="cohorts.site")),
                ("study", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to="cohorts.study")),
            ],
        ),
        migrations.CreateModel(
            name="Submission",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.CharField(max_length=64, unique=True)),
                ("object_id", models.PositiveBigIntegerField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "content_type",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        to="contenttypes.contenttype",
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
        ),
        migrations.CreateModel(
            name="PatientFreeze",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("frozen_at", models.DateTimeField()),
                ("reason", models.CharField(max_length=500)),
                ("unfrozen_at", models.DateTimeField(blank=True, null=True)),
                ("unfreeze_reason", models.CharField(blank=True, max_length=500)),
                (
                    "frozen_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="freezes", to="cohorts.patient"
                    ),
                ),
                (
                    "unfrozen_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("unfrozen_at__isnull", True)),
                        fields=("patient",),
                        name="patient_freeze_one_active",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("reason", ""), _negated=True), name="patient_freeze_reason_required"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("unfrozen_at__isnull", True),
                            models.Q(("unfreeze_reason", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="patient_freeze_unfreeze_reason_required",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ScreeningReason",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.CharField(max_length=64)),
                ("kind", models.CharField(max_length=16)),
                ("verdict", models.CharField(max_length=16)),
                ("label", models.CharField(max_length=200)),
                (
                    "screening",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="reasons", to="cohorts.screening"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("screening", "code"), name="screening_reason_unique")],
            },
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("code__regex", "^[A-Z0-9]{2,8}$")), name="site_code_upper_alnum"
            ),
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("ast_uln_u_l__gte", 10), ("ast_uln_u_l__lte", 200)),
                name="site_ast_uln_u_l_hard_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="site",
            constraint=models.CheckConstraint(
                condition=models.Q(("alt_uln_u_l__gte", 10), ("alt_uln_u_l__lte", 200)),
                name="site_alt_uln_u_l_hard_range",
            ),
        ),
        migrations.AddConstraint(
            model_name="screening",
            constraint=models.UniqueConstraint(fields=("study", "number"), name="screening_number_unique_per_study"),
        ),
        migrations.AddConstraint(
            model_name="roleassignment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("ended_at__isnull", True)),
                fields=("user", "study", "role"),
                name="role_assignment_one_active_per_role",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.UniqueConstraint(
                fields=("study", "participant_id"), name="patient_participant_id_unique_per_study"
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("age_years__gte", 0), ("age_years__lte", 120)), name="patient_age_0_120"
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("weight_kg__isnull", True),
                    models.Q(("weight_kg__gte", 30), ("weight_kg__lte", 300)),
                    _connector="OR",
                ),
                name="patient_weight_30_300",
            ),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(condition=models.Q(("sex__in", ["F", "M"])), name="patient_sex_valid"),
        ),
        migrations.AddConstraint(
            model_name="patient",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["active", "completed", "withdrawn", "lost_to_follow_up", "died"])),
                name="patient_status_valid",
            ),
        ),
        migrations.AddConstraint(
            model_name="arm",
            constraint=models.UniqueConstraint(fields=("study", "code"), name="arm_code_unique_per_study"),
        ),
        migrations.AddConstraint(
            model_name="studyidcounter",
            constraint=models.UniqueConstraint(fields=("study", "site", "kind"), name="study_id_counter_unique"),
        ),
        migrations.RunPython(create_admin_group, remove_admin_group),
    ]
