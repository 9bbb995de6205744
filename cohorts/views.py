"""Thin views: parse, call a selector or service, render (DESIGN.md)."""

from django.apps import apps
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render

from cohorts import roles, selectors
from cohorts.history import history_rows


@login_required
def home(request):
    studies = selectors.studies_for_user(request.user).order_by("code")
    return render(request, "home.html", {"studies": studies})


# Models whose history page exists, and how to reach the patient that scopes them to a site.
HISTORY_MODELS = {
    "cohorts.patient": "self",
    "ecrf.vitalsigns": "patient",
    "ecrf.respiratorysupport": "patient",
    "ecrf.labresult": "patient",
    "ecrf.drugadministration": "patient",
    "ecrf.dispositionevent": "patient",
    "ecrf.adverseevent": "patient",
}


@roles.role_required(roles.PATIENT_READERS)
def record_history(request, model: str, pk: int):
    if model not in HISTORY_MODELS:
        raise Http404("No history for this kind of record.")
    model_class = apps.get_model(model)
    patients = selectors.patients_for_user(request.user)
    rows = model_class.history.filter(id=pk).select_related("history_user").order_by("history_date", "history_id")
    if not rows:
        raise Http404("No such record.")
    latest = rows[len(rows) - 1]
    patient_pk = latest.id if HISTORY_MODELS[model] == "self" else latest.patient_id
    patient = patients.filter(pk=patient_pk).first()
    if patient is None:
        raise Http404("No such record at your sites.")
    return render(
        request,
        "history.html",
        {
            "patient": patient,
            "model_name": model_class._meta.verbose_name,
            "record_pk": pk,
            "rows": history_rows(list(rows)),
        },
    )
