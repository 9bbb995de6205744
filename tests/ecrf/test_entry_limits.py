"""Every hard and soft limit of clinical definitions §2.1, through the entry page as a nurse submits it.

The bounds are written out here from the table of clinical definitions §2.1, never read from ecrf.checks.LIMITS, so a
wrong number
anywhere between the clinical definitions and the stored row makes a test fail. Each limit is tried at the bound, just
inside
and just outside it; a value beyond a soft bound is only stored once its "confirm" box is ticked.
"""

import re
from decimal import Decimal
from typing import NamedTuple

import pytest

from ecrf.models import LabResult, RespiratorySupport, VitalSigns
from tests.ecrf.test_entry_helpers import KEYS, day_post, day_url, errors_of, form_of


class Row(NamedTuple):
    form: str  # vitals / support / labs
    field: str
    code: str  # the variable's name in the check codes
    low: str
    high: str
    step: str
    soft_low: str | None = None
    soft_high: str | None = None
    context: dict | None = None  # other fields the form needs for the value to be meaningful


# clinical definitions §2.1, row by row (weight is a baseline value of the enrolment form, not of the daily forms).
DEFINED = [
    Row("vitals", "temperature_c", "temperature_c", "32", "44", "0.1", "35", "41"),
    Row("vitals", "heart_rate_bpm", "heart_rate_bpm", "20", "250", "1", "40", "180"),
    Row("vitals", "respiratory_rate_bpm", "respiratory_rate_bpm", "4", "70", "1", "8", "45"),
    Row("vitals", "systolic_mmhg", "systolic_mmhg", "40", "300", "1"),
    Row("vitals", "diastolic_mmhg", "diastolic_mmhg", "20", "200", "1"),
    Row("vitals", "spo2_pct", "spo2_pct", "50", "100", "1"),
    Row("support", "fio2", "fio2", "0.21", "1.0", "0.01", context={"support": "hfnc"}),
    Row("support", "flow_l_min", "flow_l_min", "0.5", "70", "0.1", context={"support": "nasal_cannula"}),
    Row("support", "peep_cmh2o", "peep_cmh2o", "0", "30", "0.1", context={"support": "cpap", "fio2": "0.5"}),
    Row("labs", "abg_fio2", "fio2", "0.21", "1.0", "0.01"),
    Row("labs", "pao2_mmhg", "pao2_mmhg", "20", "700", "0.1", soft_high="500"),
    Row("labs", "crp_mg_l", "crp_mg_l", "0", "1000", "0.1", soft_high="500"),
    Row("labs", "ferritin_ng_ml", "ferritin_ng_ml", "0", "300000", "0.1", soft_high="50000"),
    Row("labs", "ldh_u_l", "ldh_u_l", "0", "20000", "0.1"),
    Row("labs", "ast_u_l", "ast_u_l", "0", "20000", "0.1"),
    Row("labs", "alt_u_l", "alt_u_l", "0", "20000", "0.1"),
    Row("labs", "lymphocytes_10e9_l", "lymphocytes_10e9_l", "0", "50", "0.01"),
    Row("labs", "procalcitonin_ng_ml", "procalcitonin_ng_ml", "0", "1000", "0.01"),
]
MODELS = {"vitals": VitalSigns, "support": RespiratorySupport, "labs": LabResult}


def cases():
    for row in DEFINED:
        low, high, step = Decimal(row.low), Decimal(row.high), Decimal(row.step)
        for label, value, refused in (
            ("below", low - step, "hard_min"),
            ("at_min", low, None),
            ("inside_min", low + step, None),
            ("inside_max", high - step, None),
            ("at_max", high, None),
            ("above", high + step, "hard_max"),
        ):
            yield pytest.param(row, value, refused, id=f"{row.form}.{row.field}-{label}-{value}")


def soft_code(row: Row, value: Decimal) -> str | None:
    if row.soft_low is not None and value < Decimal(row.soft_low):
        return f"{row.code}.soft_low"
    if row.soft_high is not None and value > Decimal(row.soft_high):
        return f"{row.code}.soft_high"
    return None


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


