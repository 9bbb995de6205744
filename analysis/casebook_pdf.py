"""PDF casebooks of a locked release: one PDF per participant, for the trial master file, in one zip per site.

Built from the release's frozen files only (its tables, codebook and archive; analysis/archive.py), never from the
live tables. The export yields ``casebooks_<SITE>.zip`` per site (sites in code order), each holding
``<participant_id>.pdf`` in participant order, so a data manager can send each site its own casebooks.

A casebook (A4 portrait) has on every page a header (study code and title, site, participant, release version) and
a footer (the lock time, "page N of M"), then:

1. the participant: arm, sex, age, weight, comorbidities, follow-up status and length (``patients``);
2. each study day with a daily record, in order, and each daily form of that day (vital signs, respiratory support,
   laboratory) as a table of field, value, unit and missing-data code; a form marked not done shows its reason, the
   soft checks confirmed at entry are listed under their form;
3. the repeating records (drugs, disposition events, adverse events) by study day;
4. the participant's queries, source data verification marks, signatures (printed name, the signer's account,
   meaning, time, days, broken) and freezes;
5. an appendix on a new page: the participant's audit trail in time order, a table whose header row repeats on
   every page it runs over.

Labels and units come from the release's codebook. The same release gives the same bytes: the canvas is invariant
(no time of building, a fixed document id), the document's date is the lock time, the fonts are the Bitstream Vera
fonts shipped with ReportLab (embedded, so the PDFs render the same everywhere), and the zips carry the lock time.
"""

from __future__ import annotations

import datetime
import functools
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import pandas as pd
import reportlab
from django.utils.text import capfirst
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, PageBreak, Paragraph, SimpleDocTemplate, Table, TableStyle

from analysis.exports import DeterministicZip
from analysis.frozen import FrozenRelease, value_labels_of
from cohorts.models import COMORBIDITIES
from ecrf.crfs import CATALOGUE, CODE_COLUMN_SUFFIX

Progress = Callable[[int], None]

DAY_FORMS = tuple(key for key, crf in CATALOGUE.items() if crf.per_day)
REPEATING_FORMS = tuple(key for key, crf in CATALOGUE.items() if not crf.per_day)
ENROLMENT = "patients"  # the enrolment record's form in the audit trail
#: Release tables read per participant (one groupby each), besides the patients.
PARTICIPANT_TABLES = (*DAY_FORMS, *REPEATING_FORMS, "queries", "source_verifications", "signatures", "freezes")
#: Columns of a form's table that are not fields of the form shown in its table.
BOOKKEEPING = frozenset({"participant_id", "study_day", "confirmed_checks", "not_done_reason"})
SOFT_SIDES = {"soft_low": "below its soft lower limit", "soft_high": "above its soft upper limit"}
EMPTY = "(empty)"
KEY_SEPARATOR = "\x1f"
NO_USER = "system (no user)"

# --------------------------------------------------------------------------------------------
# Page, fonts and styles
# --------------------------------------------------------------------------------------------

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 15 * mm
HEADER_SPACE = 20 * mm  # between the top edge and the frame
FOOTER_SPACE = 16 * mm
WIDTH = PAGE_WIDTH - 2 * MARGIN
FONT, BOLD, ITALIC = "Vera", "Vera-Bold", "Vera-Italic"
GRID = colors.HexColor("#b8bec6")
SHADE = colors.HexColor("#e8ecf1")
MUTED = colors.HexColor("#5a6270")


def _register_fonts() -> None:
    folder = Path(reportlab.__file__).parent / "fonts"
    files = {FONT: "Vera.ttf", BOLD: "VeraBd.ttf", ITALIC: "VeraIt.ttf", "Vera-BoldItalic": "VeraBI.ttf"}
    for name, file in files.items():
        if name not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=ITALIC, boldItalic="Vera-BoldItalic")


_register_fonts()


