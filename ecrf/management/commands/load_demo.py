from django.core.management.base import BaseCommand

from ecrf import demo


class Command(BaseCommand):
    help = "Load the demo study (Milan cohort protocol, two sites) and one demo login per role."

    def handle(self, *args, **options):
        study = demo.create_demo_study()
        logins = demo.create_demo_users()
        self.stdout.write(self.style.SUCCESS(f"Demo study '{study.code}' ready."))
        self.stdout.write("Demo logins (user / password / role):")
        for username, password, role in logins:
            self.stdout.write(f"  {username:<14} {password:<16} {role}")
