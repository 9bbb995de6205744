"""The scripts of the CSV export that load it with its labels (issue 19 item 4): R is run for real; Stata and SPSS
are not installable here, so their scripts are read the way those packages would apply them (the recoding of coded
text, the value and variable labels) and applied to the CSV files in Python. Either way the result must equal the
export's own .sav and .dta files of the same release: the same codes, the same numbers, the same labels."""

import math
import os
import re
import shutil
import subprocess

import pandas as pd
import pyreadstat
import pytest

from analysis import exports, releases
from analysis.frozen import variables
from tests.analysis.test_exports import unzip

#: Tables with coded text, yes/no and labelled numbers: what the scripts must get right.
CHECKED = ("respiratory_support", "drug_administration", "disposition_events", "adverse_events", "derived_days")


@pytest.fixture
def folders(release, tmp_path):
    for fmt in ("csv", "sav", "dta"):
        unzip(exports.export_bytes(release, fmt), tmp_path, fmt)
    return {fmt: tmp_path / fmt for fmt in ("csv", "sav", "dta")}


def _book(release):
    return exports.FrozenRelease(release)


def test_the_csv_zip_holds_the_three_scripts_listed_in_its_readme(release, tmp_path):
    files = unzip(exports.export_bytes(release, "csv"), tmp_path, "only")
    assert {"read_csv.R", "read_csv.do", "read_csv.sps"} <= set(files)
    readme = files["README.md"].decode()
    for name in ("read_csv.R", "read_csv.do", "read_csv.sps"):
        assert name in readme
    assert "read_csv.R" not in unzip(exports.export_bytes(release, "sav"), tmp_path, "sav-only")


# ------------------------------------------------------------------------------------------------ R, run


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture
def rscript():
    found = shutil.which("Rscript")
    if found is None:
        if _in_ci():
            pytest.fail("Rscript is missing: `make test` installs Debian's r-base-core (make r)")
        pytest.skip("Rscript is not installed (make r)")
    return found


R_DUMP = """
source("read_csv.R")
dir.create("out")
labels <- data.frame(table = character(), variable = character(), label = character(), kind = character())
for (name in names(release)) {
  t <- release[[name]]
  for (v in names(t)) {
    labels[nrow(labels) + 1, ] <- c(name, v, attr(t[[v]], "label"), class(t[[v]])[1])
  }
  t[] <- lapply(t, function(x) if (is.factor(x)) as.character(x) else x)
  write.csv(t, file.path("out", paste0(name, ".csv")), row.names = FALSE, na = "")
}
write.csv(labels, file.path("out", "labels.csv"), row.names = FALSE)
"""


