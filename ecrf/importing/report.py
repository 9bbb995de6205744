"""What an import reports: per file the rows created, changed and unchanged, and every problem with its place."""

from __future__ import annotations

from dataclasses import dataclass, field


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
