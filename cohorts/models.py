"""Who is in the study, in which arm, since when (docs/architecture.md: cohorts -> ecrf -> analysis)."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from simple_history.models import HistoricalRecords

from cohorts import roles
from cohorts.clock import default_time_zone, validate_time_zone
from cohorts.constraints import WithinLimit, hard_range


class Protocol(models.TextChoices):
    """Eligibility rule sets, one module each in cohorts/eligibility (clinical definitions §1)."""

    MILAN_2020 = "milan_2020", gettext_lazy("Milan cohort (CPAP outside ICU, standard vs anakinra)")
    NEW_YORK_2020 = "new_york_2020", gettext_lazy("New York case series (anakinra to prevent ventilation)")


class OrdinalScale(models.TextChoices):
    """Identifiers of the ordinal scales of clinical definitions §3.1; every stored score carries one."""

    MILAN_7 = "milan_7", gettext_lazy("7-point ordinal scale (Milan; 1 best, 7 death)")
    WHO_OSCI_8 = "who_osci_8", gettext_lazy("WHO ordinal scale for clinical improvement (0-8)")
    WHO_CPS_10 = "who_cps_10", gettext_lazy("WHO clinical progression scale (0-10)")


class Study(models.Model):
    code = models.SlugField(max_length=40, unique=True)
    title = models.CharField(max_length=200)
    protocol = models.CharField(max_length=32, choices=Protocol.choices)
    registry_id = models.CharField(gettext_lazy("registry id"), max_length=64, blank=True)
    follow_up_days = models.PositiveSmallIntegerField(default=21, validators=[WithinLimit("follow_up_days")])
    primary_scale = models.CharField(max_length=16, choices=OrdinalScale.choices, default=OrdinalScale.MILAN_7)
    # The language of the labels of its releases' codebooks (and so of the SPSS/Stata labels): architecture §13.
    language = models.CharField(
        gettext_lazy("language of the codebook"),
        max_length=10,
        choices=settings.LANGUAGES,
        default="en-gb",
        help_text=gettext_lazy(
            "The variable and value labels of the codebook and of the SPSS and Stata files of each release locked "
            "from now on. Codes and variable names are the same in every language."
        ),
    )
    # Overrides of the *study settings* of the clinical definitions (thresholds, FiO2 estimates, ...). Only overrides
    # are stored;
    # the effective value is the module default updated with these, so a new default reaches old studies.
    settings = models.JSONField(default=dict, blank=True)
    # The lock flag lives here so that every write path (cohorts, ecrf) can refuse without importing analysis,
    # which owns the releases that set it (clinical definitions §5).
    is_locked = models.BooleanField(default=False, editable=False)
    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = gettext_lazy("studies")
        constraints = [
            # The limits table's follow-up row (the name keeps the bounds it was created with).
            hard_range("study", "follow_up_days", name="study_follow_up_1_to_365", nullable=False),
        ]

    def __str__(self) -> str:
        return self.title

    def eligibility_settings(self) -> dict:
        from cohorts.eligibility.engine import RULE_SETS

        return {**RULE_SETS[self.protocol].default_settings, **self.settings.get("eligibility", {})}


def _site_uln(enzyme: str, verbose_name) -> models.DecimalField:
    """A site laboratory's upper limit of normal of a liver enzyme (U/L), 40 unless set; its plausible range is the
    limits table's row ``<enzyme>_uln_u_l`` (cohorts/limits.py), as on the laboratory form."""
    return models.DecimalField(
        verbose_name,
        max_digits=6,
        decimal_places=1,
        default=40,
        validators=[WithinLimit(f"{enzyme.lower()}_uln_u_l")],
    )