def _style(name: str, size: float, font: str = FONT, **extra) -> ParagraphStyle:
    return ParagraphStyle(name, fontName=font, fontSize=size, leading=size * 1.25, **extra)


TITLE = _style("title", 15, BOLD, spaceAfter=2 * mm)
SECTION = _style("section", 12, BOLD, spaceBefore=5 * mm, spaceAfter=2 * mm, keepWithNext=1)
DAY = _style(
    "day", 11, BOLD, spaceBefore=4 * mm, spaceAfter=1.5 * mm, keepWithNext=1, textColor=colors.HexColor("#1f3a5f")
)
FORM = _style("form", 9.5, BOLD, spaceBefore=2 * mm, spaceAfter=1 * mm, keepWithNext=1)
BODY = _style("body", 9, spaceAfter=1.5 * mm)
NOTE = _style("note", 8, ITALIC, textColor=MUTED, spaceBefore=1 * mm)
CELL = _style("cell", 8)
HEAD_CELL = _style("head", 8, BOLD)
SMALL_CELL = _style("small", 7)
SMALL_HEAD = _style("small_head", 7, BOLD)


def _paragraph(text: str | list[str], style: ParagraphStyle = BODY) -> Paragraph:
    """Text of the data (escaped: a reason may hold "<") as a paragraph; a list of lines as lines."""
    lines = [text] if isinstance(text, str) else text
    return Paragraph("<br/>".join(escape(line) for line in lines), style)


def _table(
    header: list[str],
    rows: list[list[str | list[str]]],
    widths: list[float],
    small: bool = False,
    label_column: bool = False,
) -> Table:
    """A table of wrapped text cells (``widths``: shares of the page's width) with a shaded header row that repeats
    on every page the table runs over."""
    head_style, cell_style = (SMALL_HEAD, SMALL_CELL) if small else (HEAD_CELL, CELL)
    cells = [[_paragraph(text, head_style) for text in header]]
    cells += [[_paragraph(text, cell_style) for text in row] for row in rows]
    # splitInRow: a row taller than a page (a long free text) continues on the next page instead of failing
    table = Table(cells, colWidths=[WIDTH * share for share in widths], repeatRows=1, splitInRow=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("GRID", (0, 0), (-1, -1), 0.4, GRID),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if label_column:
        style.append(("BACKGROUND", (0, 1), (0, -1), colors.HexColor("#f6f7f9")))
    table.setStyle(TableStyle(style))
    return table


# --------------------------------------------------------------------------------------------
# Values as the casebook shows them
# --------------------------------------------------------------------------------------------


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _yes(value: Any) -> bool:
    return not _missing(value) and bool(value)


def _number(value: float) -> str:
    """37.20 -> "37.2", 150.0 -> "150"."""
    return format(Decimal(repr(float(value))).normalize(), "f")


def _utc(text: Any) -> str:
    """An ISO 8601 time of the release ("2026-12-03T13:36:57.869659Z") as "2026-12-03 13:36:57 UTC"."""
    if _missing(text) or text == "":
        return ""
    return pd.Timestamp(text).tz_convert("UTC").strftime("%Y-%m-%d %H:%M:%S UTC")


def _day_text(value: Any) -> str:
    return "" if _missing(value) else str(int(value))


class Codebook:
    """Labels, units and value labels of the release's columns, from its frozen codebook."""

    _UNIT_IN_LABEL = re.compile(r"^(.*\S) \(([^()]+)\)$")

    def __init__(self, book: pd.DataFrame):
        keys = list(zip(book["table"], book["variable"], strict=True))
        self.labels = dict(zip(keys, book["label"].fillna(""), strict=True))
        self.units = dict(zip(keys, book["unit"].fillna(""), strict=True))
        self.soft = dict(zip(keys, book["soft_range"].fillna(""), strict=True))
        self.value_labels = {
            key: value_labels_of(text)
            for key, text in zip(keys, book["value_labels"], strict=True)
            if not _missing(text)
        }
        #: "table\x1fcolumn\x1fcode" -> label, to label the audit trail's values in one lookup.
        self.stored_labels = {
            KEY_SEPARATOR.join((*key, code)): label
            for key, codes in self.value_labels.items()
            for code, label in codes.items()
        }

    def label(self, table: str, column: str) -> str:
        """The column's label ("Temperature (°C)"), or its name in words when the codebook has none."""
        return capfirst(self.labels.get((table, column)) or column.replace("_", " "))

    def label_and_unit(self, table: str, column: str) -> tuple[str, str]:
        """("Temperature", "°C"): the unit as the label writes it in brackets, else the codebook's unit."""
        label, unit = self.label(table, column), self.units.get((table, column), "")
        written = self._UNIT_IN_LABEL.match(label)
        if unit and written:
            return written.group(1), written.group(2)
        return label, unit

    def value(self, table: str, column: str, value: Any) -> str:
        """A stored value as text: its label for coded values, yes/no, numbers without trailing zeros."""
        if _missing(value):
            return ""
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, float):
            return _number(value)
        text = str(value)
        return self.value_labels.get((table, column), {}).get(text, text)


