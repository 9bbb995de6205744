"""CSV import of case report data (issue 7): the format of docs/import-format.md, through the forms' checks.

One file per table, named after it: ``patients.csv`` (arm and baseline) and one per form, with the file and column
names of a locked release's tables (analysis/datasets.py; ecrf may not import analysis, so
tests/ecrf/test_import_roundtrip.py keeps the two equal). A release exported as CSV therefore imports as it is.

An import runs in three steps and stores all or nothing:

1. read: every file is decoded (UTF-8) and split (CSV) and its header checked; problems of a whole file stop
   that file;
2. parse: every cell becomes the typed value of its column (number, yes/no, code, date) or a problem naming its
   file, row and column; duplicate rows and unknown participants are found here;
3. write: every row goes through the service of its form (ecrf/services.py, cohorts/services.py for patients),
   which runs the same checks as the forms (clinical definitions §2.1), audited with the reason "import: <file name>".

All three steps run for every file and row, so one report lists every problem; the writes happen in one
transaction that is rolled back when there is any problem (or when only checking). A row equal to what is stored
changes nothing and leaves no history row, so importing the same files twice stores them once.
"""

from __future__ import annotations

import csv
import datetime
import difflib
import io
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction

from cohorts import services as cohort_services
from cohorts.audit import StudyLocked, ensure_unlocked
from cohorts.clock import site_today
from cohorts.models import COMORBIDITIES, Arm, Patient, PatientStatus, Sex, Site, Study
from cohorts.units import UNITS
from ecrf import checks, services
from ecrf.crfs import CATALOGUE, DAY_FORMS, Crf
from ecrf.models import DispositionEvent
from ecrf.services import PatientDayInvalid, RecordInput

REASON_PREFIX = "import: "
KEY = "participant_id"
PATIENTS = "patients"
CONFIRM = "confirm"
CONFIRM_ALIASES = (CONFIRM, "confirmed_checks")  # a release's tables name the confirmed checks "confirmed_checks"

#: A file per form, named after its catalogue key (the table names of the releases), and the patients.
TABLES = (PATIENTS, *CATALOGUE)
#: The file names an import takes, for help texts.
FILE_NAMES = ", ".join(f"{table}.csv" for table in TABLES)
_DISPOSITIONS = next(crf.key for crf in CATALOGUE.values() if crf.model is DispositionEvent)
# Write order: patients first; deaths before the other forms, so a row after a death is refused on its own row.
WRITE_ORDER = (PATIENTS, _DISPOSITIONS, *(key for key in CATALOGUE if key != _DISPOSITIONS))

MAX_ARCHIVE_BYTES = 200 * 1024 * 1024  # uncompressed content of a zip: no zip bomb
MAX_ARCHIVE_FILES = 200

# ------------------------------------------------------------------------------------------------------ problems


@dataclass(frozen=True)
class Problem:
    """One reason the import stores nothing: where (file, row, column) and what."""

    file: str
    row: int | None  # line of the file (the header is row 1); None: the whole file or the import
    column: str
    message: str
    code: str

    def where(self) -> str:
        parts = [self.file, f"row {self.row}" if self.row else "", f"column {self.column}" if self.column else ""]
        return ", ".join(part for part in parts if part)

    def __str__(self) -> str:
        return f"{self.where()}: {self.message}" if self.where() else self.message


@dataclass
class FileResult:
    name: str
    table: str
    rows: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass
