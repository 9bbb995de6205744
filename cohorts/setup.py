"""Study set-up: a study, its protocol, follow-up, settings, sites and arms with their regimens.

One set of checks for both ways in: the set-up pages (cohorts/views.py) and ``manage.py create_study
<file>.toml`` (cohorts/management/commands/create_study.py). Both hand these services a plain mapping shaped
like the TOML file (docs/data-manager.md, "Set up a study"; examples in docs/study-milan.toml and
docs/study-new-york.toml):

    code, title, protocol, registry_id, follow_up_days, primary_scale, language (of the codebook: en-gb or it)
    settings = {derivation = {...}, eligibility = {...}}      (overrides only; clinical definitions "Study settings")
    sites = [{code, name, ast_uln_u_l, alt_uln_u_l}, ...]     (an existing site: its code alone)
    arms = [{code, name, description, order, regimen = [{drug, dose, unit, route, frequency, duration_days}]}]

Every problem is reported with its path in that mapping (``arms[1].regimen[0].route: required ...``), all of
them at once, and nothing is written unless there is none (one transaction). The pages map the paths back to
their fields.

Rules of change (docs/architecture.md §3): before the first enrolment of a study, its set-up is edited freely
(the history records the reason "study set-up"); afterwards every change needs a reason for change. Every
save goes through ``cohorts.audit.save_audited``, so each one has a history row with the user and the reason.
A locked study refuses every change. Which sites take part in a study is not a field of the study's history
(a many-to-many link), so a change of the sites saves the study with a reason naming the sites added and
removed.

The ``derivation`` section of the settings belongs to ecrf: cohorts cannot import it (docs/architecture.md §1),
so it asks the receivers of ``cohorts.signals.study_settings_check``; the ``eligibility`` section is checked
here against the protocol's rule set (cohorts/eligibility).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from cohorts import regimens
from cohorts.audit import (
    ensure_unchanged_since,
    ensure_unlocked,
    history_reason,
    reason_too_long,
    save_audited,
)
from cohorts.eligibility.engine import RULE_SETS
from cohorts.limits import limit_of, within_hard_range
from cohorts.models import Arm, Patient, Screening, Site, Study
from cohorts.regimens import Problem
from cohorts.signals import follow_up_check, study_settings_check

# The keys of each table, in the order of the file and the pages.
STUDY_FIELDS = ("code", "title", "protocol", "registry_id", "follow_up_days", "primary_scale", "language")
STUDY_KEYS = (*STUDY_FIELDS, "settings", "sites", "arms")
# A site's fields, read by the site page (cohorts/forms.py builds its form from this tuple and the model) and by
# the file. A new field of Site (say ``time_zone``) is set up by adding its name here.
SITE_FIELDS = ("code", "name", "time_zone", "ast_uln_u_l", "alt_uln_u_l")
# An arm's keys in the file -> its model fields (the regimen is checked by cohorts/regimens.py).
ARM_FIELDS = {"code": "code", "name": "name", "description": "regimen_description", "order": "order"}
ARM_KEYS = (*ARM_FIELDS, "regimen")
# The model fields a change of a study or an arm saves.
STUDY_SAVED = (*STUDY_FIELDS, "settings")
ARM_SAVED = (*ARM_FIELDS.values(), "regimen")
SETTINGS_SECTIONS = ("derivation", "eligibility")
RESERVED_CODES = frozenset({"new"})  # the address of the "new study" and "new arm" pages
SITE_CODE = re.compile(r"^[A-Z0-9]{2,8}$")  # the constraint site_code_upper_alnum

SETUP_REASON = "study set-up"  # the reason recorded for a change before the first enrolment (stored: not translated)


class SetupError(ValidationError):
    """Every problem of a set-up, each with its path (``arms[1].regimen[0].route``); the path "" is the whole."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        grouped: dict[str, list[ValidationError]] = {}
        for p in self.problems:
            grouped.setdefault(p.path or NON_FIELD_ERRORS, []).append(ValidationError(p.message, code=p.code))
        super().__init__(grouped)

    def lines(self) -> list[str]:
        return [str(p) if p.path else p.message for p in self.problems]