def _site_text(book: Codebook, site: str) -> str:
    """The site's code and its name from the codebook: "MI (Milan San Raffaele)"."""
    name = book.value("patients", "site", site)
    return f"{site} ({name})" if name and name != site else str(site)


def form_label(form: Any) -> str:
    if _missing(form) or form == "":
        return "Baseline"
    if form == ENROLMENT:
        return "Enrolment"
    return str(CATALOGUE[form].label) if form in CATALOGUE else str(form).replace("_", " ")


# --------------------------------------------------------------------------------------------
# The release, read once and split by participant
# --------------------------------------------------------------------------------------------


@dataclass
class Casebooks:
    """What the casebooks of a release show, each table grouped by participant once."""

    frozen: FrozenRelease
    book: Codebook
    patients: pd.DataFrame  # indexed by participant_id, in participant order
    rows: dict[str, dict[str, pd.DataFrame]]  # table -> participant -> its rows
    audit: dict[str, pd.DataFrame]  # participant -> audit rows as shown
    empty: dict[str, pd.DataFrame]  # table -> no rows, its columns

    def of(self, table: str, participant: str) -> pd.DataFrame:
        return self.rows[table].get(participant, self.empty[table])

    def audit_of(self, participant: str) -> pd.DataFrame:
        return self.audit.get(participant, self.empty["audit"])


