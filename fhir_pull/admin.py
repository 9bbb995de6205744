"""The FHIR connections and links in the admin (administrators); pulls and proposals read-only."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.admin import ReadOnlyAdminMixin
from fhir_pull.models import FhirEndpoint, PatientLink, Proposal, Pull


@admin.register(FhirEndpoint)
class FhirEndpointAdmin(SimpleHistoryAdmin):
    list_display = ("site", "base_url", "auth_kind", "secret_env")


@admin.register(PatientLink)
class PatientLinkAdmin(SimpleHistoryAdmin):
    list_display = ("patient",)
    search_fields = ("patient__participant_id",)


@admin.register(Pull)
class PullAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("patient", "study_day", "started_at", "requested_by", "failure")
    list_select_related = ("patient", "requested_by")


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("patient", "study_day", "form", "field", "value", "status", "resource_type", "resource_id")
    list_filter = ("status", "form")
    list_select_related = ("patient",)
