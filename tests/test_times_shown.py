"""Every time a page shows names its zone: the server's (settings.TIME_ZONE, e.g. "CET"), the site's, or UTC. A
user at a New York site reading "05:54" on the team page could not know it was Rome's clock."""

import datetime
import re
import subprocess
from pathlib import Path

from django.utils import timezone

ROOT = Path(__file__).resolve().parent.parent
# A template's date format with hours and minutes; the value's filters before it.
TIMED = re.compile(r"(?P<value>[\w.|:]+)\|date:\"(?P<format>[^\"]*H:i[^\"]*)\"")


def _named(text: str, match: re.Match) -> bool:
    """The time names its zone: "T" in the format, or shown in UTC with "UTC" written after it, or in the site's
    zone with the zone's name beside it."""
    after = text[match.end() : match.end() + 400]
    return (
        match["format"].rstrip().endswith("T")
        or ("|utc" in match["value"] and "UTC" in after)
        or ("|timezone:" in match["value"] and "zone" in after)
    )


def test_every_time_a_template_shows_names_its_zone():
    templates = subprocess.run(
        ["git", "ls-files", "*.html"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    texts = {path: (ROOT / path).read_text() for path in templates}
    unnamed = [
        f"{path}:{text.count(chr(10), 0, match.start()) + 1}: {match.group(0)}"
        for path, text in texts.items()
        for match in TIMED.finditer(text)
        if not _named(text, match)
    ]
    assert unnamed == []


def test_the_team_page_names_the_zone_of_a_last_login(client, users, study):
    nurse = users["nurse"]
    nurse.last_login = datetime.datetime(2026, 1, 15, 10, 0, tzinfo=datetime.UTC)
    nurse.save(update_fields=["last_login"])
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/team/").content.decode()
    shown = timezone.localtime(nurse.last_login)
    assert f"{shown:%Y-%m-%d %H:%M} {shown.tzname()}" in page  # e.g. "2026-01-15 11:00 CET" (Europe/Rome)
