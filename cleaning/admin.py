"""Queries and signatures in the admin: read-only (they change through their pages and services, audited)."""

from django.contrib import admin

from cleaning.models import Query, Signature
from cohorts.admin import ReadOnlyAdminMixin


@admin.register(Query)
class QueryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "study", "patient", "study_day", "form", "field", "origin", "status", "opened_at")
    list_filter = ("status", "origin", "study")
    list_select_related = ("study", "patient")


@admin.register(Signature)
class SignatureAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "study", "patient", "first_day", "last_day", "printed_name", "signed_at", "broken_at")
    list_filter = ("study",)
    list_select_related = ("study", "patient")
