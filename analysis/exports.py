"""Exports of a locked release: one zip per format, built from the release's frozen files only (clinical definitions
§5).

Formats: CSV, XLSX, Parquet, SPSS .sav and Stata .dta (value labels through pyreadstat), SAS XPORT v5 (.xpt,
readable by pandas.read_sas). The bytes of an export depend only on the release and the format: zip entries carry
the lock time as their timestamp, in a fixed order and with fixed attributes; the workbook's properties and the
creation times that SPSS, Stata and SAS writers stamp into their headers are set to the lock time too. So the same
release exported twice, today or next year on the same software versions, gives the same file and the same SHA-256.

Every zip holds ``<study>_v<N>/``: one file per table (the forms in long format, the derived table, the outcomes,
the arm tables, the study settings and the codebook), manifest.json, the figures, and a README.md of its own that
lists the files of that zip with their SHA-256. The CSV zip also holds the scripts that load it with its labels in
R, Stata and SPSS (analysis/reading_scripts.py).
"""

from __future__ import annotations

import datetime
import hashlib
import importlib
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.utils import translation
from django.utils.translation import gettext as _

from analysis import archive as archive_tables
from analysis import releases
from analysis.codebook import DTA_MISSING, SAV_MISSING
from analysis.frozen import FrozenRelease, variables
from analysis.models import ARCHIVAL_FORMATS, ExportFormat, Release
from analysis.reading_scripts import SCRIPTS
from cohorts.languages import STORED_LANGUAGE
from ecrf.crfs import CODE_COLUMN_SUFFIX
from ecrf.models import MissingCode

Progress = Callable[[int], None]
XLSX_MAX_ROWS = 1_048_575  # per sheet, under the header row
XPT_MAX_TEXT = 200  # SAS XPORT version 5 character variables


def export_name(release: Release, fmt: str) -> str:
    return f"{release.study.code}_v{release.version}_{fmt}.zip"


# --------------------------------------------------------------------------------------------
# Deterministic zip
# --------------------------------------------------------------------------------------------


class DeterministicZip:
    """A zip whose bytes depend only on the entries written (name, content) and the fixed timestamp."""

    def __init__(self, target, when: datetime.datetime):
        self.zip = zipfile.ZipFile(target, "w")
        utc = when.astimezone(datetime.UTC)
        self.date_time = (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)

    def write(self, name: str, content: bytes, compress: bool = True) -> None:
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.create_system = 3  # unix, whatever the platform
        info.external_attr = 0o100444 << 16  # a read-only regular file
        info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
        # Level 1: CSV of a million patient-days compresses about as well as at level 6, several times faster.
        self.zip.writestr(info, content, compresslevel=1 if compress else None)

    def stream(self, name: str) -> _HashingWriter:
        """A file of the zip written piece by piece (an ODM document larger than memory), hashed as it goes."""
        info = zipfile.ZipInfo(name, date_time=self.date_time)
        info.create_system = 3
        info.external_attr = 0o100444 << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        info._compresslevel = 1  # as write(): the zip module reads the level of a streamed entry from here
        return _HashingWriter(self.zip.open(info, "w", force_zip64=True))

    def close(self) -> None:
        self.zip.close()


class _HashingWriter:
    """A binary stream into a zip entry that keeps the SHA-256 of what went through it."""

    def __init__(self, target):
        self.target = target
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha256.update(data)
        return self.target.write(data)

    def flush(self) -> None:  # a zip written into this entry (the PDF export's per-site zips) flushes when closed
        self.target.flush()

    def __enter__(self) -> _HashingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.target.close()


def _rezip(content: bytes, when: datetime.datetime, fix: Callable[[str, bytes], bytes] | None = None) -> bytes:
    """Rewrite a zip-based file (XLSX) with fixed timestamps and attributes, in its own entry order."""
    out = io.BytesIO()
    source = zipfile.ZipFile(io.BytesIO(content))
    target = DeterministicZip(out, when)
    for info in source.infolist():
        data = source.read(info.filename)
        target.write(info.filename, fix(info.filename, data) if fix else data)
    target.close()
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------------------------