class Site(models.Model):
    code = models.CharField(max_length=8, unique=True, help_text=gettext_lazy("Prefix of the pseudonymised study ids."))
    name = models.CharField(max_length=200)
    studies = models.ManyToManyField(Study, related_name="sites", blank=True)
    # The site laboratory's upper limits of normal (clinical definitions §2: AST, ALT with the site's ULN).
    ast_uln_u_l = _site_uln("AST", gettext_lazy("AST upper limit of normal (U/L)"))
    alt_uln_u_l = _site_uln("ALT", gettext_lazy("ALT upper limit of normal (U/L)"))
    # "Today" at the site decides which study days have happened (cohorts/clock.py; clinical definitions §2.1).
    time_zone = models.CharField(
        max_length=64,
        default=default_time_zone,
        validators=[validate_time_zone],
        help_text=gettext_lazy(
            "IANA time zone of the site, e.g. Europe/Rome: data cannot be entered for a day after today there."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(code__regex=r"^[A-Z0-9]{2,8}$"), name="site_code_upper_alnum"),
            hard_range("site", "ast_uln_u_l", nullable=False),
            hard_range("site", "alt_uln_u_l", nullable=False),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class RoleAssignment(models.Model):
    """A user's role in one study, at every site of the study or at some of them (cohorts/roles.py decides with
    these rows: every page, selector, endpoint and command asks for a role in a study at a site).

    An assignment is ended, never deleted, so that the audit trail shows who had which rights when.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="role_assignments")
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="role_assignments")
    role = models.CharField(max_length=16, choices=list(roles.STUDY_ROLES.items()))
    all_sites = models.BooleanField(
        gettext_lazy("every site of the study"),
        default=False,
        help_text=gettext_lazy("Also the sites that join the study later."),
    )
    sites = models.ManyToManyField(Site, blank=True, related_name="role_assignments")
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(m2m_fields=[sites])

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "study", "role"],
                condition=Q(ended_at__isnull=True),
                name="role_assignment_one_active_per_role",
            ),
        ]

    def __str__(self) -> str:
        where = _("all sites") if self.all_sites else _("some sites")
        return f"{self.user} · {roles.STUDY_ROLES.get(self.role, self.role)} · {self.study.code} ({where})"


class AccountAction(models.Model):
    """What a study's data manager did to a member's account from the team page (cohorts/team.py): an unlock after
    too many wrong passwords, or a reset of a lost second factor. Who, to whom, why and when."""

    class Kind(models.TextChoices):
        UNLOCK = "unlock", gettext_lazy("Account unlocked")
        RESET_SECOND_FACTOR = "reset_second_factor", gettext_lazy("Second factor reset")

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="account_actions")
    account = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    reason = models.CharField(max_length=100)
    done_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-done_at", "-pk"]

    def __str__(self) -> str:
        return _("%(action)s: %(account)s by %(user)s (%(study)s)") % {
            "action": self.get_kind_display(),
            "account": self.account,
            "user": self.done_by,
            "study": self.study.code,
        }


class Arm(models.Model):
    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="arms")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=120)
    regimen_description = models.TextField(blank=True)
    # The arm's regimen as data for the soft dose/route check of the drug form, e.g.
    # [{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}].
    regimen = models.JSONField(default=list, blank=True)
    order = models.PositiveSmallIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        ordering = ["study", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["study", "code"], name="arm_code_unique_per_study")]

    def __str__(self) -> str:
        return self.name


class Sex(models.TextChoices):
    FEMALE = "F", gettext_lazy("Female")
    MALE = "M", gettext_lazy("Male")


class PatientStatus(models.TextChoices):
    ACTIVE = "active", gettext_lazy("In follow-up")
    COMPLETED = "completed", gettext_lazy("Follow-up completed")
    WITHDRAWN = "withdrawn", gettext_lazy("Withdrawn")
    LOST = "lost_to_follow_up", gettext_lazy("Lost to follow-up")
    DIED = "died", gettext_lazy("Died")


COMORBIDITIES = ("smoking", "hypertension", "coronary_artery_disease", "diabetes", "copd", "chronic_kidney_disease")


class Screening(models.Model):
    """One screening of a candidate, eligible or not; kept for the screening log (clinical definitions §1.3,
    CONSORT)."""

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="screenings")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="screenings")
    number = models.CharField(max_length=24, help_text=gettext_lazy("Screening number, e.g. MI-S0007"))
    rescreen_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="rescreens")
    assessed_at = models.DateTimeField()
    screened_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    # Canonical-unit values as evaluated, the units they were typed in, and every criterion's verdict.
    values = models.JSONField(default=dict)
    entered_units = models.JSONField(default=dict)
    criteria = models.JSONField(default=list)
    eligible = models.BooleanField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["-assessed_at"]
        constraints = [models.UniqueConstraint(fields=["study", "number"], name="screening_number_unique_per_study")]
        # A page of the screening log (the newest first) is read in this order, whatever the size of the study.
        indexes = [models.Index(fields=["study", "-assessed_at", "-id"], name="screening_log_newest")]

    def __str__(self) -> str:
        return self.number


class ScreeningReason(models.Model):
    """A failed or missing criterion of a screening, one row each, so CONSORT counts are one GROUP BY."""

    screening = models.ForeignKey(Screening, on_delete=models.CASCADE, related_name="reasons")
    code = models.CharField(max_length=64)
    kind = models.CharField(max_length=16)  # inclusion / exclusion
    verdict = models.CharField(max_length=16)  # not_met / met (exclusion applies) / missing
    label = models.CharField(max_length=200)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["screening", "code"], name="screening_reason_unique")]

    def __str__(self) -> str:
        return f"{self.screening}: {self.code} {self.verdict}"


class ConsortCount(models.Model):
    """One CONSORT figure of a study's screening log at one site (cohorts/consort.py: "screened", "eligible",
    "reason:<code>:<verdict>", "arm:<code>"...), kept up to date by the screening and enrolment services. Derived,
    rewritten freely (no history)."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+")
    figure = models.CharField(max_length=100)
    n = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "site", "figure"], name="consort_count_unique")]

    def __str__(self) -> str:
        return f"{self.figure} = {self.n}"


