"""Queries (data clarification requests) on stored case report data, and their threads of messages; the
investigators' electronic signatures of casebooks (``Signature``, at the end).

A query is about a patient, optionally a study day, a form of the catalogue (ecrf/crfs.py) and one of its fields.
It is raised by a person (a monitor, data manager or investigator) or by a data-quality rule, answered by the
site's staff, and closed by a monitor or data manager (or by the system when a rule's condition clears). Every
transition is a message of its thread and a row of the query's history (django-simple-history).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop, pgettext_lazy
from simple_history.models import HistoricalRecords

from cleaning.status import CODES
from cohorts.jobs import one_pending_per_study
from cohorts.models import Arm, Patient, Site, Study


class QueryStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("query status", "Open")
    ANSWERED = "answered", pgettext_lazy("query status", "Answered")
    CLOSED = "closed", pgettext_lazy("query status", "Closed")


class QueryOrigin(models.TextChoices):
    MANUAL = "manual", _("Manual")
    RULE = "rule", _("Data-quality rule")


class AnswerCode(models.TextChoices):
    """The site's coded answer; "corrected" needs a change of the data saved since the query was raised."""

    CORRECTED = "corrected", pgettext_lazy("query answer", "Corrected")
    CONFIRMED = "confirmed_source", _("Value confirmed against source")
    NOT_AVAILABLE = "not_available", _("Not available in source")
    OTHER = "other", _("Other (see the message)")


class MessageKind(models.TextChoices):
    OPENED = "opened", pgettext_lazy("query thread", "Raised")
    ANSWERED = "answered", pgettext_lazy("query thread", "Answered")
    COMMENT = "comment", pgettext_lazy("query thread", "Comment")
    CLOSED = "closed", pgettext_lazy("query thread", "Closed")
    REOPENED = "reopened", pgettext_lazy("query thread", "Reopened")
    DATA_CHANGED = "data_changed", pgettext_lazy("query thread", "Data changed")
    CLOSED_BY_SYSTEM = "closed_by_system", pgettext_lazy("query thread", "Closed by the system")
    REOPENED_BY_SYSTEM = "reopened_by_system", pgettext_lazy("query thread", "Reopened by the system")


#: The automatic query of a value verified against source that changed afterwards (cleaning/sdv.py). Not a
#: data-quality rule: the rule job leaves it alone, and verifying the record again closes it.
SDV_CHANGED_RULE = "sdv.changed"


class Query(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    #: The patient's site, copied when the query is saved (bulk writes set it): the query list, its counts and the
    #: sites' scoping read the queries of a site without joining the patients.
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="+")
    #: None: about the patient as a whole (e.g. the baseline).
    study_day = models.SmallIntegerField(null=True, blank=True)
    #: A key of the form catalogue, or "" for the patient's baseline.
    form = models.CharField(max_length=32, blank=True)
    field = models.CharField(max_length=64, blank=True)
    #: The record of a repeating form (drug, disposition, adverse event) the query is about, for its link.
    record_id = models.PositiveBigIntegerField(null=True, blank=True)
    origin = models.CharField(max_length=8, choices=QueryOrigin.choices, default=QueryOrigin.MANUAL)
    #: The data-quality rule of an automatic query (cleaning/rules.py).
    rule = models.CharField(max_length=48, blank=True)
    status = models.CharField(max_length=8, choices=QueryStatus.choices, default=QueryStatus.OPEN)
    #: The question, as raised (the first message of the thread repeats it with its author).
    text = models.TextField()
    #: The value of the field when the query was raised, as shown to the user.
    value_at_open = models.CharField(max_length=200, blank=True)
    #: A person at the patient's site who should answer; None: any of the site's staff.
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: a rule
    opened_at = models.DateTimeField()
    answer_code = models.CharField(max_length=24, choices=AnswerCode.choices, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None with closed_at set: closed by the system
    #: The data the query is about changed after it was closed.
    changed_after_close = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = _("queries")
        indexes = [
            models.Index(fields=["study", "status"], name="query_study_status"),
            # The query list: a page of the newest first, read in this order.
            models.Index(fields=["study", "-opened_at", "-id"], name="query_study_newest"),
            models.Index(fields=["patient", "study_day", "form"], name="query_patient_day_form"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=QueryStatus.values), name="query_status_valid"),
            models.CheckConstraint(condition=Q(origin__in=QueryOrigin.values), name="query_origin_valid"),
            models.CheckConstraint(
                condition=Q(answer_code="") | Q(answer_code__in=AnswerCode.values), name="query_answer_code_valid"
            ),
            models.CheckConstraint(
                condition=(Q(origin="rule") & ~Q(rule="") & Q(study_day__isnull=False))
                | (Q(origin="manual") & Q(rule="")),
                name="query_rule_iff_automatic",
            ),
            models.CheckConstraint(condition=Q(field="") | ~Q(form=""), name="query_field_needs_form"),
            models.CheckConstraint(
                condition=~Q(status="closed") | Q(closed_at__isnull=False), name="query_closed_has_time"
            ),
            models.CheckConstraint(condition=~Q(text=""), name="query_text_required"),
            # One automatic query per (rule, patient, day, form, field), whatever its status: a rule that hits
            # again reopens it, never opens a second one.
            models.UniqueConstraint(
                fields=["rule", "patient", "study_day", "form", "field"],
                condition=Q(origin="rule"),
                name="query_one_per_rule_hit",
            ),
        ]

    def __str__(self) -> str:
        return f"query {self.pk}"

    def save(self, *args, **kwargs):
        if self.site_id is None and self.patient_id is not None:
            self.site_id = self.patient.site_id
        super().save(*args, **kwargs)

    @property
    def is_closed(self) -> bool:
        return self.status == QueryStatus.CLOSED


