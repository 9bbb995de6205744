"""What an import reports: per file the rows created, changed and unchanged, and every problem with its place."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TextIO

from django.utils.translation import gettext as _
from django.utils.translation import ngettext


@dataclass(frozen=True)
class Problem:
    """One reason the import stores nothing: where (file, row, column) and what."""

    file: str
    row: int | None  # line of the file (the header is row 1); None: the whole file or the import
    column: str
    message: str
    code: str

    def where(self) -> str:
        parts = [
            self.file,
            _("row %(row)s") % {"row": self.row} if self.row else "",
            _("column %(column)s") % {"column": self.column} if self.column else "",
        ]
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
    #: Problems found but not kept in ``problems`` (a stored report keeps the first ones: as_dict).
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def problem_count(self) -> int:
        return len(self.problems) + self.more_problems

    def as_dict(self, keep_problems: int) -> dict:
        """The report as JSON data (an ImportJob keeps it), with its first ``keep_problems`` problems."""
        return {
            "files": [asdict(result) for result in self.files],
            "skipped": list(self.skipped),
            "problems": [asdict(problem) for problem in self.problems[:keep_problems]],
            "more_problems": self.problem_count - min(len(self.problems), keep_problems),
            "check_only": self.check_only,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ImportReport:
        return cls(
            files=[FileResult(**result) for result in data.get("files", [])],
            skipped=list(data.get("skipped", [])),
            problems=[Problem(**problem) for problem in data.get("problems", [])],
            check_only=bool(data.get("check_only")),
            more_problems=int(data.get("more_problems", 0)),
        )

    @property
    def stored(self) -> bool:
        return self.ok and not self.check_only

    def summary(self) -> str:
        if self.problems:
            count = self.problem_count
            return ngettext(
                "Nothing was imported: %(count)s problem.", "Nothing was imported: %(count)s problems.", count
            ) % {"count": count}
        totals = [sum(getattr(f, name) for f in self.files) for name in ("created", "changed", "unchanged")]
        counts = _("%(created)s new, %(changed)s changed, %(unchanged)s unchanged") % {
            "created": totals[0],
            "changed": totals[1],
            "unchanged": totals[2],
        }
        if self.check_only:
            return _("Every row passed the checks (%(counts)s if imported); nothing was stored (check only).") % {
                "counts": counts
            }
        rows = sum(f.rows for f in self.files)
        # The English text says "rows" whatever the number (as it always has); other languages may differ.
        return ngettext("Imported %(rows)s rows: %(counts)s.", "Imported %(rows)s rows: %(counts)s.", rows) % {
            "rows": rows,
            "counts": counts,
        }


PROBLEM_COLUMNS = ("file", "row", "column", "code", "message")


def write_problems(problems: Iterable[Problem], out: TextIO) -> None:
    """Problems as CSV, one per row (the whole list of an import job's problems)."""
    writer = csv.writer(out)
    writer.writerow(PROBLEM_COLUMNS)
    writer.writerows([p.file, p.row or "", p.column, p.code, p.message] for p in problems)


def read_problems(lines: Iterable[str]) -> Iterator[Problem]:
    for row in csv.DictReader(lines):
        yield Problem(row["file"], int(row["row"]) if row["row"] else None, row["column"], row["message"], row["code"])
