"""Define-XML 2.1 and its readable page (define.html) for the SDTM-shaped datasets of a release (analysis/sdtm.py).

Both are written from one description, ``Definition``: the datasets with their variables, the code lists, the
methods and the comments. define.xml is built with odmlib's Define-XML 2.1 model and validates against the bundled
schema (odmlib/schemas/define/2.1); define.html is plain HTML of the same metadata. Nothing here reads the time:
the creation time is the release's lock time, so the same release gives the same bytes.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import odmlib.define_2_1.model as DEFINE
import odmlib.ns_registry as NS

_NAMESPACES = {
    "odm": "http://www.cdisc.org/ns/odm/v1.3",
    "def": "http://www.cdisc.org/ns/def/v2.1",
    "xlink": "http://www.w3.org/1999/xlink",
}

IG_STANDARD = "STD.SDTMIG.3-3"
CT_STANDARD = "STD.CT.SDTM"


@dataclass(frozen=True)
class Term:
    value: str
    decode: str = ""
    #: NCI code of the term in CDISC Controlled Terminology; empty: a value the sponsor added.
    c_code: str = ""


@dataclass(frozen=True)
class CodeList:
    oid: str
    name: str
    terms: tuple[Term, ...] = ()
    #: NCI code of the CDISC CT code list it takes its terms from (a subset, extended where a term has no code).
    c_code: str = ""
    data_type: str = "text"
    #: Not enumerated here: the name of an external dictionary (LOINC).
    dictionary: str = ""


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    data_type: str  # text, integer or float
    length: int
    role: str
    origin: str  # Collected, Assigned, Derived, Not Available
    mandatory: bool = False
    significant_digits: int | None = None
    code_list: str = ""  # OID
    method: str = ""  # OID
    comment: str = ""  # OID
    key_sequence: int | None = None
    has_no_data: bool = False

    @property
    def source(self) -> str:
        return {"Collected": "Investigator", "Assigned": "Sponsor", "Derived": "Sponsor"}.get(self.origin, "")


@dataclass(frozen=True)
class Dataset:
    name: str
    label: str
    dataset_class: str
    structure: str
    href: str
    variables: tuple[Variable, ...]
    records: int


@dataclass(frozen=True)
class Definition:
    file_oid: str
    study_oid: str
    study_name: str
    study_description: str
    protocol: str
    version_name: str
    created: str  # ISO 8601, the lock time
    comment: str  # about the whole document
    ct_version: str
    datasets: tuple[Dataset, ...]
    code_lists: tuple[CodeList, ...]
    methods: dict[str, tuple[str, str]]  # OID -> (name, description)
    comments: dict[str, str]  # OID -> text


# --------------------------------------------------------------------------------------------
# define.xml
# --------------------------------------------------------------------------------------------


def _description(text: str):
    return DEFINE.Description(TranslatedText=[DEFINE.TranslatedText(_content=text, lang="en")])


def _item_def(dataset: Dataset, variable: Variable):
    item = DEFINE.ItemDef(
        OID=f"IT.{dataset.name}.{variable.name}",
        Name=variable.name,
        DataType=variable.data_type,
        Length=variable.length,
    )
    if variable.significant_digits is not None:
        item.SignificantDigits = variable.significant_digits
    item.SASFieldName = variable.name
    if variable.comment:
        item.CommentOID = variable.comment
    item.Description = _description(variable.label)
    if variable.code_list:
        item.CodeListRef = DEFINE.CodeListRef(CodeListOID=variable.code_list)
    origin = DEFINE.Origin(Type=variable.origin)
    if variable.source:
        origin.Source = variable.source
    item.Origin = [origin]
    return item


def _item_ref(dataset: Dataset, variable: Variable, number: int):
    ref = DEFINE.ItemRef(
        ItemOID=f"IT.{dataset.name}.{variable.name}",
        Mandatory="Yes" if variable.mandatory else "No",
        OrderNumber=number,
    )
    if variable.key_sequence is not None:
        ref.KeySequence = variable.key_sequence
    if variable.method:
        ref.MethodOID = variable.method
    ref.Role = variable.role
    if variable.has_no_data:
        ref.HasNoData = "Yes"
    return ref


def _item_group(dataset: Dataset):
    group = DEFINE.ItemGroupDef(
        OID=f"IG.{dataset.name}",
        Name=dataset.name,
        Repeating="No" if dataset.name == "DM" else "Yes",
        IsReferenceData="No",
        SASDatasetName=dataset.name,
        Domain=dataset.name,
        Purpose="Tabulation",
        Structure=dataset.structure,
        ArchiveLocationID=f"LF.{dataset.name}",
        StandardOID=IG_STANDARD,
    )
    if not dataset.records:
        group.HasNoData = "Yes"
    group.Description = _description(dataset.label)
    group.ItemRef = [_item_ref(dataset, v, n) for n, v in enumerate(dataset.variables, start=1)]
    group.Class = DEFINE.Class(Name=dataset.dataset_class)
    group.leaf = DEFINE.leaf(ID=f"LF.{dataset.name}", href=dataset.href, title=DEFINE.title(_content=dataset.href))
    return group


def _code_list(code_list: CodeList):
    element = DEFINE.CodeList(OID=code_list.oid, Name=code_list.name, DataType=code_list.data_type)
    if code_list.c_code:
        element.StandardOID = CT_STANDARD
    if code_list.dictionary:
        element.ExternalCodeList = DEFINE.ExternalCodeList(Dictionary=code_list.dictionary)
        return element
    decoded = any(term.decode for term in code_list.terms)  # every item decoded, or none
    items = []
    for number, term in enumerate(code_list.terms, start=1):
        item = (DEFINE.CodeListItem if decoded else DEFINE.EnumeratedItem)(CodedValue=term.value, OrderNumber=number)
        if code_list.c_code and not term.c_code:
            item.ExtendedValue = "Yes"
        if decoded:
            text = DEFINE.TranslatedText(_content=term.decode or term.value, lang="en")
            item.Decode = DEFINE.Decode(TranslatedText=[text])
        if term.c_code:
            item.Alias = [DEFINE.Alias(Context="nci:ExtCodeID", Name=term.c_code)]
        items.append(item)
    if decoded:
        element.CodeListItem = items
    else:
        element.EnumeratedItem = items
    if code_list.c_code:
        element.Alias = [DEFINE.Alias(Context="nci:ExtCodeID", Name=code_list.c_code)]
    return element


def _metadata_version(definition: Definition):
    version = DEFINE.MetaDataVersion(
        OID="MDV.SDTM",
        Name=definition.version_name,
        Description=definition.version_name,
        DefineVersion="2.1.0",
        CommentOID="COM.DOCUMENT",
    )
    version.Standards = DEFINE.Standards(
        Standard=[
            DEFINE.Standard(OID=IG_STANDARD, Name="SDTMIG", Type="IG", Version="3.3", Status="Final"),
            DEFINE.Standard(
                OID=CT_STANDARD,
                Name="CDISC/NCI",
                Type="CT",
                PublishingSet="SDTM",
                Version=definition.ct_version,
                Status="Final",
            ),
        ]
    )
    version.ItemGroupDef = [_item_group(dataset) for dataset in definition.datasets]
    version.ItemDef = [_item_def(d, v) for d in definition.datasets for v in d.variables]
    used = {v.code_list for d in definition.datasets for v in d.variables}
    version.CodeList = [_code_list(c) for c in definition.code_lists if c.oid in used]
    version.MethodDef = [
        DEFINE.MethodDef(OID=oid, Name=name, Type="Computation", Description=_description(text))
        for oid, (name, text) in definition.methods.items()
    ]
    comments = {"COM.DOCUMENT": definition.comment, **definition.comments}
    version.CommentDef = [DEFINE.CommentDef(OID=oid, Description=_description(t)) for oid, t in comments.items()]
    return version


def define_xml(definition: Definition) -> bytes:
    """The Define-XML 2.1 document (UTF-8, indented), valid against the Define-XML 2.1 schema."""
    study = DEFINE.Study(
        OID=definition.study_oid,
        GlobalVariables=DEFINE.GlobalVariables(
            StudyName=DEFINE.StudyName(_content=definition.study_name),
            StudyDescription=DEFINE.StudyDescription(_content=definition.study_description),
            ProtocolName=DEFINE.ProtocolName(_content=definition.protocol),
        ),
        MetaDataVersion=_metadata_version(definition),
    )
    document = DEFINE.ODM(
        FileType="Snapshot",
        FileOID=definition.file_oid,
        CreationDateTime=definition.created,
        ODMVersion="1.3.2",
        Originator=definition.study_name,
        SourceSystem="Study eCRF",
        Context="Other",
        Study=study,
    )
    root = document.to_xml()  # odmlib's tree (prefixed tags); declared below with this document's namespaces
    ET.indent(root, space="  ")
    NS.NamespaceRegistry().set_odm_namespace_attributes(
        root, namespaces=_NAMESPACES, default={"odm": _NAMESPACES["odm"]}
    )
    return ET.tostring(root, encoding="UTF-8", xml_declaration=True) + b"\n"


# --------------------------------------------------------------------------------------------
# define.html
# --------------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:80em}table{border-collapse:collapse;margin-bottom:2em}"
    "th,td{border:1px solid #999;padding:.25em .5em;text-align:left;vertical-align:top}th{background:#eee}"
)


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """Cells are HTML already (escaped by the caller)."""
    lines = ["<table>", "<tr>" + "".join(f"<th>{_e(h)}</th>" for h in headers) + "</tr>"]
    lines += ["<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows]
    return [*lines, "</table>"]


def _variable_row(variable: Variable, definition: Definition, lists: dict[str, CodeList]) -> list[str]:
    notes = []
    if variable.method:
        notes.append(_e(definition.methods[variable.method][1]))
    if variable.comment:
        notes.append(_e(definition.comments[variable.comment]))
    code_list = lists.get(variable.code_list)
    listed = f'<a href="#{_e(code_list.oid)}">{_e(code_list.name)}</a>' if code_list else ""
    kind = variable.data_type + (f" ({variable.significant_digits} dp)" if variable.significant_digits else "")
    return [
        _e(variable.name),
        _e(variable.label),
        _e(kind),
        _e(variable.length),
        _e(variable.role),
        _e(variable.origin),
        listed,
        "<br>".join(notes),
    ]


def _code_list_rows(code_list: CodeList) -> list[list[str]]:
    if code_list.dictionary:
        return [[_e(f"External dictionary: {code_list.dictionary}"), "", ""]]
    return [
        [_e(t.value), _e(t.decode), _e(t.c_code or ("sponsor" if code_list.c_code else ""))] for t in code_list.terms
    ]


def define_html(definition: Definition) -> bytes:
    """A readable page of the same metadata: the datasets, then each dataset's variables, the code lists, the
    methods and the comments."""
    lists = {c.oid: c for c in definition.code_lists}
    used = [
        c for c in definition.code_lists if any(v.code_list == c.oid for d in definition.datasets for v in d.variables)
    ]
    title = f"Define-XML 2.1: {definition.study_name}, {definition.version_name}"
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>{_e(definition.study_description)} (protocol {_e(definition.protocol)}). "
        f"Created {_e(definition.created)}. Standards: SDTMIG 3.3; CDISC SDTM Controlled Terminology "
        f"{_e(definition.ct_version)}.</p>",
        f"<p>{_e(definition.comment)}</p>",
        "<h2>Datasets</h2>",
    ]
    lines += _table(
        ["Dataset", "Description", "Class", "Structure", "Keys", "Records", "Location"],
        [
            [
                f'<a href="#{_e(d.name)}">{_e(d.name)}</a>',
                _e(d.label),
                _e(d.dataset_class),
                _e(d.structure),
                _e(", ".join(v.name for v in sorted(d.variables, key=_key_order) if v.key_sequence)),
                _e(d.records),
                f'<a href="{_e(d.href)}">{_e(d.href)}</a>',
            ]
            for d in definition.datasets
        ],
    )
    for dataset in definition.datasets:
        lines.append(f'<h2 id="{_e(dataset.name)}">{_e(dataset.name)}: {_e(dataset.label)}</h2>')
        lines += _table(
            ["Variable", "Label", "Type", "Length", "Role", "Origin", "Code list", "Derivation / comment"],
            [_variable_row(v, definition, lists) for v in dataset.variables],
        )
    lines.append("<h2>Code lists</h2>")
    for code_list in used:
        standard = f" (CDISC CT {code_list.c_code})" if code_list.c_code else ""
        lines.append(f'<h3 id="{_e(code_list.oid)}">{_e(code_list.name)}{_e(standard)}</h3>')
        lines += _table(["Value", "Decode", "NCI code"], _code_list_rows(code_list))
    lines.append("<h2>Methods</h2>")
    lines += _table(
        ["Method", "Name", "Description"], [[_e(o), _e(n), _e(t)] for o, (n, t) in definition.methods.items()]
    )
    lines.append("<h2>Comments</h2>")
    lines += _table(["Comment", "Text"], [[_e(o), _e(t)] for o, t in definition.comments.items()])
    lines.append("</body></html>")
    return ("\n".join(lines) + "\n").encode()


def _key_order(variable: Variable) -> int:
    return variable.key_sequence or 0
