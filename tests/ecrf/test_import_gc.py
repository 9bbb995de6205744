"""While an import runs, the automatic garbage collection is paused (writer.young_collections_only); it is back on
afterwards, also when the import fails."""

import gc

import pytest

from ecrf.importing import Source, crf_import, writer


def test_collection_is_paused_inside_and_back_on_after_an_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), writer.young_collections_only():
        assert not gc.isenabled()
        raise RuntimeError("the import broke")
    assert gc.isenabled()


def test_an_import_leaves_collection_on(study, users, monkeypatch):
    seen = []
    original = writer.ImportRun.write
    monkeypatch.setattr(writer.ImportRun, "write", lambda run: (seen.append(gc.isenabled()), original(run)))

    crf_import(study=study, sources=[Source("vital_signs.csv", b"participant_id,study_day\n")], user=users["nurse"])
    assert seen == [False] and gc.isenabled()
