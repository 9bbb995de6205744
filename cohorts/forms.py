"""Screening and enrolment forms (clinical definitions §1.3), laid out with crispy-forms (Bootstrap 5).

The screening form is generated from the study's rule set (cohorts/eligibility): one input per field the
criteria read, yes/no/unknown for answers, a unit selector where the quantity has several units. Values are
converted to canonical units (cohorts/units.py) before evaluation, and every criterion's verdict is kept on the
form (``form.evaluation``) for the page and the htmx preview.
"""

import datetime
import json
import re

from crispy_forms.bootstrap import AppendedText, InlineRadios
from crispy_forms.helper import FormHelper
from crispy_forms.layout import Div, Fieldset, Layout
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cohorts import enrolment, regimens, roles, selectors, services, setup
from cohorts.audit import REASON_MAX_LENGTH, last_change
from cohorts.clock import site_zone
from cohorts.constraints import WithinLimit
from cohorts.eligibility.engine import RULE_SETS, get_rule_set
from cohorts.eligibility.fields import Field
from cohorts.limits import LIMITS
from cohorts.local_times import in_zone
from cohorts.models import COMORBIDITIES, Arm, Screening, Sex, Site, Study
from cohorts.units import ddimer_basis_choices, to_canonical, unit_choices

YES_NO_UNKNOWN = [("yes", _("Yes")), ("no", _("No")), ("unknown", _("Unknown"))]
ANSWERS = {"yes": True, "no": False}

# Numbers are refused by their row of the limits table, with a message naming the variable, its range and unit
# (enrolment.limit_problem, weight_problem), never by Django's own bounds or digit counts: the fields below have
# no min_value, max_value or max_digits. The age's limits are plausibility, not the protocol's minimum age (an
# eligibility criterion).


def yes_no_unknown(label: str, help_text: str = "") -> forms.ChoiceField:
    """A yes/no answer where "unknown" (or nothing ticked) means not recorded."""
    return forms.ChoiceField(
        label=label, choices=YES_NO_UNKNOWN, required=False, widget=forms.RadioSelect, help_text=help_text
    )


def unit_field_name(name: str) -> str:
    return f"{name}_unit"


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs=None):
        super().__init__(attrs, format="%Y-%m-%d")