class QueryMessage(models.Model):
    """One entry of a query's thread: the question, an answer, a comment, a transition, a change of the data."""

    query = models.ForeignKey(Query, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: the system
    answer_code = models.CharField(max_length=24, choices=AnswerCode.choices, blank=True)
    text = models.TextField(blank=True)
    #: A change of the data (kind data_changed): the record's history row, for the audit-trail link.
    history_model = models.CharField(max_length=64, blank=True)
    history_record = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=MessageKind.values), name="query_message_kind_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of query {self.query_id}"


#: What a casebook signature means, shown before signing and with every signature (21 CFR Part 11 §11.50). Stored
#: with each signature (``Signature.meaning``) and written into the releases exactly as it is here, in English,
#: whatever the signer's language: only the pages show it translated (``gettext(SIGNATURE_MEANING)``).
SIGNATURE_MEANING = gettext_noop("I confirm that the data in this casebook are accurate and complete.")


class Signature(models.Model):
    """An investigator's electronic signature of a patient's casebook, or of a range of its study days.

    It records what the signature shows (the printed name, the time in UTC and at the site, the meaning) and the
    SHA-256 of the signed data (cleaning/signatures.py). A later saved change of those data breaks it (``broken_at``
    and the change that did); the broken row stays, and a new signature is a new row.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    first_day = models.SmallIntegerField()
    last_day = models.SmallIntegerField()
    signer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    #: The signer's full name at the moment of signing, frozen (a later change of the account does not alter it).
    printed_name = models.CharField(max_length=301)
    signed_at = models.DateTimeField()  # UTC
    site_time_zone = models.CharField(max_length=64)
    #: The time of signing at the patient's site, as the page showed it ("2026-12-03 11:15:42 CET (UTC+01:00)").
    signed_at_local = models.CharField(max_length=64)
    meaning = models.TextField()
    data_sha256 = models.CharField(_("SHA-256 of the signed data"), max_length=64)
    #: A later saved change of the signed data: when, by whom, what (old -> new and its reason), and its history row.
    broken_at = models.DateTimeField(null=True, blank=True)
    broken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    broken_by_change = models.TextField(blank=True)
    broken_history_model = models.CharField(max_length=64, blank=True)
    broken_history_record = models.PositiveBigIntegerField(null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["patient", "signed_at"], name="signature_patient_time")]
        constraints = [
            models.CheckConstraint(
                condition=Q(first_day__gte=0) & Q(last_day__gte=models.F("first_day")), name="signature_range_valid"
            ),
            models.CheckConstraint(condition=Q(data_sha256__regex=r"^[0-9a-f]{64}$"), name="signature_sha256_hex"),
            models.CheckConstraint(condition=~Q(printed_name=""), name="signature_printed_name_required"),
            models.CheckConstraint(condition=~Q(meaning=""), name="signature_meaning_required"),
            models.CheckConstraint(
                condition=Q(broken_at__isnull=True, broken_by_change="")
                | (Q(broken_at__isnull=False) & ~Q(broken_by_change="")),
                name="signature_broken_names_the_change",
            ),
        ]

    def __str__(self) -> str:
        return f"signature {self.pk} of {self.patient_id}, days {self.first_day}-{self.last_day}"

    @property
    def is_broken(self) -> bool:
        return self.broken_at is not None

    def covers(self, study_day: int) -> bool:
        return self.first_day <= study_day <= self.last_day


# ------------------------------------------------------------------------------------------ source data verification


class SdvLevel(models.TextChoices):
    """How much of a form a monitor verifies against source (the study's SDV plan, per form)."""

    NONE = "none", pgettext_lazy("SDV level", "None")
    CRITICAL = "critical", _("Critical fields")
    ALL = "all", _("All fields")


class SdvPlan(models.Model):
    """The study's source data verification plan: one row per form that is verified (no row: none)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    #: A key of the form catalogue.
    form = models.CharField(max_length=32)
    level = models.CharField(max_length=8, choices=SdvLevel.choices)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "form"], name="sdv_plan_one_per_form"),
            models.CheckConstraint(condition=Q(level__in=SdvLevel.values), name="sdv_plan_level_valid"),
        ]

    def __str__(self) -> str:
        return f"SDV of {self.form}: {self.level}"


class SourceVerification(models.Model):
    """A monitor's mark that one record of a form was verified against source: which fields (its critical ones, or
    all), by whom, when, and the SHA-256 of the verified values (cleaning/sdv.py). One row per record: a
    re-verification updates it, its history keeps every act. A later saved change of a verified value marks it
    changed (``changed_at`` and the change) until it is verified again."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="+")
    form = models.CharField(max_length=32)
    record_id = models.PositiveBigIntegerField()
    #: The record's study day when it was verified.
    study_day = models.SmallIntegerField()
    scope = models.CharField(max_length=8, choices=SdvLevel.choices)
    #: The verified fields, in the form's order.
    fields = models.JSONField()
    data_sha256 = models.CharField(_("SHA-256 of the verified values"), max_length=64)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField()
    #: A later saved change of a verified value: when, by whom and what (old -> new and its reason).
    changed_at = models.DateTimeField(null=True, blank=True)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    change_text = models.TextField(blank=True)
    history = HistoricalRecords()

    class Meta:
        indexes = [models.Index(fields=["patient", "form"], name="sdv_patient_form")]
        constraints = [
            models.UniqueConstraint(fields=["form", "record_id"], name="sdv_one_mark_per_record"),
            models.CheckConstraint(condition=Q(scope__in=[SdvLevel.CRITICAL, SdvLevel.ALL]), name="sdv_scope_valid"),
            models.CheckConstraint(condition=Q(data_sha256__regex=r"^[0-9a-f]{64}$"), name="sdv_sha256_hex"),
            models.CheckConstraint(
                condition=Q(changed_at__isnull=True, change_text="")
                | (Q(changed_at__isnull=False) & ~Q(change_text="")),
                name="sdv_changed_names_the_change",
            ),
        ]

    def __str__(self) -> str:
        return f"SDV of {self.form} {self.record_id}"

    @property
    def is_changed(self) -> bool:
        return self.changed_at is not None


