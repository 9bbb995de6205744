"""The form renderer writes the common widgets without templates (config/widget_renderer.py): each must come out
exactly as Django's Jinja2 widget templates write it, whatever the value, the attributes and the choices."""

import datetime

import pytest
from django import forms
from django.forms.renderers import Jinja2
from hypothesis import given, settings
from hypothesis import strategies as st

from config.widget_renderer import WidgetRenderer

TEMPLATES = Jinja2()
WRITTEN = WidgetRenderer()

# Text that HTML must escape, and the values a form gives a widget.
text = st.text(alphabet=st.sampled_from(list("ab <>&\"'é0,.")), max_size=8)
numbers = st.decimals(places=2, allow_nan=False, allow_infinity=False)
values = st.one_of(st.none(), text, st.integers(-5, 5), st.booleans(), numbers)
attributes = st.dictionaries(
    st.sampled_from(["class", "aria-label", "title", "step", "disabled", "required", "autofocus", "data-x"]),
    st.one_of(st.booleans(), text, st.integers(0, 3)),
    max_size=4,
)
choices = st.lists(st.tuples(text, text), max_size=4)
grouped = st.lists(st.tuples(text, choices), max_size=3)


def both(widget: forms.Widget, value, attrs=None) -> tuple[str, str]:
    return (
        widget.render("field", value, attrs=attrs, renderer=TEMPLATES),
        widget.render("field", value, attrs=attrs, renderer=WRITTEN),
    )


INPUTS = [
    forms.TextInput,
    forms.NumberInput,
    forms.EmailInput,
    forms.URLInput,
    forms.PasswordInput,
    forms.HiddenInput,
    forms.DateInput,
    forms.TimeInput,
    forms.DateTimeInput,
    forms.CheckboxInput,
    forms.Textarea,
]


@pytest.mark.parametrize("widget_class", INPUTS, ids=lambda c: c.__name__)
@settings(max_examples=40, deadline=None)
@given(value=values, attrs=attributes)
def test_inputs_and_text_areas_are_written_as_the_templates_write_them(widget_class, value, attrs):
    templates, written = both(widget_class(attrs=attrs), value)
    assert written == templates


@settings(max_examples=60, deadline=None)
@given(choices=choices, value=st.one_of(st.none(), text), attrs=attributes)
def test_selects_are_written_as_the_templates_write_them(choices, value, attrs):
    templates, written = both(forms.Select(attrs=attrs, choices=choices), value)
    assert written == templates


@settings(max_examples=40, deadline=None)
@given(groups=grouped, value=st.one_of(st.none(), text))
def test_selects_with_option_groups_are_written_as_the_templates_write_them(groups, value):
    templates, written = both(forms.Select(choices=groups), value)
    assert written == templates


def test_the_widgets_of_a_daily_form_are_written_as_the_templates_write_them():
    """The kinds a record form uses, with the values a stored record gives them (dates, decimals, a null
    boolean, a multiple select) and the attributes a bound field adds."""
    cases = [
        (forms.DateTimeInput(attrs={"type": "datetime-local"}), datetime.datetime(2020, 3, 16, 9, 30)),
        (forms.NullBooleanSelect(), None),
        (forms.NullBooleanSelect(), True),
        (forms.SelectMultiple(choices=[("a", "A"), ("b", "B & C")]), ["a", "b"]),
        (forms.CheckboxInput(), True),
        (forms.NumberInput(attrs={"step": "0.1", "aria-describedby": "id_x_helptext"}), 37.5),
        (forms.Textarea(attrs={"rows": 2}), "line\nnext <b>"),
    ]
    for widget, value in cases:
        templates, written = both(widget, value, attrs={"id": "id_field", "aria-invalid": "true"})
        assert written == templates, widget


def test_widgets_it_does_not_write_go_to_the_templates():
    """A radio list has templates of its own: the renderer leaves it to them."""
    widget = forms.RadioSelect(choices=[("a", "A"), ("b", "B")])
    templates, written = both(widget, "a")
    assert written == templates
    assert 'type="radio"' in written
