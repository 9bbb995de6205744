"""The archival part of a locked release: the audit trail of the source data, the people in it and who signed.

The analysis tables of a release carry no names and no free text (clinical definitions §5). The archival formats
(CDISC ODM with its audit records, the PDF casebooks of the trial master file) need exactly those: who changed a
value, when and why, and who signed. So the lock freezes them too, under ``archive/`` of the release folder, listed
in the manifest with their SHA-256 like every frozen file, but never in an analysis export; only the archival
exports, which the data manager downloads, read them (``roles.ARCHIVE_DOWNLOADERS``).

Tables (one Parquet file each):

- ``audit_trail``: one row per changed value of every history row of the enrolment record and the source forms,
  in the order of the changes: ``form`` ("patients" for the enrolment record), ``record_id`` and ``history_id``
  (the system's numbers), ``study_day``, ``change`` (created, changed, deleted), ``changed_at`` (UTC, ISO 8601),
  ``user`` (login) and ``reason``, then ``field`` with ``old_value`` and ``new_value`` as text. A created record
  lists its filled-in values; a deleted one has a single row with no field.
- ``users``: every person named in the audit trail or a signature: login, full name, study roles.
- ``signers``: who signed each signature of the release's ``signatures`` table (participant and time of signing).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import QuerySet

from cleaning.models import Signature
from cohorts.models import COMORBIDITIES, Patient, RoleAssignment, Study
from ecrf.crfs import CATALOGUE

TABLES = ("audit_trail", "users", "signers")
#: The key that marks an archive file in the release's manifest (its value: the table).
MANIFEST_KEY = "archive_table"
PATIENT_FORM = "patients"
CHANGES = {"+": "created", "~": "changed", "-": "deleted"}
#: The enrolment record's audited fields (its calendar enrolment date stays in the system, as in every table).
PATIENT_FIELDS = ("sex", "age_years", "weight_kg", "weight_confirmed", *COMORBIDITIES, "status")
#: Two extra columns of every form's history: its missing-data codes and the reason it was not done.
FORM_EXTRAS = ("missing_codes", "not_done_reason")

AUDIT_COLUMNS = {
    "participant_id": "string",
    "site": "string",
    "form": "string",
    "record_id": "Int64",
    "history_id": "Int64",
    "study_day": "Int64",
    "change": "string",
    "changed_at": "string",
    "user": "string",
    "reason": "string",
    "field": "string",
    "old_value": "string",
    "new_value": "string",
}
_HEAD = ["history_id", "record_id", "participant_id", "site", "study_day", "change", "when", "user", "reason"]


def table_path(table: str) -> str:
    return f"archive/{table}.parquet"


def manifest_item(item: dict, table: str) -> dict:
    """A manifest item (path, SHA-256, bytes) marked as the archive table ``table``."""
    return {**item, MANIFEST_KEY: table}


def is_archive_item(item: dict) -> bool:
    """Whether a manifest item is a file of the archive (only data managers download it)."""
    return MANIFEST_KEY in item


def has_archive(manifest: dict) -> bool:
    """Whether the lock froze the archive; releases locked before it existed did not."""
    return any(is_archive_item(item) for item in manifest.get("files", []))


def _text(column: pd.Series) -> pd.Series:
    """Stored values as text: numbers without trailing zeros (37.40 is 37.4), yes/no as true/false, the
    missing-data codes as "field: code; ...", empty text as missing."""
    values = column.astype(object)
    present = values.notna()
    out = pd.Series(pd.NA, index=column.index, dtype="string")
    if not present.any():
        return out
    sample = values[present].iloc[0]
    if isinstance(sample, bool):
        out[present] = values[present].map({True: "true", False: "false"}).astype("string")
    elif isinstance(sample, dict):
        out[present] = values[present].map(lambda codes: "; ".join(f"{k}: {v}" for k, v in sorted(codes.items())))
    else:  # pyarrow strings: the regular expressions run in C over the whole column
        text = pa.array(values[present].astype(str).to_numpy(dtype=object), type=pa.string())
        text = pc.replace_substring_regex(text, r"^(-?\d+)\.(\d*?)0+$", r"\1.\2")
        text = pc.replace_substring_regex(text, r"\.$", "")
        out[present] = pd.Series(text.to_pylist(), index=values.index[present], dtype="string")
    return out.replace("", pd.NA)


def _history(rows: QuerySet, fields: tuple[str, ...], form: str) -> pd.DataFrame:
    """The history rows of one model as long rows of changed values (``AUDIT_COLUMNS``)."""
    frame = pd.DataFrame.from_records(list(rows), columns=[*_HEAD, *fields])
    if frame.empty:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in AUDIT_COLUMNS.items()})
    frame = frame.sort_values(["record_id", "when", "history_id"], kind="mergesort").reset_index(drop=True)
    frame["change"] = frame["change"].map(CHANGES)
    when = pd.to_datetime(frame["when"], utc=True).dt.tz_convert(None).to_numpy(dtype="datetime64[us]")
    frame["changed_at"] = pd.Series(np.datetime_as_string(when, unit="us"), index=frame.index) + "Z"
    previous_row = frame["record_id"].eq(frame["record_id"].shift())
    parts = []
    for name in fields:
        new = _text(frame[name])
        old = new.shift().where(previous_row, pd.NA)
        changed = (new.fillna("\0") != old.fillna("\0")) & frame["change"].ne("deleted")
        part = frame.loc[changed, [*_HEAD, "changed_at"]].copy()
        part["field"] = pd.Series(name, index=part.index, dtype="string")
        part["old_value"], part["new_value"] = old[changed], new[changed]
        parts.append(part)
    deleted = frame.loc[frame["change"].eq("deleted"), [*_HEAD, "changed_at"]].copy()
    for name in ("field", "old_value", "new_value"):
        deleted[name] = pd.Series(pd.NA, index=deleted.index, dtype="string")
    parts.append(deleted)
    out = pd.concat([part for part in parts if len(part)], ignore_index=True)
    out["form"] = form
    order = {name: number for number, name in enumerate(fields)}
    out["_field_order"] = out["field"].map(order).fillna(-1)
    out = out.sort_values(["when", "history_id", "_field_order"], kind="mergesort")
    out = out[list(AUDIT_COLUMNS)].reset_index(drop=True)
    return out.astype(AUDIT_COLUMNS)


def audit_trail_frame(study: Study) -> pd.DataFrame:
    """Every audited change of the study's enrolment records and source forms (module docstring), in the order of
    time; one query per form."""
    patients = Patient.objects.filter(study=study)
    common = ("history_id", "id")
    enrolment = Patient.history.filter(id__in=patients.values("id")).values_list(
        *common,
        "participant_id",
        "site__code",
        models.Value(None, output_field=models.IntegerField()),
        "history_type",
        "history_date",
        "history_user__username",
        "history_change_reason",
        *PATIENT_FIELDS,
    )
    frames = [_history(enrolment, PATIENT_FIELDS, PATIENT_FORM)]
    for key, crf in CATALOGUE.items():
        history = crf.model.history.model
        # The study day is a column of every row; a repeating form also lists it among its fields.
        fields = (*(n for n in crf.fields if n != "study_day"), *(n for n in FORM_EXTRAS if hasattr(history, n)))
        rows = history.objects.filter(patient__in=patients).values_list(
            *common,
            "patient__participant_id",
            "patient__site__code",
            "study_day",
            "history_type",
            "history_date",
            "history_user__username",
            "history_change_reason",
            *fields,
        )
        frames.append(_history(rows, fields, key))
    frame = pd.concat([frame for frame in frames if len(frame)] or frames[:1], ignore_index=True)
    return frame.sort_values(["changed_at", "form", "history_id"], kind="mergesort").reset_index(drop=True)


def signers_frame(study: Study) -> pd.DataFrame:
    rows = (
        Signature.objects.filter(patient__study=study)
        .order_by("patient__participant_id", "signed_at", "pk")
        .values_list("patient__participant_id", "signed_at", "signer__username")
    )
    frame = pd.DataFrame.from_records(list(rows), columns=["participant_id", "signed_at", "user"])
    frame["signed_at"] = frame["signed_at"].map(lambda when: when.isoformat()) if len(frame) else pd.Series()
    return frame.astype("string")


def users_frame(study: Study, audit: pd.DataFrame, signers: pd.DataFrame) -> pd.DataFrame:
    """The people named in the audit trail or the signatures: login, full name and study roles."""
    logins = sorted(set(audit["user"].dropna()) | set(signers["user"].dropna()))
    people = get_user_model().objects.filter(username__in=logins).order_by("username")
    assigned = RoleAssignment.objects.filter(study=study, user__username__in=logins)
    assigned = assigned.values_list("user__username", "role")
    roles: dict[str, set[str]] = {}
    for login, role in assigned:
        roles.setdefault(login, set()).add(role)
    rows = [
        (user.username, user.get_full_name() or user.username, ", ".join(sorted(roles.get(user.username, ()))))
        for user in people
    ]
    return pd.DataFrame(rows, columns=["user", "full_name", "roles"]).astype("string")


def archive_frames(study: Study) -> dict[str, pd.DataFrame]:
    audit = audit_trail_frame(study)
    signers = signers_frame(study)
    return {"audit_trail": audit, "users": users_frame(study, audit, signers), "signers": signers}