class ScreeningForm(forms.Form):
    """One screening of a candidate: the rule set's inputs, site, time of assessment, optional re-screen link.

    ``as_screen_failure``: the investigator records the screening as a screen failure although data is missing
    (the missing criteria become "missing" reasons in the log); otherwise missing data is an error on its field.
    """

    site = forms.ModelChoiceField(label=_("Site"), queryset=None, empty_label=None)
    assessed_at = forms.DateTimeField(
        label=_("Date and time of assessment"),
        widget=DateTimeLocalInput(),
        help_text=_("The clock time at the chosen site."),
    )
    rescreen_of = forms.ModelChoiceField(
        queryset=None,
        required=False,
        label=_("Re-screen of"),
        empty_label=_("(first screening of this candidate)"),
        help_text=_("Link a previous screening of the same candidate; the log counts the candidate once."),
    )

    def __init__(self, *args, study: Study, user, as_screen_failure: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.study = study
        self.rule_set = get_rule_set(study.protocol)
        self.as_screen_failure = as_screen_failure
        self.evaluation = None
        self.values: dict = {}
        self.entered_units: dict[str, str] = {}
        self.fields["site"].queryset = selectors.study_site_list(user=user, study=study, allowed=roles.SCREENERS)
        self.fields["rescreen_of"].queryset = selectors.rescreen_candidates(user=user, study=study)
        self.fields["rescreen_of"].label_from_instance = _rescreen_choice
        used_by: dict[str, list[str]] = {}
        for criterion in self.rule_set.criteria:
            for name in criterion.fields:
                used_by.setdefault(name, []).append(criterion.label)
        for field in self.rule_set.fields:
            # Say which criterion reads the input, unless the criterion is the question itself (English labels).
            criteria = [gettext(label) for label in used_by.get(field.name, []) if label != field.label]
            help_text = gettext("Used for: %(criteria)s") % {"criteria": "; ".join(criteria)} if criteria else ""
            self._add_input(field, help_text)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = self._layout()

    def _add_input(self, field: Field, help_text: str) -> None:
        label = gettext(field.label)
        if field.kind == "bool":
            self.fields[field.name] = yes_no_unknown(label, help_text)
        elif field.kind == "choice":
            choices = ddimer_basis_choices() if field.name == "ddimer_basis" else [(c, c) for c in field.choices]
            self.fields[field.name] = forms.ChoiceField(
                label=label, choices=[("", gettext("not recorded")), *choices], required=False, help_text=help_text
            )
        elif field.kind == "datetime":  # a time of what the candidate had by the assessment (screening_time_problems)
            self.fields[field.name] = forms.DateTimeField(
                label=label,
                required=False,
                widget=DateTimeLocalInput(),
                help_text=help_text or _("The clock time at the chosen site; not after the assessment."),
            )
        elif field.name == "age_years":
            self.fields[field.name] = forms.IntegerField(
                label=gettext("%(label)s (years)") % {"label": label}, required=False, help_text=help_text
            )
        else:
            self.fields[field.name] = forms.DecimalField(
                label=label,
                required=False,
                decimal_places=6,
                help_text=help_text,
                widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
            )
            if field.quantity and len(unit_choices(field.quantity)) > 1:
                self.fields[unit_field_name(field.name)] = forms.ChoiceField(
                    label=gettext("Unit"), choices=unit_choices(field.quantity), initial=field.unit, required=False
                )

    def _layout(self) -> Layout:
        inputs = []
        for field in self.rule_set.fields:
            name = field.name
            if field.kind == "bool":
                inputs.append(InlineRadios(name))
            elif unit_field_name(name) in self.fields:
                inputs.append(
                    Div(
                        Div(name, css_class="col-sm-8"),
                        Div(unit_field_name(name), css_class="col-sm-4 form-unit"),
                        css_class="row g-2",
                    )
                )
            elif field.kind == "number" and field.unit and field.unit not in ("fraction", "years"):
                inputs.append(AppendedText(name, field.unit))
            else:
                inputs.append(name)
        return Layout(
            Fieldset(
                gettext("Candidate"),
                Div(
                    Div("site", css_class="col-md-4"),
                    Div("assessed_at", css_class="col-md-4"),
                    Div("rescreen_of", css_class="col-md-4"),
                    css_class="row",
                ),
            ),
            Fieldset(gettext("Eligibility: %(protocol)s") % {"protocol": gettext(self.rule_set.title)}, *inputs),
        )

    def initial_from(self, screening: Screening) -> None:
        """Start a re-screen from the previous screening's values (canonical units) and site."""
        self.initial["site"] = screening.site_id
        self.initial["rescreen_of"] = screening.pk
        for field in self.rule_set.fields:
            value = screening.values.get(field.name)
            if value is None:
                continue
            if field.kind == "bool":
                self.initial[field.name] = "yes" if value else "no"
            elif field.kind == "datetime":  # shown as the clock time at the site, as it was typed
                moment = datetime.datetime.fromisoformat(value)
                self.initial[field.name] = moment.astimezone(site_zone(screening.site)).replace(tzinfo=None)
            else:
                self.initial[field.name] = value

    def _times_at_site(self, cleaned: dict) -> None:
        """The times typed on the form are the clock time at the chosen site (clinical definitions §2.3): read
        again in its zone (they were parsed in the server's before the site was known); then their plausibility
        (cohorts.enrolment: the assessment's, and the recorded times' against it)."""
        site = cleaned.get("site")
        recorded = [field.name for field in self.rule_set.fields if field.kind == "datetime"]
        if site is not None:
            for name in ("assessed_at", *recorded):
                if cleaned.get(name) is not None:
                    cleaned[name] = in_zone(cleaned[name], site_zone(site))
        problems = enrolment.screening_time_problems(
            cleaned.get("assessed_at"), {name: cleaned.get(name) for name in recorded}, timezone.now()
        )
        for name, (message, code) in problems.items():
            self.add_error(name, ValidationError(message, code=code))

    def _canonical(self, field: Field, raw) -> float | None:
        """The typed number in the canonical unit, or None (with an error on the field) when implausible."""
        unit = field.unit
        unit_name = unit_field_name(field.name)
        if unit_name in self.fields:
            if unit_name in self.errors:
                return None
            unit = self.cleaned_data.get(unit_name) or field.unit  # not sent: the canonical unit
        value = to_canonical(field.quantity, raw, unit) if field.quantity else float(raw)
        if field.quantity:
            self.entered_units[field.name] = unit
        problem = enrolment.limit_problem(field.name, value, field.unit)
        if problem:
            self.add_error(field.name, ValidationError(f"{gettext(field.label)}: {problem}", code="hard_limit"))
            return None
        return value

    def clean(self):
        cleaned = super().clean()
        self._times_at_site(cleaned)
        values = {}
        for field in self.rule_set.fields:
            raw = cleaned.get(field.name)
            if field.kind == "bool":
                values[field.name] = ANSWERS.get(raw)
            elif field.kind == "number":
                values[field.name] = None if raw is None else self._canonical(field, raw)
            else:
                values[field.name] = raw or None
        if values.get("ddimer_ng_ml") is not None and "ddimer_basis" in self.fields and not values.get("ddimer_basis"):
            self.add_error(
                "ddimer_basis",
                ValidationError(
                    gettext("Give the unit basis of the D-dimer (FEU or DDU); the two are never converted."),
                    code="ddimer_basis_required",
                ),
            )
        self.values = values
        self.evaluation = self.rule_set.evaluate(values, self.study.eligibility_settings())
        if not self.as_screen_failure:
            for name, errors in enrolment.missing_field_errors(self.evaluation, self.fields).items():
                if name not in self.errors:
                    for message, code in errors:
                        self.add_error(name, ValidationError(message, code=code))
        elif self.evaluation.eligible:
            raise ValidationError(
                gettext("Every criterion is met: this candidate is not a screen failure. Save the screening to enrol."),
                code="not_a_screen_failure",
            )
        return cleaned

    @property
    def failing_labels(self) -> str:
        """The criteria that make the candidate not eligible, for the live verdict: "Age; PEEP at the blood gas"."""
        return "; ".join(c.label for c in self.evaluation.failing) if self.evaluation else ""

    @property
    def conversions(self) -> list[str]:
        return enrolment.conversion_notes(self.values, self.entered_units)

    @property
    def criteria(self) -> list[dict]:
        return enrolment.criteria_rows(self.evaluation) if self.evaluation else []


def _rescreen_choice(screening: Screening) -> str:
    """A previous screening in the re-screen list: "MI-S0007 (MI, 03 Apr 2020 10:15, not eligible)"."""
    words = {
        "number": screening.number,
        "site": screening.site.code,
        "assessed": f"{timezone.localtime(screening.assessed_at):%d %b %Y %H:%M}",
    }
    if screening.eligible:
        return gettext("%(number)s (%(site)s, %(assessed)s, eligible)") % words
    return gettext("%(number)s (%(site)s, %(assessed)s, not eligible)") % words


def enrolment_refusal(screening: Screening) -> ValidationError | None:
    """Why this screening cannot be enrolled, as the enrolment service decides it."""
    enrolled = getattr(screening, "patient", None) if screening.pk else None
    return services.enrolment_refusal(screening, enrolled=enrolled)


# The model's labels, capitalised ("COPD" is its verbose name), so the form and the audit trail name a comorbidity
# alike; written out to be marked for translation (the model's other names are Django's, from the field names).
COMORBIDITY_LABELS = {
    "smoking": _("Smoking"),
    "hypertension": _("Hypertension"),
    "coronary_artery_disease": _("Coronary artery disease"),
    "diabetes": _("Diabetes"),
    "copd": _("COPD"),
    "chronic_kidney_disease": _("Chronic kidney disease"),
}
assert set(COMORBIDITY_LABELS) == set(COMORBIDITIES), "a comorbidity of the model has no label here"


class EnrolmentForm(forms.Form):
    """Enrol the candidate of an eligible screening: arm, day 0 and the baseline of clinical definitions §2."""

    arm = forms.ModelChoiceField(label=_("Arm"), queryset=None, widget=forms.RadioSelect, empty_label=None)
    enrolment_date = forms.DateField(
        label=_("Enrolment date (study day 0)"),
        widget=DateInput(),
        help_text=_("Day 0 = the day of enrolment (first anakinra dose in treated arms)."),
    )
    sex = forms.ChoiceField(label=_("Sex"), choices=Sex.choices, widget=forms.RadioSelect)
    age_years = forms.IntegerField(label=_("Age (years)"), required=False)
    weight_kg = forms.DecimalField(label=_("Weight"), decimal_places=1, required=False)
    weight_confirmed = forms.BooleanField(required=False)  # labelled in __init__ (the limit, in the language)

    def __init__(self, *args, screening: Screening, **kwargs):
        super().__init__(*args, **kwargs)
        self.screening = screening
        self.fields["arm"].queryset = selectors.arm_list(study=screening.study)
        self.fields["arm"].label_from_instance = lambda arm: arm.name
        self.fields["weight_confirmed"].label = gettext("Confirm weight above %(limit)s kg") % {
            "limit": LIMITS["weight_kg"].soft_high
        }
        self.fields["enrolment_date"].initial = timezone.localdate(screening.assessed_at)
        screened_age = screening.values.get("age_years")
        if screened_age is not None:
            # Not typed twice: the age of the screening is the baseline age.
            self.fields["age_years"].initial = int(screened_age)
            self.fields["age_years"].disabled = True
            self.fields["age_years"].help_text = gettext("From screening %(number)s.") % {"number": screening.number}
        else:
            self.fields["age_years"].required = True
        for name in COMORBIDITIES:
            self.fields[name] = yes_no_unknown(COMORBIDITY_LABELS[name])
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(
            Fieldset(
                gettext("Enrolment"),
                InlineRadios("arm"),
                Div(Div("enrolment_date", css_class="col-md-4"), css_class="row"),
            ),
            Fieldset(
                gettext("Baseline"),
                InlineRadios("sex"),
                Div(
                    Div("age_years", css_class="col-md-3"),
                    Div(AppendedText("weight_kg", "kg"), css_class="col-md-3"),
                    Div("weight_confirmed", css_class="col-md-4 pt-md-4"),
                    css_class="row",
                ),
            ),
            Fieldset(gettext("Comorbidities"), *(InlineRadios(name) for name in COMORBIDITIES)),
        )

    def clean(self):
        cleaned = super().clean()
        refusal = enrolment_refusal(self.screening)
        if refusal is not None:
            raise refusal
        age = cleaned.get("age_years")
        problem = enrolment.limit_problem("age_years", age, "years") if age is not None else None
        if problem and "age_years" not in self.errors:
            self.add_error(
                "age_years", ValidationError(gettext("Age: %(problem)s") % {"problem": problem}, code="hard_limit")
            )
        problem = enrolment.weight_problem(cleaned.get("weight_kg"), cleaned.get("weight_confirmed", False))
        if problem and "weight_kg" not in self.errors:
            self.add_error("weight_kg", ValidationError(problem[1], code=problem[0]))
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "arm": data["arm"],
            "enrolment_date": data["enrolment_date"],
            "sex": data["sex"],
            "age_years": data.get("age_years"),
            "weight_kg": data.get("weight_kg"),
            "weight_confirmed": data.get("weight_confirmed", False),
            "comorbidities": {name: ANSWERS.get(data.get(name)) for name in COMORBIDITIES},
        }


