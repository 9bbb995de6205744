import importlib

from django.db import migrations


def count_the_screenings(apps, schema_editor):
    """The screening logs already there get their "screenings" figure (cohorts/consort.py): recounted as 0015 did."""
    earlier = importlib.import_module("cohorts.migrations.0015_consort_counts")
    earlier.count_the_screenings(apps, schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0015_consort_counts"),
    ]

    operations = [
        migrations.RunPython(count_the_screenings, migrations.RunPython.noop),
    ]
