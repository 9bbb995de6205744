"""Forms of the daily case report (clinical definitions §2): layouts, units next to inputs, a message next to
every field.

The forms parse what the user typed (forgiving: "37,5" is 37.5, read by ecrf/numbers.py as the CSV import reads
it) and convert laboratory units to the canonical
ones; the rules themselves are each form's checks (ecrf/validators.py, built on ecrf/checks.py), so the
messages shown here are exactly the refusals the service would give. A soft finding (clinical definitions §2.1,
"confirm") adds a checkbox under its field; ticking it sends the check's code back, and the code is stored with the
record. The forms never save: the view hands `entry()` to a service.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.utils import timezone
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cohorts.audit import REASON_MAX_LENGTH
from cohorts.clock import study_day_of
from cohorts.local_times import site_time_field
from cohorts.models import Patient
from cohorts.units import canonical_unit, to_canonical, unit_choices
from ecrf.checks import LIMITS, SOFT, format_number
from ecrf.crfs import CATALOGUE, DAY_FORMS, EVENT_FORMS, Crf, display_value
from ecrf.models import MISSING_CODE_ABBREVIATIONS, MissingCode
from ecrf.numbers import NotANumber, parse_decimal, parse_integer
from ecrf.page_notes import badges_html
from ecrf.services import RecordInput
from ecrf.validators import KIND_ONLY_ANSWERS, PatientFacts

SOFT_CODE_SUFFIXES = (".soft_low", ".soft_high", ".regimen")
UNIT_LABELS = {"degC": "°C", "x10^9/L": "×10⁹/L", "fraction": "fraction"}

# Laboratory values the user may type in another unit: form field -> quantity of cohorts/units.py, unit field.
CONVERTED = {"pao2_mmhg": ("pao2", "pao2_entered_unit"), "crp_mg_l": ("crp", "crp_entered_unit")}


def is_soft_code(code: str | None) -> bool:
    return bool(code) and code.endswith(SOFT_CODE_SUFFIXES)


def field_of_code(crf: Crf, code: str) -> str:
    """The field of ``crf`` a check code is about: codes name the limit ("fio2.hard_max"), fields may differ."""
    variable = code.split(".", 1)[0]
    return next((name for name, limit in crf.limits.items() if limit == variable), variable)


# --------------------------------------------------------------------------------------------------- fields


def _number(parse, value: Any) -> Any:
    """What people type into a number box on a ward ('37,5', ' 92 ', '1 000'), read as the CSV import reads it:
    one parser for both (ecrf/numbers.py); an ambiguous '1,000' is refused with the reason."""
    if not isinstance(value, str) or not value.strip():
        return value
    try:
        return parse(value)
    except NotANumber as exc:
        raise ValidationError(str(exc), code="invalid") from None


class LenientDecimalField(forms.DecimalField):
    """A decimal number; digits are limited by the plausible range (ecrf/checks.py), not by the column. Shown with
    the reader's decimal separator ("37,5" in Italian); a comma or a point is accepted in every language."""

    def __init__(self, *, decimal_places: int | None = None, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
        kwargs.setdefault("localize", True)
        super().__init__(max_digits=None, decimal_places=decimal_places, **kwargs)

    def to_python(self, value):
        return super().to_python(_number(parse_decimal, value))

    def widget_attrs(self, widget):
        return {}  # no step/min/max: the browser would refuse what the message next to the field explains better


class LenientIntegerField(forms.IntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("widget", forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))
        super().__init__(**kwargs)

    def to_python(self, value):
        return super().to_python(_number(parse_integer, value))

    def widget_attrs(self, widget):
        return {}


class ConfirmWidget(forms.CheckboxInput):
    """A checkbox whose value is the code of the soft check it confirms (so a stale tick confirms nothing)."""

    code = ""

    def format_value(self, value):
        return self.code

    def value_from_datadict(self, data, files, name):
        return data.get(name) or ""

    def get_context(self, name, value, attrs):
        self.check_test = lambda v: bool(v) and v == self.code
        return super().get_context(name, value, attrs)


class MissingCodeSelect(forms.Select):
    """The short codes (ND, UNK, NA) with the whole word as each option's title."""

    def create_option(self, name, value, label, selected, index, subindex=None, attrs=None):
        option = super().create_option(name, value, label, selected, index, subindex, attrs)
        if value:
            option["attrs"]["title"] = MissingCode(value).label
        return option


#: The choices of a value's missing-data code: none, or ND / UNK / NA (clinical definitions §2.2).
MISSING_CODE_CHOICES = [("", "—"), *((code.value, MISSING_CODE_ABBREVIATIONS[code]) for code in MissingCode)]


def missing_code_field(label: str) -> forms.ChoiceField:
    """A compact select beside a value: its missing-data code. Its accessible name is "missing-data code" and its
    description (the title, also the tooltip) names the value, so that the value's own label finds the value's input
    only (a page test or a screen reader's list of form fields asking for "Temperature")."""
    return forms.ChoiceField(
        choices=MISSING_CODE_CHOICES,
        required=False,
        label="",
        widget=MissingCodeSelect(
            attrs={
                "aria-label": _("missing-data code"),
                "title": _(
                    "%(label)s: missing-data code instead of a value (ND not done, UNK unknown, NA not applicable)"
                )
                % {"label": label},
                "class": "mc-select",
            }
        ),
    )


def missing_code_text(code: str) -> str:
    """A stored code as the pages show it: 'ND', its word as the title."""
    return format_html(
        '<abbr class="mc" title="{}">{}</abbr>', MissingCode(code).label, MISSING_CODE_ABBREVIATIONS[code]
    )


def _previous_html(text: str, **values) -> SafeString:
    """A value of the day before under a field: ``text`` (translated, with %(name)s placeholders) and ``values``
    escaped, unless already safe HTML (a missing-data code's abbreviation)."""
    filled = mark_safe(conditional_escape(text) % {name: conditional_escape(value) for name, value in values.items()})
    return format_html('<span class="previous-value">{}</span>', filled)


def confirm_field(code: str) -> forms.CharField:
    field = forms.CharField(required=False, label=_("Confirm: the value is correct"), widget=ConfirmWidget())
    field.widget.code = code
    return field


# ------------------------------------------------------------------------------------------------ base form


class RecordForm(forms.ModelForm):
    """A daily form: the fields of its catalogue entry, a hidden version, soft-check confirmations, its layout.

    `facts` are what the checks need to know of the patient (weight, day of death, arm regimen);
    `previous` is the record of the day before, shown under each field for reference.
    """

    crf: Crf
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)
    form_notes: list = ()

    def __init__(self, *args, facts: PatientFacts, previous=None, read_only: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.facts = facts
        self.previous = previous
        self.read_only = read_only
        self.confirmed: set[str] = set()
        self.model = self._meta.model
        record = self.instance if self.instance.pk else None
        self.stored = record
        if record is not None:
            self.initial["version"] = record.version
        for name in self.crf.limits:
            self.fields[name] = self._number_field(name)
        for name in self.crf.fields:
            model_field = self.model._meta.get_field(name)
            if isinstance(model_field, models.DateTimeField):
                self.fields[name] = site_time_field(
                    model_field.verbose_name, facts.zone or timezone.get_current_timezone()
                )
        for name, (quantity, unit_field) in CONVERTED.items():
            if name in self.fields:
                self.fields[name] = LenientDecimalField(
                    required=False, label=self.fields[name].label.split(" (")[0], decimal_places=3
                )
                self.fields[unit_field] = forms.ChoiceField(
                    choices=unit_choices(quantity),
                    label=_("unit"),
                    required=False,
                    widget=forms.Select(attrs={"aria-label": _("unit of %(field)s") % {"field": name}}),
                )
                if record is not None:
                    self._show_in_entered_unit(name, quantity, unit_field, record)
        # Soft checks confirmed when the record was saved: their boxes are shown ticked. (A submitted form
        # shows the boxes of the soft findings of what was submitted, see apply_issues.)
        if record is not None and not self.is_bound:
            for code in record.confirmed_checks:
                name = field_of_code(self.crf, code)
                if name in self.fields:
                    self.fields[f"confirm_{name}"] = confirm_field(code)
                    self.initial[f"confirm_{name}"] = code
        self._add_missing_data_fields(record)
        if read_only:
            for f in self.fields.values():
                f.disabled = True
        self.show_previous(previous)

    def _add_missing_data_fields(self, record) -> None:
        """A code select beside every value that may take one, and "Not done this day" with its reason on a
        one-per-day form (clinical definitions §2.2); their initial state is the stored record's."""
        for name in self.crf.code_fields:
            if name in self.fields:
                self.fields[f"mc_{name}"] = missing_code_field(self.fields[name].label or name)
                if record is not None and name in record.missing_codes:
                    self.initial[f"mc_{name}"] = record.missing_codes[name]
            if isinstance(self.fields.get(name), forms.NullBooleanField):
                # The select's empty choice is "not recorded"; "unknown" is a missing-data code of its own.
                self.fields[name].widget.choices = [("unknown", "—"), ("true", _("Yes")), ("false", _("No"))]
        if self.crf.per_day:
            self.fields["not_done"] = forms.BooleanField(
                required=False,
                label=_("Not done this day"),
                help_text=_("The whole form was not done (e.g. no blood sample taken): give the reason."),
            )
            self.fields["not_done_reason"] = forms.CharField(
                required=False,
                max_length=self.model._meta.get_field("not_done_reason").max_length,
                label=_("Reason not done"),
            )
            if record is not None and record.marked_not_done:
                self.initial["not_done"] = True
                self.initial["not_done_reason"] = record.not_done_reason

    def _number_field(self, name: str) -> forms.Field:
        model_field = self.model._meta.get_field(name)
        kwargs = {"required": False, "label": _short_label(model_field.verbose_name)}
        if model_field.get_internal_type() == "DecimalField":
            return LenientDecimalField(decimal_places=model_field.decimal_places, **kwargs)
        return LenientIntegerField(**kwargs)

    def _show_in_entered_unit(self, name: str, quantity: str, unit_field: str, record) -> None:
        """Show a stored value in the unit it was typed in (2 decimals round-trip to the stored 0.1)."""
        value, unit = getattr(record, name), getattr(record, unit_field) or canonical_unit(quantity)
        self.initial[unit_field] = unit
        if value is not None and unit != canonical_unit(quantity):
            self.initial[name] = _in_unit(quantity, value, unit)

    def show_previous(self, previous) -> None:
        """The record of the day before, shown under each field for reference."""
        self.previous = previous
        if previous is None:
            return
        day = previous.study_day
        if previous.marked_not_done and "not_done" in self.fields:
            self.fields["not_done"].help_text = _previous_html(
                _("day %(day)s: not done (%(reason)s)"), day=day, reason=previous.not_done_reason
            )
        for name in self.crf.value_fields:
            value = getattr(previous, name, None)
            code = previous.missing_codes.get(name)
            if name in self.fields and code in MissingCode.values:
                self.fields[name].help_text = _previous_html(
                    _("day %(day)s: %(value)s"), day=day, value=missing_code_text(code)
                )
                continue
            if name not in self.fields or value is None or value is False or value == "":
                continue  # nothing to show (an unticked box of the day before is not worth a line)
            shown = f"{display_value(previous, name)} {_unit_of(self.crf, name)}".strip()
            if name in CONVERTED:
                quantity, unit_field = CONVERTED[name]
                unit = getattr(previous, unit_field) or canonical_unit(quantity)
                shown = f"{format_number(value)} {canonical_unit(quantity)}"
                if unit != canonical_unit(quantity):
                    shown = f"{_localized(_in_unit(quantity, value, unit))} {unit} ({shown})"
            self.fields[name].help_text = _previous_html(_("day %(day)s: %(value)s"), day=day, value=shown)

    @property
    def history_name(self) -> str:
        """The model's name in the audit-trail URL (/history/ecrf.<model>/<pk>/)."""
        return self.crf.history_name

    def attach_notes(self, notes: dict[str, list]) -> None:
        """Other apps' badges (ecrf.page_notes, e.g. an open query) by field name: under a field, before the value
        of the day before (its help text, which the input is described by; its label stays the field's name), or in
        ``form_notes`` for the form as a whole and for fields the page does not show."""
        self.form_notes = []
        for name, items in notes.items():
            if name and name in self.fields:
                field = self.fields[name]
                field.help_text = format_html("{} {}", badges_html(items), field.help_text)
            else:
                self.form_notes.extend(items)

    # --------------------------------------------------------------------------------------------- values

    def values(self) -> dict[str, Any]:
        """The record's values in canonical units, as the service takes them."""
        data = self.cleaned_data
        values = {name: data.get(name) for name in self.crf.fields if name in self.fields}
        for name, (quantity, unit_field) in CONVERTED.items():
            if name not in values:
                continue
            unit = data.get(unit_field) or canonical_unit(quantity)
            raw = data.get(name)
            if raw is not None:
                values[name] = _to_canonical(quantity, raw, unit, self.model._meta.get_field(name).decimal_places)
            values[unit_field] = unit
        return values

    def chosen_codes(self) -> dict[str, str]:
        """The values' missing-data codes as chosen (field -> code)."""
        data = self.cleaned_data
        return {name: data[f"mc_{name}"] for name in self.crf.code_fields if data.get(f"mc_{name}")}

    def marked_not_done(self) -> str | None:
        """The reason the form is marked not done (blank when ticked without one), or None when not ticked."""
        data = self.cleaned_data
        return (data.get("not_done_reason") or "") if data.get("not_done") else None

    def entry(self) -> RecordInput:
        return RecordInput(
            values=self.values(),
            confirmed_checks=frozenset(self.confirmed),
            expected_version=self.cleaned_data.get("version"),
            missing_codes=self.chosen_codes(),
            not_done_reason=self.marked_not_done() or "",
        )

    def is_empty(self) -> bool:
        return self.crf.is_empty(self.values(), self.chosen_codes(), self.marked_not_done())

    # ------------------------------------------------------------------------------------------- checking

    def _post_clean(self):
        """No instance is built or full_clean()ed here: the service checks and saves (one query per form)."""

    def clean(self):
        cleaned = super().clean()
        if not cleaned.get("not_done") and (cleaned.get("not_done_reason") or "").strip():
            self.add_error(
                "not_done_reason",
                ValidationError(
                    _("Tick 'Not done this day' to record this reason, or clear it."), code="not_done_reason.unticked"
                ),
            )
        if self.is_empty():
            return cleaned
        self.apply_issues(
            self.crf.issues(
                self.values(),
                self.facts,
                missing_codes=self.chosen_codes(),
                not_done_reason=self.marked_not_done(),
            )
        )
        return cleaned

    def apply_issues(self, issues) -> None:
        """Put each issue next to its field; a soft one is an error until its box is ticked."""
        for issue in issues:
            name = issue.field if issue.field in self.fields else None
            if name is not None and name in self.errors:
                continue
            if issue.level == SOFT:
                ticked = self.data.get(self.add_prefix(f"confirm_{name}")) if name else None
                self.fields[f"confirm_{name}"] = confirm_field(issue.code)
                if ticked == issue.code:
                    self.confirmed.add(issue.code)
                    continue
            self.add_error(name, ValidationError(issue.message, code=issue.code))

    def add_service_error(self, error: ValidationError) -> None:
        """A refusal of the service (a conflict, a rule on other records), shown where it belongs."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for name, errors in error.error_dict.items():
            target = name if name in self.fields and name != "version" else None
            for item in errors:
                if is_soft_code(item.code) and target:
                    self.fields[f"confirm_{target}"] = confirm_field(item.code)
                if target is None and name not in (NON_FIELD_ERRORS, "reason"):
                    item = ValidationError(f"{name}: {item.message}", code=item.code)
                if name != "reason":
                    self.add_error(target, item)

    # --------------------------------------------------------------------------------------------- layout

    @property
    def title(self) -> str:
        return self.crf.label

    @property
    def rows(self) -> list[LayoutRow]:
        """The form's layout for templates/ecrf/_record_form.html: the catalogue's rows (a field alone, or fields
        sharing a row), each field with its unit, unit select, missing-data code select and confirmation box, then
        the mark "not done". Rendered by a template of its own, in the HTML crispy-forms' Bootstrap 5 pack writes,
        without crispy's per-field rendering (it was most of the entry page's time)."""
        rows = []
        for row in self.crf.layout or self.crf.fields:
            if isinstance(row, tuple):
                # Fields sharing a row stand one under the other when one has a code select beside it: side by
                # side, in a third of the page, the inputs would be too narrow to read.
                width = "col-12" if any(f"mc_{name}" in self.fields for name in row) else "col"
                rows.append(LayoutRow([self._cell(name) for name in row], width))
            else:
                rows.append(LayoutRow([self._cell(row)]))
        if "not_done" in self.fields:
            rows.append(LayoutRow([Cell(self["not_done"]), Cell(self["not_done_reason"])], box="not-done-box"))
        return rows

    def _cell(self, name: str) -> Cell:
        code = self[f"mc_{name}"] if f"mc_{name}" in self.fields else None
        confirm = self[f"confirm_{name}"] if f"confirm_{name}" in self.fields else None
        if name in CONVERTED:
            unit_field = self[CONVERTED[name][1]]
            return Cell(self[name], unit_select=unit_field, code=code, confirm=confirm)
        unit = _unit_of(self.crf, name)
        field = self.fields.get(name)
        is_text = field is not None and isinstance(field.widget, forms.TextInput)
        return Cell(self[name], unit=unit if unit and is_text else "", code=code, confirm=confirm)


@dataclass(frozen=True)
class Cell:
    """One field of a record form's layout, with what stands beside it (RecordForm.rows)."""

    field: forms.BoundField
    unit: str = ""  # shown after the input (an input group)
    unit_select: forms.BoundField | None = None  # the unit it was entered in (converted quantities)
    code: forms.BoundField | None = None  # the missing-data code select
    confirm: forms.BoundField | None = None  # the confirmation of a soft check


