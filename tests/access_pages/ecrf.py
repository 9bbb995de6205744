"""Pages of the ecrf app in the access table.

Readers (PATIENT_READERS) open every page of their sites' patients; only DATA_ENTRY roles may POST (monitor and
admin: 403); statisticians get 403 everywhere; nurse_b of the other site gets 404 for patient A's pages.
An empty POST of the entry page stores nothing and redirects to the casebook; an empty POST of an event form
is shown again with its messages (200).
"""

from cohorts import roles
from ecrf import import_jobs
from ecrf.models import AdverseEvent, DispositionEvent, DrugAdministration, ImportJob, VentilationEpisode
from tests.access_pages import EVERY_ROLE, Page


def _record(model, **values):
    def url(f):
        patient = f["patient_a"]
        record = model.objects.filter(patient=patient).first() or model.objects.create(
            patient=patient, study_day=2, **values
        )
        slug = {
            DrugAdministration: "drugs",
            DispositionEvent: "dispositions",
            AdverseEvent: "adverse-events",
            VentilationEpisode: "ventilation",
        }[model]
        return f"/patients/{patient.pk}/{slug}/{record.pk}/"

    return url


def import_job(f) -> ImportJob:
    """A finished import of the study with its list of problems."""
    job, _ = ImportJob.objects.get_or_create(
        study=f["study"], defaults={"status": "done", "language": "en-gb", "problems": 1, "file_names": ["x.csv"]}
    )
    folder = import_jobs.folder(job)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / import_jobs.PROBLEMS_FILE).write_text("file,row,column,code,message\n", encoding="utf-8")
    return job


DRUG = {"drug": "anakinra", "dose": 5, "dose_unit": "mg/kg", "route": "iv", "frequency": "bid"}
DISPOSITION = {"kind": "icu_admission"}
ADVERSE = {"kind": "thromboembolism"}
EPISODE = {"end_day": 4, "end_reason": "extubated"}

PAGES: list = [
    Page("csv import", lambda f: f"/studies/{f['study'].code}/import/", roles.IMPORTERS),
    Page("import format help", lambda f: "/help/import-format/", EVERY_ROLE),
    Page("csv import template", lambda f: f"/studies/{f['study'].code}/import/vital_signs.csv", roles.IMPORTERS),
    Page("csv import upload", lambda f: f"/studies/{f['study'].code}/import/", roles.IMPORTERS, method="post"),
    Page("csv import job", lambda f: f"/imports/{import_job(f).pk}/", roles.IMPORTERS),
    Page("csv import problems", lambda f: f"/imports/{import_job(f).pk}/problems.csv", roles.IMPORTERS),
    Page(
        "csv import cancel",
        lambda f: f"/imports/{import_job(f).pk}/cancel/",
        roles.IMPORTERS,
        method="post",
        ok_statuses=(302,),
    ),
    Page(
        "dashboard",
        lambda f: f"/studies/{f['study'].code}/dashboard/",
        frozenset({roles.INVESTIGATOR, roles.DATA_MANAGER, roles.MONITOR}),
    ),
    Page("casebook", lambda f: f"/patients/{f['patient_a'].pk}/", roles.PATIENT_READERS, patient_scoped=True),
    Page(
        "casebook freeze post",
        lambda f: f"/patients/{f['patient_a'].pk}/freeze/",
        roles.LOCKERS,
        patient_scoped=True,
        method="post",
    ),
    Page("day entry", lambda f: f"/patients/{f['patient_a'].pk}/day/3/", roles.PATIENT_READERS, patient_scoped=True),
    Page(
        "oxygen criterion",
        lambda f: f"/patients/{f['patient_a'].pk}/oxygen-criterion/",
        roles.PATIENT_READERS,
        patient_scoped=True,
    ),
    Page(
        "oxygen criterion save",
        lambda f: f"/patients/{f['patient_a'].pk}/oxygen-criterion/",
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="post",
    ),
    Page(
        "day entry save",
        lambda f: f"/patients/{f['patient_a'].pk}/day/3/",
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="post",
        ok_statuses=(302,),
    ),
]
for slug, model, values in (
    ("drugs", DrugAdministration, DRUG),
    ("dispositions", DispositionEvent, DISPOSITION),
    ("adverse-events", AdverseEvent, ADVERSE),
    ("ventilation", VentilationEpisode, EPISODE),
):
    PAGES += [
        Page(
            f"{slug} add",
            lambda f, slug=slug: f"/patients/{f['patient_a'].pk}/{slug}/add/?day=1",
            roles.PATIENT_READERS,
            patient_scoped=True,
        ),
        Page(
            f"{slug} add save",
            lambda f, slug=slug: f"/patients/{f['patient_a'].pk}/{slug}/add/",
            roles.DATA_ENTRY,
            patient_scoped=True,
            method="post",
        ),
        Page(f"{slug} edit", _record(model, **values), roles.PATIENT_READERS, patient_scoped=True),
        Page(
            f"{slug} edit save",
            _record(model, **values),
            roles.DATA_ENTRY,
            patient_scoped=True,
            method="post",
        ),
    ]
