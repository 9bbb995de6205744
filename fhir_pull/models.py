"""A site's FHIR server, a patient's link to its FHIR Patient, and the values a pull proposes (issue 20).

No secret is stored here: an endpoint names the environment variable that holds it (``FHIR_SECRET_...``), read
by the client at pull time (fhir_pull/client.py) and never shown on a page. The link holds the medical record number,
which never leaves the system: it is in no release table, export or API answer.

A pull (``Pull``) keeps what the server said for one patient-day: a failure message, or the values it proposes
(``Proposal``) with their source (resource type and id, lastUpdated), the original value and unit, and the
hard-limit error that makes a value impossible to accept. Accepting a proposal saves the value through
ecrf.services with the reason "FHIR pull: <type>/<id>"; the accepted rows are the provenance the releases export.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from cohorts.models import Patient, Site

#: The environment variables a connection may read: only these, so that a set-up page cannot make the server
#: send another of its secrets (SECRET_KEY, DATABASE_URL) to a URL typed on that page.
SECRET_ENV_PATTERN = r"^FHIR_SECRET_[A-Z0-9_]{1,50}$"


class AuthKind(models.TextChoices):
    NONE = "none", _("None (an open test server)")
    BEARER = "bearer", _("Bearer token")
    CLIENT_CREDENTIALS = "client_credentials", _("OAuth2 client credentials")


class FhirEndpoint(models.Model):
    """The FHIR R4 server of a site's hospital and how the eCRF authenticates to it."""

    site = models.OneToOneField(Site, on_delete=models.CASCADE, related_name="fhir_endpoint")
    base_url = models.URLField(_("FHIR base URL"), max_length=300, help_text=_("e.g. https://fhir.example.org/r4"))
    auth_kind = models.CharField(_("authentication"), max_length=24, choices=AuthKind.choices, default=AuthKind.NONE)
    token_url = models.URLField(
        _("token URL"), max_length=300, blank=True, help_text=_("OAuth2 client credentials only.")
    )
    client_id = models.CharField(
        _("client id"), max_length=200, blank=True, help_text=_("OAuth2 client credentials only.")
    )
    secret_env = models.CharField(
        _("secret environment variable"),
        max_length=64,
        blank=True,
        validators=[
            RegexValidator(
                SECRET_ENV_PATTERN,
                _(
                    "Name an environment variable starting with FHIR_SECRET_ (capital letters, digits and _), "
                    "e.g. FHIR_SECRET_MILAN."
                ),
                code="secret_env",
            )
        ],
        help_text=_(
            "The name of the server's environment variable holding the bearer token or the client secret "
            "(e.g. FHIR_SECRET_MILAN); the secret itself is never stored here."
        ),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("FHIR endpoint")
        constraints = [
            models.CheckConstraint(condition=Q(auth_kind__in=AuthKind.values), name="fhir_endpoint_auth_kind_valid"),
            models.CheckConstraint(
                condition=Q(secret_env="") | Q(secret_env__regex=SECRET_ENV_PATTERN),
                name="fhir_endpoint_secret_env_name",
            ),
            models.CheckConstraint(
                condition=Q(auth_kind=AuthKind.NONE) | ~Q(secret_env=""), name="fhir_endpoint_auth_needs_secret"
            ),
            models.CheckConstraint(
                condition=~Q(auth_kind=AuthKind.CLIENT_CREDENTIALS) | (~Q(token_url="") & ~Q(client_id="")),
                name="fhir_endpoint_client_credentials_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.site.code}: {self.base_url}"

    def clean(self) -> None:
        """The rules of the constraints, said next to the field to correct (a constraint alone is a message naming
        it above the form); and the addresses' scheme: http(s), and https wherever a secret is sent."""
        errors = {}
        secret_sent = self.auth_kind != AuthKind.NONE
        for name in ("base_url", "token_url"):
            scheme = urlsplit(getattr(self, name)).scheme.lower()
            if scheme and scheme not in ("http", "https"):
                errors[name] = _("Give an address starting with https://.")
            elif scheme == "http" and secret_sent:
                errors[name] = _("The secret is sent to this address: give one starting with https://.")
        if secret_sent and not self.secret_env:
            errors["secret_env"] = _("Name the environment variable that holds the secret of this authentication.")
        if self.auth_kind == AuthKind.CLIENT_CREDENTIALS:
            if not self.token_url:
                errors["token_url"] = _("Give the token URL of OAuth2 client credentials.")
            if not self.client_id:
                errors["client_id"] = _("Give the client id of OAuth2 client credentials.")
        if errors:
            raise ValidationError(errors)


class PatientLink(models.Model):
    """The patient's medical record number at the hospital: the identifier of its FHIR Patient."""

    patient = models.OneToOneField(Patient, on_delete=models.CASCADE, related_name="fhir_link")
    mrn = models.CharField(_("medical record number"), max_length=64)
    identifier_system = models.CharField(
        _("identifier system"),
        max_length=300,
        blank=True,
        help_text=_("Optional: the hospital's identifier system (a URI) when the server holds several."),
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("FHIR patient link")
        constraints = [models.CheckConstraint(condition=~Q(mrn=""), name="fhir_link_mrn_required")]

    def __str__(self) -> str:
        return gettext("link of %(patient)s") % {"patient": self.patient}


class Pull(models.Model):
    """One pull of a patient-day from the site's FHIR server, by a user or by the nightly task (user empty)."""

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    study_day = models.SmallIntegerField()
    started_at = models.DateTimeField(auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    #: Why the pull failed (timeout, HTTP error, malformed bundle ...): nothing was proposed. Empty: it succeeded.
    failure = models.TextField(blank=True)
    #: What was found but not proposed (unmapped codes, preliminary results ...), one sentence each.
    notes = models.JSONField(default=list, blank=True)
    #: MedicationAdministrations of the day, listed read-only on the review screen (not proposed).
    medications = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "study_day", "-started_at"], name="fhir_pull_patient_day")]

    def __str__(self) -> str:
        return gettext("pull of %(patient)s day %(day)s") % {"patient": self.patient_id, "day": self.study_day}


class ProposalStatus(models.TextChoices):
    PROPOSED = "proposed", _("Proposed")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")
    SUPERSEDED = "superseded", _("Superseded by a later pull")


class Proposal(models.Model):
    """One value a pull proposes for a field of a one-per-day form, in the field's canonical unit."""

    pull = models.ForeignKey(Pull, on_delete=models.CASCADE, related_name="proposals")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="+")
    study_day = models.SmallIntegerField()
    form = models.CharField(max_length=32)
    field = models.CharField(max_length=64)
    #: In the field's canonical unit and precision; empty when the value could not be converted (see error).
    value = models.DecimalField(max_digits=20, decimal_places=6, null=True, blank=True)
    #: Values of other fields the code implies, saved with it (the D-dimer basis, a lab's entered unit).
    implies = models.JSONField(default=dict, blank=True)
    original_value = models.CharField(max_length=64, blank=True)
    original_unit = models.CharField(max_length=64, blank=True)
    loinc = models.CharField(_("LOINC code"), max_length=16)
    resource_type = models.CharField(max_length=40)
    resource_id = models.CharField(max_length=64)
    last_updated = models.DateTimeField(null=True, blank=True)
    effective_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.PROPOSED)
    #: Why the value cannot be accepted: a hard limit, a unit that does not convert. Empty: acceptable.
    error = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["patient", "study_day", "status"], name="fhir_proposal_patient_day")]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=ProposalStatus.values), name="fhir_proposal_status_valid"),
            models.CheckConstraint(
                condition=~Q(status=ProposalStatus.ACCEPTED) | (Q(value__isnull=False) & Q(error="")),
                name="fhir_proposal_accepted_is_acceptable",
            ),
        ]

    def __str__(self) -> str:
        return gettext("%(form)s.%(field)s from %(source)s") % {
            "form": self.form,
            "field": self.field,
            "source": self.source,
        }

    @property
    def source(self) -> str:
        return f"{self.resource_type}/{self.resource_id}"

    @property
    def acceptable(self) -> bool:
        return self.value is not None and not self.error