class ImportReport:
    files: list[FileResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files of an archive or folder that are not a table
    problems: list[Problem] = field(default_factory=list)
    check_only: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def stored(self) -> bool:
        return self.ok and not self.check_only

    def summary(self) -> str:
        if self.problems:
            return f"Nothing was imported: {len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}."
        totals = [sum(getattr(f, name) for f in self.files) for name in ("created", "changed", "unchanged")]
        counts = f"{totals[0]} new, {totals[1]} changed, {totals[2]} unchanged"
        if self.check_only:
            return f"Every row passed the checks ({counts} if imported); nothing was stored (check only)."
        return f"Imported {sum(f.rows for f in self.files)} rows: {counts}."


# ------------------------------------------------------------------------------------------------------- columns


@dataclass(frozen=True)
class Column:
    """A column of the format: how its cells are read and what an empty cell means."""

    name: str
    kind: str  # integer, decimal, boolean, choice, text, date, codes
    required: bool = False  # a row needs a value
    nullable: bool = True  # empty -> None (else "" for text and choices, False for yes/no)
    places: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None


def _field_column(model_field: models.Field, *, required: bool | None = None) -> Column:
    name, optional = model_field.name, model_field.null or model_field.blank
    if isinstance(model_field, models.DecimalField):
        return Column(
            name,
            "decimal",
            required=not optional if required is None else required,
            places=model_field.decimal_places,
        )
    if isinstance(model_field, models.IntegerField):
        return Column(name, "integer", required=not optional if required is None else required)
    if isinstance(model_field, models.BooleanField):
        return Column(name, "boolean", nullable=model_field.null)
    if model_field.choices:
        return Column(
            name,
            "choice",
            required=not optional if required is None else required,
            nullable=False,
            choices=tuple(str(value) for value, _ in model_field.flatchoices),
        )
    return Column(name, "text", nullable=False, max_length=model_field.max_length)


# Units a value may have been reported in before conversion (cohorts/units.py); the number is always canonical.
ENTERED_UNITS = {"pao2_entered_unit": "pao2", "crp_entered_unit": "crp"}


def _form_columns(crf: Crf) -> dict[str, Column]:
    columns = {KEY: Column(KEY, "text", required=True, nullable=False, max_length=24)}
    if "study_day" not in crf.fields:
        columns["study_day"] = Column("study_day", "integer", required=True)
    for name in crf.fields:
        model_field = crf.model._meta.get_field(name)
        if name in ENTERED_UNITS:
            units = tuple(UNITS[ENTERED_UNITS[name]].factors)
            columns[name] = Column(name, "choice", nullable=False, choices=units)
        elif name == "study_day":
            columns[name] = Column(name, "integer", required=True)
        elif name == "support":  # required when the row has values: the service says so, next to the field
            columns[name] = _field_column(model_field, required=False)
        else:
            columns[name] = _field_column(model_field)
    columns[CONFIRM] = Column(CONFIRM, "codes", nullable=False)
    return columns


def _patient_columns() -> dict[str, Column]:
    field_of = Patient._meta.get_field
    return {
        KEY: Column(KEY, "text", required=True, nullable=False, max_length=24),
        "site": Column("site", "text", required=True, nullable=False, max_length=8),
        "arm": Column("arm", "text", required=True, nullable=False, max_length=32),
        "arm_label": Column("arm_label", "text", nullable=False),  # checked against the arm, not stored
        "enrolment_date": Column("enrolment_date", "date"),
        "sex": Column("sex", "choice", required=True, nullable=False, choices=tuple(Sex.values)),
        "age_years": Column("age_years", "integer", required=True),
        "weight_kg": _field_column(field_of("weight_kg")),
        **{name: Column(name, "boolean") for name in COMORBIDITIES},
        "status": Column("status", "choice", nullable=False, choices=tuple(PatientStatus.values)),
        "follow_up_days": Column("follow_up_days", "integer"),  # checked against the study, not stored
        CONFIRM: Column(CONFIRM, "codes", nullable=False),
    }


COLUMNS: dict[str, dict[str, Column]] = {
    PATIENTS: _patient_columns(),
    **{key: _form_columns(crf) for key, crf in CATALOGUE.items()},
}
# Columns a file must have (a row may still leave some empty, e.g. no weight).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, column in columns.items() if column.required) for table, columns in COLUMNS.items()
}
REQUIRED_COLUMNS["respiratory_support"] += ("support",)

