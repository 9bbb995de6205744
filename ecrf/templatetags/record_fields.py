"""The errors and the help under a field of a record form (templates/ecrf/_record_field.html), as crispy-forms'
Bootstrap 5 pack writes them (layout/field_errors.html, layout/help_text.html): tags, not included templates,
because an entry page has about 60 fields and an include costs more than the few lines it writes."""

from django import template
from django.forms import BoundField
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

register = template.Library()


@register.simple_tag
def field_errors(field: BoundField) -> str:
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


@register.simple_tag
def field_help(field: BoundField) -> str:
    """The help text is the form's own HTML (the values of the day before): not escaped, as crispy writes it."""
    if not field.help_text:
        return ""
    where = format_html(' id="{}_helptext"', field.auto_id) if field.auto_id else ""
    return format_html('<div{} class="form-text">{}</div>', where, mark_safe(field.help_text))