def csv_bytes(table: pa.Table) -> bytes:
    """CSV with a header; missing values are empty cells, text quoted only when needed, true/false."""
    buffer = io.BytesIO()
    # pyarrow quotes every header name; snake_case names need no quotes, so the header is written here.
    buffer.write((",".join(table.column_names) + "\n").encode())
    pa_csv.write_csv(table, buffer, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return buffer.getvalue()


def _sheet_value(value):
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def xlsx_bytes(frozen: FrozenRelease, progress: Progress) -> bytes:
    """One workbook, one sheet per table (a table longer than a sheet continues on <table>_2, ...)."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    when = frozen.when.astimezone(datetime.UTC).replace(tzinfo=None)
    workbook.properties.creator = "Study eCRF"
    workbook.properties.created = when
    workbook.properties.title = f"{frozen.release.study.code} release v{frozen.release.version}"
    tables = releases.EXPORT_TABLES
    for index, table in enumerate(tables):
        frame = frozen.frame(table)
        columns = list(frame.columns)
        rows = frame.astype(object).to_numpy()
        for part, start in enumerate(range(0, max(len(rows), 1), XLSX_MAX_ROWS)):
            sheet = workbook.create_sheet(table if part == 0 else f"{table}_{part + 1}"[:31])
            sheet.append(columns)
            for row in rows[start : start + XLSX_MAX_ROWS]:
                sheet.append([_sheet_value(v) for v in row])
        progress(10 + 80 * (index + 1) // len(tables))
    buffer = io.BytesIO()
    workbook.save(buffer)
    stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ").encode()

    def fix(name: str, data: bytes) -> bytes:
        if name == "docProps/core.xml":  # openpyxl stamps the save time as "modified"
            return re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)", rb"\g<1>" + stamp + rb"\g<2>", data)
        return data

    return _rezip(buffer.getvalue(), frozen.when, fix)


class StatisticalTable(NamedTuple):
    """A table as SPSS, Stata and SAS files hold it, with its metadata by variable name."""

    frame: pd.DataFrame
    value_labels: dict[str, dict[int | str, str]]
    variable_labels: dict[str, str]
    measures: dict[str, str]  # SPSS measurement level: nominal, ordinal or scale
    #: Variable -> its user-missing values: SPSS numbers (-97, -98, -99), Stata extended missing letters (a, b, c).
    missing: dict[str, list]


def statistical_frame(
    frozen: FrozenRelease, table: str, numeric_codes: bool, missing_codes: str | None = None
) -> StatisticalTable:
    """The table for SPSS/Stata/SAS: numbers as doubles (missing = system missing), booleans 0/1, and with
    ``numeric_codes`` coded text as integers 1..k (``variables``).

    ``missing_codes`` "sav" or "dta": a numeric column (number, yes/no, coded text) with a missing-data code column
    ``<name>_mc`` (clinical definitions §2.2) carries the codes in the value itself, as the package's user-defined
    missing values with value labels: SPSS -97 / -98 / -99, Stata .a / .b / .c (analysis/codebook.py). Otherwise
    (SAS, the text formats) the value is missing and the code column says why.
    """
    frame = frozen.frame(table)
    described = variables(frozen.columns(table).loc[list(frame.columns)], numeric_codes, frozen.language)
    out, value_labels = {}, {}
    for variable in described:
        name, column = variable.name, frame[variable.name]
        if variable.kind == "boolean":
            out[name] = column.astype("Float64").astype("float64")
        elif variable.kind == "number":
            out[name] = pd.to_numeric(column).astype("Float64").astype("float64")
        elif variable.kind == "coded":
            number = {code: n for n, code in variable.codes.items()}
            out[name] = column.astype(object).map(number).astype("float64")
            unlabelled = column.notna() & pd.isna(out[name])
            if unlabelled.any():  # it would silently become a missing value
                raise ValueError(f"{table}.{name}: values without a code {sorted(set(column[unlabelled]))}")
        else:
            out[name] = column.astype(object).where(column.notna(), "").astype(str)
        if variable.labels:
            value_labels[name] = dict(variable.labels)
    variable_labels = {variable.name: variable.label for variable in described}
    measures = {variable.name: variable.measure for variable in described}
    missing: dict[str, list] = {}
    if missing_codes is not None:
        for name in frame.columns:
            code_column = f"{name}{CODE_COLUMN_SUFFIX}"
            if code_column in frame.columns and out[name].dtype == "float64":
                out[name], value_labels[name], missing[name] = _with_codes(
                    out[name], frame[code_column], value_labels.get(name, {}), missing_codes, frozen.language
                )
    table_frame = pd.DataFrame(out, columns=list(frame.columns))
    return StatisticalTable(table_frame, value_labels, variable_labels, measures, missing)


def _with_codes(
    values: pd.Series, codes: pd.Series, labels: dict, package: str, language: str
) -> tuple[pd.Series, dict, list]:
    """A numeric column with its missing-data codes as the package's user-missing values, their labels (in the
    codebook's ``language``) added."""
    table = SAV_MISSING if package == "sav" else DTA_MISSING
    marks = codes.astype(object).map({code.value: table[code] for code in MissingCode})
    coded = marks.notna().to_numpy()
    if package == "sav":
        values = values.where(~coded, marks.astype("float64"))
    elif coded.any():  # Stata's extended missing values are letters in an otherwise numeric column
        values = values.astype(object).where(~coded, marks)
    with translation.override(language):
        labels = {**labels, **{number: str(code.label).lower() for code, number in table.items()}}
    return values, labels, list(table.values())


def _write_with(writer: Callable[[str], None]) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "out")
        writer(path)
        return Path(path).read_bytes()


