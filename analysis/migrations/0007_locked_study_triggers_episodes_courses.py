"""The database-level guard of a locked study (migration 0002) on the tables added for the New York protocol: the
ventilation episodes and the derived patient courses (clinical definitions §2.3, §3.4, §5). No-op on SQLite."""

import importlib

from django.db import migrations

_guard = importlib.import_module("analysis.migrations.0002_locked_study_triggers")
TABLES = ("ecrf_ventilationepisode", "ecrf_derivedcourse")


def forward_sql() -> list[str]:
    return [statement for table in TABLES for statement in _guard._triggers(table, "ecrf_locked_rows")]


def reverse_sql() -> list[str]:
    return [
        f"DROP TRIGGER IF EXISTS {table}_locked_{kind} ON {table};" for table in TABLES for kind in ("ins", "upd", "del")
    ]


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0006_export_formats_sdtm_odm_pdf"),
        ("ecrf", "0007_ventilation_episodes_and_times"),
    ]

    operations = [migrations.RunPython(_guard._run(forward_sql), _guard._run(reverse_sql), elidable=False)]