@pytest.mark.parametrize(("row", "value", "refused"), list(cases()))
def test_hard_limit(nurse, patient_a, row, value, refused):
    values = {**(row.context or {}), row.field: str(value)}
    soft = soft_code(row, value)
    confirm = {row.form: {row.field: soft}} if soft else None
    response = nurse.post(day_url(patient_a, 2), day_post(**{row.form: values}, confirm=confirm))
    model = MODELS[row.form]
    if refused:
        assert response.status_code == 200
        assert errors_of(response, row.form) == {row.field: [f"{row.code}.{refused}"]}
        assert "above the plausible maximum" in str(form_of(response, row.form).errors[row.field]) or (
            "below the plausible minimum" in str(form_of(response, row.form).errors[row.field])
        )
        assert not model.objects.exists()
    else:
        assert response.status_code == 302, errors_of(response, row.form)
        record = model.objects.get()
        assert Decimal(getattr(record, row.field)) == value
        assert record.confirmed_checks == ([soft] if soft else [])


SOFT = [row for row in DEFINED if row.soft_low or row.soft_high]


def soft_cases():
    for row in SOFT:
        step = Decimal(row.step)
        if row.soft_low:
            yield pytest.param(row, Decimal(row.soft_low), None, id=f"{row.field}-at-soft-low")
            yield pytest.param(row, Decimal(row.soft_low) - step, "soft_low", id=f"{row.field}-below-soft-low")
        if row.soft_high:
            yield pytest.param(row, Decimal(row.soft_high), None, id=f"{row.field}-at-soft-high")
            yield pytest.param(row, Decimal(row.soft_high) + step, "soft_high", id=f"{row.field}-above-soft-high")


@pytest.mark.parametrize(("row", "value", "rule"), list(soft_cases()))
def test_soft_limit_needs_the_confirm_tick(nurse, patient_a, row, value, rule):
    model = MODELS[row.form]
    data = day_post(**{row.form: {**(row.context or {}), row.field: str(value)}})
    response = nurse.post(day_url(patient_a, 2), data)
    if rule is None:  # the soft bound itself is not unusual
        assert response.status_code == 302
        assert model.objects.get().confirmed_checks == []
        return
    code = f"{row.code}.{rule}"
    # Without the tick: refused, the message and the confirm box next to the field, nothing stored.
    assert response.status_code == 200
    assert errors_of(response, row.form) == {row.field: [code]}
    page = response.content.decode()
    assert "tick &#x27;confirm&#x27; if this is correct" in page
    assert f'name="{KEYS[row.form]}-confirm_{row.field}"' in page and f'value="{code}"' in page
    assert not model.objects.exists()
    # A tick for another check confirms nothing.
    wrong = day_post(**{row.form: {**(row.context or {}), row.field: str(value)}}, confirm={row.form: {row.field: "x"}})
    assert nurse.post(day_url(patient_a, 2), wrong).status_code == 200
    # With the tick: stored, and the confirmation with it.
    data = day_post(**{row.form: {**(row.context or {}), row.field: str(value)}}, confirm={row.form: {row.field: code}})
    assert nurse.post(day_url(patient_a, 2), data).status_code == 302
    record = model.objects.get()
    assert Decimal(getattr(record, row.field)) == value
    assert record.confirmed_checks == [code]
    # Reopened, the box is shown ticked; saving again unchanged changes nothing and needs no reason.
    page = nurse.get(day_url(patient_a, 2)).content.decode()
    box = re.search(rf'<input[^>]*name="{KEYS[row.form]}-confirm_{row.field}"[^>]*>', page).group(0)
    assert f'value="{code}"' in box and " checked" in box
    again = day_post(
        **{row.form: {**(row.context or {}), row.field: str(value)}},
        confirm={row.form: {row.field: code}},
        versions={row.form: 1},
    )
    assert nurse.post(day_url(patient_a, 2), again).status_code == 302
    record.refresh_from_db()
    assert record.version == 1 and record.history.count() == 1


