"""The Italian catalogue is complete and current: every template text is marked, makemessages finds no message the
catalogue lacks, no message is untranslated or fuzzy, msgfmt accepts it and the compiled .mo is the .po's."""

import os
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.i18n.unmarked import template_files, unmarked_text

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "locale/it/LC_MESSAGES/django.po"
MO = PO.with_suffix(".mo")
# What makemessages reads: the project's code and templates, not the tests, benchmarks or the virtualenv.
SOURCES = ["accounts", "analysis", "api", "cleaning", "cohorts", "config", "demo", "ecrf", "fhir_pull", "templates"]
needs_gettext = pytest.mark.skipif(
    shutil.which("xgettext") is None and not os.environ.get("CI"),
    reason="GNU gettext is not installed (make test installs it)",
)


def _translated(entry: polib.POEntry) -> bool:
    if entry.msgid_plural:
        return bool(entry.msgstr_plural) and all(entry.msgstr_plural.values())
    return bool(entry.msgstr)


def test_every_template_text_is_marked_for_translation():
    unmarked = [
        f"{path.relative_to(ROOT)}:{line}: {text}" for path in template_files() for line, text in unmarked_text(path)
    ]
    assert unmarked == [], "text outside {% translate %}:\n" + "\n".join(unmarked)


def test_the_italian_catalogue_has_no_untranslated_or_fuzzy_message():
    catalogue = polib.pofile(str(PO))
    assert len(catalogue) > 500
    assert [entry.msgid for entry in catalogue if not _translated(entry)] == []
    assert [entry.msgid for entry in catalogue if "fuzzy" in entry.flags] == []
    assert catalogue.obsolete_entries() == []


def test_the_compiled_catalogue_is_the_current_one():
    source = {(e.msgctxt, e.msgid): (e.msgstr, dict(e.msgstr_plural)) for e in polib.pofile(str(PO)) if e.msgid}
    compiled = {(e.msgctxt, e.msgid): (e.msgstr, dict(e.msgstr_plural)) for e in polib.mofile(str(MO)) if e.msgid}
    assert compiled == source, "run: python manage.py compilemessages"


@needs_gettext
def test_msgfmt_accepts_the_catalogue():
    subprocess.run(["msgfmt", "--check", "-o", os.devnull, str(PO)], check=True, capture_output=True)


@needs_gettext
def test_makemessages_finds_no_message_missing_from_the_catalogue(tmp_path, monkeypatch):
    for name in SOURCES:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__", "migrations"))
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[tmp_path / "locale"]):
        (tmp_path / "locale").mkdir()
        call_command("makemessages", locale=["it"], verbosity=0)
    fresh = {(e.msgctxt, e.msgid) for e in polib.pofile(str(tmp_path / "locale/it/LC_MESSAGES/django.po"))}
    committed = {(e.msgctxt, e.msgid) for e in polib.pofile(str(PO))}
    assert sorted(fresh - committed, key=str) == [], "run: python manage.py makemessages -l it, then translate"
    assert sorted(committed - fresh, key=str) == [], "the catalogue has messages the code no longer uses"
