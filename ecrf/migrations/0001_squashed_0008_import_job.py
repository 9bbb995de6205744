"""The daily forms' tables as migrations 0001-0008 left them, in one step.

Squashed on 2026-12-05: a database that has run all of 0001-0008 takes it as applied (docs/architecture.md,
"Migrations").
"""

import django.db.models.deletion
import simple_history.models
import uuid
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    replaces = [
        ("ecrf", "0001_initial"),
        ("ecrf", "0002_patient_derivation"),
        ("ecrf", "0003_number_limits"),
        ("ecrf", "0004_missing_data_codes"),
        ("ecrf", "0005_not_done_reason_default"),
        ("ecrf", "0006_field_names_translatable"),
        ("ecrf", "0007_ventilation_episodes_and_times"),
        ("ecrf", "0008_import_job"),
    ]

    dependencies = [
        ("cohorts", "0001_squashed_0013_patient_oxygen_criterion_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="DerivedCourse",
            fields=[
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="course",
                        serialize=False,
                        to="cohorts.patient",
                    ),
                ),
                ("hours_to_anakinra", models.FloatField(null=True)),
                ("timing_basis", models.CharField(blank=True, max_length=4)),
                ("timing_group", models.CharField(max_length=12)),
                ("imv_episodes", models.SmallIntegerField()),
                ("imv_days", models.FloatField()),
                ("imv_days_basis", models.CharField(blank=True, max_length=4)),
                ("imv_ongoing", models.BooleanField()),
                ("failed_extubations", models.SmallIntegerField()),
                ("extubated", models.BooleanField()),
                ("ventilator_free_days", models.FloatField()),
                ("icu_free_days", models.FloatField()),
                ("ny_response", models.BooleanField()),
                ("ny_failure", models.BooleanField()),
                ("died", models.BooleanField()),
                ("discharged", models.BooleanField()),
                ("algorithm_version", models.CharField(max_length=32)),
                ("computed_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="PatientDerivation",
            fields=[
                (
                    "patient",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        primary_key=True,
                        related_name="derivation",
                        serialize=False,
                        to="cohorts.patient",
                    ),
                ),
                ("algorithm_version", models.CharField(max_length=32)),
                ("digest", models.BigIntegerField()),
                ("derived_at", models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name="HistoricalAdverseEvent",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("bacteraemia", "Bacteraemia"),
                            ("liver_enzymes_gt_3uln", "Liver enzymes > 3 x ULN"),
                            ("thromboembolism", "Thromboembolism"),
                            ("other", "Other"),
                        ],
                        max_length=24,
                        verbose_name="kind",
                    ),
                ),
                (
                    "organism",
                    models.CharField(blank=True, help_text="For bacteraemia.", max_length=120, verbose_name="organism"),
                ),
                ("description", models.CharField(blank=True, max_length=300, verbose_name="description")),
                ("serious", models.BooleanField(default=False, verbose_name="serious")),
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
                "verbose_name": "historical adverse event",
                "verbose_name_plural": "historical adverse events",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalDispositionEvent",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("discharged", "Discharged"),
                            ("icu_admission", "ICU admission"),
                            ("imv_started", "Invasive ventilation started"),
                            ("icu_discharge", "ICU discharge"),
                            ("death", "Death"),
                            ("withdrawal", "Withdrawal"),
                            ("lost_to_follow_up", "Lost to follow-up"),
                            ("vital_status_contact", "Vital status contact (e.g. day-21 call)"),
                        ],
                        max_length=24,
                        verbose_name="kind",
                    ),
                ),
                ("normal_activities", models.BooleanField(blank=True, null=True, verbose_name="normal activities")),
                ("alive", models.BooleanField(blank=True, null=True, verbose_name="alive")),
                ("cause_of_death", models.CharField(blank=True, max_length=200, verbose_name="cause of death")),
                ("occurred_at", models.DateTimeField(blank=True, null=True, verbose_name="time")),
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
                "verbose_name": "historical disposition event",
                "verbose_name_plural": "historical disposition events",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalDrugAdministration",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "drug",
                    models.CharField(
                        choices=[
                            ("anakinra", "Anakinra"),
                            ("hydroxychloroquine", "Hydroxychloroquine"),
                            ("lopinavir_ritonavir", "Lopinavir/ritonavir"),
                            ("glucocorticoid", "Glucocorticoid"),
                            ("tocilizumab", "Tocilizumab"),
                            ("other_il6_antagonist", "Other IL-6 antagonist"),
                            ("antibiotic", "Antibiotic"),
                        ],
                        max_length=32,
                        verbose_name="drug",
                    ),
                ),
                (
                    "drug_detail",
                    models.CharField(blank=True, max_length=120, verbose_name="name (antibiotic, glucocorticoid, ...)"),
                ),
                ("dose", models.DecimalField(decimal_places=2, max_digits=7, verbose_name="dose")),
                (
                    "dose_unit",
                    models.CharField(
                        choices=[("mg", "mg"), ("mg/kg", "mg/kg")], max_length=8, verbose_name="dose unit"
                    ),
                ),
                (
                    "route",
                    models.CharField(
                        choices=[("oral", "Oral"), ("sc", "Subcutaneous"), ("iv", "Intravenous")],
                        max_length=8,
                        verbose_name="route",
                    ),
                ),
                (
                    "frequency",
                    models.CharField(
                        choices=[
                            ("once", "Once"),
                            ("q24h", "Every 24 h"),
                            ("bid", "Twice daily (every 12 h)"),
                            ("q8h", "Every 8 h"),
                            ("q6h", "Every 6 h"),
                        ],
                        max_length=8,
                        verbose_name="frequency",
                    ),
                ),
                ("stop_day", models.SmallIntegerField(blank=True, null=True, verbose_name="stop day")),
                ("started_at", models.DateTimeField(blank=True, null=True, verbose_name="start time")),
                ("stopped_at", models.DateTimeField(blank=True, null=True, verbose_name="stop time")),
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
                "verbose_name": "historical drug administration",
                "verbose_name_plural": "historical drug administrations",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalLabResult",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "pao2_mmhg",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=5, null=True, verbose_name="PaO2 (mmHg)"
                    ),
                ),
                ("pao2_entered_unit", models.CharField(blank=True, default="mmHg", max_length=8)),
                (
                    "abg_fio2",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=3,
                        null=True,
                        verbose_name="FiO2 at the blood gas (fraction)",
                    ),
                ),
                (
                    "crp_mg_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=6, null=True, verbose_name="CRP (mg/L)"
                    ),
                ),
                ("crp_entered_unit", models.CharField(blank=True, default="mg/L", max_length=8)),
                (
                    "ferritin_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=8, null=True, verbose_name="ferritin (ng/mL)"
                    ),
                ),
                (
                    "ldh_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="LDH (U/L)"
                    ),
                ),
                (
                    "ast_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="AST (U/L)"
                    ),
                ),
                (
                    "alt_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="ALT (U/L)"
                    ),
                ),
                (
                    "ast_uln_u_l",
                    models.DecimalField(
                        blank=True,
                        decimal_places=1,
                        max_digits=6,
                        null=True,
                        verbose_name="AST upper limit of normal (U/L)",
                    ),
                ),
                (
                    "alt_uln_u_l",
                    models.DecimalField(
                        blank=True,
                        decimal_places=1,
                        max_digits=6,
                        null=True,
                        verbose_name="ALT upper limit of normal (U/L)",
                    ),
                ),
                (
                    "lymphocytes_10e9_l",
                    models.DecimalField(
                        blank=True, decimal_places=2, max_digits=5, null=True, verbose_name="lymphocytes (10^9/L)"
                    ),
                ),
                (
                    "ddimer_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=8, null=True, verbose_name="D-dimer (ng/mL)"
                    ),
                ),
                (
                    "ddimer_basis",
                    models.CharField(
                        blank=True,
                        choices=[("FEU", "FEU (fibrinogen-equivalent units)"), ("DDU", "DDU (D-dimer units)")],
                        max_length=3,
                        verbose_name="ddimer basis",
                    ),
                ),
                (
                    "procalcitonin_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=2, max_digits=6, null=True, verbose_name="procalcitonin (ng/mL)"
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
                "verbose_name": "historical laboratory results",
                "verbose_name_plural": "historical laboratory results",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalRespiratorySupport",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "support",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("room_air", "Room air"),
                            ("nasal_cannula", "Low-flow: nasal cannula"),
                            ("simple_mask", "Low-flow: simple mask"),
                            ("venturi", "Low-flow: Venturi mask"),
                            ("non_rebreather", "Low-flow: non-rebreather mask"),
                            ("hfnc", "High-flow nasal cannula"),
                            ("cpap", "CPAP"),
                            ("niv", "Non-invasive ventilation (BiPAP)"),
                            ("imv", "Invasive mechanical ventilation"),
                        ],
                        max_length=16,
                        verbose_name="support",
                    ),
                ),
                (
                    "flow_l_min",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="O2 flow (L/min)"
                    ),
                ),
                (
                    "fio2",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=3,
                        null=True,
                        verbose_name="FiO2 set on the device (fraction)",
                    ),
                ),
                (
                    "peep_cmh2o",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="PEEP (cmH2O)"
                    ),
                ),
                (
                    "niv_hours",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=3, null=True, verbose_name="hours on NIV/CPAP that day"
                    ),
                ),
                ("ecmo", models.BooleanField(default=False, verbose_name="ECMO")),
                ("prone", models.BooleanField(default=False, verbose_name="prone position")),
                ("vasopressors", models.BooleanField(default=False, verbose_name="vasopressors")),
                ("rrt", models.BooleanField(default=False, verbose_name="renal replacement therapy")),
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
                "verbose_name": "historical respiratory support",
                "verbose_name_plural": "historical respiratory support",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalVentilationEpisode",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                ("intubated_at", models.DateTimeField(blank=True, null=True, verbose_name="intubation time")),
                ("end_day", models.SmallIntegerField(blank=True, null=True, verbose_name="end day")),
                ("ended_at", models.DateTimeField(blank=True, null=True, verbose_name="end time")),
                (
                    "end_reason",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("extubated", "Extubated"),
                            ("died", "Died on the ventilator"),
                            ("transferred", "Transferred on the ventilator"),
                        ],
                        max_length=12,
                        verbose_name="how it ended",
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
                "verbose_name": "historical ventilation episode",
                "verbose_name_plural": "historical ventilation episodes",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="HistoricalVitalSigns",
            fields=[
                ("id", models.BigIntegerField(auto_created=True, blank=True, db_index=True, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(blank=True, editable=False)),
                (
                    "temperature_c",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="temperature (°C)"
                    ),
                ),
                ("heart_rate_bpm", models.SmallIntegerField(blank=True, null=True, verbose_name="heart rate (/min)")),
                (
                    "respiratory_rate_bpm",
                    models.SmallIntegerField(blank=True, null=True, verbose_name="respiratory rate (/min)"),
                ),
                ("systolic_mmhg", models.SmallIntegerField(blank=True, null=True, verbose_name="systolic BP (mmHg)")),
                ("diastolic_mmhg", models.SmallIntegerField(blank=True, null=True, verbose_name="diastolic BP (mmHg)")),
                ("spo2_pct", models.SmallIntegerField(blank=True, null=True, verbose_name="SpO2 (%)")),
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
                "verbose_name": "historical vital signs",
                "verbose_name_plural": "historical vital signs",
                "ordering": ("-history_date", "-history_id"),
                "get_latest_by": ("history_date", "history_id"),
            },
            bases=(simple_history.models.HistoricalChanges, models.Model),
        ),
        migrations.CreateModel(
            name="AdverseEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("bacteraemia", "Bacteraemia"),
                            ("liver_enzymes_gt_3uln", "Liver enzymes > 3 x ULN"),
                            ("thromboembolism", "Thromboembolism"),
                            ("other", "Other"),
                        ],
                        max_length=24,
                        verbose_name="kind",
                    ),
                ),
                (
                    "organism",
                    models.CharField(blank=True, help_text="For bacteraemia.", max_length=120, verbose_name="organism"),
                ),
                ("description", models.CharField(blank=True, max_length=300, verbose_name="description")),
                ("serious", models.BooleanField(default=False, verbose_name="serious")),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "adverse event",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("kind__in", ["bacteraemia", "liver_enzymes_gt_3uln", "thromboembolism", "other"])
                        ),
                        name="adverse_event_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("not_done_reason", "")), name="adverse_event_never_not_done"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "organism"), _negated=True),
                                ("organism", ""),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "description"), _negated=True),
                                ("description", ""),
                                _connector="OR",
                            ),
                        ),
                        name="adverse_event_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="DerivedDay",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField()),
                ("state", models.CharField(blank=True, max_length=24)),
                ("ordinal_7", models.SmallIntegerField(null=True)),
                ("who_osci", models.SmallIntegerField(null=True)),
                ("who_cps", models.SmallIntegerField(null=True)),
                ("status_note", models.CharField(blank=True, max_length=200)),
                ("fio2", models.FloatField(null=True)),
                ("fio2_estimated", models.BooleanField(default=False)),
                ("sf_ratio", models.FloatField(null=True)),
                ("pf_measured", models.FloatField(null=True)),
                ("pf_derived", models.FloatField(null=True)),
                ("pf_derived_note", models.CharField(blank=True, max_length=200)),
                ("pf", models.FloatField(null=True)),
                ("pf_source", models.CharField(blank=True, max_length=10)),
                ("ards_severity", models.CharField(blank=True, max_length=10)),
                ("sustained_benefit", models.BooleanField(default=False)),
                ("liver_enzymes_gt_3uln", models.BooleanField(default=False)),
                ("data_after_death", models.BooleanField(default=False)),
                ("algorithm_version", models.CharField(max_length=32)),
                ("computed_at", models.DateTimeField()),
                (
                    "patient",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="derived_days",
                        to="cohorts.patient",
                    ),
                ),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("patient", "study_day"), name="derived_one_per_patient_day")
                ],
            },
        ),
        migrations.CreateModel(
            name="DispositionEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("discharged", "Discharged"),
                            ("icu_admission", "ICU admission"),
                            ("imv_started", "Invasive ventilation started"),
                            ("icu_discharge", "ICU discharge"),
                            ("death", "Death"),
                            ("withdrawal", "Withdrawal"),
                            ("lost_to_follow_up", "Lost to follow-up"),
                            ("vital_status_contact", "Vital status contact (e.g. day-21 call)"),
                        ],
                        max_length=24,
                        verbose_name="kind",
                    ),
                ),
                ("normal_activities", models.BooleanField(blank=True, null=True, verbose_name="normal activities")),
                ("alive", models.BooleanField(blank=True, null=True, verbose_name="alive")),
                ("cause_of_death", models.CharField(blank=True, max_length=200, verbose_name="cause of death")),
                ("occurred_at", models.DateTimeField(blank=True, null=True, verbose_name="time")),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "disposition event",
                "constraints": [
                    models.UniqueConstraint(fields=("patient", "study_day", "kind"), name="disposition_unique_per_day"),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "kind__in",
                                [
                                    "discharged",
                                    "icu_admission",
                                    "imv_started",
                                    "icu_discharge",
                                    "death",
                                    "withdrawal",
                                    "lost_to_follow_up",
                                    "vital_status_contact",
                                ],
                            )
                        ),
                        name="disposition_kind_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "vital_status_contact"), _negated=True),
                            ("alive__isnull", False),
                            _connector="OR",
                        ),
                        name="disposition_contact_alive",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("not_done_reason", "")), name="disposition_never_not_done"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "normal_activities"), _negated=True),
                                ("normal_activities__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "alive"), _negated=True),
                                ("alive__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "occurred_at"), _negated=True),
                                ("occurred_at__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "cause_of_death"), _negated=True),
                                ("cause_of_death", ""),
                                _connector="OR",
                            ),
                        ),
                        name="disposition_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="DrugAdministration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "drug",
                    models.CharField(
                        choices=[
                            ("anakinra", "Anakinra"),
                            ("hydroxychloroquine", "Hydroxychloroquine"),
                            ("lopinavir_ritonavir", "Lopinavir/ritonavir"),
                            ("glucocorticoid", "Glucocorticoid"),
                            ("tocilizumab", "Tocilizumab"),
                            ("other_il6_antagonist", "Other IL-6 antagonist"),
                            ("antibiotic", "Antibiotic"),
                        ],
                        max_length=32,
                        verbose_name="drug",
                    ),
                ),
                (
                    "drug_detail",
                    models.CharField(blank=True, max_length=120, verbose_name="name (antibiotic, glucocorticoid, ...)"),
                ),
                ("dose", models.DecimalField(decimal_places=2, max_digits=7, verbose_name="dose")),
                (
                    "dose_unit",
                    models.CharField(
                        choices=[("mg", "mg"), ("mg/kg", "mg/kg")], max_length=8, verbose_name="dose unit"
                    ),
                ),
                (
                    "route",
                    models.CharField(
                        choices=[("oral", "Oral"), ("sc", "Subcutaneous"), ("iv", "Intravenous")],
                        max_length=8,
                        verbose_name="route",
                    ),
                ),
                (
                    "frequency",
                    models.CharField(
                        choices=[
                            ("once", "Once"),
                            ("q24h", "Every 24 h"),
                            ("bid", "Twice daily (every 12 h)"),
                            ("q8h", "Every 8 h"),
                            ("q6h", "Every 6 h"),
                        ],
                        max_length=8,
                        verbose_name="frequency",
                    ),
                ),
                ("stop_day", models.SmallIntegerField(blank=True, null=True, verbose_name="stop day")),
                ("started_at", models.DateTimeField(blank=True, null=True, verbose_name="start time")),
                ("stopped_at", models.DateTimeField(blank=True, null=True, verbose_name="stop time")),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "drug administration",
                "constraints": [
                    models.CheckConstraint(condition=models.Q(("dose__gt", 0)), name="drug_dose_positive"),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("dose__lte", 1000), ("dose_unit", "mg"), ("drug", "anakinra")),
                            models.Q(("dose__lte", 10), ("dose_unit", "mg/kg"), ("drug", "anakinra")),
                            models.Q(("dose__lte", 800), ("dose_unit", "mg"), ("drug", "hydroxychloroquine")),
                            models.Q(("dose__lte", 15), ("dose_unit", "mg/kg"), ("drug", "hydroxychloroquine")),
                            models.Q(("dose__lte", 1000), ("dose_unit", "mg"), ("drug", "lopinavir_ritonavir")),
                            models.Q(("dose__lte", 20), ("dose_unit", "mg/kg"), ("drug", "lopinavir_ritonavir")),
                            models.Q(("dose__lte", 1000), ("dose_unit", "mg"), ("drug", "glucocorticoid")),
                            models.Q(("dose__lte", 30), ("dose_unit", "mg/kg"), ("drug", "glucocorticoid")),
                            models.Q(("dose__lte", 800), ("dose_unit", "mg"), ("drug", "tocilizumab")),
                            models.Q(("dose__lte", 12), ("dose_unit", "mg/kg"), ("drug", "tocilizumab")),
                            models.Q(("dose__lte", 800), ("dose_unit", "mg"), ("drug", "other_il6_antagonist")),
                            models.Q(("dose__lte", 15), ("dose_unit", "mg/kg"), ("drug", "other_il6_antagonist")),
                            models.Q(("dose__lte", 8000), ("dose_unit", "mg"), ("drug", "antibiotic")),
                            models.Q(("dose__lte", 100), ("dose_unit", "mg/kg"), ("drug", "antibiotic")),
                            _connector="OR",
                        ),
                        name="drug_dose_hard_max",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "drug__in",
                                [
                                    "anakinra",
                                    "hydroxychloroquine",
                                    "lopinavir_ritonavir",
                                    "glucocorticoid",
                                    "tocilizumab",
                                    "other_il6_antagonist",
                                    "antibiotic",
                                ],
                            )
                        ),
                        name="drug_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("dose_unit__in", ["mg", "mg/kg"])), name="drug_dose_unit_valid"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("route__in", ["oral", "sc", "iv"])), name="drug_route_valid"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("stop_day__isnull", True), ("stop_day__gte", models.F("study_day")), _connector="OR"
                        ),
                        name="drug_stop_after_start",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("stopped_at__isnull", True),
                            ("started_at__isnull", True),
                            ("stopped_at__gt", models.F("started_at")),
                            _connector="OR",
                        ),
                        name="drug_stop_time_after_start",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("stopped_at__isnull", True), ("stop_day__isnull", False), _connector="OR"),
                        name="drug_stop_time_needs_day",
                    ),
                    models.CheckConstraint(condition=models.Q(("not_done_reason", "")), name="drug_never_not_done"),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "stop_day"), _negated=True),
                                ("stop_day__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "started_at"), _negated=True),
                                ("started_at__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "stopped_at"), _negated=True),
                                ("stopped_at__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "drug_detail"), _negated=True),
                                ("drug_detail", ""),
                                _connector="OR",
                            ),
                        ),
                        name="drug_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="ImportJob",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("token", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("check_only", models.BooleanField(default=False)),
                ("language", models.CharField(max_length=10)),
                ("file_names", models.JSONField(default=list)),
                ("in_archive", models.JSONField(default=list)),
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
                ("rows", models.PositiveIntegerField(default=0)),
                ("problems", models.PositiveIntegerField(default=0)),
                ("report", models.JSONField(blank=True, default=dict)),
                ("error", models.TextField(blank=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "study",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.study"
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["queued", "running", "done", "failed", "cancelled"])),
                        name="import_job_status_valid",
                    ),
                    models.UniqueConstraint(
                        condition=models.Q(("status__in", ("queued", "running"))),
                        fields=("study",),
                        name="import_job_one_pending_per_study",
                        violation_error_code="import_pending",
                        violation_error_message="An import into this study is already queued or running.",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="LabResult",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "pao2_mmhg",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=5, null=True, verbose_name="PaO2 (mmHg)"
                    ),
                ),
                ("pao2_entered_unit", models.CharField(blank=True, default="mmHg", max_length=8)),
                (
                    "abg_fio2",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=3,
                        null=True,
                        verbose_name="FiO2 at the blood gas (fraction)",
                    ),
                ),
                (
                    "crp_mg_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=6, null=True, verbose_name="CRP (mg/L)"
                    ),
                ),
                ("crp_entered_unit", models.CharField(blank=True, default="mg/L", max_length=8)),
                (
                    "ferritin_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=8, null=True, verbose_name="ferritin (ng/mL)"
                    ),
                ),
                (
                    "ldh_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="LDH (U/L)"
                    ),
                ),
                (
                    "ast_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="AST (U/L)"
                    ),
                ),
                (
                    "alt_u_l",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=7, null=True, verbose_name="ALT (U/L)"
                    ),
                ),
                (
                    "ast_uln_u_l",
                    models.DecimalField(
                        blank=True,
                        decimal_places=1,
                        max_digits=6,
                        null=True,
                        verbose_name="AST upper limit of normal (U/L)",
                    ),
                ),
                (
                    "alt_uln_u_l",
                    models.DecimalField(
                        blank=True,
                        decimal_places=1,
                        max_digits=6,
                        null=True,
                        verbose_name="ALT upper limit of normal (U/L)",
                    ),
                ),
                (
                    "lymphocytes_10e9_l",
                    models.DecimalField(
                        blank=True, decimal_places=2, max_digits=5, null=True, verbose_name="lymphocytes (10^9/L)"
                    ),
                ),
                (
                    "ddimer_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=8, null=True, verbose_name="D-dimer (ng/mL)"
                    ),
                ),
                (
                    "ddimer_basis",
                    models.CharField(
                        blank=True,
                        choices=[("FEU", "FEU (fibrinogen-equivalent units)"), ("DDU", "DDU (D-dimer units)")],
                        max_length=3,
                        verbose_name="ddimer basis",
                    ),
                ),
                (
                    "procalcitonin_ng_ml",
                    models.DecimalField(
                        blank=True, decimal_places=2, max_digits=6, null=True, verbose_name="procalcitonin (ng/mL)"
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "laboratory results",
                "verbose_name_plural": "laboratory results",
                "constraints": [
                    models.UniqueConstraint(fields=("patient", "study_day"), name="labs_one_per_patient_day"),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("pao2_mmhg__isnull", True),
                            models.Q(("pao2_mmhg__gte", 20), ("pao2_mmhg__lte", 700)),
                            _connector="OR",
                        ),
                        name="labs_pao2_mmhg_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("abg_fio2__isnull", True),
                            models.Q(("abg_fio2__gte", Decimal("0.21")), ("abg_fio2__lte", Decimal("1.0"))),
                            _connector="OR",
                        ),
                        name="labs_abg_fio2_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("crp_mg_l__isnull", True),
                            models.Q(("crp_mg_l__gte", 0), ("crp_mg_l__lte", 1000)),
                            _connector="OR",
                        ),
                        name="labs_crp_mg_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ferritin_ng_ml__isnull", True),
                            models.Q(("ferritin_ng_ml__gte", 0), ("ferritin_ng_ml__lte", 300000)),
                            _connector="OR",
                        ),
                        name="labs_ferritin_ng_ml_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ldh_u_l__isnull", True),
                            models.Q(("ldh_u_l__gte", 0), ("ldh_u_l__lte", 20000)),
                            _connector="OR",
                        ),
                        name="labs_ldh_u_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ast_u_l__isnull", True),
                            models.Q(("ast_u_l__gte", 0), ("ast_u_l__lte", 20000)),
                            _connector="OR",
                        ),
                        name="labs_ast_u_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("alt_u_l__isnull", True),
                            models.Q(("alt_u_l__gte", 0), ("alt_u_l__lte", 20000)),
                            _connector="OR",
                        ),
                        name="labs_alt_u_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("lymphocytes_10e9_l__isnull", True),
                            models.Q(("lymphocytes_10e9_l__gte", 0), ("lymphocytes_10e9_l__lte", 50)),
                            _connector="OR",
                        ),
                        name="labs_lymphocytes_10e9_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("procalcitonin_ng_ml__isnull", True),
                            models.Q(("procalcitonin_ng_ml__gte", 0), ("procalcitonin_ng_ml__lte", 1000)),
                            _connector="OR",
                        ),
                        name="labs_procalcitonin_ng_ml_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ddimer_ng_ml__isnull", True),
                            models.Q(("ddimer_ng_ml__gte", 0), ("ddimer_ng_ml__lte", 9999999)),
                            _connector="OR",
                        ),
                        name="labs_ddimer_ng_ml_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ast_uln_u_l__isnull", True),
                            models.Q(("ast_uln_u_l__gte", 10), ("ast_uln_u_l__lte", 200)),
                            _connector="OR",
                        ),
                        name="labs_ast_uln_u_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("alt_uln_u_l__isnull", True),
                            models.Q(("alt_uln_u_l__gte", 10), ("alt_uln_u_l__lte", 200)),
                            _connector="OR",
                        ),
                        name="labs_alt_uln_u_l_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ddimer_ng_ml__isnull", True),
                            models.Q(("ddimer_basis", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="labs_ddimer_needs_basis",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("not_done_reason", ""),
                            models.Q(
                                ("pao2_mmhg__isnull", True),
                                ("abg_fio2__isnull", True),
                                ("crp_mg_l__isnull", True),
                                ("ferritin_ng_ml__isnull", True),
                                ("ldh_u_l__isnull", True),
                                ("ast_u_l__isnull", True),
                                ("alt_u_l__isnull", True),
                                ("lymphocytes_10e9_l__isnull", True),
                                ("procalcitonin_ng_ml__isnull", True),
                                ("ddimer_ng_ml__isnull", True),
                                ("missing_codes", {}),
                            ),
                            _connector="OR",
                        ),
                        name="labs_not_done_holds_nothing",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "pao2_mmhg"), _negated=True),
                                ("pao2_mmhg__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "abg_fio2"), _negated=True),
                                ("abg_fio2__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "crp_mg_l"), _negated=True),
                                ("crp_mg_l__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "ferritin_ng_ml"), _negated=True),
                                ("ferritin_ng_ml__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "ldh_u_l"), _negated=True),
                                ("ldh_u_l__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "ast_u_l"), _negated=True),
                                ("ast_u_l__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "alt_u_l"), _negated=True),
                                ("alt_u_l__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "lymphocytes_10e9_l"), _negated=True),
                                ("lymphocytes_10e9_l__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "procalcitonin_ng_ml"), _negated=True),
                                ("procalcitonin_ng_ml__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "ddimer_ng_ml"), _negated=True),
                                ("ddimer_ng_ml__isnull", True),
                                _connector="OR",
                            ),
                        ),
                        name="labs_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="RespiratorySupport",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "support",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("room_air", "Room air"),
                            ("nasal_cannula", "Low-flow: nasal cannula"),
                            ("simple_mask", "Low-flow: simple mask"),
                            ("venturi", "Low-flow: Venturi mask"),
                            ("non_rebreather", "Low-flow: non-rebreather mask"),
                            ("hfnc", "High-flow nasal cannula"),
                            ("cpap", "CPAP"),
                            ("niv", "Non-invasive ventilation (BiPAP)"),
                            ("imv", "Invasive mechanical ventilation"),
                        ],
                        max_length=16,
                        verbose_name="support",
                    ),
                ),
                (
                    "flow_l_min",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="O2 flow (L/min)"
                    ),
                ),
                (
                    "fio2",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=3,
                        null=True,
                        verbose_name="FiO2 set on the device (fraction)",
                    ),
                ),
                (
                    "peep_cmh2o",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="PEEP (cmH2O)"
                    ),
                ),
                (
                    "niv_hours",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=3, null=True, verbose_name="hours on NIV/CPAP that day"
                    ),
                ),
                ("ecmo", models.BooleanField(default=False, verbose_name="ECMO")),
                ("prone", models.BooleanField(default=False, verbose_name="prone position")),
                ("vasopressors", models.BooleanField(default=False, verbose_name="vasopressors")),
                ("rrt", models.BooleanField(default=False, verbose_name="renal replacement therapy")),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "respiratory support",
                "verbose_name_plural": "respiratory support",
                "constraints": [
                    models.UniqueConstraint(fields=("patient", "study_day"), name="support_one_per_patient_day"),
                    models.CheckConstraint(
                        condition=models.Q(
                            (
                                "support__in",
                                [
                                    "room_air",
                                    "nasal_cannula",
                                    "simple_mask",
                                    "venturi",
                                    "non_rebreather",
                                    "hfnc",
                                    "cpap",
                                    "niv",
                                    "imv",
                                    "",
                                ],
                            )
                        ),
                        name="support_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("support", ""), _negated=True),
                            models.Q(("not_done_reason", ""), _negated=True),
                            _connector="OR",
                        ),
                        name="support_needs_level_unless_not_done",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("flow_l_min__isnull", True),
                            models.Q(("flow_l_min__gte", Decimal("0.5")), ("flow_l_min__lte", 70)),
                            _connector="OR",
                        ),
                        name="support_flow_l_min_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("fio2__isnull", True),
                            models.Q(("fio2__gte", Decimal("0.21")), ("fio2__lte", Decimal("1.0"))),
                            _connector="OR",
                        ),
                        name="support_fio2_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("peep_cmh2o__isnull", True),
                            models.Q(("peep_cmh2o__gte", 0), ("peep_cmh2o__lte", 30)),
                            _connector="OR",
                        ),
                        name="support_peep_cmh2o_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("niv_hours__isnull", True),
                            models.Q(("niv_hours__gte", 0), ("niv_hours__lte", 24)),
                            _connector="OR",
                        ),
                        name="support_niv_hours_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("support", "room_air"), _negated=True),
                            ("fio2__isnull", True),
                            ("fio2", 0.21),
                            _connector="OR",
                        ),
                        name="support_room_air_fio2_021",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("support__in", ["cpap", "niv", "imv"]), _negated=True),
                            models.Q(("fio2__isnull", False), ("peep_cmh2o__isnull", False)),
                            _connector="OR",
                        ),
                        name="support_pressure_needs_fio2_peep",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("not_done_reason", ""),
                            models.Q(
                                ("flow_l_min__isnull", True),
                                ("fio2__isnull", True),
                                ("peep_cmh2o__isnull", True),
                                ("niv_hours__isnull", True),
                                ("ecmo", False),
                                ("prone", False),
                                ("vasopressors", False),
                                ("rrt", False),
                                ("support", ""),
                                ("missing_codes", {}),
                            ),
                            _connector="OR",
                        ),
                        name="support_not_done_holds_nothing",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "flow_l_min"), _negated=True),
                                ("flow_l_min__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "fio2"), _negated=True),
                                ("fio2__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "peep_cmh2o"), _negated=True),
                                ("peep_cmh2o__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "niv_hours"), _negated=True),
                                ("niv_hours__isnull", True),
                                _connector="OR",
                            ),
                        ),
                        name="support_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="VentilationEpisode",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                ("intubated_at", models.DateTimeField(blank=True, null=True, verbose_name="intubation time")),
                ("end_day", models.SmallIntegerField(blank=True, null=True, verbose_name="end day")),
                ("ended_at", models.DateTimeField(blank=True, null=True, verbose_name="end time")),
                (
                    "end_reason",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("extubated", "Extubated"),
                            ("died", "Died on the ventilator"),
                            ("transferred", "Transferred on the ventilator"),
                        ],
                        max_length=12,
                        verbose_name="how it ended",
                    ),
                ),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "ventilation episode",
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(("end_reason__in", ["extubated", "died", "transferred", ""])),
                        name="episode_end_valid",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("end_day__isnull", True), ("end_day__gte", models.F("study_day")), _connector="OR"
                        ),
                        name="episode_end_after_start",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("ended_at__isnull", True),
                            ("intubated_at__isnull", True),
                            ("ended_at__gt", models.F("intubated_at")),
                            _connector="OR",
                        ),
                        name="episode_end_time_after_start",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("end_day__isnull", True), models.Q(("end_reason", ""), _negated=True), _connector="OR"
                        ),
                        name="episode_end_day_has_reason",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("ended_at__isnull", True), ("end_day__isnull", False), _connector="OR"),
                        name="episode_end_time_needs_day",
                    ),
                    models.CheckConstraint(condition=models.Q(("not_done_reason", "")), name="episode_never_not_done"),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "intubated_at"), _negated=True),
                                ("intubated_at__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "end_day"), _negated=True),
                                ("end_day__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "ended_at"), _negated=True),
                                ("ended_at__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "end_reason"), _negated=True),
                                ("end_reason", ""),
                                _connector="OR",
                            ),
                        ),
                        name="episode_coded_fields_empty",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="VitalSigns",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("study_day", models.SmallIntegerField(help_text="Day 0 = enrolment.", verbose_name="study day")),
                ("confirmed_checks", models.JSONField(blank=True, default=list)),
                (
                    "missing_codes",
                    models.JSONField(
                        blank=True,
                        db_default=models.Value({}, output_field=models.JSONField()),
                        default=dict,
                        verbose_name="missing-data codes",
                    ),
                ),
                (
                    "not_done_reason",
                    models.CharField(
                        blank=True,
                        db_default="",
                        default="",
                        max_length=200,
                        verbose_name="reason the form was not done",
                    ),
                ),
                ("version", models.PositiveIntegerField(default=1, editable=False)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "temperature_c",
                    models.DecimalField(
                        blank=True, decimal_places=1, max_digits=4, null=True, verbose_name="temperature (°C)"
                    ),
                ),
                ("heart_rate_bpm", models.SmallIntegerField(blank=True, null=True, verbose_name="heart rate (/min)")),
                (
                    "respiratory_rate_bpm",
                    models.SmallIntegerField(blank=True, null=True, verbose_name="respiratory rate (/min)"),
                ),
                ("systolic_mmhg", models.SmallIntegerField(blank=True, null=True, verbose_name="systolic BP (mmHg)")),
                ("diastolic_mmhg", models.SmallIntegerField(blank=True, null=True, verbose_name="diastolic BP (mmHg)")),
                ("spo2_pct", models.SmallIntegerField(blank=True, null=True, verbose_name="SpO2 (%)")),
                (
                    "patient",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.patient"
                    ),
                ),
            ],
            options={
                "verbose_name": "vital signs",
                "verbose_name_plural": "vital signs",
                "constraints": [
                    models.UniqueConstraint(fields=("patient", "study_day"), name="vitals_one_per_patient_day"),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("temperature_c__isnull", True),
                            models.Q(("temperature_c__gte", 32), ("temperature_c__lte", 44)),
                            _connector="OR",
                        ),
                        name="vitals_temperature_c_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("heart_rate_bpm__isnull", True),
                            models.Q(("heart_rate_bpm__gte", 20), ("heart_rate_bpm__lte", 250)),
                            _connector="OR",
                        ),
                        name="vitals_heart_rate_bpm_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("respiratory_rate_bpm__isnull", True),
                            models.Q(("respiratory_rate_bpm__gte", 4), ("respiratory_rate_bpm__lte", 70)),
                            _connector="OR",
                        ),
                        name="vitals_respiratory_rate_bpm_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("systolic_mmhg__isnull", True),
                            models.Q(("systolic_mmhg__gte", 40), ("systolic_mmhg__lte", 300)),
                            _connector="OR",
                        ),
                        name="vitals_systolic_mmhg_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("diastolic_mmhg__isnull", True),
                            models.Q(("diastolic_mmhg__gte", 20), ("diastolic_mmhg__lte", 200)),
                            _connector="OR",
                        ),
                        name="vitals_diastolic_mmhg_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("spo2_pct__isnull", True),
                            models.Q(("spo2_pct__gte", 50), ("spo2_pct__lte", 100)),
                            _connector="OR",
                        ),
                        name="vitals_spo2_pct_hard_range",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("systolic_mmhg__isnull", True),
                            ("diastolic_mmhg__isnull", True),
                            ("diastolic_mmhg__lt", models.F("systolic_mmhg")),
                            _connector="OR",
                        ),
                        name="vitals_diastolic_below_systolic",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("not_done_reason", ""),
                            models.Q(
                                ("temperature_c__isnull", True),
                                ("heart_rate_bpm__isnull", True),
                                ("respiratory_rate_bpm__isnull", True),
                                ("systolic_mmhg__isnull", True),
                                ("diastolic_mmhg__isnull", True),
                                ("spo2_pct__isnull", True),
                                ("missing_codes", {}),
                            ),
                            _connector="OR",
                        ),
                        name="vitals_not_done_holds_nothing",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                models.Q(("missing_codes__has_key", "temperature_c"), _negated=True),
                                ("temperature_c__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "heart_rate_bpm"), _negated=True),
                                ("heart_rate_bpm__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "respiratory_rate_bpm"), _negated=True),
                                ("respiratory_rate_bpm__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "systolic_mmhg"), _negated=True),
                                ("systolic_mmhg__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "diastolic_mmhg"), _negated=True),
                                ("diastolic_mmhg__isnull", True),
                                _connector="OR",
                            ),
                            models.Q(
                                models.Q(("missing_codes__has_key", "spo2_pct"), _negated=True),
                                ("spo2_pct__isnull", True),
                                _connector="OR",
                            ),
                        ),
                        name="vitals_coded_fields_empty",
                    ),
                ],
            },
        ),
    ]