def test_pao2_in_kpa_is_stored_in_mmhg_with_its_unit(nurse, patient_a):
    data = day_post(labs={"pao2_mmhg": "20", "pao2_entered_unit": "kPa", "abg_fio2": "0.5"})
    assert nurse.post(day_url(patient_a, 1), data).status_code == 302
    labs = LabResult.objects.get()
    assert (labs.pao2_mmhg, labs.pao2_entered_unit) == (Decimal("150.0"), "kPa")
    # Shown again in kPa; saving it unchanged is not an edit.
    page = nurse.get(day_url(patient_a, 1)).content.decode()
    assert 'value="20"' in page
    data = day_post(labs={"pao2_mmhg": "20", "pao2_entered_unit": "kPa", "abg_fio2": "0.5"}, versions={"labs": 1})
    assert nurse.post(day_url(patient_a, 1), data).status_code == 302
    assert LabResult.objects.get().version == 1


def test_pao2_hard_limit_applies_after_conversion(nurse, patient_a):
    # 93.4 kPa = 700.6 mmHg: above the 700 mmHg maximum, refused with what was typed.
    response = nurse.post(day_url(patient_a, 1), day_post(labs={"pao2_mmhg": "93.4", "pao2_entered_unit": "kPa"}))
    assert errors_of(response, "labs") == {"pao2_mmhg": ["pao2_mmhg.hard_max"]}
    assert "You entered 93.4 kPa" in response.content.decode()
    assert not LabResult.objects.exists()


def test_crp_in_mg_dl_converted_and_soft_checked_in_mg_l(nurse, patient_a):
    data = day_post(labs={"crp_mg_l": "60", "crp_entered_unit": "mg/dL"})
    response = nurse.post(day_url(patient_a, 1), data)
    assert errors_of(response, "labs") == {"crp_mg_l": ["crp_mg_l.soft_high"]}
    data = day_post(
        labs={"crp_mg_l": "60", "crp_entered_unit": "mg/dL"}, confirm={"labs": {"crp_mg_l": "crp_mg_l.soft_high"}}
    )
    assert nurse.post(day_url(patient_a, 1), data).status_code == 302
    labs = LabResult.objects.get()
    assert (labs.crp_mg_l, labs.crp_entered_unit, labs.confirmed_checks) == (
        Decimal("600.0"),
        "mg/dL",
        ["crp_mg_l.soft_high"],
    )


def test_site_uln_prefilled_and_stored(nurse, patient_a):
    patient_a.site.ast_uln_u_l = Decimal("35")
    patient_a.site.save()
    page = nurse.get(day_url(patient_a, 1)).content.decode()
    assert 'name="laboratory-ast_uln_u_l" value="35' in page
    data = day_post(labs={"ast_u_l": "150", "ast_uln_u_l": "35", "alt_uln_u_l": "40"})
    assert nurse.post(day_url(patient_a, 1), data).status_code == 302
    assert LabResult.objects.get().ast_uln_u_l == Decimal("35")


@pytest.mark.parametrize("unit", ["mmHg", "kPa"])
@pytest.mark.parametrize("typed", ["1e400", "99999999999999999999999999999999"])
def test_absurd_numbers_are_refused_not_a_server_error(nurse, patient_a, unit, typed):
    response = nurse.post(day_url(patient_a, 1), day_post(labs={"pao2_mmhg": typed, "pao2_entered_unit": unit}))
    assert response.status_code == 200
    assert errors_of(response, "labs") == {"pao2_mmhg": ["pao2_mmhg.hard_max"]}
    response = nurse.post(day_url(patient_a, 1), day_post(vitals={"temperature_c": typed}))
    assert errors_of(response, "vitals") == {"temperature_c": ["temperature_c.hard_max"]}
    assert not LabResult.objects.exists() and not VitalSigns.objects.exists()