# --------------------------------------------------------------------------------------------
# Study set-up (cohorts/setup.py). The forms only parse what was typed; every rule is the service's, whose
# problems come back with their paths and are put next to their fields (``place_setup_errors``).
# --------------------------------------------------------------------------------------------

REASON_HELP = _(
    "Required once the study has enrolled patients: every change is then recorded in the history with its reason."
)
ARDS_FIELDS = ("ards_severe_pf_below", "ards_moderate_pf_max")


def reason_field() -> forms.CharField:
    return forms.CharField(
        label=_("Reason for change"), required=False, max_length=REASON_MAX_LENGTH, help_text=REASON_HELP
    )


# The set-up forms' labels of the model fields whose names Django makes from the field name ("follow_up_days" ->
# "Follow up days"), marked for translation (an explicit verbose_name would be a migration).
_SETUP_LABELS = {
    "code": _("Code"),
    "title": _("Title"),
    "follow_up_days": _("Follow-up days"),
    "primary_scale": _("Primary scale"),
    "name": _("Name"),
    "time_zone": _("Time zone"),
    "order": _("Order"),
}


def opened_field() -> forms.IntegerField:
    """The stamp of what a page's record was when the page was opened (cohorts.audit.last_change), sent back with
    the form: a save over a change someone else saved meanwhile is refused instead of putting the old values back."""
    return forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)


