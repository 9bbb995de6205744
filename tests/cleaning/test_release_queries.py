"""Queries in the locked release: the table data/queries in every export format, described in the codebook, and
the count of waiting queries on the lock page."""

import io
import zipfile

import pandas as pd
import pyreadstat
import pytest

from analysis import exports, releases
from cleaning import services
from tests.analysis import release_data


@pytest.fixture
def queries(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    first = services.query_open(
        patient=patient_a, study_day=0, form="vital_signs", field="temperature_c", text="37.2?", user=users["monitor"]
    )
    services.query_answer(query=first, answer_code="confirmed_source", text="chart: 37.2", user=users["nurse"])
    services.query_close(query=first, text="ok", user=users["monitor"])
    second = services.query_open(patient=patient_b, study_day=1, form="", text="Consent?", user=users["data_manager"])
    return first, second


def test_the_release_holds_every_query_with_its_status_and_no_names(queries, study, users):
    first, second = queries
    release = release_data.lock(study, users["data_manager"])
    table = releases.read_table(releases.release_folder(release), "queries")
    rows = table.set_index("query_id").to_dict("index")
    assert set(rows) == {first.pk, second.pk}
    closed = rows[first.pk]
    assert (closed["participant_id"], closed["study_day"], closed["form"], closed["field"]) == (
        "MI-0001", 0, "vital_signs", "temperature_c",
    )  # fmt: skip
    assert (closed["origin"], closed["status"], closed["answer_code"]) == ("manual", "closed", "confirmed_source")
    assert closed["closed_at"] == first.history.latest().closed_at.isoformat()
    assert not closed["closed_by_system"] and not closed["changed_after_close"]
    waiting = rows[second.pk]
    assert (waiting["status"], waiting["study_day"], pd.isna(waiting["form"]), pd.isna(waiting["closed_at"])) == (
        "open", 1, True, True,
    )  # fmt: skip
    assert not any("user" in column or column.endswith("_by") for column in table.columns)
    codebook = releases.read_table(releases.release_folder(release), "codebook")
    described = set(codebook.loc[codebook["table"] == "queries", "variable"])
    assert described == set(table.columns)


def test_spss_labels_the_status_and_answer_codes(queries, study, users, tmp_path):
    release = release_data.lock(study, users["data_manager"])
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, "sav")))
    (name,) = [n for n in archive.namelist() if n.endswith("/queries.sav")]
    path = tmp_path / "queries.sav"
    path.write_bytes(archive.read(name))
    frame, _meta = pyreadstat.read_sav(str(path), apply_value_formats=True)
    assert sorted(frame["status"]) == ["Closed", "Open"]
    assert "Value confirmed against source" in set(frame["answer_code"])


def test_the_lock_page_counts_the_waiting_queries(client, queries, study, users):
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/releases/")
    (item,) = [item for item, _ in page.context["lock_form"].rows if item.key == "open_queries"]
    assert (item.count, item.cases) == (1, ["BG-0001"])
    assert f'href="/studies/{study.code}/queries/?status=waiting"' in page.content.decode()
