"""The files of an import: zips and folders opened, each file decoded and split into rows, its header checked; and
the inverse, a table written in the import format."""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from django.utils.translation import gettext as _

from ecrf.importing.columns import COLUMNS, CONFIRM, CONFIRM_ALIASES, REQUIRED_COLUMNS, TABLES
from ecrf.importing.report import ImportReport, Problem

MAX_ARCHIVE_BYTES = 4 * 1024 * 1024 * 1024  # uncompressed content of a zip: no zip bomb (read, never held)
MAX_ARCHIVE_FILES = 200
#: Bytes read at a time from a file.
READ_CHUNK = 1024 * 1024
#: What reading a damaged member of a zip raises (zlib.error: its compressed data; BadZipFile: its checksum).
UNREADABLE_MEMBER = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError)


@dataclass(frozen=True)
class Source:
    """A file handed to the import, read a chunk at a time each time it is needed (the import's memory does not
    follow the files' size): its bytes (``content``: tests, scripts) or a file on disk (``path``: a job's uploads,
    ``import_crf``'s files); ``member``: a file inside the zip that those hold. ``in_archive``: from a zip or a
    folder, where files that are not tables (a release's README, results and codebook) are skipped instead of
    refused."""

    name: str
    content: bytes | None = None
    in_archive: bool = False
    path: Path | None = None
    member: str | None = None

    @contextmanager
    def opened(self) -> Iterator[BinaryIO]:
        with io.BytesIO(self.content or b"") if self.path is None else self.path.open("rb") as raw:
            if self.member is None:
                yield raw
            else:
                with zipfile.ZipFile(raw) as archive, archive.open(self.member) as member:
                    yield member

    def chunks(self) -> Iterator[bytes]:
        with self.opened() as raw:
            while chunk := raw.read(READ_CHUNK):
                yield chunk

    @contextmanager
    def text(self) -> Iterator[TextIO]:
        """The file as text (UTF-8, a byte order mark dropped), for csv.reader; ``_decode_problem`` has checked it."""
        with self.opened() as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
            yield text


@dataclass
class Row:
    number: int  # line in the file
    cells: dict[str, str]


@dataclass
class TableFile:
    """A file whose header has been read: its rows are read again from the file each time they are needed
    (``rows()``), so that an import holds a chunk of a file's rows at a time (its memory stays bounded)."""

    source: Source
    table: str
    header: list[str]
    #: The rows with as many cells as the header (the others are problems of the read step).
    count: int

    def rows(self) -> Iterator[Row]:
        with self.source.text() as text:
            reader = csv.reader(text, strict=True)
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
            with source.opened() as raw, zipfile.ZipFile(raw) as archive:
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
                    expanded.append(
                        Source(base, source.content, in_archive=True, path=source.path, member=info.filename)
                    )
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


def _decode_problem(source: Source) -> Problem | None:
    """The first byte that is not UTF-8, as a problem (None: the file is UTF-8 text), and whether the file holds
    anything but white space (an empty file is its own problem): one pass over the bytes, a chunk at a time."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines, blank = 0, True  # the newlines of the chunks decoded
    try:
        for chunk in source.chunks():
            decoder.decode(chunk)
            lines += chunk.count(b"\n")
            blank = blank and not chunk.strip()
        decoder.decode(b"", final=True)
    except UNREADABLE_MEMBER as exc:  # a zip's member whose compressed bytes are damaged
        return Problem(
            source.name,
            None,
            "",
            _("The file cannot be read from its zip archive (%(error)s).") % {"error": exc},
            "bad_zip",
        )
    except UnicodeDecodeError as exc:
        # exc.object is the chunk after the bytes the decoder held back (the start of a character, never a newline).
        line = lines + exc.object[: exc.start].count(b"\n") + 1
        return Problem(
            source.name,
            line,
            "",
            _(
                "The file is not UTF-8 text: byte %(byte)s on row %(row)s cannot be read. Save it as 'CSV UTF-8' (in "
                "Excel: Save as > CSV UTF-8) and import it again."
            )
            % {"byte": f"0x{exc.object[exc.start]:02x}", "row": line},
            "encoding",
        )
    if blank:
        return Problem(source.name, None, "", _("The file is empty: it needs at least the header row."), "empty_file")
    return None


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
    if (problem := _decode_problem(source)) is not None:
        problems.append(problem)
        return None
    with source.text() as text:
        return _read_rows(source, table, csv.reader(text, strict=True), problems)


def _read_rows(source: Source, table: str, reader, problems: list[Problem]) -> TableFile | None:
    """The header checked and the rows counted (those of another length are problems), the rows not kept."""
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
    return TableFile(source, table, header, count)


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
                Source(child.name, in_archive=True, path=child)
                for child in sorted(path.iterdir())
                if child.is_file() and child.suffix.lower() == ".csv"
            ]
        else:
            sources.append(Source(path.name, path=path))
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
