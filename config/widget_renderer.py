"""The form renderer: Django's Jinja2 widget templates, with the widgets of the daily forms (inputs, selects, text
areas) written in Python to the same HTML, character for character (tests/test_widget_renderer.py compares the two).
An entry page renders about 60 widgets, and a template per widget was a third of its time; anything else (a radio
list, a multi-widget, a whole form's layout) goes to the templates."""

from collections.abc import Callable, Mapping
from typing import Any

from django.forms.renderers import Jinja2
from markupsafe import escape

_WIDGETS = "django/forms/widgets/"
_OPTION = f"{_WIDGETS}select_option.html"


def _attrs(attrs: Mapping[str, Any]) -> str:
    """attrs.html: ``name="value"`` for each attribute, the name alone for True, nothing for False."""
    return "".join(
        f" {escape(name)}" if value is True else f' {escape(name)}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not False
    )


def _input(widget: Mapping[str, Any]) -> str:
    value = f' value="{escape(widget["value"])}"' if widget["value"] is not None else ""
    return f'<input type="{escape(widget["type"])}" name="{escape(widget["name"])}"{value}{_attrs(widget["attrs"])}>'


def _select(widget: Mapping[str, Any]) -> str | None:
    parts = [f'<select name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{escape(group_name)}">')
        for option in options:
            if option["template_name"] != _OPTION:
                return None  # a widget with options of its own template
            parts.append(
                f'\n  <option value="{escape(option["value"])}"{_attrs(option["attrs"])}>{escape(option["label"])}'
                "</option>"
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _textarea(widget: Mapping[str, Any]) -> str:
    value = escape(widget["value"]) if widget["value"] else ""
    return f'<textarea name="{escape(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>'


_INPUT_TYPES = ("text", "number", "email", "url", "tel", "search", "password", "hidden", "checkbox", "date", "time")
_WRITERS: dict[str, Callable[[Mapping[str, Any]], str | None]] = {
    **{f"{_WIDGETS}{name}.html": _input for name in (*_INPUT_TYPES, "datetime", "input")},
    f"{_WIDGETS}select.html": _select,
    f"{_WIDGETS}textarea.html": _textarea,
}


class WidgetRenderer(Jinja2):
    """Django's Jinja2 form renderer, with the common widgets written without a template."""

    def render(self, template_name, context, request=None):
        write = _WRITERS.get(template_name)
        widget = context.get("widget")
        if write is not None and widget is not None:
            html = write(widget)
            if html is not None:
                return html
        return super().render(template_name, context, request)