def test_a_number_far_out_of_range_is_written_with_its_power_of_ten_in_the_message(nurse, patient_a):
    """Heart rate 1e400 (a whole number of 401 digits) is above the maximum: the message says 1E+400, not 401 digits
    that widen the page beyond the screen."""
    response = nurse.post(day_url(patient_a, 1), day_post(vitals={"heart_rate_bpm": "1e400", "spo2_pct": "-1e-20"}))
    form = form_of(response, "vitals")
    assert form.errors["heart_rate_bpm"] == ["Heart rate 1E+400 /min is above the plausible maximum of 250 /min."]
    assert "000000" not in response.content.decode()


@pytest.mark.parametrize("typed", ["1e20000000", "1" * 101])
def test_a_number_no_form_can_hold_is_refused_as_typed(nurse, patient_a, typed):
    response = nurse.post(day_url(patient_a, 1), day_post(vitals={"heart_rate_bpm": typed, "temperature_c": typed}))
    assert response.status_code == 200
    form = form_of(response, "vitals")
    for field in ("heart_rate_bpm", "temperature_c"):
        (message,) = form.errors[field]
        assert message.startswith(f"'{typed[:20]}") and len(message) < 120
    assert not VitalSigns.objects.exists()


# ------------------------------------------------------------------- every number has a hard maximum (issue 13)


def _event_post(client, patient, slug, **values):
    data = {f"event-{k}": str(v) for k, v in values.items()}
    return client.post(f"/patients/{patient.pk}/{slug}/add/", data)


def _event_errors(response) -> dict:
    return {name: [e.code for e in errors.as_data()] for name, errors in response.context["form"].errors.items()}


DRUG = {"study_day": 1, "drug": "anakinra", "route": "iv", "frequency": "bid"}  # the arm's route


@pytest.mark.parametrize(
    ("drug", "unit", "dose", "maximum"),
    [
        ("anakinra", "mg", "99999999999", "1000 mg"),
        ("anakinra", "mg", "1000.01", "1000 mg"),
        ("anakinra", "mg/kg", "10.5", "10 mg/kg"),
        ("tocilizumab", "mg", "801", "800 mg"),
        ("glucocorticoid", "mg", "1001", "1000 mg"),
    ],
)
def test_a_dose_above_the_drugs_maximum_is_refused_with_the_range_not_a_digit_count(
    nurse, patient_a, drug, unit, dose, maximum
):
    values = {**DRUG, "drug": drug, "drug_detail": "x", "dose": dose, "dose_unit": unit}
    response = _event_post(nurse, patient_a, "drugs", **values)
    assert response.status_code == 200
    assert _event_errors(response) == {"dose": ["dose.hard_max"]}
    message = str(response.context["form"].errors["dose"])
    assert (
        f"dose {format(Decimal(dose).normalize(), 'f')} {unit} is above the plausible maximum of {maximum}" in message
    )
    assert "digits" not in response.content.decode()
    from ecrf.models import DrugAdministration

    assert not DrugAdministration.objects.exists()


def test_a_dose_at_the_drugs_maximum_is_stored(nurse, patient_a):
    values = {**DRUG, "route": "sc", "dose": "1000", "dose_unit": "mg"}
    confirm = {"confirm_dose": "dose.regimen", "confirm_route": "route.regimen"}  # not the arm's 5 mg/kg IV
    assert _event_post(nurse, patient_a, "drugs", **values, **confirm).status_code == 302


@pytest.mark.parametrize(
    ("field", "typed", "code"),
    [
        ("ddimer_ng_ml", "99999999", "ddimer_ng_ml.hard_max"),
        ("ast_uln_u_l", "9999999", "ast_uln_u_l.hard_max"),
        ("alt_uln_u_l", "0", "alt_uln_u_l.hard_min"),
    ],
)
def test_every_laboratory_number_has_a_hard_range(nurse, patient_a, field, typed, code):
    labs = {field: typed, "ddimer_basis": "FEU"} if field == "ddimer_ng_ml" else {"ast_u_l": "50", field: typed}
    response = nurse.post(day_url(patient_a, 1), day_post(labs=labs))
    assert response.status_code == 200
    assert errors_of(response, "labs") == {field: [code]}
    assert "plausible m" in str(form_of(response, "labs").errors[field])
    assert "digits" not in response.content.decode()
    assert not LabResult.objects.exists()
