from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Logging in: django-two-factor-auth's pages with the project's templates, the two-factor policy, and each
    user's language."""

    name = "accounts"
    verbose_name = "Accounts"

    def ready(self):
        from accounts import signals  # noqa: F401  (connects the login receiver)