def _fix_sav(content: bytes, when: datetime.datetime) -> bytes:
    # SPSS header: creation date (9 bytes, "dd Mon yy") and time (8 bytes) at offsets 84 and 93 after the
    # 4-byte record type, product name (60), layout code, case size, compression, weight index (4 each), cases (4)
    # and bias (8): bytes 92-108.
    utc = when.astimezone(datetime.UTC)
    stamp = utc.strftime("%d %b %y").encode() + utc.strftime("%H:%M:%S").encode()
    return content[:92] + stamp + content[109:]


def _fix_dta(content: bytes, when: datetime.datetime) -> bytes:
    stamp = when.astimezone(datetime.UTC).strftime("%d %b %Y %H:%M").encode()
    return re.sub(
        rb"<timestamp>.[^<]*</timestamp>",
        b"<timestamp>" + bytes([len(stamp)]) + stamp + b"</timestamp>",
        content,
        count=1,
        flags=re.S,
    )


def _fix_xpt(content: bytes, when: datetime.datetime) -> bytes:
    stamp = when.astimezone(datetime.UTC).strftime("%d%b%y:%H:%M:%S").upper().encode()
    end = content.find(b"HEADER RECORD*******OBS     HEADER RECORD")
    head = re.sub(rb"\d\d[A-Z]{3}\d\d:\d\d:\d\d:\d\d", stamp, content[:end])
    return head + content[end:]


def labelled_bytes(frozen: FrozenRelease, table: str, package: str) -> bytes:
    """The table as an SPSS (``package`` "sav") or Stata ("dta") file: variable and value labels, the missing-data
    codes as the package's user-missing values, the file label and the header's time stamp of the release."""
    import pyreadstat

    frame, values, labels, measures, missing = statistical_frame(
        frozen, table, numeric_codes=True, missing_codes=package
    )
    if package == "sav":
        write, fix, label_width = pyreadstat.write_sav, _fix_sav, 64
        options = {"column_labels": labels, "variable_measure": measures, "missing_ranges": missing}
    else:  # Stata: variable labels of 80 characters at most, and no measurement level
        write, fix, label_width = pyreadstat.write_dta, _fix_dta, 80
        options = {"column_labels": {name: text[:80] for name, text in labels.items()}, "missing_user_values": missing}
    label = f"{frozen.release.study.code} v{frozen.release.version} {table}"[:label_width]
    content = _write_with(lambda path: write(frame, path, file_label=label, variable_value_labels=values, **options))
    return fix(content, frozen.when)


def xpt_bytes(frozen: FrozenRelease, table: str) -> bytes:
    import pyreadstat

    frame = statistical_frame(frozen, table, numeric_codes=False).frame
    book = frozen.columns(table)
    short = {name: str(book.loc[name, "xpt_name"]) for name in frame.columns}
    for name in frame.columns:
        if frame[name].dtype == object:
            frame[name] = frame[name].str.slice(0, XPT_MAX_TEXT)
    frame = frame.rename(columns=short)
    dataset = str(book["xpt_dataset"].iloc[0]) if len(book) else table[:8]
    content = _write_with(
        lambda path: pyreadstat.write_xport(
            frame,
            path,
            file_label=f"{frozen.release.study.code} v{frozen.release.version}"[:40],
            column_labels={short[name]: name[:40] for name in short},
            table_name=dataset.upper(),
            file_format_version=5,
        )
    )
    return _fix_xpt(content, frozen.when)


