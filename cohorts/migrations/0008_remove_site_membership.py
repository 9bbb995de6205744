"""Site memberships are gone: the role assignments of 0007 carry the sites (cohorts/roles.py)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("cohorts", "0007_assignments_from_groups"),
    ]

    operations = [
        migrations.DeleteModel(
            name="HistoricalSiteMembership",
        ),
        migrations.DeleteModel(
            name="SiteMembership",
        ),
    ]
