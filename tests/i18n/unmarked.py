"""Text of a template that a translator would never see: words outside {% translate %} / {% blocktranslate %}.

`python -m tests.i18n.unmarked [template or folder ...]` lists them with their lines; the suite asserts there are
none (tests/i18n/test_catalogue.py). Words are runs of three or more lower-case letters ("Save", "Study day"), so
abbreviations and units that read the same in every language ("SpO2", "FiO2", "mmHg", "%") pass unmarked; the
shared unit words that do contain such runs are listed in UNIT_WORDS.
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

from django.template.base import Lexer, TokenType

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
# Attributes a user reads or hears (screen readers): their values are text like the page's.
READ_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "data-confirm", "label"}
UNIT_WORDS = {"min", "mmol", "cells", "mcg", "mmhg", "kpa"}
_WORD = re.compile(r"[^\W\d_]*[a-z]{3,}[^\W\d_]*")
_SKIPPED_BLOCKS = {"blocktranslate": "endblocktranslate", "blocktrans": "endblocktrans", "comment": "endcomment"}
_PLACEHOLDER = "\x00"


def _words(text: str) -> list[str]:
    return [word for word in _WORD.findall(text) if word.lower() not in UNIT_WORDS]


def _skeleton(source: str) -> list[str]:
    """The template's literal text per line of origin, with tags, variables and translated blocks blanked."""
    pieces, closing = [], None
    for token in Lexer(source).tokenize():
        if token.token_type == TokenType.BLOCK:
            name = token.contents.split()[0] if token.contents else ""
            if closing is None and name in _SKIPPED_BLOCKS:
                closing = _SKIPPED_BLOCKS[name]
            elif name == closing:
                closing = None
            pieces.append(_blank(token.contents))
        elif token.token_type == TokenType.TEXT and closing is None:
            pieces.append(token.contents)
        else:
            pieces.append(_blank(token.contents))
    return pieces


def _blank(text: str) -> str:
    """A placeholder for a tag, variable or translated text, keeping its line breaks (the reported lines)."""
    return _PLACEHOLDER + "\n" * text.count("\n")


class _TextFinder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in {"script", "style"}:
            self._hidden += 1
        for name, value in attrs:
            if name in READ_ATTRIBUTES and value and _words(value.replace(_PLACEHOLDER, " ")):
                self.found.append((self.getpos()[0], f'{name}="{value.replace(_PLACEHOLDER, "…")}"'))

    def handle_endtag(self, tag):
        if tag in {"script", "style"} and self._hidden:
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden and _words(data.replace(_PLACEHOLDER, " ")):
            self.found.append((self.getpos()[0], " ".join(data.replace(_PLACEHOLDER, "…").split())))


def unmarked_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every piece of literal text in the template that is not marked for translation."""
    pieces = _skeleton(path.read_text(encoding="utf-8"))
    finder = _TextFinder()
    finder.feed("".join(pieces))
    finder.close()
    return finder.found


def template_files(paths=None):
    roots = [Path(p) for p in paths] if paths else [TEMPLATES_DIR]
    for root in roots:
        yield from ([root] if root.is_file() else sorted(root.rglob("*.html")))


def main(argv):
    import django

    django.setup()
    total = 0
    for path in template_files(argv):
        for line, text in unmarked_text(path):
            total += 1
            print(f"{path}:{line}: {text}")
    print(f"{total} unmarked", file=sys.stderr)
    return 1 if total else 0


if __name__ == "__main__":
    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.exit(main(sys.argv[1:]))