PER_TABLE = {
    ExportFormat.CSV: (".csv", lambda frozen, table: csv_bytes(frozen.arrow(table)), True),
    ExportFormat.PARQUET: (".parquet", lambda frozen, table: frozen.raw(releases.table_path(table)), False),
    ExportFormat.SAV: (".sav", lambda frozen, table: labelled_bytes(frozen, table, "sav"), True),
    ExportFormat.DTA: (".dta", lambda frozen, table: labelled_bytes(frozen, table, "dta"), True),
    ExportFormat.XPT: (".xpt", xpt_bytes, True),
}


#: Formats built from the whole release at once, by their own module: its ``export_files(frozen, progress)`` yields
#: the files of the zip in their order, each as (path, content): the bytes, or a function that writes them to a
#: binary stream (a file larger than memory); its ``readme_notes(frozen)`` says what the zip's README must tell.
WHOLE_RELEASE = {
    ExportFormat.SDTM: "analysis.sdtm",
    ExportFormat.ODM: "analysis.odm",
    ExportFormat.PDF: "analysis.casebook_pdf",
}


class ExportRefused(ValueError):
    """An export that cannot be built from this release, with the reason a person reads."""


def export_refusal(release: Release, fmt: str) -> str | None:
    """Why ``release`` cannot be exported in ``fmt``, or None (in the active language: the page shows it)."""
    if fmt not in ExportFormat.values:
        return _("Unknown export format %(format)s.") % {"format": repr(fmt)}
    if fmt in ARCHIVAL_FORMATS and not archive_tables.has_archive(release.manifest):
        return _(
            "Release v%(version)s was locked before the lock froze the audit trail, which the %(format)s export "
            "needs: unlock and lock the study again (a new release) to export it."
        ) % {"version": release.version, "format": ExportFormat(fmt).label}
    return None


@translation.override(STORED_LANGUAGE)
def write_export(release: Release, fmt: str, target, progress: Progress | None = None) -> None:
    """Write the zip of ``release`` in ``fmt`` to ``target`` (a path or a binary file object), in the stored
    language whoever asks (the codebook's labels are the release's, in the study's language)."""
    refusal = export_refusal(release, fmt)
    if refusal:
        raise ExportRefused(refusal)
    progress = progress or (lambda percent: None)
    frozen = FrozenRelease(release)
    archive = DeterministicZip(target, frozen.when)
    listed: list[dict] = []  # every file of this zip, for its README

    def add(relative: str, content: bytes, compress: bool = True, rows: int | None = None) -> None:
        archive.write(f"{frozen.prefix}{relative}", content, compress=compress)
        sha256 = hashlib.sha256(content).hexdigest()
        listed.append({"path": relative, "sha256": sha256, **({"rows": rows} if rows is not None else {})})

    notes: list[str] = []
    try:
        if fmt in WHOLE_RELEASE:
            builder = importlib.import_module(WHOLE_RELEASE[fmt])
            notes = builder.readme_notes(frozen)
            for relative, content in builder.export_files(frozen, progress):
                if callable(content):
                    with archive.stream(f"{frozen.prefix}{relative}") as stream:
                        content(stream)
                    listed.append({"path": relative, "sha256": stream.sha256.hexdigest()})
                else:
                    add(relative, content)
        elif fmt == ExportFormat.XLSX:
            add(f"{release.study.code}_v{release.version}.xlsx", xlsx_bytes(frozen, progress), compress=False)
        else:
            suffix, build, compress = PER_TABLE[fmt]
            tables = releases.EXPORT_TABLES
            for index, table in enumerate(tables):
                add(f"{table}{suffix}", build(frozen, table), compress=compress, rows=frozen.rows(table))
                progress(5 + 90 * (index + 1) // len(tables))
            if fmt == ExportFormat.CSV:
                for name, script in SCRIPTS.items():
                    add(name, script(frozen, list(tables)))
        for relative in frozen.extra_files():
            add(relative, frozen.raw(relative))
        label = str(ExportFormat(fmt).label)
        archive.write(f"{frozen.prefix}README.md", releases.export_readme(release.manifest, label, listed, notes))
    finally:
        archive.close()
    progress(100)


def write_export_file(
    release: Release, fmt: str, target: Path, progress: Progress | None = None, tag: str = ""
) -> None:
    """Write the export to ``target`` atomically: into ``.<name><tag>.partial`` beside it, renamed into place once
    complete, so that a download never sees half a file; the partial file is removed when the build fails."""
    partial = target.with_name(f".{target.name}{tag}.partial")
    try:
        write_export(release, fmt, partial, progress)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def export_bytes(release: Release, fmt: str) -> bytes:
    buffer = io.BytesIO()
    write_export(release, fmt, buffer)
    return buffer.getvalue()
