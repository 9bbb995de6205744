"""Queries carry their patient's site (copied at save; the rule job's bulk writes set it) and an index for the
query list's newest-first pages: the list, its counts and the scoping by site no longer join the patients."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def copy_sites(apps, schema_editor):
    Patient = apps.get_model("cohorts", "Patient")
    site = Subquery(Patient.objects.filter(pk=OuterRef("patient_id")).values("site_id")[:1])
    for name in ("Query", "HistoricalQuery"):
        apps.get_model("cleaning", name).objects.update(site_id=site)


class Migration(migrations.Migration):
    dependencies = [
        ("cleaning", "0006_patient_list_order"),
        ("cohorts", "0001_squashed_0013_patient_oxygen_criterion_at"),
    ]

    operations = [
        migrations.AddField(
            model_name="query",
            name="site",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.site"
            ),
        ),
        migrations.AddField(
            model_name="historicalquery",
            name="site",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="cohorts.site",
            ),
        ),
        migrations.RunPython(copy_sites, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="query",
            name="site",
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name="+", to="cohorts.site"),
        ),
        migrations.AddIndex(
            model_name="query",
            index=models.Index(fields=["study", "-opened_at", "-id"], name="query_study_newest"),
        ),
    ]
