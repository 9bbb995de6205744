"""CSV import of case report data (issue 7): the format of docs/import-format.md, through the forms' checks.

One file per table, named after it: ``patients.csv`` (arm and baseline) and one per form, with the file and column
names of a locked release's tables (analysis/datasets.py; ecrf may not import analysis, so
tests/ecrf/test_import_roundtrip.py keeps the two equal). A release exported as CSV therefore imports as it is.

An import runs in two passes and stores all or nothing:

1. read: every file is decoded (UTF-8) and split (CSV) and its header checked; problems of a whole file stop
   that file;
2. check: the tables are then read in the order of writer.WRITE_ORDER (patients first, then deaths and discharges,
   then the other forms), each row in two steps:
   - parse: every cell becomes the typed value of its column (number, yes/no, code, date, time) or a problem naming
     its file, row and column; a row that repeats an earlier row of its file and an unknown participant are found
     here;
   - write: every row goes through the service of its form (ecrf/services.py, cohorts/services.py for patients),
     which runs the same checks as the forms (clinical definitions §2.1, §2.3 for times), audited with the reason
     "import: <file name>". A local time is placed here in the time zone of the patient's site
     (columns.site_time), a time of day on the date of its row's study day there (columns.site_time_of_day). The
     rows of a one-per-day form are written 5,000 at a time (writer.CREATE_CHUNK).

Every file and row is checked, so one report lists every problem; the writes happen in one transaction that is
rolled back when there is any problem (or when only checking). A row equal to what is stored changes nothing and
leaves no history row, so importing the same files twice stores them once.
"""

from collections.abc import Sequence

from django.db import transaction
from django.utils.translation import gettext as _

from cohorts.audit import StudyLocked, ensure_unlocked
from cohorts.models import Study
from ecrf.importing.columns import COLUMNS, FILE_NAMES, REQUIRED_COLUMNS, TABLES, template_header
from ecrf.importing.files import Source, TableFile, expand_archives, read_file, sources_from_paths, write_table
from ecrf.importing.progress import CHECK, READ, ImportCancelled, Progress
from ecrf.importing.report import FileResult, ImportReport, Problem, read_problems, write_problems
from ecrf.importing.writer import ImportRun, young_collections_only

__all__ = [
    "COLUMNS",
    "FILE_NAMES",
    "REQUIRED_COLUMNS",
    "TABLES",
    "FileResult",
    "ImportCancelled",
    "ImportReport",
    "Problem",
    "Progress",
    "Source",
    "crf_import",
    "read_problems",
    "sources_from_paths",
    "template_header",
    "write_problems",
    "write_table",
]


def crf_import(
    *, study: Study, sources: Sequence[Source], user, check_only: bool = False, progress: Progress | None = None
) -> ImportReport:
    """Import the case report data of ``sources`` (CSV files or zips of them) into ``study``: all or nothing.

    Returns the report: per file the rows created, changed and unchanged, and every problem with its file, row and
    column. Nothing is stored when there is any problem, or with ``check_only``. ``progress`` is told each phase
    and step; an ImportCancelled it raises goes through (nothing stored).
    """
    progress = progress or Progress()
    report = ImportReport(check_only=check_only)
    if Study.objects.filter(pk=study.pk, is_locked=True).exists():
        report.problems.append(Problem("", None, "", StudyLocked(study).messages[0], "study_locked"))
        return report
    expanded = expand_archives(sources, report)
    progress.phase(READ, len(expanded))
    files = []
    for done, source in enumerate(expanded, start=1):
        if (table_file := read_file(source, report)) is not None:
            files.append(table_file)
        progress.advance(done, len(report.problems))
    if not files and not report.problems:
        report.problems.append(Problem("", None, "", _("There is no table to import."), "no_files"))
    tables: dict[str, TableFile] = {}
    for table_file in files:
        first = tables.setdefault(table_file.table, table_file)
        if first is not table_file:
            report.problems.append(
                Problem(
                    table_file.source.name,
                    None,
                    "",
                    _("A second %(table)s table (%(first)s is the first): one file per table.")
                    % {"table": table_file.table, "first": first.source.name},
                    "duplicate_file",
                )
            )
    with young_collections_only():
        run = ImportRun(study, user, report, progress)
        for table_file in tables.values():
            run.add(table_file)
        progress.phase(CHECK, sum(table_file.count for table_file in tables.values()))
        try:
            with transaction.atomic():
                ensure_unlocked(study)
                run.write()
                progress.advance(run.done, len(report.problems))  # with the problems of the last rows written
                if report.problems or check_only:
                    transaction.set_rollback(True)
        except StudyLocked as exc:  # locked while the import ran
            report.problems.append(Problem("", None, "", exc.messages[0], "study_locked"))
    order = {source.name: rank for rank, source in enumerate(expanded)}
    report.problems.sort(key=lambda p: (order.get(p.file, -1), p.row or 0))  # stable: a row's problems stay in order
    return report
