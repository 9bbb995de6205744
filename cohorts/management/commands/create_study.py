"""python manage.py create_study FILE.toml [--user ADMIN] [--data-manager USERNAME ...]: set up a study from a file
(docs/data-manager.md), and name its first data managers (they then run its team page).

The file goes through the same checks as the set-up pages (cohorts/setup.py). Every problem is printed on its own
line naming its place in the file (``arms[1].regimen[0].route: required ...``), and then nothing is written: the
study, its sites and its arms are created in one transaction, or not at all. Examples: docs/study-milan.toml,
docs/study-new-york.toml.
"""

import tomllib
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cohorts import roles, setup, team


class Command(BaseCommand):
    help = (
        "Create a study with its protocol, follow-up, settings, sites and arms from a TOML file, with the checks of "
        "the study set-up pages. Problems are listed as 'path: message'; nothing is written unless there are none."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="the study's TOML file, e.g. docs/study-milan.toml")
        parser.add_argument(
            "--user", help="a system administrator's username, recorded in the history as the one who set it up"
        )
        parser.add_argument(
            "--data-manager",
            action="append",
            default=[],
            dest="data_managers",
            metavar="USERNAME",
            help="give this user the data manager role in the new study (repeatable)",
        )

    def handle(self, *args, file: str, user: str | None = None, data_managers=(), **options):
        path = Path(file)
        who = None
        if user:
            who = get_user_model().objects.filter(username=user).first()
            if who is None:
                raise CommandError(f"Unknown user {user!r}.")
            if not roles.may_create_studies(who):
                raise CommandError(f"{user} is not a system administrator: only they create studies.")
        managers = list(get_user_model().objects.filter(username__in=data_managers))
        unknown = sorted(set(data_managers) - {m.username for m in managers})
        if unknown:
            raise CommandError(f"Unknown user for --data-manager: {', '.join(unknown)}.")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"{path}: cannot read the file ({error.strerror or error}).") from None
        except UnicodeDecodeError:
            raise CommandError(f"{path}: not a UTF-8 text file.") from None
        except tomllib.TOMLDecodeError as error:
            raise CommandError(f"{path}: not valid TOML: {error}.") from None
        try:
            with transaction.atomic():
                study = setup.study_create(data=data, user=who, reason=f"study set-up: {path.name}")
                for manager in managers:
                    team.grant(manager, study, roles.DATA_MANAGER, by=who, reason=f"study set-up: {path.name}")
        except setup.SetupError as error:
            for line in error.lines():
                self.stderr.write(line)
            count = len(error.problems)
            raise CommandError(
                f"{path}: {count} problem{'s' if count != 1 else ''} (listed above); nothing was written."
            ) from None
        arms = ", ".join(study.arms.order_by("order").values_list("code", flat=True)) or "none"
        sites = ", ".join(study.sites.order_by("code").values_list("code", flat=True)) or "none"
        self.stdout.write(
            self.style.SUCCESS(
                f"Created the study {study.code} ({study.protocol}, follow-up {study.follow_up_days} days); "
                f"arms: {arms}; sites: {sites}; data managers: {', '.join(data_managers) or 'none yet'}."
            )
        )
