"""Reading a page's query string: what a user or a stale link may put there is not trusted."""


def query_number(text: str) -> int | None:
    """A non-negative whole number of a query string (?rescreen=12, ?day=3), or None for anything else.

    Not int() of whatever str.isdigit() accepts: "²" is a digit int() refuses, and int() refuses 5,000 digits.
    """
    if not text.isdecimal():
        return None
    try:
        return int(text)
    except ValueError:
        return None