def test_r_loads_every_table_with_its_factors_and_labels(release, folders, rscript):
    csv = folders["csv"]
    (csv / "dump.R").write_text(R_DUMP)
    done = subprocess.run([rscript, "dump.R"], cwd=csv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    frozen = _book(release)
    labels = pd.read_csv(csv / "out" / "labels.csv", keep_default_na=False)
    assert set(labels["table"]) == set(releases.EXPORT_TABLES)
    for table in releases.EXPORT_TABLES:
        book = frozen.columns(table)
        shown = labels.loc[labels["table"].eq(table)].set_index("variable")
        assert list(shown.index) == list(frozen.frame(table).columns)
        for variable in variables(book.loc[list(shown.index)]):
            assert shown.loc[variable.name, "label"] == " ".join(variable.label.split())
            expected = {"coded": "factor", "boolean": "logical", "number": "numeric", "text": "character"}
            assert shown.loc[variable.name, "kind"] == expected[variable.kind], (table, variable.name)
    for table in CHECKED:
        loaded = pd.read_csv(csv / "out" / f"{table}.csv", keep_default_na=False, na_values=[""])
        sav, _ = pyreadstat.read_sav(
            folders["sav"] / f"{table}.sav", apply_value_formats=True, formats_as_category=False
        )
        assert len(loaded) == len(sav) == frozen.rows(table)
        for variable in variables(frozen.columns(table)):
            if variable.kind == "coded":  # the factor's labels are the .sav's value labels, row by row
                assert loaded[variable.name].fillna("").tolist() == sav[variable.name].fillna("").tolist()


# ------------------------------------------------------------------------------------------------ Stata and SPSS, read


def _label_text(text: str) -> str:
    return text.replace("''", "'")


def stata_meaning(script: str) -> dict[str, dict]:
    """Per table: the recoding of coded text (variable -> code -> number), the value labels and the variable labels,
    as Stata would apply the do-file's commands."""
    tables: dict[str, dict] = {}
    current: dict = {}
    for line in script.splitlines():
        if match := re.match(r'import delimited using "(\w+)\.csv"', line):
            current = tables.setdefault(match[1], {"recode": {}, "values": {}, "labels": {}, "booleans": set()})
        elif match := re.match(r'replace _v = (\d+) if (\w+) == "([^"]*)"$', line):
            current["recode"].setdefault(match[2], {})[match[3]] = int(match[1])
        elif match := re.match(r"generate byte _v = cond\((\w+) ==", line):
            current["booleans"].add(match[1])
        elif match := re.match(r"label define (\w+) (.*)$", line):
            pairs = re.findall(r"(-?\d+) `\"(.*?)\"'", match[2])
            current["values"][match[1]] = {int(n): text for n, text in pairs}
        elif match := re.match(r"label variable (\w+) `\"(.*)\"'$", line):
            current["labels"][match[1]] = match[2]
    return tables


def spss_meaning(script: str) -> dict[str, dict]:
    """The same, as SPSS would apply the syntax: GET DATA's variables, RECODE, VARIABLE LABELS, VALUE LABELS."""
    tables: dict[str, dict] = {}
    block = ""
    current: dict = {}
    for line in script.splitlines():
        if match := re.match(r"GET DATA /TYPE=TXT /FILE='(\w+)\.csv'", line):
            current = tables.setdefault(match[1], {"columns": [], "recode": {}, "values": {}, "labels": {}})
            block = "get"
        elif line.startswith("RECODE "):
            name = line.split()[1]
            current["recode"][name] = {
                _label_text(c): int(n) for c, n in re.findall(r"\('((?:[^']|'')*)'=(\d+)\)", line)
            }
        elif line in {"VARIABLE LABELS", "VALUE LABELS"}:
            block, value_of = line, None
        elif line == ".":
            block = ""
        elif block == "get" and (match := re.match(r"  (\w+) (A\d+|F\d+\.\d+)$", line)):
            current["columns"].append(match[1])
        elif block == "VARIABLE LABELS" and (match := re.match(r"  /?(\w+) '(.*)'$", line)):
            current["labels"][match[1]] = _label_text(match[2])
        elif block == "VALUE LABELS" and (match := re.match(r"  /?(\w+)$", line)):
            value_of = match[1]
            current["values"][value_of] = {}
        elif block == "VALUE LABELS" and (match := re.match(r"    (-?\d+) '(.*)'$", line)):
            current["values"][value_of][int(match[1])] = _label_text(match[2])
    return tables


def _applied(csv: pd.DataFrame, name: str, meaning: dict, booleans: set) -> list:
    """A CSV column as the script leaves it: coded text and yes/no as numbers, the rest as read."""
    column = csv[name]
    if name in meaning["recode"]:
        mapping = meaning["recode"][name]
        return [math.nan if pd.isna(value) else float(mapping[value]) for value in column]
    if name in booleans:
        return [math.nan if pd.isna(value) else float(value) for value in column]
    return column.tolist()


def _same(left: list, right: list) -> bool:
    def norm(value):
        return None if value is None or (isinstance(value, float) and math.isnan(value)) or value == "" else value

    return [norm(v) for v in left] == [norm(v) for v in right]


@pytest.mark.parametrize("package", ["dta", "sav"])
def test_the_stata_and_spss_scripts_give_the_exports_codes_and_labels(release, folders, package):
    csv_folder = folders["csv"]
    script = (csv_folder / ("read_csv.do" if package == "dta" else "read_csv.sps")).read_text()
    meaning = stata_meaning(script) if package == "dta" else spss_meaning(script)
    assert set(meaning) == set(releases.EXPORT_TABLES)
    frozen = _book(release)
    for table in releases.EXPORT_TABLES:
        book = frozen.columns(table)
        described = variables(book.loc[list(frozen.frame(table).columns)])
        if package == "sav":  # SPSS reads the columns by position
            header = (csv_folder / f"{table}.csv").read_text().splitlines()[0].split(",")
            assert meaning[table]["columns"] == header
        for variable in described:
            limit = 80 if package == "dta" else None
            assert meaning[table]["labels"][variable.name] == " ".join(variable.label.split())[:limit]
    for table in CHECKED:
        read = pyreadstat.read_dta if package == "dta" else pyreadstat.read_sav
        data, meta = read(folders[package] / f"{table}.{package}")
        csv = pd.read_csv(csv_folder / f"{table}.csv", keep_default_na=False, na_values=[""])
        booleans = {v.name for v in variables(frozen.columns(table)) if v.kind == "boolean"}
        if package == "sav":
            meaning[table]["booleans"] = set()
            for name in booleans:  # SPSS recodes yes/no with RECODE ('true'=1) ('false'=0)
                assert meaning[table]["recode"][name] == {"true": 1, "false": 0}
            csv[list(booleans)] = (
                csv[list(booleans)].astype(object).map(lambda value: value if pd.isna(value) else str(value).lower())
            )
        for name in data.columns:
            values = _applied(csv, name, meaning[table], meaning[table]["booleans"])
            assert _same(values, data[name].tolist()), (table, name)
            labels = meta.variable_value_labels.get(name, {})
            # Not the missing-data codes' labels (SPSS -97..-99, Stata .a-.c): the CSV leaves those values empty.
            exported = {int(k): v for k, v in labels.items() if not isinstance(k, str) and k >= 0}
            assert meaning[table]["values"].get(name, {}) == exported, (table, name)
