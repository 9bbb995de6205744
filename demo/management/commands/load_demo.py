import time

from django.core.management.base import BaseCommand

from cohorts import roles
from demo import accounts, milan_cohort, studies


class Command(BaseCommand):
    help = (
        "Load the demo study (Milan cohort protocol, two sites), one demo login per role and the seeded demo cohort "
        "(52 patients, days 0-21). Running it again changes nothing."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        study = studies.create_milan_study()
        logins = accounts.create_demo_users()
        cohort = milan_cohort.load_cohort(
            study,
            investigators=accounts.staff_by_site(roles.INVESTIGATOR),
            nurses=accounts.staff_by_site(roles.NURSE),
        )
        if cohort.loaded:
            arms = ", ".join(f"{arm} {n}" for arm, n in cohort.patients.items())
            self.stdout.write(
                f"Demo cohort: {sum(cohort.patients.values())} patients ({arms}), {cohort.screenings} screenings, "
                f"{cohort.records} case report records, in {time.monotonic() - started:.1f} s."
            )
        else:
            self.stdout.write("Demo cohort already loaded: nothing added.")
        derived = studies.derive_demo_study(study)
        self.stdout.write(derived)
        self.stdout.write(self.style.SUCCESS(f"Demo study '{study.code}' ready."))
        self.stdout.write("Demo logins (user / password / role):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:<16} {password:<16} {role}")
