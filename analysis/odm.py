"""CDISC ODM 1.3.2 export of a locked release: the archival copy of the clinical data with its audit trail.

One Snapshot document, ``<study>_v<N>_odm.xml``, built from the release's frozen files only (its tables, codebook
and archive; analysis/archive.py), with the lock time as CreationDateTime, so the same release gives the same bytes:

- ``Study``: GlobalVariables; BasicDefinitions with every unit of the codebook; one MetaDataVersion from the form
  catalogue and the codebook: StudyEventDef ``SE.ENROLMENT`` (the enrolment record) and ``SE.DAY`` (repeating,
  keyed by the study day), a FormDef and an ItemGroupDef per form, an ItemDef per column of the release table
  (data type, label, unit, a CodeList for every coded value, RangeChecks from the hard and soft limits).
- ``AdminData``: the people of the audit trail and the signatures (``USR.<login>``, and ``USR.SYSTEM`` for changes
  no person made), the sites (``LOC.<site>``), a SignatureDef per signature meaning.
- ``ClinicalData``: per participant a SubjectData with its site, its latest intact casebook signature, and every
  stored value of the release once as ItemData: the enrolment record, then each study day's forms (a repeating
  form's records as ItemGroupData with repeat keys 1..k in the release's order). An ItemData carries the
  AuditRecord of the change that gave it its value (who, site, when, reason). After the subjects: every act of the
  audit trail as an AuditRecord (``AR.<form>.<history id>``, SourceID naming the record and each field's old and
  new value), and the earlier intact signatures.

The metadata are built with odmlib's ODM 1.3.2 model; ClinicalData, which grows with the study, is written as text
in vectorised pieces, participant by participant in chunks, to a stream (tests validate the whole document against
the ODM 1.3.2 schema). A value outside its code list fails the build with the table, column and values: never a
silently invalid file.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from xml.sax.saxutils import quoteattr

import numpy as np
import odmlib.odm_1_3_2.model as ODM
import pandas as pd

from analysis import odm_clinical as clinical
from analysis.frozen import FrozenRelease, number_text, value_labels_of
from ecrf.crfs import CATALOGUE

NAMESPACE = "http://www.cdisc.org/ns/odm/v1.3"
ENROLMENT = "patients"
#: The enrolment record, then the source forms in the order of the casebook.
FORMS = (ENROLMENT, *CATALOGUE)
SYSTEM_USER = clinical.SYSTEM_USER
#: Participants written per piece of ClinicalData: bounds the memory of a large study.
CHUNK = 500
#: Codebook type -> ODM DataType. A time is the clock time at the site with its UTC offset, on the study day of its
#: row (no date): ODM's time (ISO 8601 hh:mm:ss with the offset, see value_text).
_DATA_TYPES = {"integer": "integer", "float": "float", "boolean": "boolean", "string": "text", "time": "time"}
_NOT_ITEMS = {"participant_id"}


class OdmBuildError(ValueError):
    """The release holds something the ODM document cannot state validly; the message says what."""


def _oid(*parts: str) -> str:
    return ".".join(re.sub(r"[^A-Za-z0-9_-]", "_", str(part)).upper() for part in parts)


def _text(content: str, element=ODM.TranslatedText, lang: str = "en"):
    return element(_content=content, lang=lang)


def _label_lang(frozen: FrozenRelease) -> str:
    """xml:lang of the texts taken from the codebook's labels: the release's codebook language ("it", "en")."""
    return frozen.language.split("-")[0]


def item_columns(frozen: FrozenRelease, form: str) -> list[str]:
    """The columns of a form's release table that are ItemData: all but the participant, and the study day of a
    one-per-day form (its StudyEventData says the day)."""
    skip = set(_NOT_ITEMS)
    if form in CATALOGUE and CATALOGUE[form].per_day:
        skip.add("study_day")
    return [name for name in frozen.columns(form).index if name not in skip]


# --------------------------------------------------------------------------------------------
# Values as ODM text
# --------------------------------------------------------------------------------------------


def value_text(column: pd.Series, kind: str) -> pd.Series:
    """A release column as ODM values (pyarrow strings): numbers in their shortest form (80 for 80.0), true/false,
    a time with its seconds as ODM's time has them (22:30-04:00 is 22:30:00-04:00), text as is; missing stays
    missing."""
    if kind == "time":
        text = column.astype("string").str.replace(r"^(\d{2}:\d{2})(?=$|[+-]|Z)", r"\1:00", regex=True)
    elif kind == "boolean":
        text = column.astype("boolean").map({True: "true", False: "false"}, na_action="ignore")
    elif kind in {"integer", "float"}:
        text = number_text(column)
    else:
        text = column
    return text.astype("string[pyarrow]")


# --------------------------------------------------------------------------------------------
# Metadata (odmlib)
# --------------------------------------------------------------------------------------------


def code_list(frozen: FrozenRelease, form: str, column: str) -> dict[str, str]:
    """Coded value -> label of a column, from the codebook (empty when the column is not coded)."""
    info = frozen.columns(form).loc[column]
    if info["type"] == "boolean":
        return {}
    return value_labels_of(info["value_labels"])


def form_frames(frozen: FrozenRelease) -> dict[str, pd.DataFrame]:
    """The enrolment table and the source forms, read once for the whole document (text as pyarrow strings),
    sorted by participant."""
    frames = {form: frozen.frame(form, arrow_strings=True) for form in FORMS}
    return {
        form: frame.sort_values("participant_id", kind="mergesort").reset_index(drop=True)
        for form, frame in frames.items()
    }


def check_code_lists(frozen: FrozenRelease, frames: dict[str, pd.DataFrame]) -> None:
    """Every coded value of the release is in its code list; otherwise the build fails, naming them."""
    for form, frame in frames.items():
        book = frozen.columns(form)
        for column in item_columns(frozen, form):
            codes = code_list(frozen, form, column)
            if not codes:
                continue
            values = value_text(frame[column], str(book.loc[column, "type"])).dropna()
            unknown = sorted(set(values) - set(codes))
            if unknown:
                raise OdmBuildError(
                    f"{form}.{column}: values {unknown} are not in its code list ({', '.join(codes)}); the ODM "
                    "document would be invalid. Correct the codebook or the data, then lock a new release."
                )


_RANGE = re.compile(r"^(?:(?P<low>-?[\d.]+) to (?P<high>-?[\d.]+)|(?P<op>>=|>|<=|<) (?P<bound>-?[\d.]+))\b")
_COMPARATORS = {">=": "GE", ">": "GT", "<=": "LE", "<": "LT"}


def range_checks(allowed: str | None, soft: str | None) -> list:
    """RangeChecks of an item from its codebook ranges: "35 to 42", ">= 0", "> 0", "<= 1" (hard, the value must
    satisfy them); "< 35 asks for confirmation or > 39 asks ..." (soft: outside it a value needs a confirmation)."""
    checks = []

    def check(comparator: str, value: str, kind: str):
        return ODM.RangeCheck(
            Comparator=comparator, SoftHard=kind, CheckValue=[ODM.CheckValue(_content=value.rstrip("."))]
        )

    if not pd.isna(allowed) and allowed:
        match = _RANGE.match(str(allowed).strip())
        if match and match["low"] is not None:
            checks += [check("GE", match["low"], "Hard"), check("LE", match["high"], "Hard")]
        elif match:
            checks.append(check(_COMPARATORS[match["op"]], match["bound"], "Hard"))
    if not pd.isna(soft) and soft:
        for op, bound in re.findall(r"([<>]) (-?[\d.]+) asks for confirmation", str(soft)):
            checks.append(check("GE" if op == "<" else "LE", bound, "Soft"))
    return checks


def _units(frozen: FrozenRelease) -> dict[str, str]:
    """The measurement units of the forms' items (a time's "unit", its ISO 8601 format, is its DataType)."""
    book = frozen.codebook
    units = book.loc[book["table"].isin(FORMS) & book["type"].ne("time"), "unit"].dropna()
    return {unit: _oid("MU", f"{number}") for number, unit in enumerate(sorted(set(units) - {""}), start=1)}


def _item_def(frozen, form: str, column: str, info, units: dict[str, str]):
    data_type = _DATA_TYPES.get(str(info["type"]), "text")
    item = ODM.ItemDef(OID=_oid("IT", form, column), Name=column, DataType=data_type)
    item.Question = ODM.Question(TranslatedText=[_text(str(info["label"]), lang=_label_lang(frozen))])
    unit = info["unit"]
    if not pd.isna(unit) and unit and data_type != "time":
        item.MeasurementUnitRef = [ODM.MeasurementUnitRef(MeasurementUnitOID=units[unit])]
    if data_type in {"integer", "float"}:
        item.RangeCheck = range_checks(info["allowed_range"], info["soft_range"])
    if code_list(frozen, form, column):
        item.CodeListRef = ODM.CodeListRef(CodeListOID=_oid("CL", form, column))
    return item


def _code_list_def(frozen, form: str, column: str, info):
    codes = code_list(frozen, form, column)
    data_type = "integer" if info["type"] == "integer" else "text"
    items = [
        ODM.CodeListItem(
            CodedValue=str(code), Decode=ODM.Decode(TranslatedText=[_text(label, lang=_label_lang(frozen))])
        )
        for code, label in codes.items()
    ]
    return ODM.CodeList(OID=_oid("CL", form, column), Name=f"{form}.{column}", DataType=data_type, CodeListItem=items)


def metadata_version(frozen: FrozenRelease, units: dict[str, str]):
    version = ODM.MetaDataVersion(
        OID=_oid("MDV", "V", frozen.release.version), Name=f"Release v{frozen.release.version}"
    )
    version.Protocol = ODM.Protocol(
        StudyEventRef=[
            ODM.StudyEventRef(StudyEventOID="SE.ENROLMENT", OrderNumber=1, Mandatory="Yes"),
            ODM.StudyEventRef(StudyEventOID="SE.DAY", OrderNumber=2, Mandatory="No"),
        ]
    )
    day_forms = list(CATALOGUE)
    version.StudyEventDef = [
        ODM.StudyEventDef(
            OID="SE.ENROLMENT",
            Name="Enrolment",
            Repeating="No",
            Type="Scheduled",
            FormRef=[ODM.FormRef(FormOID=_oid("F", ENROLMENT), OrderNumber=1, Mandatory="Yes")],
        ),
        ODM.StudyEventDef(
            OID="SE.DAY",
            Name="Study day (repeat key: the study day, day 0 = enrolment)",
            Repeating="Yes",
            Type="Common",
            FormRef=[
                ODM.FormRef(FormOID=_oid("F", form), OrderNumber=number, Mandatory="No")
                for number, form in enumerate(day_forms, start=1)
            ],
        ),
    ]
    labels = {ENROLMENT: "Enrolment", **{key: str(crf.label) for key, crf in CATALOGUE.items()}}
    version.FormDef, version.ItemGroupDef, version.ItemDef, version.CodeList = [], [], [], []
    for form in FORMS:
        repeating = form in CATALOGUE and not CATALOGUE[form].per_day
        version.FormDef.append(
            ODM.FormDef(
                OID=_oid("F", form),
                Name=labels[form],
                Repeating="No",
                ItemGroupRef=[ODM.ItemGroupRef(ItemGroupOID=_oid("IG", form), Mandatory="Yes", OrderNumber=1)],
            )
        )
        book = frozen.columns(form)
        columns = item_columns(frozen, form)
        version.ItemGroupDef.append(
            ODM.ItemGroupDef(
                OID=_oid("IG", form),
                Name=form,
                Repeating="Yes" if repeating else "No",
                ItemRef=[
                    ODM.ItemRef(ItemOID=_oid("IT", form, column), Mandatory="No", OrderNumber=number)
                    for number, column in enumerate(columns, start=1)
                ],
            )
        )
        for column in columns:
            version.ItemDef.append(_item_def(frozen, form, column, book.loc[column], units))
            if code_list(frozen, form, column):
                version.CodeList.append(_code_list_def(frozen, form, column, book.loc[column]))
    return version


def study_element(frozen: FrozenRelease):
    study = frozen.release.study
    units = _units(frozen)
    element = ODM.Study(
        OID=_oid("ST", study.code),
        GlobalVariables=ODM.GlobalVariables(
            StudyName=ODM.StudyName(_content=study.code),
            StudyDescription=ODM.StudyDescription(_content=study.title),
            ProtocolName=ODM.ProtocolName(_content=study.protocol),
        ),
    )
    element.BasicDefinitions = ODM.BasicDefinitions(
        MeasurementUnit=[
            ODM.MeasurementUnit(OID=oid, Name=unit, Symbol=ODM.Symbol(TranslatedText=[_text(unit)]))
            for unit, oid in units.items()
        ]
    )
    element.MetaDataVersion = [metadata_version(frozen, units)]
    return element


def meanings(frozen: FrozenRelease) -> dict[str, str]:
    """Signature meaning -> its SignatureDef OID."""
    texts = sorted(set(frozen.frame("signatures")["meaning"].dropna()))
    return {text: f"SD.{number}" for number, text in enumerate(texts, start=1)}


def admin_data(frozen: FrozenRelease):
    study_oid, version_oid = _oid("ST", frozen.release.study.code), _oid("MDV", "V", frozen.release.version)
    effective = frozen.when.date().isoformat()
    sites = sorted(set(frozen.frame(ENROLMENT)["site"].dropna()))
    users = frozen.archive("users")
    people = [
        ODM.User(
            OID=SYSTEM_USER,
            UserType="Other",
            LoginName=ODM.LoginName(_content="system"),
            DisplayName=ODM.DisplayName(_content="System (no person: an import, a job or a migration)"),
        )
    ]
    people += [
        ODM.User(
            OID=_oid("USR", row.user),
            LoginName=ODM.LoginName(_content=row.user),
            DisplayName=ODM.DisplayName(_content=row.full_name),
            FullName=ODM.FullName(_content=row.full_name),
        )
        for row in users.itertuples()
    ]
    locations = [
        ODM.Location(
            OID=_oid("LOC", site),
            Name=site,
            LocationType="Site",
            MetaDataVersionRef=[
                ODM.MetaDataVersionRef(StudyOID=study_oid, MetaDataVersionOID=version_oid, EffectiveDate=effective)
            ],
        )
        for site in sites
    ]
    definitions = [
        ODM.SignatureDef(
            OID=oid,
            Methodology="Electronic",
            Meaning=ODM.Meaning(_content=text),
            LegalReason=ODM.LegalReason(_content="21 CFR Part 11 electronic signature of the casebook"),
        )
        for text, oid in meanings(frozen).items()
    ]
    return ODM.AdminData(StudyOID=study_oid, User=people, Location=locations, SignatureDef=definitions)


def _xml(element) -> str:
    return ET.tostring(element.to_xml(), encoding="unicode")


# --------------------------------------------------------------------------------------------
# Clinical data (analysis/odm_clinical.py writes the text)
# --------------------------------------------------------------------------------------------


def _form_items(frozen: FrozenRelease, form: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per stored value of a form's ``frame``: the keys that place it, its item and its text."""
    book = frozen.columns(form)
    if form == ENROLMENT:
        event, day = 0, pd.Series(clinical.NO_DAY, index=frame.index)
    else:
        event, day = 1, frame["study_day"].astype("int64")
    repeat = frame.groupby(["participant_id", day], sort=False).cumcount() + 1
    parts = []
    for order, column in enumerate(item_columns(frozen, form)):
        values = value_text(frame[column], str(book.loc[column, "type"]))
        present = values.notna().to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "participant_id": frame["participant_id"].to_numpy()[present],
                    "event": event,
                    "study_day": day.to_numpy()[present],
                    "form_order": FORMS.index(form),
                    "form": form,
                    "repeat": repeat.to_numpy()[present],
                    "item_order": order,
                    "column": column,
                    "value": values[present].to_numpy(),
                    "item_oid": _oid("IT", form, column),
                }
            )
        )
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _subject_heads(frozen: FrozenRelease, signatures: pd.DataFrame) -> pd.Series:
    """Participant -> its SubjectData start tag, its latest intact signature and its site."""
    patients = frozen.frame(ENROLMENT)
    latest = signatures.loc[signatures["inline"]].set_index("participant_id")["xml"]
    heads = clinical.cat(
        '<SubjectData SubjectKey="',
        clinical.attribute(clinical.arrow(patients["participant_id"])),
        '">',
        clinical.arrow(patients["participant_id"].map(latest)),
        '<SiteRef LocationOID="LOC.',
        clinical.arrow(patients["site"]),
        '"/>',
    )
    return pd.Series(heads.to_pylist(), index=patients["participant_id"].to_numpy())


