"""The study's language (Study.language, architecture §13): the labels and value labels of its releases' codebooks,
and with them the SPSS/Stata variable and value labels and the ODM texts, are in it; codes, variable names, the
data, SDTM and every other file are not, and the language of the user who locks or exports changes nothing."""

import io
import zipfile

import pandas as pd
import pyreadstat
import pytest
from django.utils import translation

from analysis import exports, releases
from analysis.frozen import FrozenRelease
from cohorts import setup
from tests.analysis import release_data

LABEL_COLUMNS = ["label", "value_labels"]


@pytest.fixture
def populated(study, site_a, site_b, arms, patient_a, patient_b, settings, tmp_path, monkeypatch):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    return study


def lock_in(study, user, language: str, reason: str):
    study.language = language
    study.save(update_fields=["language"])
    return release_data.lock(study, user, reason=reason)


def relock(study, user, language: str):
    releases.release_unlock(study=study, user=user, reason="relock in another language")
    return lock_in(study, user, language, "relock")


def row(frozen: FrozenRelease, table: str, variable: str) -> pd.Series:
    return frozen.columns(table).loc[variable]


def files(release) -> dict[str, str]:
    return {item["path"]: item["sha256"] for item in release.manifest["files"]}


def test_an_italian_study_s_codebook_has_italian_labels_and_the_same_codes(populated, users):
    manager = users["data_manager"]
    english = FrozenRelease(lock_in(populated, manager, "en-gb", "v1 in English"))
    italian = FrozenRelease(relock(populated, manager, "it"))

    assert italian.release.manifest["codebook_language"] == "it"
    assert row(english, "vital_signs", "temperature_c")["label"] == "temperature (°C)"
    assert row(italian, "vital_signs", "temperature_c")["label"] == "temperatura corporea (°C)"
    assert row(english, "patients", "status")["label"] == "Follow-up status"
    assert row(italian, "patients", "status")["label"] == "Stato del follow-up"
    assert (row(english, "patients", "smoking")["label"], row(italian, "patients", "smoking")["label"]) == (
        "Smoking",
        "Fumo",
    )
    assert "cpap = CPAP" in row(italian, "respiratory_support", "support")["value_labels"]
    assert "death = Decesso" in row(italian, "derived_days", "state")["value_labels"]
    # Everything but the labels is the same: names, types, units, ranges, codes, derivations.
    same = english.codebook.columns.difference(LABEL_COLUMNS)
    pd.testing.assert_frame_equal(english.codebook[same], italian.codebook[same])
    # The data are the same bytes.
    data = [path for path in files(english.release) if path.startswith("data/") and "codebook" not in path]
    assert data and all(files(english.release)[p] == files(italian.release)[p] for p in data)


def test_the_language_of_whoever_locks_changes_nothing(populated, users):
    manager = users["data_manager"]
    with translation.override("it"):
        first = lock_in(populated, manager, "en-gb", "locked by an Italian-speaking data manager")
    second = relock(populated, manager, "en-gb")
    tables = [path for path in files(first) if path.endswith(".parquet")]
    assert tables and {p: files(first)[p] for p in tables} == {p: files(second)[p] for p in tables}
    assert row(FrozenRelease(first), "patients", "status")["label"] == "Follow-up status"


def test_spss_labels_are_the_codebook_s_and_the_export_does_not_follow_the_downloader(populated, users, tmp_path):
    italian = lock_in(populated, users["data_manager"], "it", "Italian codebook")
    content = exports.export_bytes(italian, "sav")
    with translation.override("en-gb"):
        assert exports.export_bytes(italian, "sav") == content
    zipfile.ZipFile(io.BytesIO(content)).extractall(tmp_path)
    (path,) = tmp_path.rglob("respiratory_support.sav")
    _, meta = pyreadstat.read_sav(str(path))
    assert meta.column_names_to_labels["ecmo"] == "ECMO"
    assert meta.variable_value_labels["ecmo"] == {
        0: "no",
        1: "sì",
        -97: "non eseguito",
        -98: "sconosciuto",
        -99: "non applicabile",
    }


def test_sdtm_stays_english_and_odm_names_the_language_of_its_texts(populated, users):
    manager = users["data_manager"]
    english = lock_in(populated, manager, "en-gb", "v1 in English")
    sdtm_en = zipfile.ZipFile(io.BytesIO(exports.export_bytes(english, "sdtm")))
    italian = relock(populated, manager, "it")
    sdtm_it = zipfile.ZipFile(io.BytesIO(exports.export_bytes(italian, "sdtm")))
    for domain in ("ae", "rs", "vs"):
        (name_en,) = [n for n in sdtm_en.namelist() if n.endswith(f"sdtm/{domain}.csv")]
        (name_it,) = [n for n in sdtm_it.namelist() if n.endswith(f"sdtm/{domain}.csv")]
        assert sdtm_en.read(name_en) == sdtm_it.read(name_it)
    odm = zipfile.ZipFile(io.BytesIO(exports.export_bytes(italian, "odm")))
    (document,) = [n for n in odm.namelist() if n.endswith(".xml")]
    text = odm.read(document).decode()
    assert 'xml:lang="it">temperatura corporea (°C)</TranslatedText>' in text


def test_a_study_file_or_page_with_a_language_the_site_does_not_offer_is_refused(study, users):
    with pytest.raises(setup.SetupError) as refused:
        setup.study_update(study=study, data={"language": "de"}, user=users["data_manager"], reason="try German")
    assert "language" in str(refused.value)
    study.refresh_from_db()
    assert study.language == "en-gb"


def test_a_label_keeps_its_capitals_when_its_first_letter_is_raised(study):
    """'COPD' stays COPD (str.capitalize wrote 'Copd'), in English and Italian ('BPCO')."""
    from analysis.codebook import entries_for

    assert str(entries_for("patients", study)["copd"].label) == "COPD"
    with translation.override("it"):
        assert str(entries_for("patients", study)["copd"].label) == "BPCO"
