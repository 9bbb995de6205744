"""python manage.py derive [--study CODE] [--patient PARTICIPANT_ID_OR_PK] [--force]: recompute the derived days."""

import time

from django.core.management.base import BaseCommand, CommandError

from cohorts.audit import StudyLocked
from cohorts.models import Patient, Study
from ecrf import derivation_job


class Command(BaseCommand):
    help = (
        "Recompute the derived patient-day table (ordinal status, P/F, ARDS, protocol signals; clinical "
        "definitions §3) now, in "
        "this process: every study, one study (--study CODE) or one patient (--patient ID). Locked studies are "
        "skipped and named. Rows whose values did not change are left as they are unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument("--study", help="study code, e.g. milan-anakinra")
        parser.add_argument("--patient", help="participant id (e.g. MI-0007; with --study when ambiguous) or pk")
        parser.add_argument(
            "--force", action="store_true", help="rewrite every derived row, even those whose values did not change"
        )

    def _study(self, code: str) -> Study:
        study = Study.objects.filter(code=code).first()
        if study is None:
            known = ", ".join(Study.objects.order_by("code").values_list("code", flat=True)) or "none"
            raise CommandError(f"Unknown study {code!r} (studies: {known}).")
        return study

    def _patient(self, ref: str, study: Study | None) -> Patient:
        patients = Patient.objects.select_related("study")
        if study is not None:
            patients = patients.filter(study=study)
        matches = list(patients.filter(participant_id=ref)[:2])
        if not matches and ref.isdigit():
            matches = list(patients.filter(pk=int(ref)))
        if not matches:
            where = f" in study {study.code}" if study else ""
            raise CommandError(f"Unknown patient {ref!r}{where}: give a participant id or a database id.")
        if len(matches) > 1:
            raise CommandError(f"Participant id {ref!r} exists in several studies: add --study CODE.")
        return matches[0]

    def handle(self, *args, study=None, patient=None, force=False, **options):
        started = time.monotonic()
        chosen_study = self._study(study) if study else None
        try:
            if patient:
                chosen = self._patient(patient, chosen_study)
                summary = derivation_job.derive_patient(chosen.pk, force=force)
                summary.studies = 1
            else:
                summary = derivation_job.derive_all([chosen_study] if chosen_study else None, force=force)
        except StudyLocked as exc:
            raise CommandError(exc.messages[0]) from exc
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"Derived {summary.rows} patient-days of {summary.patients} "
            f"{'patient' if summary.patients == 1 else 'patients'} in {summary.studies} "
            f"{'study' if summary.studies == 1 else 'studies'} in {elapsed:.1f} s; {summary.written} rows rewritten, "
            f"{summary.rows - summary.written} unchanged"
            + (f"; {summary.deleted} rows beyond the follow-up deleted" if summary.deleted else "")
            + "."
        )
        for code in summary.skipped_locked:
            self.stdout.write(self.style.WARNING(f"Skipped study {code}: locked for a data release."))
