"""The benchmarks' own test database: made by Django's test runner before a run, dropped after it.

Named test_<database>_bench_<name> on PostgreSQL (test_ecrf_bench_<name> for the database ecrf of DATABASE_URL), so
a benchmark never meets the test suite's database (test_<database>), another benchmark's running at the same time,
or the same benchmark run by someone else against another database name. On SQLite it is in memory unless
``sqlite_file`` is given (a benchmark whose server runs in other processes needs a file).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection
from django.test.utils import setup_databases, setup_test_environment, teardown_databases


@contextmanager
def own_test_database(name: str, *, sqlite_file: Path | None = None, test_environment: bool = True) -> Iterator[str]:
    """Create the database, yield its name, drop it. ``test_environment``: Django's setup_test_environment (DEBUG
    off, in-memory mail); a benchmark of rendered pages goes without it, as its instrumented template rendering
    slows every page (measured: about 2x)."""
    test = connection.settings_dict.setdefault("TEST", {})
    if connection.vendor == "postgresql":
        test["NAME"] = f"test_{connection.settings_dict['NAME']}_bench_{name}"
    else:
        test["NAME"] = str(sqlite_file) if sqlite_file else None
    if test_environment:
        setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, keepdb=False)
    try:
        yield connection.settings_dict["NAME"]
    finally:
        connection.close()
        teardown_databases(old, verbosity=0)


def bulk_load(table: str, columns: list[str], rows) -> None:
    """Rows into a table in bulk, around the ORM: COPY on PostgreSQL, executemany on SQLite."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", list(rows))
