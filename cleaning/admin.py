"""Queries in the admin: read-only (they change through their pages and services, with their thread)."""

from django.contrib import admin

from cleaning.models import Query
from cohorts.admin import ReadOnlyAdminMixin


@admin.register(Query)
class QueryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("pk", "study", "patient", "study_day", "form", "field", "origin", "status", "opened_at")
    list_filter = ("status", "origin", "study")
    list_select_related = ("study", "patient")
