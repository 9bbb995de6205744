"""FHIR R4 resources (parsed by fhir.resources' R4B models) -> values proposed for the one-per-day forms.

No database access: the input is parsed resources and the study day's window, the output plain dataclasses that
fhir_pull/services.py stores. Which field an Observation fills is the form catalogue's ``loinc`` mapping
(ecrf/crfs.py); its unit is converted to the field's canonical unit (the limits table's, fhir_pull/units.py) and
rounded to the field's precision; its hard limit is checked as the day page checks it, so that a value the form
would refuse (SpO2 150 %) is proposed with that error and cannot be accepted.

One Observation may fill several fields through its components (the blood-pressure panel 85354-9 holds the
systolic 8480-6 and diastolic 8462-4). Several Observations of the same field in the day are all proposed: the
nurse chooses at most one of them on the review screen.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from cohorts.limits import LIMITS
from ecrf import checks
from ecrf.crfs import DAY_FORMS, Crf
from fhir_pull import units

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
#: Panels searched besides the catalogue's codes because their components are catalogue codes.
PANELS = {"85354-9": "Blood pressure panel"}
#: Results that may be proposed; a preliminary, cancelled or entered-in-error result is only noted.
USABLE_STATUSES = frozenset({"final", "amended", "corrected"})
#: The largest magnitude a proposal stores (its column holds 14 digits before the point).
_LARGEST = Decimal("1e13")


@dataclass(frozen=True)
class Target:
    crf: Crf
    field: str
    implies: Mapping[str, str]

    @property
    def limit(self):
        return LIMITS[self.crf.limits[self.field]]

    @property
    def label(self) -> str:
        return str(self.crf.model._meta.get_field(self.field).verbose_name)


def _implied(crf: Crf, code: str, name: str) -> dict[str, str]:
    """The values a code implies: the catalogue's (D-dimer basis), and the entered unit of a lab value converted
    here (pao2_entered_unit = mmHg), so that a stored unit typed by hand never mislabels a pulled value."""
    implied = dict(crf.loinc_implies.get(code, {}))
    unit_field = name.split("_")[0] + "_entered_unit"
    if unit_field in crf.fields:
        implied[unit_field] = LIMITS[crf.limits[name]].unit
    return implied


def targets() -> dict[str, Target]:
    """LOINC code -> the field of a one-per-day form it fills (from the catalogue)."""
    return {
        code: Target(crf, name, _implied(crf, code, name))
        for crf in DAY_FORMS.values()
        for code, name in crf.loinc.items()
    }


def search_codes() -> list[str]:
    """The LOINC codes of the Observation search: every catalogue code and the panels holding some."""
    return sorted({*targets(), *PANELS})


@dataclass(frozen=True)
class Window:
    """A study day at the site: local midnight to midnight, as UTC instants (the end excluded)."""

    start: datetime.datetime
    end: datetime.datetime

    def holds(self, instant: datetime.datetime) -> bool:
        return self.start <= instant < self.end


def day_window(day_date: datetime.date, zone: datetime.tzinfo) -> Window:
    start = datetime.datetime.combine(day_date, datetime.time(), tzinfo=zone)
    end = datetime.datetime.combine(day_date + datetime.timedelta(days=1), datetime.time(), tzinfo=zone)
    return Window(start.astimezone(datetime.UTC), end.astimezone(datetime.UTC))


@dataclass(frozen=True)
class Found:
    """One proposed value (or the reason there is none: ``error``) from one resource."""

    form: str
    field: str
    value: Decimal | None
    original_value: str
    original_unit: str
    loinc: str
    resource_type: str
    resource_id: str
    last_updated: datetime.datetime | None
    effective_at: datetime.datetime | None
    error: str = ""
    implies: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Mapped:
    found: list[Found] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _precision(crf: Crf, name: str) -> Decimal:
    model_field = crf.model._meta.get_field(name)
    places = model_field.decimal_places if isinstance(model_field, models.DecimalField) else 0
    return Decimal(1).scaleb(-places)


def _text(value: Any) -> str:
    return "" if value is None else str(value)[:64]


def _effective(observation) -> datetime.datetime | None:
    when = getattr(observation, "effectiveDateTime", None) or getattr(observation, "effectiveInstant", None)
    if when is None and getattr(observation, "effectivePeriod", None) is not None:
        when = observation.effectivePeriod.start
    if isinstance(when, datetime.datetime):
        return when if when.tzinfo is not None else None
    return None  # a date without a time (or without a zone) cannot be placed in the site's day


def _loinc_codes(concept) -> list[str]:
    if concept is None:
        return []
    return [c.code for c in (concept.coding or []) if c.system == LOINC and c.code]


def _convert(target: Target, quantity) -> tuple[Decimal | None, str, str, str]:
    """(value in the canonical unit, original value, original unit, error)."""
    label = target.label
    if quantity is None:
        return None, "", "", _("it gives no quantity for %(label)s; nothing can be saved from it.") % {"label": label}
    original, unit = _text(quantity.value), _text(quantity.code or quantity.unit)
    if quantity.comparator:
        given = f"{quantity.comparator}{original}"
        return None, given, unit, _("%(label)s is given as %(value)s.") % {"label": label, "value": given}
    if quantity.value is None:
        return None, original, unit, _("it gives no number for %(label)s.") % {"label": label}
    if quantity.system not in (None, UCUM) or not quantity.code:
        return (
            None,
            original,
            unit,
            _("the unit %(unit)s of %(label)s is not a UCUM code; nothing can be saved from it.")
            % {"unit": repr(unit), "label": label},
        )
    try:
        value = units.to_canonical(Decimal(quantity.value), quantity.code, target.limit.unit, label)
        value = value.quantize(_precision(target.crf, target.field), rounding=ROUND_HALF_UP)
    except units.UnitError as exc:
        error = f"{str(exc)[0].upper()}{str(exc)[1:]}"
        return None, original, unit, _("%(error)s Nothing can be saved from it.") % {"error": error}
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or abs(value) >= _LARGEST:
        return (
            None,
            original,
            unit,
            _("%(label)s %(value)s %(unit)s is not a usable number.")
            % {"label": label, "value": original, "unit": unit},
        )
    return value, original, unit, ""


def _basis_conflict(target: Target, unit: str) -> str:
    basis = target.implies.get("ddimer_basis")
    stated = {b for b in ("FEU", "DDU") if "{" + b + "}" in unit}
    if basis and stated and basis not in stated:
        return _("Its LOINC code says %(basis)s but its unit says %(stated)s: check the report.") % {
            "basis": basis,
            "stated": ", ".join(stated),
        }
    return ""


def _hard_error(target: Target, value: Decimal) -> str:
    issue = checks.check_limit(target.limit, value)
    return issue.message if issue is not None and not issue.needs_confirmation else ""


def observation_values(observation, window: Window, index: Mapping[str, Target] | None = None) -> Mapped:
    """The values one Observation proposes, or the notes saying why it proposes none."""
    index = targets() if index is None else index
    mapped = Mapped()
    name = f"Observation/{observation.id}"
    status = str(observation.status or "")
    when = _effective(observation)
    if status not in USABLE_STATUSES:
        if status:
            note = _("%(resource)s has the status %(status)s: not proposed.") % {"resource": name, "status": status}
        else:
            note = _("%(resource)s has the status unknown: not proposed.") % {"resource": name}
        mapped.notes.append(note)
        return mapped
    if when is None:
        mapped.notes.append(_("%(resource)s has no date and time of observation: not proposed.") % {"resource": name})
        return mapped
    if not window.holds(when):
        mapped.notes.append(
            _("%(resource)s was observed at %(when)s, outside this study day: not proposed.")
            % {"resource": name, "when": when.isoformat()}
        )
        return mapped
    parts = [(code, observation.valueQuantity) for code in _loinc_codes(observation.code)]
    for component in observation.component or []:
        parts += [(code, component.valueQuantity) for code in _loinc_codes(component.code)]
    last_updated = observation.meta.lastUpdated if observation.meta is not None else None
    seen: set[tuple[str, str]] = set()
    for code, quantity in parts:
        target = index.get(code)
        if target is None or (target.crf.key, target.field) in seen:
            continue
        seen.add((target.crf.key, target.field))
        value, original, unit, error = _convert(target, quantity)
        error = error and f"{name}: {error}"
        error = error or _basis_conflict(target, unit) or (_hard_error(target, value) if value is not None else "")
        mapped.found.append(
            Found(
                form=target.crf.key,
                field=target.field,
                value=value,
                original_value=original,
                original_unit=unit,
                loinc=code,
                resource_type="Observation",
                resource_id=str(observation.id),
                last_updated=last_updated,
                effective_at=when,
                error=error,
                implies=target.implies,
            )
        )
    if not seen:
        codes = ", ".join(_loinc_codes(observation.code)) or _("no LOINC code")
        mapped.notes.append(
            _("%(resource)s (%(codes)s) fills no field of the forms: not proposed.")
            % {"resource": name, "codes": codes}
        )
    return mapped


def observations_values(observations: Iterable, window: Window) -> Mapped:
    """Every value of the Observations of a day, in the forms' and fields' order, then by time."""
    index, result, done = targets(), Mapped(), set()
    for observation in observations:
        if observation.id in done:  # a server may repeat a resource across pages
            continue
        done.add(observation.id)
        one = observation_values(observation, window, index)
        result.found += one.found
        result.notes += one.notes
    order = {(key, name): n for n, (key, name) in enumerate((k, f) for k, c in DAY_FORMS.items() for f in c.fields)}
    result.found.sort(key=lambda f: (order[(f.form, f.field)], f.effective_at, f.resource_id))
    return result


def _concept_text(concept) -> str:
    if concept is None:
        return ""
    if concept.text:
        return concept.text
    return next((c.display or c.code for c in concept.coding or [] if c.display or c.code), "")


def medication_rows(administrations: Iterable) -> list[dict[str, str]]:
    """MedicationAdministrations of the day for the review screen, read-only: the drug form records a course
    (start and stop day, frequency), which single administrations do not map to without guessing."""
    rows = []
    for item in administrations:
        dosage = item.dosage
        dose = ""
        if dosage is not None and dosage.dose is not None:
            dose = f"{_text(dosage.dose.value)} {_text(dosage.dose.unit or dosage.dose.code)}".strip()
        when = item.effectiveDateTime or (item.effectivePeriod.start if item.effectivePeriod else None)
        medication = _concept_text(item.medicationCodeableConcept)
        if not medication and item.medicationReference is not None:
            medication = item.medicationReference.display or item.medicationReference.reference or ""
        rows.append(
            {
                "source": f"MedicationAdministration/{item.id}",
                "medication": medication,
                "dose": dose,
                "route": _concept_text(dosage.route) if dosage is not None else "",
                "status": str(item.status or ""),
                "when": when.isoformat() if isinstance(when, datetime.datetime) else "",
            }
        )
    return rows


def soft_issue(form: str, name: str, value: Decimal | None) -> checks.Issue | None:
    """The soft check a proposed value needs confirmed (as the day page asks), or None."""
    crf = DAY_FORMS[form]
    if value is None or name not in crf.limits:
        return None
    issue = checks.check_limit(LIMITS[crf.limits[name]], value)
    return issue if issue is not None and issue.needs_confirmation else None


def field_label(form: str, name: str) -> str:
    crf = DAY_FORMS[form]
    text = str(crf.model._meta.get_field(name).verbose_name)
    return text[:1].upper() + text[1:]