@dataclass
class _Problems:
    found: list[Problem] = field(default_factory=list)

    def add(self, path: str, message: str, code: str = "invalid") -> None:
        self.found.append(Problem(path, message, code))

    def extend(self, problems: list[Problem]) -> None:
        self.found += problems

    def at(self, prefix: str) -> bool:
        return any(p.path == prefix or p.path.startswith((f"{prefix}.", f"{prefix}[")) for p in self.found)

    def raise_if_any(self) -> None:
        if self.found:
            raise SetupError(self.found)


def _join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _unknown_keys(data: Mapping, known: tuple[str, ...], path: str, problems: _Problems) -> None:
    for key in data:
        if key not in known:
            problems.add(
                _join(path, str(key)), _("unknown key; known: %(known)s") % {"known": ", ".join(known)}, "unknown_key"
            )


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _whole_number(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().lstrip("-").isdigit():
        return int(value.strip()) if len(value.strip()) < 10 else None
    return None


def _model_errors(instance, path: str, problems: _Problems, *, exclude=(), names: Mapping[str, str] = {}) -> None:
    """full_clean() of ``instance``, its errors at the path of each field (``names``: model field -> key)."""
    try:
        instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        for name, errors in error.message_dict.items():
            key = "" if name == NON_FIELD_ERRORS else names.get(name, name)
            for message in errors:
                problems.add(_join(path, key) if key else path, message)


# --------------------------------------------------------------------------------------------
# Checks, without writing
# --------------------------------------------------------------------------------------------


def settings_problems(settings: Any, protocol: str, path: str = "settings") -> list[Problem]:
    """The study settings (overrides only): the known sections, the protocol's eligibility thresholds, and the
    derivation settings as the receivers of ``study_settings_check`` (ecrf) judge them."""
    problems = _Problems()
    if settings is None:
        return []
    if not isinstance(settings, Mapping):
        return [Problem(path, _("must be a table with the sections derivation and eligibility"), "not_a_table")]
    _unknown_keys(settings, SETTINGS_SECTIONS, path, problems)
    eligibility = settings.get("eligibility") or {}
    rule_set = RULE_SETS.get(protocol)
    if not isinstance(eligibility, Mapping):
        problems.add(f"{path}.eligibility", _("must be a table of thresholds"), "not_a_table")
    elif rule_set is not None:
        specs = {s.key: s for s in rule_set.settings}
        for key, value in eligibility.items():
            if key not in specs:
                problems.add(
                    f"{path}.eligibility.{key}",
                    _("not a setting of the protocol %(protocol)s; known: %(known)s")
                    % {"protocol": protocol, "known": ", ".join(specs)},
                    "unknown_key",
                )
                continue
            problem = specs[key].problem(value)
            if problem is not None:
                problems.add(f"{path}.eligibility.{key}", problem)
    if isinstance(settings.get("derivation", {}), Mapping):
        for _receiver, found in study_settings_check.send(sender=Study, settings=dict(settings)):
            for where, message in found or ():
                problems.add(_join(path, where), message)
    else:
        problems.add(f"{path}.derivation", _("must be a table of derivation settings"), "not_a_table")
    return problems.found


def _was_locked(study: Study) -> bool:
    """Whether the study was ever locked for a release (its history holds the lock flag set)."""
    return Study.history.filter(id=study.pk, is_locked=True).exists()


def _clean_study(data: Mapping, study: Study, problems: _Problems) -> None:
    """Apply the study's fields and settings of ``data`` to ``study`` (unsaved), reporting every problem."""
    for key in ("code", "title", "protocol"):
        if not _text(data.get(key)):
            problems.add(key, _("required"), "required")
    code = _text(data.get("code"))
    if code and Study.objects.filter(code=code).exclude(pk=study.pk).exists():
        problems.add(
            "code",
            _("a study with the code %(code)s already exists; choose another code") % {"code": repr(code)},
            "duplicate",
        )
    if code in RESERVED_CODES:
        problems.add(
            "code",
            _("%(code)s is reserved for the set-up pages; choose another code") % {"code": repr(code)},
            "reserved",
        )
    elif code and study.pk is not None and code != study.code and _was_locked(study):
        # A release is filed, downloaded and exported under the code it was locked with (analysis.releases): renamed,
        # the study would lose its releases, and a new study could take the old code and its release folders.
        problems.add(
            "code",
            _("the study's locked releases are kept under the code %(code)s: it cannot change") % {"code": study.code},
            "released",
        )
    protocol = _text(data.get("protocol"))
    if protocol and protocol not in RULE_SETS:
        problems.add(
            "protocol",
            _("unknown protocol %(protocol)s; known: %(known)s")
            % {"protocol": repr(protocol), "known": ", ".join(RULE_SETS)},
            "unknown",
        )
    elif study.pk is not None and protocol != study.protocol and Screening.objects.filter(study=study).exists():
        # The screenings keep the criteria of the rule set that judged them, the screening log and the CONSORT
        # counts compare them: a second rule set in one study would mix two designs.
        problems.add(
            "protocol",
            _(
                "the study's candidates were screened with the %(protocol)s criteria: its protocol cannot change "
                "(an amended threshold is a study setting; other criteria are a new study)"
            )
            % {"protocol": study.protocol},
            "screened",
        )
    follow_up = data.get("follow_up_days", study.follow_up_days)
    days = _whole_number(follow_up)
    limit = limit_of("follow_up_days")  # the limits table's row, as the model's validator
    if days is None or not within_hard_range(limit, days):
        problems.add(
            "follow_up_days",
            _("a whole number of days from %(low)s to %(high)s (got %(value)s)")
            % {"low": limit.hard_min, "high": limit.hard_max, "value": repr(follow_up)},
            "range",
        )
    if study.pk is not None and days is not None and days < study.follow_up_days:
        for _receiver, message in follow_up_check.send(sender=Study, study=study, follow_up_days=days):
            if message:
                problems.add("follow_up_days", message, "records_after")
    study.code, study.title, study.protocol = code, _text(data.get("title")), protocol
    study.registry_id = _text(data.get("registry_id", study.registry_id))
    study.primary_scale = _text(data.get("primary_scale", study.primary_scale))
    study.language = _text(data.get("language")) or study.language  # not given: kept (a new study: English)
    study.follow_up_days = days if days is not None else study.follow_up_days
    settings = data.get("settings", study.settings)
    problems.extend(settings_problems(settings, protocol))
    study.settings = dict(settings or {}) if isinstance(settings, Mapping) else {}
    _model_errors(study, "", problems, exclude=[k for k in STUDY_FIELDS if problems.at(k)] + ["settings"])


def _clean_site(data: Mapping, path: str, site: Site, problems: _Problems) -> None:
    """Apply a site's fields of ``data`` to ``site`` (unsaved), reporting every problem."""
    code = _text(data.get("code"))
    if not code:
        problems.add(_join(path, "code"), _("required: 2 to 8 capital letters or digits, e.g. MI"), "required")
    elif not SITE_CODE.match(code):
        problems.add(
            _join(path, "code"),
            _("2 to 8 capital letters or digits, e.g. MI (got %(code)s)") % {"code": repr(code)},
            "invalid",
        )
    elif Site.objects.filter(code=code).exclude(pk=site.pk).exists():
        problems.add(
            _join(path, "code"), _("a site with the code %(code)s already exists") % {"code": repr(code)}, "duplicate"
        )
    if not _text(data.get("name", site.name)):
        problems.add(_join(path, "name"), _("required"), "required")
    for name in SITE_FIELDS:
        if name in data:
            value = data[name]
            setattr(site, name, _text(value) if isinstance(value, str) else value)
    _model_errors(site, path, problems, exclude=[k for k in SITE_FIELDS if problems.at(_join(path, k))] + ["studies"])


def _clean_arm(data: Mapping, path: str, arm: Arm, problems: _Problems) -> None:
    """Apply an arm's fields and regimen of ``data`` to ``arm`` (unsaved), reporting every problem."""
    if not isinstance(data, Mapping):
        problems.add(path, _("must be a table of code, name, description, order, regimen"), "not_a_table")
        return
    _unknown_keys(data, ARM_KEYS, path, problems)
    for key in ("code", "name"):
        if not _text(data.get(key)):
            problems.add(_join(path, key), _("required"), "required")
    order = data.get("order", arm.order)
    number = _whole_number(order)
    if number is None or not 0 <= number <= 32767:
        problems.add(
            _join(path, "order"), _("a whole number from 0 (got %(value)s)") % {"value": repr(order)}, "invalid"
        )
    else:
        arm.order = number
    arm.code, arm.name = _text(data.get("code")), _text(data.get("name"))
    if arm.code in RESERVED_CODES:
        problems.add(
            _join(path, "code"), _("%(code)s is reserved for the set-up pages") % {"code": repr(arm.code)}, "reserved"
        )
    arm.regimen_description = _text(data.get("description", arm.regimen_description))
    doses, found = regimens.parse(data.get("regimen", []), path=_join(path, "regimen"))
    problems.extend(found)
    arm.regimen = regimens.to_json(doses)
    names = {model: key for key, model in ARM_FIELDS.items()}
    exclude = ["study", "regimen"] + [m for k, m in ARM_FIELDS.items() if problems.at(_join(path, k))]
    _model_errors(arm, path, problems, exclude=exclude, names=names)


def _reason(*, enrolled: bool, reason: str | None, problems: _Problems) -> str:
    if (reason or "").strip():
        if (too_long := reason_too_long(reason)) is not None:
            problems.add("reason", too_long.messages[0], "too_long")
        return reason.strip()
    if enrolled:
        problems.add(
            "reason", _("give a reason for change: the study has enrolled patients, so changes are audited"), "required"
        )
    return SETUP_REASON


def _same(value: Any, current: Any) -> bool:
    """A value of a file equals a stored one (40 and 40.0 U/L are the same limit)."""
    if isinstance(current, Decimal):
        try:
            return not isinstance(value, bool) and Decimal(str(value).strip()) == current
        except InvalidOperation:
            return False
    return _text(value) == _text(current)


def _site_links(entries: Any, problems: _Problems) -> list[tuple[Site, bool]]:
    """The ``sites`` of a study file: each an existing site (its code, and no field that differs) or a new
    one (every field checked). Returns (site, is_new) pairs."""
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems.add("sites", _("must be a list of sites ([[sites]] tables in a file)"), "not_a_list")
        return []
    found, seen = [], {}
    for index, entry in enumerate(entries):
        path = f"sites[{index}]"
        if not isinstance(entry, Mapping):
            problems.add(path, _("must be a table of code, name, ..."), "not_a_table")
            continue
        _unknown_keys(entry, SITE_FIELDS, path, problems)
        code = _text(entry.get("code"))
        if code in seen:
            problems.add(
                f"{path}.code",
                _("%(code)s is also %(entry)s") % {"code": repr(code), "entry": f"sites[{seen[code]}]"},
                "duplicate",
            )
            continue
        seen[code] = index
        existing = Site.objects.filter(code=code).first() if code else None
        if existing is None:
            site = Site()
            _clean_site(entry, path, site, problems)
            found.append((site, True))
            continue
        for name in SITE_FIELDS[1:]:
            if name in entry and not _same(entry[name], getattr(existing, name)):
                problems.add(
                    f"{path}.{name}",
                    _(
                        "the site %(code)s exists with %(field)s %(value)s; give the same value or leave it out (a "
                        "site is changed on its own set-up page)"
                    )
                    % {"code": code, "field": name, "value": f"{getattr(existing, name)!s:.60}"},
                    "site_differs",
                )
        found.append((existing, False))
    return found


def check_study_file(data: Any) -> tuple[Study, list[tuple[Site, bool]], list[Arm]]:
    """A whole study (the TOML file of ``create_study``, or the new-study page) checked without writing:
    the unsaved study, its sites and its arms, or SetupError listing every problem."""
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise SetupError([Problem("", _("the study must be a table of keys"), "not_a_table")])
    _unknown_keys(data, STUDY_KEYS, "", problems)
    study = Study()
    _clean_study(data, study, problems)
    sites = _site_links(data.get("sites"), problems)
    arms = []
    entries = data.get("arms", [])
    if not isinstance(entries, list):
        problems.add("arms", _("must be a list of arms ([[arms]] tables in a file)"), "not_a_list")
        entries = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        arm = Arm(order=index + 1)
        _clean_arm(entry, f"arms[{index}]", arm, problems)
        if arm.code in seen:
            problems.add(
                f"arms[{index}].code",
                _("%(code)s is also %(entry)s") % {"code": repr(arm.code), "entry": f"arms[{seen[arm.code]}].code"},
                "duplicate",
            )
        elif arm.code:
            seen[arm.code] = index
        arms.append(arm)
    problems.raise_if_any()
    return study, sites, arms


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


def study_create(*, data: Mapping, user, reason: str | None = None) -> Study:
    """Create a study with its settings, sites (new ones created, existing ones linked) and arms, all or nothing."""
    study, sites, arms = check_study_file(data)
    reason = history_reason((reason or "").strip() or SETUP_REASON)
    with transaction.atomic():
        save_audited(study, user=user, reason=reason)
        for site, is_new in sites:
            if is_new:
                save_audited(site, user=user, reason=reason)
            site.studies.add(study)
        for arm in arms:
            arm.study = study
            save_audited(arm, user=user, reason=reason)
    return study


def has_enrolled(study_or_site: Study | Site) -> bool:
    """Has a patient been enrolled in the study (at the site)? From then on every change needs a reason."""
    field = "site" if isinstance(study_or_site, Site) else "study"
    return Patient.objects.filter(**{field: study_or_site}).exists()


def study_update(
    *,
    study: Study,
    data: Mapping,
    site_codes: list[str] | None = None,
    user,
    reason: str | None,
    opened: int | None = None,
) -> Study:
    """Change a study's fields and settings and, when ``site_codes`` is given, the sites taking part (``opened``:
    see cohorts.audit.last_change).

    A site leaves a study only while none of the study's screenings or patients is at that site."""
    problems = _Problems()
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        ensure_unlocked(study)
        ensure_unchanged_since(study, opened, STUDY_SAVED)
        before = {name: getattr(study, name) for name in STUDY_SAVED}
        _unknown_keys(data, STUDY_SAVED, "", problems)
        _clean_study(data, study, problems)
        current = {site.code: site for site in study.sites.all()}
        added, removed = [], []
        if site_codes is not None:
            wanted = {code: Site.objects.filter(code=code).first() for code in site_codes}
            for code, site in wanted.items():
                if site is None:
                    problems.add("sites", _("no site with the code %(code)s") % {"code": repr(code)}, "unknown")
            added = [site for code, site in wanted.items() if site is not None and code not in current]
            removed = [site for code, site in current.items() if code not in wanted]
            for site in removed:
                if (
                    Patient.objects.filter(study=study, site=site).exists()
                    or Screening.objects.filter(study=study, site=site).exists()
                ):
                    problems.add(
                        "sites",
                        _("%(site)s has screenings or patients of this study; it cannot leave the study")
                        % {"site": site.code},
                        "site_in_use",
                    )
        changed = [name for name, value in before.items() if getattr(study, name) != value]
        if not changed and not added and not removed:
            problems.raise_if_any()
            return study  # nothing to save: no history row, no reason needed
        why = _reason(enrolled=has_enrolled(study), reason=reason, problems=problems)
        problems.raise_if_any()
        if added or removed:
            moves = [f"+{s.code}" for s in added] + [f"-{s.code}" for s in removed]
            why = f"{why} (sites {' '.join(moves)})"
        save_audited(study, user=user, reason=history_reason(why))
        study.sites.add(*added)
        study.sites.remove(*removed)
    return study


def arm_save(
    *, study: Study, arm: Arm | None = None, data: Mapping, user, reason: str | None, opened: int | None = None
) -> Arm:
    """Add an arm to a study, or change one (its code, name, description, order and regimen; ``opened``: see
    cohorts.audit.last_change)."""
    problems = _Problems()
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        ensure_unlocked(study)
        if arm is None:
            arm = Arm(study=study, order=study.arms.count() + 1)
            before = None
        else:
            arm = Arm.objects.select_for_update().get(pk=arm.pk, study=study)
            ensure_unchanged_since(arm, opened, ARM_SAVED)
            before = {name: getattr(arm, name) for name in ARM_SAVED}
        _clean_arm(data, "", arm, problems)
        if arm.code and Arm.objects.filter(study=study, code=arm.code).exclude(pk=arm.pk).exists():
            problems.add(
                "code", _("the study already has an arm with the code %(code)s") % {"code": repr(arm.code)}, "duplicate"
            )
        if before is not None and all(getattr(arm, name) == value for name, value in before.items()):
            problems.raise_if_any()
            return arm
        why = _reason(enrolled=has_enrolled(study), reason=reason, problems=problems)
        problems.raise_if_any()
        return save_audited(arm, user=user, reason=why)


def _check_time_zone_change(site: Site, zone: str, enrolled: bool, problems: _Problems) -> None:
    """A site's times (screening, oxygen criterion, drug administration, events) were typed as its clock read and
    kept as instants in ``zone``: in another zone they would show other hours, some on another study day, and the
    data-quality rules would flag them. So the zone is fixed once a candidate was screened or a patient enrolled
    at the site (``enrolled``; an imported patient comes without a screening)."""
    if enrolled or Screening.objects.filter(site=site).exists():
        problems.add(
            "time_zone",
            _(
                "the times of the site's screenings and patients were entered in %(zone)s: its time zone cannot "
                "change once a candidate is screened or a patient enrolled there (their times would move to other "
                "hours and study days)"
            )
            % {"zone": zone},
            "fixed",
        )


def site_save(*, site: Site | None = None, data: Mapping, user, reason: str | None, opened: int | None = None) -> Site:
    """Add a site, or change one. A site taking part in a locked study is not changed; a site with enrolled
    patients is changed with a reason (``opened``: see cohorts.audit.last_change)."""
    problems = _Problems()
    with transaction.atomic():
        if site is None:
            site, before, enrolled = Site(), None, False
        else:
            site = Site.objects.select_for_update().get(pk=site.pk)
            for study in site.studies.all():
                ensure_unlocked(study)
            ensure_unchanged_since(site, opened, SITE_FIELDS)
            before = {name: getattr(site, name) for name in SITE_FIELDS}
            enrolled = has_enrolled(site)
        _unknown_keys(data, SITE_FIELDS, "", problems)
        _clean_site(data, "", site, problems)
        if before is not None and site.time_zone != before["time_zone"] and not problems.at("time_zone"):
            _check_time_zone_change(site, before["time_zone"], enrolled, problems)
        if before is not None and all(getattr(site, name) == value for name, value in before.items()):
            problems.raise_if_any()
            return site
        why = _reason(enrolled=enrolled, reason=reason, problems=problems)
        problems.raise_if_any()
        return save_audited(site, user=user, reason=why)
