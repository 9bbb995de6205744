"""Every write of a query: raise, answer, comment, close, reopen (keyword-only, atomic, one message each).

Who may do what is checked here, for every caller (the pages and the API): raising needs a role of
``roles.QUERY_RAISERS`` at the patient's site, answering one of ``QUERY_ANSWERERS`` (the site's staff), closing
and reopening one of ``QUERY_CLOSERS``. Callers fetch the patient or the query through the site-scoped
selectors, so another site's query is a 404 before it gets here. Every transition is one ``QueryMessage`` and one
history row of the query.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from celery import current_app
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cleaning import rule_job
from cleaning.models import (
    RUN_PENDING,
    RUN_PENDING_MESSAGE,
    AnswerCode,
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    RuleRun,
    RunStatus,
)
from cleaning.transitions import closed, reopened
from cleaning.values import field_value, record_of
from cohorts import roles
from cohorts.audit import ensure_unlocked
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Patient, Study
from ecrf.crfs import CATALOGUE, display_value

TEXT_MAX = 2000
logger = logging.getLogger(__name__)


def _refuse(field: str, message: str, code: str) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code)})


def _require_role(user, patient: Patient, allowed: frozenset[str], doing: str) -> None:
    if not roles.has_study_role(user, patient.study, allowed, site=patient.site):
        raise PermissionDenied(f"Your role at this patient's site cannot {doing}.")


def _text(text: str | None, *, required: str) -> str:
    """The message, stripped; ``required``: the refusal of an empty one ("Write a message: ...")."""
    text = (text or "").strip()
    if not text:
        raise _refuse("text", required, "text_required")
    if len(text) > TEXT_MAX:
        raise _refuse(
            "text",
            _("The message has %(length)s characters; at most %(max)s.") % {"length": len(text), "max": TEXT_MAX},
            "text_too_long",
        )
    return text


def _message(query: Query, kind: str, *, author=None, text: str = "", answer_code: str = "", at=None) -> None:
    QueryMessage.objects.create(
        query=query, kind=kind, author=author, text=text, answer_code=answer_code, created_at=at or timezone.now()
    )


def _save(query: Query, *, user, reason: str) -> Query:
    query._history_user = user
    query._change_reason = reason
    query.save()
    return query


@dataclass(frozen=True)
class Target:
    """What a query is about, checked against the form catalogue and the patient's follow-up."""

    study_day: int | None
    form: str
    field: str
    record_id: int | None


def check_target(
    patient: Patient, *, study_day: int | None, form: str, field: str, record_id: int | None = None
) -> Target:
    """The refusal of a query about something that does not exist: a form or field not in the catalogue, a day
    outside the follow-up, a record that is not this patient's (ValidationError on that field)."""
    form, field = (form or "").strip(), (field or "").strip()
    problems = {}  # every refusal of the day and of the form and field at once, each next to its field
    if study_day is not None and not 0 <= study_day <= patient.study.follow_up_days:
        problems["study_day"] = ValidationError(
            _("Study day %(day)s is outside the follow-up of 0 to %(last)s.")
            % {"day": study_day, "last": patient.study.follow_up_days},
            code="day_outside_follow_up",
        )
    elif form and study_day is None:
        problems["study_day"] = ValidationError(_("A query on a form names its study day."), code="day_required")
    if form and form not in CATALOGUE:
        problems["form"] = ValidationError(_("There is no form '%(form)s'.") % {"form": form}, code="unknown_form")
    elif field and not form:
        problems["field"] = ValidationError(_("Name the form of the field."), code="field_needs_form")
    elif field and field not in CATALOGUE[form].fields:
        problems["field"] = ValidationError(
            _("The form %(form)s has no field '%(field)s'.") % {"form": CATALOGUE[form].label, "field": field},
            code="unknown_field",
        )
    if problems:
        raise ValidationError(problems)
    if record_id is not None:
        if not form or CATALOGUE[form].per_day:
            raise _refuse("form", _("Only a record of a repeating form is named by its id."), "record_not_repeating")
        if record_of(patient, CATALOGUE[form], study_day, record_id) is None:
            raise _refuse("form", _("This patient has no such record on that day."), "unknown_record")
    return Target(study_day, form, field, record_id)


