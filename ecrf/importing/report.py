"""What an import reports: per file the rows created, changed and unchanged, and every problem with its place."""

from __future__ import annotations

from dataclasses import dataclass, field

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

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def stored(self) -> bool:
        return self.ok and not self.check_only

    def summary(self) -> str:
        if self.problems:
            count = len(self.problems)
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
