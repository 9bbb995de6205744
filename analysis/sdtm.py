"""SDTM-shaped datasets of a locked release, with Define-XML 2.1 (issue 19 item 2): the SDTM export format.

Built from the release's frozen files only (``FrozenRelease``), never from the live tables. ``export_files`` gives,
under ``sdtm/``, one SAS transport v5 file (``<domain>.xpt``) and one CSV (``<domain>.csv``) per domain, then
``define.xml`` (Define-XML 2.1, analysis/define_xml.py) and ``define.html``:

- DM, one row per participant (patients, arms); VS and LB from the vital signs and the laboratory forms, one row per
  test and study day; EX from the drug administrations; DS from the disposition events and the follow-up status;
  AE from the adverse events; RS, the daily ordinal clinical status of the derived table on each of its scales.
- Controlled terminology: CDISC SDTM CT of ``terms.CT_VERSION`` (the NCI codes go into define.xml); LOINC codes from the
  form catalogue (ecrf/crfs.py), the one place that holds them.
- Time: the release holds no calendar dates (pseudonymised; study day 0 = enrolment, whose date the release does not
  hold), so the --DTC variables are empty and the study day goes into --DY, --STDY and --ENDY with the SDTM convention
  of no day 0 (``sdtm_day``). The times some forms record (a drug's start and stop, a disposition event) are clock
  times at the site with their UTC offset on the study day of their row, in the release's own tables only: an ISO 8601
  --DTC needs the date before the time; the ventilation episodes have no domain here (not mapped to PR).
- Missing is missing (an empty cell, a SAS missing value), never 0. A value replaced by a missing-data code, or the
  values of a form marked not done that day, are rows with --STAT = NOT DONE and the reason in --REASND.
- A value the mappings (analysis/sdtm_terms.py) do not know (a drug route, a disposition kind, ...) fails the build with
  ``ExportRefused`` naming the table, the column and the values: never a silently invalid file. So does a text
  longer than SAS transport v5 holds (200 bytes).

The bytes depend only on the release: rows sorted by USUBJID and --SEQ, the XPT headers stamped with the lock time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
from django.utils import translation

from analysis import codebook, define_xml
from analysis import sdtm_terms as terms
from analysis.define_xml import CodeList
from analysis.exports import ExportRefused, _fix_xpt, _write_with, csv_bytes
from analysis.frozen import FrozenRelease, number_text, value_labels_of
from cohorts.languages import STORED_LANGUAGE
from ecrf.crfs import CATALOGUE, CODE_COLUMN_SUFFIX


def sdtm_day(study_day: pd.Series) -> pd.Series:
    """The SDTM study day of a release study day (day 0 = enrolment): SDTM has no day 0, so day 0 is --DY 1, day
    n >= 0 is n + 1, and a day before enrolment keeps its negative number. Missing stays missing."""
    days = study_day.astype("Int64")
    return days.where(days < 0, days + 1)


def mapped(values: pd.Series, mapping: Mapping, where: str) -> pd.Series:
    """``values`` through ``mapping``; missing stays missing. A value the mapping does not know fails the build,
    naming the table and column (``where``) and the values."""
    known = values.isna() | values.isin(list(mapping))
    if not known.all():
        unknown = sorted({str(v) for v in values[~known]})
        raise ExportRefused(
            f"SDTM export refused: {where} holds {unknown}, which the SDTM mapping does not know (it knows "
            f"{sorted(str(k) for k in mapping)}). Extend the mapping in analysis/sdtm.py or correct the data."
        )
    return values.astype(object).map(dict(mapping))


def _constant(value, index: pd.Index) -> pd.Series:
    return pd.Series([value] * len(index), index=index, dtype=object)


def _record(frame: pd.DataFrame, order=0, study_day: str | None = "study_day") -> dict[str, pd.Series]:
    """The columns every builder gives ``finish``: the participant and the sort keys within them (the study day,
    then ``order``: the test's position, or the record's in the release table)."""
    day = frame[study_day] if study_day else pd.Series(pd.NA, index=frame.index, dtype="Int64")
    orders = pd.Series(np.broadcast_to(order, len(frame)), index=frame.index)
    return {terms.KEY: frame[terms.KEY], "_day": day.astype("Int64"), "_order": orders}


def _is(values: pd.Series, value: str) -> np.ndarray:
    """Where ``values`` equal ``value`` (missing: no), as a numpy mask."""
    return values.eq(value).fillna(False).to_numpy(dtype=bool)


def _release_unit(frozen: FrozenRelease, form: str, test: terms.Test) -> None:
    unit = frozen.columns(form).loc[test.field, "unit"]
    if str(unit) != test.release_unit:
        raise ExportRefused(
            f"SDTM export refused: {form}.{test.field} is in {unit!r} in this release; the SDTM mapping of "
            f"{test.code} expects {test.release_unit!r}."
        )


def _loinc(form: str, test: terms.Test, frame: pd.DataFrame) -> pd.Series:
    """The LOINC code of each row from the form catalogue: the field's code; of a field with several, the one its
    record's other field implies (the D-dimer's basis: 48065-7 FEU, 48066-5 DDU), else the first listed."""
    crf = CATALOGUE[form]
    codes = [code for code, name in crf.loinc.items() if name == test.field]
    implied = {code: crf.loinc_implies[code] for code in codes if code in crf.loinc_implies}
    if not implied:
        return _constant(codes[0] if codes else None, frame.index)
    by_value = {value: code for code, values in implied.items() for field, value in values.items()}
    (field,) = {field for values in implied.values() for field in values}
    return frame[field].astype(object).map(by_value)


def english_labels(frozen: FrozenRelease, table: str, column: str) -> dict[str, str]:
    """A coded column's value labels in English, the language of SDTM: the codebook's, or, when the study chose
    another language for its codebook, the same entry rebuilt in English (the labels of codes do not depend on the
    study's settings)."""
    if frozen.language == STORED_LANGUAGE:
        return value_labels_of(frozen.columns(table).loc[column, "value_labels"])
    with translation.override(STORED_LANGUAGE):
        entry = codebook.entries_for(table, frozen.release.study)[column]
        return {str(code): str(label) for code, label in entry.value_labels}


def _reasons(frozen: FrozenRelease, form: str, frame: pd.DataFrame, field: str) -> pd.Series:
    """Why a value is missing, where the release says: the reason the form was not done that day, else the label
    of the value's missing-data code (an unknown code fails the build)."""
    column = f"{field}{CODE_COLUMN_SUFFIX}"
    labels = english_labels(frozen, form, column)
    coded = mapped(frame[column], labels, f"{form}.{column}")
    return frame["not_done_reason"].astype(object).where(frame["not_done_reason"].notna(), coded)


def _test_rows(
    frozen: FrozenRelease, form: str, frame: pd.DataFrame, test: terms.Test, order: int, p: str
) -> pd.DataFrame:
    """One test's rows: a value, or --STAT NOT DONE where a missing-data code or the form's mark says why it is
    missing; a value simply missing has no row."""
    _release_unit(frozen, form, test)
    value = pd.to_numeric(frame[test.field]).astype("Float64")
    done = value.notna().to_numpy()
    reason = _reasons(frozen, form, frame, test.field)
    if isinstance(test.unit, str):
        unit = _constant(test.unit, frame.index)
    else:
        unit = mapped(frame[test.by].where(done), test.unit, f"{form}.{test.by}")
        if (done & unit.isna().to_numpy()).any():
            raise ExportRefused(f"SDTM export refused: {form}.{test.field} has values without {form}.{test.by}.")
    text = number_text(value)
    rows = {
        **_record(frame, order),
        f"{p}TESTCD": _constant(test.code, frame.index),
        f"{p}TEST": _constant(test.name, frame.index),
        f"{p}CAT": _constant(test.category or None, frame.index),
        f"{p}ORRES": text,
        f"{p}ORRESU": unit.where(done),
        f"{p}STRESC": text,
        f"{p}STRESN": value,
        f"{p}STRESU": unit.where(done),
        f"{p}STAT": _constant(terms.NOT_DONE, frame.index).where(~done),
        f"{p}REASND": reason.where(~done),
        f"{p}LOINC": _loinc(form, test, frame),
        f"{p}DY": sdtm_day(frame["study_day"]),
    }
    if test.uln:
        uln = pd.to_numeric(frame[test.uln]).astype("Float64").where(done)
        rows.update({f"{p}ORNRHI": number_text(uln), f"{p}STNRHI": uln})
    keep = done | reason.notna().to_numpy()
    return pd.DataFrame(rows).loc[keep]


def _concat(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The parts one under the other; empty parts and all-missing columns left out (``finish`` gives every variable
    its type, and an empty column to one no part has)."""
    kept = [terms.KEY, "_day", "_order"]
    filled = [part.loc[:, part.notna().any() | part.columns.isin(kept)] for part in parts if len(part)]
    return pd.concat(filled, ignore_index=True) if filled else parts[0]


def _findings(frozen: FrozenRelease, prefix: str) -> pd.DataFrame:
    form, tests = terms.FINDINGS[prefix]
    frame = frozen.frame(form)
    return _concat([_test_rows(frozen, form, frame, test, order, prefix) for order, test in enumerate(tests)])


# --------------------------------------------------------------------------------------------
# Domains
# --------------------------------------------------------------------------------------------


def build_dm(frozen: FrozenRelease) -> pd.DataFrame:
    patients, arms = frozen.frame("patients"), frozen.frame("arms")
    events = frozen.frame("disposition_events")
    died = (
        _is(patients["status"], "died")
        | patients[terms.KEY].isin(events.loc[_is(events["kind"], "death"), terms.KEY]).to_numpy()
    )
    arm_code = mapped(patients["arm"], terms.arm_codes(arms), "patients.arm")
    arm = mapped(patients["arm"], dict(zip(arms["arm"], arms["arm_label"], strict=True)), "patients.arm")
    return pd.DataFrame(
        {
            **_record(patients, study_day=None),
            "SUBJID": patients[terms.KEY],
            "DTHFL": _constant("Y", patients.index).where(died),
            "SITEID": patients["site"],
            "AGE": patients["age_years"],
            "AGEU": _constant("YEARS", patients.index).where(patients["age_years"].notna().to_numpy()),
            "SEX": mapped(patients["sex"], terms.SEXES, "patients.sex"),
            "ARMCD": arm_code,
            "ARM": arm,
            "ACTARMCD": arm_code,
            "ACTARM": arm,
        }
    )


def build_vs(frozen: FrozenRelease) -> pd.DataFrame:
    return _findings(frozen, "VS")


def build_lb(frozen: FrozenRelease) -> pd.DataFrame:
    return _findings(frozen, "LB")


def build_ex(frozen: FrozenRelease) -> pd.DataFrame:
    drugs = frozen.frame("drug_administration")
    category = mapped(drugs["drug"], terms.DRUGS, "drug_administration.drug")
    named = drugs["drug"].isin(terms.DRUG_CLASSES).to_numpy() & drugs["drug_detail"].notna().to_numpy()
    return pd.DataFrame(
        {
            **_record(drugs, order=np.arange(len(drugs))),
            "EXTRT": category.where(~named, drugs["drug_detail"].str.upper().astype(object)),
            "EXCAT": category,
            "EXDOSE": drugs["dose"],
            "EXDOSU": mapped(drugs["dose_unit"], terms.DOSE_UNITS, "drug_administration.dose_unit"),
            "EXDOSFRQ": mapped(drugs["frequency"], terms.FREQUENCIES, "drug_administration.frequency"),
            "EXROUTE": mapped(drugs["route"], terms.ROUTES, "drug_administration.route"),
            "EXSTDY": sdtm_day(drugs["study_day"]),
            "EXENDY": sdtm_day(drugs["stop_day"]),
        }
    )


def _disposition_columns(
    kinds: pd.Series, table: Mapping[str, terms.Disposition | None], where: str
) -> dict[str, pd.Series]:
    return {
        column: mapped(kinds, {k: (getattr(d, attribute) if d else None) for k, d in table.items()}, where)
        for column, attribute in (("DSTERM", "term"), ("DSDECOD", "decode"), ("DSCAT", "category"))
    }


def build_ds(frozen: FrozenRelease) -> pd.DataFrame:
    events = frozen.frame("disposition_events")
    columns = _disposition_columns(events["kind"], terms.DISPOSITIONS, "disposition_events.kind")
    term = columns["DSTERM"].astype("string")
    cause = "DEATH DUE TO " + events["cause_of_death"].astype("string").str.upper()
    term = term.where(~(_is(events["kind"], "death") & cause.notna().to_numpy()), cause)
    alive = events["alive"].astype("boolean").map({True: ": ALIVE", False: ": DEAD"}, na_action="ignore")
    contact = _is(events["kind"], "vital_status_contact") & alive.notna().to_numpy()
    columns["DSTERM"] = term.where(~contact, term + alive.astype("string"))
    recorded = pd.DataFrame(
        {**_record(events, order=np.arange(len(events))), **columns, "DSSTDY": sdtm_day(events["study_day"])}
    )
    return _concat([recorded, _status_rows(frozen, recorded)])


def _status_rows(frozen: FrozenRelease, recorded: pd.DataFrame) -> pd.DataFrame:
    """The end of participation as the patients' follow-up status holds it, for those whose disposition events do
    not say it (no day: the status has none)."""
    patients = frozen.frame("patients")
    columns = _disposition_columns(patients["status"], terms.STATUSES, "patients.status")
    ended = recorded.loc[recorded["DSCAT"].eq(terms.DISPOSITION_EVENT), terms.KEY]
    keep = columns["DSDECOD"].notna().to_numpy() & ~patients[terms.KEY].isin(ended).to_numpy()
    no_day = pd.Series(pd.NA, index=patients.index, dtype="Int64")
    return pd.DataFrame({**_record(patients, study_day=None), **columns, "DSSTDY": no_day}).loc[keep]


def build_ae(frozen: FrozenRelease) -> pd.DataFrame:
    events = frozen.frame("adverse_events")
    category = mapped(events["kind"], terms.AE_CATEGORIES, "adverse_events.kind")
    labels = english_labels(frozen, "adverse_events", "kind")
    term = mapped(events["kind"], labels, "adverse_events.kind").astype("string")
    organism = events["organism"].astype("string")
    term = term.where(organism.isna().to_numpy(), term + " (" + organism + ")")
    other = _is(events["kind"], "other") & events["description"].notna().to_numpy()
    return pd.DataFrame(
        {
            **_record(events, order=np.arange(len(events))),
            "AETERM": term.where(~other, events["description"].astype("string")),
            "AECAT": category,
            "AESER": mapped(events["serious"].astype("boolean"), terms.YES_NO, "adverse_events.serious"),
            "AESTDY": sdtm_day(events["study_day"]),
        }
    )


def _scale_rows(frozen: FrozenRelease, frame: pd.DataFrame, scale: terms.Scale, order: int) -> pd.DataFrame:
    """One scale's rows: the day's score with its label; a score the derivation could not give is NOT DONE with
    the derived table's note as the reason, where it has one."""
    labels = {int(code): text for code, text in english_labels(frozen, "derived_days", scale.column).items()}
    score = frame[scale.column].astype("Int64")
    done = score.notna().to_numpy()
    note = frame["status_note"].astype(object).where(~done)
    rows = pd.DataFrame(
        {
            **_record(frame, order),
            "RSTESTCD": _constant(scale.code, frame.index),
            "RSTEST": _constant(scale.name, frame.index),
            "RSCAT": _constant(scale.category, frame.index),
            "RSORRES": mapped(score, labels, f"derived_days.{scale.column}"),
            "RSSTRESC": score.astype("string"),
            "RSSTRESN": score,
            "RSSTAT": _constant(terms.NOT_DONE, frame.index).where(~done),
            "RSREASND": note,
            "RSDY": sdtm_day(frame["study_day"]),
        }
    )
    return rows.loc[done | note.notna().to_numpy()]


def build_rs(frozen: FrozenRelease) -> pd.DataFrame:
    frame = frozen.frame("derived_days")
    return _concat([_scale_rows(frozen, frame, s, n) for n, s in enumerate(terms.SCALES)])


class Domain(NamedTuple):
    name: str
    label: str
    dataset_class: str
    structure: str
    variables: tuple[terms.Var, ...]
    build: Callable[[FrozenRelease], pd.DataFrame]


DOMAINS = (
    Domain("DM", "Demographics", "SPECIAL PURPOSE", "One record per subject", terms.DM_VARIABLES, build_dm),
    Domain(
        "VS",
        "Vital Signs",
        "FINDINGS",
        "One record per vital sign test per study day per subject",
        terms.VS_VARIABLES,
        build_vs,
    ),
    Domain(
        "LB",
        "Laboratory Test Results",
        "FINDINGS",
        "One record per lab test per study day per subject",
        terms.LB_VARIABLES,
        build_lb,
    ),
    Domain(
        "EX",
        "Exposure",
        "INTERVENTIONS",
        "One record per drug administration (start to stop day) per subject",
        terms.EX_VARIABLES,
        build_ex,
    ),
    Domain("DS", "Disposition", "EVENTS", "One record per disposition event per subject", terms.DS_VARIABLES, build_ds),
    Domain("AE", "Adverse Events", "EVENTS", "One record per adverse event per subject", terms.AE_VARIABLES, build_ae),
    Domain(
        "RS",
        "Disease Response and Clin Classification",
        "FINDINGS",
        "One record per clinical classification per study day per subject",
        terms.RS_VARIABLES,
        build_rs,
    ),
)

_DTYPES = {"text": "string", "integer": "Int64", "float": "Float64"}


def finish(frozen: FrozenRelease, domain: Domain, built: pd.DataFrame) -> pd.DataFrame:
    """A builder's rows as the domain: STUDYID, DOMAIN, USUBJID = STUDYID-participant, sorted by USUBJID then the
    study day and the order of the record, --SEQ 1..n within USUBJID, the domain's variables in their order and
    type (a variable the builder does not give is empty)."""
    study = frozen.release.study.code
    rows = built.assign(
        STUDYID=study, DOMAIN=domain.name, USUBJID=study + "-" + built[terms.KEY].astype(str)
    ).sort_values(["USUBJID", "_day", "_order"], kind="mergesort", na_position="last")
    names = [v.name for v in domain.variables]
    if f"{domain.name}SEQ" in names:
        rows[f"{domain.name}SEQ"] = rows.groupby("USUBJID", sort=False).cumcount() + 1
    out = pd.DataFrame(index=rows.index)
    for variable in domain.variables:
        column = rows[variable.name] if variable.name in rows else pd.Series(pd.NA, index=rows.index)
        if variable.kind == "text":
            column = column.astype(object).where(column.notna(), None)
        out[variable.name] = column.astype(_DTYPES[variable.kind])
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Checks before anything is written
# --------------------------------------------------------------------------------------------


def check_code_lists(domain: Domain, frame: pd.DataFrame, lists: Mapping[str, CodeList]) -> None:
    """Every coded value is in its variable's code list of define.xml."""
    for variable in domain.variables:
        code_list = lists.get(variable.code_list)
        if code_list is None or code_list.dictionary:
            continue
        values = frame[variable.name].dropna()
        unknown = sorted(set(values[~values.isin([t.value for t in code_list.terms])]))
        if unknown:
            raise ExportRefused(
                f"SDTM export refused: {domain.name}.{variable.name} values {unknown} are not in its code list "
                f"{code_list.oid}."
            )


def check_lengths(domain: Domain, frame: pd.DataFrame) -> None:
    """No text longer than a SAS transport v5 variable holds: cutting it would change the data."""
    for variable in domain.variables:
        if variable.kind != "text":
            continue
        size = frame[variable.name].str.encode("utf-8").str.len()
        too_long = size.gt(terms.XPT_MAX_TEXT).fillna(False).to_numpy()
        if too_long.any():
            who = sorted(set(frame.loc[too_long, "USUBJID"]))
            raise ExportRefused(
                f"SDTM export refused: {domain.name}.{variable.name} of {who} is longer than the "
                f"{terms.XPT_MAX_TEXT} bytes of a SAS transport v5 variable. Shorten the text in the eCRF and lock a "
                "new release."
            )


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def xpt_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """As SAS holds it: text (missing = empty) and doubles (missing = SAS missing)."""
    return pd.DataFrame(
        {
            name: column.astype(object).where(column.notna(), "").astype(str)
            if isinstance(column.dtype, pd.StringDtype)
            else column.astype("float64")
            for name, column in frame.items()
        }
    )


def xpt_bytes(frozen: FrozenRelease, domain: Domain, frame: pd.DataFrame) -> bytes:
    import pyreadstat

    labels = {v.name: v.label for v in domain.variables}
    content = _write_with(
        lambda path: pyreadstat.write_xport(
            xpt_frame(frame),
            path,
            file_label=domain.label,
            column_labels=labels,
            table_name=domain.name,
            file_format_version=5,
        )
    )
    return _fix_xpt(content, frozen.when)


def _significant_digits(text: pd.Series) -> int:
    """Most digits after the decimal point of numbers written by ``number_text``."""
    decimals = (text.str.len() - 1 - text.str.find(".")).where(text.str.contains(".", regex=False), 0)
    return int(decimals.max()) if len(decimals) else 0


def define_variable(variable: terms.Var, column: pd.Series) -> define_xml.Variable:
    """A variable as define.xml describes it, its length from the data (at least 1)."""
    present = column.dropna()
    digits = None
    if variable.kind == "text":
        length = int(present.str.encode("utf-8").str.len().max()) if len(present) else 1
    else:
        text = number_text(present)
        length = int(text.str.replace(r"[-.]", "", regex=True).str.len().max()) if len(present) else 8
        digits = _significant_digits(text) if variable.kind == "float" else None
    return define_xml.Variable(
        name=variable.name,
        label=variable.label,
        data_type=variable.kind,
        length=max(length, 1),
        role=variable.role,
        origin=variable.origin,
        mandatory=variable.mandatory,
        significant_digits=digits,
        code_list=variable.code_list,
        method=variable.method,
        comment=variable.comment,
        key_sequence=variable.key,
        has_no_data=present.empty,
    )


def methods(frozen: FrozenRelease) -> dict[str, tuple[str, str]]:
    algorithm = frozen.release.manifest.get("algorithm_version", "")
    return {
        "MT.USUBJID": (
            "Unique subject identifier",
            "USUBJID = STUDYID, '-', participant_id (the release's pseudonym).",
        ),
        "MT.SEQ": (
            "Sequence number",
            "1, 2, ... within USUBJID, in the order of the study day, then of the test (as listed in the code list) "
            "or the record.",
        ),
        "MT.DY": (
            "Study day",
            "--DY = study_day + 1 for study_day >= 0, study_day for a negative study day (SDTM has no day 0). The "
            "release's study_day counts from enrolment (day 0), the reference start; its calendar date is not in "
            "the release.",
        ),
        "MT.STRES": (
            "Standard result",
            "The result as recorded: the release stores every value in its canonical unit, which is the standard "
            "unit (ng/mL written as the equal ug/L).",
        ),
        "MT.STAT": (
            "Not done",
            "NOT DONE where the eCRF holds a missing-data code (not done, unknown, not applicable) instead of the "
            "value, or the form was marked not done that day; --REASND gives the reason. A value simply missing has "
            "no record.",
        ),
        "MT.DTHFL": (
            "Death flag",
            "Y where the follow-up status at lock is died or a death disposition event is recorded; else empty.",
        ),
        "MT.ACTARM": ("Actual arm", "The planned arm: the eCRF does not record an actual arm of its own."),
        "MT.RS": (
            "Ordinal clinical status",
            "The score of the day's clinical state on the scale of RSCAT (RSSTRESN; RSORRES its label), from the "
            f"release's derived table (derivation algorithm version {algorithm}); where the score could not be "
            "derived, RSREASND gives the derived table's note.",
        ),
    }


COMMENTS = {
    "COM.DTC": (
        "Empty: the release is pseudonymised and holds no calendar dates (the times recorded on some forms are clock "
        "times at the site on their record's study day, in the release's own tables only). The study day is in --DY, "
        "--STDY and --ENDY (day 1 = enrolment, SDTM convention of no day 0)."
    ),
    "COM.LOINC": (
        "From the eCRF's form catalogue (ecrf/crfs.py); the D-dimer's code follows its basis: 48065-7 FEU, 48066-5 DDU."
    ),
    "COM.AEDECOD": "Empty: the eCRF does not code adverse events with MedDRA; AECAT holds the eCRF's category.",
}


def definition(
    frozen: FrozenRelease, frames: Mapping[str, pd.DataFrame], lists: Mapping[str, CodeList]
) -> define_xml.Definition:
    release, manifest = frozen.release, frozen.release.manifest
    datasets = tuple(
        define_xml.Dataset(
            name=domain.name,
            label=domain.label,
            dataset_class=domain.dataset_class,
            structure=domain.structure,
            href=f"{domain.name.lower()}.xpt",
            variables=tuple(define_variable(v, frames[domain.name][v.name]) for v in domain.variables),
            records=len(frames[domain.name]),
        )
        for domain in DOMAINS
    )
    return define_xml.Definition(
        file_oid=f"DEFINE.{release.study.code}.V{release.version}",
        study_oid=f"ST.{release.study.code}",
        study_name=release.study.code,
        study_description=str(manifest.get("study_title", release.study.code)),
        protocol=str(manifest.get("protocol", "")),
        version_name=f"Release v{release.version}",
        created=frozen.when.isoformat(),
        comment=(
            f"SDTM-shaped datasets of release v{release.version}, locked at {frozen.when.isoformat()}. "
            + " ".join(_DATES_AND_MISSING)
        ),
        ct_version=terms.CT_VERSION,
        datasets=datasets,
        code_lists=tuple(lists.values()),
        methods=methods(frozen),
        comments=COMMENTS,
    )


def domain_frames(
    frozen: FrozenRelease, lists: Mapping[str, CodeList], progress: Callable[[int], None]
) -> dict[str, pd.DataFrame]:
    """Every domain, checked against its code lists and the XPT text width before anything is written."""
    frames = {}
    for number, domain in enumerate(DOMAINS, start=1):
        frame = finish(frozen, domain, domain.build(frozen))
        check_code_lists(domain, frame, lists)
        check_lengths(domain, frame)
        frames[domain.name] = frame
        progress(5 + 60 * number // len(DOMAINS))
    return frames


def export_files(frozen: FrozenRelease, progress: Callable[[int], None]) -> Iterator[tuple[str, bytes]]:
    """The files of the SDTM zip in their order: per domain its XPT and CSV, then define.xml and define.html."""
    lists = terms.code_lists(frozen)
    frames = domain_frames(frozen, lists, progress)
    for number, domain in enumerate(DOMAINS, start=1):
        frame = frames[domain.name]
        name = f"{terms.FOLDER}{domain.name.lower()}"
        yield f"{name}.xpt", xpt_bytes(frozen, domain, frame)
        yield f"{name}.csv", csv_bytes(pa.Table.from_pandas(frame, preserve_index=False))
        progress(65 + 25 * number // len(DOMAINS))
    described = definition(frozen, frames, lists)
    yield f"{terms.FOLDER}define.xml", define_xml.define_xml(described)
    yield f"{terms.FOLDER}define.html", define_xml.define_html(described)


_DATES_AND_MISSING = (
    "The release holds no calendar dates (pseudonymised; time is the study day, day 0 = enrolment; the times some "
    "forms record are clock times at the site, HH:MM with the UTC offset on their record's study day, in the "
    "release's own tables only): every --DTC variable, RFSTDTC included, is empty, "
    "and the study day is in --DY, --STDY and --ENDY with the SDTM convention of no day 0: --DY = study day + 1 "
    "for study day 0 and after (enrolment is day 1), the study day itself before.",
    "A missing value is empty (an empty CSV cell, a SAS missing value), never 0. A value the eCRF records as not "
    "done, unknown or not applicable, or a form marked not done that day, is a record with --STAT = NOT DONE and "
    "the reason in --REASND; a value simply missing has no record in VS, LB and RS.",
)


def readme_notes(frozen: FrozenRelease) -> list[str]:
    domains = ", ".join(f"{d.name} ({d.label})" for d in DOMAINS)
    return [
        f"SDTM-shaped datasets after SDTMIG 3.3 in `sdtm/`: {domains}; each as SAS transport version 5 "
        "(`<domain>.xpt`) and CSV (`<domain>.csv`) with the same records. `sdtm/define.xml` (Define-XML 2.1) and "
        "`sdtm/define.html` describe every dataset and variable, the code lists, the derivations and the comments.",
        *_DATES_AND_MISSING,
        f"Terms are CDISC SDTM Controlled Terminology {terms.CT_VERSION} where one fits (their NCI codes are in "
        "define.xml); sponsor-defined otherwise (RS categories and tests, the DS terms of hospital discharge, ICU "
        "admission and discharge, start of invasive ventilation and vital-status contact as OTHER EVENT). LOINC "
        "codes come from the eCRF's form catalogue (D-dimer: 48065-7 FEU, 48066-5 DDU). Values are in the release's "
        "canonical units (ng/mL written as the equal CDISC unit ug/L).",
        "DS holds the disposition events of the eCRF and, for participants whose events do not say how their "
        "participation ended, their follow-up status at the lock (no study day). RS holds the daily ordinal "
        "clinical status of the derived table on each scale (RSCAT), the score in RSSTRESN and its label in "
        "RSORRES.",
        "Shaped, not submission-ready: not checked with a conformance validator; not collected and so not "
        "included: COUNTRY, race and ethnicity, MedDRA coding of adverse events (AEDECOD empty), the dose form; "
        "respiratory support is in the derived status (RS) but has no domain of its own, nor have the episodes of "
        "invasive ventilation (table ventilation_episodes; not mapped to PR). Free text is UTF-8.",
    ]