class Patient(models.Model):
    study = models.ForeignKey(Study, models.PROTECT, verbose_name=gettext_lazy("study"), related_name="patients")
    site = models.ForeignKey(Site, models.PROTECT, verbose_name=gettext_lazy("site"), related_name="patients")
    arm = models.ForeignKey(Arm, models.PROTECT, verbose_name=gettext_lazy("arm"), related_name="patients")
    # Pseudonymised participant id (per-site prefix + number); the only id that leaves the system (clinical definitions
    # §5).
    participant_id = models.CharField(
        gettext_lazy("participant id"), max_length=24, help_text=gettext_lazy("Pseudonymised id, e.g. MI-0007")
    )
    screening = models.OneToOneField(
        Screening,
        models.PROTECT,
        verbose_name=gettext_lazy("screening"),
        null=True,
        blank=True,
        related_name="patient",
    )
    enrolment_date = models.DateField(
        gettext_lazy("enrolment date"), help_text=gettext_lazy("Study day 0 (first anakinra dose in treated arms).")
    )
    # When the protocol's oxygen criterion was met (New York: acute hypoxaemic respiratory failure; clinical
    # definitions §1.2): from the screening, corrected with a reason; entered in the site's time zone, stored in UTC.
    oxygen_criterion_at = models.DateTimeField(gettext_lazy("oxygen criterion met at"), null=True, blank=True)
    sex = models.CharField(gettext_lazy("sex"), max_length=1, choices=Sex.choices)
    age_years = models.PositiveSmallIntegerField(gettext_lazy("age (years)"))
    weight_kg = models.DecimalField(gettext_lazy("weight (kg)"), max_digits=5, decimal_places=1, null=True, blank=True)
    weight_confirmed = models.BooleanField(
        gettext_lazy("weight confirmed"), default=False, help_text=gettext_lazy("Soft limit (> 200 kg) confirmed.")
    )
    smoking = models.BooleanField(gettext_lazy("smoking"), null=True, blank=True)
    hypertension = models.BooleanField(gettext_lazy("hypertension"), null=True, blank=True)
    coronary_artery_disease = models.BooleanField(gettext_lazy("coronary artery disease"), null=True, blank=True)
    diabetes = models.BooleanField(gettext_lazy("diabetes"), null=True, blank=True)
    copd = models.BooleanField(gettext_lazy("COPD"), null=True, blank=True)
    chronic_kidney_disease = models.BooleanField(gettext_lazy("chronic kidney disease"), null=True, blank=True)
    status = models.CharField(
        gettext_lazy("status"), max_length=24, choices=PatientStatus.choices, default=PatientStatus.ACTIVE
    )
    version = models.PositiveIntegerField(default=1, editable=False)  # optimistic locking
    history = HistoricalRecords()

    class Meta:
        ordering = ["participant_id"]
        constraints = [
            models.UniqueConstraint(fields=["study", "participant_id"], name="patient_participant_id_unique_per_study"),
            # The limits table's age and weight rows (the names keep the bounds they were created with).
            hard_range("patient", "age_years", name="patient_age_0_120", nullable=False),
            hard_range("patient", "weight_kg", name="patient_weight_30_300"),
            models.CheckConstraint(condition=Q(sex__in=Sex.values), name="patient_sex_valid"),
            models.CheckConstraint(condition=Q(status__in=PatientStatus.values), name="patient_status_valid"),
        ]

    def __str__(self) -> str:
        return self.participant_id

    def clean(self) -> None:
        # A composite foreign key is not expressible in Django; the arm/site-study invariants are checked here
        # (every write calls full_clean) and by the PostgreSQL trigger of migration 0002.
        if self.arm_id and self.study_id and self.arm.study_id != self.study_id:
            raise ValidationError({"arm": ValidationError(_("The arm belongs to another study."), code="arm_study")})