# The soft checks (clinical definitions §2.1) a row of each table may confirm in its confirm column.
SOFT_CODES: dict[str, frozenset[str]] = {
    key: frozenset(
        f"{name}.{rule}"
        for name in crf.limits.values()
        for rule, bound in (("soft_low", checks.LIMITS[name].soft_low), ("soft_high", checks.LIMITS[name].soft_high))
        if bound is not None
    )
    for key, crf in CATALOGUE.items()
}
SOFT_CODES["drug_administration"] = SOFT_CODES["drug_administration"] | {"dose.regimen", "route.regimen"}
SOFT_CODES[PATIENTS] = frozenset({"weight_kg.soft_high"})
_CONFIRM_HINT = "tick 'confirm' if this is correct."

# What identifies a row: two rows with the same key in one file are duplicates. A daily form has one record per
# patient-day; a disposition one per patient, day and kind (the database's unique constraints).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    PATIENTS: (KEY,),
    **dict.fromkeys(DAY_FORMS, (KEY, "study_day")),
    "disposition_events": (KEY, "study_day", "kind"),
}


def template_header(table: str) -> str:
    """The header line of the table's template file (docs/import-templates/<table>.csv)."""
    return ",".join(COLUMNS[table])


# --------------------------------------------------------------------------------------------------- reading files


@dataclass(frozen=True)
class Source:
    """A file handed to the import. ``in_archive``: from a zip or a folder, where files that are not tables (a
    release's README, results and codebook) are skipped instead of refused."""

    name: str
    content: bytes
    in_archive: bool = False


@dataclass
class Row:
    number: int  # line in the file
    cells: dict[str, str]


@dataclass
class TableFile:
    source: Source
    table: str
    header: list[str]
    rows: list[Row]


def _table_of(name: str) -> str:
    return Path(name).stem.strip().lower()


def _expand(sources: Iterable[Source], report: ImportReport) -> list[Source]:
    """Zip archives replaced by their .csv members (anything else in them is listed as skipped)."""
    expanded = []
    for source in sources:
        if not source.name.lower().endswith(".zip"):
            expanded.append(source)
            continue
        try:
            archive = zipfile.ZipFile(io.BytesIO(source.content))
            members = [info for info in archive.infolist() if not info.is_dir()]
            if len(members) > MAX_ARCHIVE_FILES or sum(i.file_size for i in members) > MAX_ARCHIVE_BYTES:
                report.problems.append(
                    Problem(
                        source.name,
                        None,
                        "",
                        f"The archive holds more than {MAX_ARCHIVE_FILES} files or {MAX_ARCHIVE_BYTES // 2**20} MB: "
                        "import its CSV files in smaller parts.",
                        "archive_too_large",
                    )
                )
                continue
            for info in members:
                base = info.filename.rsplit("/", 1)[-1]
                if base.lower().endswith(".csv"):
                    expanded.append(Source(base, archive.read(info), in_archive=True))
                else:
                    report.skipped.append(f"{source.name}: {info.filename}")
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
            report.problems.append(
                Problem(source.name, None, "", f"The file is not a readable zip archive ({exc}).", "bad_zip")
            )
    return expanded


def _decode(source: Source) -> str | Problem:
    try:
        return source.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = source.content[: exc.start].count(b"\n") + 1
        byte = source.content[exc.start]
        return Problem(
            source.name,
            line,
            "",
            f"The file is not UTF-8 text: byte 0x{byte:02x} on row {line} cannot be read. Save it as "
            "'CSV UTF-8' (in Excel: Save as > CSV UTF-8) and import it again.",
            "encoding",
        )


