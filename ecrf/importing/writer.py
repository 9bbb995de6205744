"""The parse and write steps of one import: typed rows checked for duplicates and confirm codes, then every row
through the service of its form (ecrf/services.py, cohorts/services.py for patients), which runs the same checks as
the forms (clinical definitions §2.1), audited with the reason "import: <file name>"."""

from __future__ import annotations

import datetime
import functools
import gc
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils.translation import gettext as _

from cohorts import services as cohort_services
from cohorts.audit import history_reason
from cohorts.clock import site_today, site_zone, study_day_of
from cohorts.models import COMORBIDITIES, Arm, Patient, Site, Study
from ecrf import checks, services, validators
from ecrf.crfs import CATALOGUE, Crf
from ecrf.importing.columns import (
    COLUMNS,
    CONFIRM,
    CONFIRM_ALIASES,
    CORRECTED_BY_KEY,
    DATED_BY,
    KEY,
    NOT_DONE_REASON,
    PATIENTS,
    ROW_KEYS,
    SOFT_CODES,
    CellError,
    Column,
    clock_text,
    is_time_of_day,
    site_time,
    site_time_of_day,
    time_columns,
    typed_cell,
)
from ecrf.importing.files import Row, TableFile
from ecrf.importing.progress import Progress
from ecrf.importing.report import FileResult, ImportReport, Problem
from ecrf.models import DispositionEvent, MissingCode
from ecrf.services import NewDayRecord, RecordInput

REASON_PREFIX = "import: "
_DISPOSITIONS = next(crf.key for crf in CATALOGUE.values() if crf.model is DispositionEvent)
# Write order: patients first; deaths before the other forms, so a row after a death is refused on its own row.
#: Rows of a one-per-day form created together (services.day_records_create): the memory of their records.
CREATE_CHUNK = 5000
#: Rows between two collections of the young generations (young_collections_only).
COLLECT_EVERY = 5000
#: Per form, the columns whose cells may hold a missing-data code (ND, UNK, NA) instead of a value.
_CODED = {key: frozenset(crf.value_fields) - {"study_day"} for key, crf in CATALOGUE.items()}
WRITE_ORDER = (PATIENTS, _DISPOSITIONS, *(key for key in CATALOGUE if key != _DISPOSITIONS))


@dataclass
class ParsedRow:
    file: TableFile
    row: Row
    values: dict[str, Any]  # every column present, typed (confirm under CONFIRM)
    result: FileResult
    #: Field -> missing-data code, from a value cell (ND, UNK, NA) or the field's code column (<field>_mc).
    codes: dict[str, str] = field(default_factory=dict)
    #: (column, message, code) of each cell that cannot be read.
    problems: list[tuple[str, str, str]] = field(default_factory=list)


