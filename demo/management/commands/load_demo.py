import time

from django.core.management.base import BaseCommand

from cohorts import roles
from demo import accounts, milan_cohort, new_york_cohort, queries, recent_cohort, studies


class Command(BaseCommand):
    help = (
        "Load the demo: the Milan study (two sites) with its seeded cohort (52 patients, days 0-21, 2020), a demo "
        "ward study with 7 patients enrolled in the last days (today's forms due), the New York case series (15 "
        "patients, days 0-28, 2020, site NY in New York time), and one demo login per role. Running it again adds "
        "nothing."
    )

    def handle(self, *args, **options):
        started = time.monotonic()
        milan = studies.create_milan_study()
        recent = studies.create_recent_study()
        new_york = studies.create_new_york_study()
        logins = accounts.create_demo_users()
        staff = {
            "investigators": accounts.staff_by_site(roles.INVESTIGATOR),
            "nurses": accounts.staff_by_site(roles.NURSE),
        }
        cohort = milan_cohort.load_cohort(milan, **staff)
        if cohort.loaded:
            arms = ", ".join(f"{arm} {n}" for arm, n in cohort.patients.items())
            self.stdout.write(
                f"Demo cohort: {sum(cohort.patients.values())} patients ({arms}), {cohort.screenings} screenings, "
                f"{cohort.records} case report records, in {time.monotonic() - started:.1f} s."
            )
        else:
            self.stdout.write("Demo cohort already loaded: nothing added.")
        ward = recent_cohort.load_recent(recent, **staff)
        if ward.loaded:
            self.stdout.write(
                f"Demo ward: {sum(ward.patients.values())} patients enrolled 0 to "
                f"{max(r.days_ago for r in recent_cohort.RECENT)} days ago, today's forms due."
            )
        else:
            self.stdout.write("Demo ward already loaded: nothing added.")
        series_started = time.monotonic()
        series = new_york_cohort.load_series(new_york, **staff)
        if series.loaded:
            n = series.patients
            self.stdout.write(
                f"New York case series: {sum(n.values())} patients (anakinra within 36 h {n['early']}, 36-96 h "
                f"{n['intermediate']}, 96 h or later {n['late']}; tocilizumab instead {n['not_treated']}), "
                f"{series.intubated} intubated, {series.screenings} screenings, {series.records} case report records, "
                f"in {time.monotonic() - series_started:.1f} s."
            )
        elif series.note:
            self.stdout.write(f"New York case series not loaded: the study '{new_york.code}' exists, {series.note}.")
        else:
            self.stdout.write("New York case series already loaded: nothing added.")
        if raised := queries.raise_demo_queries(recent):
            self.stdout.write(f"Demo queries: the monitor asked {raised} questions in the ward study.")
        for study in (milan, recent, new_york):
            self.stdout.write(studies.derive_demo_study(study))
        self.stdout.write(studies.release_demo_study(milan, "data_manager"))
        self.stdout.write(
            self.style.SUCCESS(f"Demo studies '{milan.code}', '{recent.code}' and '{new_york.code}' ready.")
        )
        self.stdout.write("Demo logins (user / password / role):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:<16} {password:<16} {role}")