@dataclass(frozen=True)
class LayoutRow:
    """Cells alone (``width`` None: one field) or side by side in columns of class ``width``; ``box``: the class of
    a box around the row's cells."""

    cells: list[Cell]
    width: str | None = None
    box: str = ""


def _factor(quantity: str, unit: str) -> Decimal:
    """cohorts/units.py's factor from `unit` to the canonical unit, as an exact decimal."""
    return Decimal(repr(to_canonical(quantity, Decimal(1), unit)))


def _localized(text: str) -> str:
    """A number written with a point, with the decimal separator of the active language instead (Italian "0,5")."""
    return format_number(Decimal(text))


def _in_unit(quantity: str, value: Decimal, unit: str) -> str:
    """A stored canonical value shown in the unit it was typed in. Two decimals round-trip exactly to the stored
    0.1 (kPa: 0.005 x 7.5 < 0.05), so saving the page unchanged changes nothing."""
    shown = (value / _factor(quantity, unit)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return format(shown.normalize(), "f")


def _to_canonical(quantity: str, value: Decimal, unit: str, places: int) -> Decimal:
    """The typed value in the canonical unit, rounded as the column stores it (20 kPa -> 150.0 mmHg).

    Multiplied in decimal by the factor of cohorts/units.py, so no digit is lost and an absurd value such
    as 1e400 stays a number (refused by the range check) instead of overflowing a float.
    """
    canonical = value if unit == canonical_unit(quantity) else value * _factor(quantity, unit)
    try:
        return canonical.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    except InvalidOperation:  # more digits than decimal's context holds: far outside any plausible range
        return canonical


def _short_label(label: str) -> str:
    """'temperature (°C)' -> 'Temperature': the unit is shown next to the input instead."""
    return capfirst(str(label).split(" (")[0])


def _unit_of(crf: Crf, name: str) -> str:
    limit = LIMITS.get(crf.limits.get(name, name))
    if limit is None or name == "dose":
        return {"ast_uln_u_l": "U/L", "alt_uln_u_l": "U/L", "ddimer_ng_ml": "ng/mL"}.get(name, "")
    unit = UNIT_LABELS.get(limit.unit, limit.unit)
    return "" if unit == "fraction" else unit


# -------------------------------------------------------------------------------------------- daily forms


class RespiratorySupportForm(RecordForm):
    class Meta:
        labels = {
            "support": gettext_lazy("Highest support of the day"),
            "fio2": gettext_lazy("FiO2 set on the device"),
            "niv_hours": gettext_lazy("Hours on NIV/CPAP"),
            "rrt": "RRT",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["support"].required = False
        self.fields["fio2"].help_text = self.fields["fio2"].help_text or _("fraction, 0.21–1.0")


class LabResultForm(RecordForm):
    class Meta:
        labels = {
            "ast_uln_u_l": gettext_lazy("AST ULN"),
            "alt_uln_u_l": gettext_lazy("ALT ULN"),
            "ddimer_ng_ml": gettext_lazy("D-dimer"),
            "ddimer_basis": gettext_lazy("D-dimer basis"),
            "abg_fio2": gettext_lazy("FiO2 at the blood gas"),
        }

    def __init__(self, *args, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        if self.stored is None and site is not None:
            # The site laboratory's upper limits of normal (clinical definitions §2), prefilled for a new record.
            self.initial.setdefault("ast_uln_u_l", site.ast_uln_u_l)
            self.initial.setdefault("alt_uln_u_l", site.alt_uln_u_l)
        self.fields["ddimer_basis"].choices = [
            ("", _("basis…")),
            *self.crf.model._meta.get_field("ddimer_basis").choices,
        ]
        self.fields["abg_fio2"].help_text = self.fields["abg_fio2"].help_text or _("fraction, 0.21–1.0")

    def apply_issues(self, issues) -> None:
        # A value typed in another unit is refused in the canonical unit: say what was typed too.
        data = self.cleaned_data
        shown = []
        for issue in issues:
            if issue.field in CONVERTED:
                quantity, unit_field = CONVERTED[issue.field]
                unit = data.get(unit_field)
                if unit and unit != canonical_unit(quantity) and data.get(issue.field) is not None:
                    message = _("You entered %(value)s %(unit)s. %(message)s") % {
                        "value": format_number(data[issue.field]),
                        "unit": unit,
                        "message": issue.message,
                    }
                    issue = type(issue)(issue.field, issue.level, issue.code, message)
            shown.append(issue)
        super().apply_issues(shown)


class ReasonForm(forms.Form):
    """The reason for change of a page that edits saved data (ICH GCP audit trail)."""

    reason = forms.CharField(
        label=gettext_lazy("Reason for change"),
        required=False,
        max_length=REASON_MAX_LENGTH,
        help_text=gettext_lazy(
            "Required when you change or delete saved data, e.g. 'transcription error, checked against chart'."
        ),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def add_service_error(self, error: ValidationError) -> None:
        for item in getattr(error, "error_dict", {}).get("reason", []):
            self.add_error("reason", item)


class OxygenCriterionForm(ReasonForm):
    """When the protocol's oxygen criterion was met (clinical definitions §1.2), in the site's time zone: entered
    from the screening at enrolment, corrected here with a reason (cohorts.services.patient_update)."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, zone: datetime.tzinfo, **kwargs):
        super().__init__(*args, **kwargs)
        label = Patient._meta.get_field("oxygen_criterion_at").verbose_name
        self.fields = {"oxygen_criterion_at": site_time_field(label, zone), **self.fields}
        self.fields["reason"].label = _("Reason for change")
        self.fields["reason"].help_text = _("e.g. 'time of the first non-rebreather checked against the chart'.")

    def add_service_error(self, error: ValidationError) -> None:
        for name, items in getattr(error, "error_dict", {}).items():
            for item in items:
                self.add_error(name if name in self.fields else None, item)
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)


class FreezeForm(ReasonForm):
    """The reason of a data manager's freeze or unfreeze of a casebook (cohorts.services.patient_freeze)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = _("Reason")
        self.fields["reason"].help_text = _("Kept with the freeze in the audit trail and the release.")

    def add_service_error(self, error: ValidationError) -> None:
        if hasattr(error, "error_dict"):
            super().add_service_error(error)
        else:
            self.add_error(None, error)


class DeleteForm(ReasonForm):
    """Delete one event record: the version the page was opened at and a reason (audited like an edit)."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reason"].label = _("Reason for deleting")
        self.fields["reason"].help_text = _("e.g. 'entered on the wrong patient'.")

    def add_service_error(self, error: ValidationError) -> None:
        super().add_service_error(error)
        for name, items in getattr(error, "error_dict", {}).items():
            for item in items if name != "reason" else ():
                self.add_error(None, item)
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)


# ------------------------------------------------------------------------------------------ event forms


class EventForm(RecordForm):
    """A drug administration, disposition or adverse event: its own study day, a reason when editing."""

    reason = forms.CharField(label=gettext_lazy("Reason for change"), required=False, max_length=REASON_MAX_LENGTH)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        dated = "study_day" in self.crf.time_days.values()  # a time of the record lies on its study day
        self.fields["study_day"] = LenientIntegerField(
            label=self.study_day_label,
            required=not dated,
            help_text=_("Or leave it empty and give the time: the study day is its date.") if dated else "",
        )
        if self.stored is None:
            self.fields["reason"].widget = forms.HiddenInput()
        for name, kinds, *_refusal in KIND_ONLY_ANSWERS.get(self.crf.key, ()):
            # Said before the save, which refuses the answer with another kind (clinical definitions §2).
            kind_labels = " / ".join(str(kind.label) for kind in kinds)
            self.fields[name].help_text = _("Only with the kind: %(kinds)s.") % {"kinds": kind_labels}

    study_day_label = gettext_lazy("Study day")

    def clean(self):
        """A day left empty beside a time it lies on is the time's date at the site (clinical definitions §2.3),
        as in an import; then the form's checks."""
        data = self.cleaned_data
        facts = self.facts
        for time, day in self.crf.time_days.items():
            moment = data.get(time)
            if data.get(day) is None and moment is not None and day not in self.errors and facts.enrolment_date:
                data[day] = study_day_of(moment, facts.zone or timezone.get_current_timezone(), facts.enrolment_date)
        if data.get("study_day") is None and "study_day" not in self.errors:
            self.add_error(
                "study_day",
                ValidationError(_("Give the study day, or the time it lies on."), code="study_day.required"),
            )
            return data
        return super().clean()

    @property
    def rows(self) -> list[LayoutRow]:
        rows = super().rows
        if self.stored is not None:
            rows.append(LayoutRow([Cell(self["reason"])]))
        return rows

    def add_service_error(self, error: ValidationError) -> None:
        super().add_service_error(error)
        for item in getattr(error, "error_dict", {}).get("reason", []):
            self.add_error("reason", item)


class DrugAdministrationForm(EventForm):
    study_day_label = gettext_lazy("Start (study day)")

    class Meta:
        labels = {
            "stop_day": gettext_lazy("Stop (study day)"),
            "drug_detail": gettext_lazy("Name"),
            "dose_unit": gettext_lazy("Unit"),
        }
        help_texts = {
            "stop_day": gettext_lazy("Empty while ongoing."),
            "drug_detail": gettext_lazy("For antibiotics, glucocorticoids, ..."),
        }

    #: The keys of an arm's regimen (cohorts.models.Arm.regimen) -> the form's fields.
    REGIMEN_FIELDS = {"drug": "drug", "dose": "dose", "unit": "dose_unit", "route": "route", "frequency": "frequency"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stop_day"] = LenientIntegerField(
            required=False, label=_("Stop (study day)"), help_text=_("Empty while ongoing.")
        )
        if self.stored is None and not self.is_bound and self.facts.regimen:
            self._start_from_regimen(self.facts.regimen[0])

    def _start_from_regimen(self, regimen) -> None:
        """A new record starts from the arm's planned regimen (its first drug; clinical definitions §2.1, the
        regimen check): the nurse changes what differs. A value that is not one of the form's choices is left
        out."""
        for key, name in self.REGIMEN_FIELDS.items():
            value = regimen.get(key)
            choices = {str(c) for c, _ in getattr(self.fields[name], "choices", ())}
            if value in (None, "") or (choices and str(value) not in choices):
                continue
            self.initial.setdefault(name, value)


class DispositionEventForm(EventForm):
    class Meta:
        labels = {
            "normal_activities": gettext_lazy("Resumed normal activities"),
            "alive": gettext_lazy("Alive at contact"),
        }


class VentilationEpisodeForm(EventForm):
    """One episode of invasive ventilation: intubation, and its end once it has ended (clinical definitions §2.3)."""

    study_day_label = gettext_lazy("Intubation (study day)")

    class Meta:
        help_texts = {"end_reason": gettext_lazy("Empty while the patient is still on the ventilator.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["end_day"] = LenientIntegerField(
            required=False, label=_("End (study day)"), help_text=_("Empty while ongoing.")
        )


# ------------------------------------------------------------------------------------- one class per form

#: Forms with a layout or behaviour of their own (their Meta adds labels); every other form of the catalogue gets
#: RecordForm or EventForm as it is. Each class is completed with its catalogue entry, model and fields here.
_CUSTOM: dict[str, type[RecordForm]] = {
    "respiratory_support": RespiratorySupportForm,
    "laboratory": LabResultForm,
    "drug_administration": DrugAdministrationForm,
    "disposition_events": DispositionEventForm,
    "ventilation_episodes": VentilationEpisodeForm,
}


def _form_class(crf: Crf) -> type[RecordForm]:
    base = _CUSTOM.get(crf.key) or (RecordForm if crf.per_day else EventForm)
    meta = type("Meta", (getattr(base, "Meta", object),), {"model": crf.model, "fields": crf.fields})
    return type(f"{crf.model.__name__}Form", (base,), {"crf": crf, "Meta": meta, "__module__": __name__})


FORM_CLASSES: dict[str, type[RecordForm]] = {key: _form_class(crf) for key, crf in CATALOGUE.items()}
DAY_FORM_CLASSES = {key: FORM_CLASSES[key] for key in DAY_FORMS}
EVENT_FORM_CLASSES = {key: FORM_CLASSES[key] for key in EVENT_FORMS}