def signature_elements(frozen: FrozenRelease) -> pd.DataFrame:
    """The intact casebook signatures as Signature elements; ``inline`` marks each participant's latest (its
    SubjectData carries it), the others go under ClinicalData/Signatures."""
    signatures = frozen.frame("signatures")
    signatures = signatures.loc[signatures["broken_at"].isna()].copy()
    signers = frozen.archive("signers")
    signatures = signatures.merge(signers, on=["participant_id", "signed_at"], how="left", validate="one_to_one")
    signatures["number"] = signatures.groupby("participant_id").cumcount() + 1
    signatures["inline"] = signatures["number"].eq(signatures.groupby("participant_id")["number"].transform("max"))
    sites = frozen.frame(ENROLMENT).set_index("participant_id")["site"]
    definitions = meanings(frozen)
    signatures["xml"] = (
        '<Signature ID="SG.'
        + signatures["participant_id"].str.replace(r"[^A-Za-z0-9_-]", "_", regex=True)
        + "."
        + signatures["number"].astype(str)
        + '"><UserRef UserOID="'
        + pd.Series(clinical.user_oids(signatures["user"]).to_pylist(), index=signatures.index, dtype="string")
        + '"/><LocationRef LocationOID="LOC.'
        + signatures["participant_id"].map(sites).astype("string")
        + '"/><SignatureRef SignatureOID="'
        + signatures["meaning"].map(definitions)
        + '"/><DateTimeStamp>'
        + signatures["signed_at"]
        + "</DateTimeStamp><CryptoBindingManifest>SHA-256 "
        + signatures["data_sha256"]
        + " of days "
        + signatures["first_day"].astype(str)
        + " to "
        + signatures["last_day"].astype(str)
        + "</CryptoBindingManifest></Signature>"
    )
    return signatures