class ImportRun:
    """One import: the state shared by its steps (see the package's docstring): ``add`` each table's file, then
    ``write`` reads them in WRITE_ORDER, each row parsed, then written with its chunk."""

    def __init__(self, study: Study, user, report: ImportReport, progress: Progress):
        self.study, self.user, self.report, self.progress = study, user, report, progress
        self.done = 0  # rows read
        self.sites = {site.code: site for site in Site.objects.filter(studies=study)}
        self.arms = {arm.code: arm for arm in Arm.objects.filter(study=study)}
        #: Per table: its file, its result, the number of its rows that passed the parse step so far.
        self.files: dict[str, TableFile] = {}
        self.results: dict[str, FileResult] = {}
        self.good: dict[str, int] = {}
        #: Per form table, what its header holds: its code columns (value field -> code column), and the fields it
        #: gives a value or a code of.
        self.code_columns: dict[str, dict[str, str]] = {}
        #: Per table, each header name -> its column and whether its cells may hold a missing-data code.
        self.cells: dict[str, dict[str, tuple[Column, bool]]] = {}
        self.covered: dict[str, frozenset[str]] = {}
        self.refused_patients: dict[str, str] = {}  # participant id -> where its patients.csv row was refused
        self.patients: dict[str, Patient] = {}

    def advance(self) -> None:
        """One more row read."""
        self.done += 1
        self.progress.advance(self.done, len(self.report.problems))
        if self.done % COLLECT_EVERY == 0:
            gc.collect(1)  # the young generations only: see young_collections_only

    def problem(self, parsed: ParsedRow, column: str, message: str, code: str) -> None:
        self.report.problems.append(Problem(parsed.file.source.name, parsed.row.number, column, message, code))

    # ---------------------------------------------------------------------------------------------- parse

    def add(self, table_file: TableFile) -> None:
        """Take the file of a table: its result goes to the report (in the order the files were given), its rows are
        read when the table's turn comes (``checked``)."""
        table = table_file.table
        result = FileResult(table_file.source.name, table, rows=table_file.count)
        self.report.files.append(result)
        self.files[table], self.results[table] = table_file, result
        coded = _CODED.get(table, frozenset())
        columns = COLUMNS[table]
        self.cells[table] = {
            name: (columns[CONFIRM if name in CONFIRM_ALIASES else name], name in coded) for name in table_file.header
        }
        if (crf := CATALOGUE.get(table)) is not None:
            header = set(table_file.header)
            self.code_columns[table] = {name: code for name, code in crf.code_columns.items() if code in header}
            self.covered[table] = frozenset(
                name for name in crf.fields if name in header or crf.code_columns.get(name) in header
            )

    def checked(self, table: str) -> Iterator[ParsedRow]:
        """The rows of the table's file typed one by one, a row's cells that cannot be read and a row that repeats an
        earlier one reported; the others are given to the write step. Only the duplicate keys are kept."""
        table_file, result = self.files[table], self.results[table]
        keys: dict[tuple, int] = {}
        key_columns = ROW_KEYS.get(table)
        dated = DATED_BY.get(table)
        self.good[table] = 0
        for row in table_file.rows():
            self.advance()
            parsed = self._typed(table_file, row, result)
            for column, message, code in parsed.problems:
                self.problem(parsed, column, message, code)
            ok = not parsed.problems
            if ok:
                by_all = key_columns is None  # event forms: a row is identified by all its values and codes
                columns = tuple(c for c in parsed.values if c != CONFIRM) if by_all else key_columns
                # A row whose study day its time gives (DATED_BY) is told apart by that time until the day is known.
                key = tuple(
                    ("at", parsed.values.get(dated))
                    if c == "study_day" and dated and parsed.values.get(c) is None
                    else parsed.values.get(c)
                    for c in columns
                )
                if by_all:
                    key += (tuple(sorted(parsed.codes.items())),)
                if key in keys:
                    what = ", ".join(f"{c} {parsed.values.get(c)}" for c in columns[:3])
                    message = _("Duplicate row: %(row)s is already on row %(first)s of this file.") % {
                        "row": what,
                        "first": keys[key],
                    }
                    self.problem(parsed, "", message, "duplicate")
                    ok = False
                else:
                    keys[key] = row.number
            if ok:
                self.good[table] += 1
                yield parsed
            elif table == PATIENTS and parsed.values.get(KEY):
                self._refused_patient(parsed)

    def _typed(self, table_file: TableFile, row: Row, result: FileResult) -> ParsedRow:
        """The row's cells as typed values and codes; what cannot be read is in its ``problems``."""
        crf = CATALOGUE.get(table_file.table)
        parsed = ParsedRow(table_file, row, {}, result)
        cells = self.cells[table_file.table]
        for name, text in row.cells.items():
            column, may_be_code = cells[name]
            try:
                code, value = typed_cell(column, text, may_be_code)
            except CellError as exc:
                parsed.problems.append((name, str(exc), "value"))
                continue
            if code is not None:  # ND, UNK or NA instead of the value
                parsed.values[column.name] = _blank(column)
                parsed.codes[name] = code
            else:
                parsed.values[column.name] = value
        self._check_confirm(parsed)
        if crf is not None:
            self._merge_codes(parsed)
        return parsed

    def _merge_codes(self, parsed: ParsedRow) -> None:
        """The codes of the row's code columns (<field>_mc) joined to those of its value cells; the two must agree.
        A row marked not done needs no code: a release's not_done codes of such a row are the mark itself."""
        for name, column in self.code_columns[parsed.file.table].items():
            code = parsed.values.get(column)
            if not code:
                continue
            if parsed.codes.get(name, code) != code:
                message = _("The cell of %(field)s says %(cell)s but %(column)s says %(code)s: give one code.") % {
                    "field": name,
                    "cell": str(MissingCode(parsed.codes[name]).label).lower(),
                    "column": column,
                    "code": str(MissingCode(code).label).lower(),
                }
                parsed.problems.append((column, message, "missing_code"))
            parsed.codes[name] = code
        if parsed.values.get(NOT_DONE_REASON):
            parsed.codes = {name: code for name, code in parsed.codes.items() if code != MissingCode.NOT_DONE}

    def _check_confirm(self, parsed: ParsedRow) -> None:
        if not parsed.values.get(CONFIRM):
            return
        allowed = SOFT_CODES.get(parsed.file.table, frozenset())
        unknown = sorted(parsed.values[CONFIRM] - allowed)
        if not unknown:
            return
        column = next(name for name in parsed.row.cells if name in CONFIRM_ALIASES)
        known = ", ".join(sorted(allowed)) or _("none")
        message = _("%(codes)s: not a soft check of %(table)s (its soft checks: %(known)s).") % {
            "codes": ", ".join(unknown),
            "table": parsed.file.table,
            "known": known,
        }
        parsed.problems.append((column, message, "confirm_code"))

    # ---------------------------------------------------------------------------------------------- write

    def write(self) -> None:
        """Every table in WRITE_ORDER, each row parsed then written (see the module docstring)."""
        for table in WRITE_ORDER:
            rows = self.checked(table) if table in self.files else iter(())
            if table == PATIENTS:  # also without patients.csv: the forms' rows need the study's patients
                self._write_patients(rows)
                continue
            crf = CATALOGUE[table]
            if crf.per_day:
                for chunk in _chunks(rows, CREATE_CHUNK):
                    self._write_days(chunk, crf)
                continue
            stored = self._stored(crf)
            if crf.key in CORRECTED_BY_KEY:  # a row may correct a stored record, which a later row must see
                for parsed in rows:
                    if (patient := self._patient_of(parsed)) is not None:
                        self._write_event(parsed, crf, patient, stored)
                continue
            for chunk in _chunks(rows, CREATE_CHUNK):
                self._write_events(chunk, crf, stored)

    def _times(self, parsed: ParsedRow, values: dict[str, Any], patient: Patient) -> bool:
        """The row's times as aware moments (in ``values``): a local date and time placed in the time zone of the
        patient's site, a time of day on the date of its study day there (columns.time_columns). A time that does not
        exist there, exists twice, has an offset other than the site's, or is a time of day without its day is a
        problem of its row and column."""
        ok = True
        zone = site_zone(patient.site)
        for name, day_column in time_columns(parsed.file.table).items():
            moment = values.get(name)
            if moment is None:
                continue
            try:
                values[name] = self._moment(moment, zone, patient.enrolment_date, values.get(day_column), day_column)
            except CellError as exc:
                self.problem(parsed, name, str(exc), "time")
                ok = False
                continue
            if values.get(day_column) is None:  # the day its date and time lies on
                values[day_column] = study_day_of(values[name], zone, patient.enrolment_date)
        if ok and parsed.file.table in DATED_BY and values.get("study_day") is None:
            dated = DATED_BY[parsed.file.table]
            message = _("Give the study day, or the %(column)s as a date and time: the study day is its date.") % {
                "column": dated
            }
            self.problem(parsed, "study_day", message, "value")
            ok = False
        return ok

    @staticmethod
    def _moment(
        moment: datetime.datetime | datetime.time,
        zone: datetime.tzinfo,
        enrolment_date: datetime.date,
        day: int | None,
        day_column: str,
    ) -> datetime.datetime:
        """A parsed time cell as an aware moment (see _times)."""
        if not is_time_of_day(moment):
            return site_time(moment, zone)
        if day is None:
            raise CellError(
                _(
                    "%(time)s is a time of day: it needs its study day in %(column)s, or write the date and time, "
                    "e.g. 2020-04-01 %(clock)s."
                )
                % {
                    "time": clock_text(moment),
                    "column": day_column,
                    "clock": moment.strftime("%H:%M"),
                }
            )
        return site_time_of_day(moment, enrolment_date + datetime.timedelta(days=day), zone)

    def _arm_by_pk(self, pk: int) -> Arm:
        return next(arm for arm in self.arms.values() if arm.pk == pk)

    def _stored(self, crf: Crf) -> dict:
        """The stored records of a repeating form of the study's patients, by patient pk: one query."""
        stored: dict = {}
        for record in crf.model.objects.filter(patient__study=self.study):
            stored.setdefault(record.patient_id, []).append(record)
        return stored

    def _patient_of(self, parsed: ParsedRow) -> Patient | None:
        participant = parsed.values[KEY]
        patient = self.patients.get(participant)
        if patient is not None:
            return patient
        values = {"participant": participant, "study": self.study.code}
        if participant in self.refused_patients:
            values["where"] = self.refused_patients[participant]
            message = _("Participant %(participant)s was refused in %(where)s.") % values
        elif self.good.get(PATIENTS) or self.refused_patients:
            message = (
                _(
                    "Unknown participant %(participant)s: not in the study %(study)s nor in patients.csv. Add the "
                    "patient to patients.csv or correct the id."
                )
                % values
            )
        else:
            message = (
                _(
                    "Unknown participant %(participant)s: not in the study %(study)s. Add the patient to patients.csv "
                    "or correct the id."
                )
                % values
            )
        self.problem(parsed, KEY, message, "unknown_patient")
        return None

    def _reason(self, parsed: ParsedRow) -> str:
        return _reason_of(parsed.file.source.name)

    def _refused(self, parsed: ParsedRow, exc: ValidationError) -> None:
        for column, error in _flatten(exc):
            message = " ".join(str(m) for m in error.messages)
            self.problem(parsed, column, _for_import(message, error.code), error.code or "refused")

    # ------------------------------------------------------------------------------------------ patients

    def _write_patients(self, rows: Iterable[ParsedRow]) -> None:
        """The rows of patients.csv: new patients created together, in bulk; then the study's patients as the forms'
        services read them (no query per row)."""
        stored = Patient.objects.filter(study=self.study).select_related("site", "arm")
        self.patients = {patient.participant_id: patient for patient in stored}
        new: list[tuple[ParsedRow, dict[str, Any]]] = []
        for parsed in rows:
            if (fields := self._write_patient(parsed)) is not None:
                new.append((parsed, fields))
            if len(new) == CREATE_CHUNK:
                self._create_patients(new)
                new = []
        self._create_patients(new)
        patients = Patient.objects.filter(study=self.study).select_related("site")
        self.patients = {p.participant_id: p for p in patients}
        for patient in self.patients.values():
            patient.study, patient.arm = self.study, self._arm_by_pk(patient.arm_id)

    def _write_patient(self, parsed: ParsedRow) -> dict[str, Any] | None:
        """A row of patients.csv checked; an existing patient's changes saved. Returns a new patient's arguments of
        cohorts.services.patient_create (created with the others), else None."""
        values, result = parsed.values, parsed.result
        participant = values[KEY]
        ok = True
        site, arm = self.sites.get(values["site"]), self.arms.get(values["arm"])
        if site is None:
            known = ", ".join(sorted(self.sites)) or _("none")
            message = _("Site %(site)s does not take part in the study (%(known)s).") % {
                "site": values["site"],
                "known": known,
            }
            self.problem(parsed, "site", message, "site")
            ok = False
        if arm is None:
            known = ", ".join(sorted(self.arms)) or _("none")
            message = _("The study has no arm %(arm)s (its arms: %(known)s).") % {"arm": values["arm"], "known": known}
            self.problem(parsed, "arm", message, "arm")
            ok = False
        elif values.get("arm_label") and values["arm_label"] != arm.name:
            message = _("The arm %(arm)s is called %(name)s, not %(label)s.") % {
                "arm": arm.code,
                "name": arm.name,
                "label": values["arm_label"],
            }
            self.problem(parsed, "arm_label", message, "arm")
            ok = False
        if values.get("follow_up_days") is not None and values["follow_up_days"] != self.study.follow_up_days:
            message = _("The study's follow-up is %(days)s days, not %(given)s.") % {
                "days": self.study.follow_up_days,
                "given": values["follow_up_days"],
            }
            self.problem(parsed, "follow_up_days", message, "follow_up_days")
            ok = False
        for name in ("age_years", "weight_kg"):
            issue = checks.check_value(name, values.get(name))
            if issue is not None and not (issue.needs_confirmation and issue.code in values.get(CONFIRM, ())):
                self.problem(parsed, name, _for_import(issue.message, issue.code), issue.code)
                ok = False
        if not ok:
            self._refused_patient(parsed)
            return
        weight = values.get("weight_kg")
        confirmed = "weight_kg.soft_high" in values.get(CONFIRM, ())
        baseline = {name: values[name] for name in ("sex", "age_years", *COMORBIDITIES) if name in values}
        if "weight_kg" in values:
            baseline["weight_kg"] = weight
            baseline["weight_confirmed"] = bool(confirmed and weight is not None and weight > 200)
        if values.get("status"):
            baseline["status"] = values["status"]
        existing = self.patients.get(participant)
        # Releases carry no calendar dates: without one, day 0 of a new patient is the follow-up's length before
        # today at the site, so that no study day of the file lies in the future (clinical definitions §2.1).
        if existing is not None:
            day_zero = existing.enrolment_date
        else:
            day_zero = values.get("enrolment_date") or site_today(site) - datetime.timedelta(self.study.follow_up_days)
        times = {name: values[name] for name in ("oxygen_criterion_at",) if name in values}
        if not self._patient_times(parsed, times, existing.site if existing is not None else site, day_zero):
            self._refused_patient(parsed)
            return
        if existing is None:  # created with the others (_create_patients)
            return {
                "site": site,
                "arm": arm,
                "participant_id": participant,
                "enrolment_date": day_zero,
                "comorbidities": {name: baseline.pop(name) for name in COMORBIDITIES if name in baseline},
                "oxygen_criterion_at": times.get("oxygen_criterion_at"),
                "reason": self._reason(parsed),
                **baseline,
            }
        try:
            moved = [
                (column, stored, given)
                for column, stored, given in (
                    ("site", existing.site.code, site.code),
                    ("arm", existing.arm.code, arm.code),
                    (
                        "enrolment_date",
                        existing.enrolment_date,
                        values.get("enrolment_date") or existing.enrolment_date,
                    ),
                )
                if stored != given
            ]
            for column, stored, given in moved:
                message = _(
                    "Participant %(participant)s is stored with %(column)s %(stored)s, not %(given)s: an import does "
                    "not change a patient's site, arm or day 0."
                ) % {"participant": participant, "column": column, "stored": stored, "given": given}
                self.problem(parsed, column, message, "patient_moved")
            if moved:
                self._refused_patient(parsed)
                return
            saved = cohort_services.patient_update(
                patient=existing,
                changes={**baseline, **times},
                expected_version=existing.version,
                user=self.user,
                reason=self._reason(parsed),
            )
            if saved.version != existing.version:
                result.changed += 1
            else:
                result.unchanged += 1
        except ValidationError as exc:
            self._refused_patient(parsed, exc)

    def _refused_patient(self, parsed: ParsedRow, exc: ValidationError | None = None) -> None:
        """The row's patient is refused (with the service's refusal, if it gave one): the rows of its forms are
        reported as such, pointing at this row."""
        if exc is not None:
            self._refused(parsed, exc)
        self.refused_patients[parsed.values[KEY]] = _where(parsed.file.source.name, parsed.row.number)

    def _created(
        self, new: list[tuple[ParsedRow, Any]], results: list, refused: Callable[[ParsedRow, ValidationError], None]
    ) -> None:
        """The results of a bulk create, in the order of ``new``: each row counted as created, or ``refused``."""
        for (parsed, _given), result in zip(new, results, strict=True):
            if isinstance(result, ValidationError):
                refused(parsed, result)
            else:
                parsed.result.created += 1

    def _create_patients(self, new: list[tuple[ParsedRow, dict[str, Any]]]) -> None:
        if new:
            results = cohort_services.patients_create(study=self.study, patients=[f for _, f in new], user=self.user)
            self._created(new, results, self._refused_patient)

    def _patient_times(
        self, parsed: ParsedRow, times: dict[str, Any], site: Site | None, day_zero: datetime.date
    ) -> bool:
        """The patient's times (``times``, changed in place) as aware moments in the time zone of the patient's site
        (clinical definitions §2.3): a time of day on its study day (oxygen_criterion_day, then required), a date and
        time on the day oxygen_criterion_day gives when it gives one; a day without its time is refused. A problem
        names the row and column. cohorts.services refuses a time in the future, as on the patient's page."""
        if site is None:
            return True  # the unknown site is the row's problem
        ok = True
        zone = site_zone(site)
        for name, day_column in time_columns(PATIENTS).items():
            moment, day = times.get(name), parsed.values.get(day_column)
            if moment is None:
                if day is not None:
                    message = _("%(column)s is the study day of %(time)s: give the time too, or empty the day.") % {
                        "column": day_column,
                        "time": name,
                    }
                    self.problem(parsed, day_column, message, "time")
                    ok = False
                continue
            try:
                times[name] = self._moment(moment, zone, day_zero, day, day_column)
            except CellError as exc:
                self.problem(parsed, name, str(exc), "time")
                ok = False
                continue
            issues = checks.check_time(name, times[name], day, zone=zone, enrolment_date=day_zero)
            for issue in issues:  # a date and time on another day than the row's oxygen_criterion_day
                self.problem(parsed, name, issue.message, issue.code)
                ok = False
        return ok

    # --------------------------------------------------------------------------------------- daily forms

    def _form_values(self, parsed: ParsedRow, crf: Crf) -> dict[str, Any]:
        return {name: value for name, value in parsed.values.items() if name in crf.fields}

    def _entry(self, parsed: ParsedRow, crf: Crf, current) -> RecordInput:
        """The row as the service takes it. The stored record's codes of fields the file has no column for, and its
        mark "not done" when the file has no not_done_reason column, stay as they are."""
        covered = self.covered[parsed.file.table]
        kept = {} if current is None else {n: c for n, c in current.missing_codes.items() if n not in covered}
        if NOT_DONE_REASON in parsed.values:
            not_done = parsed.values[NOT_DONE_REASON]
        else:
            not_done = current.not_done_reason if current is not None else ""
        return RecordInput(
            self._form_values(parsed, crf),
            parsed.values.get(CONFIRM, frozenset()),
            current.version if current is not None else None,
            missing_codes={**kept, **parsed.codes},
            not_done_reason=not_done,
        )

    def _write_days(self, rows: list[ParsedRow], crf: Crf) -> None:
        """A chunk of rows of a one-per-day form: a row for a patient-day that has no record of the form yet is
        created with the others in bulk (services.day_records_create), a row that changes a stored record is saved
        on its own. Only the chunk's patients' records are read."""
        found = []
        for parsed in rows:
            if (patient := self._patient_of(parsed)) is not None:
                found.append((parsed, patient))
        records = crf.model.objects.filter(patient__in={patient.id for _, patient in found})
        stored = {(record.patient_id, record.study_day): record for record in records}
        new: list[tuple[ParsedRow, NewDayRecord]] = []
        for parsed, patient in found:
            day = parsed.values["study_day"]
            current = stored.get((patient.id, day))
            entry = self._day_entry(parsed, crf, patient, current)
            if entry is None:
                continue
            if current is None:
                new.append((parsed, NewDayRecord(patient, day, entry, self._reason(parsed))))
            else:
                self._save_day(parsed, crf, patient, entry, current)
        self._create_days(crf, new)

    def _day_entry(self, parsed: ParsedRow, crf: Crf, patient: Patient, current) -> RecordInput | None:
        """The row as the service takes it, its times placed (None: a problem of the row, reported)."""
        entry = self._entry(parsed, crf, current)
        if not self._times(parsed, entry.values, patient):
            return None
        if crf.is_empty(entry.values, parsed.codes, parsed.values.get(NOT_DONE_REASON) or None):
            self.problem(
                parsed,
                "",
                _("The row has no values: nothing to import. (An import never deletes; clear a record on its page.)"),
                "empty_row",
            )
            return None
        return entry

    def _create_days(self, crf: Crf, new: list[tuple[ParsedRow, NewDayRecord]]) -> None:
        if new:
            results = services.day_records_create(form=crf.key, records=[record for _, record in new], user=self.user)
            self._created(new, results, self._refused)

    def _save_day(self, parsed: ParsedRow, crf: Crf, patient: Patient, entry: RecordInput, current) -> None:
        """A row about a patient-day that has a record of the form: an edit of it (or no change)."""
        try:
            record = services.day_record_save(
                form=crf.key,
                patient=patient,
                study_day=parsed.values["study_day"],
                entry=entry,
                user=self.user,
                reason=(reason := self._reason(parsed)),
                entry_reason=reason,
            )
        except ValidationError as exc:
            self._refused(parsed, exc)
            return
        if record is not None and record.version != current.version:
            parsed.result.changed += 1
        else:
            parsed.result.unchanged += 1

    # -------------------------------------------------------------------------------------- event forms

    def _write_event(self, parsed: ParsedRow, crf: Crf, patient: Patient, stored: Mapping) -> None:
        """A row of a form whose rows correct the stored record of their key (CORRECTED_BY_KEY), saved on its own."""
        values = self._form_values(parsed, crf)
        if not self._times(parsed, values, patient):
            return
        records = stored.get(patient.pk, [])
        if _holds(records, values, parsed.codes):
            parsed.result.unchanged += 1  # the same record is stored: nothing to do, no history row
            return
        key = [name for name in ROW_KEYS[crf.key] if name != KEY]  # e.g. one per patient, day and kind
        record = next((r for r in records if all(getattr(r, n) == values.get(n) for n in key)), None)
        entry = _event_entry(parsed, values, record.version if record is not None else None)
        try:
            saved = services.event_save(
                form=crf.key, patient=patient, entry=entry, user=self.user, record=record, reason=self._reason(parsed)
            )
        except ValidationError as exc:
            self._refused(parsed, exc)
            return
        if record is None:
            stored.setdefault(patient.pk, []).append(saved)
            parsed.result.created += 1
        else:
            records[records.index(record)] = saved  # a later row compares with the record as now stored
            parsed.result.changed += 1

    def _write_events(self, rows: list[ParsedRow], crf: Crf, stored: dict) -> None:
        """A chunk of rows of a repeating form whose rows are new records unless the same record is stored
        (``stored``, by patient pk): the new ones created together (services.event_records_create).

        The outcome is that of the rows written one after the other: a row with the values of an earlier row of the
        chunk waits for the next round, where it finds that row's record stored (unchanged), or is written itself
        when that row was refused (with other confirmations it may pass)."""
        waiting = []
        for parsed in rows:
            if (patient := self._patient_of(parsed)) is not None:
                values = self._form_values(parsed, crf)
                if self._times(parsed, values, patient):
                    waiting.append((parsed, patient, values))
        while waiting:
            new: list[tuple[ParsedRow, services.NewEventRecord]] = []
            later, taken = [], set()
            for parsed, patient, values in waiting:
                if _holds(stored.get(patient.pk, ()), values, parsed.codes):
                    parsed.result.unchanged += 1  # the same record is stored: nothing to do, no history row
                    continue
                same = (patient.pk, *sorted(values.items()), *sorted(parsed.codes.items()))
                if same in taken:
                    later.append((parsed, patient, values))
                    continue
                taken.add(same)
                entry = _event_entry(parsed, values, None)
                new.append((parsed, services.NewEventRecord(patient, entry, self._reason(parsed))))
            if new:
                results = services.event_records_create(form=crf.key, records=[r for _, r in new], user=self.user)
                self._created(new, results, self._refused)
                for (_parsed, record), result in zip(new, results, strict=True):
                    if not isinstance(result, ValidationError):
                        stored.setdefault(record.patient.pk, []).append(result)
            waiting = later