@transaction.atomic
def query_open(
    *,
    patient: Patient,
    study_day: int | None,
    form: str,
    field: str = "",
    text: str,
    user,
    record_id: int | None = None,
    assignee=None,
    source: str = "",
) -> Query:
    """Raise a manual query at the patient's site. ``source`` prefixes the history's reason (the API's "api: ")."""
    _require_role(user, patient, roles.QUERY_RAISERS, "raise a query")
    ensure_unlocked(patient.study)
    target = check_target(patient, study_day=study_day, form=form, field=field, record_id=record_id)
    text = _text(text, required=_("Write a message: the question to the site."))
    if assignee is not None and not roles.has_study_role(
        assignee, patient.study, roles.QUERY_ANSWERERS, site=patient.site
    ):
        raise _refuse(
            "assignee",
            _("%(user)s does not enter data at %(site)s.") % {"user": assignee, "site": patient.site.code},
            "assignee_not_site_staff",
        )
    value = ""
    if target.field:
        value = field_value(patient, CATALOGUE[target.form], target.study_day, target.field, target.record_id)
    now = timezone.now()
    query = _save(
        Query(
            study=patient.study,
            patient=patient,
            study_day=target.study_day,
            form=target.form,
            field=target.field,
            record_id=target.record_id,
            origin=QueryOrigin.MANUAL,
            text=text,
            value_at_open=value,
            assignee=assignee,
            opened_by=user,
            opened_at=now,
        ),
        user=user,
        reason=source + "query raised",
    )
    _message(query, MessageKind.OPENED, author=user, text=text, at=now)
    return query


def _locked_query(query: Query) -> Query:
    """The query's row, locked for the transition (two people answering and closing at once are serialised)."""
    return Query.objects.select_for_update().select_related("study", "patient__site", "patient__study").get(pk=query.pk)


def _last_opened(query: Query):
    return (
        query.messages.filter(kind__in=[MessageKind.OPENED, MessageKind.REOPENED, MessageKind.REOPENED_BY_SYSTEM])
        .order_by("-created_at", "-pk")
        .values_list("created_at", flat=True)
        .first()
    )


@transaction.atomic
def query_answer(*, query: Query, answer_code: str, text: str, user, source: str = "") -> Query:
    """The site's answer: a code and a message. 'Corrected' needs a change of the data saved since the query was
    raised (through the normal form, with its reason for change), which the thread already shows."""
    query = _locked_query(query)
    _require_role(user, query.patient, roles.QUERY_ANSWERERS, "answer a query")
    ensure_unlocked(query.study)
    if query.status == QueryStatus.CLOSED:
        raise _refuse(
            "answer_code",
            _("This query is closed; it cannot be answered. Ask a monitor to reopen it."),
            "query_closed",
        )
    if answer_code not in AnswerCode.values:
        raise _refuse("answer_code", _("Choose an answer."), "answer_code_invalid")
    text = _text(text, required=_("Write a message: the answer to the question."))
    if answer_code == AnswerCode.CORRECTED:
        since = _last_opened(query)
        changed = query.messages.filter(kind=MessageKind.DATA_CHANGED, created_at__gte=since).exists()
        if not changed:
            raise _refuse(
                "answer_code",
                _(
                    "No change of these data was saved since the query was raised: correct the value on its form "
                    "first (with the reason for change), then answer 'Corrected'."
                ),
                "correction_not_saved",
            )
    now = timezone.now()
    query.status = QueryStatus.ANSWERED
    query.answer_code = answer_code
    query.answered_at = now
    with translation.override(STORED_LANGUAGE):  # the history's reason, in the stored language
        answered = f"{source}answered: {AnswerCode(answer_code).label}"
    _save(query, user=user, reason=answered)
    _message(query, MessageKind.ANSWERED, author=user, text=text, answer_code=answer_code, at=now)
    return query


@transaction.atomic
def query_comment(*, query: Query, text: str, user) -> Query:
    """A message in the thread of an open or answered query, by anyone who may raise or answer queries."""
    query = _locked_query(query)
    _require_role(user, query.patient, roles.QUERY_RAISERS | roles.QUERY_ANSWERERS, "comment on a query")
    ensure_unlocked(query.study)
    if query.status == QueryStatus.CLOSED:
        raise _refuse("text", _("This query is closed; reopen it to continue the thread."), "query_closed")
    _message(query, MessageKind.COMMENT, author=user, text=_text(text, required=_("Write a message: the comment.")))
    return query


