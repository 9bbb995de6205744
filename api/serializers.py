"""What the API reads and writes, as DRF serializers; the values of a form are typed from its model's fields.

Values are in the canonical units of the form's fields (the units of the limits table, ``GET /api/v1/forms/``): the
API converts nothing. The checks themselves are the services' (ecrf/services.py), not the serializers': a
serializer only refuses what is not a value of the field's type (400), the services refuse implausible values
(422) exactly as on the pages.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cleaning.models import AnswerCode, Query, QueryMessage
from cohorts.limits import LIMITS
from cohorts.models import COMORBIDITIES, Arm, Patient, Screening, Site, Study
from ecrf.crfs import Crf
from ecrf.models import MissingCode

SMALLINT = (-32768, 32767)


class AwareDateTimeField(serializers.DateTimeField):
    """A time of a record (clinical definitions §2.3) in ISO 8601 with its UTC offset (2020-04-01T22:00-04:00 or
    ...Z): a client's clock time without an offset could be any site's, so it is refused."""

    default_error_messages = {
        "naive": gettext_lazy("Give the time with its UTC offset, e.g. 2020-04-01T22:00-04:00 or 2020-04-02T02:00Z.")
    }

    def to_internal_value(self, value):
        given = parse_datetime(value.strip()) if isinstance(value, str) else None
        if given is not None and given.tzinfo is None:
            self.fail("naive")
        return super().to_internal_value(value)


def value_field(field: models.Field) -> serializers.Field:
    """The DRF field of one form field: its type, its choices, blank or null as the model allows."""
    common: dict[str, Any] = {"required": False, "help_text": field.verbose_name}
    if field.choices:
        return serializers.ChoiceField(choices=[c for c, _ in field.choices], allow_blank=field.blank, **common)
    if isinstance(field, models.DecimalField):
        return serializers.DecimalField(
            max_digits=field.max_digits, decimal_places=field.decimal_places, allow_null=field.null, **common
        )
    if isinstance(field, models.SmallIntegerField):
        return serializers.IntegerField(min_value=SMALLINT[0], max_value=SMALLINT[1], allow_null=field.null, **common)
    if isinstance(field, models.BooleanField):
        return serializers.BooleanField(allow_null=field.null, **common)
    if isinstance(field, models.DateTimeField):
        return AwareDateTimeField(allow_null=field.null, **common)
    if isinstance(field, models.CharField):
        return serializers.CharField(max_length=field.max_length, allow_blank=True, trim_whitespace=True, **common)
    raise TypeError(f"no API field for {field!r}")


def blank_value(field: models.Field) -> Any:
    """The value of a field left out of a request: the model's default (None, "", False, "mmHg")."""
    return field.get_default()


_VALUE_SERIALIZERS: dict[str, type[serializers.Serializer]] = {}


def values_serializer(crf: Crf) -> type[serializers.Serializer]:
    """One serializer class per form, built from its catalogue fields (cached)."""
    if crf.key not in _VALUE_SERIALIZERS:
        attrs = {name: value_field(crf.model._meta.get_field(name)) for name in crf.fields}
        name = "".join(part.title() for part in crf.key.split("_")) + "Values"
        _VALUE_SERIALIZERS[crf.key] = type(name, (serializers.Serializer,), attrs)
    return _VALUE_SERIALIZERS[crf.key]


def full_values(crf: Crf, given: dict[str, Any]) -> dict[str, Any]:
    """Every field of the form: the given values, the others blank (a PUT replaces the whole record)."""
    return {name: given[name] if name in given else blank_value(crf.model._meta.get_field(name)) for name in crf.fields}


# ------------------------------------------------------------------------------------------------ metadata


class LimitSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    unit = serializers.CharField()
    hard_min = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, coerce_to_string=False)
    hard_max = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, coerce_to_string=False)
    hard_min_exclusive = serializers.BooleanField()
    soft_low = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, coerce_to_string=False)
    soft_high = serializers.DecimalField(max_digits=12, decimal_places=4, allow_null=True, coerce_to_string=False)


class ChoiceSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()


class FieldSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    type = serializers.ChoiceField(choices=["decimal", "integer", "boolean", "choice", "text", "datetime"])
    nullable = serializers.BooleanField()
    max_digits = serializers.IntegerField(allow_null=True)
    decimal_places = serializers.IntegerField(allow_null=True)
    max_length = serializers.IntegerField(allow_null=True)
    unit = serializers.CharField(allow_blank=True)
    is_value = serializers.BooleanField(help_text="False for units and reference values (not observations).")
    takes_missing_code = serializers.BooleanField(
        help_text="True when a record may give a missing-data code (missing_codes) instead of this field's value."
    )
    limit = LimitSerializer(allow_null=True)
    choices = ChoiceSerializer(many=True)


class FormSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    per_day = serializers.BooleanField(
        help_text="One record per patient-day (else repeating records); only such a form can be marked not done."
    )
    fields = FieldSerializer(many=True)


def _field_type(field: models.Field) -> str:
    if field.choices:
        return "choice"
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, models.IntegerField):
        return "integer"
    if isinstance(field, models.BooleanField):
        return "boolean"
    if isinstance(field, models.DateTimeField):
        return "datetime"
    return "text"


def form_metadata(crf: Crf) -> dict[str, Any]:
    """A form of the catalogue with its fields, types, units, limits (of the limits table) and choices."""
    fields = []
    for name in crf.fields:
        field = crf.model._meta.get_field(name)
        limit = LIMITS.get(crf.limits[name]) if name in crf.limits else None
        fields.append(
            {
                "name": name,
                "label": str(field.verbose_name),
                "type": _field_type(field),
                "nullable": field.null,
                "max_digits": getattr(field, "max_digits", None),
                "decimal_places": getattr(field, "decimal_places", None),
                "max_length": field.max_length if isinstance(field, models.CharField) else None,
                "unit": limit.unit if limit else "",
                "is_value": name not in crf.not_values,
                "takes_missing_code": name in crf.code_fields,
                "limit": vars(limit) if limit else None,
                "choices": [{"code": code, "label": str(label)} for code, label in field.choices or ()],
            }
        )
    return {"key": crf.key, "label": crf.label, "per_day": crf.per_day, "fields": fields}


class ArmSerializer(serializers.ModelSerializer):
    class Meta:
        model = Arm
        fields = ["code", "name", "regimen_description", "regimen"]


class SiteSerializer(serializers.ModelSerializer):
    class Meta:
        model = Site
        fields = ["code", "name"]


class StudySerializer(serializers.ModelSerializer):
    class Meta:
        model = Study
        fields = ["code", "title", "protocol", "registry_id", "follow_up_days", "primary_scale", "is_locked"]


class StudyDetailSerializer(StudySerializer):
    arms = ArmSerializer(many=True, read_only=True)
    sites = serializers.SerializerMethodField(help_text="The study's sites the user works at.")

    class Meta(StudySerializer.Meta):
        fields = [*StudySerializer.Meta.fields, "arms", "sites"]

    @extend_schema_field(SiteSerializer(many=True))
    def get_sites(self, study):
        return SiteSerializer(self.context["sites"], many=True).data


class PatientSerializer(serializers.ModelSerializer):
    study = serializers.SlugRelatedField(slug_field="code", read_only=True)
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    arm = serializers.SlugRelatedField(slug_field="code", read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "participant_id",
            "study",
            "site",
            "arm",
            "enrolment_date",
            "sex",
            "age_years",
            "weight_kg",
            *COMORBIDITIES,
            "status",
            "version",
        ]


class ScreeningSerializer(serializers.ModelSerializer):
    site = serializers.SlugRelatedField(slug_field="code", read_only=True)
    screened_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    rescreen_of = serializers.PrimaryKeyRelatedField(read_only=True)
    patient = serializers.SerializerMethodField()

    class Meta:
        model = Screening
        fields = ["id", "number", "site", "assessed_at", "screened_by", "eligible", "rescreen_of", "patient"]

    @extend_schema_field(OpenApiTypes.INT)
    def get_patient(self, screening):
        patient = getattr(screening, "patient", None)
        return patient.pk if patient is not None else None


class ScreeningDetailSerializer(ScreeningSerializer):
    values = serializers.JSONField(help_text="Canonical-unit values as evaluated.")
    entered_units = serializers.JSONField()
    criteria = serializers.JSONField(help_text="Every criterion's verdict: the eligibility evaluation as saved.")

    class Meta(ScreeningSerializer.Meta):
        fields = [*ScreeningSerializer.Meta.fields, "values", "entered_units", "criteria"]


# ------------------------------------------------------------------------------------------------ records


class RecordSerializer(serializers.Serializer):
    """One record of a form (output)."""

    id = serializers.IntegerField()
    form = serializers.CharField()
    patient = serializers.IntegerField()
    study_day = serializers.IntegerField()
    values = serializers.DictField(help_text="Field -> value, the fields of GET /api/v1/forms/{form}/.")
    missing_codes = serializers.DictField(
        child=serializers.ChoiceField(choices=MissingCode.choices),
        help_text="Field -> why its value is missing (not_done, unknown, not_applicable); such a field has no value.",
    )
    not_done_reason = serializers.CharField(
        help_text="Non-empty: the whole one-per-day form was marked not done that day, for this reason."
    )
    confirmed_checks = serializers.ListField(child=serializers.CharField())
    version = serializers.IntegerField(help_text="Also the ETag; send it as If-Match to update.")
    updated_at = serializers.DateTimeField()


