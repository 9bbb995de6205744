"""Export a locked release to a zip on the server (the same bytes as the export page gives)."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from analysis import exports, releases
from analysis.models import ExportFormat, Release
from cohorts.models import Study


class Command(BaseCommand):
    help = (
        "Write the export of a locked release: one zip in a format of the export page "
        f"({', '.join(ExportFormat.values)}). The same release in the same format always gives the same bytes."
    )

    def add_arguments(self, parser):
        parser.add_argument("study", help="the study's code")
        parser.add_argument("--release", type=int, help="the release's version (default: the latest)")
        parser.add_argument("--format", required=True, choices=ExportFormat.values, dest="fmt")
        parser.add_argument("--output", type=Path, default=Path("."), help="a folder (default: the current one)")

    def handle(self, *args, study, fmt, output, release=None, **options):
        chosen = self._release(study, release)
        refusal = exports.export_refusal(chosen, fmt)
        if refusal:
            raise CommandError(refusal)
        if not output.is_dir():
            raise CommandError(f"No such folder: {output}")
        target = output / exports.export_name(chosen, fmt)
        try:
            exports.write_export_file(chosen, fmt, target)
        except exports.ExportRefused as error:
            raise CommandError(str(error)) from None
        except ValueError as error:  # a build that would be invalid (a value outside its code list, ...)
            raise CommandError(f"The {ExportFormat(fmt).label} export failed: {error}") from None
        self.stdout.write(self.style.SUCCESS(f"{target} ({releases.sha256_file(target)})"))

    def _release(self, code: str, version: int | None) -> Release:
        study = Study.objects.filter(code=code).first()
        if study is None:
            raise CommandError(f"No study {code}.")
        releases = study.releases.order_by("-version")
        chosen = releases.filter(version=version).first() if version is not None else releases.first()
        if chosen is None:
            if version is not None:
                raise CommandError(f"The study {code} has no release v{version}.")
            raise CommandError(f"The study {code} has no locked release: lock it first (the releases page).")
        return chosen