def _rows(participants: np.ndarray, low: str, high: str) -> slice:
    """The rows of a table sorted by participant that belong to the participants from ``low`` to ``high``."""
    return slice(np.searchsorted(participants, low, "left"), np.searchsorted(participants, high, "right"))


def _clinical_chunks(
    frozen: FrozenRelease, frames: dict[str, pd.DataFrame], progress: Callable[[int], None]
) -> Iterator[bytes]:
    signatures = signature_elements(frozen)
    heads = _subject_heads(frozen, signatures)
    audit = frozen.archive("audit_trail", arrow_strings=True)
    changes, records = clinical.last_changes(audit)
    changes = changes.sort_values("participant_id", kind="mergesort").reset_index(drop=True)
    changed_rows = changes["participant_id"].astype(str).to_numpy()
    positions = {form: frame["participant_id"].astype(str).to_numpy() for form, frame in frames.items()}
    repeating = [form for form, crf in CATALOGUE.items() if not crf.per_day]
    participants = np.sort(heads.index.to_numpy().astype(str))
    keys = ["participant_id", "form", "study_day", "column", "value"]
    for start in range(0, len(participants), CHUNK):
        low, high = participants[start], participants[min(start + CHUNK, len(participants)) - 1]
        items = pd.concat(
            [
                _form_items(frozen, form, frame.iloc[_rows(positions[form], low, high)])
                for form, frame in frames.items()
            ],
            ignore_index=True,
        )
        items[["participant_id", "form", "column", "value"]] = items[
            ["participant_id", "form", "column", "value"]
        ].astype("string[pyarrow]")
        items = items.merge(changes.iloc[_rows(changed_rows, low, high)], on=keys, how="left")
        items["act"] = items["act"].fillna(-1).astype("int64")
        items = items.sort_values(
            ["participant_id", "event", "study_day", "form_order", "repeat", "item_order"], kind="mergesort"
        ).reset_index(drop=True)
        yield clinical.nested(items, heads, repeating, records)
        progress(10 + 70 * min(start + CHUNK, len(participants)) // max(len(participants), 1))
    yield clinical.trail(audit)
    others = signatures.loc[~signatures["inline"], "xml"]
    if len(others):
        yield ("<Signatures>" + others.str.cat() + "</Signatures>\n").encode()


# --------------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------------


def write_odm(frozen: FrozenRelease, stream, progress: Callable[[int], None] = lambda percent: None) -> None:
    frames = form_frames(frozen)
    check_code_lists(frozen, frames)
    study = frozen.release.study
    created = frozen.when.isoformat()
    root = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ODM xmlns="{NAMESPACE}" ODMVersion="1.3.2" FileType="Snapshot" '
        f'Granularity="All" FileOID={quoteattr(_oid("ODM", study.code, "V", frozen.release.version))} '
        f'CreationDateTime="{created}" AsOfDateTime="{created}" Originator={quoteattr(study.code)} '
        'SourceSystem="Study eCRF">\n'
    )
    stream.write(root.encode())
    stream.write((_xml(study_element(frozen)) + "\n").encode())
    stream.write((_xml(admin_data(frozen)) + "\n").encode())
    progress(10)
    stream.write(
        f'<ClinicalData StudyOID="{_oid("ST", study.code)}" MetaDataVersionOID='
        f'"{_oid("MDV", "V", frozen.release.version)}">\n'.encode()
    )
    for piece in _clinical_chunks(frozen, frames, progress):
        stream.write(piece)
    stream.write(b"</ClinicalData>\n</ODM>\n")
    progress(95)


