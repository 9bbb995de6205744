"""The release, lock and export tables as migrations 0001-0007 left them, in one step, and on PostgreSQL the guard
of a locked study (clinical definitions §5): no row of a locked study's patients, daily forms or derived data can be
inserted, changed or deleted, whatever the path (service, admin, shell, import, raw SQL).

Statement-level AFTER triggers with transition tables: one check per statement, so the derivation job's bulk
writes pay one query, not one per row. The check first takes FOR SHARE on the study rows involved, which makes a
lock (SELECT ... FOR UPDATE on the study, analysis/releases.py) wait for writers in flight and makes writers wait
for a lock in progress, then see it: a release is a consistent cut. No-op on SQLite (the service layer's
ensure_unlocked is the guard there).

Squashed on 2026-12-05: a database that has run all of 0001-0007 takes it as applied (docs/architecture.md,
"Migrations").
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LOCKED_ROW_TABLES = (
    "ecrf_vitalsigns",
    "ecrf_respiratorysupport",
    "ecrf_labresult",
    "ecrf_drugadministration",
    "ecrf_dispositionevent",
    "ecrf_adverseevent",
    "ecrf_derivedday",
    "ecrf_ventilationepisode",
    "ecrf_derivedcourse",
)

CHECK = """
DECLARE
    locked_code text;
BEGIN
    PERFORM 1 FROM cohorts_study s WHERE s.id IN ({studies}) ORDER BY s.id FOR SHARE;
    SELECT s.code INTO locked_code FROM cohorts_study s WHERE s.id IN ({studies}) AND s.is_locked LIMIT 1;
    IF locked_code IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            CONSTRAINT = 'study_locked',
            MESSAGE = 'study_locked: the study ' || locked_code
                      || ' is locked for a data release; unlock it to change data';
    END IF;
    RETURN NULL;
