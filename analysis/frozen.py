"""A locked release as its frozen files hold it, for the exports and the reading scripts: its tables and codebook
(``FrozenRelease``; nothing here reads the live database tables), and each column of a table described from its
codebook row the way the statistical files and the scripts hold it (``variables``)."""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from django.utils import translation
from django.utils.translation import gettext

from analysis import archive, releases
from analysis.codebook import SEPARATOR
from analysis.models import Release
from cohorts.languages import STORED_LANGUAGE


def yes_no_labels(language: str = STORED_LANGUAGE) -> dict[int, str]:
    """The value labels of a yes/no variable in the statistical packages, in the codebook's language."""
    with translation.override(language):
        return {0: gettext("no"), 1: gettext("yes")}


class FrozenRelease:
    """The files of a release as written at lock time; nothing here reads the live database tables."""

    def __init__(self, release: Release):
        self.release = release
        self.folder = releases.release_folder(release)
        self.prefix = f"{release.study.code}_v{release.version}/"
        self.when = release.locked_at
        self._codebook: pd.DataFrame | None = None
        self._columns: dict[str, pd.DataFrame] = {}

    def arrow(self, table: str) -> pa.Table:
        return pq.read_table(self.folder / releases.table_path(table))

    def frame(self, table: str, arrow_strings: bool = False) -> pd.DataFrame:
        """A table as pandas; with ``arrow_strings`` its text columns stay pyarrow strings (for pyarrow's compute
        functions, no conversion per value)."""
        return _to_pandas(self.arrow(table), arrow_strings)

    @property
    def language(self) -> str:
        """The language of the codebook's labels and value labels (releases locked before it was chosen: English)."""
        return self.release.manifest.get("codebook_language", STORED_LANGUAGE)

    def raw(self, relative: str) -> bytes:
        return (self.folder / relative).read_bytes()

    @property
    def codebook(self) -> pd.DataFrame:
        if self._codebook is None:
            self._codebook = self.frame("codebook")
        return self._codebook

    def columns(self, table: str) -> pd.DataFrame:
        """Codebook rows of one table, indexed by variable."""
        if table not in self._columns:
            book = self.codebook
            self._columns[table] = book.loc[book["table"].eq(table)].set_index("variable")
        return self._columns[table]

    def extra_files(self) -> list[str]:
        """The manifest and the figures, copied into every export as they are (each zip gets its own README)."""
        figures = sorted(item["path"] for item in self.release.manifest["files"] if item["path"].startswith("figures/"))
        return [releases.MANIFEST, *figures]

    def archive(self, table: str, arrow_strings: bool = False) -> pd.DataFrame:
        """An archive table (analysis/archive.py: the audit trail, the users, the signers)."""
        return _to_pandas(pq.read_table(self.folder / archive.table_path(table)), arrow_strings)

    def rows(self, table: str) -> int | None:
        """Number of rows of a frozen table, from the manifest."""
        return next((item.get("rows") for item in self.release.manifest["files"] if item.get("table") == table), None)


def number_text(values: pd.Series) -> pd.Series:
    """Numbers of a release column as text in their shortest form (80 for 80.0, 37.2), pyarrow strings; missing
    stays missing. The ODM and SDTM exports write numbers with it."""
    numbers = pa.array(pd.to_numeric(values).astype("Float64").astype("float64"), from_pandas=True)
    return pd.Series(pd.arrays.ArrowStringArray(pc.cast(numbers, pa.string())), index=values.index)


def _to_pandas(table: pa.Table, arrow_strings: bool) -> pd.DataFrame:
    if not arrow_strings:
        return table.to_pandas()
    strings = pd.StringDtype("pyarrow")
    return table.to_pandas(types_mapper={pa.string(): strings, pa.large_string(): strings}.get)


def _codes(text) -> dict[int, str]:
    """'1 = room_air | 2 = hfnc' -> {1: 'room_air', 2: 'hfnc'}."""
    if text is None or text is pd.NA or text == "":
        return {}
    pairs = (item.split(" = ", 1) for item in str(text).split(SEPARATOR))
    return {int(number): code for number, code in pairs}


def value_labels_of(text) -> dict[str, str]:
    """A codebook row's value labels, 'room_air = Room air | cpap = CPAP', as {code: label} (empty when none)."""
    if text is None or text is pd.NA or text == "":
        return {}
    pairs = (item.split(" = ", 1) for item in str(text).split(SEPARATOR))
    return dict(pairs)


class Variable(NamedTuple):
    """How the statistical files and the reading scripts hold one column of a table, from its codebook row."""

    name: str
    label: str
    #: "number", "boolean", "coded" (text coded as integers 1..k) or "text".
    kind: str
    #: Coded text: integer -> stored code. Empty otherwise.
    codes: dict[int, str]
    #: Integer -> its label: yes/no, the coded text's labels, or the labelled numbers' (the ordinal scales).
    labels: dict[int, str]

    @property
    def measure(self) -> str:
        """SPSS measurement level: labelled numbers are the ordinal scales, other numbers scale, the rest nominal."""
        if self.kind == "number":
            return "ordinal" if self.labels else "scale"
        return "nominal"


def variables(book: pd.DataFrame, numeric_codes: bool = True, language: str = STORED_LANGUAGE) -> list[Variable]:
    """Every column of a table (its codebook rows, indexed by variable) as a Variable; with ``numeric_codes``
    False (SAS), coded text stays text. ``language``: the codebook's (``FrozenRelease.language``), for the yes/no
    labels the codebook does not spell out."""
    out = []
    yes_no = yes_no_labels(language)
    for name, info in book.iterrows():
        label = str(info["label"])
        if info["type"] == "boolean":
            out.append(Variable(name, label, "boolean", {}, dict(yes_no)))
        elif info["type"] in {"integer", "float"}:
            labels = {int(code): text for code, text in value_labels_of(info["value_labels"]).items()}
            out.append(Variable(name, label, "number", {}, labels))
        elif numeric_codes and _codes(info["sav_dta_codes"]):
            codes = _codes(info["sav_dta_codes"])
            labels = value_labels_of(info["value_labels"])
            out.append(Variable(name, label, "coded", codes, {n: labels.get(code, code) for n, code in codes.items()}))
        else:
            out.append(Variable(name, label, "text", {}, {}))
    return out