def _by_participant(frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    # iter(): a GroupBy has a ``keys`` attribute, which dict() would take for a mapping's method
    return dict(iter(frame.groupby("participant_id", sort=False)))


def _signatures(frozen: FrozenRelease) -> pd.DataFrame:
    """The release's signatures with the signer's login and full name (archive: signers, users)."""
    signatures = frozen.frame("signatures")
    signers = frozen.archive("signers")
    users = frozen.archive("users")[["user", "full_name"]]
    signed = signatures.merge(signers, on=["participant_id", "signed_at"], how="left")
    return signed.merge(users, on="user", how="left")


def audit_rows(frozen: FrozenRelease, book: Codebook) -> pd.DataFrame:
    """The archive's audit trail as the appendix shows it, formatted for every participant at once (the
    largest table of a release: vectorised, one lookup per distinct form, field or value)."""
    trail = frozen.archive("audit_trail")
    names = frozen.archive("users").set_index("user")["full_name"]
    forms = trail["form"].astype(object)
    key = trail["form"] + KEY_SEPARATOR + trail["field"]
    field_labels = {k: book.label(*k.split(KEY_SEPARATOR)) for k in key.dropna().unique()}
    old, new = (_audit_values(book, key, trail[column]) for column in ("old_value", "new_value"))
    change = trail["change"].astype(object).to_numpy()
    return pd.DataFrame(
        {
            "participant_id": trail["participant_id"],
            "when": pd.to_datetime(trail["changed_at"], utc=True).dt.strftime("%Y-%m-%d %H:%M:%S"),
            "user": trail["user"].map(names).fillna(trail["user"]).fillna(NO_USER).astype(str),
            "form": forms.map({form: form_label(form) for form in forms.dropna().unique()}).fillna(""),
            "day": trail["study_day"].astype("string").fillna(""),
            "field": key.map(field_labels).fillna("").astype(str),
            "change": np.select(
                [change == "deleted", change == "created"],
                ["record deleted", "created: " + new],
                old + " -> " + new,
            ),
            "reason": trail["reason"].fillna("").astype(str),
        }
    )


def _audit_values(book: Codebook, key: pd.Series, values: pd.Series) -> pd.Series:
    """Stored values of the audit trail as shown: coded values by their label, yes/no, "(empty)" for none."""
    labels = (key + KEY_SEPARATOR + values).map(book.stored_labels)
    plain = values.astype(object).replace({"true": "yes", "false": "no"})
    return labels.astype(object).fillna(plain).fillna(EMPTY).replace("", EMPTY).astype(str)


def load(frozen: FrozenRelease) -> Casebooks:
    book = Codebook(frozen.codebook)
    patients = frozen.frame("patients").sort_values("participant_id", kind="mergesort").set_index("participant_id")
    frames = {table: frozen.frame(table) for table in PARTICIPANT_TABLES}
    frames["signatures"] = _signatures(frozen)
    audit = audit_rows(frozen, book)
    empty = {table: frame.iloc[0:0] for table, frame in frames.items()} | {"audit": audit.iloc[0:0]}
    rows = {table: _by_participant(frame) for table, frame in frames.items()}
    return Casebooks(frozen, book, patients, rows, _by_participant(audit), empty)


# --------------------------------------------------------------------------------------------
# Sections of a casebook
# --------------------------------------------------------------------------------------------


def participant_section(casebooks: Casebooks, participant: str) -> list:
    patient = casebooks.patients.loc[participant]
    book = casebooks.book

    def row(column: str) -> list[str]:
        label, unit = book.label_and_unit("patients", column)
        value = book.value("patients", column, patient[column])
        return [label, f"{value} {unit}".strip() if value else ""]

    rows = [
        ["Participant", participant],
        ["Site", _site_text(book, patient["site"])],
        row("arm_label"),
        row("sex"),
        row("age_years"),
        row("weight_kg"),
        ["Comorbidities", _comorbidities(book, patient)],
        row("status"),
        row("follow_up_days"),
    ]
    release = casebooks.frozen.release
    source = (
        f"The data of release v{release.version} of {release.study.code} as they were at its lock "
        f"({casebooks.frozen.when.astimezone(datetime.UTC):%Y-%m-%d %H:%M:%S} UTC), from the release's frozen files."
    )
    return [
        Paragraph(f"Casebook of participant {escape(participant)}", TITLE),
        _paragraph(source, NOTE),
        Paragraph("Participant", SECTION),
        _table(["Item", "Value"], rows, [0.3, 0.7], label_column=True),
    ]


def _comorbidities(book: Codebook, patient: pd.Series) -> str:
    present = [name for name in COMORBIDITIES if name in patient.index and _yes(patient[name])]
    if present:
        return ", ".join(book.label("patients", name) for name in present)
    recorded = [name for name in COMORBIDITIES if name in patient.index and not _missing(patient[name])]
    return "none" if recorded else "not recorded"


def _shown_fields(columns) -> list[str]:
    """The fields a form's table shows: neither the bookkeeping columns nor the missing-data code columns."""
    return [name for name in columns if name not in BOOKKEEPING and not name.endswith(CODE_COLUMN_SUFFIX)]


def form_table(book: Codebook, table: str, record: dict) -> Table:
    """One record as rows of field, value, unit and missing-data code."""
    rows = []
    for field in _shown_fields(record):
        label, unit = book.label_and_unit(table, field)
        code_column = f"{field}{CODE_COLUMN_SUFFIX}"
        code = book.value(table, code_column, record.get(code_column))
        rows.append([label, book.value(table, field, record[field]), unit, code.lower()])
    return _table(["Field", "Value", "Unit", "Missing-data code"], rows, [0.4, 0.28, 0.12, 0.2])


def confirmed_checks(book: Codebook, table: str, text: Any) -> list[str]:
    """The confirmed soft checks of a record ("temperature_c.soft_high;...") as lines: "Temperature (°C) above
    its soft upper limit (> 41 asks for confirmation)"."""
    if _missing(text) or text == "":
        return []
    lines = []
    for code in str(text).split(";"):
        field, _, rule = code.partition(".")
        soft = book.soft.get((table, field), "")
        side = SOFT_SIDES.get(rule, rule.replace("_", " "))
        lines.append(f"{book.label(table, field)} {side}" + (f" ({soft})" if soft else ""))
    return lines


def record_block(book: Codebook, table: str, heading: str, record: dict) -> list:
    """A record under its heading: its table, or the reason it was not done; then its confirmed checks."""
    parts: list = [Paragraph(escape(heading), FORM)]
    reason = record.get("not_done_reason")
    if not _missing(reason) and reason != "":
        parts.append(_paragraph(f"not done: {reason}"))
    else:
        parts.append(form_table(book, table, record))
    checks = confirmed_checks(book, table, record.get("confirmed_checks"))
    if checks:
        parts.append(Paragraph("Soft checks confirmed at entry:", NOTE))
        parts.extend(_paragraph(f"• {line}", NOTE) for line in checks)
    return parts


def _kept(blocks: list[tuple[list, list]]) -> list:
    """Each block (its headings, its body) kept on one page when it fits, the headings always with their body
    (a heading's keepWithNext does not hold before a KeepTogether)."""
    return [KeepTogether([*headings, *body]) for headings, body in blocks]


def days_section(casebooks: Casebooks, participant: str) -> list:
    """Each study day with a daily record, in order, with every daily form of that day."""
    records = {
        table: {int(r["study_day"]): r for r in casebooks.of(table, participant).to_dict("records")}
        for table in DAY_FORMS
    }
    days = sorted(set().union(*(by_day.keys() for by_day in records.values())))
    title = Paragraph("Daily forms", SECTION)
    if not days:
        return [title, _paragraph("No daily form was entered.")]
    blocks = []
    for day in days:
        for table in DAY_FORMS:
            headings = [title] if not blocks else []
            headings += [Paragraph(f"Study day {day}", DAY)] if table == DAY_FORMS[0] else []
            form = f"{form_label(table)} · day {day}"  # the day again: a form may start the next page
            record = records[table].get(day)
            body = [Paragraph(escape(form), FORM), _paragraph("Not entered.")]
            blocks.append((headings, body if record is None else record_block(casebooks.book, table, form, record)))
    return _kept(blocks)


def repeating_section(casebooks: Casebooks, participant: str) -> list:
    """Drugs, disposition events and adverse events by study day (then in the catalogue's order of forms)."""
    found = [
        (int(record["study_day"]), order, table, record)
        for order, table in enumerate(REPEATING_FORMS)
        for record in casebooks.of(table, participant).to_dict("records")
    ]
    title = Paragraph("Drugs and events", SECTION)
    if not found:
        return [title, _paragraph("No drug administration, disposition event or adverse event was recorded.")]
    found.sort(key=lambda item: (item[0], item[1]))
    return _kept(
        [
            ([title] if number == 0 else [], record_block(casebooks.book, table, f"Day {day} · {form_label(table)}", r))
            for number, (day, _, table, r) in enumerate(found)
        ]
    )


def _listing(
    title: str, records: pd.DataFrame, empty: str, header: list[str], widths: list[float], row: Callable[[dict], list]
) -> list:
    """A section listing the participant's ``records`` in a table, a row each (``row(record)``: its cells), or
    the sentence ``empty`` when there is none."""
    if records.empty:
        return [Paragraph(title, SECTION), _paragraph(empty)]
    rows = [row(record) for record in records.to_dict("records")]
    return [Paragraph(title, SECTION), _table(header, rows, widths, small=True)]


def queries_section(casebooks: Casebooks, participant: str) -> list:
    book = casebooks.book

    def row(query: dict) -> list:
        form = query["form"]
        raised = book.value("queries", "origin", query["origin"])
        if not _missing(query["rule"]):
            raised = f"{raised}: {query['rule']}"
        status = book.value("queries", "status", query["status"])
        if not _missing(query["answer_code"]):
            status = f"{status} ({book.value('queries', 'answer_code', query['answer_code'])})"
        times = [
            f"{what} {_utc(query[column])}"
            for what, column in (("opened", "opened_at"), ("answered", "answered_at"), ("closed", "closed_at"))
            if not _missing(query[column])
        ]
        field = "" if _missing(query["field"]) else book.label(form, query["field"])
        day = _day_text(query["study_day"]) or "patient"
        return [_day_text(query["query_id"]), form_label(form), day, field, raised, status, times]

    return _listing(
        "Queries",
        casebooks.of("queries", participant),
        "No query was raised on this casebook.",
        ["#", "Form", "Day", "Field", "Raised by", "Status", "Opened / answered / closed"],
        [0.06, 0.15, 0.07, 0.17, 0.17, 0.13, 0.25],
        row,
    )


def verifications_section(casebooks: Casebooks, participant: str) -> list:
    return _listing(
        "Source data verification",
        casebooks.of("source_verifications", participant),
        "No record was verified against source.",
        ["Form", "Day", "Scope", "Verified", "Changed after verification"],
        [0.2, 0.07, 0.33, 0.2, 0.2],
        lambda mark: [
            form_label(mark["form"]),
            _day_text(mark["study_day"]),
            _scope(casebooks.book, mark),
            _utc(mark["verified_at"]),
            f"changed {_utc(mark['changed_at'])}" if not _missing(mark["changed_at"]) else "unchanged",
        ],
    )


def _scope(book: Codebook, mark: dict) -> str:
    """The scope of a mark and the fields verified, by their labels: "Critical fields: SpO2, PaO2"."""
    scope = book.value("source_verifications", "scope", mark["scope"])
    if _missing(mark["fields"]) or mark["fields"] == "":
        return scope
    fields = [book.label_and_unit(mark["form"], field)[0] for field in str(mark["fields"]).split(";")]
    return f"{scope}: {', '.join(fields)}"


def _signature_row(signature: dict) -> list:
    account = signature["full_name"] if not _missing(signature["full_name"]) else ""
    login = f" (login {signature['user']})" if not _missing(signature["user"]) else ""
    return [
        str(signature["printed_name"]),
        f"{account}{login}".strip(),
        str(signature["meaning"]),
        _utc(signature["signed_at"]),
        f"{_day_text(signature['first_day'])} to {_day_text(signature['last_day'])}",
        f"broken {_utc(signature['broken_at'])}" if not _missing(signature["broken_at"]) else "intact",
    ]


def signatures_section(casebooks: Casebooks, participant: str) -> list:
    return _listing(
        "Signatures",
        casebooks.of("signatures", participant),
        "The casebook is not signed.",
        ["Printed name", "Signer's account", "Meaning", "Signed", "Days", "Broken"],
        [0.15, 0.16, 0.3, 0.15, 0.08, 0.16],
        _signature_row,
    )


def freezes_section(casebooks: Casebooks, participant: str) -> list:
    return _listing(
        "Freezes",
        casebooks.of("freezes", participant),
        "The casebook was never frozen.",
        ["Frozen", "Reason", "Unfrozen", "Reason"],
        [0.2, 0.3, 0.2, 0.3],
        lambda freeze: [
            _utc(freeze["frozen_at"]),
            "" if _missing(freeze["freeze_reason"]) else str(freeze["freeze_reason"]),
            _utc(freeze["unfrozen_at"]) or "still frozen at the lock",
            "" if _missing(freeze["unfreeze_reason"]) else str(freeze["unfreeze_reason"]),
        ],
    )


AUDIT_HEADER = ["When (UTC)", "User", "Form", "Day", "Field", "Change (old -> new)", "Reason"]
AUDIT_COLUMNS = ["when", "user", "form", "day", "field", "change", "reason"]
AUDIT_WIDTHS = [0.12, 0.14, 0.13, 0.06, 0.17, 0.22, 0.16]


def audit_appendix(casebooks: Casebooks, participant: str) -> list:
    """The participant's audit trail, in time order, on pages of its own."""
    trail = casebooks.audit_of(participant)
    out: list = [
        PageBreak(),
        Paragraph("Appendix: audit trail", SECTION),
        _paragraph(
            "Every change of the enrolment record and of the source forms, in the order of time: who made it, "
            "when (UTC) and why. A created record lists the values it was created with."
        ),
    ]
    if trail.empty:
        return [*out, _paragraph("The audit trail has no change for this participant.")]
    rows = trail[AUDIT_COLUMNS].to_numpy().tolist()
    return [*out, _table(AUDIT_HEADER, rows, AUDIT_WIDTHS, small=True)]


SECTIONS = (
    participant_section,
    days_section,
    repeating_section,
    queries_section,
    verifications_section,
    signatures_section,
    freezes_section,
    audit_appendix,
)


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageMarks:
    """What every page of a casebook says: header lines and the footer's lock time."""

    study: str
    release: str
    where: str
    locked: str
    pdf_date: str  # the document's date in the PDF's own notation (the lock time)


def page_marks(casebooks: Casebooks, participant: str) -> PageMarks:
    frozen = casebooks.frozen
    study = frozen.release.study
    site = casebooks.patients.loc[participant, "site"]
    when = frozen.when.astimezone(datetime.UTC)
    return PageMarks(
        study=f"{study.code} · {study.title}",
        release=f"Release v{frozen.release.version}",
        where=f"Site {_site_text(casebooks.book, site)} · Participant {participant}",
        locked=f"Locked {when:%Y-%m-%d %H:%M:%S} UTC",
        pdf_date=f"D:{when:%Y%m%d%H%M%S}+00'00'",
    )


class CasebookCanvas(Canvas):
    """A canvas that holds its pages until the end, so each page's footer can say "page N of M", and dates the
    document at the lock time (``marks``)."""

    def __init__(self, *args, marks: PageMarks, **kwargs):
        super().__init__(*args, **kwargs)
        self.marks = marks
        self.setDateFormatter(lambda *date: marks.pdf_date)
        self.pages: list[dict] = []

    def showPage(self):
        self.pages.append(dict(self.__dict__))
        self._startPage()

    def save(self):
        for number, state in enumerate(self.pages, start=1):
            self.__dict__.update(state)
            self.draw_marks(number, len(self.pages))
            super().showPage()
        super().save()

    def draw_marks(self, number: int, total: int) -> None:
        marks, top = self.marks, PAGE_HEIGHT - MARGIN
        self.saveState()
        self.setFont(BOLD, 9)
        self.drawString(MARGIN, top - 3 * mm, _fitted(marks.study, BOLD, 9, WIDTH * 0.78))
        self.drawRightString(PAGE_WIDTH - MARGIN, top - 3 * mm, marks.release)
        self.setFont(FONT, 8.5)
        self.drawString(MARGIN, top - 7.5 * mm, _fitted(marks.where, FONT, 8.5, WIDTH))
        self.setStrokeColor(GRID)
        self.setLineWidth(0.6)
        self.line(MARGIN, top - 9.5 * mm, PAGE_WIDTH - MARGIN, top - 9.5 * mm)
        self.line(MARGIN, MARGIN + 5 * mm, PAGE_WIDTH - MARGIN, MARGIN + 5 * mm)
        self.setFont(FONT, 7.5)
        self.setFillColor(MUTED)
        self.drawString(MARGIN, MARGIN + 1.5 * mm, marks.locked)
        self.drawRightString(PAGE_WIDTH - MARGIN, MARGIN + 1.5 * mm, f"page {number} of {total}")
        self.restoreState()


def _fitted(text: str, font: str, size: float, width: float) -> str:
    """The text shortened with "…" to fit ``width`` on one line (a long study title)."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def casebook_pdf(casebooks: Casebooks, participant: str) -> bytes:
    """The participant's casebook as PDF bytes (the same release gives the same bytes)."""
    marks = page_marks(casebooks, participant)
    buffer = io.BytesIO()
    study = casebooks.frozen.release.study
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN + HEADER_SPACE - 5 * mm,
        bottomMargin=MARGIN + FOOTER_SPACE - 5 * mm,
        title=f"Casebook {participant}, {study.code} release v{casebooks.frozen.release.version}",
        author="Study eCRF",
        subject=study.title,
        creator="Study eCRF",
        initialFontName=FONT,
        invariant=1,
    )
    story = [flowable for section in SECTIONS for flowable in section(casebooks, participant)]
    document.build(story, canvasmaker=lambda *args, **kwargs: CasebookCanvas(*args, marks=marks, **kwargs))
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# The export
# --------------------------------------------------------------------------------------------