END;
"""
VIA_PATIENT = "SELECT p.study_id FROM cohorts_patient p WHERE p.id IN (SELECT patient_id FROM {rows})"
DIRECT = "SELECT study_id FROM {rows}"

FUNCTIONS = {
    "ecrf_locked_rows": VIA_PATIENT.format(rows="changed_rows"),
    "ecrf_locked_rows_update": VIA_PATIENT.format(rows="changed_rows")
    + " UNION "
    + VIA_PATIENT.format(rows="old_rows"),
    "ecrf_locked_patients": DIRECT.format(rows="changed_rows"),
    "ecrf_locked_patients_update": DIRECT.format(rows="changed_rows") + " UNION " + DIRECT.format(rows="old_rows"),
}
TRIGGERS = {**dict.fromkeys(LOCKED_ROW_TABLES, "ecrf_locked_rows"), "cohorts_patient": "ecrf_locked_patients"}


def forward_sql() -> list[str]:
    statements = [
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${CHECK.format(studies=studies)}$$;"
        for name, studies in FUNCTIONS.items()
    ]
    for table, function in TRIGGERS.items():
        statements += [
            f"CREATE TRIGGER {table}_locked_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
            f"CREATE TRIGGER {table}_locked_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
            f"NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}_update();",
            f"CREATE TRIGGER {table}_locked_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS changed_rows "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {function}();",
        ]
    return statements


def reverse_sql() -> list[str]:
    statements = [
        f"DROP TRIGGER IF EXISTS {table}_locked_{kind} ON {table};"
        for table in TRIGGERS
        for kind in ("ins", "upd", "del")
    ]
    return statements + [f"DROP FUNCTION IF EXISTS {name}();" for name in FUNCTIONS]


def _on_postgresql(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for statement in statements():
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("analysis", "0001_initial"),
        ("analysis", "0002_locked_study_triggers"),
        ("analysis", "0003_lockjob"),
        ("analysis", "0004_lockjob_started_at_job_cancelled"),
        ("analysis", "0005_lock_checklist_overrides"),
        ("analysis", "0006_export_formats_sdtm_odm_pdf"),
        ("analysis", "0007_locked_study_triggers_episodes_courses"),
    ]

    dependencies = [
        ("cohorts", "0001_squashed_0013_patient_oxygen_criterion_at"),
        ("ecrf", "0001_squashed_0008_import_job"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Release",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.PositiveIntegerField()),
                ("locked_at", models.DateTimeField()),
                ("reason", models.TextField()),
                ("unlocked_at", models.DateTimeField(blank=True, null=True)),
                ("unlock_reason", models.TextField(blank=True)),
                ("manifest", models.JSONField(default=dict)),
                (
                    "locked_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="releases", to="cohorts.study"
                    ),
                ),
                (
                    "unlocked_by",
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
                "ordering": ["study", "-version"],
            },
        ),
        migrations.CreateModel(
            name="LockJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("reason", models.TextField()),
                ("overrides", models.JSONField(blank=True, default=dict)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="lock_jobs", to="cohorts.study"
                    ),
                ),
                (
                    "release",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="lock_job",
                        to="analysis.release",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.CreateModel(
            name="ExportJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "format",
                    models.CharField(
                        choices=[
                            ("csv", "CSV"),
                            ("xlsx", "Excel (XLSX)"),
                            ("parquet", "Parquet"),
                            ("sav", "SPSS (.sav)"),
                            ("dta", "Stata (.dta)"),
                            ("xpt", "SAS XPORT (.xpt)"),
                            ("sdtm", "SDTM-shaped datasets with Define-XML 2.1"),
                            ("odm", "CDISC ODM 1.3.2 with audit trail (archival)"),
                            ("pdf", "PDF casebooks per patient (archival)"),
                        ],
                        max_length=8,
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "Queued"),
                            ("running", "Running"),
                            ("done", "Done"),
                            ("failed", "Failed"),
                            ("cancelled", "Cancelled"),
                        ],
                        default="queued",
                        max_length=10,
                    ),
                ),
                ("progress", models.PositiveSmallIntegerField(default=0)),
                ("file_path", models.CharField(blank=True, max_length=500)),
                ("sha256", models.CharField(blank=True, max_length=64)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to=settings.AUTH_USER_MODEL
                    ),
                ),
                (
                    "release",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="exports", to="analysis.release"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.UniqueConstraint(fields=("study", "version"), name="release_version_unique_per_study"),
        ),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.CheckConstraint(condition=models.Q(("version__gte", 1)), name="release_version_positive"),
        ),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.CheckConstraint(
                condition=models.Q(("reason", ""), _negated=True), name="release_reason_required"
            ),
        ),
        migrations.AddConstraint(
            model_name="release",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("unlocked_at__isnull", True), models.Q(("unlock_reason", ""), _negated=True), _connector="OR"
                ),
                name="release_unlock_reason_required",
            ),
        ),
        migrations.AddConstraint(
            model_name="lockjob",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status__in", ("queued", "running"))),
                fields=("study",),
                name="lock_job_one_pending_per_study",
                violation_error_code="lock_pending",
                violation_error_message="A lock of this study is already queued or running.",
            ),
        ),
        migrations.AddConstraint(
            model_name="lockjob",
            constraint=models.CheckConstraint(
                condition=models.Q(("reason", ""), _negated=True), name="lock_job_reason_required"
            ),
        ),
        migrations.AddConstraint(
            model_name="lockjob",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "done"), _negated=True), ("release__isnull", False), _connector="OR"
                ),
                name="lock_job_done_has_release",
            ),
        ),
        migrations.AddConstraint(
            model_name="exportjob",
            constraint=models.CheckConstraint(
                condition=models.Q(("progress__lte", 100)), name="export_progress_percent"
            ),
        ),
        migrations.AddConstraint(
            model_name="exportjob",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("format__in", ["csv", "xlsx", "parquet", "sav", "dta", "xpt", "sdtm", "odm", "pdf"])
                ),
                name="export_format_valid",
            ),
        ),
        migrations.RunPython(_on_postgresql(forward_sql), _on_postgresql(reverse_sql), elidable=False),
    ]
