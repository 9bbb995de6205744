"""A cell of a record form (ecrf.forms.Cell) in the HTML crispy-forms' Bootstrap 5 pack writes
(bootstrap5/field.html, layout/prepended_appended_text.html, layout/field_errors.html, layout/help_text.html), made
in Python: an entry page has about 60 fields, and rendering each through included templates was most of its time."""

from django import forms, template
from django.conf import settings
from django.forms import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from ecrf.forms import Cell

register = template.Library()


@register.simple_tag
def record_cell(cell: Cell) -> SafeString:
    """The cell's field, with its unit or unit select and its missing-data code select beside it, and the
    confirmation box of a soft check under it."""
    if cell.unit_select is not None:
        html = format_html(
            '<div class="row g-1"><div class="col">{}</div><div class="col-4">{}</div>{}</div>\n',
            field_html(cell.field),
            field_html(cell.unit_select),
            _code_html(cell.code),
        )
    elif cell.code is not None:
        html = format_html(
            '<div class="row g-1"><div class="col">{}</div>{}</div>\n',
            field_html(cell.field, cell.unit),
            _code_html(cell.code),
        )
    else:
        html = field_html(cell.field, cell.unit)
    if cell.confirm is not None:
        html += format_html('<div class="confirm-box">{}</div>', field_html(cell.confirm))
    return html


def _code_html(code: BoundField | None) -> str:
    return format_html('<div class="col-auto mc-cell">{}</div>', field_html(code)) if code is not None else ""


def field_html(field: BoundField, unit: str = "") -> SafeString:
    """One field: a hidden input, a check box, or a labelled input or select (with ``unit`` after it in an input
    group), with its errors and its help."""
    if field.is_hidden:
        return mark_safe(str(field))
    invalid = " is-invalid" if field.errors else ""
    extra = field.css_classes()
    extra = f" {extra}" if extra else ""
    required = " requiredField" if field.field.required else ""
    asterisk = mark_safe('<span class="asteriskField">*</span>') if field.field.required else ""
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        return format_html(
            '<div class="mb-3"><div id="div_{}" class="form-check{}">{}<label for="{}" class="form-check-label{}">'
            "{}{}</label>{}{}</div></div>\n",
            field.auto_id,
            extra,
            _widget_html(field, "form-check-input" + invalid),
            field.id_for_label,
            required,
            field.label,
            asterisk,
            _errors_html(field),
            _help_html(field),
        )
    label = ""
    if unit:
        if field.label:
            label = format_html(
                '<label for="{}" class="form-label{}">{}{}</label>', field.id_for_label, required, field.label, asterisk
            )
        return format_html(
            '<div id="div_{}" class="mb-3{}{}">{}<div><div class="input-group">{}<span class="input-group-text">{}'
            "</span>{}</div>{}</div></div>\n",
            field.auto_id,
            " has-danger" if field.errors else "",
            extra,
            label,
            _widget_html(field, "form-control" + invalid),
            unit,
            _errors_html(field),
            _help_html(field),
        )
    if field.label:
        where = format_html('for="{}" ', field.id_for_label) if field.id_for_label else ""
        label = format_html('<label {}class="form-label{}">{}{}</label>', where, required, field.label, asterisk)
    control = "form-select" if isinstance(widget, forms.Select) else "form-control"
    return format_html(
        '<div id="div_{}" class="mb-3{}">{}{}{}{}</div>\n',
        field.auto_id,
        extra,
        label,
        _widget_html(field, control + invalid),
        _errors_html(field),
        _help_html(field),
    )


def _widget_html(field: BoundField, css: str) -> str:
    """The widget with the classes crispy's ``crispy_field`` tag gives it: the widget's class name (or its
    CRISPY_CLASS_CONVERTERS name) and ``css``, added to the widget's own."""
    widget = field.field.widget
    converters = getattr(settings, "CRISPY_CLASS_CONVERTERS", {})
    for inner in getattr(widget, "widgets", [getattr(widget, "widget", widget)]):
        name = inner.__class__.__name__.lower()
        name = converters.get(name, name)
        classes = inner.attrs.get("class", "")
        if not classes:
            classes = name
        elif name not in classes:
            classes += f" {name}"
        for word in css.split():
            if word not in classes.split():
                classes += f" {word}"
        inner.attrs["class"] = classes
    return str(field)


def _errors_html(field: BoundField) -> str:
    if not field.errors:
        return ""
    return format_html(
        '<div id="{}_error" class="invalid-feedback">{}</div>',
        field.errors.field_id,
        format_html_join(
            "",
            '<span id="error_{}_{}"><strong>{}</strong></span>',
            ((number, field.auto_id, error) for number, error in enumerate(field.errors, start=1)),
        ),
    )


def _help_html(field: BoundField) -> str:
    """The help text is the form's own HTML (the values of the day before): not escaped, as crispy writes it."""
    if not field.help_text:
        return ""
    where = format_html(' id="{}_helptext"', field.auto_id) if field.auto_id else ""
    return format_html('<div{} class="form-text">{}</div>', where, mark_safe(field.help_text))