def _event_entry(parsed: ParsedRow, values: dict[str, Any], version: int | None) -> RecordInput:
    """A repeating form's row as the entry of its service: a new record (``version`` None) or a correction."""
    return RecordInput(
        values,
        parsed.values.get(CONFIRM, frozenset()),
        version,
        missing_codes=parsed.codes,
        not_done_reason=parsed.values.get(NOT_DONE_REASON, ""),
    )


def _holds(records: Iterable, values: Mapping[str, Any], codes: Mapping[str, str]) -> bool:
    """Whether one of a patient's stored records of a repeating form has the row's values and codes."""
    return any(
        all(getattr(record, name) == value for name, value in values.items()) and record.missing_codes == codes
        for record in records
    )


def _chunks(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while chunk := list(islice(iterator, size)):
        yield chunk


@functools.cache
def _reason_of(file: str) -> str:
    """The history reason of a file's rows: "import: <file name>"."""
    return history_reason(f"{REASON_PREFIX}{file}")


def _where(file: str, row: int) -> str:
    """A row of a file, as a message names it: "patients.csv row 3"."""
    return _("%(file)s row %(row)s") % {"file": file, "row": row}


def _for_import(message: str, code: str | None) -> str:
    """A soft check's message tells the form's user to tick 'confirm'; an import confirms in its confirm column. A
    form is unmarked "not done" on the page by a box, in a file by emptying its not_done_reason cell."""
    confirm = _("add %(code)s to the confirm column if it is correct.") % {"code": code}
    empty = _("empty its %(column)s cell") % {"column": NOT_DONE_REASON}
    return str(message).replace(checks.confirm_hint(), confirm).replace(validators.untick_not_done(), empty)


def _blank(column: Column) -> Any:
    """What an empty cell of ``column`` means when the cell holds a missing-data code instead (no value)."""
    if column.kind == "boolean" and not column.nullable:
        return False
    return "" if column.kind in ("text", "choice") else None


def _flatten(exc: ValidationError) -> list[tuple[str, ValidationError]]:
    """(column, error) of each message of a service's refusal; a study-day rule without a field goes to study_day."""
    if not hasattr(exc, "error_dict"):
        return [(_column_of(NON_FIELD_ERRORS, error), error) for error in exc.error_list]
    return [(_column_of(name, error), error) for name, errors in exc.error_dict.items() for error in errors]


def _column_of(field_name: str, error: ValidationError) -> str:
    if field_name == "missing_codes":  # a code on a field that takes none: the message names the field
        return ""
    if field_name != NON_FIELD_ERRORS:
        return field_name
    code = error.code or ""
    return code.split(".", 1)[0] if code.startswith("study_day.") else ""


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Python's automatic garbage collection paused while an import runs; ImportRun.advance collects the young
    generations every COLLECT_EVERY rows instead, which frees the cycles of the rows just done.

    What an import keeps grows with the files (the duplicate keys of a million rows, its patients), and the automatic
    full collections scan all of it again and again: 17% of an import of 315,000 patient-days, more on larger ones.
    The young collections never scan what has survived them; one full collection runs at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.collect()
