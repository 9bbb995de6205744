"""The database-level guard of clinical definitions §5: on PostgreSQL, no row of a locked study's patients, daily forms or derived
data can be inserted, changed or deleted, whatever the path (service, admin, shell, import, raw SQL).

Statement-level AFTER triggers with transition tables: one check per statement, so the derivation job's bulk
writes pay one query, not one per row. The check first takes FOR SHARE on the study rows involved, which makes a
lock (SELECT ... FOR UPDATE on the study, analysis/releases.py) wait for writers in flight and makes writers wait
for a lock in progress, then see it: a release is a consistent cut. No-op on SQLite (the service layer's
ensure_unlocked is the guard there).
"""

from django.db import migrations

PATIENT_DAY_TABLES = (
    "ecrf_vitalsigns",
    "ecrf_respiratorysupport",
    "ecrf_labresult",
    "ecrf_drugadministration",
    "ecrf_dispositionevent",
    "ecrf_adverseevent",
    "ecrf_derivedday",
)

CHECK = """
DECLARE
    locked_code text;
BEGIN
    PERFORM 1 FROM cohorts_study s WHERE s.id IN ({studies}) ORDER BY s.id FOR SHARE;
    SELECT s.code INTO locked_code FROM cohorts_study s WHERE s.id IN ({studies}) AND s.is_locked LIMIT 1;
    IF locked_code IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'check_violation',
            CONSTRAINT = 'study_locked',
            MESSAGE = 'study_locked: the study ' || locked_code
                      || ' is locked for a data release; unlock it to change data';
    END IF;
    RETURN NULL;
END;
"""
VIA_PATIENT = "SELECT p.study_id FROM cohorts_patient p WHERE p.id IN (SELECT patient_id FROM {rows})"
DIRECT = "SELECT study_id FROM {rows}"


def _function(name: str, studies: str) -> str:
    return f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $${CHECK.format(studies=studies)}$$;"


FUNCTIONS = {
    "ecrf_locked_rows": VIA_PATIENT.format(rows="changed_rows"),
    "ecrf_locked_rows_update": VIA_PATIENT.format(rows="changed_rows")
    + " UNION "
    + VIA_PATIENT.format(rows="old_rows"),
    "ecrf_locked_patients": DIRECT.format(rows="changed_rows"),
    "ecrf_locked_patients_update": DIRECT.format(rows="changed_rows") + " UNION " + DIRECT.format(rows="old_rows"),
}


def _triggers(table: str, prefix: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_locked_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {prefix}();",
        f"CREATE TRIGGER {table}_locked_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION {prefix}_update();",
        f"CREATE TRIGGER {table}_locked_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS changed_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {prefix}();",
    ]


def forward_sql() -> list[str]:
    statements = [_function(name, studies) for name, studies in FUNCTIONS.items()]
    for table in PATIENT_DAY_TABLES:
        statements += _triggers(table, "ecrf_locked_rows")
    statements += _triggers("cohorts_patient", "ecrf_locked_patients")
    return statements


def reverse_sql() -> list[str]:
    statements = []
    for table in (*PATIENT_DAY_TABLES, "cohorts_patient"):
        statements += [f"DROP TRIGGER IF EXISTS {table}_locked_{kind} ON {table};" for kind in ("ins", "upd", "del")]
    statements += [f"DROP FUNCTION IF EXISTS {name}();" for name in FUNCTIONS]
    return statements


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements():
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("analysis", "0001_initial"),
        ("cohorts", "0002_role_groups"),
        ("ecrf", "0001_initial"),
    ]

    operations = [migrations.RunPython(_run(forward_sql), _run(reverse_sql), elidable=False)]
