from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data of `make demo` (the `load_demo` command): a client of the study apps, which it writes only
    through their services, so that no study app depends on it and a production install can leave it out."""

    name = "demo"
    verbose_name = "Demo data"