@transaction.atomic
def query_close(*, query: Query, text: str, user, source: str = "") -> Query:
    """Close an open or answered query (monitors and data managers), with a message saying why."""
    query = _locked_query(query)
    _require_role(user, query.patient, roles.QUERY_CLOSERS, "close a query")
    ensure_unlocked(query.study)
    if query.status == QueryStatus.CLOSED:
        raise _refuse("text", _("This query is already closed."), "query_closed")
    text = _text(text, required=_("Write a message: why the query is closed."))
    now = timezone.now()
    closed(query, at=now, by=user)
    _save(query, user=user, reason=source + "closed")
    _message(query, MessageKind.CLOSED, author=user, text=text, at=now)
    return query


@transaction.atomic
def query_reopen(*, query: Query, text: str, user, source: str = "") -> Query:
    """Reopen a closed query (monitors and data managers), with a message saying why."""
    query = _locked_query(query)
    _require_role(user, query.patient, roles.QUERY_CLOSERS, "reopen a query")
    ensure_unlocked(query.study)
    if query.status != QueryStatus.CLOSED:
        raise _refuse("text", _("Only a closed query can be reopened."), "query_not_closed")
    text = _text(text, required=_("Write a message: why the query is reopened."))
    reopened(query)
    _save(query, user=user, reason=source + "reopened")
    _message(query, MessageKind.REOPENED, author=user, text=text)
    return query


# ------------------------------------------------------------------------------------------ data changes


def change_text(form: str, row) -> tuple[frozenset[str], str]:
    """The fields a history row changed and the sentence of its 'data changed' message."""
    crf = CATALOGUE[form]
    reason = row.history_change_reason or ""
    if row.history_type == "-":
        return frozenset(), f"{crf.label} record deleted (reason: {reason})"
    previous = row.prev_record
    if row.history_type == "+" or previous is None:
        return frozenset(), f"{crf.label} entered (reason: {reason})"
    delta = row.diff_against(previous, included_fields=[*crf.fields, "not_done_reason"])
    fields = {change.field for change in delta.changes}
    model = crf.model
    parts = [
        f"{model._meta.get_field(c.field).verbose_name}: {display_value(previous, c.field) or 'empty'} -> "
        f"{display_value(row, c.field) or 'empty'}"
        for c in delta.changes
    ]
    old_codes, new_codes = previous.missing_codes or {}, row.missing_codes or {}
    for name in sorted(set(old_codes) | set(new_codes)):
        if old_codes.get(name) != new_codes.get(name):  # a missing-data code given, changed or taken away
            fields.add(name)
            parts.append(
                f"missing-data code of {model._meta.get_field(name).verbose_name}: "
                f"{old_codes.get(name, 'none')} -> {new_codes.get(name, 'none')}"
            )
    return frozenset(fields), f"{'; '.join(parts) or crf.label + ' saved'} (reason: {reason})"


def changes_record(rows: Iterable[tuple[str, object]]) -> int:
    """Add a 'data changed' message to every query about a changed record (and field), and flag the closed ones
    'changed after close'. ``rows`` are (form key, history row) of the saves of one transaction. One read of the
    queries of the changed patients, then one read per history row that a query is about; returns the messages
    written."""
    rows = list(rows)
    if not rows:
        return 0
    with translation.override(STORED_LANGUAGE):  # the messages are stored: in the stored language, not the user's
        return _changes_record(rows)


def _changes_record(rows: list) -> int:
    queries = Query.objects.filter(
        patient_id__in={row.patient_id for _form, row in rows}, form__in={form for form, _row in rows}
    ).only("pk", "patient_id", "study_day", "form", "field", "record_id", "status", "changed_after_close")
    by_place: dict[tuple, list[Query]] = {}
    for query in queries:
        by_place.setdefault((query.patient_id, query.study_day, query.form), []).append(query)
    messages, flagged = [], set()
    for form, row in rows:
        about = [
            query
            for query in by_place.get((row.patient_id, row.study_day, form), [])
            if query.record_id is None or query.record_id == row.id
        ]
        if not about:
            continue
        fields, text = change_text(form, row)
        for query in about:
            if query.field and fields and query.field not in fields:
                continue
            messages.append(
                QueryMessage(
                    query=query,
                    kind=MessageKind.DATA_CHANGED,
                    author_id=row.history_user_id,
                    text=text,
                    history_model=CATALOGUE[form].history_name,
                    history_record=row.id,
                    created_at=row.history_date,
                )
            )
            if query.status == QueryStatus.CLOSED and not query.changed_after_close:
                flagged.add(query.pk)
    QueryMessage.objects.bulk_create(messages)
    for query in Query.objects.filter(pk__in=flagged):
        query.changed_after_close = True
        _save(query, user=None, reason="data changed after close")
    return len(messages)


