"""``{% note_badges notes %}``: the badges other apps put on a place of ecrf's pages (ecrf/page_notes.py)."""

from django import template

from ecrf.page_notes import badges_html

register = template.Library()
register.simple_tag(badges_html, name="note_badges")