def write_site_zip(stream, casebooks: Casebooks, participants: list[str], done: Callable[[], None]) -> None:
    """``<participant_id>.pdf`` of each participant, in their order, as a zip dated at the lock time, written to
    ``stream`` one casebook at a time (a site's casebooks are never all in memory)."""
    archive = DeterministicZip(stream, casebooks.frozen.when)
    try:
        for participant in participants:
            archive.write(f"{participant}.pdf", casebook_pdf(casebooks, participant))
            done()
    finally:
        archive.close()


def export_files(frozen: FrozenRelease, progress: Progress) -> Iterator[tuple[str, Callable]]:
    """One ``casebooks_<SITE>.zip`` per site, sites in code order, each streamed into the export."""
    casebooks = load(frozen)
    progress(5)
    sites = casebooks.patients.groupby("site", sort=True).groups
    total, made = max(len(casebooks.patients), 1), 0

    def done() -> None:
        nonlocal made
        made += 1
        progress(5 + 90 * made // total)

    for site, participants in sites.items():
        yield (
            f"casebooks_{site}.zip",
            functools.partial(write_site_zip, casebooks=casebooks, participants=sorted(participants), done=done),
        )


def readme_notes(frozen: FrozenRelease) -> list[str]:
    patients = frozen.frame("patients")
    sites = ", ".join(f"`casebooks_{site}.zip`" for site in sorted(patients["site"].dropna().unique()))
    return [
        f"The casebooks of the release: one PDF per participant (`<participant_id>.pdf`), in one zip per site "
        f"({sites or 'no site'}), so that each site can be sent its own casebooks.",
        "Each casebook shows the participant (arm, sex, age, weight, comorbidities, follow-up), every study day's "
        "daily forms with the codebook's labels and units, the missing-data codes, the reasons a form was not done "
        "and the soft checks confirmed at entry, the drugs and events by study day, the participant's queries, "
        "source data verification marks, signatures and freezes, and in an appendix the audit trail of every "
        "change (when, who, old and new value, why). Derived data and results are in the analysis exports.",
        "The casebooks name people (the users of the audit trail, the signers) and hold the reasons for change: "
        "they are for the trial master file, and only data managers may download them.",
        f"Every page carries the study, the site, the participant and the release version, and is dated at the "
        f"lock ({frozen.when.astimezone(datetime.UTC):%Y-%m-%d %H:%M} UTC): the same release always gives the "
        "same files.",
    ]