def _model_fields(model, names) -> dict[str, forms.Field]:
    """The form fields of ``model``'s fields ``names``, parsing only: a number with a row in the limits table is
    checked by the set-up service with that row's range (its model field's WithinLimit), never refused here by
    Django's bounds and digit counts ("Ensure that there are no more than 6 digits in total")."""
    model_fields = {f.name: f for f in model._meta.concrete_fields}
    made = forms.fields_for_model(model, fields=names, labels=_SETUP_LABELS)
    for name, field in made.items():
        if any(isinstance(v, WithinLimit) for v in model_fields[name].validators):
            field.validators = []
            field.widget.attrs = {k: v for k, v in field.widget.attrs.items() if k not in ("min", "max")}
    return made


def _setup_helper(*fields) -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    helper.disable_csrf = True
    if fields:
        helper.layout = Layout(*fields)
    return helper


class StudySetupForm(forms.Form):
    """A study's fields, its ARDS bands and other settings, and the sites taking part."""

    protocol = forms.ChoiceField(label=_("Protocol (eligibility rule set)"))
    ards_severe_pf_below = forms.FloatField(
        label=_("ARDS severe below (P/F, mmHg)"),
        required=False,
        help_text=_("Empty: the default of clinical definitions §3.2.5."),
    )
    ards_moderate_pf_max = forms.FloatField(
        label=_("ARDS moderate up to (P/F, mmHg)"),
        required=False,
        help_text=_("Must be higher than the severe band's limit. Empty: the default."),
    )
    other_settings = forms.CharField(
        label=_("Other study settings (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
        help_text=_(
            'Overrides only, e.g. {"eligibility": {"milan_crp_min_mg_l": 80}} (clinical definitions, "Study settings").'
        ),
    )
    sites = forms.MultipleChoiceField(
        label=_("Sites"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The sites taking part in the study."),
    )
    reason = reason_field()
    opened = opened_field()

    def __init__(self, *args, study: Study | None = None, sites, **kwargs):
        super().__init__(*args, **kwargs)
        model_fields = _model_fields(Study, [f for f in setup.STUDY_FIELDS if f != "protocol"])
        for name, form_field in model_fields.items():
            self.fields[name] = form_field
        self.fields["language"].required = False  # not given: the study keeps its language (new: English)
        self.fields["protocol"].choices = [("", "---------"), *((c, gettext(r.title)) for c, r in RULE_SETS.items())]
        self.fields["sites"].choices = [(site.code, str(site)) for site in sites]
        self.order_fields([*setup.STUDY_FIELDS, *ARDS_FIELDS, "other_settings", "sites", "reason", "opened"])
        if study is not None and not self.is_bound:
            self.initial = {name: getattr(study, name) for name in setup.STUDY_FIELDS}
            settings = json.loads(json.dumps(study.settings or {}))
            derivation = settings.get("derivation", {})
            for name in ARDS_FIELDS:
                if name in derivation:
                    self.initial[name] = derivation.pop(name)
            if not derivation:
                settings.pop("derivation", None)
            self.initial["other_settings"] = json.dumps(settings, indent=1) if settings else ""
            self.initial["sites"] = [site.code for site in study.sites.all()]
            self.initial["opened"] = last_change(study)
        self.helper = _setup_helper()

    def clean_other_settings(self) -> dict:
        text = self.cleaned_data["other_settings"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as error:
            raise ValidationError(gettext("Not valid JSON: %(error)s") % {"error": error}, code="json") from None
        if not isinstance(value, dict):
            raise ValidationError(gettext('A JSON object, e.g. {"derivation": {...}}.'), code="json")
        derivation = value.get("derivation")
        if isinstance(derivation, dict) and set(derivation) & set(ARDS_FIELDS):
            raise ValidationError(gettext("Give the ARDS bands in their own fields above."), code="ards_twice")
        return value

    def setup_data(self) -> dict:
        """The study in the shape of cohorts/setup.py (and of a study file)."""
        data = {name: self.cleaned_data.get(name) for name in setup.STUDY_FIELDS}
        settings = json.loads(json.dumps(self.cleaned_data.get("other_settings") or {}))
        bands = {name: self.cleaned_data[name] for name in ARDS_FIELDS if self.cleaned_data.get(name) is not None}
        if bands:
            derivation = settings.setdefault("derivation", {})
            if isinstance(derivation, dict):
                derivation.update(bands)
        data["settings"] = settings
        return data

    def site_codes(self) -> list[str]:
        return list(self.cleaned_data.get("sites") or ())


class SiteSetupForm(forms.Form):
    """A site: the fields of ``cohorts.setup.SITE_FIELDS``, taken from the model (labels, types)."""

    reason = reason_field()
    opened = opened_field()

    def __init__(self, *args, site: Site | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        for name, form_field in _model_fields(Site, setup.SITE_FIELDS).items():
            self.fields[name] = form_field
        self.order_fields([*setup.SITE_FIELDS, "reason", "opened"])
        if site is not None and not self.is_bound:
            self.initial = {name: getattr(site, name) for name in setup.SITE_FIELDS}
            self.initial["opened"] = last_change(site)
        self.helper = _setup_helper()

    def setup_data(self) -> dict:
        return {name: self.cleaned_data.get(name) for name in setup.SITE_FIELDS}


class ArmSetupForm(forms.Form):
    reason = reason_field()
    opened = opened_field()

    def __init__(self, *args, arm: Arm | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        fields = forms.fields_for_model(Arm, fields=list(setup.ARM_FIELDS.values()), labels=_SETUP_LABELS)
        for key, model_name in setup.ARM_FIELDS.items():
            self.fields[key] = fields[model_name]
        self.fields["description"].label = _("Regimen description")
        self.fields["description"].widget.attrs["rows"] = 2
        self.fields["order"].required = False
        self.fields["order"].label = _("Display order")
        self.order_fields([*setup.ARM_FIELDS, "reason", "opened"])
        if arm is not None and not self.is_bound:
            self.initial = {key: getattr(arm, name) for key, name in setup.ARM_FIELDS.items()}
            self.initial["opened"] = last_change(arm)
        self.helper = _setup_helper()

    def setup_data(self) -> dict:
        data = {key: self.cleaned_data.get(key) for key in setup.ARM_FIELDS}
        if data["order"] is None:
            del data["order"]
        return data


def _choices(known) -> list[tuple[str, str]]:
    return [("", "---------"), *known.items()]


class DoseForm(forms.Form):
    """One drug of an arm's regimen (a row of the regimen table); an empty row is no drug."""

    drug = forms.ChoiceField(label=_("Drug"), choices=_choices(regimens.DRUGS), required=False)
    dose = forms.DecimalField(label=_("Dose"), required=False, max_digits=12, decimal_places=6)
    unit = forms.ChoiceField(label=_("Unit"), choices=_choices(regimens.UNITS), required=False)
    route = forms.ChoiceField(label=_("Route"), choices=_choices(regimens.ROUTES), required=False)
    frequency = forms.ChoiceField(label=_("Frequency"), choices=_choices(regimens.FREQUENCIES), required=False)
    duration_days = forms.IntegerField(label=_("Planned days"), required=False, min_value=1, max_value=10_000)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            select = isinstance(field, forms.ChoiceField)
            field.widget.attrs["class"] = "form-select form-select-sm" if select else "form-control form-control-sm"

    def is_blank(self) -> bool:
        data = getattr(self, "cleaned_data", {})
        return not any(data.get(name) not in (None, "") for name in self.fields)


RegimenFormSet = forms.formset_factory(DoseForm, extra=2, max_num=12, absolute_max=12)


def regimen_formset(data=None, *, arm: Arm | None = None) -> forms.BaseFormSet:
    initial = None
    if arm is not None:
        initial = [
            {**dose.to_json(), "dose": dose.dose} for dose in regimens.from_json(arm.regimen)
        ]  # the stored regimen, as read (an incomplete old entry shows what it has)
    return RegimenFormSet(data, initial=initial, prefix="regimen")


def regimen_data(formset) -> tuple[list[dict], list[int]]:
    """The non-empty rows of the regimen table as regimen entries, and the row index of each (for the errors)."""
    entries, rows = [], []
    for index, form in enumerate(formset.forms):
        if form.is_blank():
            continue
        entry = {name: form.cleaned_data.get(name) for name in regimens.KEYS}
        entries.append({name: value for name, value in entry.items() if value not in (None, "")})
        rows.append(index)
    return entries, rows


def place_setup_errors(error: ValidationError, form, formset=None, rows: list[int] | None = None) -> None:
    """A set-up service's problems next to their fields: ``code`` on the code field, ``regimen[1].route`` on the
    route of that row of the regimen table, ``settings.derivation.ards_moderate_pf_max`` on its field, other
    settings on the JSON field (with their path), anything else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for path, errors in error.error_dict.items():
        messages = [ValidationError(e.messages[0], code=e.code) for e in errors]
        row = re.match(r"^regimen\[(\d+)\]\.?(\w*)$", path)
        if row and formset is not None and rows is not None and int(row.group(1)) < len(rows):
            target = formset.forms[rows[int(row.group(1))]]
            name = row.group(2) if row.group(2) in target.fields else None
            for message in messages:
                target.add_error(name, message)
            continue
        leaf = path.removeprefix("settings.derivation.")
        if path.startswith("settings.derivation.") and leaf in form.fields:
            form.add_error(leaf, messages)
        elif path.startswith("settings") and "other_settings" in form.fields:
            for message in messages:
                form.add_error("other_settings", ValidationError(f"{path}: {message.messages[0]}", code=message.code))
        elif path.split("[")[0] in form.fields:
            form.add_error(path.split("[")[0], messages)
        else:
            for message in messages:
                where = "" if path == NON_FIELD_ERRORS else f"{path}: "
                form.add_error(None, ValidationError(f"{where}{message.messages[0]}", code=message.code))