# ------------------------------------------------------------------------------------------ rule runs

#: The Celery task (cleaning/tasks.py) that runs a RuleRun; queued by name, so this module does not import tasks.
RULES_TASK = "cleaning.run_rules"
#: The hard time limit of that task: a run queued or running for longer has lost its worker (or its message).
RULES_TIME_LIMIT = datetime.timedelta(minutes=30)


def _lost_runs_failed(study: Study, now) -> None:
    """Fail the study's pending run that no worker can still be on, so that a new one can be asked for."""
    RuleRun.objects.filter(study=study, status__in=RUN_PENDING, created_at__lt=now - RULES_TIME_LIMIT).filter(
        Q(started_at__isnull=True) | Q(started_at__lt=now - RULES_TIME_LIMIT)
    ).update(status=RunStatus.FAILED, finished_at=now, error="No worker finished this run in time; it was given up.")


def rules_request(*, study: Study, user) -> RuleRun:
    """Queue a run of the data-quality rules over the whole study (monitors and data managers); its task starts
    once the run is committed. Refused: a locked study, a run already queued or running (the constraint
    ``rule_run_one_pending_per_study``, also when two clicks arrive at once)."""
    if not roles.has_study_role(user, study, roles.QUERY_CLOSERS):
        raise PermissionDenied("Your role in this study cannot run the data-quality rules.")
    ensure_unlocked(study)
    _lost_runs_failed(study, timezone.now())
    run = RuleRun(study=study, requested_by=user)
    try:
        with transaction.atomic():
            run.save()
            transaction.on_commit(lambda: current_app.send_task(RULES_TASK, args=[run.pk]))
    except IntegrityError:
        raise ValidationError(RUN_PENDING_MESSAGE, code="rules_pending") from None
    return run


def _finished(run_id: int, **values) -> None:
    RuleRun.objects.filter(pk=run_id).update(finished_at=timezone.now(), **values)


def rules_run(*, run_id: int) -> RuleRun:
    """Run the rules of a queued run (or of a running one again: its worker was killed and the message came back).
    A finished run is left as it is. The counts are added batch by batch in each batch's transaction; a locked
    study fails the run with that reason; a lost database connection is raised again for the task to retry."""
    run = RuleRun.objects.select_related("study").get(pk=run_id)
    starting = {"status": RunStatus.RUNNING, "started_at": timezone.now(), "error": "", "hits": 0, "patients": 0}
    if not RuleRun.objects.filter(pk=run_id, status__in=RUN_PENDING).update(**starting):
        return run
    # hits and patients are recounted by a rerun; what was opened, reopened or closed stays counted (it was written)

    def count(summary: rule_job.RuleSummary) -> None:
        counts = ("patients", "hits", "opened", "reopened", "closed")
        RuleRun.objects.filter(pk=run_id).update(**{name: F(name) + getattr(summary, name) for name in counts})

    with translation.override(STORED_LANGUAGE):  # a refusal is stored as the run's error
        try:
            rule_job.run_study(run.study, on_batch=count)
        except ValidationError as error:  # the study was locked meanwhile
            _finished(run_id, status=RunStatus.FAILED, error=" ".join(error.messages))
        except OperationalError:
            raise  # left running: the task retries it
        except Exception as error:
            _finished(run_id, status=RunStatus.FAILED, error=f"{type(error).__name__}: {error}")
            raise
        else:
            _finished(run_id, status=RunStatus.DONE)
    run.refresh_from_db()
    return run


def rules_nightly() -> list[RuleRun]:
    """The nightly run: a run of every study that is not locked and has none pending, one after the other; a study
    whose run fails does not stop the others' (its run is failed with the error, and logged)."""
    done = []
    for study in Study.objects.filter(is_locked=False).order_by("code"):
        try:
            with transaction.atomic():
                run = RuleRun.objects.create(study=study)
        except IntegrityError:
            continue  # a run asked for on the page is queued or running: it checks the same data
        try:
            rules_run(run_id=run.pk)
        except Exception as error:
            logger.exception("nightly data-quality rules of study %s failed", study.code)
            RuleRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED, finished_at=timezone.now(), error=f"{type(error).__name__}: {error}"
            )
        done.append(RuleRun.objects.select_related("study").get(pk=run.pk))
    return done
