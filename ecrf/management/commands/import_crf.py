from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from cohorts import roles
from cohorts.jobs import JobStatus
from cohorts.models import Study
from ecrf import import_jobs, importing


class Command(BaseCommand):
    help = (
        "Import case report data from CSV files (docs/import-format.md): files named after their table "
        f"({importing.FILE_NAMES}), folders of them or zip archives (a release exported as CSV). "
        "Every row goes through the checks of the forms; nothing is stored unless every row passes. The import is a "
        "job, listed on the study's import page; it runs here, or with --background in the Celery worker."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", type=Path, help="CSV files, folders of CSV files or zip archives")
        parser.add_argument("--study", help="the study's code (needed when there are several studies)")
        parser.add_argument(
            "--user", help="username recorded in the audit trail as the person who imported (a data manager of it)"
        )
        parser.add_argument("--check", action="store_true", help="check every row, store nothing")
        parser.add_argument(
            "--background",
            action="store_true",
            help="queue the import for the Celery worker and return; its page on the import page shows how it goes",
        )

    def handle(self, *args, paths, study=None, user=None, check=False, background=False, **options):
        target = self._study(study)
        person = None
        if user:
            person = get_user_model().objects.filter(username=user).first()
            if person is None:
                raise CommandError(f"No user {user}.")
            if not roles.has_study_role(person, target, roles.IMPORTERS):
                raise CommandError(f"{user} is not a data manager of the study {target.code}: they cannot import.")
        missing = [str(path) for path in paths if not path.exists()]
        if missing:
            raise CommandError(f"No such file or folder: {', '.join(missing)}")
        uploads = [
            import_jobs.Upload(source.name, source.chunks(), in_archive=source.in_archive)
            for source in importing.sources_from_paths(paths)
        ]
        try:
            job = import_jobs.import_request(
                study=target, user=person, uploads=uploads, check_only=check, queue=background
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        if background:
            self.stdout.write(f"Queued import {job.pk}: {reverse('import_status', args=[job.pk])}")
            return
        job = import_jobs.import_run(job_id=job.pk)
        if job.status != JobStatus.DONE:
            raise CommandError(f"Import {job.pk} {job.status}: {job.error}")
        report = importing.ImportReport.from_dict(job.report)
        for result in report.files:
            self.stdout.write(
                f"  {result.name}: {result.rows} row{'s' if result.rows != 1 else ''}, {result.created} new, "
                f"{result.changed} changed, "
                f"{result.unchanged} unchanged"
            )
        for name in report.skipped:
            self.stdout.write(f"  skipped (not a table of the import): {name}")
        problems = import_jobs.problems_file(job)
        if problems is not None:
            with problems.open(encoding="utf-8") as listed:
                for problem in importing.read_problems(listed):
                    self.stderr.write(str(problem))
        if not report.ok:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(f"{target.code}: {report.summary()}"))

    def _study(self, code: str | None) -> Study:
        if code:
            try:
                return Study.objects.get(code=code)
            except Study.DoesNotExist:
                raise CommandError(f"No study {code}.") from None
        studies = list(Study.objects.order_by("code")[:10])
        if len(studies) != 1:
            codes = ", ".join(s.code for s in studies) or "none"
            raise CommandError(f"Name the study with --study (studies: {codes}).")
        return studies[0]