class RunStatus(models.TextChoices):
    QUEUED = "queued", pgettext_lazy("rule run", "Queued")
    RUNNING = "running", pgettext_lazy("rule run", "Running")
    DONE = "done", pgettext_lazy("rule run", "Done")
    FAILED = "failed", pgettext_lazy("rule run", "Failed")


RUN_PENDING = (RunStatus.QUEUED, RunStatus.RUNNING)
RUN_PENDING_MESSAGE = _("A run of the data-quality rules is already queued or running for this study.")


class RuleRun(models.Model):
    """One run of the data-quality rules over a whole study (cleaning/rule_job.py), by a Celery task: asked for on
    the query list (``requested_by``) or by the nightly schedule (None). The counts grow batch by batch, in each
    batch's own transaction, so they say what the run wrote even when its worker was killed half way."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=RunStatus.choices, default=RunStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )  # None: the nightly run
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # by the worker; again by a redelivery
    finished_at = models.DateTimeField(null=True, blank=True)
    patients = models.PositiveIntegerField(default=0)  # checked by this run
    hits = models.PositiveIntegerField(
        default=0
    )  # automatic queries whose condition holds (open, or closed by a person)
    opened = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=RunStatus.values), name="rule_run_status_valid"),
            one_pending_per_study("rule_run", code="rules_pending", message=RUN_PENDING_MESSAGE),
        ]

    def __str__(self) -> str:
        return f"rules of {self.study_id} ({self.status})"


# ------------------------------------------------------------------------------------------ record status

#: A casebook's signatures in a word (cleaning.signatures.state): signed, changed after signing, or not signed.
SIGNATURE_STATES = ("signed", "broken", "unsigned")


def _count() -> models.IntegerField:
    return models.IntegerField(default=0)


class PatientRecordStatus(models.Model):
    """How many cells of a patient's record status grid are in each state (cleaning/status.py), kept up to date by
    cleaning/status_job.py: after every committed change of the patient's daily forms, disposition events or
    queries, and when a new day begins at the patient's site. Not study data: derived, rewritten freely (no
    history).

    The study, site, arm and participant id are copies of the patient's, for the dashboard's filters, order and
    per-site counts (the page still scopes by the patient's own site)."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, primary_key=True, related_name="record_status")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="+")
    participant_id = models.CharField(max_length=24)
    #: The date at the patient's site the states were computed for (None: not computed yet).
    as_of = models.DateField(null=True)
    #: The study's follow-up when computed (a change of the follow-up makes the row stale).
    follow_up_days = models.SmallIntegerField(default=0)
    computed_at = models.DateTimeField(null=True)
    # Cells per state (one per study day and one-per-day form, plus the places where queries wait).
    n_query_open = _count()
    n_query_answered = _count()
    n_missing = _count()
    n_confirmed = _count()
    n_entered = _count()
    n_not_done = _count()
    n_not_required = _count()
    n_not_due = _count()
    #: Today's one-per-day forms still to enter (cleaning.status_grid.Grid.due_today): the patient list's order.
    n_due_today = _count()
    #: The state of the casebook's signatures (SIGNATURE_STATES), for the signatures list's filter and counts.
    signature = models.CharField(max_length=8, default="unsigned")

    class Meta:
        verbose_name_plural = _("patient record statuses")
        indexes = [
            models.Index(fields=["study", "participant_id"], name="record_status_order"),
            # The patient list: those with forms to enter today first, a page read in order from this index.
            models.Index(fields=["study", "-n_due_today", "participant_id"], name="record_status_worklist"),
            # The rows not computed yet (a patient just created): the patient list computes them before reading.
            models.Index(fields=["study"], condition=Q(as_of__isnull=True), name="record_status_uncomputed"),
            # The signatures list: a page of the patients in a signature state, in participant order.
            models.Index(fields=["study", "signature", "participant_id"], name="record_status_signature"),
            # One partial index per state: a page of the patients having a state is read in order from the
            # patients that have it, however many patients the study has.
            *(
                models.Index(
                    fields=["study", "participant_id"],
                    condition=Q(**{f"n_{code}__gt": 0}),
                    name=f"record_status_{code}",
                )
                for code in CODES
            ),
        ]

    def __str__(self) -> str:
        return f"record status of {self.participant_id}"


class SiteRecordStatus(models.Model):
    """The sums of PatientRecordStatus per study, site and arm: the dashboard's counts read a few of these rows
    instead of every patient's. ``n_<state>``: cells in that state; ``p_<state>``: patients with at least one;
    ``s_<signature state>``: patients whose signatures are in that state (the signatures list)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    arm = models.ForeignKey(Arm, on_delete=models.CASCADE, related_name="+")
    patients = _count()
    n_query_open = _count()
    n_query_answered = _count()
    n_missing = _count()
    n_confirmed = _count()
    n_entered = _count()
    n_not_done = _count()
    n_not_required = _count()
    n_not_due = _count()
    p_query_open = _count()
    p_query_answered = _count()
    p_missing = _count()
    p_confirmed = _count()
    p_entered = _count()
    p_not_done = _count()
    p_not_required = _count()
    p_not_due = _count()
    s_signed = _count()
    s_broken = _count()
    s_unsigned = _count()
    updated_at = models.DateTimeField(null=True)

    class Meta:
        verbose_name_plural = _("site record statuses")
        constraints = [models.UniqueConstraint(fields=["study", "site", "arm"], name="site_record_status_unique")]

    def __str__(self) -> str:
        return f"record status of {self.study_id}/{self.site_id}/{self.arm_id}"
