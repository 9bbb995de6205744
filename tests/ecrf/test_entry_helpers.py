"""Helpers of the entry-page tests: the POST a browser sends for the three daily forms (no tests here)."""

from ecrf.crfs import DAY_FORMS

#: The tests' short names of the day forms -> their catalogue keys (the prefixes of the page's fields).
KEYS = {"vitals": "vital_signs", "support": "respiratory_support", "labs": "laboratory"}
PREFIX = {short: DAY_FORMS[key].model for short, key in KEYS.items()}


def day_url(patient, day: int) -> str:
    return f"/patients/{patient.pk}/day/{day}/"


def day_post(*, vitals=None, support=None, labs=None, versions=None, confirm=None, reason="") -> dict:
    """Form data as the page posts it: prefixed fields, empty strings for empty inputs, unit selects set.

    confirm: {"vitals": {"temperature_c": "temperature_c.soft_low"}} ticks the confirm boxes.
    """
    data = {"page-reason": reason, "laboratory-pao2_entered_unit": "mmHg", "laboratory-crp_entered_unit": "mg/L"}
    for short, values in (("vitals", vitals), ("support", support), ("labs", labs)):
        key = KEYS[short]
        for name, value in (values or {}).items():
            if isinstance(value, bool):
                if value:
                    data[f"{key}-{name}"] = "on"
            else:
                data[f"{key}-{name}"] = "" if value is None else str(value)
        version = (versions or {}).get(short)
        data[f"{key}-version"] = "" if version is None else str(version)
        for name, code in ((confirm or {}).get(short) or {}).items():
            data[f"{key}-confirm_{name}"] = code
    return data


def errors_of(response, key: str) -> dict:
    """Field errors of one form of a re-rendered entry page, as {field: [codes]}."""
    form = form_of(response, key)
    return {name: [e.code for e in errors.as_data()] for name, errors in form.errors.items()}


def form_of(response, key: str):
    """One form of a rendered entry page, by the tests' short name or its catalogue key."""
    return response.context["forms"][KEYS.get(key, key)]