def _read(source: Source, report: ImportReport) -> TableFile | None:
    """Decode and split one file; its problems go to the report (a file with a problem here is not parsed)."""
    table = _table_of(source.name)
    problems = report.problems
    if table not in TABLES:
        if source.in_archive:
            report.skipped.append(source.name)
            return None
        expected = ", ".join(f"{t}.csv" for t in TABLES)
        problems.append(
            Problem(
                source.name, None, "", f"Unknown file name: name each file after its table ({expected}).", "file_name"
            )
        )
        return None
    text = _decode(source)
    if isinstance(text, Problem):
        problems.append(text)
        return None
    if not text.strip():
        problems.append(
            Problem(source.name, None, "", "The file is empty: it needs at least the header row.", "empty_file")
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[Row] = []
    try:
        header = [name.strip() for name in next(reader)]
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or a row of empty cells left by a spreadsheet
            if len(cells) != len(header):
                problems.append(
                    Problem(
                        source.name,
                        reader.line_num,
                        "",
                        f"The row has {len(cells)} cells but the header has {len(header)} columns (a missing or "
                        "extra comma, or a comma inside a value that is not in double quotes).",
                        "row_length",
                    )
                )
                continue
            rows.append(Row(reader.line_num, dict(zip(header, cells, strict=True))))
    except csv.Error as exc:
        problems.append(
            Problem(source.name, reader.line_num, "", f"The file is not valid CSV here: {exc}.", "malformed_csv")
        )
        return None
    if not _header_ok(source.name, table, header, problems):
        return None
    return TableFile(source, table, header, rows)


def _header_ok(name: str, table: str, header: list[str], problems: list[Problem]) -> bool:
    known = COLUMNS[table]
    found = []
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        separator = "semicolons" if ";" in header[0] else "tabs"
        found.append(
            Problem(name, 1, "", f"The columns are separated by {separator}: separate them with commas.", "separator")
        )
        problems += found
        return False
    seen = set()
    for column in header:
        if column in seen:
            found.append(Problem(name, 1, column, f"The column {column} appears twice.", "duplicate_column"))
        seen.add(column)
        if column in known or column in CONFIRM_ALIASES:
            continue
        if not column:
            found.append(Problem(name, 1, "", "A column has no name.", "unknown_column"))
            continue
        close = difflib.get_close_matches(column, [*known, *CONFIRM_ALIASES], n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        found.append(
            Problem(
                name,
                1,
                column,
                f"Unknown column {column}: {table}.csv has the columns {', '.join(known)}.{hint}",
                "unknown_column",
            )
        )
    if sum(alias in seen for alias in CONFIRM_ALIASES) > 1:
        found.append(Problem(name, 1, CONFIRM, "Give the confirmations in one column, confirm.", "duplicate_column"))
    for column in REQUIRED_COLUMNS[table]:
        if column not in seen:
            found.append(Problem(name, 1, column, f"The column {column} is missing.", "missing_column"))
    problems += found
    return not found


# --------------------------------------------------------------------------------------------------- parsing cells


class CellError(ValueError):
    pass


_BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "t": True,
    "f": False,
}


def parse_cell(column: Column, text: str) -> Any:
    """The typed value of a cell, or CellError with a message for the person who wrote the file."""
    text = text.strip()
    if "\x00" in text:
        raise CellError("The cell contains a NUL character: the file is damaged or not a text file.")
    if not text:
        if column.required:
            codes = f": one of {', '.join(column.choices)}" if column.choices else ""
            raise CellError(f"A value is required here{codes}.")
        if column.kind == "boolean" and not column.nullable:
            return False
        if column.kind == "codes":
            return frozenset()
        return "" if column.kind in ("text", "choice") else None
    if column.kind == "integer":
        return _integer(text)
    if column.kind == "decimal":
        return _decimal(column, text)
    if column.kind == "boolean":
        if text.lower() not in _BOOLEANS:
            raise CellError(f"'{text}' is not yes or no: write true or false (yes/no and 1/0 are read too).")
        return _BOOLEANS[text.lower()]
    if column.kind == "choice":
        match = {choice.lower(): choice for choice in column.choices}.get(text.lower())
        if match is None:
            raise CellError(f"'{text}' is not one of the codes of {column.name}: {', '.join(column.choices)}.")
        return match
    if column.kind == "date":
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise CellError(f"'{text}' is not a date: write it as year-month-day, e.g. 2020-03-17.") from None
    if column.kind == "codes":
        return frozenset(code for code in re.split(r"[;,\s]+", text) if code)
    if column.max_length and len(text) > column.max_length:
        raise CellError(f"The text has {len(text)} characters; at most {column.max_length} fit.")
    return text


def _integer(text: str) -> int:
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(f"'{text}' is not a whole number.") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise CellError(f"'{text}' is not a whole number.")
    if abs(number) > 32767:
        raise CellError(f"'{text}' is far too large.")
    return int(number)


def _decimal(column: Column, text: str) -> Decimal:
    if re.fullmatch(r"[+-]?\d+,\d+", text):
        raise CellError(f"'{text}' is not a number: use a point as the decimal separator ({text.replace(',', '.')}).")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(f"'{text}' is not a number.") from None
    if not number.is_finite():
        raise CellError(f"'{text}' is not a number.")
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and column.places is not None and -exponent > column.places:
        raise CellError(f"{text} has more decimals than {column.name} keeps ({column.places}).")
    if abs(number) >= 10**12:  # no measurement is that large; the limits of the forms report the others
        raise CellError(f"{text} is far too large.")
    # The number of digits a column keeps is not checked here: the forms' hard limits (or, for the few columns
    # without limits, the model's) refuse a number that does not fit, with the clinical message.
    return number.quantize(Decimal(1).scaleb(-(column.places or 0)))


# ------------------------------------------------------------------------------------------------------- the import


@dataclass
class ParsedRow:
    file: TableFile
    row: Row
    values: dict[str, Any]  # every column present, typed (confirm under CONFIRM)
    result: FileResult


class _Import:
    """One import: the state shared by the three steps (see the module docstring)."""

    def __init__(self, study: Study, user, report: ImportReport):
        self.study, self.user, self.report = study, user, report
        self.sites = {site.code: site for site in Site.objects.filter(studies=study)}
        self.arms = {arm.code: arm for arm in Arm.objects.filter(study=study)}
        self.parsed: dict[str, list[ParsedRow]] = {table: [] for table in TABLES}
        self.refused_patients: dict[str, str] = {}  # participant id -> where its patients.csv row was refused
        self.patients: dict[str, Patient] = {}

    def problem(self, parsed: ParsedRow, column: str, message: str, code: str) -> None:
        self.report.problems.append(Problem(parsed.file.source.name, parsed.row.number, column, message, code))

    # ---------------------------------------------------------------------------------------------- parse

    def parse(self, table_file: TableFile) -> None:
        columns = COLUMNS[table_file.table]
        result = FileResult(table_file.source.name, table_file.table, rows=len(table_file.rows))
        self.report.files.append(result)
        keys: dict[tuple, int] = {}
        for row in table_file.rows:
            parsed = ParsedRow(table_file, row, {}, result)
            ok = True
            for name, text in row.cells.items():
                column = columns[CONFIRM if name in CONFIRM_ALIASES else name]
                try:
                    parsed.values[column.name] = parse_cell(column, text)
                except CellError as exc:
                    self.problem(parsed, name, str(exc), "value")
                    ok = False
            ok = self._check_confirm(parsed) and ok
            key_columns = ROW_KEYS.get(table_file.table)
            if ok and key_columns is None:  # event forms: a row is identified by all its values
                key_columns = tuple(c for c in parsed.values if c != CONFIRM)
            if ok:
                key = tuple(parsed.values.get(c) for c in key_columns)
                if key in keys:
                    what = ", ".join(f"{c} {parsed.values.get(c)}" for c in key_columns[:3])
                    self.problem(
                        parsed, "", f"Duplicate row: {what} is already on row {keys[key]} of this file.", "duplicate"
                    )
                    ok = False
                else:
                    keys[key] = row.number
            if ok:
                self.parsed[table_file.table].append(parsed)
            elif table_file.table == PATIENTS and parsed.values.get(KEY):
                self.refused_patients[parsed.values[KEY]] = f"{table_file.source.name} row {row.number}"

    def _check_confirm(self, parsed: ParsedRow) -> bool:
        allowed = SOFT_CODES.get(parsed.file.table, frozenset())
        unknown = sorted(parsed.values.get(CONFIRM, frozenset()) - allowed)
        if not unknown:
            return True
        column = next(name for name in parsed.row.cells if name in CONFIRM_ALIASES)
        known = ", ".join(sorted(allowed)) or "none"
        self.problem(
            parsed,
            column,
            f"{', '.join(unknown)}: not a soft check of {parsed.file.table} (its soft checks: {known}).",
            "confirm_code",
        )
        return False

    # ---------------------------------------------------------------------------------------------- write

    def write(self) -> None:
        for table in WRITE_ORDER:
            if table == PATIENTS:
                for parsed in self.parsed[PATIENTS]:
                    self._write_patient(parsed)
                self.patients = {p.participant_id: p for p in Patient.objects.filter(study=self.study)}
                for patient in self.patients.values():  # the services read these; no query per row
                    patient.study, patient.arm = self.study, self._arm_by_pk(patient.arm_id)
                continue
            rows = self.parsed[table]
            if not rows:
                continue
            crf = CATALOGUE[table]
            stored = self._stored(crf)
            for parsed in rows:
                patient = self._patient_of(parsed)
                if patient is None:
                    continue
                if crf.per_day:
                    self._write_day(parsed, crf, patient, stored)
                else:
                    self._write_event(parsed, crf, patient, stored)

    def _arm_by_pk(self, pk: int) -> Arm:
        return next(arm for arm in self.arms.values() if arm.pk == pk)

    def _stored(self, crf: Crf) -> dict:
        """The stored records of the study's patients, by (patient pk, day) for daily forms, by patient pk for
        events: one query per form."""
        stored: dict = {}
        for record in crf.model.objects.filter(patient__study=self.study):
            if crf.per_day:
                stored[(record.patient_id, record.study_day)] = record
            else:
                stored.setdefault(record.patient_id, []).append(record)
        return stored

    def _patient_of(self, parsed: ParsedRow) -> Patient | None:
        participant = parsed.values[KEY]
        patient = self.patients.get(participant)
        if patient is not None:
            return patient
        if participant in self.refused_patients:
            message = f"Participant {participant} was refused in {self.refused_patients[participant]}."
        else:
            message = (
                f"Unknown participant {participant}: not in the study {self.study.code}"
                + (" nor in patients.csv." if self.parsed[PATIENTS] or self.refused_patients else ".")
                + " Add the patient to patients.csv or correct the id."
            )
        self.problem(parsed, KEY, message, "unknown_patient")
        return None

    def _reason(self, parsed: ParsedRow) -> str:
        return f"{REASON_PREFIX}{parsed.file.source.name}"

    def _refused(self, parsed: ParsedRow, exc: ValidationError) -> None:
        for column, error in _flatten(exc):
            message = " ".join(str(m) for m in error.messages)
            self.problem(parsed, column, _for_import(message, error.code), error.code or "refused")

    # ------------------------------------------------------------------------------------------ patients

    def _write_patient(self, parsed: ParsedRow) -> None:
        values, result = parsed.values, parsed.result
        participant = values[KEY]
        ok = True
        site, arm = self.sites.get(values["site"]), self.arms.get(values["arm"])
        if site is None:
            known = ", ".join(sorted(self.sites)) or "none"
            self.problem(parsed, "site", f"Site {values['site']} does not take part in the study ({known}).", "site")
            ok = False
        if arm is None:
            known = ", ".join(sorted(self.arms)) or "none"
            self.problem(parsed, "arm", f"The study has no arm {values['arm']} (its arms: {known}).", "arm")
            ok = False
        elif values.get("arm_label") and values["arm_label"] != arm.name:
            self.problem(
                parsed, "arm_label", f"The arm {arm.code} is called {arm.name}, not {values['arm_label']}.", "arm"
            )
            ok = False
        if values.get("follow_up_days") is not None and values["follow_up_days"] != self.study.follow_up_days:
            self.problem(
                parsed,
                "follow_up_days",
                f"The study's follow-up is {self.study.follow_up_days} days, not {values['follow_up_days']}.",
                "follow_up_days",
            )
            ok = False
        for name in ("age_years", "weight_kg"):
            issue = checks.check_value(name, values.get(name))
            if issue is not None and not (issue.needs_confirmation and issue.code in values.get(CONFIRM, ())):
                self.problem(parsed, name, _for_import(issue.message, issue.code), issue.code)
                ok = False
        if not ok:
            self.refused_patients[participant] = f"{parsed.file.source.name} row {parsed.row.number}"
            return
        weight = values.get("weight_kg")
        confirmed = "weight_kg.soft_high" in values.get(CONFIRM, ())
        baseline = {name: values[name] for name in ("sex", "age_years", *COMORBIDITIES) if name in values}
        if "weight_kg" in values:
            baseline["weight_kg"] = weight
            baseline["weight_confirmed"] = bool(confirmed and weight is not None and weight > 200)
        if values.get("status"):
            baseline["status"] = values["status"]
        existing = (
            Patient.objects.filter(study=self.study, participant_id=participant).select_related("site", "arm").first()
        )
        try:
            if existing is None:
                cohort_services.patient_create(
                    study=self.study,
                    site=site,
                    arm=arm,
                    participant_id=participant,
                    enrolment_date=values.get("enrolment_date")
                    or site_today(site) - datetime.timedelta(self.study.follow_up_days),
                    comorbidities={name: baseline.pop(name) for name in COMORBIDITIES if name in baseline},
                    user=self.user,
                    reason=self._reason(parsed),
                    **baseline,
                )
                result.created += 1
                return
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
                self.problem(
                    parsed,
                    column,
                    f"Participant {participant} is stored with {column} {stored}, not {given}: an import does not "
                    "change a patient's site, arm or day 0.",
                    "patient_moved",
                )
            if moved:
                self.refused_patients[participant] = f"{parsed.file.source.name} row {parsed.row.number}"
                return
            saved = cohort_services.patient_update(
                patient=existing,
                changes=baseline,
                expected_version=existing.version,
                user=self.user,
                reason=self._reason(parsed),
            )
            if saved.version != existing.version:
                result.changed += 1
            else:
                result.unchanged += 1
        except ValidationError as exc:
            self._refused(parsed, exc)
            self.refused_patients[participant] = f"{parsed.file.source.name} row {parsed.row.number}"

    # --------------------------------------------------------------------------------------- daily forms

    def _form_values(self, parsed: ParsedRow, crf: Crf) -> dict[str, Any]:
        return {name: value for name, value in parsed.values.items() if name in crf.fields}

    def _write_day(self, parsed: ParsedRow, crf: Crf, patient: Patient, stored: Mapping) -> None:
        values = self._form_values(parsed, crf)
        if crf.is_empty(values):
            self.problem(
                parsed,
                "",
                "The row has no values: nothing to import. (An import never deletes; clear a record on its page.)",
                "empty_row",
            )
            return
        day = parsed.values["study_day"]
        current = stored.get((patient.pk, day))
        key = crf.key
        entry = RecordInput(
            values, parsed.values.get(CONFIRM, frozenset()), current.version if current is not None else None
        )
        try:
            saved = services.patient_day_save(
                patient=patient, study_day=day, entries={key: entry}, user=self.user, reason=self._reason(parsed)
            )
        except PatientDayInvalid as exc:
            self._refused(parsed, exc.errors[key])
            return
        except ValidationError as exc:
            self._refused(parsed, exc)
            return
        record = saved.get(key)
        if current is None:
            parsed.result.created += 1
        elif record is not None and record.version != current.version:
            parsed.result.changed += 1
        else:
            parsed.result.unchanged += 1

    # -------------------------------------------------------------------------------------- event forms

    def _write_event(self, parsed: ParsedRow, crf: Crf, patient: Patient, stored: Mapping) -> None:
        values = self._form_values(parsed, crf)
        records = stored.get(patient.pk, [])
        if any(all(getattr(record, name) == value for name, value in values.items()) for record in records):
            parsed.result.unchanged += 1  # the same record is stored: nothing to do, no history row
            return
        record = None
        if crf.model is DispositionEvent:  # one per patient, day and kind: a row with other values corrects it
            record = next(
                (r for r in records if (r.study_day, r.kind) == (values.get("study_day"), values.get("kind"))), None
            )
        entry = RecordInput(
            values, parsed.values.get(CONFIRM, frozenset()), record.version if record is not None else None
        )
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
            parsed.result.changed += 1


def _for_import(message: str, code: str | None) -> str:
    """A soft check's message tells the form's user to tick 'confirm'; an import confirms in its confirm column."""
    return message.replace(_CONFIRM_HINT, f"add {code} to the confirm column if it is correct.")


def _flatten(exc: ValidationError) -> list[tuple[str, ValidationError]]:
    """(column, error) of each message of a service's refusal; a study-day rule without a field goes to study_day."""
    if not hasattr(exc, "error_dict"):
        return [(_column_of(NON_FIELD_ERRORS, error), error) for error in exc.error_list]
    return [(_column_of(name, error), error) for name, errors in exc.error_dict.items() for error in errors]


def _column_of(field_name: str, error: ValidationError) -> str:
    if field_name != NON_FIELD_ERRORS:
        return field_name
    code = error.code or ""
    return code.split(".", 1)[0] if code.startswith("study_day.") else ""


def crf_import(*, study: Study, sources: Sequence[Source], user, check_only: bool = False) -> ImportReport:
    """Import the case report data of ``sources`` (CSV files or zips of them) into ``study``: all or nothing.

    Returns the report: per file the rows created, changed and unchanged, and every problem with its file, row and
    column. Nothing is stored when there is any problem, or with ``check_only``.
    """
    report = ImportReport(check_only=check_only)
    if Study.objects.filter(pk=study.pk, is_locked=True).exists():
        report.problems.append(Problem("", None, "", StudyLocked(study).messages[0], "study_locked"))
        return report
    expanded = _expand(sources, report)
    files = [table_file for source in expanded if (table_file := _read(source, report)) is not None]
    if not files and not report.problems:
        report.problems.append(Problem("", None, "", "There is no table to import.", "no_files"))
    tables: dict[str, TableFile] = {}
    for table_file in files:
        first = tables.setdefault(table_file.table, table_file)
        if first is not table_file:
            report.problems.append(
                Problem(
                    table_file.source.name,
                    None,
                    "",
                    f"A second {table_file.table} table ({first.source.name} is the first): one file per table.",
                    "duplicate_file",
                )
            )
    run = _Import(study, user, report)
    for table_file in tables.values():
        run.parse(table_file)
    try:
        with transaction.atomic():
            ensure_unlocked(study)
            run.write()
            if report.problems or check_only:
                transaction.set_rollback(True)
    except StudyLocked as exc:  # locked while the import ran
        report.problems.append(Problem("", None, "", exc.messages[0], "study_locked"))
    order = {source.name: rank for rank, source in enumerate(expanded)}
    report.problems.sort(key=lambda p: (order.get(p.file, -1), p.row or 0))  # stable: a row's problems stay in order
    return report


# ---------------------------------------------------------------------------------------------- sources from disk


def sources_from_paths(paths: Iterable[Path]) -> list[Source]:
    """Files (.csv or .zip) and folders (their .csv files, not recursively) as sources."""
    sources = []
    for path in paths:
        if path.is_dir():
            sources += [
                Source(child.name, child.read_bytes(), in_archive=True)
                for child in sorted(path.iterdir())
                if child.is_file() and child.suffix.lower() == ".csv"
            ]
        else:
            sources.append(Source(path.name, path.read_bytes()))
    return sources


def write_table(table: str, rows: Iterable[Mapping[str, Any]], columns: Sequence[str] | None = None) -> bytes:
    """A table in the import format (UTF-8, comma-separated, header first): the inverse of the import, for tests
    and for scripts that convert other systems' data."""
    names = list(columns or COLUMNS[table])
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_text(row.get(name)) for name in names])
    return buffer.getvalue().encode()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, list | tuple | set | frozenset):
        return ";".join(sorted(value))
    return str(value)
