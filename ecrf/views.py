"""Pages of the daily case report forms: thin views that parse, call a selector or a service, and render.

Who may do what (cohorts/roles.py): patient readers see the pages of their sites (another site's patient is a
404); only DATA_ENTRY roles may save (monitor and admin get 403 on POST); statisticians see no patient page.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cohorts import roles, submissions
from cohorts import services as cohort_services
from cohorts.audit import ConcurrentEdit
from cohorts.clock import site_zone
from cohorts.querystring import query_number
from ecrf import crfs, page_notes, selectors, services
from ecrf.forms import DAY_FORM_CLASSES, EVENT_FORM_CLASSES, DeleteForm, FreezeForm, OxygenCriterionForm, ReasonForm
from ecrf.models import DispositionKind
from ecrf.services import PatientDayInvalid
from ecrf.validators import PatientFacts, day_issues

READ_ONLY = gettext_lazy("Your role can read these data but not change them.")


def _can_edit(user, patient) -> bool:
    return roles.has_study_role(user, patient.study, roles.DATA_ENTRY, site=patient.site)


def _can_raise(user, patient) -> bool:
    """May raise a query about the patient's data (the cleaning app's page)."""
    return not patient.study.is_locked and roles.has_study_role(
        user, patient.study, roles.QUERY_RAISERS, site=patient.site
    )


def _casebook_url(patient, study_day=None) -> str:
    url = reverse("casebook", args=[patient.pk])
    return f"{url}#day-{study_day}" if study_day is not None else url


@roles.role_required(roles.PATIENT_READERS)
def day_entry(request, patient_pk: int, study_day: int):
    """The one-per-day forms of a patient-day on one page, saved together."""
    patient = selectors.patient_get(user=request.user, pk=patient_pk)
    selectors.check_day(patient, study_day)
    can_edit = _can_edit(request.user, patient)
    facts = PatientFacts.of(patient, patient.death_day)
    page_errors: list[str] = []
    site = {"laboratory": {"site": patient.site}}
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(READ_ONLY)
        if submissions.repeated(request):
            return submissions.already_submitted(request, _casebook_url(patient, study_day))
        forms = {
            key: cls(request.POST, prefix=key, facts=facts, **site.get(key, {}))
            for key, cls in DAY_FORM_CLASSES.items()
        }
        reason_form = ReasonForm(request.POST, prefix="page")
        checked = [form.is_valid() for form in (*forms.values(), reason_form)]  # every form, for every message
        if all(checked):
            try:
                outcome = submissions.submit_once(
                    request,
                    lambda: services.patient_day_save(
                        patient=patient,
                        study_day=study_day,
                        entries={key: form.entry() for key, form in forms.items()},
                        user=request.user,
                        reason=reason_form.cleaned_data["reason"],
                    ),
                )
            except PatientDayInvalid as exc:
                for key, error in exc.errors.items():
                    forms[key].add_service_error(error)
                if exc.reason is not None:  # one message, naming the forms that change saved data
                    reason_form.add_service_error(exc.reason)
            except ValidationError as exc:
                page_errors = exc.messages
            else:
                if outcome.repeated:
                    return submissions.already_submitted(request, _casebook_url(patient, study_day))
                messages.success(
                    request,
                    _("Study day %(day)s of %(participant)s saved.")
                    % {"day": study_day, "participant": patient.participant_id},
                )
                return redirect(_casebook_url(patient, study_day))
        records = selectors.day_records(patient=patient, study_day=study_day)
        for key, form in forms.items():
            form.show_previous(records.previous.get(key))
            # A refused save shows the typed values, but the badge and history link are the stored record's.
            form.stored = records.current.get(key)
    else:
        records = selectors.day_records(patient=patient, study_day=study_day)
        # After the day of death nothing can be entered; records already there stay editable (to be deleted).
        closed = bool(day_issues(study_day, facts)) and not records.current
        forms = {
            key: cls(
                instance=records.current.get(key),
                prefix=key,
                facts=facts,
                previous=records.previous.get(key),
                read_only=not can_edit or patient.study.is_locked or closed or patient.frozen_since is not None,
                **site.get(key, {}),
            )
            for key, cls in DAY_FORM_CLASSES.items()
        }
        reason_form = ReasonForm(prefix="page")
        first = next(iter(forms.values()))
        if not first.read_only:
            # The cursor starts in the first box of the day; Tab walks down the forms in the catalogue's order.
            next(iter(first.fields.values())).widget.attrs["autofocus"] = True
    notes = page_notes.collect(page_notes.day_page, patient=patient, study_day=study_day, user=request.user)
    for key, form in forms.items():
        form.attach_notes({name: items for (form_key, name, _), items in notes.items() if form_key == key})
    day_refusals = day_issues(study_day, facts)
    return render(
        request,
        "ecrf/day_entry.html",
        {
            "patient": patient,
            "study_day": study_day,
            "date": selectors.day_date(patient, study_day),
            "forms": forms,
            "records": records,
            "reason_form": reason_form,
            "show_reason": bool(records.current),
            "page_errors": page_errors,
            "has_errors": any(form.errors for form in forms.values()) or bool(reason_form.errors),
            "day_refusals": day_refusals,
            "can_edit": can_edit and not patient.study.is_locked and not next(iter(forms.values())).read_only,
            "can_raise": _can_raise(request.user, patient),
            "submission_token": submissions.page_token(request),
            "previous_day": study_day - 1 if study_day > 0 else None,
            "next_day": study_day + 1 if study_day < patient.study.follow_up_days else None,
        },
    )


@roles.role_required(roles.PATIENT_READERS)
def casebook(request, patient_pk: int, freeze_form: FreezeForm | None = None):
    book = selectors.casebook_get(user=request.user, patient_pk=patient_pk)
    notes = page_notes.collect(page_notes.casebook, patient=book.patient, user=request.user)
    for day in book.days:
        day.notes = {key: items for (study_day, key), items in notes.items() if study_day == day.study_day}
    return render(
        request,
        "ecrf/casebook.html",
        {
            "book": book,
            "patient": book.patient,
            "can_edit": _can_edit(request.user, book.patient)
            and not book.patient.study.is_locked
            and book.patient.frozen_since is None,
            "can_raise": _can_raise(request.user, book.patient),
            "can_freeze": not book.patient.study.is_locked
            and roles.has_study_role(request.user, book.patient.study, roles.LOCKERS, site=book.patient.site),
            "freeze_form": freeze_form or FreezeForm(prefix="freeze"),
            "day_forms": crfs.DAY_FORMS,
            "event_forms": crfs.EVENT_FORMS,
            "shows_oxygen_criterion": book.patient.oxygen_criterion_at is not None
            or cohort_services.records_oxygen_criterion(book.patient.study),
        },
    )


@roles.role_required(roles.PATIENT_READERS)
def oxygen_criterion(request, patient_pk: int):
    """Correct when the oxygen criterion was met (clinical definitions §1.2), in the site's time zone, with a
    reason; its readers see it read-only."""
    patient = selectors.patient_get(user=request.user, pk=patient_pk)
    can_edit = _can_edit(request.user, patient) and not patient.study.is_locked and patient.frozen_since is None
    zone = site_zone(patient.site)
    initial = {"oxygen_criterion_at": patient.oxygen_criterion_at, "version": patient.version}
    form = OxygenCriterionForm(request.POST or None, initial=initial, zone=zone)
    if request.method == "POST":
        if not can_edit:
            raise PermissionDenied(READ_ONLY)
        if form.is_valid():
            try:
                cohort_services.patient_update(
                    patient=patient,
                    changes={"oxygen_criterion_at": form.cleaned_data["oxygen_criterion_at"]},
                    expected_version=form.cleaned_data["version"],
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                )
            except ConcurrentEdit:
                form.add_error(None, _("Someone else changed this patient after you opened the page: reload it."))
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                messages.success(
                    request,
                    _("The time the oxygen criterion was met is saved for %(participant)s.")
                    % {"participant": patient.participant_id},
                )
                return redirect(_casebook_url(patient))
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request, "ecrf/oxygen_criterion.html", {"patient": patient, "form": form, "can_edit": can_edit, "zone": zone}
    )


@require_POST
@roles.role_required(roles.LOCKERS)
def casebook_freeze(request, patient_pk: int):
    """Freeze the casebook, or unfreeze it (``action``), with a reason (data managers); a refusal shows the casebook
    again with the message next to the reason."""
    patient = selectors.patient_get(user=request.user, pk=patient_pk)
    form = FreezeForm(request.POST, prefix="freeze")
    unfreeze = request.POST.get("action") == "unfreeze"
    if form.is_valid():
        act = cohort_services.patient_unfreeze if unfreeze else cohort_services.patient_freeze
        try:
            act(patient=patient, user=request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            if unfreeze:
                done = _("The casebook of %(participant)s is unfrozen: data can be changed again.")
            else:
                done = _("The casebook of %(participant)s is frozen: no data of it can change.")
            messages.success(request, done % {"participant": patient.participant_id})
            return redirect(_casebook_url(patient))
    return casebook(request, patient_pk=patient.pk, freeze_form=form)


@roles.role_required(roles.PATIENT_READERS)
def event_form(request, patient_pk: int, kind: str, pk: int | None = None):
    """Add (pk None) or edit a drug administration, disposition event or adverse event."""
    crf = crfs.event_form_of_slug(kind)
    if crf is None:
        raise Http404(_("No such kind of record."))
    patient = selectors.patient_get(user=request.user, pk=patient_pk)
    record = selectors.event_get(patient=patient, crf=crf, pk=pk) if pk is not None else None
    can_edit = _can_edit(request.user, patient)
    death_day = patient.death_day
    if record is not None and getattr(record, "kind", None) == DispositionKind.DEATH:
        death_day = None  # editing the death itself
    facts = PatientFacts.of(patient, death_day)
    cls = EVENT_FORM_CLASSES[crf.key]
    page_errors: list[str] = []
    delete_form = DeleteForm(prefix="delete", initial={"version": record.version}) if record is not None else None
    if request.method == "POST" and request.POST.get("action") == "delete" and record is not None:
        if not can_edit:
            raise PermissionDenied(READ_ONLY)
        delete_form = DeleteForm(request.POST, prefix="delete")
        if delete_form.is_valid():
            try:
                services.record_delete(
                    record=record,
                    expected_version=delete_form.cleaned_data["version"],
                    user=request.user,
                    reason=delete_form.cleaned_data["reason"],
                )
            except ValidationError as exc:
                delete_form.add_service_error(exc)
            else:
                messages.success(
                    request,
                    _("%(form)s of %(participant)s deleted.")
                    % {"form": crf.label, "participant": patient.participant_id},
                )
                return redirect(_casebook_url(patient, record.study_day))
        form = cls(instance=record, prefix="event", facts=facts)
    elif request.method == "POST":
        if not can_edit:
            raise PermissionDenied(READ_ONLY)
        if done := submissions.repeated(request):
            return _event_submitted(request, patient, done)
        form = cls(request.POST, instance=record, prefix="event", facts=facts)
        if form.is_valid():
            try:
                outcome = submissions.submit_once(
                    request,
                    lambda: services.event_save(
                        form=crf.key,
                        patient=patient,
                        entry=form.entry(),
                        record=record,
                        user=request.user,
                        reason=form.cleaned_data.get("reason"),
                    ),
                )
            except ValidationError as exc:
                if hasattr(exc, "error_dict"):
                    form.add_service_error(exc)
                else:
                    page_errors = exc.messages
            else:
                if outcome.repeated:
                    return _event_submitted(request, patient, outcome)
                saved = outcome.obj
                messages.success(
                    request,
                    _("%(form)s of %(participant)s saved (study day %(day)s).")
                    % {"form": crf.label, "participant": patient.participant_id, "day": saved.study_day},
                )
                return redirect(_casebook_url(patient, saved.study_day))
    else:
        initial = {}
        day = query_number(request.GET.get("day", ""))
        if record is None and day is not None:
            initial["study_day"] = day
        form = cls(
            instance=record,
            prefix="event",
            facts=facts,
            initial=initial,
            read_only=not can_edit or patient.study.is_locked or patient.frozen_since is not None,
        )
    if record is not None:
        notes = page_notes.collect(page_notes.day_page, patient=patient, study_day=record.study_day, user=request.user)
        form.attach_notes(
            {name: items for (key, name, pk), items in notes.items() if key == crf.key and pk in (None, record.pk)}
        )
    return render(
        request,
        "ecrf/event_form.html",
        {
            "patient": patient,
            "form": form,
            "record": record,
            "kind": kind,
            "page_errors": page_errors,
            "delete_form": delete_form,
            "can_edit": can_edit and not patient.study.is_locked and patient.frozen_since is None,
            "can_raise": record is not None and _can_raise(request.user, patient),
            "form_key": crf.key,
            "history_name": crf.history_name,
            "submission_token": submissions.page_token(request),
        },
    )


def _event_submitted(request, patient, outcome: submissions.Outcome):
    """An event form sent again: to the day of the record its first submission saved."""
    day = getattr(outcome.obj, "study_day", None)
    return submissions.already_submitted(request, _casebook_url(patient, day))
