"""How a typed number is read, by the daily forms and by the CSV import alike (docs/import-format.md, "Numbers").

One reading for both, so that a value the forms accept is accepted by the import and the reverse:

- a point is always the decimal separator: `37.5`, `0.21`, `1.000` (= 1);
- a comma is a decimal separator too (`37,5` is 37.5), unless the number could as well be read with the comma
  separating thousands: a single comma followed by exactly three digits after a whole part other than 0
  (`1,000`, `37,500`) is refused as ambiguous, and so is any number with several commas or with a comma and a
  point (`1,000,000`, `1,000.5`, `1.000,5`);
- spaces (also the no-break and thin spaces that word processors put in) may separate groups of three digits
  of the whole part: `1 000`, `12 500,5`; anywhere else a space is refused (`37 5` is not 375);
- a sign and an exponent are read (`-0.5`, `1e3`); no NaN, infinity, underscore or other notation;
- at most 100 characters and a power of ten within +-999: a longer number, or `1e20000000` (whose digits would take
  the server minutes to write out), is refused before anything reads its value. Within them a number far out of a
  field's range (`1e400`) gets the field's range message.

Pure Python, no Django but the translation of the messages: a form turns the refusal into a ValidationError, the
import into a cell problem.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

_SPACES = (" ", "\u00a0", "\u202f", "\u2009")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED_WHOLE = re.compile(r"[+-]?\d{1,3}( \d{3})+")


#: The longest number read, in characters, and the largest power of ten (either way).
LONGEST = 100
LARGEST_EXPONENT = 999


class NotANumber(ValueError):
    """The text is not a number in the accepted notation; the message says why, for the person who typed it."""


def parse_decimal(text: str, *, error: type[Exception] = NotANumber) -> Decimal:
    """The number typed in `text` (see the module docstring), or `error(message)`."""
    return _parse(text, False, error)


def parse_integer(text: str, *, error: type[Exception] = NotANumber) -> int:
    """A whole number (`37`, `37.0`, `1 000`); a number with a fraction is refused."""
    number = _parse(text, True, error)
    if number != number.to_integral_value():
        raise error(_("'%(text)s' is not a whole number.") % {"text": text.strip()})
    return int(number)


def _not_a_number(shown: str, integer: bool) -> str:
    if integer:
        return _("'%(text)s' is not a whole number.") % {"text": shown}
    return _("'%(text)s' is not a number.") % {"text": shown}


def _parse(text: str, integer: bool, error: type[Exception]) -> Decimal:
    shown = text.strip()
    if len(shown) > LONGEST:
        raise error(
            _("'%(start)s...' is not a number: it is longer than %(longest)s characters.")
            % {"start": shown[:20], "longest": LONGEST}
        )
    spaced = shown
    for space in _SPACES[1:]:
        spaced = spaced.replace(space, " ")
    compact = spaced.replace(" ", "")
    if "," in compact:
        whole, _comma, decimals = compact.partition(",")
        if "." in compact or "," in decimals:
            raise error(
                _(
                    "'%(text)s' is ambiguous: commas and points may separate thousands or decimals. Write the number "
                    "without a thousands separator, with a point (or a comma) before the decimals, e.g. 1000.5."
                )
                % {"text": shown}
            )
        digits = whole.lstrip("+-")
        if len(decimals) == 3 and decimals.isdigit() and digits.isdigit() and digits.strip("0"):
            raise error(
                _(
                    "'%(text)s' is ambiguous: the comma may separate thousands (%(thousands)s) or decimals "
                    "(%(decimals)s). Write %(thousands)s or %(decimals)s."
                )
                % {"text": shown, "thousands": f"{whole}{decimals}", "decimals": f"{whole}.{decimals}"}
            )
        compact = f"{whole}.{decimals}"
    if not _NUMBER.fullmatch(compact):
        raise error(_not_a_number(shown, integer))
    if " " in spaced:
        whole_part, rest = re.fullmatch(r"([^.,eE]*)(.*)", spaced).groups()
        if " " in rest or not _GROUPED_WHOLE.fullmatch(whole_part):
            if integer:
                message = _(
                    "'%(text)s' is not a whole number: a space may only separate groups of three digits (1 000)."
                )
            else:
                message = _("'%(text)s' is not a number: a space may only separate groups of three digits (1 000).")
            raise error(message % {"text": shown})
    try:
        number = Decimal(compact)
    except InvalidOperation:  # not reached: the pattern above admits only what Decimal reads
        raise error(_not_a_number(shown, integer)) from None
    if number and abs(number.adjusted()) > LARGEST_EXPONENT:
        raise error(
            _("'%(text)s' is too large or too small to be a value (its power of ten is beyond ±%(largest)s).")
            % {"text": shown, "largest": LARGEST_EXPONENT}
        )
    return number
