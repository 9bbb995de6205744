"""URLs of the daily case report forms (the ecrf app's own pages)."""

urlpatterns: list = []
