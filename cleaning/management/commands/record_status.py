"""python manage.py record_status [--study CODE]: recompute the record status dashboard's counts (and the screening
log's CONSORT counts) now."""

import time

from django.core.management.base import BaseCommand, CommandError

from cleaning import status_job
from cohorts import consort
from cohorts.models import Study


class Command(BaseCommand):
    help = (
        "Recompute the counts of the record status dashboard (every cell of every patient, and the sums per site "
        "and arm) and the CONSORT counts of the screening log now, in this process: every study, or one (--study "
        "CODE). Saves keep them up to date and an hourly task counts the days that fall due; run this after loading "
        "or deleting data without the application's services."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", help="study code, e.g. milan-anakinra")

    def handle(self, *args, study=None, **options):
        started = time.monotonic()
        studies = Study.objects.order_by("code")
        if study:
            studies = studies.filter(code=study)
            if not studies:
                known = ", ".join(Study.objects.order_by("code").values_list("code", flat=True)) or "none"
                raise CommandError(f"Unknown study {study!r} (studies: {known}).")
        patients = 0
        for chosen in studies:
            patients += status_job.rebuild_study(chosen).patients
            consort.recount(chosen)
        count = len(studies)
        self.stdout.write(
            f"Recomputed the record status of {patients} {'patient' if patients == 1 else 'patients'} and the "
            f"screening log's counts in {count} {'study' if count == 1 else 'studies'} in "
            f"{time.monotonic() - started:.1f} s."
        )
