from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Logging in: django-two-factor-auth's pages with the project's templates, and the two-factor policy."""

    name = "accounts"
    verbose_name = "Accounts"