def record_data(crf: Crf, record) -> dict[str, Any]:
    values_cls = values_serializer(crf)
    return {
        "id": record.pk,
        "form": crf.key,
        "patient": record.patient_id,
        "study_day": record.study_day,
        "values": values_cls(instance={n: getattr(record, n) for n in crf.fields}).data,
        "missing_codes": dict(record.missing_codes or {}),
        "not_done_reason": record.not_done_reason,
        "confirmed_checks": list(record.confirmed_checks or []),
        "version": record.version,
        "updated_at": record.updated_at,
    }


class RecordWriteSerializer(serializers.Serializer):
    """A record to create or replace (input). ``values`` are checked against the form's fields by the view."""

    study_day = serializers.IntegerField(
        required=False,
        min_value=SMALLINT[0],
        max_value=SMALLINT[1],
        help_text="The study day of a one-per-day form (create only); a repeating form has it among its values.",
    )
    values = serializers.DictField(help_text="Field -> value in canonical units; a field left out is blank.")
    missing_codes = serializers.DictField(
        child=serializers.ChoiceField(choices=MissingCode.choices),
        required=False,
        default=dict,
        help_text=(
            "Field -> missing-data code given instead of its value: not_done, unknown or not_applicable (only the "
            "fields with takes_missing_code). The record's codes as a whole: a code left out is removed."
        ),
    )
    not_done_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        max_length=200,
        help_text=(
            "Marks a one-per-day form not done that day, with this reason: then give no value and no code. Empty: "
            "not marked (a PUT without it removes the mark)."
        ),
    )
    confirm = serializers.ListField(
        child=serializers.CharField(max_length=64),
        required=False,
        default=list,
        help_text="Codes of the soft checks you confirm (e.g. temperature_c.soft_high).",
    )
    reason = serializers.CharField(
        required=False, allow_blank=True, max_length=500, help_text="Reason for change: required to change saved data."
    )


# ------------------------------------------------------------------------------------------------ releases


class ReleaseFileSerializer(serializers.Serializer):
    path = serializers.CharField()
    sha256 = serializers.CharField()
    bytes = serializers.IntegerField()
    url = serializers.CharField()


class ExportSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    format = serializers.CharField()
    status = serializers.CharField()
    progress = serializers.IntegerField()
    sha256 = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    url = serializers.CharField(allow_null=True, help_text="Download of a finished export.")


class ReleaseSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    locked_at = serializers.DateTimeField()
    locked_by = serializers.CharField()
    reason = serializers.CharField()
    unlocked_at = serializers.DateTimeField(allow_null=True)
    unlock_reason = serializers.CharField()


class ReleaseDetailSerializer(ReleaseSerializer):
    files = ReleaseFileSerializer(many=True)
    exports = ExportSerializer(many=True)


# ------------------------------------------------------------------------------------------------ queries


class QueryMessageSerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, help_text="None: the system.")

    class Meta:
        model = QueryMessage
        fields = ["kind", "author", "answer_code", "text", "created_at"]


class QuerySerializer(serializers.ModelSerializer):
    participant_id = serializers.CharField(source="patient.participant_id", read_only=True)
    site = serializers.CharField(source="patient.site.code", read_only=True)
    assignee = serializers.SlugRelatedField(slug_field="username", read_only=True)
    opened_by = serializers.SlugRelatedField(slug_field="username", read_only=True, help_text="None: a rule.")
    closed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, help_text="None: the system.")

    class Meta:
        model = Query
        fields = [
            "id",
            "patient",
            "participant_id",
            "site",
            "study_day",
            "form",
            "field",
            "record_id",
            "origin",
            "rule",
            "status",
            "text",
            "value_at_open",
            "assignee",
            "opened_by",
            "opened_at",
            "answer_code",
            "answered_at",
            "closed_by",
            "closed_at",
            "changed_after_close",
        ]


class QueryDetailSerializer(QuerySerializer):
    messages = QueryMessageSerializer(many=True, read_only=True)

    class Meta(QuerySerializer.Meta):
        fields = [*QuerySerializer.Meta.fields, "messages"]


class QueryOpenSerializer(serializers.Serializer):
    study_day = serializers.IntegerField(required=False, allow_null=True, min_value=SMALLINT[0], max_value=SMALLINT[1])
    form = serializers.CharField(required=False, allow_blank=True, max_length=32, help_text="A form's key, or empty.")
    field = serializers.CharField(required=False, allow_blank=True, max_length=64)
    record_id = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    assignee = serializers.CharField(required=False, allow_blank=True, max_length=150, help_text="A user name.")
    text = serializers.CharField(max_length=2000, help_text="The question to the site.")


class QueryActionSerializer(serializers.Serializer):
    answer_code = serializers.ChoiceField(
        choices=AnswerCode.choices, required=False, help_text="Required to answer; ignored otherwise."
    )
    text = serializers.CharField(max_length=2000)