class PatientFreeze(models.Model):
    """A data manager's freeze of one patient's casebook before the lock: while it is active (not unfrozen) no data
    of the patient change (cohorts.audit.ensure_writable); its queries can still be answered in words. Each freeze
    and unfreeze keeps who, when and why; a patient has at most one active freeze."""

    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="freezes")
    frozen_at = models.DateTimeField()
    frozen_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500)
    unfrozen_at = models.DateTimeField(null=True, blank=True)
    unfrozen_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    unfreeze_reason = models.CharField(max_length=500, blank=True)
    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["patient"], condition=Q(unfrozen_at__isnull=True), name="patient_freeze_one_active"
            ),
            models.CheckConstraint(condition=~Q(reason=""), name="patient_freeze_reason_required"),
            models.CheckConstraint(
                condition=Q(unfrozen_at__isnull=True) | ~Q(unfreeze_reason=""),
                name="patient_freeze_unfreeze_reason_required",
            ),
        ]

    def __str__(self) -> str:
        return f"freeze of {self.patient_id} at {self.frozen_at:%Y-%m-%d %H:%M}"


class StudyIdCounter(models.Model):
    """Last number handed out per study and site; study ids are never reused, even after a deletion."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE)
    site = models.ForeignKey(Site, on_delete=models.CASCADE)
    kind = models.CharField(max_length=16, default="patient")  # patient / screening
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "site", "kind"], name="study_id_counter_unique")]

    def __str__(self) -> str:
        return f"{self.study_id}/{self.site_id} {self.kind} {self.last_number}"


class Submission(models.Model):
    """One submitted form: its token (a hidden field of every rendered create form) and what it created.

    A repeated token (a double click, a network retry) is answered with the object created the first time
    instead of creating it again (cohorts/submissions.py). The row is written in the transaction of the create,
    so a refused save records no token and the corrected form can be sent again. Not study data: no history.
    """

    token = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    content_type = models.ForeignKey("contenttypes.ContentType", null=True, blank=True, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.token