def document_name(frozen: FrozenRelease) -> str:
    return f"{frozen.release.study.code}_v{frozen.release.version}_odm.xml"


def export_files(frozen: FrozenRelease, progress: Callable[[int], None]):
    yield document_name(frozen), lambda stream: write_odm(frozen, stream, progress)


def readme_notes(frozen: FrozenRelease) -> list[str]:
    notes = [
        f"`{document_name(frozen)}` is a CDISC ODM 1.3.2 Snapshot of the release: the study's metadata (forms, "
        "items with their units, code lists and range checks), the people and sites (AdminData), and every stored "
        "value of the enrolment record and the source forms once as ItemData, each with the AuditRecord of the change "
        "that gave it its value; every act of the audit trail follows as an AuditRecord (ClinicalData/AuditRecords). "
        "Derived data and results are in the analysis exports, not here.",
        "It names people (the audit trail's users, the signers) and holds the reasons for change: it is for the "
        "trial master file, and only data managers may download it.",
        "Study days are the repeat keys of the SE.DAY event (day 0 = enrolment); a repeating form's records are "
        "ItemGroupData with repeat keys 1..k in the release's order. The times of some forms (DataType time) are the "
        "clock time at the site with its UTC offset, hh:mm:ss+hh:mm, on the study day of their record (stop_day, "
        "end_day for a stop or end time), as in the release's tables: no calendar date.",
    ]
    signatures = frozen.frame("signatures")
    if signatures.empty:
        notes.append("This release has no casebook signatures: the document has no Signature elements.")
    else:
        broken = int(signatures["broken_at"].notna().sum())
        notes.append(
            "Signatures: each SubjectData carries the participant's latest intact casebook signature, earlier intact "
            "ones are under ClinicalData/Signatures; the CryptoBindingManifest holds the SHA-256 of the signed data."
            + (
                f" {broken} broken signature(s) (data changed after signing) are not Signature elements; the "
                "release's signatures table lists them."
                if broken
                else ""
            )
        )
    return notes
