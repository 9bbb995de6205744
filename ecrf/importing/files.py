"""The files of an import: zips and folders opened, each file decoded and split into rows, its header checked; and
the inverse, a table written in the import format."""

from __future__ import annotations

import csv
import difflib
import io
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

from ecrf.importing.columns import COLUMNS, CONFIRM, CONFIRM_ALIASES, REQUIRED_COLUMNS, TABLES
from ecrf.importing.report import ImportReport, Problem

MAX_ARCHIVE_BYTES = 200 * 1024 * 1024  # uncompressed content of a zip: no zip bomb
MAX_ARCHIVE_FILES = 200


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
    """A file whose text and header read: its rows are read again each time they are needed (``rows()``), so that
    an import holds a chunk of a file's rows at a time, not the whole file as cells (its memory stays bounded)."""

    source: Source
    table: str
    header: list[str]
    text: str
    #: The rows with as many cells as the header (the others are problems of the read step).
    count: int

    def rows(self) -> Iterator[Row]:
        reader = csv.reader(io.StringIO(self.text, newline=""), strict=True)
        next(reader)
        for cells in reader:
            if len(cells) == len(self.header) and any(cell.strip() for cell in cells):
                yield Row(reader.line_num, dict(zip(self.header, cells, strict=True)))


def _table_of(name: str) -> str:
    return Path(name).stem.strip().lower()


def expand_archives(sources: Iterable[Source], report: ImportReport) -> list[Source]:
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
                        _(
                            "The archive holds more than %(files)s files or %(megabytes)s MB: import its CSV files in "
                            "smaller parts."
                        )
                        % {"files": MAX_ARCHIVE_FILES, "megabytes": MAX_ARCHIVE_BYTES // 2**20},
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
                Problem(
                    source.name,
                    None,
                    "",
                    _("The file is not a readable zip archive (%(error)s).") % {"error": exc},
                    "bad_zip",
                )
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
            _(
                "The file is not UTF-8 text: byte %(byte)s on row %(row)s cannot be read. Save it as 'CSV UTF-8' (in "
                "Excel: Save as > CSV UTF-8) and import it again."
            )
            % {"byte": f"0x{byte:02x}", "row": line},
            "encoding",
        )


def read_file(source: Source, report: ImportReport) -> TableFile | None:
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
                source.name,
                None,
                "",
                _("Unknown file name: name each file after its table (%(names)s).") % {"names": expected},
                "file_name",
            )
        )
        return None
    text = _decode(source)
    if isinstance(text, Problem):
        problems.append(text)
        return None
    if not text.strip():
        problems.append(
            Problem(source.name, None, "", _("The file is empty: it needs at least the header row."), "empty_file")
        )
        return None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    count = 0
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
                        _(
                            "The row has %(cells)s cells but the header has %(columns)s columns (a missing or extra "
                            "comma, or a comma inside a value that is not in double quotes)."
                        )
                        % {"cells": len(cells), "columns": len(header)},
                        "row_length",
                    )
                )
                continue
            count += 1
    except csv.Error as exc:
        problems.append(
            Problem(
                source.name,
                reader.line_num,
                "",
                _("The file is not valid CSV here: %(error)s.") % {"error": exc},
                "malformed_csv",
            )
        )
        return None
    if not _header_ok(source.name, table, header, problems):
        return None
    return TableFile(source, table, header, text, count)


def _header_ok(name: str, table: str, header: list[str], problems: list[Problem]) -> bool:
    known = COLUMNS[table]
    found = []
    if len(header) == 1 and (";" in header[0] or "\t" in header[0]):
        if ";" in header[0]:
            message = _("The columns are separated by semicolons: separate them with commas.")
        else:
            message = _("The columns are separated by tabs: separate them with commas.")
        found.append(Problem(name, 1, "", message, "separator"))
        problems += found
        return False
    seen = set()
    for column in header:
        if column in seen:
            found.append(
                Problem(
                    name, 1, column, _("The column %(column)s appears twice.") % {"column": column}, "duplicate_column"
                )
            )
        seen.add(column)
        if column in known or column in CONFIRM_ALIASES:
            continue
        if not column:
            found.append(Problem(name, 1, "", _("A column has no name."), "unknown_column"))
            continue
        close = difflib.get_close_matches(column, [*known, *CONFIRM_ALIASES], n=1)
        values = {"column": column, "table": table, "columns": ", ".join(known)}
        if close:
            message = _("Unknown column %(column)s: %(table)s.csv has the columns %(columns)s. Did you mean %(close)s?")
            values["close"] = close[0]
        else:
            message = _("Unknown column %(column)s: %(table)s.csv has the columns %(columns)s.")
        found.append(Problem(name, 1, column, message % values, "unknown_column"))
    if sum(alias in seen for alias in CONFIRM_ALIASES) > 1:
        found.append(Problem(name, 1, CONFIRM, _("Give the confirmations in one column, confirm."), "duplicate_column"))
    for column in REQUIRED_COLUMNS[table]:
        if column not in seen:
            found.append(
                Problem(name, 1, column, _("The column %(column)s is missing.") % {"column": column}, "missing_column")
            )
    problems += found
    return not found


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
