"""What an import tells while it runs: its phase, the rows done of the phase's total and the problems so far. The
import's job (ecrf/import_jobs.py) shows them on a page and may stop the import from here; the default tells no
one and never stops."""

from __future__ import annotations

#: The phases, in order: the files decoded and split; every row's cells typed (problems of values, duplicates) and
#: the row through the service of its form (the forms' checks, and the writes that are rolled back unless all pass).
READ, CHECK = "read", "check"
PHASES = (READ, CHECK)


class ImportCancelled(Exception):
    """The import was asked to stop: it stores nothing."""


class Progress:
    """Told by the import as it goes; a subclass may raise ImportCancelled from either method."""

    def phase(self, name: str, total: int) -> None:
        """A phase begins, with ``total`` steps (files for READ, rows for the others)."""

    def advance(self, done: int, problems: int) -> None:
        """``done`` steps of the phase are done; ``problems`` found so far."""
