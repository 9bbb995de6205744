"""How a typed number is read, by the daily forms and by the CSV import alike (docs/import-format.md, "Numbers").

One reading for both, so that a value the forms accept is accepted by the import and the reverse:

- a point is always the decimal separator: `37.5`, `0.21`, `1.000` (= 1);
- a comma is a decimal separator too (`37,5` is 37.5), unless the number could as well be read with the comma
  separating thousands: a single comma followed by exactly three digits after a whole part other than 0
  (`1,000`, `37,500`) is refused as ambiguous, and so is any number with several commas or with a comma and a
  point (`1,000,000`, `1,000.5`, `1.000,5`);
- spaces (also the no-break and thin spaces that word processors put in) may separate groups of three digits
  of the whole part: `1 000`, `12 500,5`; anywhere else a space is refused (`37 5` is not 375);
- a sign and an exponent are read (`-0.5`, `1e3`); no NaN, infinity, underscore or other notation.

Pure Python, no Django: a form turns the refusal into a ValidationError, the import into a cell problem.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_SPACES = (" ", "\u00a0", "\u202f", "\u2009")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_GROUPED_WHOLE = re.compile(r"[+-]?\d{1,3}( \d{3})+")


class NotANumber(ValueError):
    """The text is not a number in the accepted notation; the message says why, for the person who typed it."""


def parse_decimal(text: str, *, error: type[Exception] = NotANumber) -> Decimal:
    """The number typed in `text` (see the module docstring), or `error(message)`."""
    return _parse(text, "a number", error)


def parse_integer(text: str, *, error: type[Exception] = NotANumber) -> int:
    """A whole number (`37`, `37.0`, `1 000`); a number with a fraction is refused."""
    number = _parse(text, "a whole number", error)
    if number != number.to_integral_value():
        raise error(f"'{text.strip()}' is not a whole number.")
    return int(number)


def _parse(text: str, noun: str, error: type[Exception]) -> Decimal:
    shown = text.strip()
    spaced = shown
    for space in _SPACES[1:]:
        spaced = spaced.replace(space, " ")
    compact = spaced.replace(" ", "")
    if "," in compact:
        whole, _, decimals = compact.partition(",")
        if "." in compact or "," in decimals:
            raise error(
                f"'{shown}' is ambiguous: commas and points may separate thousands or decimals. Write the number "
                "without a thousands separator, with a point (or a comma) before the decimals, e.g. 1000.5."
            )
        digits = whole.lstrip("+-")
        if len(decimals) == 3 and decimals.isdigit() and digits.isdigit() and digits.strip("0"):
            raise error(
                f"'{shown}' is ambiguous: the comma may separate thousands ({whole}{decimals}) or decimals "
                f"({whole}.{decimals}). Write {whole}{decimals} or {whole}.{decimals}."
            )
        compact = f"{whole}.{decimals}"
    if not _NUMBER.fullmatch(compact):
        raise error(f"'{shown}' is not {noun}.")
    if " " in spaced:
        whole_part, rest = re.fullmatch(r"([^.,eE]*)(.*)", spaced).groups()
        if " " in rest or not _GROUPED_WHOLE.fullmatch(whole_part):
            raise error(f"'{shown}' is not {noun}: a space may only separate groups of three digits (1 000).")
    try:
        return Decimal(compact)
    except InvalidOperation:  # not reached: the pattern above admits only what Decimal reads
        raise error(f"'{shown}' is not {noun}.") from None
