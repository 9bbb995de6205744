"""The ClinicalData of the ODM export (analysis/odm.py) as text, built column-wise with pyarrow's compute functions:
every element of a kind is one concatenation over whole columns, run in C, so the cost follows the number of values
without a Python step per value. The pieces are placed by comparing each sorted row with the one before it (a new
participant closes the previous SubjectData and opens the next, and so on down to ItemGroupData)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

SYSTEM_USER = "USR.SYSTEM"
#: The study day of the enrolment record, which has none (it sorts before every study day).
NO_DAY = -(10**6)

Text = pa.Array | pa.ChunkedArray | str


def arrow(values) -> pa.ChunkedArray:
    """A pandas column (or numpy array) as pyarrow strings, missing as empty."""
    if isinstance(values, pd.Series):
        values = values.astype("string[pyarrow]").array.__arrow_array__()
    else:
        values = pa.array(values, type=pa.string())
    values = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    # pandas keeps large strings; the compute kernels want one string type for all pieces of a concatenation.
    return values.cast(pa.string()).fill_null("")


def cat(*parts: Text) -> pa.ChunkedArray:
    """Element-wise concatenation; a str is the same text on every row."""
    return pc.binary_join_element_wise(*parts, "")


def when(mask: np.ndarray, then: Text, otherwise: Text = "") -> pa.ChunkedArray:
    return pc.if_else(pa.array(mask, type=pa.bool_()), then, otherwise)


def attribute(values: Text) -> pa.ChunkedArray:
    """Text escaped for a double-quoted XML attribute (line breaks and tabs kept as character references)."""
    for plain, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;"), ("\n", "&#10;")):
        values = pc.replace_substring(values, plain, escaped)
    return pc.replace_substring(pc.replace_substring(values, "\r", "&#13;"), "\t", "&#9;")


def element_text(values: Text) -> pa.ChunkedArray:
    for plain, escaped in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        values = pc.replace_substring(values, plain, escaped)
    return values


def joined(values: pa.ChunkedArray) -> bytes:
    """The concatenation of every value (the strings' data buffers, sliced; no Python step per value)."""
    parts = []
    for chunk in values.chunks:
        if len(chunk) == 0:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        offsets = np.frombuffer(chunk.buffers()[1], dtype=width)
        start, end = int(offsets[chunk.offset]), int(offsets[chunk.offset + len(chunk)])
        parts.append(chunk.buffers()[2].to_pybytes()[start:end])
    return b"".join(parts)


def changed(values: pd.Series) -> np.ndarray:
    """True where a sorted column starts a new value (the first row included)."""
    return values.ne(values.shift()).fillna(True).to_numpy(dtype=bool)


def user_oids(users: pd.Series) -> pa.ChunkedArray:
    logins = arrow(users)
    oids = cat("USR.", pc.replace_substring_regex(pc.utf8_upper(logins), r"[^A-Z0-9_-]", "_"))
    return pc.if_else(pc.equal(logins, ""), SYSTEM_USER, oids)


def acts(audit: pd.DataFrame) -> np.ndarray:
    """True on the first row of each act of the trail (a history row's changed values are adjacent rows)."""
    return changed(audit["form"]) | changed(audit["history_id"])


def spread(values: pa.ChunkedArray | pa.Array, indices: np.ndarray) -> pa.Array:
    """``values[i]`` for each index, empty text where the index is -1."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    extended = pa.concat_arrays([values, pa.array([""], type=pa.string())])
    return extended.take(pa.array(np.where(indices < 0, len(values), indices)))


def audit_records(rows: pd.DataFrame, ids: Text | None = None, sources: Text | None = None):
    """AuditRecord elements of audit rows: user, the participant's site, time, reason; with ``ids`` and
    ``sources`` also its ID and SourceID (up to the SourceID's text, left open)."""
    reason = arrow(rows["reason"])
    body = cat(
        '<UserRef UserOID="',
        user_oids(rows["user"]),
        '"/><LocationRef LocationOID="LOC.',
        arrow(rows["site"]),
        '"/><DateTimeStamp>',
        arrow(rows["changed_at"]),
        "</DateTimeStamp>",
        when(pc.not_equal(reason, "").to_numpy(), cat("<ReasonForChange>", element_text(reason), "</ReasonForChange>")),
    )
    if ids is None:
        return cat("<AuditRecord>", body, "</AuditRecord>")
    return cat('<AuditRecord ID="', ids, '">', body, "<SourceID>", element_text(sources))


class Changes(NamedTuple):
    """The change that gave each stored value its value: ``keys`` (participant, form, study day, column, value) with
    ``act``, the number of its act in ``records`` (one AuditRecord per act of the trail)."""

    keys: pd.DataFrame
    records: pa.Array


def last_changes(audit: pd.DataFrame) -> Changes:
    """For each (participant, form, study day, field, value) the latest audit row with that value; its AuditRecord
    is written once per act (the values share it)."""
    audit = audit.reset_index(drop=True)
    first = acts(audit)
    keep = (audit["field"].notna() & audit["new_value"].notna()).to_numpy()
    keep &= ~audit.duplicated(["participant_id", "form", "study_day", "field", "new_value"], keep="last").to_numpy()
    rows = audit.loc[keep]
    keys = pd.DataFrame(
        {
            "participant_id": rows["participant_id"].astype("string[pyarrow]"),
            "form": rows["form"].astype("string[pyarrow]"),
            "study_day": rows["study_day"].fillna(NO_DAY).astype("int64"),
            "column": rows["field"].astype("string[pyarrow]"),
            "value": rows["new_value"].astype("string[pyarrow]"),
            "act": (np.cumsum(first) - 1)[keep],
        }
    )
    return Changes(keys, audit_records(audit.loc[first]).combine_chunks())


def trail(audit: pd.DataFrame) -> bytes:
    """Every act of the audit trail (one history row: its changed values) as an AuditRecord, in the trail's order;
    the SourceID names the record and lists each field's old and new value."""
    if audit.empty:
        return b""
    audit = audit.reset_index(drop=True)
    first = acts(audit)
    last = np.append(first[1:], True)
    head_rows = audit.loc[first]
    number = arrow(head_rows["history_id"].astype("Int64").astype("string"))
    day = when(
        head_rows["study_day"].notna().to_numpy(),
        cat(", day ", arrow(head_rows["study_day"].astype("Int64").astype("string"))),
    )
    forms = arrow(head_rows["form"])
    head = cat(
        forms, " record ", arrow(head_rows["record_id"].astype("Int64").astype("string")), " of ",
        arrow(head_rows["participant_id"]), day, ", ", arrow(head_rows["change"]),
    )  # fmt: skip
    opening = spread(
        audit_records(head_rows, cat("AR.", pc.utf8_upper(forms), ".", number), head),
        np.where(first, np.cumsum(first) - 1, -1),
    )
    has_change = audit["field"].notna().to_numpy()
    change = cat(
        arrow(audit["field"]), ": ", arrow(audit["old_value"].fillna("(empty)")), " -> ",
        arrow(audit["new_value"].fillna("(empty)")),
    )  # fmt: skip
    # An act's first row opens its AuditRecord up to the SourceID's record text, each row adds its change, the last
    # row closes it.
    pieces = cat(
        opening,
        when(has_change, cat(when(first, ": ", "; "), element_text(change))),
        when(last, "</SourceID></AuditRecord>"),
    )
    return b"<AuditRecords>" + joined(pieces) + b"</AuditRecords>\n"


def nested(items: pd.DataFrame, heads: pd.Series, repeating_forms: Iterable[str], records: pa.Array) -> bytes:
    """The items, sorted by participant, event, day, form, repeat and item, as nested SubjectData / StudyEventData /
    FormData / ItemGroupData / ItemData text. ``heads``: participant -> its SubjectData start tag and what comes
    before its events (signature, site); an item's ``act`` (-1: none) is its AuditRecord in ``records``."""
    subject, form, day = items["participant_id"], items["form"], items["study_day"]
    new_subject = changed(subject)
    new_event = new_subject | changed(items["event"]) | changed(day)
    new_form = new_event | changed(form)
    new_group = new_form | changed(items["repeat"])
    later = np.arange(len(items)) > 0
    forms = pc.utf8_upper(arrow(form))
    days = arrow(day.astype("string"))
    event_open = pc.if_else(
        pa.array(items["event"].eq(0).to_numpy()),
        '<StudyEventData StudyEventOID="SE.ENROLMENT">',
        cat('<StudyEventData StudyEventOID="SE.DAY" StudyEventRepeatKey="', days, '">'),
    )
    repeating = form.isin(list(repeating_forms)).to_numpy()
    group_open = cat(
        '<ItemGroupData ItemGroupOID="IG.',
        forms,
        when(repeating, cat('" ItemGroupRepeatKey="', arrow(items["repeat"].astype("string")))),
        '">',
    )
    act = items["act"].to_numpy()
    audit, has_audit = spread(records, act), act >= 0
    pieces = cat(
        when(new_group & later, "</ItemGroupData>"),
        when(new_form & later, "</FormData>"),
        when(new_event & later, "</StudyEventData>"),
        when(new_subject & later, "</SubjectData>\n"),
        when(new_subject, arrow(subject.map(heads))),
        when(new_event, event_open),
        when(new_form, cat('<FormData FormOID="F.', forms, '">')),
        when(new_group, group_open),
        '<ItemData ItemOID="',
        arrow(items["item_oid"]),
        '" Value="',
        attribute(arrow(items["value"])),
        when(has_audit, cat('">', audit, "</ItemData>"), '"/>'),
    )
    return joined(pieces) + b"</ItemGroupData></FormData></StudyEventData></SubjectData>\n"
